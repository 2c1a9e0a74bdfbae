package pgp

import (
	"crypto/aes"
	"testing"
)

func TestAEADModeNew(t *testing.T) {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []AEADMode{AEADModeEAX, AEADModeOCB, AEADModeGCM} {
		a, err := m.New(block)
		if err != nil {
			t.Fatalf("mode %d: %v", m, err)
		}
		if a.NonceSize() != m.NonceSize() || a.Overhead() != m.TagSize() {
			t.Errorf("mode %d: nonce %d and tag %d, the mode says %d and %d", m, a.NonceSize(), a.Overhead(), m.NonceSize(), m.TagSize())
		}
	}
	if _, err := AEADMode(4).New(block); err == nil {
		t.Error("AEAD mode 4 was accepted")
	}
}
