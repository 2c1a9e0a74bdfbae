package core

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// OpenPGP packet tags that message decryption deals with (RFC 9580 §5).
const (
	tagPKESK      = 1
	tagSignature  = 2
	tagSKESK      = 3
	tagOnePass    = 4
	tagSecretKey  = 5
	tagPublicKey  = 6
	tagCompressed = 8
	tagSED        = 9
	tagMarker     = 10
	tagLiteral    = 11
	tagSEIPD      = 18
	tagAEAD       = 20
	tagPadding    = 21
)

// errTruncated is returned when a packet runs past the end of the input.
var errTruncated = errors.New("message is truncated: a packet runs past the end of the input")

// errBadHeader is returned for a byte that cannot start a packet.
var errBadHeader = errors.New("malformed packet header")

// knownTag reports whether tag is one RFC 9580 defines (1 to 21).
func knownTag(tag int) bool { return tag >= 1 && tag <= 21 }

// rawPacket is one packet with its body reassembled from partial lengths.
type rawPacket struct {
	tag    int
	offset int // where the header starts in the input
	body   []byte
}

// packetScanner reads packet headers from a byte slice with bounds checks.
// It understands old-format and new-format headers, including partial body
// lengths and the old format's indeterminate length.
type packetScanner struct {
	data []byte
	off  int
	max  int64 // a declared length above max is refused as such
}

// next returns the next packet, or ok=false at the end of the data.
func (s *packetScanner) next() (p rawPacket, ok bool, err error) {
	if s.off >= len(s.data) {
		return p, false, nil
	}
	p.offset = s.off
	b0 := s.data[s.off]
	s.off++
	if b0&0x80 == 0 {
		return p, false, fmt.Errorf("%w at byte %d (0x%02x)", errBadHeader, p.offset, b0)
	}
	if b0&0x40 == 0 { // old format
		p.tag = int(b0>>2) & 0x0f
		var n int
		switch b0 & 3 {
		case 0:
			n = 1
		case 1:
			n = 2
		case 2:
			n = 4
		case 3: // indeterminate: the rest of the input
			p.body = s.data[s.off:]
			s.off = len(s.data)
			return p, true, nil
		}
		if len(s.data)-s.off < n {
			return p, false, errTruncated
		}
		var length uint64
		for i := 0; i < n; i++ {
			length = length<<8 | uint64(s.data[s.off+i])
		}
		s.off += n
		body, err := s.take(length)
		if err != nil {
			return p, false, err
		}
		p.body = body
		return p, true, nil
	}

	p.tag = int(b0 & 0x3f)
	var body []byte
	partials := false
	for {
		length, partial, err := s.newLength()
		if err != nil {
			return p, false, err
		}
		if partial {
			// RFC 9580 §4.2.1.4: only data packets may be cut into
			// partial chunks, and the first chunk is at least 512 bytes.
			switch {
			case p.tag != tagCompressed && p.tag != tagSED && p.tag != tagLiteral && p.tag != tagSEIPD && p.tag != tagAEAD:
				return p, false, fmt.Errorf("malformed %s packet at byte %d: only data packets may use partial body lengths", tagName(p.tag), p.offset)
			case !partials && length < 512:
				return p, false, fmt.Errorf("malformed %s packet at byte %d: its first partial body chunk has %d bytes, less than the 512 required", tagName(p.tag), p.offset, length)
			}
		}
		chunk, err := s.take(length)
		if err != nil {
			return p, false, err
		}
		if !partial && !partials {
			p.body = chunk
			return p, true, nil
		}
		partials = true
		if int64(len(body))+int64(len(chunk)) > s.max {
			return p, false, tooBig(int64(len(body))+int64(len(chunk)), s.max)
		}
		body = append(body, chunk...)
		if !partial {
			p.body = body
			return p, true, nil
		}
	}
}

// newLength decodes a new-format length (RFC 9580 §4.2.1).
func (s *packetScanner) newLength() (length uint64, partial bool, err error) {
	if s.off >= len(s.data) {
		return 0, false, errTruncated
	}
	l0 := s.data[s.off]
	s.off++
	switch {
	case l0 < 192:
		return uint64(l0), false, nil
	case l0 < 224:
		if s.off >= len(s.data) {
			return 0, false, errTruncated
		}
		l1 := s.data[s.off]
		s.off++
		return (uint64(l0)-192)<<8 + uint64(l1) + 192, false, nil
	case l0 < 255:
		return 1 << (l0 & 0x1f), true, nil
	}
	if len(s.data)-s.off < 4 {
		return 0, false, errTruncated
	}
	length = uint64(binary.BigEndian.Uint32(s.data[s.off:]))
	s.off += 4
	return length, false, nil
}

// take returns the next length bytes of the input.
func (s *packetScanner) take(length uint64) ([]byte, error) {
	if length > uint64(s.max) {
		return nil, tooBig(int64(min(length, 1<<62)), s.max)
	}
	if uint64(len(s.data)-s.off) < length {
		return nil, errTruncated
	}
	b := s.data[s.off : s.off+int(length)]
	s.off += int(length)
	return b, nil
}

// tooBig is the error for a size above the limit.
func tooBig(n, limit int64) error {
	return fmt.Errorf("packet declares %d bytes, more than the %s limit", n, sizeName(limit))
}

// sizeName prints a byte count the way limits are spoken of: "16 MiB".
func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// packetHeader returns a new-format header for a packet with a body of n bytes.
func packetHeader(tag int, n int) []byte {
	h := []byte{0xC0 | byte(tag), 0xFF, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[2:], uint32(n))
	return h
}

// tagName names a packet tag for error messages.
func tagName(tag int) string {
	switch tag {
	case tagPKESK:
		return "public-key encrypted session key"
	case tagSignature:
		return "signature"
	case tagSKESK:
		return "password-encrypted session key"
	case tagOnePass:
		return "one-pass signature"
	case tagSecretKey:
		return "secret key"
	case tagPublicKey:
		return "public key"
	case tagCompressed:
		return "compressed data"
	case tagSED:
		return "symmetrically encrypted data without integrity protection"
	case tagMarker:
		return "marker"
	case tagLiteral:
		return "literal data"
	case tagSEIPD:
		return "encrypted and integrity protected data"
	case tagAEAD:
		return "AEAD encrypted data"
	case tagPadding:
		return "padding"
	}
	return fmt.Sprintf("tag %d", tag)
}
