package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// daemonBin returns the keyunlock binary that TestMain built for every test
// of this package.
func daemonBin(t *testing.T) string {
	t.Helper()
	return keyunlockBin
}

// cliRun runs the binary and returns stdout, stderr and the exit code.
func cliRun(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(daemonBin(t), args...)
	cmd.Env = append(append(os.Environ(), "KEYUNLOCK_KEYS=/nonexistent/keyunlock-test", "KEYUNLOCK_SOCKET="), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return so.String(), stripWarnings(se.String()), code
}

// stripWarnings drops the hardening warnings, which depend on privileges.
func stripWarnings(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "keyunlock: warning:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// daemon is a running "keyunlock serve".
type daemon struct {
	cmd    *exec.Cmd
	socket string
	luks   string
	mu     sync.Mutex
	log    bytes.Buffer
	done   chan error
}

func (d *daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(p)
}

// waitLog waits up to 10 s for the daemon's log to contain s.
func (d *daemon) waitLog(s string) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(d.Log(), s) {
			return true
		}
	}
	return false
}

// startDaemon runs "keyunlock serve" with args and waits until it answers.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{socket: filepath.Join(dir, "keyunlock.sock"), luks: filepath.Join(dir, "luks.sock"), done: make(chan error, 1)}
	all := append([]string{"serve", "--socket", d.socket, "--luks-socket", d.luks}, args...)
	d.cmd = exec.Command(daemonBin(t), all...)
	d.cmd.Env = append(os.Environ(), "KEYUNLOCK_KEYS=/nonexistent/keyunlock-test")
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := core.Dial(context.Background(), d.socket); err == nil {
			err = c.Ping(context.Background())
			c.Close()
			if err == nil {
				return d
			}
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("keyunlock serve exited: %v\n%s", err, d.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyunlock serve does not answer on %s\n%s", d.socket, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop terminates the daemon and checks that it stopped cleanly.
func (d *daemon) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Errorf("keyunlock serve: %v\n%s", err, d.Log())
		}
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("keyunlock serve did not stop on SIGTERM\n%s", d.Log())
	}
	if _, err := os.Stat(d.socket); err == nil {
		t.Errorf("socket %s left behind", d.socket)
	}
}

// decryptableKeys returns the fixture keys that decrypt here with a passphrase.
func decryptableKeys(set *fixtures.Set) []fixtures.Key {
	var out []fixtures.Key
	for _, k := range set.Keys {
		if !k.OnCard && k.Passphrase != "" && len(k.Messages) > 0 {
			out = append(out, k)
		}
	}
	return out
}

