package core

import (
	"crypto/rand"
	"io"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// Encrypt writes an OpenPGP message holding plaintext as binary literal data,
// encrypted with AES-256 to every given public key. When every recipient is
// a v6 key it uses SEIPDv2 (AEAD, OCB), as RFC 9580 asks; otherwise SEIPDv1
// (MDC), which every OpenPGP implementation reads. The data is not
// compressed: keyfiles are random bytes.
func Encrypt(w io.Writer, recipients []*pgp.PublicKey, plaintext []byte) error {
	msg, err := pgp.Encrypt(rand.Reader, recipients, plaintext)
	if err != nil {
		return err
	}
	_, err = w.Write(msg)
	return err
}
