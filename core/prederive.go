package core

import "context"

// Prederiver is implemented by a Service or Backend that can start the slow
// part of unlocking a key, a passphrase's key derivation (S2K), before the key
// is chosen and unlocked: a cold unlock then derives while it still checks
// the key file's self-signatures and reads the message, on another core.
type Prederiver interface {
	// Prederive starts deriving, in the background, the key-encryption
	// keys of the locked keys that could decrypt one of the PKESKs, from
	// secret, which it copies (the caller may wipe it at once). An Unlock
	// of such a key with the same secret takes the derived key instead of
	// deriving again; an Unlock with another secret derives as usual.
	// Nothing is unlocked by Prederive itself. The returned function drops
	// and wipes whatever was not taken; it does not wait.
	Prederive(ctx context.Context, pkesks []*PKESK, secret []byte) (release func())
}

// SecretPrefetcher is implemented by a Prompter whose secret may come
// without asking anyone or waiting (a passphrase in a regular file), so
// that it can be read before the key it is for is known.
type SecretPrefetcher interface {
	// Prefetch reads the secret that the next Ask returns and returns a
	// copy, which the caller wipes. Ask then returns the same secret (or
	// the same error) without reading again. When the secret cannot be had
	// without waiting, Prefetch returns an error and reads nothing.
	Prefetch(ctx context.Context) ([]byte, error)
}

// Prederive forwards to every backend when all of them are Prederivers
// (soft keys only). With another backend, such as a card, the prompted
// secret may be that backend's, so nothing is started. It implements
// Prederiver.
func (ks *Keystore) Prederive(ctx context.Context, pkesks []*PKESK, secret []byte) func() {
	var pds []Prederiver
	for _, b := range ks.backends {
		pd, ok := b.(Prederiver)
		if !ok {
			return func() {}
		}
		pds = append(pds, pd)
	}
	var releases []func()
	for _, pd := range pds {
		releases = append(releases, pd.Prederive(ctx, pkesks, secret))
	}
	return func() {
		for _, r := range releases {
			r()
		}
	}
}

// prederive starts svc's key derivations with the prompter's secret when
// both allow it (see Prederiver), returning the release function or nil. A
// secret that cannot be read is left for Ask to report.
func prederive(ctx context.Context, svc Service, pkesks []*PKESK, p Prompter) func() {
	pd, ok := svc.(Prederiver)
	if !ok {
		return nil
	}
	pf, ok := p.(SecretPrefetcher)
	if !ok {
		return nil
	}
	secret, err := pf.Prefetch(ctx)
	defer Wipe(secret)
	drop := func() {
		if fp, ok := p.(*FilePrompter); ok {
			fp.dropFetched()
		}
	}
	if err != nil || len(secret) == 0 {
		return drop
	}
	release := pd.Prederive(ctx, pkesks, secret)
	return func() {
		release()
		drop()
	}
}
