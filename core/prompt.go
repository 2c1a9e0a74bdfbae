package core

import "context"

// PromptRequest describes one secret the user is asked for.
type PromptRequest struct {
	// Key is the key to unlock.
	Key KeyInfo
	// Kind is LockPassword or LockPIN.
	Kind LockKind
	// Message is the full text to show, naming the key or card and the tries left.
	Message string
	// Attempt counts from 1; above 1 the previous secret was wrong.
	Attempt int
	// TriesLeft is the card's remaining PIN tries, -1 when unknown.
	TriesLeft int
	// ID identifies the request for agents, e.g. "keyunlock:<fingerprint>".
	ID string
}

// Prompter asks the user for a passphrase or PIN. Implementations: the
// terminal (no echo), a file or fd, the systemd password agent, and tests.
type Prompter interface {
	// Ask returns the secret. The caller wipes it. An error aborts unlocking.
	Ask(ctx context.Context, req PromptRequest) ([]byte, error)
	// Notify tells the user something that needs no answer, such as "touch your card".
	Notify(ctx context.Context, msg string)
}
