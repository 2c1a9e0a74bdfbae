package pgp

import (
	"bytes"
	"crypto"
	"crypto/dsa" // deprecated, but gpg still makes DSA primary keys (with ElGamal subkeys)
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	_ "crypto/sha1" // hash algorithms signatures may name
	_ "crypto/sha256"
	_ "crypto/sha3"
	_ "crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math/big"
)

// ErrUnsupportedSignature marks a signature keyunlock cannot check (an
// algorithm or hash it does not implement, an unknown critical
// subpacket): such a signature binds nothing.
var ErrUnsupportedSignature = errors.New("unsupported signature")

// sigHash returns the crypto.Hash of an OpenPGP hash algorithm number and
// the v6 salt size it requires.
func sigHash(id uint8) (crypto.Hash, int, error) {
	switch id {
	case 2:
		return crypto.SHA1, 0, nil
	case 8:
		return crypto.SHA256, 16, nil
	case 9:
		return crypto.SHA384, 24, nil
	case 10:
		return crypto.SHA512, 32, nil
	case 11:
		return crypto.SHA224, 16, nil
	case 12:
		return crypto.SHA3_256, 16, nil
	case 14:
		return crypto.SHA3_512, 32, nil
	}
	return 0, 0, fmt.Errorf("%w: hash algorithm %d", ErrUnsupportedSignature, id)
}

// hashKey writes a key framed as signatures and fingerprints hash it
// (RFC 9580 §5.2.4, §5.5.4): 0x99 ‖ 2-octet length ‖ body for v4, 0x9A
// (v5) or 0x9B (v6) ‖ 4-octet length ‖ body otherwise.
func hashKey(h hash.Hash, pk *PublicKey) {
	if pk.Version == 4 {
		h.Write([]byte{0x99, byte(len(pk.Body) >> 8), byte(len(pk.Body))})
	} else {
		h.Write(binary.BigEndian.AppendUint32([]byte{0x95 + byte(pk.Version)}, uint32(len(pk.Body))))
	}
	h.Write(pk.Body)
}

// VerifyKeySignature checks a signature by signer over key alone (direct
// key signature, key revocation) or, with sub set, over key and the
// subkey sub (subkey binding, subkey revocation).
func (s *Signature) VerifyKeySignature(signer, key, sub *PublicKey) error {
	return s.verify(signer, func(h hash.Hash) {
		hashKey(h, key)
		if sub != nil {
			hashKey(h, sub)
		}
	})
}

// VerifyUserIDSignature checks a certification (or certification
// revocation) by signer of the user ID uid on key.
func (s *Signature) VerifyUserIDSignature(signer, key *PublicKey, uid []byte) error {
	return s.verify(signer, func(h hash.Hash) {
		hashKey(h, key)
		h.Write(binary.BigEndian.AppendUint32([]byte{0xB4}, uint32(len(uid))))
		h.Write(uid)
	})
}

