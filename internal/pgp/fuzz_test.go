package pgp

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func sha1Hex(b []byte) string   { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }
func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// FuzzParsePublicKey feeds arbitrary bodies to both parsers: they must not
// panic, what they accept must be a prefix of the input that parses again
// to the same key, and the fingerprint must be the RFC's hash of it.
func FuzzParsePublicKey(f *testing.F) {
	for _, s := range []string{
		"04000000011203" + "2b656f" + "0008" + "40" + "03010807",
		"0400000001010008c50003010001",
		"06000000011900000020" + "0000000000000000000000000000000000000000000000000000000000000000",
		"0400000001630102",
		"060000000163000000020102ff",
	} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, public := range []bool{true, false} {
			var pk *PublicKey
			var err error
			n := len(body)
			if public {
				pk, err = ParsePublicKey(body)
			} else {
				pk, n, err = ParsePublicPart(body)
			}
			if err != nil {
				continue
			}
			if n > len(body) || !bytes.Equal(pk.Body, body[:n]) {
				t.Fatalf("Body is not the parsed prefix")
			}
			again, err := ParsePublicKey(pk.Body)
			if err != nil || !bytes.Equal(again.Fingerprint, pk.Fingerprint) || again.Algo != pk.Algo {
				t.Fatalf("Body does not parse again: %v", err)
			}
			var want string
			if pk.Version == 4 {
				want = sha1Hex(append([]byte{0x99, byte(n >> 8), byte(n)}, pk.Body...))
			} else {
				want = sha256Hex(append([]byte{0x95 + byte(pk.Version), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, pk.Body...))
			}
			if hex.EncodeToString(pk.Fingerprint) != want {
				t.Fatalf("fingerprint %X, want %s", pk.Fingerprint, want)
			}
			_ = pk.Name()
		}
	})
}
