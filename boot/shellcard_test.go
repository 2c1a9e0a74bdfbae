package boot

import (
	"regexp"
	"testing"
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

	checkListing(t, tc, initrd, []string{"pcscd", "libccid", "libpcsclite", "keyunlock.service"},
		[]string{"xhci-pci.ko", "xhci-hcd.ko", "usbcore.ko", "sbin/keyunlock-unlock", "usr/bin/keyunlock"})

	card := newBootCard(t, cf)
	fe, usb := usbCard(t, card)
	v := bootVMWith(t, "shell-card-ccid", tc, initrd, rootCmdline+" rd.keyunlock.card_wait=5m", usb, f.RootImg)
	waitCardTaken(v, fe)
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
