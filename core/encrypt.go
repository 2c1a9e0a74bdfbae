package core

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Encrypt writes an OpenPGP message holding plaintext as binary literal data,
// encrypted with AES-256 to every given public key. When every recipient is
// a v6 key it uses SEIPDv2 (AEAD, OCB), as RFC 9580 asks; otherwise SEIPDv1
// (MDC), which every OpenPGP implementation reads. The data is not
// compressed: keyfiles are random bytes.
func Encrypt(w io.Writer, recipients []*packet.PublicKey, plaintext []byte) error {
	if len(recipients) == 0 {
		return errors.New("no recipient to encrypt to")
	}
	aead := true
	for _, r := range recipients {
		if r.Version != 6 {
			aead = false
		}
	}
	const cipher = packet.CipherAES256
	key := make([]byte, cipher.KeySize())
	defer Wipe(key)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return err
	}
	cfg := &packet.Config{DefaultCipher: cipher, AEADConfig: &packet.AEADConfig{DefaultMode: packet.AEADModeOCB}}
	for _, r := range recipients {
		if err := packet.SerializeEncryptedKeyAEAD(w, r, cipher, aead, key, cfg); err != nil {
			return fmt.Errorf("encrypting to key %X: %w", r.Fingerprint, err)
		}
	}
	suite := packet.CipherSuite{Cipher: cipher, Mode: packet.AEADModeOCB}
	enc, err := packet.SerializeSymmetricallyEncrypted(w, cipher, aead, suite, key, cfg)
	if err != nil {
		return err
	}
	lit, err := packet.SerializeLiteral(enc, true, "", 0)
	if err != nil {
		return err
	}
	if _, err := lit.Write(plaintext); err != nil {
		return err
	}
	return lit.Close() // closes enc too, writing the MDC or the final tag
}
