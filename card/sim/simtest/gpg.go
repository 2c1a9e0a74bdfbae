// Package simtest runs GnuPG against the card simulator through a real,
// isolated pcscd and vsmartcard's vpcd, for tests: GnuPG's scdaemon is the
// referee of the simulator, and the cards and messages it makes are
// fixtures for keyunlock's own card tests (GPGCardFixture).
//
// A card test that needs a card personalised by GnuPG and a message gpg
// encrypted to it:
//
//	f := simtest.GPGCardFixture(t, simtest.KindCv25519)
//	card, err := sim.New(f.StateDir, sim.Options{Quirks: q}) // any quirks
//	srv := pcsctest.Start(t)
//	srv.InsertCard(t, 0, card)
//	// keyunlock decrypt --card with PCSCLITE_CSOCK_NAME=srv.Socket, PIN f.PIN,
//	// on f.MsgFile; expect f.Plaintext. f.CertFile is the public certificate.
//
// The kinds are KindRSA2048, KindCv25519, KindNISTP256 (keys generated on
// the card by gpg --card-edit), KindKeyToCard (a gpg soft subkey moved to
// the card) and KindRSA4096. The GPG type drives gpg itself (StartGPG,
// CardEdit, GenerateOnCard, KeyToCard, EncryptTo, Decrypt).
//
// It needs gpg, gpg-agent, scdaemon, pcscd and vsmartcard-vpcd, and root for
// the isolated pcscd; when they are missing it reports it through
// internal/testenv (a failure under make test, a skip otherwise).
package simtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// GPG is an isolated GnuPG home whose scdaemon talks to an isolated pcscd.
// Card PINs are answered by a pinentry script from UserPIN / AdminPIN.
type GPG struct {
	// Home is GNUPGHOME.
	Home string
	t    testing.TB
	env  []string
	bins map[string]string
}

// scdaemonPath finds scdaemon (Debian installs it in /usr/lib/gnupg).
func scdaemonPath() string {
	for _, p := range []string{"/usr/lib/gnupg/scdaemon", "/usr/libexec/scdaemon", "/usr/lib/gnupg2/scdaemon"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("scdaemon"); err == nil {
		return p
	}
	return ""
}

// pcscLib finds the libpcsclite scdaemon must load (it is dlopen'ed).
func pcscLib() string {
	m, _ := filepath.Glob("/usr/lib/*/libpcsclite.so.1")
	if len(m) > 0 {
		return m[0]
	}
	m, _ = filepath.Glob("/usr/lib*/libpcsclite.so.1")
	if len(m) > 0 {
		return m[0]
	}
	return ""
}

// pinentryScript answers GETPIN from files in the home, chosen by the
// prompt's wording: a new PIN or code (new-pin), the Admin PIN (admin-pin),
// the Reset Code (reset-code), else the user PIN (user-pin). Tests change
// the files with SetPINs and SetNewPIN.
const pinentryScript = `#!/bin/sh
echo "OK pinentry for tests"
desc=""
repeat=""
while IFS= read -r line; do
  echo "$line" | cut -c1-120 >> "%[1]s/pinentry.log"
  case "$line" in
    SETDESC*|SETPROMPT*) desc="$desc $line"; echo OK ;;
    SETREPEAT*) repeat=1; echo OK ;;
    GETPIN*)
      case "$desc" in
        *New*|*new*|*[Rr]epeat*|*re-enter*) pin=$(cat "%[1]s/new-pin") ;;
        *Admin*|*admin*) pin=$(cat "%[1]s/admin-pin") ;;
        *Reset*|*reset*) pin=$(cat "%[1]s/reset-code") ;;
        *) pin=$(cat "%[1]s/user-pin") ;;
      esac
      desc=""
      if [ -n "$repeat" ]; then echo "S PIN_REPEATED"; repeat=""; fi
      echo "D $pin"; echo OK ;;
    BYE*) echo "OK closing connection"; exit 0 ;;
    *) echo OK ;;
  esac
done
`

// StartGPG makes a GnuPG home for the test whose scdaemon uses srv's pcscd
// (PC/SC through libpcsclite, no internal CCID driver) and reads the card in
// the reader of slot 0. It starts gpg-agent with that environment and kills
// it when the test ends.
func StartGPG(t testing.TB, srv *pcsctest.Server) *GPG {
	t.Helper()
	bins := testenv.RequireTool(t, "gpg", "gpg-agent", "gpgconf", "gpg-connect-agent")
	scd := scdaemonPath()
	if scd == "" {
		testenv.Unavailable(t, "scdaemon not found (Debian package scdaemon)")
	}
	lib := pcscLib()
	if lib == "" {
		testenv.Unavailable(t, "libpcsclite.so.1 not found (Debian package libpcsclite1)")
	}
	// A short home: gpg-agent's sockets live in it.
	home, err := os.MkdirTemp("", "gpgh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &GPG{Home: home, t: t, bins: bins}
	write := func(name, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(home, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("pinentry.sh", fmt.Sprintf(pinentryScript, home), 0o700)
	g.SetPINs("123456", "12345678")
	write("reset-code", "", 0o600)
	write("new-pin", "", 0o600)
	write("gpg-agent.conf", fmt.Sprintf("pinentry-program %s\nallow-loopback-pinentry\nscdaemon-program %s\n",
		filepath.Join(home, "pinentry.sh"), scd), 0o600)
	write("scdaemon.conf", fmt.Sprintf("disable-ccid\npcsc-driver %s\nreader-port %s\nlog-file %s\ndebug 2048\n",
		lib, srv.Readers[0], filepath.Join(home, "scdaemon.log")), 0o600)
	write("gpg.conf", "no-greeting\nno-permission-warning\n", 0o600)
	g.env = append(cleanEnv(), "GNUPGHOME="+home, srv.Env(), "LC_ALL=C", "LANG=C")
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(home, "scdaemon.log")); err == nil {
				t.Logf("scdaemon log (tail):\n%s", tail(string(b), 80))
			}
			if b, err := os.ReadFile(filepath.Join(home, "pinentry.log")); err == nil {
				t.Logf("pinentry log (tail):\n%s", tail(string(b), 40))
			}
		}
		g.Stop()
		os.RemoveAll(home)
	})
	if out, err := g.cmd(bins["gpg-connect-agent"], "", "/bye").CombinedOutput(); err != nil {
		t.Fatalf("starting gpg-agent: %v\n%s", err, out)
	}
	return g
}

