package pgp

import (
	"encoding/binary"
	"fmt"

	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// Packet tags of the key packets (RFC 9580 §5).
const (
	TagSecretKey    = 5
	TagPublicKey    = 6
	TagSecretSubkey = 7
	TagPublicSubkey = 14
)

// Serialize returns the public key packet body: what ParsePublicKey reads
// and the fingerprint covers. The caller must not modify it.
func (pk *PublicKey) Serialize() []byte { return pk.Body }

// AppendPacket appends the key as a complete packet with the given tag
// (TagPublicKey or TagPublicSubkey), with a new-format header.
func (pk *PublicKey) AppendPacket(dst []byte, tag int) []byte {
	return AppendPacket(dst, tag, pk.Body)
}

// AppendPacket appends a packet with a new-format header and the shortest
// definite length encoding.
func AppendPacket(dst []byte, tag int, body []byte) []byte {
	return pgppacket.Append(dst, tag, body)
}

// NewPublicKey builds a key from its parts: version (4 or 6), algorithm,
// creation time and the algorithm-specific material (see RSAMaterial,
// ECCMaterial, ECDHMaterial; the raw key for X25519 and the other native
// algorithms). It computes the body and the fingerprint.
func NewPublicKey(version int, algo PublicKeyAlgorithm, created uint32, material []byte) (*PublicKey, error) {
	body := []byte{byte(version), 0, 0, 0, 0, byte(algo)}
	binary.BigEndian.PutUint32(body[1:5], created)
	switch version {
	case 4:
	case 5, 6:
		body = binary.BigEndian.AppendUint32(body, uint32(len(material)))
	default:
		return nil, fmt.Errorf("version %d keys are not supported (only 4, 5 and 6)", version)
	}
	body = append(body, material...)
	return ParsePublicKey(body)
}

// RSAMaterial is the public material of an RSA key: MPI(n) ‖ MPI(e).
func RSAMaterial(n, e []byte) []byte {
	return AppendMPI(AppendMPI(nil, n), e)
}

// ECCMaterial is the public material of an ECDSA or legacy EdDSA key:
// the curve OID with its length octet and the point as an MPI.
func ECCMaterial(oid, point []byte) []byte {
	b := append([]byte{byte(len(oid))}, oid...)
	return AppendMPI(b, point)
}

// ECDHMaterial is the public material of an ECDH key: ECCMaterial followed
// by the KDF parameters (RFC 6637 §9: 03 01 hash cipher).
func ECDHMaterial(oid, point []byte, kdfHash uint8, kdfCipher CipherFunction) []byte {
	return append(ECCMaterial(oid, point), 3, 1, kdfHash, byte(kdfCipher))
}
