package pgp

import (
	"crypto/cipher"
	"fmt"

	"github.com/ProtonMail/go-crypto/eax"
	"github.com/ProtonMail/go-crypto/ocb"
)

// PublicKeyAlgorithm is an OpenPGP public-key algorithm number (RFC 9580 §9.1).
type PublicKeyAlgorithm uint8

// The public-key algorithms keyunlock knows by number.
const (
	RSA            PublicKeyAlgorithm = 1  // RSA, encrypt or sign
	RSAEncryptOnly PublicKeyAlgorithm = 2  // deprecated RSA encrypt-only
	RSASignOnly    PublicKeyAlgorithm = 3  // deprecated RSA sign-only
	ElGamal        PublicKeyAlgorithm = 16 // ElGamal, encrypt-only
	DSA            PublicKeyAlgorithm = 17 // DSA
	ECDH           PublicKeyAlgorithm = 18 // RFC 6637 ECDH (including cv25519)
	ECDSA          PublicKeyAlgorithm = 19 // ECDSA
	EdDSALegacy    PublicKeyAlgorithm = 22 // EdDSA with an OID (v4 Ed25519)
	X25519         PublicKeyAlgorithm = 25 // RFC 9580 X25519
	X448           PublicKeyAlgorithm = 26 // RFC 9580 X448
	Ed25519        PublicKeyAlgorithm = 27 // RFC 9580 Ed25519
	Ed448          PublicKeyAlgorithm = 28 // RFC 9580 Ed448
)

// CanEncrypt reports whether keys of the algorithm can receive session keys.
func (a PublicKeyAlgorithm) CanEncrypt() bool {
	switch a {
	case RSA, RSAEncryptOnly, ElGamal, ECDH, X25519, X448:
		return true
	}
	return false
}

// CanSign reports whether keys of the algorithm can make signatures.
func (a PublicKeyAlgorithm) CanSign() bool {
	switch a {
	case RSA, RSASignOnly, DSA, ECDSA, EdDSALegacy, Ed25519, Ed448:
		return true
	}
	return false
}

// IsRSA reports whether a is one of the RSA algorithm numbers.
func (a PublicKeyAlgorithm) IsRSA() bool {
	return a == RSA || a == RSAEncryptOnly || a == RSASignOnly
}

// CipherFunction is an OpenPGP symmetric cipher number (RFC 9580 §9.3).
type CipherFunction uint8

// The symmetric ciphers keyunlock supports.
const (
	Cipher3DES   CipherFunction = 2
	CipherCAST5  CipherFunction = 3
	CipherAES128 CipherFunction = 7
	CipherAES192 CipherFunction = 8
	CipherAES256 CipherFunction = 9
)

// KeySize is the cipher's key length in bytes, or 0 for an unknown cipher.
func (c CipherFunction) KeySize() int {
	switch c {
	case Cipher3DES:
		return 24
	case CipherCAST5, CipherAES128:
		return 16
	case CipherAES192:
		return 24
	case CipherAES256:
		return 32
	}
	return 0
}

// BlockSize is the cipher's block length in bytes, or 0 for an unknown cipher.
func (c CipherFunction) BlockSize() int {
	switch c {
	case Cipher3DES, CipherCAST5:
		return 8
	case CipherAES128, CipherAES192, CipherAES256:
		return 16
	}
	return 0
}

// IsAES reports whether c is one of the AES key sizes.
func (c CipherFunction) IsAES() bool {
	return c == CipherAES128 || c == CipherAES192 || c == CipherAES256
}

// String names the cipher for messages.
func (c CipherFunction) String() string {
	switch c {
	case Cipher3DES:
		return "3DES"
	case CipherCAST5:
		return "CAST5"
	case CipherAES128:
		return "AES-128"
	case CipherAES192:
		return "AES-192"
	case CipherAES256:
		return "AES-256"
	}
	return fmt.Sprintf("cipher %d", uint8(c))
}

// AEADMode is an OpenPGP AEAD algorithm number (RFC 9580 §9.6).
type AEADMode uint8

// The AEAD modes of RFC 9580.
const (
	AEADModeEAX AEADMode = 1
	AEADModeOCB AEADMode = 2
	AEADModeGCM AEADMode = 3
)

// NonceSize is the mode's nonce (IV) length in bytes, or 0 for an unknown mode.
func (m AEADMode) NonceSize() int {
	switch m {
	case AEADModeEAX:
		return 16
	case AEADModeOCB:
		return 15
	case AEADModeGCM:
		return 12
	}
	return 0
}

// New returns the mode over block (AES in OpenPGP).
func (m AEADMode) New(block cipher.Block) (cipher.AEAD, error) {
	switch m {
	case AEADModeEAX:
		return eax.NewEAX(block)
	case AEADModeOCB:
		return ocb.NewOCB(block)
	case AEADModeGCM:
		return cipher.NewGCM(block)
	}
	return nil, fmt.Errorf("unsupported AEAD mode %d", m)
}

// TagSize is the mode's authentication tag length: 16 bytes for every
// mode RFC 9580 defines, 0 for an unknown mode.
func (m AEADMode) TagSize() int {
	if m.NonceSize() == 0 {
		return 0
	}
	return 16
}
