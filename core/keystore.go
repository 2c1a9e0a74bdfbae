package core

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Keystore aggregates backends and serves them as a Service. It picks the
// most convenient key for a message and never prompts: when only locked keys
// could decrypt, it says so with a *LockedError and lets the caller prompt
// (see DecryptSessionKey).
//
// A Keystore is safe for concurrent use. It keeps no key state of its own:
// the backends' keys are concurrency-safe and are listed afresh on each call,
// so a card inserted or removed between calls is seen.
type Keystore struct {
	backends []Backend
}

var _ Service = (*Keystore)(nil)

// NewKeystore returns a Keystore over the given backends. Keys are preferred
// in backend order when everything else is equal.
func NewKeystore(backends ...Backend) *Keystore {
	return &Keystore{backends: append([]Backend(nil), backends...)}
}

// entry is one key found while enumerating, or one device or backend that
// could not be enumerated (key nil, problem set).
type entry struct {
	key     Key
	source  string
	problem error
}

// enumerate lists every key of every backend. Devices and backends that fail
// are returned as entries with a problem so that errors can name them.
func (ks *Keystore) enumerate(ctx context.Context) []entry {
	var out []entry
	for _, b := range ks.backends {
		devs, err := b.Devices(ctx)
		if err != nil {
			out = append(out, entry{source: b.Name(), problem: err})
		}
		for _, d := range devs {
			keys, err := d.Keys(ctx)
			if err != nil {
				out = append(out, entry{source: d.ID(), problem: err})
			}
			for _, k := range keys {
				out = append(out, entry{key: k, source: k.Source()})
			}
		}
	}
	return out
}

// ListKeys describes every key of every backend, in backend order. A device
// that cannot be read is reported as an error naming it, after the keys that
// could be listed.
func (ks *Keystore) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	var infos []KeyInfo
	var problems []error
	for _, e := range ks.enumerate(ctx) {
		if e.key == nil {
			problems = append(problems, e.problem)
			continue
		}
		infos = append(infos, DescribeKey(ctx, e.key))
	}
	return infos, errors.Join(problems...)
}

// attempt is a key that could decrypt PKESK number index.
type attempt struct {
	index int
	key   Key
}

// DecryptPKESKs finds a key for one of the PKESKs and decrypts it. Unlocked
// keys are tried first (PKESK order, then backend order; keys that need a
// touch last). A failing key is skipped and its reason recorded. When only
// locked keys remain it returns a *LockedError; when no key can be used, a
// *NoKeyError listing every candidate and why it is unusable.
func (ks *Keystore) DecryptPKESKs(ctx context.Context, pkesks []*PKESK) (*Result, error) {
	if len(pkesks) == 0 {
		return nil, fmt.Errorf("%w: the message has no public-key encrypted session key", ErrNoKey)
	}
	entries := ks.enumerate(ctx)

	var ready, touch, locked []attempt
	var cands []Candidate
	seenCand := map[string]bool{}
	addCand := func(k Key, reason string) {
		id := fmt.Sprintf("%X|%s", k.Fingerprint(), k.Source())
		if seenCand[id] {
			return
		}
		seenCand[id] = true
		cands = append(cands, Candidate{Key: DescribeKey(ctx, k), Reason: reason})
	}
	// A ready key is tried for every PKESK it matches (an anonymous PKESK
	// may not be its own); a locked key is listed once. Keys are told apart
	// by fingerprint and source, as Key values need not be comparable.
	keyID := func(k Key) string { return fmt.Sprintf("%X|%s", k.Fingerprint(), k.Source()) }
	queued := map[string]bool{}

	for i, p := range pkesks {
		for _, e := range entries {
			k := e.key
			if k == nil || !p.Matches(k.Fingerprint(), k.KeyID()) {
				continue
			}
			algo, known := keyAlgorithm(k)
			switch {
			case !k.CanDecrypt():
				if !p.Anonymous() {
					addCand(k, "cannot decrypt: the key is not an encryption key")
				}
				continue
			case !known || !compatibleAlgo(p.Algo, algo):
				if !p.Anonymous() {
					addCand(k, fmt.Sprintf("wrong algorithm: the message uses %s, the key is %s", algoLabel(p.Algo), keyAlgorithmName(k)))
				}
				continue
			}
			if err := k.Available(ctx); err != nil {
				addCand(k, "not present: "+err.Error())
				continue
			}
			a := attempt{index: i, key: k}
			if k.Locked() {
				if !queued[keyID(k)] {
					queued[keyID(k)] = true
					locked = append(locked, a)
				}
				continue
			}
			switch {
			case k.LockKind() == LockTouch:
				touch = append(touch, a)
			default:
				ready = append(ready, a)
			}
		}
	}

	for _, a := range append(ready, touch...) {
		sk, err := a.key.DecryptPKESK(ctx, pkesks[a.index])
		if err == nil {
			return &Result{
				Index:       a.index,
				Fingerprint: fmt.Sprintf("%X", a.key.Fingerprint()),
				Source:      a.key.Source(),
				SessionKey:  *sk,
			}, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if pkesks[a.index].Anonymous() {
			addCand(a.key, "cannot decrypt the anonymous recipient's session key: "+err.Error())
		} else {
			addCand(a.key, "decryption failed: "+err.Error())
		}
	}

	if len(locked) > 0 {
		le := &LockedError{}
		for _, a := range locked {
			le.Candidates = append(le.Candidates, Candidate{Key: DescribeKey(ctx, a.key), Reason: lockReason(a.key.LockKind())})
		}
		return nil, le
	}

	ne := &NoKeyError{Candidates: cands}
	for _, p := range pkesks {
		ne.Recipients = append(ne.Recipients, p.Recipient())
	}
	for _, e := range entries {
		if e.key == nil {
			ne.Candidates = append(ne.Candidates, Candidate{Key: KeyInfo{Source: e.source, TriesLeft: -1}, Reason: "unreadable: " + e.problem.Error()})
		}
	}
	return nil, ne
}

func lockReason(k LockKind) string {
	switch k {
	case LockPIN:
		return "the card's PIN is needed"
	case LockPassword:
		return "the passphrase is needed"
	}
	return "a secret is needed"
}

// normSelector turns a user-typed fingerprint or key ID into upper-case hex
// without spaces or a 0x prefix.
func normSelector(sel string) string {
	s := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(sel), " ", ""))
	return strings.TrimPrefix(s, "0X")
}

