package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keyunlock/keyunlock/card"
	"github.com/keyunlock/keyunlock/pcsc"
)

func init() {
	register(&command{
		name:    "readers",
		summary: "list smart card readers and the cards in them",
		run:     runReaders,
	})
}

func runReaders(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("readers", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	wait := fs.Bool("wait", false, "wait until a card is in a reader, then list")
	timeout := fs.Duration("timeout", 0, "with --wait, give up after this long (0: wait forever)")
	socket := fs.String("socket", "", "pcscd socket (default $PCSCLITE_CSOCK_NAME or "+pcsc.DefaultSocket+")")
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, `Usage: keyunlock readers [--wait] [--timeout D] [--socket PATH]

Lists the smart card readers pcscd knows, whether a card is in each, the
card's ATR and whether another program is using it; then the USB CCID readers
keyunlock can use directly without pcscd (--card-reader ccid:BUS-PORT).

Examples:
  keyunlock readers
  keyunlock readers --wait --timeout 30s

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	var opts []pcsc.Option
	if *socket != "" {
		opts = append(opts, pcsc.WithSocket(*socket))
	}
	direct, derr := card.ListCCIDReaders()
	pc, err := pcsc.EstablishContext(opts...)
	if err != nil {
		if !*wait && derr == nil && len(direct) > 0 {
			printCCIDReaders(env.stdout, direct)
			return nil
		}
		return err
	}
	defer pc.Release()

	if *wait {
		wctx := ctx
		if *timeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		if err := waitForCard(wctx, pc); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("no card was inserted within %v (pcscd at %s)", *timeout, pc.SocketPath())
			}
			return err
		}
	}
	states, err := pc.ReaderStatuses()
	if err != nil {
		return err
	}
	if len(states) == 0 && len(direct) == 0 {
		return fmt.Errorf("pcscd at %s sees no smart card reader: plug one in (or check that its driver is installed)", pc.SocketPath())
	}
	printReaders(env.stdout, states)
	printCCIDReaders(env.stdout, direct)
	return nil
}

// printCCIDReaders writes one block per USB CCID reader: its ccid:PORT
// address and name, then what the direct driver sees.
func printCCIDReaders(w io.Writer, rs []card.CCIDReader) {
	for _, r := range rs {
		fmt.Fprintf(w, "ccid:%s: %s\n", r.Port, r.Name)
		var desc []string
		switch {
		case r.Problem != nil:
			desc = append(desc, "not usable directly: "+r.Problem.Error())
		case r.InUse:
			desc = append(desc, "in use by pcscd or another program")
		case r.Card:
			desc = append(desc, "card present")
		default:
			desc = append(desc, "no card")
		}
		desc = append(desc, "direct USB, "+r.Level+" level")
		fmt.Fprintf(w, "   %s\n", strings.Join(desc, ", "))
	}
}

// waitForCard blocks until some reader holds a card with an ATR, following
// readers as they come and go.
func waitForCard(ctx context.Context, pc *pcsc.Context) error {
	for {
		states, err := pc.ReaderStatuses()
		if err != nil {
			return err
		}
		rs := []pcsc.ReaderState{{Reader: pcsc.PnPNotification}}
		for _, s := range states {
			if s.CardPresent() && len(s.ATR) > 0 {
				return nil
			}
			rs = append(rs, pcsc.ReaderState{Reader: s.Name})
		}
		// The first call reports the current states; later calls block.
		for {
			err := pc.GetStatusChangeContext(ctx, rs, -1)
			if errors.Is(err, pcsc.ErrUnknownReader) {
				break // a reader vanished meanwhile: list again
			}
			if err != nil {
				return err
			}
			if rs[0].EventState&pcsc.StateChanged != 0 {
				break // readers added or removed
			}
			for _, r := range rs[1:] {
				if r.EventState&pcsc.StatePresent != 0 && len(r.Atr) > 0 {
					return nil
				}
			}
			for i := range rs {
				rs[i].CurrentState = rs[i].EventState &^ pcsc.StateChanged
			}
		}
	}
}

// printReaders writes one block per reader: number and name, then the card.
// The numbers are the reader indexes of opensc-tool -r and pcsc_scan.
func printReaders(w io.Writer, states []pcsc.ReaderStatus) {
	for i, s := range states {
		fmt.Fprintf(w, "%d: %s\n", i, s.Name)
		switch {
		case s.State&pcsc.Unknown != 0:
			fmt.Fprintf(w, "   reader unavailable\n")
			continue
		case !s.CardPresent():
			fmt.Fprintf(w, "   no card\n")
			continue
		}
		var desc []string
		desc = append(desc, "card present")
		if s.State&pcsc.Swallowed != 0 && s.State&pcsc.Powered == 0 {
			desc = append(desc, "mute (does not answer reset)")
		}
		switch {
		case s.Exclusive():
			desc = append(desc, "in use exclusively by another program")
		case s.Sharing > 0:
			desc = append(desc, fmt.Sprintf("in use (%d shared connection(s))", s.Sharing))
		default:
			desc = append(desc, "not in use")
		}
		if s.Protocol != pcsc.ProtocolUndefined {
			desc = append(desc, "protocol "+s.Protocol.String())
		}
		fmt.Fprintf(w, "   %s\n", strings.Join(desc, ", "))
		if len(s.ATR) > 0 {
			fmt.Fprintf(w, "   ATR: %s\n", atrHex(s.ATR))
		}
	}
}

// atrHex formats an ATR as opensc-tool -a does: lower-case hex bytes
// separated by colons.
func atrHex(atr []byte) string {
	parts := make([]string, len(atr))
	for i, b := range atr {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}
