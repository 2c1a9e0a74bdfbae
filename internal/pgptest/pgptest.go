// Package pgptest converts go-crypto keys to keyunlock's own key type for
// tests, which make their keys with go-crypto. Only test code imports it,
// so go-crypto's openpgp/packet stays out of the keyunlock binary.
package pgptest

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// FromGoCrypto parses go-crypto's serialisation of pk with
// pgp.ParsePublicKey and checks that both agree on the fingerprint.
func FromGoCrypto(tb testing.TB, pk *packet.PublicKey) *pgp.PublicKey {
	tb.Helper()
	var buf bytes.Buffer
	if err := pk.Serialize(&buf); err != nil {
		tb.Fatal(err)
	}
	ps, err := pgppacket.Split(buf.Bytes())
	if err != nil || len(ps) != 1 {
		tb.Fatalf("splitting go-crypto's key %X: %v", pk.Fingerprint, err)
	}
	p, err := pgp.ParsePublicKey(ps[0].Body)
	if err != nil {
		tb.Fatalf("parsing go-crypto's key %X: %v", pk.Fingerprint, err)
	}
	if !bytes.Equal(p.Fingerprint, pk.Fingerprint) {
		tb.Fatalf("fingerprint %X, go-crypto says %X", p.Fingerprint, pk.Fingerprint)
	}
	return p
}

// AllFromGoCrypto converts every key with FromGoCrypto.
func AllFromGoCrypto(tb testing.TB, pks ...*packet.PublicKey) []*pgp.PublicKey {
	tb.Helper()
	out := make([]*pgp.PublicKey, len(pks))
	for i, pk := range pks {
		out[i] = FromGoCrypto(tb, pk)
	}
	return out
}
