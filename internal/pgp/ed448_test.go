package pgp

import (
	"crypto/rand"
	"testing"

	circled448 "github.com/cloudflare/circl/sign/ed448"
)

// TestEd448Verify checks ed448Verify against circl's Ed448 signatures:
// valid ones verify, and a flipped bit anywhere in the signature, the
// message or the key does not.
func TestEd448Verify(t *testing.T) {
	for i := 0; i < 4; i++ {
		pub, priv, err := circled448.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, 32+i*16)
		rand.Read(msg)
		sig := circled448.Sign(priv, msg, "")
		if !ed448Verify(pub, msg, sig) {
			t.Fatalf("valid signature %d refused", i)
		}
		for _, b := range [][]byte{sig, msg, pub} {
			for _, off := range []int{0, len(b) / 2, len(b) - 2} {
				b[off] ^= 0x10
				if ed448Verify(pub, msg, sig) {
					t.Fatalf("signature %d verifies with byte %d of %d flipped", i, off, len(b))
				}
				b[off] ^= 0x10
			}
		}
	}
	if ed448Verify(make([]byte, 57), nil, make([]byte, 114)) {
		t.Fatal("all-zero key and signature verify")
	}
}

// BenchmarkEd448Verify measures one verification (one per self-signature
// when a certificate with an Ed448 primary key is read).
func BenchmarkEd448Verify(b *testing.B) {
	pub, priv, _ := circled448.GenerateKey(rand.Reader)
	msg := []byte("benchmark")
	sig := circled448.Sign(priv, msg, "")
	for b.Loop() {
		if !ed448Verify(pub, msg, sig) {
			b.Fatal("refused")
		}
	}
}
