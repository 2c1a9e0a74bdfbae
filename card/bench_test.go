package card

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// BenchmarkColdUnlock measures one cold unlock with the PIN given (open the
// card, VERIFY, PSO:DECIPHER, session key, message) against the in-process
// simulator with 2 ms per APDU, as a real card over USB takes, and with
// 5 ms (make bench's card figure). It reports the APDUs per unlock. The
// /nocert cases give no certificate, with a key that has GnuPG's KDF
// parameters (as a key made by gpg --card-edit).
func BenchmarkColdUnlock(b *testing.B) {
	for _, tc := range []struct {
		algo, quirks string
		nocert       bool
	}{
		{"cv25519", "apdudelay=2ms", false},
		{"cv25519", "apdudelay=5ms", false},
		{"cv25519", "apdudelay=5ms", true},
		{"rsa2048", "apdudelay=5ms", false},
		{"nistp384", "apdudelay=2ms", false},
		{"nistp384", "apdudelay=2ms", true},
		{"rsa2048", "apdudelay=2ms", false},
		{"cv25519", "apdudelay=2ms,noext", false},
		{"cv25519", "apdudelay=2ms,kdf", false},
		{"cv25519", "apdudelay=2ms,nokdf", true},
	} {
		name := tc.algo + "/" + tc.quirks
		if tc.nocert {
			name += "/nocert"
		}
		b.Run(name, func(b *testing.B) {
			var f *fixture
			var certs []*pgp.Cert
			if tc.nocert {
				f = newKeyFixture(b, gpgLikeKey(b, tc.algo), tc.quirks)
			} else {
				f = newFixture(b, tc.algo, tc.quirks)
				certs = f.cert(b)
			}
			ctx := context.Background()
			f.card.ResetCount()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.card.Reset()
				ks := core.NewKeystore(NewBackend(Options{Connector: f.conn, Certs: certs}))
				m, err := core.DecryptMessage(ctx, ks, bytes.NewReader(f.msg), core.DecryptOptions{Prompter: core.NewScriptedPrompter("123456")})
				if err != nil {
					b.Fatal(err)
				}
				m.Wipe()
			}
			b.ReportMetric(float64(f.card.APDUCount())/float64(b.N), "apdus/op")
		})
	}
}
