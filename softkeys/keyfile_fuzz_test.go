package softkeys

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/s2k"
)

// FuzzParseKeyFile feeds arbitrary bytes to the key file parser and unlocks
// what parses with a passphrase, as a secret key file from an initrd or a
// --key argument would be. Seeds: the keys of the hostile corpus.
func FuzzParseKeyFile(f *testing.F) {
	files, err := filepath.Glob("../testdata/hostile/keys/*.pgp")
	if err != nil || len(files) == 0 {
		f.Fatal("no hostile corpus keys")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		kf, err := parseKeys("fuzz.pgp", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range kf.keys {
			k.Fingerprint()
			k.Available(ctx)
			if p := k.prot.s2k; p != nil && p.Mode == s2k.Argon2 && uint64(p.Passes)<<p.MemoryExp > 1<<12 {
				// Within the limits but too slow for fuzzing (up to
				// 2 GiB of memory): the limits are tested elsewhere.
				continue
			}
			if p := k.prot.s2k; p != nil && p.Count > 1<<20 {
				continue
			}
			if k.Locked() {
				_ = k.Unlock(ctx, []byte("hostile corpus passphrase"))
			}
		}
		// Decrypt a message to every decryption key that unlocked, through
		// the keystore, as keyunlock decrypt does.
		var to []*pgp.PublicKey
		for _, k := range kf.keys {
			if k.CanDecrypt() && !k.Locked() && k.Available(ctx) == nil {
				to = append(to, k.PublicKey())
			}
		}
		var msg bytes.Buffer
		if len(to) > 0 && core.Encrypt(&msg, to, []byte("fuzz")) == nil {
			m, err := core.DecryptMessage(ctx, core.NewKeystore(&Backend{files: []*File{kf}}), &msg, core.DecryptOptions{})
			if err == nil && string(m.Plaintext) != "fuzz" {
				t.Fatalf("decrypted %q", m.Plaintext)
			}
		}
		for _, k := range kf.keys {
			k.Lock()
		}
	})
}
