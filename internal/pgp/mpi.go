package pgp

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// errTruncated is returned when key fields run past the end of the packet.
var errTruncated = errors.New("truncated key packet")

// ReadMPI reads an OpenPGP multiprecision integer (RFC 9580 §3.2) from
// the start of b: a 16-bit bit count and the big-endian value. It returns
// the value bytes as stored (aliasing b) and the rest of b; ok is false
// when b is too short to hold them.
func ReadMPI(b []byte) (value, rest []byte, ok bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	n := (int(binary.BigEndian.Uint16(b)) + 7) / 8
	if len(b) < 2+n {
		return nil, nil, false
	}
	return b[2 : 2+n], b[2+n:], true
}

// ReadMPIs reads n MPIs from the start of b (see ReadMPI) and returns
// them with the rest of b; ok is false when b is too short to hold them.
func ReadMPIs(b []byte, n int) (mpis [][]byte, rest []byte, ok bool) {
	mpis = make([][]byte, n)
	for i := range mpis {
		if mpis[i], b, ok = ReadMPI(b); !ok {
			return nil, nil, false
		}
	}
	return mpis, b, true
}

// AppendMPI appends v as an MPI: leading zero bytes are dropped and the
// bit count is that of the remaining value.
func AppendMPI(dst, v []byte) []byte {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	n := 0
	if len(v) > 0 {
		n = (len(v)-1)*8 + bits.Len8(v[0])
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	return append(dst, v...)
}

// bitLen is the number of significant bits of a big-endian value.
func bitLen(v []byte) int {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 {
		return 0
	}
	return (len(v)-1)*8 + bits.Len8(v[0])
}

// readOID reads a length-prefixed curve OID; 0 and 0xFF lengths are reserved.
func readOID(b []byte) (oid, rest []byte, err error) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, errTruncated
	}
	if b[0] == 0 || b[0] == 0xFF {
		return nil, nil, errors.New("reserved curve OID length")
	}
	return b[1 : 1+int(b[0])], b[1+int(b[0]):], nil
}
