package pgp

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// TestECDHKDFFingerprint checks that the KDF covers a v4 key's whole
// fingerprint but only the first 20 octets of a v5 key's, so that encrypting
// and decrypting to a v5 ECDH key agree.
func TestECDHKDFFingerprint(t *testing.T) {
	zb := bytes.Repeat([]byte{7}, 32)
	key := func(version int, fp []byte) *PublicKey {
		return &PublicKey{Version: version, Fingerprint: fp, OID: Curve25519.OID, KDFHash: 8, KDFCipher: CipherAES128}
	}
	fp := bytes.Repeat([]byte{1}, 32)
	tail := bytes.Clone(fp)
	tail[31] ^= 0xFF
	if !bytes.Equal(ECDHKDF(sha256.New(), key(5, fp), zb), ECDHKDF(sha256.New(), key(5, tail), zb)) {
		t.Error("v5: octets after the 20th of the fingerprint changed the KDF")
	}
	head := bytes.Clone(fp)
	head[19] ^= 0xFF
	if bytes.Equal(ECDHKDF(sha256.New(), key(5, fp), zb), ECDHKDF(sha256.New(), key(5, head), zb)) {
		t.Error("v5: the 20th fingerprint octet did not change the KDF")
	}
	v4, v4b := bytes.Repeat([]byte{1}, 20), bytes.Repeat([]byte{1}, 20)
	v4b[19] ^= 0xFF
	if bytes.Equal(ECDHKDF(sha256.New(), key(4, v4), zb), ECDHKDF(sha256.New(), key(4, v4b), zb)) {
		t.Error("v4: the fingerprint's last octet did not change the KDF")
	}
}
