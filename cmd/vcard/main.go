// Command vcard serves a virtual smart card to pcscd through vsmartcard's
// vpcd driver, so that keyunlock (or scdaemon, opensc-tool…) can be tried
// without hardware:
//
//	go run ./cmd/vcard -state DIR [-vpcd HOST:PORT | -vscard SOCKET] [-quirks LIST]
//
// With -vscard the card goes into a QEMU guest's USB CCID reader instead:
// vcard listens on the unix socket SOCKET, and QEMU, started with
// -device qemu-xhci -device usb-ccid -chardev socket,id=card,path=SOCKET
// -device ccid-card-passthru,chardev=card, connects to it. The guest sees a
// T=0 reader, so use -quirks t0.
//
// With Debian's pcscd and vsmartcard-vpcd installed, the card appears in the
// reader "Virtual PCD 00 00" (port 35963) or "Virtual PCD 00 01" (35964).
// The card is the OpenPGP card simulator of card/sim (PW1 123456, PW3
// 12345678 when new); it keeps its persistent state in DIR. Stop it with Ctrl-C, which
// pcscd sees as the card being removed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyunlock/keyunlock/card/vpcd"
	"github.com/keyunlock/keyunlock/card/vscard"
)

func main() {
	state := flag.String("state", "", "directory holding the card's persistent state (created if missing)")
	addr := flag.String("vpcd", vpcd.DefaultAddr, "host:port of the vpcd slot to plug the card into")
	quirks := flag.String("quirks", "", "comma-separated card quirks: noext, t0, gnuk, yubikey, pin63cx, kdf, uif, maxresp=N, touch=DURATION|never, touchtimeout=DURATION, apdudelay=DURATION")
	verbose := flag.Bool("v", false, "log connection events")
	vsc := flag.String("vscard", "", "instead of vpcd, serve QEMU's ccid-card-passthru on the unix socket `PATH`")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: vcard -state DIR [-vpcd HOST:PORT | -vscard SOCKET] [-quirks LIST]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *state == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := os.MkdirAll(*state, 0o700); err != nil {
		log.Fatalf("vcard: state directory: %v", err)
	}
	card, err := newCard(*state, *quirks)
	if err != nil {
		log.Fatalf("vcard: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *vsc != "" {
		l, err := net.Listen("unix", *vsc)
		if err != nil {
			log.Fatalf("vcard: %v", err)
		}
		defer os.Remove(*vsc)
		vf := vscard.NewFrontend(card)
		if *verbose {
			vf.Logf = log.Printf
		}
		log.Printf("vcard: waiting for QEMU on %s", *vsc)
		if err := vf.ListenAndServe(ctx, l); err != nil {
			log.Fatalf("vcard: %v", err)
		}
		return
	}
	fe := vpcd.NewFrontend(*addr, card)
	if *verbose {
		fe.Logf = log.Printf
	}
	go func() {
		select {
		case <-fe.Connected():
			log.Printf("vcard: card plugged into vpcd at %s", *addr)
		case <-ctx.Done():
		}
	}()
	if err := fe.Run(ctx); err != nil {
		log.Fatalf("vcard: %v", err)
	}
}
