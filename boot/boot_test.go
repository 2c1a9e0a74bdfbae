package boot

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// Timeouts are generous: QEMU without KVM on a shared 2-core machine.
const (
	promptTimeout = 10 * time.Minute
	stepTimeout   = 5 * time.Minute
)

var (
	rootOK      = regexp.MustCompile(`BOOTTEST-ROOT-OK: keyunlock-boottest-root mounted from \S+`)
	daemonAlive = regexp.MustCompile(`BOOTTEST-DAEMON-ALIVE: pid \d+ @keyunlock`)
	noDaemon    = regexp.MustCompile(`BOOTTEST-NO-DAEMON`)
	dataOK      = regexp.MustCompile(`BOOTTEST-DATA-OK: data volume unlocked through the daemon`)
	done        = regexp.MustCompile(`BOOTTEST-DONE`)
	// cryptsetup's own passphrase prompts: seeing one means keyunlock did
	// not deliver the key.
	luksPrompt = regexp.MustCompile(`Please enter passphrase for disk|Password \(/dev/|Enter passphrase for /dev`)
	// A wrong passphrase must be reported (with the tries left where the
	// key has a counter: cards) in the next prompt.
	triesLeft = `(?i)(\b\d+ (tries|try|attempts?) left|wrong (secret|passphrase|password)[^\n]*try again)`
)

// promptRE matches keyunlock's passphrase prompt, which names the key.
func promptRE(f *fixture) *regexp.Regexp {
	ids := []string{regexp.QuoteMeta(f.Fpr), regexp.QuoteMeta(f.KeyID), `boot@keyunlock\.test`, `Boot Test`}
	return regexp.MustCompile(`(?i)pass(phrase|word)[^\n]*(` + strings.Join(ids, "|") + `)|(` + strings.Join(ids, "|") + `)[^\n]*pass(phrase|word)`)
}

// requireCommands stops the test unless the keyunlock binary implements the
// subcommands the scenario relies on.
func requireCommands(t *testing.T, bin string, names ...string) {
	t.Helper()
	for _, n := range names {
		if !hasCommand(bin, n) {
			testenv.Unavailable(t, "keyunlock has no %q command yet (cmd/keyunlock)", n)
		}
	}
}

const rootCmdline = "root=/dev/mapper/root rootfstype=ext4 ro"

// TestBootSystemdInitrd boots a dracut systemd initrd whose keyunlock daemon
// serves the LUKS keys on crypttab's key socket (scenarios 1 and 2).
func TestBootSystemdInitrd(t *testing.T) {
	tc := getToolchain(t)
	bin := binary(t)
	requireCommands(t, bin, "serve", "decrypt")
	for _, u := range []string{"keyunlock.socket", "keyunlock.service"} {
		if !exists(filepath.Join(repoRoot(t), "systemd", u)) {
			testenv.Unavailable(t, "systemd/%s is missing (the daemon's units)", u)
		}
	}
	f := getFixture(t, bin)
	initrd := buildInitrd(t, tc, systemdInitrd, bin, f)
	prompt := promptRE(f)

	t.Run("typed password, daemon survives switch_root", func(t *testing.T) {
		v := bootVM(t, "systemd-typed", tc, initrd, rootCmdline, f.RootImg, f.DataImg)
		v.waitFor("keyunlock's passphrase prompt", prompt, promptTimeout, luksPrompt)
		v.typeLine(passphrase)
		v.waitFor("root mounted", rootOK, stepTimeout, luksPrompt)
		v.waitFor("the daemon running as @keyunlock after switch_root", daemonAlive, stepTimeout)
		v.waitFor("the data volume unlocked by the surviving daemon", dataOK, stepTimeout, prompt, luksPrompt)
		v.waitFor("the end of the root's init", done, stepTimeout)
		v.waitExit(stepTimeout)
	})

	t.Run("wrong password then right", func(t *testing.T) {
		v := bootVM(t, "systemd-wrong", tc, initrd, rootCmdline, f.RootImg, f.DataImg)
		v.waitFor("keyunlock's passphrase prompt", prompt, promptTimeout, luksPrompt)
		v.typeLine("not the passphrase")
		v.waitFor("the prompt again, saying the passphrase was wrong", regexp.MustCompile(triesLeft+`[^\n]*(?:`+prompt.String()+`)`), stepTimeout, rootOK, luksPrompt)
		v.typeLine(passphrase)
		v.waitFor("root mounted", rootOK, stepTimeout, luksPrompt)
		v.waitExit(stepTimeout)
	})
}

