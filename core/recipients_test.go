package core_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

func fprs(keys []*pgp.PublicKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%X", k.Fingerprint))
	}
	return out
}

// TestRecipientKeysFixtures reads the certificate and the secret key file
// of every gpg, sq and go-crypto fixture key and checks that the chosen
// encryption key is the one go-crypto chooses, and that a message
// encrypted to it decrypts with go-crypto.
func TestRecipientKeysFixtures(t *testing.T) {
	set := fixtures.Load(t)
	now := time.Now()
	n := 0
	for i := range set.Keys {
		k := &set.Keys[i]
		if k.CertFile == "" {
			continue
		}
		t.Run(k.Name, func(t *testing.T) {
			for _, file := range []string{k.CertFile, k.KeyFile} {
				data := fixtures.ReadFile(t, file)
				keys, err := core.RecipientKeys(data, file, now)
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				if got := fprs(keys); len(got) != 1 || got[0] != k.EncryptFpr {
					t.Fatalf("%s: keys %v, want %s", file, got, k.EncryptFpr)
				}
			}
			if k.OnCard || k.Passphrase != "" {
				return
			}
			ents, err := readGoCrypto(fixtures.ReadFile(t, k.KeyFile))
			if err != nil {
				t.Fatal(err)
			}
			keys, _ := core.RecipientKeys(fixtures.ReadFile(t, k.CertFile), k.CertFile, now)
			var msg bytes.Buffer
			if err := core.Encrypt(&msg, keys, []byte("fixture")); err != nil {
				t.Fatal(err)
			}
			md, err := openpgp.ReadMessage(&msg, ents, nil, nil)
			if err != nil {
				t.Fatalf("go-crypto: %v", err)
			}
			if out, err := io.ReadAll(md.UnverifiedBody); err != nil || string(out) != "fixture" {
				t.Fatalf("go-crypto decrypted %q, %v", out, err)
			}
			n++
		})
	}
	if n < 4 {
		t.Fatalf("only %d fixture keys decrypted by go-crypto", n)
	}
}

func readGoCrypto(data []byte) (openpgp.EntityList, error) {
	if bytes.HasPrefix(data, []byte("-----BEGIN")) {
		return openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}

func newEntity(t *testing.T, cfg *packet.Config) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("test", "", "test@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func serialize(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var entityConfigs = map[string]*packet.Config{
	"v4-cv25519": {Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519},
	"v4-rsa":     {Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048},
	"v4-p256":    {Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256},
	"v6-x25519":  {V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519, AEADConfig: &packet.AEADConfig{}},
	"v6-x448":    {V6Keys: true, Algorithm: packet.PubKeyAlgoEd448, AEADConfig: &packet.AEADConfig{}},
}

// corrupt returns cert with one byte flipped in the first signature
// after the first packet with tag after, at offset off from the end of
// the signature body (off < 0) or from its start.
func corrupt(t *testing.T, cert []byte, after, off int) []byte {
	t.Helper()
	ps, err := pgppacket.Split(cert)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	done, seen := false, false
	for _, p := range ps {
		body := p.Body
		if p.Tag == after {
			seen = true
		} else if seen && !done && p.Tag == pgp.TagSignature {
			body = bytes.Clone(body)
			i := off
			if off < 0 {
				i = len(body) + off
			}
			body[i] ^= 0x01
			done = true
		}
		out = pgppacket.Append(out, p.Tag, body)
	}
	if !done {
		t.Fatalf("no signature after a tag %d packet", after)
	}
	return out
}

// TestRecipientKeysCorruptSignatures flips one bit in the subkey binding
// signature (in the signature value, and in the hashed creation time) and
// in the user ID self-signature: the certificate must be refused.
func TestRecipientKeysCorruptSignatures(t *testing.T) {
	for name, cfg := range entityConfigs {
		t.Run(name, func(t *testing.T) {
			cert := serialize(t, newEntity(t, cfg))
			now := time.Now()
			if keys, err := core.RecipientKeys(cert, "good.pgp", now); err != nil || len(keys) != 1 {
				t.Fatalf("intact certificate: %v %v", fprs(keys), err)
			}
			for _, c := range []struct {
				what  string
				after int
				off   int
				want  string
			}{
				{"binding signature value", pgppacket.TagPublicSubkey, -1, "no valid binding signature"},
				{"binding signature hashed area", pgppacket.TagPublicSubkey, 10, "no valid binding signature"},
				{"self-signature value", pgppacket.TagUserID, -1, "no valid self-signature"},
			} {
				bad := corrupt(t, cert, c.after, c.off)
				if c.after == pgppacket.TagUserID && cfg.V6Keys {
					bad = corrupt(t, bad, pgppacket.TagPublicKey, -1) // and the direct-key signature
				}
				keys, err := core.RecipientKeys(bad, "bad.pgp", now)
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.pgp") {
					t.Errorf("%s corrupted: keys %v, error %v (want %q)", c.what, fprs(keys), err, c.want)
				}
			}
		})
	}
}

