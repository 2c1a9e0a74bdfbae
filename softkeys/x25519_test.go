package softkeys

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/core"
)

// TestX25519SecretKey checks the X25519 path against crypto/ecdh: the same
// shared secret, low-order ephemeral keys refused, a public key that does not
// match refused, and the scalar zeroed by wipe.
func TestX25519SecretKey(t *testing.T) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want, err := eph.ECDH(priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	sk, err := x25519Key(append([]byte(nil), priv.Bytes()...), priv.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, err := sk.ECDH(context.Background(), eph.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("shared secret differs from crypto/ecdh's")
	}
	// u = 0 and u = 1 are low-order points: the output is all zero.
	for _, u := range [][]byte{make([]byte, 32), append([]byte{1}, make([]byte, 31)...)} {
		_, err := sk.ECDH(context.Background(), u)
		if !errors.Is(err, core.ErrBadPKESK) || !strings.Contains(err.Error(), "low-order") {
			t.Errorf("low-order ephemeral %x: %v", u[:1], err)
		}
	}
	if _, err := sk.ECDH(context.Background(), make([]byte, 31)); !errors.Is(err, core.ErrBadPKESK) {
		t.Errorf("short ephemeral: %v", err)
	}
	other, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := x25519Key(append([]byte(nil), priv.Bytes()...), other.PublicKey().Bytes()); !errors.Is(err, errMismatch) {
		t.Errorf("mismatched public key: %v", err)
	}
	scalar := sk.x25519
	sk.wipe()
	for _, b := range scalar {
		if b != 0 {
			t.Fatal("wipe left the X25519 scalar in memory")
		}
	}
}
