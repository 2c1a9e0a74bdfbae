package pgp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"fmt"

	"golang.org/x/crypto/cast5"
)

// NewBlock returns the block cipher c keyed with key: AES, CAST5 or 3DES,
// the ciphers OpenPGP implementations encrypt messages and protect secret
// keys with. An unknown cipher or a key of the wrong length is an error.
func (c CipherFunction) NewBlock(key []byte) (cipher.Block, error) {
	if c.KeySize() == 0 {
		return nil, fmt.Errorf("unsupported cipher %d", c)
	}
	if len(key) != c.KeySize() {
		return nil, fmt.Errorf("the key has %d bytes, %s needs %d", len(key), c, c.KeySize())
	}
	switch c {
	case Cipher3DES:
		return des.NewTripleDESCipher(key)
	case CipherCAST5:
		return cast5.NewCipher(key)
	}
	return aes.NewCipher(key)
}
