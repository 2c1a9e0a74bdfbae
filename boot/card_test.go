package boot

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/card/vscard"
)

// cardPIN is the simulated card's PW1 (its factory default).
const cardPIN = "123456"

// cardFixtureVersion changes whenever the card fixture layout changes.
const cardFixtureVersion = "v1"

// cardFixture is a configuration for the same two LUKS volumes as the
// soft-key fixture, with their keys encrypted to a card key instead: a
// cv25519 key made once (go-crypto) and imported into the simulated card
// at each run.
type cardFixture struct {
	ConfDir   string
	SecretKey string // armored secret key, imported into the simulator
}

func getCardFixture(t testing.TB, bin string, f *fixture) *cardFixture {
	t.Helper()
	unlock := lockCache(t)
	defer unlock()
	dir := filepath.Join(cacheDir(t), "card-"+cardFixtureVersion+"-"+filepath.Base(f.Dir))
	cf := &cardFixture{ConfDir: filepath.Join(dir, "conf"), SecretKey: filepath.Join(dir, "card.sec.asc")}
	if exists(filepath.Join(dir, ".ok")) {
		return cf
	}
	stale, _ := filepath.Glob(filepath.Join(cacheDir(t), "card-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}
	if err := os.MkdirAll(filepath.Join(cf.ConfDir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	e, err := openpgp.NewEntity("Card Boot Test", "", "card@keyunlock.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519})
	if err != nil {
		t.Fatal(err)
	}
	writeArmored(t, cf.SecretKey, openpgp.PrivateKeyType, func(w *bytes.Buffer) error { return e.SerializePrivate(w, nil) })
	pub := filepath.Join(cf.ConfDir, "card.pub.asc")
	writeArmored(t, pub, openpgp.PublicKeyType, func(w *bytes.Buffer) error { return e.Serialize(w) })

	// The volumes' existing LUKS keys (keyslot 1), now encrypted to the card.
	pwFile := filepath.Join(t.TempDir(), "passphrase")
	os.WriteFile(pwFile, []byte(passphrase+"\n"), 0o600)
	for _, name := range []string{"root", "data"} {
		raw := filepath.Join(t.TempDir(), name+".key")
		run(t, "", nil, bin, "decrypt", "-q", "--key", f.SecretKey, "--passphrase-file", pwFile, "-o", raw, filepath.Join(f.ConfDir, "keys", name+".pgp"))
		run(t, "", nil, bin, "encrypt", "--recipient", pub, "-o", filepath.Join(cf.ConfDir, "keys", name+".pgp"), raw)
		os.Remove(raw)
	}
	vol := "# name device keyfile key options\n" +
		"root UUID=" + f.RootUUID + " keys/root.pgp - luks,x-systemd.device-timeout=0\n" +
		"data UUID=" + f.DataUUID + " keys/data.pgp - luks,noauto\n"
	os.WriteFile(filepath.Join(cf.ConfDir, "volumes"), []byte(vol), 0o644)
	// The daemon uses the card, waiting for the USB reader to appear.
	os.WriteFile(filepath.Join(cf.ConfDir, "serve.conf"), []byte("KEYUNLOCK_SERVE_ARGS=\"--card --card-wait 5m\"\n"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, ".ok"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return cf
}

func writeArmored(t testing.TB, path, blockType string, body func(*bytes.Buffer) error) {
	t.Helper()
	var raw, out bytes.Buffer
	if err := body(&raw); err != nil {
		t.Fatal(err)
	}
	w, err := armor.Encode(&out, blockType, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw.Bytes())
	w.Close()
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newBootCard makes the simulated card holding the fixture's card key. It
// answers as a T=0 card (61xx, 6Cxx, no extended length), as QEMU's
// usb-ccid reader offers only T=0.
func newBootCard(t testing.TB, cf *cardFixture) *sim.Card {
	t.Helper()
	q, err := sim.ParseQuirks("t0")
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureCard(t, cf, sim.Options{Quirks: q})
}

// newFixtureCard makes a simulated card with opts holding the card
// fixture's decryption key.
func newFixtureCard(t testing.TB, cf *cardFixture, opts sim.Options) *sim.Card {
	t.Helper()
	c, err := sim.New(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(cf.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	el, err := openpgp.ReadArmoredKeyRing(in)
	if err != nil || len(el) != 1 || len(el[0].Subkeys) == 0 {
		t.Fatalf("card key %s: %v", cf.SecretKey, err)
	}
	if err := c.ImportKey(sim.SlotDec, el[0].Subkeys[0].PrivateKey); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBootCardCCID boots a dracut systemd initrd without pcscd whose
// keyunlock daemon reaches an OpenPGP card in a USB CCID reader directly
// (usbfs): QEMU's usb-ccid with ccid-card-passthru, connected through the
// VSCard front end to the card simulator. The PIN is typed on the console;
// the daemon unlocks root, survives switch_root, and unlocks the data
// volume later through the same reader without asking again.
func TestBootCardCCID(t *testing.T) {
	tc := getToolchain(t)
	bin := binary(t)
	requireCommands(t, bin, "serve", "decrypt", "encrypt")
	f := getFixture(t, bin)
	cf := getCardFixture(t, bin, f)
	initrd := buildInitrd(t, tc, systemdCardInitrd, bin, &fixture{ConfDir: cf.ConfDir})

	// The card path needs no pcscd: the image holds none, only the USB
	// host controller modules and the daemon's configuration.
	checkListing(t, tc, initrd, []string{"pcscd", "libccid", "libpcsclite"},
		[]string{"xhci-pci.ko", "xhci-hcd.ko", "usbcore.ko", "etc/keyunlock/serve.conf", "usr/bin/keyunlock"})

	card := newBootCard(t, cf)
	fe, usb := usbCard(t, card)
	v := bootVMWith(t, "card-ccid", tc, initrd, rootCmdline, usb, f.RootImg, f.DataImg)
	waitCardTaken(v, fe)
	pin := regexp.MustCompile(`Enter the PIN of [^\n]*card[^\n]*\(3 tries left\)`)
	v.waitFor("keyunlock's PIN prompt", pin, promptTimeout, luksPrompt)
	v.typeLine(cardPIN)
	v.waitFor("root mounted", rootOK, stepTimeout, luksPrompt)
	v.waitFor("the daemon running as @keyunlock after switch_root", daemonAlive, stepTimeout)
	v.waitFor("the data volume unlocked by the surviving daemon through the same reader", dataOK, stepTimeout, pin, luksPrompt)
	v.waitFor("the end of the root's init", done, stepTimeout)
	v.waitExit(stepTimeout)
	if n := fe.APDUs(); n < 4 {
		t.Errorf("the card got %d APDUs through QEMU's reader", n)
	}
	if pw1, _, _ := card.Tries(); pw1 != 3 {
		t.Errorf("PW1 tries left %d after the boot, want 3", pw1)
	}
}

// checkListing fails the test now unless the initrd's lsinitrd listing
// names none of bad and every one of want.
func checkListing(t *testing.T, tc *toolchain, initrd string, bad, want []string) {
	t.Helper()
	listing := run(t, "", []string{"dracutbasedir=" + tc.DracutBase}, tc.Lsinitrd, initrd)
	for _, b := range bad {
		if strings.Contains(listing, b) {
			t.Errorf("the initrd contains %s:\n%s", b, grepLines(listing, b))
		}
	}
	for _, w := range want {
		if !strings.Contains(listing, w) {
			t.Errorf("the initrd lacks %s", w)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// usbCard serves card through the VSCard front end on a fresh socket and
// returns the front end and the QEMU arguments of a usb-ccid reader holding
// it (ccid-card-passthru on that socket). The front end stops at cleanup.
func usbCard(t *testing.T, card *sim.Card) (*vscard.Frontend, []string) {
	t.Helper()
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
	return fe, []string{"-device", "qemu-xhci,id=xhci", "-device", "usb-ccid,id=ccid0",
		"-chardev", "socket,id=card,path=" + sock, "-device", "ccid-card-passthru,chardev=card,id=card0"}
}

// waitCardTaken waits until QEMU has taken the card from the front end.
func waitCardTaken(v *vm, fe *vscard.Frontend) {
	select {
	case <-fe.Ready():
	case <-time.After(stepTimeout):
		v.fail("QEMU did not take the card within %s", stepTimeout)
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