// TestRecipientKeysSkipsRevokedAndExpired makes a certificate with a
// revoked, an expired and a valid encryption subkey, and a certificate
// with only the first two: only the valid one is chosen, and without it
// the error names both.
func TestRecipientKeysSkipsRevokedAndExpired(t *testing.T) {
	past := time.Now().Add(-48 * time.Hour)
	e := newEntity(t, entityConfigs["v4-cv25519"])
	if err := e.AddEncryptionSubkey(&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		Time: func() time.Time { return past }, KeyLifetimeSecs: 3600}); err != nil {
		t.Fatal(err)
	}
	if err := e.RevokeSubkey(&e.Subkeys[0], packet.KeySuperseded, "test", nil); err != nil {
		t.Fatal(err)
	}
	revoked, expired := fmt.Sprintf("%X", e.Subkeys[0].PublicKey.Fingerprint), fmt.Sprintf("%X", e.Subkeys[1].PublicKey.Fingerprint)
	now := time.Now()
	_, err := core.RecipientKeys(serialize(t, e), "two.pgp", now)
	if err == nil || !strings.Contains(err.Error(), "subkey "+revoked+" is revoked") || !strings.Contains(err.Error(), "subkey "+expired+" expired on") {
		t.Fatalf("revoked and expired subkeys only: %v", err)
	}
	if err := e.AddEncryptionSubkey(&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}); err != nil {
		t.Fatal(err)
	}
	keys, err := core.RecipientKeys(serialize(t, e), "three.pgp", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fprs(keys), fmt.Sprintf("%X", e.Subkeys[2].PublicKey.Fingerprint); len(got) != 1 || got[0] != want {
		t.Fatalf("chose %v, want only %s", got, want)
	}
}

// TestRecipientKeysRevokedCert checks a revoked and an expired primary key.
func TestRecipientKeysRevokedCert(t *testing.T) {
	e := newEntity(t, entityConfigs["v6-x25519"])
	if err := e.RevokeKey(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := core.RecipientKeys(serialize(t, e), "rev.pgp", now); err == nil || !strings.Contains(err.Error(), "is revoked") {
		t.Fatalf("revoked certificate: %v", err)
	}
	past := now.Add(-48 * time.Hour)
	e = newEntity(t, &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048, Time: func() time.Time { return past }, KeyLifetimeSecs: 3600})
	if _, err := core.RecipientKeys(serialize(t, e), "exp.pgp", now); err == nil || !strings.Contains(err.Error(), "expired on "+past.Add(time.Hour).UTC().Format("2006-01-02")) {
		t.Fatalf("expired certificate: %v", err)
	}
}