// TestDaemonMatchesColocated runs list, decrypt, unlock and lock on every
// interop fixture key, co-located and through the daemon, and compares.
func TestDaemonMatchesColocated(t *testing.T) {
	set := fixtures.Load(t)
	keys := decryptableKeys(set)
	if len(keys) == 0 {
		t.Fatal("no passphrase-protected fixture key")
	}
	for _, k := range keys {
		t.Run(k.Name, func(t *testing.T) {
			d := startDaemon(t, "--key", k.KeyFile)
			env := []string{"KEYUNLOCK_SOCKET=" + d.socket}
			lo, le, lc := cliRun(t, nil, "list", "--key", k.KeyFile)
			do, de, dc := cliRun(t, env, "list")
			if lo != do || le != de || lc != dc {
				t.Fatalf("list differs:\nco-located %d %q %q\ndaemon     %d %q %q", lc, lo, le, dc, do, de)
			}
			if !strings.Contains(do, k.EncryptFpr) || !strings.Contains(do, "locked (password)") {
				t.Fatalf("list: %s", do)
			}
			// --key beats $KEYUNLOCK_SOCKET; --socket with --key is a usage error.
			if eo, ee, ec := cliRun(t, env, "list", "--key", k.KeyFile); eo != lo || ee != le || ec != lc {
				t.Fatalf("list --key with $KEYUNLOCK_SOCKET set: %d %q %q", ec, eo, ee)
			}
			if _, ee, ec := cliRun(t, nil, "list", "--socket", d.socket, "--key", k.KeyFile); ec != 2 || !strings.Contains(ee, "--key selects co-located keys") {
				t.Fatalf("list --socket --key: %d %q", ec, ee)
			}
			for _, m := range k.Messages {
				want := string(fixtures.ReadFile(t, m.Plaintext))
				// Locked, no passphrase, no terminal: the same failure.
				lo, le, lc = cliRun(t, nil, "decrypt", "--key", k.KeyFile, m.File)
				do, de, dc = cliRun(t, env, "decrypt", m.File)
				if lc == 0 || lo != do || le != de || lc != dc {
					t.Fatalf("locked decrypt of %s differs or succeeds:\nco-located %d %q\ndaemon     %d %q", m.File, lc, le, dc, de)
				}
				// With the passphrase file: the same plaintext and message.
				lo, le, lc = cliRun(t, nil, "decrypt", "--key", k.KeyFile, "--passphrase-file", k.PassFile, m.File)
				do, de, dc = cliRun(t, nil, "decrypt", "--socket", d.socket, "--passphrase-file", k.PassFile, m.File)
				if lc != 0 || lo != want || lo != do || le != de || lc != dc {
					t.Fatalf("decrypt of %s differs:\nco-located %d %q\ndaemon     %d %q", m.File, lc, le, dc, de)
				}
				// The daemon keeps the key unlocked: no passphrase needed now.
				if out, errs, code := cliRun(t, env, "decrypt", m.File); code != 0 || out != want {
					t.Fatalf("decrypt after unlock: %d %q", code, errs)
				}
				if _, errs, code := cliRun(t, env, "lock"); code != 0 || errs != "keyunlock: locked every key" {
					t.Fatalf("lock: %d %q", code, errs)
				}
				if _, _, code := cliRun(t, env, "decrypt", m.File); code == 0 {
					t.Fatal("decrypt succeeded after lock without a passphrase")
				}
			}
			// unlock with the wrong passphrase, then the right one.
			bad := filepath.Join(t.TempDir(), "bad")
			os.WriteFile(bad, []byte("wrong passphrase\n"), 0o600)
			if _, errs, code := cliRun(t, env, "unlock", "--passphrase-file", bad); code == 0 || !strings.Contains(errs, k.EncryptFpr) {
				t.Fatalf("unlock with a wrong passphrase: %d %q", code, errs)
			}
			// The primary key's fingerprint selects the encryption subkey.
			if _, errs, code := cliRun(t, env, "unlock", "--key-id", k.Fingerprint, "--passphrase-file", k.PassFile); code != 0 ||
				errs != fmt.Sprintf("keyunlock: unlocked %s (file %s)", k.EncryptFpr, k.KeyFile) && !strings.HasPrefix(errs, "keyunlock: unlocked "+k.EncryptFpr) {
				t.Fatalf("unlock: %d %q", code, errs)
			}
			do, _, _ = cliRun(t, env, "list")
			if !strings.Contains(do, "unlocked") {
				t.Fatalf("list after unlock: %s", do)
			}
			if out, errs, code := cliRun(t, env, "decrypt", k.Messages[0].File); code != 0 || out != string(fixtures.ReadFile(t, k.Messages[0].Plaintext)) {
				t.Fatalf("decrypt after unlock: %d %q", code, errs)
			}
		})
	}
}

// cryptsetupRead behaves like systemd-cryptsetup reading an AF_UNIX key file.
func cryptsetupRead(path, volume string) ([]byte, error) {
	return testenv.CryptsetupRead(context.Background(), path, volume, 30*time.Second)
}

// answerAsks plays a password agent: it answers every ask.* file in dir
// whose Message mentions fpr with "+secret", until ctx ends.
func answerAsks(ctx context.Context, t *testing.T, dir, fpr, secret string, asked chan<- map[string]string) {
	seen := map[string]bool{}
	for ctx.Err() == nil {
		files, _ := filepath.Glob(filepath.Join(dir, "ask.*"))
		for _, f := range files {
			if seen[f] {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			seen[f] = true
			fields := map[string]string{}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "="); ok {
					fields[k] = v
				}
			}
			asked <- fields
			c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: fields["Socket"], Net: "unixgram"})
			if err != nil {
				t.Errorf("agent: %v", err)
				continue
			}
			c.Write([]byte("+" + secret))
			c.Close()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDaemonKeyProvider(t *testing.T) {
	set := fixtures.Load(t)
	k := decryptableKeys(set)[0]
	keysDir := t.TempDir()
	m := k.Messages[0]
	want := fixtures.ReadFile(t, m.Plaintext)
	os.WriteFile(filepath.Join(keysDir, "cryptroot.pgp"), fixtures.ReadFile(t, m.File), 0o600)
	askDir := t.TempDir()
	d := startDaemon(t, "--key", k.KeyFile, "--luks-keys", keysDir, "--prompt", "agent", "--ask-password-dir", askDir)

	// The key is locked: the daemon asks through the password agent.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	asked := make(chan map[string]string, 4)
	go answerAsks(ctx, t, askDir, k.EncryptFpr, k.Passphrase, asked)
	got, err := cryptsetupRead(d.luks, "cryptroot")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("key provider gave %q, %v; want %q\n%s", got, err, want, d.Log())
	}
	select {
	case f := <-asked:
		if f["Id"] != "keyunlock:"+k.EncryptFpr || !strings.Contains(f["Message"], k.EncryptFpr) || f["AcceptCached"] != "0" || f["Echo"] != "0" {
			t.Fatalf("ask file: %v", f)
		}
		pid, _ := strconv.Atoi(f["PID"])
		if pid != d.cmd.Process.Pid {
			t.Fatalf("ask PID=%d, daemon %d", pid, d.cmd.Process.Pid)
		}
	default:
		t.Fatal("the daemon did not ask through the password agent")
	}
	cancel()
	// Unlocked now: a second volume sharing the key needs no prompt.
	os.WriteFile(filepath.Join(keysDir, "home.pgp"), fixtures.ReadFile(t, m.File), 0o600)
	if got, err := cryptsetupRead(d.luks, "home"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("second volume: %q, %v", got, err)
	}
	// Unknown volume: no key, closed connection, a log line.
	if got, err := cryptsetupRead(d.luks, "nosuchvolume"); err != nil || len(got) != 0 {
		t.Fatalf("unknown volume: %q, %v", got, err)
	}
	// The log travels through a pipe: give it a moment.
	if !d.waitLog(`volume "nosuchvolume"`) || !strings.Contains(d.Log(), "unknown volume") {
		t.Fatalf("no log line for the unknown volume:\n%s", d.Log())
	}
	if strings.Contains(d.Log(), k.Passphrase) || strings.Contains(d.Log(), string(want)) {
		t.Fatalf("a secret reached the log:\n%s", d.Log())
	}
}

