package openpgp

import (
	"testing"
)

// FuzzParseARD feeds arbitrary bytes to the ARD, KDF-DO and algorithm
// attribute parsers. The seed corpus in testdata/fuzz holds the YubiKey's
// recorded ARDs. Parsers must return an error or a value, never panic, and
// what they return must be self-consistent.
func FuzzParseARD(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := ParseARD(b); err == nil {
			if len(a.AID) < 14 {
				t.Fatalf("accepted a %d-byte AID", len(a.AID))
			}
			for i := range a.Attrs {
				_ = a.Attrs[i].String()
				if fp := a.Fingerprints[i]; fp != nil && len(fp) != 20 {
					t.Fatalf("fingerprint of %d bytes", len(fp))
				}
			}
		}
		if k, err := ParseKDF(b); err == nil && k != nil {
			if k.Count <= 0 || k.Hash.Size() == 0 {
				t.Fatalf("accepted KDF %+v", k)
			}
		}
		if a, err := ParseAlgoAttr(b); err == nil && a.IsRSA() && (a.ModBits < 512 || a.ModBits > 16384) {
			t.Fatalf("accepted RSA-%d", a.ModBits)
		}
		_, _ = normaliseShared(b, Curves[2])
	})
}
