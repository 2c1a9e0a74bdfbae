package boot

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// mkinitcpioShims are the few mkinitcpio build-time helpers the install hook
// uses, with mkinitcpio's argument conventions (functions in mkinitcpio
// v41), so that build() can run on Debian, which has no mkinitcpio.
const mkinitcpioShims = `
error() { echo "==> ERROR: $*" >&2; }
add_dir() { mkdir -p "$BUILDROOT$1"; [ -n "$2" ] && chmod "$2" "$BUILDROOT$1"; return 0; }
add_file() { local dst=${2:-$1}; mkdir -p "$BUILDROOT$(dirname "$dst")"; cp "$1" "$BUILDROOT$dst" || return 1; [ -n "$3" ] && chmod "$3" "$BUILDROOT$dst"; return 0; }
add_binary() { add_file "$1" "${2:-$1}" 0755; }
add_runscript() { add_file "$HOOKDIR/hooks/keyunlock" /hooks/keyunlock 0755; }
`

// TestMkinitcpioHook runs the keyunlock install hook's build() and then the
// busybox runtime hook in a chroot made of busybox-static, with a pty as the
// console: the hook must prompt, leave the LUKS key in /crypto_keyfile.bin
// for the encrypt hook, and the cleanup hook must remove it (scenario 4).
func TestMkinitcpioHook(t *testing.T) {
	requireHostTools(t)
	testenv.RequireTool(t, "bash", "chroot", "mknod")
	bin := binary(t)
	requireCommands(t, bin, "decrypt")
	f := getFixture(t, bin)
	repo := repoRoot(t)

	root := filepath.Join(t.TempDir(), "root")
	// build(): the install hook with KEYUNLOCK_CONFDIR/KEYUNLOCK_BIN pointing
	// at the fixture, as mkinitcpio would source it.
	script := mkinitcpioShims + `. "$HOOKDIR/install/keyunlock"; build`
	run(t, "", []string{"BUILDROOT=" + root, "HOOKDIR=" + filepath.Join(repo, "mkinitcpio"),
		"KEYUNLOCK_CONFDIR=" + f.ConfDir, "KEYUNLOCK_BIN=" + bin}, "bash", "-c", script)
	for _, p := range []string{"usr/bin/keyunlock", "hooks/keyunlock", "etc/keyunlock/keys/root.pgp", "etc/keyunlock/keys.d/boot-test.asc", "etc/keyunlock/volumes"} {
		if !exists(filepath.Join(root, p)) {
			t.Fatalf("install/keyunlock build() did not add %s", p)
		}
	}
	ptm, pts := busyboxChroot(t, root)
	defer ptm.Close()
	os.Symlink("../bin/busybox", filepath.Join(root, "usr", "bin", "ash"))

	// What mkinitcpio's init does: cmdline variables, then run_hook of each
	// hook in order, run_cleanuphook before switch_root.
	runtime := fmt.Sprintf(`
cryptdevice=UUID=%s:root
. /hooks/keyunlock
run_hook
echo "HOOK-RETURNED"
read -r go < /dev/console
run_cleanuphook
echo "CLEANUP-RETURNED"
`, f.RootUUID)
	h := startInChroot(t, root, ptm, pts, runtime)
	con := h.con

	con.expect(t, "keyunlock's passphrase prompt", promptRE(f), time.Minute)
	con.send(t, "not the passphrase\n")
	con.expect(t, "a second prompt after a wrong passphrase", regexp.MustCompile(triesLeft+`[^\n]*(?:`+promptRE(f).String()+`)`), time.Minute)
	con.send(t, passphrase+"\n")
	con.expect(t, "the hook's hand-off message", regexp.MustCompile(`keyunlock: key for root ready for encrypt`), time.Minute)
	con.expect(t, "run_hook returning", regexp.MustCompile(`HOOK-RETURNED`), time.Minute)

	// What encrypt will find: a key file that opens the volume.
	kf := filepath.Join(root, "crypto_keyfile.bin")
	fi, err := os.Stat(kf)
	if err != nil {
		t.Fatalf("run_hook left no /crypto_keyfile.bin for encrypt:\n%s", con.text())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("/crypto_keyfile.bin is readable by others: %v", fi.Mode())
	}
	if out, err := runErr("", nil, "cryptsetup", "open", "--test-passphrase", "--key-file", kf, f.RootImg); err != nil {
		t.Fatalf("/crypto_keyfile.bin does not open the root volume: %v\n%s", err, out)
	}

	con.send(t, "go\n")
	con.expect(t, "run_cleanuphook returning", regexp.MustCompile(`CLEANUP-RETURNED`), time.Minute)
	h.wait(t)
	if exists(kf) {
		t.Fatalf("run_cleanuphook left /crypto_keyfile.bin behind")
	}
}

