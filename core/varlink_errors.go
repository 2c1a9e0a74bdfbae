package core

import "errors"

// remoteError is an error received from the daemon. It prints exactly as
// the daemon's error did, so that daemon and co-located output match, and
// unwraps to the matching sentinel (ErrBadSecret, ErrPINBlocked...).
type remoteError struct {
	msg      string
	sentinel error
	varlink  *VarlinkError
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() []error {
	errs := []error{e.varlink}
	if e.sentinel != nil {
		errs = append(errs, e.sentinel)
	}
	return errs
}

// errorToVarlink maps a Service error to a varlink error reply.
func errorToVarlink(err error) *VarlinkError {
	var vl *VarlinkError
	var locked *LockedError
	var nokey *NoKeyError
	switch {
	case errors.As(err, &vl):
		return vl
	case errors.As(err, &locked):
		return &VarlinkError{Name: ErrNameKeyLocked, Parameters: map[string]any{
			"message": err.Error(), "candidates": nonNilCandidates(locked.Candidates)}}
	case errors.As(err, &nokey):
		rec := nokey.Recipients
		if rec == nil {
			rec = []string{}
		}
		return &VarlinkError{Name: ErrNameNoKey, Parameters: map[string]any{
			"message": err.Error(), "recipients": rec, "candidates": nonNilCandidates(nokey.Candidates)}}
	case errors.Is(err, ErrBadSecret):
		return &VarlinkError{Name: ErrNameBadSecret, Parameters: map[string]any{"message": err.Error()}}
	case pinError(err) != nil:
		return pinError(err)
	}
	return &VarlinkError{Name: ErrNameFailed, Parameters: map[string]any{"message": err.Error()}}
}

func nonNilCandidates(c []Candidate) []Candidate {
	if c == nil {
		return []Candidate{}
	}
	return c
}

// wireError is the parameter set of every io.keyunlock.Keystore error.
type wireError struct {
	Message    string      `json:"message"`
	Parameter  string      `json:"parameter"`
	Recipients []string    `json:"recipients"`
	Candidates []Candidate `json:"candidates"`
	LastTry    bool        `json:"last_try"`
}

// varlinkToError turns an error reply back into the error the Service
// returned on the daemon side: *LockedError, *NoKeyError, or an error that
// wraps ErrBadSecret, ErrPINBlocked or ErrNoKey and prints the same text.
func varlinkToError(name string, params map[string]any, raw *jsonValue) error {
	vl := &VarlinkError{Name: name, Parameters: params}
	var w wireError
	if raw != nil {
		_ = raw.decode(&w)
	}
	switch name {
	case ErrNameKeyLocked:
		return &LockedError{Candidates: w.Candidates}
	case ErrNameNoKey:
		return &NoKeyError{Recipients: w.Recipients, Candidates: w.Candidates}
	case ErrNameBadSecret:
		return &remoteError{msg: w.Message, sentinel: ErrBadSecret, varlink: vl}
	case ErrNamePINBlocked:
		return &remoteError{msg: w.Message, sentinel: pinSentinel(w.LastTry), varlink: vl}
	case ErrNameFailed, ErrNameInvalidParameter, ErrNameBusy:
		if w.Message != "" {
			return &remoteError{msg: w.Message, varlink: vl}
		}
	}
	return vl
}

// pinError maps a refused PIN VERIFY (blocked, or the last try without
// force) to PINBlocked; nil for other errors.
func pinError(err error) *VarlinkError {
	switch {
	case errors.Is(err, ErrPINBlocked):
		return &VarlinkError{Name: ErrNamePINBlocked, Parameters: map[string]any{"message": err.Error(), "last_try": false}}
	case errors.Is(err, ErrLastTry):
		return &VarlinkError{Name: ErrNamePINBlocked, Parameters: map[string]any{"message": err.Error(), "last_try": true}}
	}
	return nil
}

func pinSentinel(lastTry bool) error {
	if lastTry {
		return ErrLastTry
	}
	return ErrPINBlocked
}