// cleanEnv is the test's environment without variables that would point
// GnuPG or PC/SC elsewhere.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GNUPGHOME", "PCSCLITE_CSOCK_NAME", "GPG_AGENT_INFO", "LC_ALL", "LANG", "DISPLAY", "GPG_TTY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SetPINs sets what the pinentry answers for the user PIN and the Admin PIN.
func (g *GPG) SetPINs(user, admin string) {
	for name, v := range map[string]string{"user-pin": user, "admin-pin": admin} {
		if err := os.WriteFile(filepath.Join(g.Home, name), []byte(v), 0o600); err != nil {
			g.t.Fatal(err)
		}
	}
}

// SetNewPIN sets what the pinentry answers when asked for a new PIN, Admin
// PIN or Reset Code, and the Reset Code it gives to unblock.
func (g *GPG) SetNewPIN(newPIN, resetCode string) {
	for name, v := range map[string]string{"new-pin": newPIN, "reset-code": resetCode} {
		if err := os.WriteFile(filepath.Join(g.Home, name), []byte(v), 0o600); err != nil {
			g.t.Fatal(err)
		}
	}
}

// Env returns the environment GnuPG runs with.
func (g *GPG) Env() []string { return append([]string(nil), g.env...) }

func (g *GPG) cmd(bin, stdin string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = g.env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Cancel = func() error { cancel(); return cmd.Process.Kill() }
	cmd.WaitDelay = time.Second
	_ = cancel
	return cmd
}

// Run runs gpg with the arguments (--homedir is implied) and stdin, and
// returns its stdout and stderr; a non-zero exit is an error carrying
// stderr.
func (g *GPG) Run(stdin string, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := g.cmd(g.bins["gpg"], stdin, append([]string{"--batch", "--no-tty"}, args...)...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("gpg %s: %v\n%s", strings.Join(args, " "), err, e.String())
	}
	return o.String(), e.String(), err
}

// Stop kills gpg-agent and scdaemon, releasing the card.
func (g *GPG) Stop() {
	g.cmd(g.bins["gpgconf"], "", "--kill", "all").Run()
}

// CardEdit drives gpg --card-edit (or --edit-key with editKey args)
// through --command-fd and --status-fd: each GET_LINE, GET_BOOL or
// GET_HIDDEN prompt takes the next answer queued under its keyword
// (cardedit.prompt, keygen.name, cardedit.genkeys.backup_enc…). A prompt
// with no answer left ends the session with an error. It returns the
// status and stdout lines.
func (g *GPG) CardEdit(answers map[string][]string, args ...string) (string, error) {
	if len(args) == 0 {
		args = []string{"--card-edit"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.bins["gpg"], append([]string{"--no-tty", "--command-fd", "0", "--status-fd", "1"}, args...)...)
	cmd.Env = g.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var log strings.Builder
	var protoErr error
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 4096)
	queues := map[string][]string{}
	for k, v := range answers {
		queues[k] = append([]string(nil), v...)
	}
	for protoErr == nil {
		n, rerr := out.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			line := string(buf[:i])
			buf = buf[i+1:]
			log.WriteString(line + "\n")
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "[GNUPG:]" || (f[1] != "GET_LINE" && f[1] != "GET_BOOL" && f[1] != "GET_HIDDEN") {
				continue
			}
			q := queues[f[2]]
			if len(q) == 0 {
				protoErr = fmt.Errorf("gpg asked %s %s and the script has no answer left", f[1], f[2])
				in.Close()
				break
			}
			queues[f[2]] = q[1:]
			log.WriteString("> " + q[0] + "\n")
			fmt.Fprintf(in, "%s\n", q[0])
		}
		if rerr != nil {
			break
		}
	}
	if protoErr != nil {
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if protoErr == nil && werr != nil {
		protoErr = fmt.Errorf("gpg %s: %v", strings.Join(args, " "), werr)
	}
	if protoErr != nil {
		return log.String(), fmt.Errorf("%w\nsession:\n%s\nstderr:\n%s", protoErr, log.String(), stderr.String())
	}
	return log.String() + stderr.String(), nil
}
