package card

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyunlock/keyunlock/core"
)

// BenchmarkColdUnlock measures one cold unlock with the PIN given (open the
// card, VERIFY, PSO:DECIPHER, session key, message) against the in-process
// simulator with 2 ms per APDU, as a real card over USB takes, and with
// 5 ms (make bench's card figure). It reports
// the APDUs per unlock.
func BenchmarkColdUnlock(b *testing.B) {
	for _, tc := range []struct{ algo, quirks string }{
		{"cv25519", "apdudelay=2ms"},
		{"cv25519", "apdudelay=5ms"},
		{"rsa2048", "apdudelay=5ms"},
		{"nistp384", "apdudelay=2ms"},
		{"rsa2048", "apdudelay=2ms"},
		{"cv25519", "apdudelay=2ms,noext"},
		{"cv25519", "apdudelay=2ms,kdf"},
	} {
		b.Run(tc.algo+"/"+tc.quirks, func(b *testing.B) {
			f := newFixture(b, tc.algo, tc.quirks)
			certs := f.cert(b)
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