func TestDaemonCacheTTL(t *testing.T) {
	set := fixtures.Load(t)
	k := decryptableKeys(set)[0]
	d := startDaemon(t, "--key", k.KeyFile, "--cache-ttl", "4s")
	env := []string{"KEYUNLOCK_SOCKET=" + d.socket}
	if _, errs, code := cliRun(t, env, "unlock", "--passphrase-file", k.PassFile); code != 0 {
		t.Fatalf("unlock: %q", errs)
	}
	if _, errs, code := cliRun(t, env, "decrypt", k.Messages[0].File); code != 0 {
		t.Fatalf("decrypt right after unlock: %q", errs)
	}
	time.Sleep(4500 * time.Millisecond)
	if _, errs, code := cliRun(t, env, "decrypt", k.Messages[0].File); code == 0 || !strings.Contains(errs, "locked") {
		t.Fatalf("decrypt after the TTL: %d %q (want a locked-key failure)", code, errs)
	}
}

// TestDaemonInitrd checks the root storage daemon mode: argv[0] starts with
// '@', the working directory is /, and no descriptor refers to a file (the
// keys and keyfiles are in memory).
func TestDaemonInitrd(t *testing.T) {
	testenv.RequireRoot(t) // /proc/PID/fd of a non-dumpable daemon is root's
	set := fixtures.Load(t)
	k := decryptableKeys(set)[0]
	keysDir := t.TempDir()
	os.WriteFile(filepath.Join(keysDir, "cryptroot.pgp"), fixtures.ReadFile(t, k.Messages[0].File), 0o600)
	d := startDaemon(t, "--initrd", "--key", k.KeyFile, "--luks-keys", keysDir, "--ask-password-dir", t.TempDir())
	pid := d.cmd.Process.Pid
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(cmdline, []byte("@keyunlock\x00serve\x00")) {
		t.Fatalf("cmdline %q does not start with @keyunlock", cmdline)
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != "/run" {
		t.Fatalf("cwd = %s, want /run (carried into the real root)", cwd)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue // closed meanwhile (a client connection ending)
		}
		switch {
		case strings.HasPrefix(target, "socket:"), strings.HasPrefix(target, "pipe:"),
			strings.HasPrefix(target, "anon_inode:"), target == "/dev/null",
			// API file systems are carried into the real root (the Go
			// runtime keeps cgroup CPU limit files open).
			strings.HasPrefix(target, "/sys/"), strings.HasPrefix(target, "/proc/"):
		default:
			t.Errorf("fd %s refers to %s", fd.Name(), target)
		}
	}
	// Keyfiles were loaded before serving: removing them changes nothing.
	os.RemoveAll(keysDir)
	if _, errs, code := cliRun(t, []string{"KEYUNLOCK_SOCKET=" + d.socket}, "unlock", "--passphrase-file", k.PassFile); code != 0 {
		t.Fatalf("unlock: %q", errs)
	}
	want := fixtures.ReadFile(t, k.Messages[0].Plaintext)
	if got, err := cryptsetupRead(d.luks, "cryptroot"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("key after removing the keyfile: %q, %v\n%s", got, err, d.Log())
	}
	st, err := func() (*core.DaemonStatus, error) {
		c, err := core.Dial(context.Background(), d.socket)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.Status(context.Background())
	}()
	if err != nil || !st.Initrd || !st.KeyProvider || st.PID != pid {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	out, errs, code := cliRun(t, nil, "status", "--socket", d.socket)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("pid %d", pid)) || !strings.Contains(out, "key provider: yes") ||
		!strings.Contains(out, "initrd:       yes") || !strings.Contains(out, "1 unlocked") {
		t.Fatalf("status: %d %q %q", code, out, errs)
	}
}

