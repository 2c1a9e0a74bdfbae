package boot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// cardPINPrompt is keyunlock's PIN prompt for the fixture's card, with the
// factory retry counter.
var cardPINPrompt = regexp.MustCompile(`Enter the PIN of [^\n]*card[^\n]*\(3 tries left\)`)

// newPCSCCard makes a simulated card (no quirks: vpcd passes any APDU)
// holding the card fixture's decryption key.
func newPCSCCard(t testing.TB, cf *cardFixture) *sim.Card {
	return newFixtureCard(t, cf, sim.Options{})
}

// pcscdInChroot starts an isolated pcscd with the card in its first vpcd
// reader and bind-mounts its socket directory as root's /run/pcscd, where
// keyunlock looks for pcscd.
func pcscdInChroot(t testing.TB, root string, c *sim.Card) {
	t.Helper()
	srv := pcsctest.Start(t)
	srv.InsertCard(t, 0, c)
	dir := filepath.Join(root, "run", "pcscd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(filepath.Dir(srv.Socket), dir, "", unix.MS_BIND, ""); err != nil {
		testenv.Unavailable(t, "bind-mounting pcscd's socket directory into the chroot: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// hookRun is a shell script running in a busybox chroot with a pty as its
// console and controlling terminal.
type hookRun struct {
	con    *console
	cmd    *exec.Cmd
	exited chan error
}

func startInChroot(t *testing.T, root string, ptm, pts *os.File, script string) *hookRun {
	t.Helper()
	cmd := exec.Command("chroot", root, "/bin/ash", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	h := &hookRun{con: newConsole(ptm), cmd: cmd, exited: make(chan error, 1)}
	go func() { h.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return h
}

func (h *hookRun) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-h.exited:
		if err != nil {
			t.Fatalf("hook script failed: %v\n%s", err, h.con.text())
		}
	case <-time.After(time.Minute):
		t.Fatalf("hook script did not exit\n%s", h.con.text())
	}
}

// mkinitcpioCardRoot runs the install hook's build() on the card fixture
// (volumes without a soft key) and returns the image root and the modules
// build() added.
func mkinitcpioCardRoot(t *testing.T, bin string, cf *cardFixture) (root string, modules []string) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "root")
	modList := filepath.Join(t.TempDir(), "modules")
	// add_module records its argument ("name?" = optional, as mkinitcpio's).
	script := mkinitcpioShims + `add_module() { echo "$1" >> "$MODLIST"; }
. "$HOOKDIR/install/keyunlock"; build`
	run(t, "", []string{"BUILDROOT=" + root, "HOOKDIR=" + filepath.Join(repoRoot(t), "mkinitcpio"),
		"KEYUNLOCK_CONFDIR=" + cf.ConfDir, "KEYUNLOCK_BIN=" + bin, "MODLIST=" + modList}, "bash", "-c", script)
	b, _ := os.ReadFile(modList)
	return root, strings.Fields(string(b))
}

// TestMkinitcpioHookCard runs the busybox hook for a volume whose key is on
// an OpenPGP card (KEY "-"): a simulated card behind a private pcscd, the
// PIN typed on the console. The key encrypt finds must open the volume, and
// the card must still have all its PIN tries.
func TestMkinitcpioHookCard(t *testing.T) {
	requireHostTools(t)
	testenv.RequireTool(t, "bash", "chroot")
	bin := binary(t)
	requireCommands(t, bin, "decrypt")
	f := getFixture(t, bin)
	cf := getCardFixture(t, bin, f)

	root, mods := mkinitcpioCardRoot(t, bin, cf)
	for _, m := range []string{"xhci_pci?", "xhci_hcd?", "ehci_pci?", "ohci_pci?", "uhci_hcd?", "usbcore?"} {
		if !strings.Contains(" "+strings.Join(mods, " ")+" ", " "+m+" ") {
			t.Errorf("build() did not add the USB host module %s (added: %q)", m, mods)
		}
	}
	vol, _ := os.ReadFile(filepath.Join(root, "etc", "keyunlock", "volumes"))
	if !regexp.MustCompile(`(?m)^root \S+ /etc/keyunlock/keys/root.pgp - `).Match(vol) {
		t.Fatalf("the image's volumes file does not give root a card (KEY -):\n%s", vol)
	}
	ptm, pts := busyboxChroot(t, root)
	defer ptm.Close()
	os.Symlink("../bin/busybox", filepath.Join(root, "usr", "bin", "ash"))
	card := newPCSCCard(t, cf)
	pcscdInChroot(t, root, card)

	h := startInChroot(t, root, ptm, pts, fmt.Sprintf(`
cryptdevice=UUID=%s:root
keyunlock_card_wait=20s
. /hooks/keyunlock
run_hook
echo "HOOK-RETURNED"
`, f.RootUUID))
	h.con.expect(t, "the hook's card wait notice", regexp.MustCompile(`waiting up to 20s for the OpenPGP card of root`), time.Minute)
	h.con.expect(t, "keyunlock's PIN prompt", cardPINPrompt, time.Minute)
	h.con.send(t, cardPIN+"\n")
	h.con.expect(t, "the hook's hand-off message", regexp.MustCompile(`keyunlock: key for root ready for encrypt`), time.Minute)
	h.con.expect(t, "run_hook returning", regexp.MustCompile(`HOOK-RETURNED`), time.Minute)
	h.wait(t)

	kf := filepath.Join(root, "crypto_keyfile.bin")
	if !exists(kf) {
		t.Fatalf("run_hook left no /crypto_keyfile.bin for encrypt:\n%s", h.con.text())
	}
	if out, err := runErr("", nil, "cryptsetup", "open", "--test-passphrase", "--key-file", kf, f.RootImg); err != nil {
		t.Fatalf("/crypto_keyfile.bin does not open the root volume: %v\n%s", err, out)
	}
	if pw1, _, _ := card.Tries(); pw1 != 3 {
		t.Errorf("PW1 tries left %d after the unlock, want 3", pw1)
	}
}

// TestMkinitcpioHookNoCard runs the hook for a card volume with no card
// anywhere: it must wait the configured time, leave no key file, and say
// that encrypt asks for the passphrase.
func TestMkinitcpioHookNoCard(t *testing.T) {
	requireHostTools(t)
	testenv.RequireTool(t, "bash", "chroot")
	bin := binary(t)
	requireCommands(t, bin, "decrypt")
	f := getFixture(t, bin)
	cf := getCardFixture(t, bin, f)

	root, _ := mkinitcpioCardRoot(t, bin, cf)
	ptm, pts := busyboxChroot(t, root)
	defer ptm.Close()
	os.Symlink("../bin/busybox", filepath.Join(root, "usr", "bin", "ash"))
	os.Symlink("busybox", filepath.Join(root, "bin", "date"))

	start := time.Now()
	h := startInChroot(t, root, ptm, pts, fmt.Sprintf(`
cryptdevice=UUID=%s:root
keyunlock_card_wait=1s
. /hooks/keyunlock
run_hook
echo "HOOK-RETURNED rc=$?"
`, f.RootUUID))
	h.con.expect(t, "the hook's card wait notice", regexp.MustCompile(`waiting up to 1s for the OpenPGP card of root`), time.Minute)
	h.con.expect(t, "the fallback notice", regexp.MustCompile(`could not decrypt /etc/keyunlock/keys/root.pgp; encrypt will ask for the passphrase`), time.Minute)
	h.con.expect(t, "run_hook returning 0", regexp.MustCompile(`HOOK-RETURNED rc=0`), time.Minute)
	h.wait(t)
	if d := time.Since(start); d < time.Second {
		t.Errorf("the hook gave up after %s, before the 1s card wait", d)
	}
	if exists(filepath.Join(root, "crypto_keyfile.bin")) {
		t.Errorf("the hook left /crypto_keyfile.bin behind without a card")
	}
	if strings.Contains(h.con.text(), "Enter the PIN") {
		t.Errorf("the hook asked for a PIN without a card:\n%s", h.con.text())
	}
	t.Logf("console:\n%s", h.con.text())
}

// dracutLibStub stands in for dracut's /lib/dracut-lib.sh with the few
// functions keyunlock-unlock uses, reading the kernel arguments from
// $CMDLINE; info and warn go to the console as dracut's do with rd.info.
const dracutLibStub = `
getarg() {
    local a
    for a in $CMDLINE; do
        case "$a" in "$1="*) echo "${a#*=}"; return 0 ;; esac
    done
    return 1
}
getargbool() {
    local v
    v=$(getarg "$2") || return 0
    case "$v" in 0 | no | off) return 1 ;; esac
    return 0
}
info() { echo "INFO: $*" > /dev/console; }
warn() { echo "WARN: $*" > /dev/console; }
`

// cryptsetupStub records the key keyunlock-unlock pipes into
// "cryptsetup -d - luksOpen DEV NAME" and creates /dev/mapper/NAME, as a
// successful luksOpen would; an empty key opens nothing.
const cryptsetupStub = `#!/bin/sh
cat > /luks-key.bin
[ -s /luks-key.bin ] || exit 2
mkdir -p /dev/mapper
mknod "/dev/mapper/$5" b 7 0
`

// dracutShellChroot makes a busybox chroot holding keyunlock-unlock as
// dracut's shell flavour installs it, the real keyunlock binary, the card
// fixture's root key file and a volumes file naming no soft key for root.
func dracutShellChroot(t *testing.T, bin string, f *fixture, cf *cardFixture) (root string, ptm, pts *os.File) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "root")
	repo := repoRoot(t)
	for _, d := range []string{"sbin", "usr/bin", "lib", "etc/keyunlock/keys", "etc/keyunlock/keys.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(repo, "dracut", "keyunlock-unlock.sh"), filepath.Join(root, "sbin", "keyunlock-unlock"), 0o755)
	copyFile(t, bin, filepath.Join(root, "usr", "bin", "keyunlock"), 0o755)
	copyFile(t, filepath.Join(cf.ConfDir, "keys", "root.pgp"), filepath.Join(root, "etc", "keyunlock", "keys", "root.pgp"), 0o600)
	os.WriteFile(filepath.Join(root, "lib", "dracut-lib.sh"), []byte(dracutLibStub), 0o644)
	os.WriteFile(filepath.Join(root, "sbin", "cryptsetup"), []byte(cryptsetupStub), 0o755)
	os.WriteFile(filepath.Join(root, "sbin", "modprobe"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	vol := "root UUID=" + f.RootUUID + " /etc/keyunlock/keys/root.pgp - luks\n"
	os.WriteFile(filepath.Join(root, "etc", "keyunlock", "volumes"), []byte(vol), 0o644)
	ptm, pts = busyboxChroot(t, root)
	for _, app := range []string{"mknod", "mkdir", "readlink"} {
		os.Symlink("busybox", filepath.Join(root, "bin", app))
	}
	return root, ptm, pts
}

// TestDracutShellHookCard runs dracut's shell-flavour keyunlock-unlock for
// a volume without a soft key: the real keyunlock finds the simulated card
// through a private pcscd, the PIN is typed on the console, and the key
// piped to cryptsetup must open the volume without spending a PIN try.
func TestDracutShellHookCard(t *testing.T) {
	requireHostTools(t)
	testenv.RequireTool(t, "chroot")
	bin := binary(t)
	requireCommands(t, bin, "decrypt")
	f := getFixture(t, bin)
	cf := getCardFixture(t, bin, f)
	root, ptm, pts := dracutShellChroot(t, bin, f, cf)
	defer ptm.Close()
	card := newPCSCCard(t, cf)
	pcscdInChroot(t, root, card)

	h := startInChroot(t, root, ptm, pts, "CMDLINE='rd.keyunlock.card_wait=20s' /sbin/keyunlock-unlock /dev/vda "+f.RootUUID+"; echo UNLOCK-RETURNED rc=$?")
	h.con.expect(t, "the hook's card wait notice", regexp.MustCompile(`waiting up to 20s for the OpenPGP card of root`), time.Minute)
	h.con.expect(t, "keyunlock's PIN prompt", cardPINPrompt, time.Minute)
	h.con.send(t, cardPIN+"\n")
	h.con.expect(t, "the hook's success message", regexp.MustCompile(`keyunlock: root unlocked`), time.Minute)
	h.con.expect(t, "the hook returning 0", regexp.MustCompile(`UNLOCK-RETURNED rc=0`), time.Minute)
	h.wait(t)

	kf := filepath.Join(root, "luks-key.bin")
	if out, err := runErr("", nil, "cryptsetup", "open", "--test-passphrase", "--key-file", kf, f.RootImg); err != nil {
		t.Fatalf("the key piped to cryptsetup does not open the root volume: %v\n%s\n%s", err, out, h.con.text())
	}
	if pw1, _, _ := card.Tries(); pw1 != 3 {
		t.Errorf("PW1 tries left %d after the unlock, want 3", pw1)
	}
}

// TestDracutShellHookNoCard runs keyunlock-unlock for a card volume with no
// card: after rd.keyunlock.card_wait it must leave the volume closed for
// cryptroot-ask and say so.
func TestDracutShellHookNoCard(t *testing.T) {
	requireHostTools(t)
	testenv.RequireTool(t, "chroot")
	bin := binary(t)
	requireCommands(t, bin, "decrypt")
	f := getFixture(t, bin)
	cf := getCardFixture(t, bin, f)
	root, ptm, pts := dracutShellChroot(t, bin, f, cf)
	defer ptm.Close()

	start := time.Now()
	h := startInChroot(t, root, ptm, pts, "CMDLINE='rd.keyunlock.card_wait=1s' /sbin/keyunlock-unlock /dev/vda "+f.RootUUID+"; echo UNLOCK-RETURNED rc=$?")
	h.con.expect(t, "the hook's card wait notice", regexp.MustCompile(`waiting up to 1s for the OpenPGP card of root`), time.Minute)
	h.con.expect(t, "the fallback warning", regexp.MustCompile(`could not unlock root with keyunlock; falling back to the LUKS passphrase`), time.Minute)
	h.con.expect(t, "the hook returning 0", regexp.MustCompile(`UNLOCK-RETURNED rc=0`), time.Minute)
	h.wait(t)
	if d := time.Since(start); d < time.Second {
		t.Errorf("the hook gave up after %s, before the 1s card wait", d)
	}
	if exists(filepath.Join(root, "dev", "mapper", "root")) {
		t.Errorf("root was mapped without a card")
	}
	if strings.Contains(h.con.text(), "Enter the PIN") {
		t.Errorf("the hook asked for a PIN without a card:\n%s", h.con.text())
	}
}
