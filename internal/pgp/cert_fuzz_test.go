package pgp

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// FuzzReadCerts feeds certificates (go-crypto's, then mutated) to
// ReadCerts and to everything that chooses keys from them, and encrypts
// to what they choose: nothing may panic, and a key accepted as validly
// bound must have a binding that verifies again.
func FuzzReadCerts(f *testing.F) {
	for _, k := range goKeys {
		if k.name == "rsa2048" || k.name == "nistp521" || k.name == "brainpoolP512r1" {
			continue // keep the corpus small and the executions fast
		}
		e, err := openpgp.NewEntity(k.name, "", k.name+"@example.org", k.cfg)
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if err := e.Serialize(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		if k.name == "cv25519" {
			var arm bytes.Buffer
			w, _ := armor.Encode(&arm, "PGP PUBLIC KEY BLOCK", nil)
			w.Write(buf.Bytes())
			w.Close()
			f.Add(arm.Bytes())
		}
	}
	now := time.Unix(1900000000, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ReadCerts(data)
		if err != nil {
			return
		}
		for _, c := range certs {
			self, uid, _ := c.SelfSignature(now)
			if uid != nil {
				c.UserIDRevoked(uid, now)
			}
			c.Revoked(now)
			c.PrimaryUserID(now)
			var to []*PublicKey
			if self != nil && c.Primary.Algo.CanEncrypt() {
				to = append(to, c.Primary)
			}
			for _, s := range c.Subkeys {
				sig, _ := c.Binding(s, now)
				c.SubkeyRevoked(s, now)
				if sig == nil {
					continue
				}
				if err := sig.VerifyKeySignature(c.Primary, c.Primary, s.Key); err != nil {
					t.Fatalf("binding accepted, then fails: %v", err)
				}
				if c.FindKey(s.Key.Fingerprint, now) == nil {
					t.Fatal("bound subkey not found by fingerprint")
				}
				if s.Key.Algo.CanEncrypt() {
					to = append(to, s.Key)
				}
			}
			for _, k := range to {
				if k.BitLength() > 4096 {
					continue // big RSA moduli only cost time
				}
				Encrypt(rand.Reader, []*PublicKey{k}, []byte("fuzz"))
			}
		}
	})
}
