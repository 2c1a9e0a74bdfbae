package softkeys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// binaryKeyFile reads a fixture key file, removing ASCII armor.
func binaryKeyFile(t *testing.T, fk *fixtures.Key) []byte {
	t.Helper()
	data := fixtures.ReadFile(t, fk.KeyFile)
	if !fk.Armored {
		return data
	}
	blk, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := io.ReadAll(blk.Body)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// encryptionSubkeyPublic returns the public fields of a fixture key's
// encryption subkey.
func encryptionSubkeyPublic(t *testing.T, fk *fixtures.Key) []byte {
	t.Helper()
	pkts, err := pgppacket.Split(binaryKeyFile(t, fk))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if p.Tag != pgppacket.TagSecretSubkey {
			continue
		}
		pub, n, err := pgp.ParsePublicPart(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%X", pub.Fingerprint) == fk.EncryptFpr {
			return p.Body[:n]
		}
	}
	t.Fatalf("%s: no encryption subkey", fk.Name)
	return nil
}

// TestPublicKeyOverwrite replaces the public fields of a key file's
// encryption subkey with those of another key of the same algorithm and
// keeps the secret material (which the checksums of usage 0 and 254 do not
// bind to the public key). keyunlock must refuse the key with an error that
// names the file, instead of computing with the attacker's public key.
func TestPublicKeyOverwrite(t *testing.T) {
	set := fixtures.Load(t)
	for _, tc := range []struct{ victim, other string }{
		{"gpg-cv25519-clear", "sq-cv25519-clear"},
		{"gpg-cv25519", "gpg-cv25519-clear"},
		{"gpg-rsa2048-clear", "sq-rsa4096-clear"},
		{"gpg-nistp256", "gpg-cv25519-clear"}, // another algorithm entirely
		{"gpg-brainpoolP256r1", "gpg-nistp256"},
	} {
		t.Run(tc.victim, func(t *testing.T) {
			victim, other := set.Key(t, tc.victim), set.Key(t, tc.other)
			pkts, err := pgppacket.Split(binaryKeyFile(t, victim))
			if err != nil {
				t.Fatal(err)
			}
			otherPub := encryptionSubkeyPublic(t, other)
			var out []byte
			var newFpr string
			for _, p := range pkts {
				body := p.Body
				if p.Tag == pgppacket.TagSecretSubkey {
					pub, n, err := pgp.ParsePublicPart(p.Body)
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprintf("%X", pub.Fingerprint) == victim.EncryptFpr {
						body = append(bytes.Clone(otherPub), p.Body[n:]...)
						np, _, _ := pgp.ParsePublicPart(body)
						newFpr = fmt.Sprintf("%X", np.Fingerprint)
					}
				}
				out = pgppacket.Append(out, p.Tag, body)
			}
			if newFpr == "" {
				t.Fatal("encryption subkey not found")
			}
			path := filepath.Join(t.TempDir(), "tampered.key")
			if err := os.WriteFile(path, out, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := New([]string{path})
			if err != nil {
				t.Fatal(err)
			}
			var k *Key
			for _, sk := range b.Files()[0].SoftKeys() {
				if fmt.Sprintf("%X", sk.Fingerprint()) == newFpr {
					k = sk
				}
			}
			if k == nil {
				t.Fatal("tampered subkey not loaded")
			}
			if victim.Passphrase != "" {
				err = k.Unlock(ctx, []byte(victim.Passphrase))
			} else {
				p := pkesks(t, readMessage(t, victim.Messages[0]))[0]
				_, err = k.DecryptPKESK(ctx, p)
			}
			if err == nil {
				t.Fatal("a key whose public fields were replaced was used")
			}
			if errors.Is(err, core.ErrBadSecret) {
				t.Fatalf("reported as a wrong passphrase: %v", err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "does not match its public key") || !strings.Contains(err.Error(), path) {
				t.Errorf("error does not say what is wrong or name the file: %v", err)
			}
		})
	}
}
