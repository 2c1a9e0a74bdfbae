package pgp

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// setFingerprint computes the fingerprint and key ID from Body (RFC 9580
// §5.5.4): SHA-1 over 0x99 ‖ 2-octet length ‖ body for v4 keys, SHA-256
// over 0x9A (v5) or 0x9B (v6) ‖ 4-octet length ‖ body otherwise.
func (pk *PublicKey) setFingerprint() {
	var h hash.Hash
	if pk.Version == 4 {
		h = sha1.New()
		h.Write([]byte{0x99, byte(len(pk.Body) >> 8), byte(len(pk.Body))})
	} else {
		h = sha256.New()
		hdr := []byte{0x95 + byte(pk.Version), 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hdr[1:], uint32(len(pk.Body)))
		h.Write(hdr)
	}
	h.Write(pk.Body)
	pk.Fingerprint = h.Sum(nil)
	if pk.Version == 4 {
		pk.KeyID = binary.BigEndian.Uint64(pk.Fingerprint[12:20])
	} else {
		pk.KeyID = binary.BigEndian.Uint64(pk.Fingerprint[:8])
	}
}
