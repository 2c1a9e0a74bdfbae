package card

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// Options configure the card backend.
type Options struct {
	// Connector reaches the readers. Nil means as Reader says: pcscd, or
	// USB CCID readers directly when pcscd's socket does not exist.
	Connector Connector
	// Select picks one card when several are inserted: its serial as gpg
	// prints it ("23852774"), "MMMM:SERIAL" (manufacturer:serial), or the
	// full 32-hex-digit AID. Empty means every OpenPGP card.
	Select string
	// Reader selects the readers and how they are reached: "pcsc:NAME"
	// (pcscd, names containing NAME), "ccid:" or "ccid:PORT" (directly over
	// USB, every reader or the one at that port), or a NAME to look for in
	// the readers of pcscd when its socket exists, else of USB directly.
	Reader string
	// Certs are certificates (public keys) of the card keys. A card key
	// found in one of them (a subkey only with a binding signature that
	// verifies) gets its KDF parameters, user ID and primary key from it;
	// otherwise the public key is read from the card.
	Certs []*pgp.Cert
	// Wait is how long Devices waits for a card to be inserted when none
	// (or not the selected one) is present. 0 means not at all.
	Wait time.Duration
	// Prompter receives the notices "insert card …" and "touch your card".
	Prompter core.Prompter
	// PollInterval is how often readers are checked while waiting (default 250ms).
	PollInterval time.Duration
}

// Backend is the core.Backend of OpenPGP cards.
type Backend struct {
	opts Options

	mu   sync.Mutex
	conn Connector
	// connCCID is whether conn reaches the readers directly over USB.
	connCCID bool
	devs     map[string]*Device // by reader
	waited   bool
}

var _ core.Backend = (*Backend)(nil)

// NewBackend returns a card backend. It does not talk to pcscd until Devices.
func NewBackend(opts Options) *Backend {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	return &Backend{opts: opts, conn: opts.Connector, devs: map[string]*Device{}}
}

// SetPrompter sets where the notices "insert card …" and "touch your
// card" go, for callers that make their prompter after the backend.
func (b *Backend) SetPrompter(p core.Prompter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opts.Prompter = p
	for _, d := range b.devs {
		d.mu.Lock()
		d.opts.Prompter = p
		d.mu.Unlock()
	}
}

// Name implements core.Backend.
func (b *Backend) Name() string { return "card" }

// Close disconnects every card and releases the connector.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for r, d := range b.devs {
		d.close()
		delete(b.devs, r)
	}
	if b.conn != nil {
		err := b.conn.Close()
		b.conn = nil
		return err
	}
	return nil
}

// Devices implements core.Backend: one Device per OpenPGP card present
// (only the selected one when Options.Select is set). A card already open
// and not reset is reused without any APDU.
func (b *Backend) Devices(ctx context.Context) ([]core.Device, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	devs, problems, err := b.scan(ctx)
	if err != nil && (b.opts.Wait <= 0 || b.waited) {
		return nil, err
	}
	if len(devs) == 0 && b.opts.Wait > 0 && !b.waited {
		b.waited = true
		devs, problems, err = b.wait(ctx)
		if err != nil {
			return nil, err
		}
	}
	out := make([]core.Device, 0, len(devs))
	for _, d := range devs {
		out = append(out, d)
	}
	if len(out) == 0 && len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return out, nil
}

func (b *Backend) wantName() string {
	if b.opts.Select != "" {
		return "card " + b.opts.Select
	}
	return "an OpenPGP card"
}

func (b *Backend) wait(ctx context.Context) ([]*Device, []error, error) {
	if b.opts.Prompter != nil {
		b.opts.Prompter.Notify(ctx, fmt.Sprintf("Insert %s (waiting %s)", b.wantName(), b.opts.Wait))
	}
	deadline := time.NewTimer(b.opts.Wait)
	defer deadline.Stop()
	tick := time.NewTicker(b.opts.PollInterval)
	defer tick.Stop()
	var lastErr error // pcscd may still be starting (in an initrd)
	for {
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-deadline.C:
			if lastErr != nil {
				return nil, nil, fmt.Errorf("%s was not found within %s: %w", b.wantName(), b.opts.Wait, lastErr)
			}
			return nil, nil, fmt.Errorf("%s was not inserted within %s: insert it and run the command again", b.wantName(), b.opts.Wait)
		case <-tick.C:
		}
		devs, problems, err := b.scan(ctx)
		lastErr = err
		if err == nil && len(devs) > 0 {
			return devs, problems, nil
		}
	}
}

func (b *Backend) connector() (Connector, error) {
	if b.opts.Connector == nil && b.conn != nil && len(b.devs) == 0 {
		// Automatic choice: follow pcscd appearing or going away (a pcsc:
		// or ccid: selection never changes its answer).
		if UsesCCID(b.opts.Reader) != b.connCCID {
			b.conn.Close()
			b.conn = nil
		}
	}
	if b.conn == nil {
		b.connCCID = UsesCCID(b.opts.Reader)
		c, err := newConnector(b.opts.Reader)
		if err != nil {
			return nil, err
		}
		b.conn = c
	}
	return b.conn, nil
}

// scan lists the readers and opens the cards not open yet.
func (b *Backend) scan(ctx context.Context) ([]*Device, []error, error) {
	conn, err := b.connector()
	if err != nil {
		return nil, nil, err
	}
	readers, err := conn.Readers(ctx)
	if err != nil {
		// A broken pcscd connection is not usable again: start afresh next time.
		for r, d := range b.devs {
			d.close()
			delete(b.devs, r)
		}
		if b.opts.Connector == nil {
			conn.Close()
			b.conn = nil
		}
		return nil, nil, fmt.Errorf("cannot list card readers: %w", err)
	}
	sort.Strings(readers)
	_, filter, _ := readerSpec(b.opts.Reader)
	present := map[string]bool{}
	var devs []*Device
	var problems []error
	for _, r := range readers {
		if filter != "" && !strings.Contains(r, filter) {
			continue
		}
		present[r] = true
		d := b.devs[r]
		if d != nil && d.alive() != nil {
			d.close()
			delete(b.devs, r)
			d = nil
		}
		if d == nil {
			d, err = openDevice(ctx, conn, r, b.opts)
			if err != nil {
				if !errors.Is(err, errNotOpenPGP) {
					problems = append(problems, err)
				}
				continue
			}
			b.devs[r] = d
		}
		if b.opts.Select != "" && !d.matches(b.opts.Select) {
			continue
		}
		devs = append(devs, d)
	}
	for r, d := range b.devs {
		if !present[r] {
			d.close()
			delete(b.devs, r)
		}
	}
	return devs, problems, nil
}