// selects reports whether the key is named by the normalised selector: its
// full fingerprint, its 16-digit key ID, its 8-digit short key ID, or the
// fingerprint of its primary key (what gpg shows first) when it knows it.
func selects(k Key, sel string) bool {
	fpr := fmt.Sprintf("%X", k.Fingerprint())
	kid := fmt.Sprintf("%016X", k.KeyID())
	if sel == fpr || sel == kid || (len(sel) == 8 && strings.HasSuffix(kid, sel)) {
		return true
	}
	if d, ok := k.(KeyDescriber); ok && len(sel) >= 40 {
		var info KeyInfo
		d.Describe(&info)
		return strings.EqualFold(info.PrimaryFpr, sel)
	}
	return false
}

// resolve finds the keys named by sel. For "" it returns the only locked,
// available key, and an error when there are none or several.
func (ks *Keystore) resolve(ctx context.Context, sel string) ([]Key, error) {
	var keys []Key
	norm := normSelector(sel)
	for _, e := range ks.enumerate(ctx) {
		if e.key == nil {
			continue
		}
		if norm == "" {
			// "" names the only locked key that matters for unlocking: a
			// decryption key. A gpg key file's sign-only primary is locked
			// too, but nobody unlocks it to decrypt.
			if e.key.CanDecrypt() && e.key.Locked() && e.key.Available(ctx) == nil {
				keys = append(keys, e.key)
			}
		} else if selects(e.key, norm) {
			keys = append(keys, e.key)
		}
	}
	// Decryption keys first: a primary fingerprint names every subkey, and
	// unlocking is for decrypting.
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].CanDecrypt() && !keys[j].CanDecrypt() })
	switch {
	case len(keys) == 0 && norm == "":
		return nil, fmt.Errorf("%w: no key is locked", ErrNoKey)
	case len(keys) == 0:
		return nil, fmt.Errorf("%w: no key matches %q (give a fingerprint or key ID as shown by 'keyunlock list')", ErrNoKey, sel)
	case norm == "":
		// The same key in two places (a card and a backup file) is one key.
		var fprs []string
		seen := map[string]bool{}
		for _, k := range keys {
			f := fmt.Sprintf("%X", k.Fingerprint())
			if !seen[f] {
				seen[f] = true
				fprs = append(fprs, f)
			}
		}
		if len(fprs) > 1 {
			return nil, fmt.Errorf("several keys are locked (%s): name the one to unlock with --key-id", strings.Join(fprs, ", "))
		}
	}
	return keys, nil
}

// Unlock unlocks the key named by sel with a passphrase or PIN. When several
// keys match (the same key in two places), the first available locked one is
// used, skipping card keys that may not be tried: a PIN-locked key with one
// try left is refused unless opts.Force is set, and a blocked PIN is refused
// outright. No VERIFY is sent then.
func (ks *Keystore) Unlock(ctx context.Context, sel string, secret []byte, opts UnlockOptions) error {
	keys, err := ks.resolve(ctx, sel)
	if err != nil {
		return err
	}
	// The same key may be in several places (a card and a backup file):
	// take the first locked one present that may be tried safely.
	var why, refusal error
	unlocked := false
	for _, k := range keys {
		if err := k.Available(ctx); err != nil {
			why = fmt.Errorf("key %X (%s) is not present: %w", k.Fingerprint(), k.Source(), err)
			continue
		}
		if !k.Locked() {
			unlocked = true
			continue
		}
		if k.LockKind() == LockPIN {
			if err := checkTries(k.TriesLeft(ctx), k.Source(), opts.Force); err != nil {
				if refusal == nil {
					refusal = err
				}
				continue
			}
		}
		return k.Unlock(ctx, secret)
	}
	switch {
	case refusal != nil:
		return refusal
	case unlocked:
		return nil
	}
	return why
}

// Lock locks the key named by sel, or every key when sel is "".
func (ks *Keystore) Lock(ctx context.Context, sel string) error {
	if strings.TrimSpace(sel) == "" {
		for _, e := range ks.enumerate(ctx) {
			if e.key != nil {
				e.key.Lock()
			}
		}
		return nil
	}
	keys, err := ks.resolve(ctx, sel)
	if err != nil {
		return err
	}
	for _, k := range keys {
		k.Lock()
	}
	return nil
}
