package pgp

import (
	"bytes"
	"testing"
)

func TestReadMPIs(t *testing.T) {
	// 0x0101 (9 bits) and 0x05 (3 bits), then one trailing octet.
	b := []byte{0x00, 0x09, 0x01, 0x01, 0x00, 0x03, 0x05, 0xEE}
	mpis, rest, ok := ReadMPIs(b, 2)
	if !ok || len(mpis) != 2 || !bytes.Equal(mpis[0], []byte{1, 1}) || !bytes.Equal(mpis[1], []byte{5}) || !bytes.Equal(rest, []byte{0xEE}) {
		t.Fatalf("ReadMPIs = % X, rest % X, %v", mpis, rest, ok)
	}
	for n := range 7 {
		if _, _, ok := ReadMPIs(b[:n], 2); ok {
			t.Errorf("ReadMPIs of %d octets (two MPIs need 7) succeeded", n)
		}
	}
	if v, rest, ok := ReadMPI([]byte{0, 0}); !ok || len(v) != 0 || len(rest) != 0 {
		t.Errorf("zero-bit MPI: % X, % X, %v", v, rest, ok)
	}
	if _, _, ok := ReadMPI(AppendMPI(nil, []byte{0, 0x80, 1})[:3]); ok {
		t.Error("an MPI cut short was read")
	}
}
