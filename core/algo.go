package core

import (
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// AlgorithmName names a public key's algorithm the way gpg's "list-keys"
// does: "rsa3072", "cv25519", "ed25519", "nistp256", "brainpoolP256r1",
// "x25519", "x448". It returns "unknown" for a nil key.
func AlgorithmName(pk *packet.PublicKey) string {
	if pk == nil {
		return "unknown"
	}
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		if bits, err := pk.BitLength(); err == nil {
			return fmt.Sprintf("rsa%d", bits)
		}
		return "rsa"
	case packet.PubKeyAlgoElGamal:
		if bits, err := pk.BitLength(); err == nil {
			return fmt.Sprintf("elg%d", bits)
		}
		return "elg"
	case packet.PubKeyAlgoDSA:
		if bits, err := pk.BitLength(); err == nil {
			return fmt.Sprintf("dsa%d", bits)
		}
		return "dsa"
	case packet.PubKeyAlgoX25519:
		return "x25519"
	case packet.PubKeyAlgoX448:
		return "x448"
	case packet.PubKeyAlgoEd25519:
		return "ed25519"
	case packet.PubKeyAlgoEd448:
		return "ed448"
	case packet.PubKeyAlgoECDH, packet.PubKeyAlgoECDSA, packet.PubKeyAlgoEdDSA:
		curve, err := pk.Curve()
		if err != nil {
			return fmt.Sprintf("ecc-algo%d", pk.PubKeyAlgo)
		}
		return curveName(pk.PubKeyAlgo, curve)
	}
	return fmt.Sprintf("algo%d", pk.PubKeyAlgo)
}

func curveName(algo packet.PublicKeyAlgorithm, c packet.Curve) string {
	switch c {
	case packet.Curve25519:
		if algo == packet.PubKeyAlgoECDH {
			return "cv25519"
		}
		return "ed25519"
	case packet.Curve448:
		if algo == packet.PubKeyAlgoECDH {
			return "cv448"
		}
		return "ed448"
	case packet.CurveNistP256:
		return "nistp256"
	case packet.CurveNistP384:
		return "nistp384"
	case packet.CurveNistP521:
		return "nistp521"
	case packet.CurveSecP256k1:
		return "secp256k1"
	case packet.CurveBrainpoolP256:
		return "brainpoolP256r1"
	case packet.CurveBrainpoolP384:
		return "brainpoolP384r1"
	case packet.CurveBrainpoolP512:
		return "brainpoolP512r1"
	}
	return string(c)
}

// compatibleAlgo reports whether a PKESK for algorithm pkesk can be
// decrypted by a key of algorithm key. RSA encrypt-only keys and RSA keys are
// interchangeable; every other algorithm must match exactly.
func compatibleAlgo(pkesk, key packet.PublicKeyAlgorithm) bool {
	isRSA := func(a packet.PublicKeyAlgorithm) bool {
		return a == packet.PubKeyAlgoRSA || a == packet.PubKeyAlgoRSAEncryptOnly
	}
	if isRSA(pkesk) && isRSA(key) {
		return true
	}
	return pkesk == key
}

// algoLabel names a bare algorithm number for error messages.
func algoLabel(a packet.PublicKeyAlgorithm) string {
	switch a {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly:
		return "RSA"
	case packet.PubKeyAlgoElGamal:
		return "ElGamal"
	case packet.PubKeyAlgoECDH:
		return "ECDH"
	case packet.PubKeyAlgoX25519:
		return "X25519"
	case packet.PubKeyAlgoX448:
		return "X448"
	}
	return fmt.Sprintf("algorithm %d", a)
}