// verify hashes the salt (v6), the signed data and the trailer, and checks
// the signature with signer's key.
func (s *Signature) verify(signer *PublicKey, data func(hash.Hash)) error {
	if s.unknownCritical != 0 {
		return fmt.Errorf("%w: unknown critical subpacket %d", ErrUnsupportedSignature, s.unknownCritical)
	}
	if s.Algo != signer.Algo && !(s.Algo.IsRSA() && signer.Algo.IsRSA()) {
		return fmt.Errorf("signature algorithm %d does not match the %s key", s.Algo, signer.algoWord())
	}
	if s.Version == 6 && signer.Version != 6 || s.Version == 4 && signer.Version == 6 {
		return fmt.Errorf("a v%d signature cannot come from a v%d key", s.Version, signer.Version)
	}
	ch, saltSize, err := sigHash(s.Hash)
	if err != nil {
		return err
	}
	if s.Version == 6 && saltSize == 0 {
		return fmt.Errorf("%w: v6 signature with SHA-1", ErrUnsupportedSignature)
	}
	if s.Version == 6 && len(s.Salt) != saltSize {
		return fmt.Errorf("v6 signature salt of %d octets (want %d)", len(s.Salt), saltSize)
	}
	h := ch.New()
	h.Write(s.Salt)
	data(h)
	h.Write(s.trailer)
	trailer := []byte{byte(s.Version), 0xFF, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(trailer[2:], uint32(len(s.trailer)))
	h.Write(trailer)
	digest := h.Sum(nil)
	if !bytes.Equal(digest[:2], s.Left16) {
		return errors.New("signature does not match (digest prefix differs)")
	}
	if err := verifyDigest(signer, s.Algo, ch, digest, s.Material); err != nil {
		return err
	}
	return nil
}

// sigMPIs reads n MPIs that must make up all of b.
func sigMPIs(b []byte, n int) ([][]byte, error) {
	out, b, ok := ReadMPIs(b, n)
	if !ok {
		return nil, errors.New("truncated signature")
	}
	if len(b) != 0 {
		return nil, errors.New("extra bytes after the signature")
	}
	return out, nil
}

var errBadSignature = errors.New("signature does not verify")

// verifyDigest checks the algorithm-specific signature material over digest.
func verifyDigest(signer *PublicKey, algo PublicKeyAlgorithm, ch crypto.Hash, digest, material []byte) error {
	switch algo {
	case RSA, RSASignOnly:
		m, err := sigMPIs(material, 1)
		if err != nil {
			return err
		}
		pub, err := signer.rsaPublicKey()
		if err != nil {
			return err
		}
		sig := make([]byte, pub.Size())
		if len(m[0]) > len(sig) {
			return errBadSignature
		}
		copy(sig[len(sig)-len(m[0]):], m[0])
		if rsa.VerifyPKCS1v15(pub, ch, digest, sig) != nil {
			return errBadSignature
		}
		return nil
	case ECDSA:
		m, err := sigMPIs(material, 2)
		if err != nil {
			return err
		}
		pub, err := ecdsaKey(signer)
		if err != nil {
			return err
		}
		if !ecdsa.Verify(pub, digest, new(big.Int).SetBytes(m[0]), new(big.Int).SetBytes(m[1])) {
			return errBadSignature
		}
		return nil
	case EdDSALegacy:
		if signer.Curve != &CurveEd25519 {
			return fmt.Errorf("%w: EdDSA on curve OID %X", ErrUnsupportedSignature, signer.OID)
		}
		if len(signer.Point) != 33 || signer.Point[0] != 0x40 {
			return errors.New("malformed Ed25519 public key")
		}
		m, err := sigMPIs(material, 2)
		if err != nil {
			return err
		}
		if len(m[0]) > 32 || len(m[1]) > 32 {
			return errBadSignature
		}
		sig := make([]byte, 64)
		copy(sig[32-len(m[0]):32], m[0])
		copy(sig[64-len(m[1]):], m[1])
		if !ed25519.Verify(signer.Point[1:], digest, sig) {
			return errBadSignature
		}
		return nil
	case Ed25519:
		if len(material) != 64 || len(signer.Point) != 32 {
			return errors.New("malformed Ed25519 signature")
		}
		if !ed25519.Verify(signer.Point, digest, material) {
			return errBadSignature
		}
		return nil
	case Ed448:
		if len(material) != 114 || len(signer.Point) != 57 {
			return errors.New("malformed Ed448 signature")
		}
		if !ed448Verify(signer.Point, digest, material) {
			return errBadSignature
		}
		return nil
	case DSA:
		m, err := sigMPIs(material, 2)
		if err != nil {
			return err
		}
		q := new(big.Int).SetBytes(signer.Q)
		if q.Sign() == 0 {
			return errors.New("malformed DSA key")
		}
		pub := &dsa.PublicKey{
			Parameters: dsa.Parameters{P: new(big.Int).SetBytes(signer.P), Q: q, G: new(big.Int).SetBytes(signer.G)},
			Y:          new(big.Int).SetBytes(signer.Y),
		}
		// The digest is truncated to the size of q (RFC 9580 §5.2.2).
		if n := (q.BitLen() + 7) / 8; len(digest) > n {
			digest = digest[:n]
		}
		if !dsa.Verify(pub, digest, new(big.Int).SetBytes(m[0]), new(big.Int).SetBytes(m[1])) {
			return errBadSignature
		}
		return nil
	}
	return fmt.Errorf("%w: public-key algorithm %d", ErrUnsupportedSignature, algo)
}

// ecdsaKey returns the ECDSA public key of a NIST or brainpool key.
func ecdsaKey(pk *PublicKey) (*ecdsa.PublicKey, error) {
	curve := pk.Curve.Elliptic()
	if curve == nil {
		return nil, fmt.Errorf("%w: ECDSA on curve OID %X", ErrUnsupportedSignature, pk.OID)
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(pk.Point) != 1+2*size || pk.Point[0] != 4 {
		return nil, fmt.Errorf("malformed %s ECDSA point", pk.Curve.Name)
	}
	if curve == elliptic.P256() || curve == elliptic.P384() || curve == elliptic.P521() {
		return ecdsa.ParseUncompressedPublicKey(curve, pk.Point)
	}
	x, y := new(big.Int).SetBytes(pk.Point[1:1+size]), new(big.Int).SetBytes(pk.Point[1+size:])
	if !curve.IsOnCurve(x, y) {
		return nil, fmt.Errorf("%s ECDSA point is not on the curve", pk.Curve.Name)
	}
	return &ecdsa.PublicKey{Curve: curve, X: x, Y: y}, nil
}
