package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keyunlock/keyunlock/card"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// cardFlags are the flags that add OpenPGP cards to a command's keys.
type cardFlags struct {
	use    *bool
	serial *string
	reader *string
	wait   *time.Duration
	certs  multiFlag
	b      *card.Backend
}

func addCardFlags(fs *flag.FlagSet) *cardFlags {
	c := &cardFlags{}
	c.use = fs.Bool("card", false, "also use the OpenPGP cards in the smart-card readers (through pcscd, or USB readers directly when pcscd is not running)")
	c.serial = fs.String("card-serial", "", "with --card, only the card with this `SERIAL` (as 'keyunlock card status' prints it, MMMM:SERIAL, or the AID)")
	c.reader = fs.String("card-reader", "", "with --card, only readers whose name contains `NAME`; pcsc:NAME only through pcscd; ccid: (every USB reader) or ccid:BUS-PORT (one) directly over USB, without pcscd")
	c.wait = fs.Duration("card-wait", 0, "with --card, wait up to `DURATION` for the card to be inserted")
	fs.Var(&c.certs, "card-cert", "with --card, the certificate (public key) `FILE` of a card key; repeat for several (default: none; the card's public key is read only when needed)")
	return c
}

// backends returns the card backend when --card is given.
func (c *cardFlags) backends() ([]core.Backend, error) {
	if !*c.use {
		if *c.serial != "" || *c.reader != "" || *c.wait != 0 || len(c.certs) > 0 {
			return nil, fmt.Errorf("--card-serial, --card-reader, --card-wait and --card-cert need --card")
		}
		return nil, nil
	}
	var certs []*pgp.Cert
	for _, f := range c.certs {
		el, err := readCerts(f)
		if err != nil {
			return nil, err
		}
		certs = append(certs, el...)
	}
	c.b = card.NewBackend(card.Options{Select: *c.serial, Reader: *c.reader, Wait: *c.wait, Certs: certs})
	return []core.Backend{c.b}, nil
}

// setPrompter routes the card notices ("insert card", "touch your card")
// to p, or to stderr when p is nil.
func (c *cardFlags) setPrompter(p core.Prompter, stderr io.Writer) {
	if c.b == nil {
		return
	}
	if p == nil {
		p = stderrNotifier{stderr}
	}
	c.b.SetPrompter(p)
}

func (c *cardFlags) close() {
	if c.b != nil {
		c.b.Close()
	}
}

// readCerts reads a binary or ASCII-armored certificate file.
func readCerts(path string) ([]*pgp.Cert, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--card-cert: %w", err)
	}
	certs, err := pgp.ReadCerts(data)
	if err != nil {
		return nil, fmt.Errorf("--card-cert %s: not an OpenPGP certificate: %w", path, err)
	}
	return certs, nil
}

// stderrNotifier prints notices on stderr and never asks.
type stderrNotifier struct{ w io.Writer }

// Ask always fails: this prompter only carries notices.
func (n stderrNotifier) Ask(ctx context.Context, req core.PromptRequest) ([]byte, error) {
	return nil, fmt.Errorf("%w: no prompter", core.ErrNoMoreSecrets)
}

// Notify prints msg on stderr.
func (n stderrNotifier) Notify(ctx context.Context, msg string) {
	fmt.Fprintf(n.w, "keyunlock: %s\n", msg)
}