// TestRecipientKeysArmorAndSeveral reads two armored certificates from one
// file, and refuses data that is not a certificate.
func TestRecipientKeysArmorAndSeveral(t *testing.T) {
	a, b := newEntity(t, entityConfigs["v4-p256"]), newEntity(t, entityConfigs["v6-x25519"])
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, "PGP PUBLIC KEY BLOCK", nil)
	w.Write(serialize(t, a))
	w.Write(serialize(t, b))
	w.Close()
	keys, err := core.RecipientKeys(buf.Bytes(), "two.asc", time.Now())
	if err != nil || len(keys) != 2 {
		t.Fatalf("%v %v", fprs(keys), err)
	}
	junk := make([]byte, 200)
	rand.Read(junk)
	for _, data := range [][]byte{junk, []byte("-----BEGIN PGP MESSAGE-----\n\nwx4=\n-----END PGP MESSAGE-----\n"), nil} {
		if _, err := core.RecipientKeys(data, "junk.asc", time.Now()); err == nil || !strings.Contains(err.Error(), "junk.asc: not an OpenPGP certificate") {
			t.Fatalf("junk: %v", err)
		}
	}
}

// TestEncryptToCertsGoCryptoDecrypts encrypts with core.Encrypt to keys
// read by RecipientKeys from go-crypto certificates of every algorithm.
func TestEncryptToCertsGoCryptoDecrypts(t *testing.T) {
	for name, cfg := range entityConfigs {
		e := newEntity(t, cfg)
		keys, err := core.RecipientKeys(serialize(t, e), name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var msg bytes.Buffer
		if err := core.Encrypt(&msg, keys, []byte(name)); err != nil {
			t.Fatal(err)
		}
		md, err := openpgp.ReadMessage(&msg, openpgp.EntityList{e}, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if out, err := io.ReadAll(md.UnverifiedBody); err != nil || string(out) != name {
			t.Fatalf("%s: go-crypto decrypted %q, %v", name, out, err)
		}
	}
}

// TestRecipientKeysBoundsSignatureChecks stuffs a certificate with bad
// copies of its user ID self-signature, placed before the good one: the
// reader gives up after pgp.MaxSignatureChecks with a clear error.
func TestRecipientKeysBoundsSignatureChecks(t *testing.T) {
	cert := serialize(t, newEntity(t, entityConfigs["v4-cv25519"]))
	ps, err := pgppacket.Split(cert)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for i, p := range ps {
		if p.Tag == pgp.TagSignature && ps[i-1].Tag == pgppacket.TagUserID {
			bad := bytes.Clone(p.Body)
			bad[len(bad)-1] ^= 1
			for j := 0; j < pgp.MaxSignatureChecks+20; j++ {
				out = pgppacket.Append(out, p.Tag, bad)
			}
		}
		out = pgppacket.Append(out, p.Tag, p.Body)
	}
	_, err = core.RecipientKeys(out, "stuffed.pgp", time.Now())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d self-signatures", pgp.MaxSignatureChecks)) {
		t.Fatalf("stuffed certificate: %v", err)
	}
}

// TestRecipientKeysRefusesGraftedSubkey moves the encryption subkey of one
// certificate, with its binding signature, into another: the binding was
// made by the other primary key, so the subkey must not be used.
func TestRecipientKeysRefusesGraftedSubkey(t *testing.T) {
	a, b := newEntity(t, entityConfigs["v4-cv25519"]), newEntity(t, entityConfigs["v4-cv25519"])
	pa, err := pgppacket.Split(serialize(t, a))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pgppacket.Split(serialize(t, b))
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, p := range pa {
		if p.Tag == pgppacket.TagPublicSubkey {
			break
		}
		out = pgppacket.Append(out, p.Tag, p.Body)
	}
	grafted := false
	for _, p := range pb {
		if p.Tag == pgppacket.TagPublicSubkey {
			grafted = true
		}
		if grafted {
			out = pgppacket.Append(out, p.Tag, p.Body)
		}
	}
	_, err = core.RecipientKeys(out, "grafted.pgp", time.Now())
	if err == nil || !strings.Contains(err.Error(), "no valid binding signature") {
		t.Fatalf("grafted subkey: %v", err)
	}
}
