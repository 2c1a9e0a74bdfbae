package core

import "errors"

// Placeholders until the keystore's definitions are merged; this file is
// deleted then.
var (
	ErrPINBlocked = errors.New("PIN blocked")
	ErrLastTry    = errors.New("only 1 PIN try left")
)
