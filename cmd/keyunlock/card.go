package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/keyunlock/keyunlock/card"
)

func init() {
	register(&command{
		name:    "card",
		summary: "show the OpenPGP cards present (card status)",
		run:     runCard,
	})
}

const cardUsage = `Usage: keyunlock card status [--reader NAME] [--card-serial SERIAL]

Shows each OpenPGP card: reader, AID, serial, manufacturer, version, key
fingerprints and algorithms, PIN tries left, KDF and touch settings. It never
sends a PIN. pcscd is reached at $PCSCLITE_CSOCK_NAME or /run/pcscd/pcscd.comm;
without that socket, USB readers are used directly (CCID over usbfs).
--reader takes NAME (part of a reader name), pcsc:NAME (through pcscd only),
ccid: or ccid:BUS-PORT (USB readers directly, as 'keyunlock readers' lists them).

Examples:
  keyunlock card status
  keyunlock card status --card-serial 23852774
  keyunlock card status --reader ccid:1-2
`

func runCard(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.stdout, cardUsage)
		if len(args) == 0 {
			return &exitError{code: 2, err: errors.New("missing subcommand: run 'keyunlock card status'")}
		}
		return nil
	}
	if args[0] != "status" {
		return &exitError{code: 2, err: fmt.Errorf("unknown subcommand %q: use 'keyunlock card status'", args[0])}
	}
	fs := flag.NewFlagSet("card status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	reader := fs.String("reader", "", "only use readers whose name contains `NAME`; pcsc:NAME through pcscd only; ccid: or ccid:BUS-PORT USB readers directly")
	serial := fs.String("card-serial", "", "only show the card with this `SERIAL` (as printed, MMMM:SERIAL, or the AID)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.stdout, cardUsage)
			return flag.ErrHelp
		}
		return &exitError{code: 2, err: fmt.Errorf("%v (see 'keyunlock card --help')", err)}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q (see 'keyunlock card --help')", fs.Arg(0))}
	}
	b := card.NewBackend(card.Options{Reader: *reader, Select: *serial})
	defer b.Close()
	cards, err := b.Cards(ctx)
	if err != nil {
		return err
	}
	if len(cards) == 0 {
		what := "no OpenPGP card found"
		if *serial != "" {
			what = fmt.Sprintf("card %s not found", *serial)
		}
		return fmt.Errorf("%s: insert the card (check with pcsc_scan that the reader sees it)", what)
	}
	for i, c := range cards {
		if i > 0 {
			fmt.Fprintln(env.stdout)
		}
		if err := c.WriteStatus(env.stdout); err != nil {
			return err
		}
	}
	return nil
}
