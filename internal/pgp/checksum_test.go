package pgp

import (
	"bytes"
	"testing"
)

func TestChecksum(t *testing.T) {
	if got := Checksum([]byte{0x01, 0x02, 0xFF}); got != 0x0102 {
		t.Errorf("Checksum(01 02 FF) = %#04x, want 0x0102", got)
	}
	// 300 × 0xFF = 76500, which wraps modulo 65536 to 10964.
	if got := Checksum(bytes.Repeat([]byte{0xFF}, 300)); got != 10964 {
		t.Errorf("Checksum(300 × FF) = %d, want 10964", got)
	}
	if got := Checksum(nil); got != 0 {
		t.Errorf("Checksum(nil) = %d", got)
	}
}