// TestMkinitcpioHookSkips checks that the hook stays out of the way when the
// volume is not configured or the user gave cryptkey=.
func TestMkinitcpioHookSkips(t *testing.T) {
	testenv.RequireTool(t, "busybox")
	hook := filepath.Join(repoRoot(t), "mkinitcpio", "hooks", "keyunlock")
	for _, tc := range []struct{ name, vars string }{
		{"cryptkey given", "cryptdevice=/dev/vda:root cryptkey=rootfs:/k"},
		{"keyunlock=0", "cryptdevice=/dev/vda:root keyunlock=0"},
		{"no cryptdevice", "true"},
	} {
		out, err := runErr("", nil, "busybox", "ash", "-c", tc.vars+"; keyunlock() { echo CALLED; }; . "+hook+"; run_hook; echo rc=$?")
		if err != nil || strings.Contains(out, "CALLED") || !strings.Contains(out, "rc=0") {
			t.Errorf("%s: hook ran keyunlock or failed: %v\n%s", tc.name, err, out)
		}
	}
}

// openPty opens a pseudo-terminal pair and returns master, slave and the
// slave's number.
func openPty(t testing.TB) (*os.File, *os.File, int) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testenv.Unavailable(t, "a pseudo-terminal (/dev/ptmx): %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptm, pts, n
}

// console collects what a program writes to a pty master.
type console struct {
	f    *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	pos  int
	more chan struct{}
}

func newConsole(f *os.File) *console {
	c := &console{f: f, more: make(chan struct{}, 1)}
	go func() {
		b := make([]byte, 1024)
		for {
			n, err := f.Read(b)
			if n > 0 {
				c.mu.Lock()
				c.buf.Write(b[:n])
				c.mu.Unlock()
				select {
				case c.more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// expect waits for re after the previous match.
func (c *console) expect(t testing.TB, what string, re *regexp.Regexp, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s := c.text()
		if loc := re.FindStringIndex(s[c.pos:]); loc != nil {
			c.pos += loc[1]
			return
		}
		select {
		case <-c.more:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s within %s; console:\n%s", what, timeout, tail(s, 30))
		}
	}
}

func (c *console) send(t testing.TB, s string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	if _, err := c.f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// busyboxChroot adds busybox-static and device nodes to root and
// bind-mounts a new pty's slave as its /dev/console (a device node would
// name another devpts instance in a container). It returns the pty.
func busyboxChroot(t testing.TB, root string) (ptm, pts *os.File) {
	t.Helper()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	copyFile(t, "/bin/busybox", filepath.Join(root, "bin", "busybox"), 0o755)
	// No plymouth: the hooks prompt on the console themselves.
	for _, app := range []string{"ash", "sh", "cat", "rm", "dd", "wc", "echo", "ls", "read"} {
		os.Symlink("busybox", filepath.Join(root, "bin", app))
	}
	ptm, pts, ptsNum := openPty(t)
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"tty", 5, 0}, {"null", 1, 3}, {"zero", 1, 5}, {"urandom", 1, 9}} {
		if err := unix.Mknod(filepath.Join(root, "dev", n.name), unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatalf("mknod %s: %v", n.name, err)
		}
	}
	console := filepath.Join(root, "dev", "console")
	os.WriteFile(console, nil, 0o600)
	if err := unix.Mount(fmt.Sprintf("/dev/pts/%d", ptsNum), console, "", unix.MS_BIND, ""); err != nil {
		testenv.Unavailable(t, "bind-mounting the pty as the chroot's /dev/console: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(console, unix.MNT_DETACH) })
	return ptm, pts
}
