package core

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/cast5"
)

// seipdV1 builds a version 1 SEIPD packet with go-crypto's OpenPGP CFB
// (which refuses to write one for 3DES or CAST5 itself): random prefix,
// the inner packets, and the MDC packet over both.
func seipdV1(t *testing.T, c packet.CipherFunction, key, inner []byte) []byte {
	t.Helper()
	var block cipher.Block
	var err error
	switch c {
	case packet.Cipher3DES:
		block, err = des.NewTripleDESCipher(key)
	case packet.CipherCAST5:
		block, err = cast5.NewCipher(key)
	default:
		block, err = aes.NewCipher(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, block.BlockSize())
	rand.Read(random)
	s, prefix := packet.NewOCFBEncrypter(block, random, packet.OCFBNoResync)
	plainPrefix := append(bytes.Clone(random), random[len(random)-2:]...)
	h := sha1.New()
	h.Write(plainPrefix)
	h.Write(inner)
	h.Write([]byte{0xD3, 0x14})
	plain := append(append(bytes.Clone(inner), 0xD3, 0x14), h.Sum(nil)...)
	body := append([]byte{1}, prefix...)
	enc := make([]byte, len(plain))
	s.XORKeyStream(enc, plain)
	return append(packetHeader(tagSEIPD, len(body)+len(enc)), append(body, enc...)...)
}

// TestDecryptSEIPDv1Ciphers decrypts version 1 messages whose session key
// is for each cipher older senders use, and checks that a flipped bit in
// any part of the encrypted data (prefix, data, MDC) fails the MDC check.
func TestDecryptSEIPDv1Ciphers(t *testing.T) {
	f := newFixture(t)
	for name, c := range map[string]packet.CipherFunction{
		"3DES": packet.Cipher3DES, "CAST5": packet.CipherCAST5,
		"AES-128": packet.CipherAES128, "AES-192": packet.CipherAES192, "AES-256": packet.CipherAES256,
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			key := make([]byte, c.KeySize())
			rand.Read(key)
			if err := packet.SerializeEncryptedKeyAEAD(&buf, f.pub4[0], c, false, key, nil); err != nil {
				t.Fatal(err)
			}
			start := buf.Len()
			var inner bytes.Buffer
			lw, err := packet.SerializeLiteral(nopCloser{&inner}, true, "keyfile", 0)
			if err != nil {
				t.Fatal(err)
			}
			lw.Write(f.keyfile)
			lw.Close()
			buf.Write(seipdV1(t, c, key, inner.Bytes()))
			msg := buf.Bytes()
			m, err := decrypt(f, msg, DecryptOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Plaintext, f.keyfile) {
				t.Fatal("wrong plaintext")
			}
			// SEIPD header: tag, 4-octet length, version.
			for _, off := range []int{start + 7, start + 16, len(msg) - 30, len(msg) - 21, len(msg) - 1} {
				bad := bytes.Clone(msg)
				bad[off] ^= 0x10
				if _, err := decrypt(f, bad, DecryptOptions{}); !errors.Is(err, ErrIntegrity) {
					t.Errorf("bit flipped at %d: %v, want an integrity error", off, err)
				}
			}
		})
	}
}
