package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// DecryptOptions controls how DecryptSessionKey and DecryptMessage obtain a
// usable key.
type DecryptOptions struct {
	// Prompter asks for passphrases and PINs. Without one, a locked key
	// ends the decryption with the *LockedError and a hint.
	Prompter Prompter
	// Force allows spending the last PIN try of a card.
	Force bool
	// MaxAttempts bounds the wrong secrets typed for one key (default 3).
	MaxAttempts int
	// MaxSize bounds the message and its decompressed content (default 16 MiB).
	MaxSize int64
}

// DefaultMaxSize is the default bound on a message and its plaintext.
const DefaultMaxSize = 16 << 20

// DefaultMaxAttempts is the default number of secrets asked for one key.
const DefaultMaxAttempts = 3

func (o DecryptOptions) maxAttempts() int {
	if o.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return o.MaxAttempts
}

func (o DecryptOptions) maxSize() int64 {
	if o.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return o.MaxSize
}

// ErrLastTry is wrapped by the refusal to spend a card's last PIN try
// without UnlockOptions.Force.
var ErrLastTry = errors.New("only 1 PIN try left")

// ErrPINBlocked is wrapped by the refusal to use a card whose PIN retry
// counter is zero.
var ErrPINBlocked = errors.New("PIN blocked")

// ErrNoMoreSecrets is returned by a Prompter that has nothing more to give,
// such as a passphrase file already used once.
var ErrNoMoreSecrets = errors.New("no other secret to try")

// badSecretError is a wrong secret, told in the user's terms; it matches
// ErrBadSecret with errors.Is.
type badSecretError struct{ msg string }

func (e *badSecretError) Error() string { return e.msg }
func (e *badSecretError) Unwrap() error { return ErrBadSecret }

// checkTries refuses a PIN VERIFY that could block the card.
func checkTries(tries int, source string, force bool) error {
	switch {
	case tries == 0:
		return fmt.Errorf("%w on %s: unblock it with the admin PIN or the reset code (gpg --card-edit, admin, passwd)", ErrPINBlocked, source)
	case tries == 1 && !force:
		return fmt.Errorf("%w on %s; use --force to spend it, or reset the PIN with the admin PIN (gpg --card-edit, admin, passwd)", ErrLastTry, source)
	}
	return nil
}

// ParseLockKind is the inverse of LockKind.String.
func ParseLockKind(s string) LockKind {
	switch s {
	case "none":
		return LockNone
	case "password":
		return LockPassword
	case "pin":
		return LockPIN
	case "touch":
		return LockTouch
	}
	return LockPassword
}

// PromptMessage is the text shown to the user when asking for the secret of key.
func PromptMessage(key KeyInfo, kind LockKind, attempt int) string {
	var b strings.Builder
	if attempt > 1 {
		b.WriteString("Wrong secret, try again. ")
	}
	name := key.Fingerprint
	if key.UserID != "" {
		name += " " + key.UserID
	}
	if kind == LockPIN {
		fmt.Fprintf(&b, "Enter the PIN of %s for key %s", key.Source, name)
		if key.TriesLeft >= 0 {
			fmt.Fprintf(&b, " (%d %s left)", key.TriesLeft, plural(key.TriesLeft, "try", "tries"))
		}
	} else {
		fmt.Fprintf(&b, "Enter the passphrase for key %s (%s)", name, key.Source)
	}
	b.WriteString(":")
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// DecryptSessionKey asks svc for the session key of one of the PKESKs,
// prompting for and unlocking locked keys as needed. It works the same over
// a local Keystore and over the daemon. A wrong secret is asked again, up to
// opts.MaxAttempts times per key; a card with one PIN try left is refused
// unless opts.Force, and a blocked card is refused outright.
func DecryptSessionKey(ctx context.Context, svc Service, pkesks []*PKESK, opts DecryptOptions) (*Result, error) {
	wrong := map[string]int{} // wrong secrets given per fingerprint
	// Each round either succeeds, fails, or unlocks a key or records a wrong
	// secret; the bound only guards against a misbehaving Service.
	for round := 0; round < 64; round++ {
		res, err := svc.DecryptPKESKs(ctx, pkesks)
		if err == nil {
			return res, nil
		}
		var le *LockedError
		if !errors.As(err, &le) || len(le.Candidates) == 0 {
			return nil, err
		}
		if opts.Prompter == nil {
			return nil, fmt.Errorf("%w; give it with --passphrase-file or --passphrase-fd, or run on a terminal", err)
		}

		// The first candidate that may be tried safely.
		var cand *Candidate
		var refusal error
		for i := range le.Candidates {
			c := &le.Candidates[i]
			if ParseLockKind(c.Key.Lock) == LockPIN {
				if err := checkTries(c.Key.TriesLeft, c.Key.Source, opts.Force); err != nil {
					if refusal == nil {
						refusal = err
					}
					continue
				}
			}
			cand = c
			break
		}
		if cand == nil {
			return nil, refusal
		}

		key := cand.Key
		kind := ParseLockKind(key.Lock)
		attempt := wrong[key.Fingerprint] + 1
		what := "passphrase"
		if kind == LockPIN {
			what = "PIN"
		}
		left := ""
		if kind == LockPIN && key.TriesLeft >= 0 {
			left = fmt.Sprintf(", %d PIN %s left", key.TriesLeft, plural(key.TriesLeft, "try", "tries"))
		}
		if attempt > opts.maxAttempts() {
			return nil, &badSecretError{fmt.Sprintf("wrong %s for key %s (%s%s) %d times, giving up", what, key.Fingerprint, key.Source, left, attempt-1)}
		}
		secret, err := opts.Prompter.Ask(ctx, PromptRequest{
			Key:       key,
			Kind:      kind,
			Message:   PromptMessage(key, kind, attempt),
			Attempt:   attempt,
			TriesLeft: key.TriesLeft,
			ID:        "keyunlock:" + key.Fingerprint,
		})
		if err != nil {
			Wipe(secret)
			if ctx.Err() != nil {
				return nil, fmt.Errorf("interrupted while asking for the %s of key %s (%s): %w", what, key.Fingerprint, key.Source, ctx.Err())
			}
			if attempt > 1 && errors.Is(err, ErrNoMoreSecrets) {
				return nil, &badSecretError{fmt.Sprintf("wrong %s for key %s (%s%s); %v", what, key.Fingerprint, key.Source, left, err)}
			}
			return nil, fmt.Errorf("cannot get the %s for key %s (%s): %w", what, key.Fingerprint, key.Source, err)
		}
		err = svc.Unlock(ctx, key.Fingerprint, secret, UnlockOptions{Force: opts.Force})
		Wipe(secret)
		if err != nil {
			if errors.Is(err, ErrBadSecret) {
				wrong[key.Fingerprint]++
				continue
			}
			return nil, err
		}
	}
	return nil, fmt.Errorf("giving up: keys stay locked after unlocking them")
}
