package core

import (
	"fmt"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// AlgorithmName names a public key's algorithm the way gpg's "list-keys"
// does: "rsa3072", "cv25519", "ed25519", "nistp256", "brainpoolP256r1",
// "x25519", "x448". It returns "unknown" for a nil key.
func AlgorithmName(pk *pgp.PublicKey) string {
	if pk == nil {
		return "unknown"
	}
	return pk.Name()
}

// compatibleAlgo reports whether a PKESK for algorithm pkesk can be
// decrypted by a key of algorithm key. RSA encrypt-only keys and RSA keys are
// interchangeable; every other algorithm must match exactly.
func compatibleAlgo(pkesk, key pgp.PublicKeyAlgorithm) bool {
	if isRSA(pkesk) && isRSA(key) {
		return true
	}
	return pkesk == key
}

// algoLabel names a bare algorithm number for error messages.
func algoLabel(a pgp.PublicKeyAlgorithm) string {
	switch a {
	case pgp.RSA, pgp.RSAEncryptOnly:
		return "RSA"
	case pgp.ElGamal:
		return "ElGamal"
	case pgp.ECDH:
		return "ECDH"
	case pgp.X25519:
		return "X25519"
	case pgp.X448:
		return "X448"
	}
	return fmt.Sprintf("algorithm %d", a)
}
