package pgp

import "hash"

// ECDHKDF returns RFC 6637 §7's Hash(00 00 00 01 ‖ ZB ‖ Param) for the shared
// secret zb and pub's ECDH parameters, hashed with h (the key's KDF hash,
// which the caller chooses and checks). Param is the curve OID with its
// length, 18 (ECDH), 03 01 KDF-hash KDF-cipher, "Anonymous Sender    " and
// pub's fingerprint; of a v5 key's 32-octet fingerprint only the first 20
// octets, as GnuPG uses them. Callers take the key-wrap key from the front.
func ECDHKDF(h hash.Hash, pub *PublicKey, zb []byte) []byte {
	fingerprint := pub.Fingerprint
	if pub.Version == 5 {
		fingerprint = fingerprint[:20]
	}
	h.Write([]byte{0, 0, 0, 1})
	h.Write(zb)
	h.Write([]byte{byte(len(pub.OID))})
	h.Write(pub.OID)
	h.Write([]byte{byte(ECDH), 3, 1, pub.KDFHash, byte(pub.KDFCipher)})
	h.Write([]byte("Anonymous Sender    "))
	h.Write(fingerprint)
	return h.Sum(nil)
}
