package boot

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/card/vscard"
)

// TestBootShellCardCCID boots a dracut initrd without systemd and without
// pcscd whose keyunlock-unlock hook reaches an OpenPGP card in QEMU's USB
// CCID reader directly (usbfs), for a volume without a soft key: it waits
// for the reader, the PIN is typed on the console, and root is mapped
// before cryptroot-ask would ask.
func TestBootShellCardCCID(t *testing.T) {
	tc := getToolchain(t)
	bin := binary(t)
	requireCommands(t, bin, "decrypt", "encrypt")
	f := getFixture(t, bin)
	cf := getCardFixture(t, bin, f)
	initrd := buildInitrd(t, tc, shellCardInitrd, bin, &fixture{ConfDir: cf.ConfDir})

	listing := run(t, "", []string{"dracutbasedir=" + tc.DracutBase}, tc.Lsinitrd, initrd)
	for _, bad := range []string{"pcscd", "libccid", "libpcsclite", "keyunlock.service"} {
		if strings.Contains(listing, bad) {
			t.Errorf("the initrd contains %s:\n%s", bad, grepLines(listing, bad))
		}
	}
	for _, want := range []string{"xhci-pci.ko", "xhci-hcd.ko", "usbcore.ko", "sbin/keyunlock-unlock", "usr/bin/keyunlock"} {
		if !strings.Contains(listing, want) {
			t.Errorf("the initrd lacks %s", want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	card := newBootCard(t, cf)
	sock := filepath.Join(t.TempDir(), "card.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fe := vscard.NewFrontend(card)
	fe.Logf = t.Logf
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- fe.ListenAndServe(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("VSCard front end: %v", err)
		}
	})

	usb := []string{"-device", "qemu-xhci,id=xhci", "-device", "usb-ccid,id=ccid0",
		"-chardev", "socket,id=card,path=" + sock, "-device", "ccid-card-passthru,chardev=card,id=card0"}
	v := bootVMWith(t, "shell-card-ccid", tc, initrd, rootCmdline+" rd.keyunlock.card_wait=5m", usb, f.RootImg)
	select {
	case <-fe.Ready():
	case <-time.After(stepTimeout):
		v.fail("QEMU did not take the card within %s", stepTimeout)
	}
	v.waitFor("keyunlock's PIN prompt", cardPINPrompt, promptTimeout, luksPrompt)
	v.typeLine(cardPIN)
	v.waitFor("the hook's success message", regexp.MustCompile(`keyunlock: root unlocked`), stepTimeout, luksPrompt)
	v.waitFor("root mounted", rootOK, stepTimeout, luksPrompt)
	v.waitFor("no daemon in a shell initrd", noDaemon, stepTimeout)
	v.waitExit(stepTimeout)
	if pw1, _, _ := card.Tries(); pw1 != 3 {
		t.Errorf("PW1 tries left %d after the boot, want 3", pw1)
	}
}
