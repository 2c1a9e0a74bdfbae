package softkeys

import (
	"context"
	"crypto/subtle"
	"sync"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/s2k"
)

// maxPrederive bounds the derivations one Prederive starts: a message to
// several keys of the same file (or an anonymous recipient, which matches
// every key) must not start more work than the cores that run it. With
// Argon2 only one is started.
const maxPrederive = 2

var _ core.Prederiver = (*Backend)(nil)

// prederived is a key derivation started by Prederive for one Key.
type prederived struct {
	id     string // the S2K and key size it is for (see Key.derive)
	secret []byte // the passphrase, to compare with Unlock's
	done   chan struct{}
	// Set before done is closed, guarded by Key.preMu: the derived key
	// (nil once dropped) and the derivation's error.
	key     []byte
	err     error
	dropped bool
}

// Prederive starts the S2K of every passphrase-protected key that one of
// the PKESKs names (at most maxPrederive) with secret, each in its own
// goroutine: Unlock then takes the result (see core.Prederiver). Nothing is
// started when a named key needs no passphrase (unprotected or unlocked),
// since the keystore tries that one first. The keys'
// self-signatures are not waited for: a key that turns out not to be an
// encryption key is never unlocked, and its derived key is wiped by the
// returned function.
func (b *Backend) Prederive(ctx context.Context, pkesks []*core.PKESK, secret []byte) func() {
	named := func(k *Key) bool {
		if k.prot.stub != 0 || !k.pub.Algo.CanEncrypt() {
			return false
		}
		for _, p := range pkesks {
			if p.Matches(k.pub.Fingerprint, k.pub.KeyID) {
				return true
			}
		}
		return false
	}
	var locked []*Key
	for _, f := range b.files {
		for _, k := range f.keys {
			if !named(k) {
				continue
			}
			if !k.Locked() {
				// A key that needs no passphrase is tried first: the
				// passphrase may never be asked for.
				return func() {}
			}
			if k.LockKind() == core.LockPassword && k.prot.cipher.KeySize() != 0 {
				locked = append(locked, k)
			}
		}
	}
	n := min(len(locked), maxPrederive)
	for _, k := range locked {
		if k.prot.s2k.Mode == s2k.Argon2 {
			// Each Argon2 derivation holds its memory (up to 2 GiB)
			// while it runs: never two at once where one was before.
			n = min(n, 1)
		}
	}
	var started []*Key
	for _, k := range locked[:n] {
		if k.prederive(secret) {
			started = append(started, k)
		}
	}
	return func() {
		for _, k := range started {
			k.dropPrederived()
		}
	}
}

// prederive starts deriving k's key-encryption key from a copy of secret,
// unless a derivation is under way already.
func (k *Key) prederive(secret []byte) bool {
	k.preMu.Lock()
	defer k.preMu.Unlock()
	if k.pre != nil {
		return false
	}
	pd := &prederived{id: k.deriveID(), secret: append([]byte(nil), secret...), done: make(chan struct{})}
	k.pre = pd
	own := append([]byte(nil), secret...)
	go func() {
		out, err := k.runS2K(own)
		core.Wipe(own)
		k.preMu.Lock()
		if pd.dropped {
			core.Wipe(out)
		} else {
			pd.key, pd.err = out, err
		}
		k.preMu.Unlock()
		close(pd.done)
	}()
	return true
}

// takePrederived returns the key derived by Prederive when it was started
// with secret for the same S2K (id), waiting for it to finish; ok is false
// otherwise. The derivation is used up either way.
func (k *Key) takePrederived(secret []byte, id string) (key []byte, err error, ok bool) {
	k.preMu.Lock()
	pd := k.pre
	k.pre = nil
	k.preMu.Unlock()
	if pd == nil {
		return nil, nil, false
	}
	same := pd.id == id && subtle.ConstantTimeCompare(pd.secret, secret) == 1
	core.Wipe(pd.secret)
	if !same {
		pd.drop(&k.preMu)
		return nil, nil, false
	}
	<-pd.done
	return pd.key, pd.err, true
}

// dropPrederived wipes a derivation that Unlock did not take.
func (k *Key) dropPrederived() {
	k.preMu.Lock()
	pd := k.pre
	k.pre = nil
	k.preMu.Unlock()
	if pd != nil {
		core.Wipe(pd.secret)
		pd.drop(&k.preMu)
	}
}

// drop marks pd dropped, wiping its key if it is done; a derivation still
// running wipes its own when it ends.
func (pd *prederived) drop(mu *sync.Mutex) {
	mu.Lock()
	defer mu.Unlock()
	pd.dropped = true
	core.Wipe(pd.key)
	pd.key = nil
}