// TestBootShellInitrd boots a dracut initrd without systemd: the keyunlock
// hook asks for the passphrase on the console and maps root before
// cryptroot-ask would ask (scenario 3); when keyunlock fails, cryptroot-ask
// asks for the LUKS passphrase.
func TestBootShellInitrd(t *testing.T) {
	tc := getToolchain(t)
	bin := binary(t)
	requireCommands(t, bin, "decrypt")
	f := getFixture(t, bin)
	initrd := buildInitrd(t, tc, shellInitrd, bin, f)
	prompt := promptRE(f)

	t.Run("typed passphrase", func(t *testing.T) {
		v := bootVM(t, "shell-typed", tc, initrd, rootCmdline, f.RootImg)
		v.waitFor("keyunlock's passphrase prompt", prompt, promptTimeout, luksPrompt)
		v.typeLine(passphrase)
		v.waitFor("the hook's success message", regexp.MustCompile(`keyunlock: root unlocked`), stepTimeout, luksPrompt)
		v.waitFor("root mounted", rootOK, stepTimeout, luksPrompt)
		v.waitFor("no daemon in a shell initrd", noDaemon, stepTimeout)
		v.waitExit(stepTimeout)
	})

	// When keyunlock cannot unlock (here: three wrong passphrases),
	// cryptroot-ask asks for the LUKS passphrase and the recovery
	// passphrase opens the volume.
	t.Run("keyunlock fails, recovery passphrase", func(t *testing.T) {
		v := bootVM(t, "shell-fallback", tc, initrd, rootCmdline, f.RootImg)
		v.waitFor("keyunlock's passphrase prompt", prompt, promptTimeout, luksPrompt)
		for i := 0; i < 3; i++ {
			if i > 0 {
				v.waitFor("the prompt again", regexp.MustCompile(triesLeft+`[^\n]*(?:`+prompt.String()+`)`), stepTimeout, luksPrompt)
			}
			v.typeLine("not the passphrase")
		}
		v.waitFor("the hook giving up", regexp.MustCompile(`falling back to the LUKS passphrase`), stepTimeout, rootOK)
		v.waitFor("cryptroot-ask's passphrase prompt", luksPrompt, stepTimeout, rootOK)
		v.typeLine("recovery root")
		v.waitFor("root mounted", rootOK, stepTimeout)
		v.waitExit(stepTimeout)
	})
}

// TestDracutRefusesIncompleteConfig checks that the module stops the image
// build when a key file is missing.
func TestDracutRefusesIncompleteConfig(t *testing.T) {
	tc := getToolchain(t)
	bin := binary(t)
	f := getFixture(t, bin)
	broken := &fixture{ConfDir: filepath.Join(t.TempDir(), "conf")}
	run(t, "", nil, "cp", "-a", f.ConfDir, broken.ConfDir)
	if err := os.Remove(filepath.Join(broken.ConfDir, "keys", "root.pgp")); err != nil {
		t.Fatal(err)
	}
	out := buildInitrdExpectFailure(t, tc, bin, broken)
	want := "key file " + filepath.Join(broken.ConfDir, "keys", "root.pgp") + " is missing"
	if !strings.Contains(out, want) {
		t.Fatalf("dracut output does not say %q:\n%s", want, tail(out, 20))
	}
}
