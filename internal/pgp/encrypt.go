package pgp

import (
	"errors"
	"io"
)

// Encrypt returns an OpenPGP message holding plaintext as binary literal
// data, encrypted with AES-256 to every recipient. When every recipient is
// a v6 key it writes v6 PKESKs and SEIPDv2 (AEAD, OCB), as RFC 9580 asks;
// otherwise v3 PKESKs and SEIPDv1 (MDC), which every OpenPGP
// implementation reads. The data is not compressed.
func Encrypt(rand io.Reader, recipients []*PublicKey, plaintext []byte) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipient to encrypt to")
	}
	v6 := true
	for _, r := range recipients {
		if r.Version != 6 {
			v6 = false
		}
	}
	const c = CipherAES256
	key := make([]byte, c.KeySize())
	defer clear(key)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, err
	}
	var msg []byte
	for _, r := range recipients {
		var err error
		if msg, err = AppendPKESK(msg, rand, r, v6, c, key); err != nil {
			return nil, err
		}
	}
	lit := AppendLiteral(nil, plaintext)
	defer clear(lit)
	if v6 {
		return AppendSEIPDv2(msg, rand, c, key, lit)
	}
	return AppendSEIPDv1(msg, rand, c, key, lit)
}
