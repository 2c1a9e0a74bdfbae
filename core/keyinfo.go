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

// LazyPublicKey is optionally implemented by a Key whose public key costs a
// round trip to get: an OpenPGP card key without its certificate reads it
// with GET PUBLIC KEY. The keystore's decryption path and DescribeKey then
// take the algorithm from it and never call PublicKey.
type LazyPublicKey interface {
	// PublicKeyAlgorithm is the key's OpenPGP public-key algorithm.
	PublicKeyAlgorithm() pgp.PublicKeyAlgorithm
	// AlgorithmName names the algorithm as AlgorithmName does ("cv25519", "rsa2048").
	AlgorithmName() string
}

// keyAlgorithm is k's public-key algorithm, and false when it is unknown.
func keyAlgorithm(k Key) (pgp.PublicKeyAlgorithm, bool) {
	if l, ok := k.(LazyPublicKey); ok {
		return l.PublicKeyAlgorithm(), true
	}
	if pub := k.PublicKey(); pub != nil {
		return pub.Algo, true
	}
	return 0, false
}

// keyAlgorithmName names k's algorithm for users.
func keyAlgorithmName(k Key) string {
	if l, ok := k.(LazyPublicKey); ok {
		return l.AlgorithmName()
	}
	return AlgorithmName(k.PublicKey())
}

// DescribeKey builds the KeyInfo that ListKeys returns for k. It asks the
// key whether it is available and, for PIN-locked keys, how many tries are
// left (a card backend reads the counter, it never sends a VERIFY).
func DescribeKey(ctx context.Context, k Key) KeyInfo {
	info := KeyInfo{
		Fingerprint: fmt.Sprintf("%X", k.Fingerprint()),
		KeyID:       fmt.Sprintf("%016X", k.KeyID()),
		Algorithm:   keyAlgorithmName(k),
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
	info.Capabilities = defaultCapabilities(k)
	if d, ok := k.(KeyDescriber); ok {
		d.Describe(&info)
	}
	return info
}

// defaultCapabilities guesses capabilities when the key cannot say: what the
// algorithm allows, with "encrypt" only for keys that may decrypt.
func defaultCapabilities(k Key) []string {
	var caps []string
	if k.CanDecrypt() {
		caps = append(caps, "encrypt")
	}
	if algo, ok := keyAlgorithm(k); ok && algo.CanSign() {
		caps = append(caps, "sign")
	}
	return caps
}
