package softkeys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"hash"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	gos2k "github.com/ProtonMail/go-crypto/openpgp/s2k"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
	"github.com/keyunlock/keyunlock/internal/s2k"
)

// newEntity makes a v4 ed25519/cv25519 key with go-crypto and returns the
// entity and an encrypted message to it.
func newEntity(t *testing.T) (*openpgp.Entity, []byte, []byte) {
	t.Helper()
	e, err := openpgp.NewEntity("t", "", "t@keyunlock.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519})
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	var msg bytes.Buffer
	w, err := openpgp.Encrypt(&msg, []*openpgp.Entity{e}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	return e, msg.Bytes(), plain
}

// unlockAndDecrypt loads the TSK, checks wrong and right passphrases and
// decrypts msg.
func unlockAndDecrypt(t *testing.T, tsk, msg, plain []byte, pass string) *Key {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k.gpg")
	os.WriteFile(path, tsk, 0o600)
	b, err := New([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var k *Key
	for _, sk := range b.Files()[0].SoftKeys() {
		if sk.CanDecrypt() {
			k = sk
		}
	}
	if err := k.Unlock(ctx, []byte("not "+pass)); !errors.Is(err, core.ErrBadSecret) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if err := k.Unlock(ctx, []byte(pass)); err != nil {
		t.Fatal(err)
	}
	sk, err := k.DecryptPKESK(ctx, pkesks(t, msg)[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(decryptData(t, msg, sk), plain) {
		t.Fatal("wrong plaintext")
	}
	return k
}

// TestChecksumProtection covers the legacy usage 255 (CFB with a 16-bit
// checksum), which no current tool writes: the key is protected here by
// hand and go-crypto must agree that it decrypts.
func TestChecksumProtection(t *testing.T) {
	e, msg, plain := newEntity(t)
	var clear bytes.Buffer
	if err := e.SerializePrivate(&clear, nil); err != nil {
		t.Fatal(err)
	}
	pkts, err := pgppacket.Split(clear.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	const pass = "legacy"
	var out []byte
	for _, p := range pkts {
		if p.Tag != pgppacket.TagSecretKey && p.Tag != pgppacket.TagSecretSubkey {
			out = pgppacket.Append(out, p.Tag, p.Body)
			continue
		}
		_, n, err := pgp.ParsePublicPart(p.Body)
		if err != nil || p.Body[n] != 0 {
			t.Fatalf("unexpected clear key: %v", err)
		}
		salt := make([]byte, 8)
		iv := make([]byte, 16)
		rand.Read(salt)
		rand.Read(iv)
		key := make([]byte, 16)
		s2k.IteratedKey(key, newSHA1, []byte(pass), salt, s2k.DecodeCount(96))
		block, _ := aes.NewCipher(key)
		enc := make([]byte, len(p.Body)-n-1)
		cipher.NewCFBEncrypter(block, iv).XORKeyStream(enc, p.Body[n+1:]) // material ‖ checksum
		body := append([]byte{}, p.Body[:n]...)
		body = append(body, 255, byte(packet.CipherAES128), 3, 2)
		body = append(body, salt...)
		body = append(body, 96)
		body = append(body, iv...)
		body = append(body, enc...)
		out = pgppacket.Append(out, p.Tag, body)
		// go-crypto reads the same packet with the same passphrase.
		gp, err := packet.Read(bytes.NewReader(pgppacket.Append(nil, p.Tag, body)))
		if err != nil {
			t.Fatal(err)
		}
		if err := gp.(*packet.PrivateKey).Decrypt([]byte(pass)); err != nil {
			t.Fatalf("go-crypto rejects the hand-made key: %v", err)
		}
	}
	k := unlockAndDecrypt(t, out, msg, plain, pass)
	if k.prot.usage != 255 {
		t.Fatalf("usage %d", k.prot.usage)
	}
}

// TestLegacyCipher covers a secret key protected with 3DES (CFB) rather
// than AES.
func TestLegacyCipher(t *testing.T) {
	e, msg, plain := newEntity(t)
	const pass = "triple"
	cfg := &packet.Config{DefaultCipher: packet.Cipher3DES, S2KConfig: &gos2k.Config{S2KMode: gos2k.IteratedSaltedS2K, S2KCount: 65536}}
	if err := e.EncryptPrivateKeys([]byte(pass), cfg); err != nil {
		t.Fatal(err)
	}
	var tsk bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&tsk, nil); err != nil {
		t.Fatal(err)
	}
	k := unlockAndDecrypt(t, tsk.Bytes(), msg, plain, pass)
	if k.prot.cipher != pgp.Cipher3DES {
		t.Fatalf("protected with %s", k.prot.cipher)
	}
}

// TestArgon2Limits refuses a key whose Argon2 parameters ask for too much
// memory, with a clear error at load time.
func TestArgon2Limits(t *testing.T) {
	var p protection
	// v6 AEAD OCB, Argon2 with 4 GiB (exponent 22).
	spec := append([]byte{4}, make([]byte, 16)...)
	spec = append(spec, 1, 1, 22)
	b := []byte{253, byte(3 + len(spec)), byte(packet.CipherAES256), byte(packet.AEADModeOCB), byte(len(spec))}
	b = append(b, spec...)
	b = append(b, make([]byte, 15+32)...)
	err := p.parse(6, b)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("above the limit")) {
		t.Fatalf("parse = %v", err)
	}
}

func newSHA1() hash.Hash { return sha1.New() }
