package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// testKey is a Key over a go-crypto generated encryption subkey. It is
// "locked" by a passphrase or PIN that the test chooses; the private key
// itself stays in memory, which is all the selection logic needs.
type testKey struct {
	mu        sync.Mutex
	priv      *packet.PrivateKey
	source    string
	kind      LockKind
	secret    string
	locked    bool
	tries     int // PIN tries left; -1 unknown
	absent    error
	canDec    bool
	failWith  error // DecryptPKESK fails with this when set
	decrypts  int   // DecryptPKESK calls
	unlocks   int   // Unlock calls
	lastForce bool
}

func (k *testKey) Fingerprint() []byte       { return k.priv.PublicKey.Fingerprint }
func (k *testKey) KeyID() uint64             { return k.priv.PublicKey.KeyId }
func (k *testKey) PublicKey() *pgp.PublicKey { return pgpKey(&k.priv.PublicKey) }
func (k *testKey) Source() string            { return k.source }
func (k *testKey) CanDecrypt() bool          { return k.canDec }
func (k *testKey) Available(ctx context.Context) error {
	return k.absent
}
func (k *testKey) LockKind() LockKind { return k.kind }
func (k *testKey) Locked() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.locked
}
func (k *testKey) TriesLeft(ctx context.Context) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tries
}
func (k *testKey) Unlock(ctx context.Context, secret []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.unlocks++
	if string(secret) != k.secret {
		if k.tries > 0 {
			k.tries--
		}
		return fmt.Errorf("%s: %w", k.source, ErrBadSecret)
	}
	if k.kind == LockPIN && k.tries >= 0 {
		k.tries = 3
	}
	k.locked = false
	return nil
}
func (k *testKey) Lock() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kind == LockPassword || k.kind == LockPIN {
		k.locked = true
	}
}
func (k *testKey) DecryptPKESK(ctx context.Context, p *PKESK) (*SessionKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.decrypts++
	if k.locked {
		return nil, errors.New("key is locked")
	}
	if k.failWith != nil {
		return nil, k.failWith
	}
	ek, err := goEncryptedKey(p)
	if err != nil {
		return nil, err
	}
	if err := ek.Decrypt(k.priv, nil); err != nil {
		return nil, err
	}
	return &SessionKey{Cipher: pgp.CipherFunction(ek.CipherFunc), Key: ek.Key}, nil
}

// testDevice and testBackend hold testKeys.
type testDevice struct {
	id   string
	keys []Key
	err  error
}

func (d *testDevice) ID() string                              { return d.id }
func (d *testDevice) Keys(ctx context.Context) ([]Key, error) { return d.keys, d.err }

type testBackend struct {
	devs []Device
}

func (b *testBackend) Name() string                                  { return "test" }
func (b *testBackend) Devices(ctx context.Context) ([]Device, error) { return b.devs, nil }

// backendOf puts each key on its own device.
func backendOf(keys ...*testKey) *testBackend {
	b := &testBackend{}
	for _, k := range keys {
		b.devs = append(b.devs, &testDevice{id: k.source, keys: []Key{k}})
	}
	return b
}

// testEntity makes a fresh key pair: v4 Ed25519+cv25519, or v6 Ed25519+X25519.
func testEntity(t testing.TB, name string, v6 bool) *openpgp.Entity {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	if v6 {
		cfg = &packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519, AEADConfig: &packet.AEADConfig{}}
	}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// keyOf wraps an entity's encryption subkey, unlocked and present.
func keyOf(t testing.TB, e *openpgp.Entity, source string) *testKey {
	t.Helper()
	if len(e.Subkeys) == 0 {
		t.Fatal("entity has no subkey")
	}
	return &testKey{priv: e.Subkeys[0].PrivateKey, source: source, kind: LockNone, tries: -1, canDec: true}
}

// locked makes k password- (or PIN-) locked with the given secret.
func (k *testKey) lockedBy(kind LockKind, secret string, tries int) *testKey {
	k.kind, k.secret, k.locked, k.tries = kind, secret, true, tries
	return k
}

// encryptTo encrypts msg to the entities with the given config.
func encryptTo(t testing.TB, msg []byte, cfg *packet.Config, to ...*openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := openpgp.Encrypt(&buf, to, nil, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pkesksOf returns the PKESKs of a binary message.
func pkesksOf(t testing.TB, msg []byte) []*PKESK {
	t.Helper()
	p, _, err := splitMessage(msg, DefaultMaxSize)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
