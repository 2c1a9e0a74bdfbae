package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/internal/pgppacket"
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
