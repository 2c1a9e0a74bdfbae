package core

import (
	"context"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// LockKind says what a key needs before it can be used.
type LockKind int

// The ways a key can be locked.
const (
	LockNone     LockKind = iota // usable as is
	LockPassword                 // a soft key protected by a passphrase
	LockPIN                      // a card key behind a PIN (PW1)
	LockTouch                    // usable, but the card waits for a touch
)

// String names the lock kind as shown to users.
func (k LockKind) String() string {
	switch k {
	case LockNone:
		return "none"
	case LockPassword:
		return "password"
	case LockPIN:
		return "pin"
	case LockTouch:
		return "touch"
	}
	return "unknown"
}

// Backend is a source of keys: a set of soft key files, or the OpenPGP cards
// reachable through PC/SC. Backends are registered with a Keystore.
type Backend interface {
	// Name is a short lower-case name such as "softkeys" or "card".
	Name() string
	// Devices lists the devices the backend can reach right now.
	Devices(ctx context.Context) ([]Device, error)
}

// Device is one holder of keys: a key file, or one card in a reader.
type Device interface {
	// ID identifies the device to users, e.g. a file path or "card D276000124010304000612345678".
	ID() string
	// Keys lists the keys on the device, decryption-capable or not.
	Keys(ctx context.Context) ([]Key, error)
}

// Key is one private key held by a backend. Implementations must be safe for
// concurrent use: the daemon calls them from several connections.
type Key interface {
	// Fingerprint is the key's OpenPGP fingerprint (20 bytes for v4, 32 for v6).
	Fingerprint() []byte
	// KeyID is the OpenPGP key ID.
	KeyID() uint64
	// PublicKey is the public part, used for algorithm checks and KDF parameters.
	PublicKey() *pgp.PublicKey
	// Source says where the key lives, e.g. "file /etc/keyunlock/root.key" or "card 0006:23852774".
	Source() string
	// CanDecrypt reports whether the key may decrypt session keys.
	CanDecrypt() bool
	// Available returns nil when the key can be used now, or an error that
	// says why not (card absent, secret stub on a card, ...).
	Available(ctx context.Context) error
	// Lock reports what Unlock needs; LockNone means Unlock is not needed.
	LockKind() LockKind
	// Locked reports whether a secret must be given before DecryptPKESK.
	Locked() bool
	// TriesLeft is the remaining PIN tries for a card key, or -1 when unknown
	// or not applicable. Card backends read it from the card before any VERIFY.
	TriesLeft(ctx context.Context) int
	// Unlock unlocks the key with a passphrase or PIN. A wrong secret returns
	// an error wrapping ErrBadSecret. The caller zeroes secret afterwards.
	Unlock(ctx context.Context, secret []byte) error
	// Lock forgets the unlocked state and zeroes what it can.
	Lock()
	// DecryptPKESK recovers the session key from one PKESK addressed to this key.
	DecryptPKESK(ctx context.Context, p *PKESK) (*SessionKey, error)
}

// SessionKey is a decrypted OpenPGP session key.
type SessionKey struct {
	// Cipher is the symmetric algorithm named in a v3 PKESK, or 0 for a v6
	// PKESK, where the SEIPDv2 packet names it.
	Cipher pgp.CipherFunction
	// Key is the session key itself. Callers zero it with Wipe when done.
	Key []byte
}

// Wipe zeroes the session key bytes.
func (s *SessionKey) Wipe() {
	if s != nil {
		Wipe(s.Key)
	}
}

// Wipe overwrites b with zeros. Use it on every secret once it is no longer needed.
func Wipe(b []byte) {
	clear(b)
}
