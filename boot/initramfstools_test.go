package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestInitramfsToolsKeyscript runs the crypttab keyscript as cryptroot does
// (key file as $1, CRYPTTAB_* in the environment, stdout into cryptsetup) in
// a busybox chroot whose console is a pty without being the controlling
// terminal, as in an initramfs: it must prompt on the console and print
// exactly the LUKS key.
func TestInitramfsToolsKeyscript(t *testing.T) {
	requireHostTools(t)
	testenv.RequireTool(t, "chroot")
	bin := binary(t)
	requireCommands(t, bin, "decrypt")
	f := getFixture(t, bin)
	repo := repoRoot(t)

	root := filepath.Join(t.TempDir(), "root")
	copyFile(t, bin, filepath.Join(root, "usr", "bin", "keyunlock"), 0o755)
	copyFile(t, filepath.Join(repo, "initramfs-tools", "scripts", "keyunlock"), filepath.Join(root, "lib", "cryptsetup", "scripts", "keyunlock"), 0o755)
	copyFile(t, filepath.Join(f.ConfDir, "keys", "root.pgp"), filepath.Join(root, "etc", "keyunlock", "keys", "root.pgp"), 0o600)
	copyFile(t, f.SecretKey, filepath.Join(root, "etc", "keyunlock", "keys.d", "boot-test.asc"), 0o600)
	ptm, pts := busyboxChroot(t, root)
	defer ptm.Close()

	// cryptroot: the keyscript's stdout is the key.
	cmd := exec.Command("chroot", root, "/bin/sh", "-c",
		"/lib/cryptsetup/scripts/keyunlock /etc/keyunlock/keys/root.pgp > /key; echo KEYSCRIPT-EXIT=$?")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "CRYPTTAB_NAME=root", "CRYPTTAB_SOURCE=UUID=" + f.RootUUID,
		"CRYPTTAB_KEY=/etc/keyunlock/keys/root.pgp", "CRYPTTAB_OPTIONS=luks,keyscript=/lib/cryptsetup/scripts/keyunlock", "CRYPTTAB_TRIED=0"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	con := newConsole(ptm)
	con.expect(t, "keyunlock's passphrase prompt on the console", promptRE(f), time.Minute)
	con.send(t, passphrase+"\n")
	con.expect(t, "the keyscript's end", regexp.MustCompile(`KEYSCRIPT-EXIT=0`), time.Minute)
	cmd.Wait()
	key := filepath.Join(root, "key")
	if out, err := runErr("", nil, "cryptsetup", "open", "--test-passphrase", "--key-file", key, f.RootImg); err != nil {
		t.Fatalf("the keyscript's output does not open the root volume: %v\n%s\nconsole:\n%s", err, out, con.text())
	}
	os.Remove(key)
}
