package pgp

import (
	"bytes"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// PublicKey is the public part of an OpenPGP key packet: a primary key or
// subkey, public or secret (RFC 9580 §5.5.2). Byte fields alias Body.
type PublicKey struct {
	Version     int                // 4, 5 or 6
	Algo        PublicKeyAlgorithm // the public-key algorithm
	Created     uint32             // creation time, seconds since the epoch
	Fingerprint []byte             // 20 bytes (v4) or 32 bytes (v5, v6)
	KeyID       uint64             // the low 64 bits (v4) or high 64 bits (v5, v6) of the fingerprint

	// RSA: modulus and public exponent, as stored in the MPIs.
	N, E []byte
	// DSA: P, Q, G, Y; ElGamal: P, G, Y.
	P, Q, G, Y []byte
	// ECDH, ECDSA, EdDSALegacy: the curve OID and, when keyunlock knows
	// it, the curve.
	OID   []byte
	Curve *Curve
	// Point is the public point: the MPI value for ECDH, ECDSA and
	// EdDSALegacy (with its 0x04 or 0x40 prefix octet), the raw key for
	// X25519, X448, Ed25519 and Ed448.
	Point []byte
	// KDFHash and KDFCipher are an ECDH key's KDF parameters (RFC 6637 §9):
	// the hash algorithm number and the key-wrap cipher.
	KDFHash   uint8
	KDFCipher CipherFunction

	// Body is the whole public key packet body (the public part only, for
	// a secret key): what the fingerprint covers and Serialize writes.
	Body []byte
}

// Opaque reports whether keyunlock does not know the key's algorithm, so
// that only its fingerprint and algorithm number are meaningful.
func (pk *PublicKey) Opaque() bool {
	switch pk.Algo {
	case RSA, RSAEncryptOnly, RSASignOnly, DSA, ElGamal, ECDH, ECDSA, EdDSALegacy, X25519, X448, Ed25519, Ed448:
		return false
	}
	return true
}

// CreationTime is the key's creation time.
func (pk *PublicKey) CreationTime() time.Time {
	return time.Unix(int64(pk.Created), 0)
}

// ParsePublicKey parses the body of a public-key or public-subkey packet.
// A key whose algorithm keyunlock does not know parses as an opaque key.
// Bytes after the key fields are an error.
func ParsePublicKey(body []byte) (*PublicKey, error) {
	pk, n, err := parsePublic(body, true)
	if err != nil {
		return nil, err
	}
	if n != len(body) {
		return nil, fmt.Errorf("key %X: %d unexpected bytes after the public key fields", pk.Fingerprint, len(body)-n)
	}
	return pk, nil
}

// ParsePublicPart parses the public fields at the start of a secret-key or
// secret-subkey packet body and returns the key and the length of those
// fields; the secret fields follow. A v4 key of an unknown algorithm is an
// error here: where its public fields end cannot be known.
func ParsePublicPart(body []byte) (*PublicKey, int, error) {
	return parsePublic(body, false)
}

// parsePublic parses the public key fields; opaque says a v4 key of an
// unknown algorithm may take the rest of body as its material.
func parsePublic(body []byte, opaque bool) (*PublicKey, int, error) {
	if len(body) < 1 {
		return nil, 0, errTruncated
	}
	pk := &PublicKey{Version: int(body[0])}
	hdr := 6
	switch pk.Version {
	case 4:
	case 5, 6:
		hdr = 10
	default:
		return nil, 0, fmt.Errorf("version %d keys are not supported (only 4, 5 and 6)", pk.Version)
	}
	if len(body) < hdr {
		return nil, 0, errTruncated
	}
	pk.Created = binary.BigEndian.Uint32(body[1:5])
	pk.Algo = PublicKeyAlgorithm(body[5])
	material := body[hdr:]
	if pk.Version != 4 {
		n := binary.BigEndian.Uint32(body[6:10])
		if uint64(n) > uint64(len(material)) {
			return nil, 0, errTruncated
		}
		material = material[:n]
	}
	var n int
	if pk.Opaque() {
		if pk.Version == 4 && !opaque {
			return nil, 0, fmt.Errorf("public-key algorithm %d is not supported", pk.Algo)
		}
		n = len(material)
	} else {
		rest, err := pk.parseFields(material)
		if err != nil {
			return nil, 0, fmt.Errorf("malformed %s key: %w", pk.algoWord(), err)
		}
		n = len(material) - len(rest)
		if pk.Version != 4 && n != len(material) {
			return nil, 0, fmt.Errorf("malformed %s key: the key material length says %d bytes, the fields take %d", pk.algoWord(), len(material), n)
		}
	}
	total := hdr + n
	pk.Body = bytes.Clone(body[:total])
	if _, err := pk.parseFields(pk.Body[hdr:]); err != nil && !pk.Opaque() {
		return nil, 0, err // cannot happen: the same bytes parsed above
	}
	pk.setFingerprint()
	return pk, total, nil
}

// parseFields reads the algorithm-specific public fields from b, setting
// the key's fields to alias b, and returns what follows them.
func (pk *PublicKey) parseFields(b []byte) (rest []byte, err error) {
	mpis := func(dst ...*[]byte) error {
		for _, d := range dst {
			var ok bool
			if *d, b, ok = ReadMPI(b); !ok {
				return errTruncated
			}
		}
		return nil
	}
	raw := func(n int) error {
		if len(b) < n {
			return errTruncated
		}
		pk.Point, b = b[:n], b[n:]
		return nil
	}
	switch pk.Algo {
	case RSA, RSAEncryptOnly, RSASignOnly:
		err = mpis(&pk.N, &pk.E)
	case DSA:
		err = mpis(&pk.P, &pk.Q, &pk.G, &pk.Y)
	case ElGamal:
		err = mpis(&pk.P, &pk.G, &pk.Y)
	case ECDSA, EdDSALegacy, ECDH:
		if pk.OID, b, err = readOID(b); err != nil {
			return nil, err
		}
		pk.Curve = CurveByOID(pk.OID)
		if err = mpis(&pk.Point); err != nil {
			return nil, err
		}
		if pk.Algo == ECDH {
			if len(b) < 1 || len(b) < 1+int(b[0]) {
				return nil, errTruncated
			}
			if b[0] < 3 || b[1] != 1 {
				return nil, errors.New("unsupported ECDH KDF parameters")
			}
			pk.KDFHash, pk.KDFCipher = b[2], CipherFunction(b[3])
			b = b[1+int(b[0]):]
		}
	case X25519:
		err = raw(32)
	case X448:
		err = raw(56)
	case Ed25519:
		err = raw(32)
	case Ed448:
		err = raw(57)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// algoWord names the algorithm in parse errors.
func (pk *PublicKey) algoWord() string {
	switch pk.Algo {
	case RSA, RSAEncryptOnly, RSASignOnly:
		return "RSA"
	case DSA:
		return "DSA"
	case ElGamal:
		return "ElGamal"
	case ECDH:
		return "ECDH"
	case ECDSA:
		return "ECDSA"
	case EdDSALegacy:
		return "EdDSA"
	case X25519:
		return "X25519"
	case X448:
		return "X448"
	case Ed25519:
		return "Ed25519"
	case Ed448:
		return "Ed448"
	}
	return fmt.Sprintf("algorithm %d", pk.Algo)
}

// BitLength is the size of an RSA, DSA or ElGamal key in bits (of its
// modulus or prime), or 0 for other algorithms.
func (pk *PublicKey) BitLength() int {
	switch pk.Algo {
	case RSA, RSAEncryptOnly, RSASignOnly:
		return bitLen(pk.N)
	case DSA, ElGamal:
		return bitLen(pk.P)
	}
	return 0
}

// Name names the key's algorithm the way gpg lists keys: "rsa3072",
// "cv25519", "ed25519", "nistp256", "brainpoolP256r1", "x25519", "x448".
func (pk *PublicKey) Name() string {
	switch pk.Algo {
	case RSA, RSAEncryptOnly, RSASignOnly:
		return fmt.Sprintf("rsa%d", pk.BitLength())
	case ElGamal:
		return fmt.Sprintf("elg%d", pk.BitLength())
	case DSA:
		return fmt.Sprintf("dsa%d", pk.BitLength())
	case X25519:
		return "x25519"
	case X448:
		return "x448"
	case Ed25519:
		return "ed25519"
	case Ed448:
		return "ed448"
	case ECDH, ECDSA, EdDSALegacy:
		switch {
		case pk.Curve == nil:
			return fmt.Sprintf("ecc-algo%d", pk.Algo)
		case bytes.Equal(pk.OID, Curve25519.OID) && pk.Algo == ECDH:
			return "cv25519"
		case bytes.Equal(pk.OID, Curve25519.OID):
			return "ed25519"
		case bytes.Equal(pk.OID, Curve448.OID) && pk.Algo == ECDH:
			return "cv448"
		case bytes.Equal(pk.OID, Curve448.OID):
			return "ed448"
		}
		return pk.Curve.Name
	}
	return fmt.Sprintf("algo%d", pk.Algo)
}

// rsaPublicKey returns an RSA key's n and e for crypto/rsa, which takes
// exponents of at most 32 bits.
func (pk *PublicKey) rsaPublicKey() (*rsa.PublicKey, error) {
	if len(pk.E) == 0 || len(pk.E) > 4 {
		return nil, errors.New("RSA public exponent is out of range")
	}
	e := 0
	for _, b := range pk.E {
		e = e<<8 | int(b)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(pk.N), E: e}, nil
}
