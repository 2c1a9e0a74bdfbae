package pgp

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"
)

// BenchmarkEncrypt measures "keyunlock encrypt"'s cryptographic work: one
// 64-byte keyfile encrypted to one recipient of each algorithm.
func BenchmarkEncrypt(b *testing.B) {
	plain := make([]byte, 64)
	for _, name := range []string{"rsa2048", "cv25519", "nistp256", "brainpoolP256r1", "v6-x25519", "v6-x448"} {
		pub := fromGoCrypto(b, testEntities(b)[name].Subkeys[0].PublicKey)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Encrypt(rand.Reader, []*PublicKey{pub}, plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadCert measures reading a certificate and verifying the
// signatures that choosing its encryption subkey needs.
func BenchmarkReadCert(b *testing.B) {
	for _, name := range []string{"rsa2048", "cv25519", "nistp256", "brainpoolP256r1", "v6-x25519", "v6-x448"} {
		var buf bytes.Buffer
		if err := testEntities(b)[name].Serialize(&buf); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		b.Run(name, func(b *testing.B) {
			now := time.Now()
			for b.Loop() {
				certs, err := ReadCerts(data)
				if err != nil {
					b.Fatal(err)
				}
				c := certs[0]
				if s, _, err := c.SelfSignature(now); s == nil {
					b.Fatal(err)
				}
				if s, err := c.Binding(c.Subkeys[0], now); s == nil {
					b.Fatal(err)
				}
			}
		})
	}
}
