package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Service is what applications talk to: the Keystore in-process, or the
// daemon client over a socket. Both give the same answers, so the CLI output
// is identical in co-located and daemon mode. A Service never prompts; the
// caller prompts (see Decrypt) and calls Unlock.
type Service interface {
	// ListKeys describes every key of every backend.
	ListKeys(ctx context.Context) ([]KeyInfo, error)
	// Unlock unlocks the key selected by sel (a fingerprint or key ID in hex,
	// or "" for the only locked key) with a passphrase or PIN.
	Unlock(ctx context.Context, sel string, secret []byte, opts UnlockOptions) error
	// Lock locks the selected key, or every key when sel is "".
	Lock(ctx context.Context, sel string) error
	// DecryptPKESKs picks the most convenient usable key for the PKESKs and
	// returns the session key. When only locked keys could decrypt, it returns
	// a *LockedError listing them so that the caller can prompt and Unlock.
	DecryptPKESKs(ctx context.Context, pkesks []*PKESK) (*Result, error)
}

// UnlockOptions modifies Unlock.
type UnlockOptions struct {
	// Force allows a PIN VERIFY when only one try is left.
	Force bool
}

// KeyInfo describes a key without exposing it. It is what ListKeys returns
// and what the daemon sends over the wire.
type KeyInfo struct {
	Fingerprint  string   `json:"fingerprint"`       // upper-case hex
	KeyID        string   `json:"keyid"`             // 16 upper-case hex digits
	Algorithm    string   `json:"algorithm"`         // e.g. "cv25519", "rsa3072", "x25519"
	Capabilities []string `json:"capabilities"`      // subset of "encrypt", "sign", "certify", "authenticate"
	Source       string   `json:"source"`            // e.g. "file /path" or "card 0006:23852774"
	Lock         string   `json:"lock"`              // LockKind.String()
	Locked       bool     `json:"locked"`            // a secret is needed before use
	Available    bool     `json:"available"`         // usable now
	Reason       string   `json:"reason,omitempty"`  // why not available
	TriesLeft    int      `json:"tries_left"`        // PIN tries left, -1 unknown
	PrimaryFpr   string   `json:"primary,omitempty"` // fingerprint of the primary key, for subkeys
	UserID       string   `json:"uid,omitempty"`     // first user ID, when known
}

// Result says which PKESK was decrypted by which key.
type Result struct {
	Index       int        // index of the PKESK in the message
	Fingerprint string     // the key that decrypted it, upper-case hex
	Source      string     // where that key lives
	SessionKey  SessionKey // the session key; the caller wipes it
}

// ErrBadSecret is wrapped by Unlock errors caused by a wrong passphrase or PIN.
var ErrBadSecret = errors.New("wrong passphrase or PIN")

// ErrNoKey is wrapped by errors that say no key can decrypt a message.
var ErrNoKey = errors.New("no usable key")

// Candidate is a key that matched a PKESK, with why it was not used.
type Candidate struct {
	Key    KeyInfo `json:"key"`
	Reason string  `json:"reason"`
}

// String names the candidate and the reason: "FPR (source): reason", or
// "source: reason" for a device that could not be read at all.
func (c Candidate) String() string {
	if c.Key.Fingerprint == "" {
		return c.Key.Source + ": " + c.Reason
	}
	return fmt.Sprintf("%s (%s): %s", c.Key.Fingerprint, c.Key.Source, c.Reason)
}

// LockedError is returned by DecryptPKESKs when keys matched but all of the
// usable ones are locked. The candidates are ordered by preference.
type LockedError struct {
	Candidates []Candidate
}

// Error lists the locked candidates, each with what would unlock it.
func (e *LockedError) Error() string {
	var b strings.Builder
	b.WriteString("key is locked: ")
	for i, c := range e.Candidates {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.String())
	}
	return b.String()
}

// NoKeyError is returned when no key can decrypt any PKESK. It lists the
// recipients and every candidate with the reason it is unusable.
type NoKeyError struct {
	Recipients []string
	Candidates []Candidate
}

// Error names the message's recipients and why each candidate key is
// unusable, and says what to pass when none matches.
func (e *NoKeyError) Error() string {
	var b strings.Builder
	b.WriteString("no usable key for this message (recipients: ")
	b.WriteString(strings.Join(e.Recipients, ", "))
	b.WriteString(")")
	for _, c := range e.Candidates {
		b.WriteString("; " + c.String())
	}
	if len(e.Candidates) == 0 {
		b.WriteString("; none of the given keys matches: pass the right key with --key, or insert the card")
	}
	return b.String()
}

// Unwrap lets errors.Is(err, ErrNoKey) match a NoKeyError.
func (e *NoKeyError) Unwrap() error { return ErrNoKey }
