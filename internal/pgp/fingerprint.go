package pgp

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// setFingerprint computes the fingerprint and key ID from Body (RFC 9580
// §5.5.4): SHA-1 (v4) or SHA-256 (v5, v6) over the key framed as
// signatures hash it (hashKey).
func (pk *PublicKey) setFingerprint() {
	var h hash.Hash
	if pk.Version == 4 {
		h = sha1.New()
	} else {
		h = sha256.New()
	}
	hashKey(h, pk)
	pk.Fingerprint = h.Sum(nil)
	if pk.Version == 4 {
		pk.KeyID = binary.BigEndian.Uint64(pk.Fingerprint[12:20])
	} else {
		pk.KeyID = binary.BigEndian.Uint64(pk.Fingerprint[:8])
	}
}