// TestDaemonSocketActivation passes the sockets the way systemd does
// (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) and checks both are served.
func TestDaemonSocketActivation(t *testing.T) {
	set := fixtures.Load(t)
	k := decryptableKeys(set)[0]
	dir := t.TempDir()
	keysDir := t.TempDir()
	os.WriteFile(filepath.Join(keysDir, "cryptroot.pgp"), fixtures.ReadFile(t, k.Messages[0].File), 0o600)
	mainPath, luksPath := filepath.Join(dir, "main.sock"), filepath.Join(dir, "luks.sock")
	files := make([]*os.File, 2)
	for i, p := range []string{mainPath, luksPath} {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f, err := l.File()
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	// LISTEN_PID must be the daemon's PID, known only after fork: a shell
	// sets it and execs, as systemd does.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, daemonBin(t), "serve",
		"--socket", filepath.Join(dir, "unused.sock"), "--key", k.KeyFile, "--luks-keys", keysDir)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=varlink:luks")
	cmd.ExtraFiles = files
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	env := []string{"KEYUNLOCK_SOCKET=" + mainPath}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, code := cliRun(t, env, "list"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("activated socket not served\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused.sock")); err == nil {
		t.Fatal("--socket was created although a socket was passed")
	}
	if _, errs, code := cliRun(t, env, "unlock", "--passphrase-file", k.PassFile); code != 0 {
		t.Fatalf("unlock: %q", errs)
	}
	want := fixtures.ReadFile(t, k.Messages[0].Plaintext)
	if got, err := cryptsetupRead(luksPath, "cryptroot"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("activated key socket: %q, %v\n%s", got, err, log.String())
	}
}

// TestDaemonSystemdSocketActivate starts the daemon the way systemd does,
// through systemd-socket-activate: the first connection to the key socket
// (systemd-cryptsetup's) starts it, with both sockets passed and named,
// and in initrd mode (re-executed as @keyunlock, keeping the sockets).
func TestDaemonSystemdSocketActivate(t *testing.T) {
	tools := testenv.RequireTool(t, "systemd-socket-activate")
	set := fixtures.Load(t)
	k := decryptableKeys(set)[0]
	dir := t.TempDir()
	keysDir := t.TempDir()
	os.WriteFile(filepath.Join(keysDir, "cryptroot.pgp"), fixtures.ReadFile(t, k.Messages[0].File), 0o600)
	mainPath, luksPath := filepath.Join(dir, "keyunlock.sock"), filepath.Join(dir, "luks.sock")
	askDir := t.TempDir()
	cmd := exec.Command(tools["systemd-socket-activate"], "-l", mainPath, "-l", luksPath, "--fdname=varlink:luks",
		daemonBin(t), "serve", "--initrd", "--socket", filepath.Join(dir, "unused.sock"), "--key", k.KeyFile,
		"--luks-keys", keysDir, "--prompt", "agent", "--ask-password-dir", askDir)
	var log syncBuffer
	cmd.Stderr = &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(luksPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate does not listen\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The key is locked: the activated daemon asks through the agent.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	asked := make(chan map[string]string, 4)
	go answerAsks(ctx, t, askDir, k.EncryptFpr, k.Passphrase, asked)
	want := fixtures.ReadFile(t, k.Messages[0].Plaintext)
	if got, err := cryptsetupRead(luksPath, "cryptroot"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("key from the activated daemon: %q, %v\n%s", got, err, log.String())
	}
	cancel()
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	if !bytes.HasPrefix(cmdline, []byte("@keyunlock\x00serve\x00")) {
		t.Fatalf("activated daemon's cmdline %q", cmdline)
	}
	if out, errs, code := cliRun(t, []string{"KEYUNLOCK_SOCKET=" + mainPath}, "list"); code != 0 || !strings.Contains(out, "unlocked") {
		t.Fatalf("list on the activated varlink socket: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused.sock")); err == nil {
		t.Fatal("--socket was created although a socket was passed")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
