package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// decryptArgs returns the decrypt command line for a fixture key.
func decryptArgs(k *fixtures.Key, msg string) []string {
	args := []string{"decrypt", "--key", k.KeyFile}
	if k.PassFile != "" {
		args = append(args, "--passphrase-file", k.PassFile)
	}
	return append(args, msg)
}

// TestInteropDecrypt decrypts every fixture message (encrypted by gpg, sq
// or go-crypto) with every fixture key (made by gpg, sq or go-crypto).
func TestInteropDecrypt(t *testing.T) {
	set := fixtures.Load(t)
	n := 0
	for i := range set.Keys {
		k := &set.Keys[i]
		for _, m := range k.Messages {
			t.Run(k.Name+"/"+filepath.Base(m.File), func(t *testing.T) {
				r := run(t, nil, decryptArgs(k, m.File)...)
				if k.OnCard {
					mustFail(t, r, "card")
					return
				}
				want := fixtures.ReadFile(t, m.Plaintext)
				if r.code != 0 || !bytes.Equal(r.stdout, want) {
					t.Fatalf("%s (%s, %s by %s): exit %d, stderr %q", k.Name, k.Algorithm, m.Format, m.Tool, r.code, r.stderr)
				}
				if !strings.Contains(r.stderr, "decrypted with "+k.EncryptFpr) {
					t.Fatalf("stderr %q does not name %s", r.stderr, k.EncryptFpr)
				}
				n++
			})
		}
	}
	if n < 30 {
		t.Fatalf("only %d fixture messages decrypted", n)
	}
}

// TestInteropSeveralRecipients gives only the last recipient's key for a
// message to several keys.
func TestInteropSeveralRecipients(t *testing.T) {
	set := fixtures.Load(t)
	if len(set.Multi) == 0 {
		t.Fatal("no multi-recipient fixture")
	}
	for _, m := range set.Multi {
		k := set.Key(t, m.Recipients[len(m.Recipients)-1])
		r := run(t, nil, decryptArgs(k, m.File)...)
		if r.code != 0 || !bytes.Equal(r.stdout, fixtures.ReadFile(t, m.Plaintext)) {
			t.Fatalf("%v: exit %d, stderr %q", m.Recipients, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "decrypted with "+k.EncryptFpr+" (file "+k.KeyFile+")") {
			t.Fatalf("stderr %q does not name %s", r.stderr, k.Name)
		}
	}
}

// gnupg runs gpg in a private home directory.
type gnupg struct {
	t    *testing.T
	home string
}

func newGnupg(t *testing.T) *gnupg {
	testenv.RequireTool(t, "gpg", "gpgconf")
	home, err := os.MkdirTemp("", "ku-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	// The agent re-protects imported keys with an S2K count it calibrates
	// to ~100 ms on an idle machine, seconds on a busy one: pin it low.
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("s2k-count 65536\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gnupg{t: t, home: home}
	t.Cleanup(func() {
		c := exec.Command("gpgconf", "--kill", "all")
		c.Env = append(os.Environ(), "GNUPGHOME="+home)
		c.Run()
		os.RemoveAll(home)
	})
	return g
}

func (g *gnupg) run(args ...string) ([]byte, error) {
	cmd := exec.Command("gpg", append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.home)
	var se bytes.Buffer
	cmd.Stderr = &se
	out, err := cmd.Output()
	if err != nil {
		g.t.Logf("gpg %v: %s", args, se.String())
	}
	return out, err
}

// TestInteropEncryptThenGpgDecrypts encrypts with "keyunlock encrypt" to the
// certificates of gpg- and sq-made keys and has gpg decrypt the result.
func TestInteropEncryptThenGpgDecrypts(t *testing.T) {
	set := fixtures.Load(t)
	dir := t.TempDir()
	n := 0
	for i := range set.Keys {
		k := &set.Keys[i]
		if k.OnCard || k.KeyVersion != 4 || (k.Tool != "gpg" && k.Tool != "sq") {
			continue
		}
		t.Run(k.Name, func(t *testing.T) {
			g := newGnupg(t)
			pass := k.Passphrase
			if pass == "" {
				pass = "unused"
			}
			if _, err := g.run("--passphrase", pass, "--import", k.KeyFile); err != nil {
				t.Fatalf("gpg --import %s: %v", k.KeyFile, err)
			}
			plain := randomBytes(64)
			msg := encryptWithCLI(t, dir, plain, k.CertFile)
			out, err := g.run("--passphrase", pass, "--decrypt", msg)
			if err != nil || !bytes.Equal(out, plain) {
				t.Fatalf("gpg could not decrypt keyunlock's message to %s: %v", k.Name, err)
			}
			n++
		})
	}
	if n < 8 {
		t.Fatalf("only %d keys checked", n)
	}
}

// TestInteropEncryptThenSqDecrypts has sq decrypt keyunlock's message with
// an unprotected sq key.
func TestInteropEncryptThenSqDecrypts(t *testing.T) {
	testenv.RequireTool(t, "sq")
	set := fixtures.Load(t)
	k := set.Key(t, "sq-cv25519-clear")
	plain := randomBytes(64)
	msg := encryptWithCLI(t, t.TempDir(), plain, k.CertFile)
	out, err := exec.Command("sq", "decrypt", "--recipient-key", k.KeyFile, msg).Output()
	if err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("sq decrypt: %v", err)
	}
}
