package core

import (
	"context"
	"fmt"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// KeyDescriber is optionally implemented by a Key that knows more about
// itself than the Key interface carries: the capabilities from its binding
// signature's key flags, its primary key's fingerprint, its first user ID.
// Describe fills in those fields of info and leaves the others alone.
type KeyDescriber interface {
	Describe(info *KeyInfo)
}

// DescribeKey builds the KeyInfo that ListKeys returns for k. It asks the
// key whether it is available and, for PIN-locked keys, how many tries are
// left (a card backend reads the counter, it never sends a VERIFY).
func DescribeKey(ctx context.Context, k Key) KeyInfo {
	pub := k.PublicKey()
	info := KeyInfo{
		Fingerprint: fmt.Sprintf("%X", k.Fingerprint()),
		KeyID:       fmt.Sprintf("%016X", k.KeyID()),
		Algorithm:   AlgorithmName(pub),
		Source:      k.Source(),
		Lock:        k.LockKind().String(),
		Locked:      k.Locked(),
		Available:   true,
		TriesLeft:   -1,
	}
	if err := k.Available(ctx); err != nil {
		info.Available = false
		info.Reason = err.Error()
	}
	if k.LockKind() == LockPIN {
		info.TriesLeft = k.TriesLeft(ctx)
	}
	info.Capabilities = defaultCapabilities(k, pub)
	if d, ok := k.(KeyDescriber); ok {
		d.Describe(&info)
	}
	return info
}

// defaultCapabilities guesses capabilities when the key cannot say: what the
// algorithm allows, with "encrypt" only for keys that may decrypt.
func defaultCapabilities(k Key, pub *pgp.PublicKey) []string {
	var caps []string
	if k.CanDecrypt() {
		caps = append(caps, "encrypt")
	}
	if pub != nil && pub.Algo.CanSign() {
		caps = append(caps, "sign")
	}
	return caps
}
