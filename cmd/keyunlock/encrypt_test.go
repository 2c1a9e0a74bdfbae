package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestEncryptRefusesForgedBinding flips one bit in the signature binding
// the encryption subkey of a certificate: "keyunlock encrypt" must refuse
// it, name the file and the subkey, and write nothing; the intact
// certificate still works, and so does the secret key file as recipient.
func TestEncryptRefusesForgedBinding(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "forged", "", false, nil)
	var raw bytes.Buffer
	if err := k.entity.Serialize(&raw); err != nil {
		t.Fatal(err)
	}
	ps, err := pgppacket.Split(raw.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var bad []byte
	for i, p := range ps {
		body := p.Body
		if p.Tag == 2 && ps[i-1].Tag == pgppacket.TagPublicSubkey {
			body = bytes.Clone(body)
			body[len(body)-3] ^= 0x40
		}
		bad = pgppacket.Append(bad, p.Tag, body)
	}
	forged := filepath.Join(dir, "forged.pgp")
	if err := os.WriteFile(forged, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.pgp")
	r := run(t, nil, "encrypt", "--recipient", forged, "-o", out)
	mustFail(t, r, "no valid binding signature")
	if !strings.Contains(r.stderr, forged) || !strings.Contains(r.stderr, k.subFpr) {
		t.Errorf("error %q does not name the file and subkey %s", r.stderr, k.subFpr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output written despite the error")
	}
	for _, cert := range []string{k.certFile, k.secretFile} {
		plain := randomBytes(64)
		msg := encryptWithCLI(t, dir, plain, cert)
		r = run(t, nil, "decrypt", "--key", k.secretFile, msg)
		if r.code != 0 || !bytes.Equal(r.stdout, plain) {
			t.Fatalf("encrypted to %s: decrypt exit %d, %s", cert, r.code, r.stderr)
		}
	}
}

// TestEncryptToGpgDSAElGamal encrypts to a gpg-made DSA certificate with an
// ElGamal encryption subkey (DSA self-signatures, ElGamal PKESK): gpg and
// keyunlock decrypt the result with the secret key.
func TestEncryptToGpgDSAElGamal(t *testing.T) {
	t.Parallel() // gpg takes seconds to make the ElGamal prime
	g := newGnupg(t)
	params := filepath.Join(g.home, "params")
	if err := os.WriteFile(params, []byte("%no-protection\nKey-Type: DSA\nKey-Length: 2048\nKey-Usage: sign\n"+
		"Subkey-Type: ELG-E\nSubkey-Length: 2048\nSubkey-Usage: encrypt\nName-Real: elg\nName-Email: elg@example.org\nExpire-Date: 0\n%commit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := g.run("--gen-key", params); err != nil {
		t.Fatalf("gpg --gen-key: %v", err)
	}
	dir := t.TempDir()
	cert, secret := filepath.Join(dir, "elg.pub"), filepath.Join(dir, "elg.key")
	for file, arg := range map[string]string{cert: "--export", secret: "--export-secret-keys"} {
		out, err := g.run(arg, "elg@example.org")
		if err != nil || len(out) == 0 {
			t.Fatalf("gpg %s: %v", arg, err)
		}
		if err := os.WriteFile(file, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plain := randomBytes(64)
	msg := encryptWithCLI(t, dir, plain, cert)
	if out, err := g.run("--decrypt", msg); err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("gpg could not decrypt keyunlock's message to its ElGamal key: %v", err)
	}
	r := run(t, nil, "decrypt", "--key", secret, msg)
	if r.code != 0 || !bytes.Equal(r.stdout, plain) {
		t.Fatalf("keyunlock decrypt with the ElGamal key: exit %d, %s", r.code, r.stderr)
	}
}

// TestEncryptThenSqDecryptsClearKeys has sq decrypt keyunlock's messages
// to every unprotected v4 gpg and sq fixture key (RSA and Curve25519 ECDH).
func TestEncryptThenSqDecryptsClearKeys(t *testing.T) {
	testenv.RequireTool(t, "sq")
	set := fixtures.Load(t)
	n := 0
	for i := range set.Keys {
		k := &set.Keys[i]
		if k.OnCard || k.Passphrase != "" || k.KeyVersion != 4 || (k.Tool != "gpg" && k.Tool != "sq") {
			continue
		}
		plain := randomBytes(64)
		msg := encryptWithCLI(t, t.TempDir(), plain, k.CertFile)
		out, err := exec.Command("sq", "decrypt", "--recipient-key", k.KeyFile, msg).Output()
		if err != nil || !bytes.Equal(out, plain) {
			t.Fatalf("%s (%s): sq decrypt: %v", k.Name, k.Algorithm, err)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d keys checked", n)
	}
}

// TestEncryptRefusesEndlessCert gives an endless file as the certificate:
// encrypt stops reading at pgp.MaxCertBytes and says so.
func TestEncryptRefusesEndlessCert(t *testing.T) {
	r := run(t, nil, "encrypt", "--recipient", "/dev/zero")
	mustFail(t, r, "/dev/zero: larger than 16 MiB")
}
