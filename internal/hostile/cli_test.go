package hostile

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/ecdh"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// keyunlockBin returns the real binary, as CI ships it: $KEYUNLOCK_TEST_BIN
// (make's build) or one built once here.
func keyunlockBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "keyunlock-hostile-")
		if binErr != nil {
			return
		}
		binPath, binErr = testenv.Binary("../../cmd/keyunlock", filepath.Join(binDir, "keyunlock"))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// cliResult is one run of the binary.
type cliResult struct {
	args           []string
	stdout, stderr []byte
	code           int
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, nil, args...)
}

// runCLIEnv runs the binary with extra environment variables.
func runCLIEnv(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, keyunlockBin(t), args...)
	cmd.Env = append(append(os.Environ(), "KEYUNLOCK_KEYS=/nonexistent/keyunlock-hostile"), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := cliResult{args: args, stdout: so.Bytes(), stderr: se.Bytes()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("keyunlock %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("keyunlock %v: no exit within 60 s (hang)", args)
	}
	return r
}

// TestHostileCLI runs "keyunlock decrypt" on every corpus message, to
// stdout and with -o: a hostile message gives a non-zero exit, an error on
// stderr, nothing on stdout and no output file.
func TestHostileCLI(t *testing.T) {
	m := load(t)
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte(m.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Entries {
		if e.Kind != KindMessage {
			continue
		}
		t.Run(strings.TrimPrefix(e.File, "messages/"), func(t *testing.T) {
			msg := filepath.Join(corpusDir, e.File)
			key := filepath.Join(corpusDir, e.Key)
			r := runCLI(t, "decrypt", "-q", "--key", key, "--passphrase-file", pass, msg)
			out := filepath.Join(dir, strings.ReplaceAll(e.File, "/", "_")+".out")
			ro := runCLI(t, "decrypt", "-q", "--key", key, "--passphrase-file", pass, "-o", out, msg)
			_, statErr := os.Stat(out)
			if e.Class == ClassOK {
				if r.code != 0 || ro.code != 0 {
					t.Fatalf("exit %d/%d on a valid message: %s%s", r.code, ro.code, r.stderr, ro.stderr)
				}
				if !bytes.HasPrefix(r.stdout, []byte(m.Plaintext)) {
					t.Errorf("stdout %q is not the plaintext", trim(r.stdout))
				}
				if statErr != nil {
					t.Errorf("-o: %v", statErr)
				}
				return
			}
			for _, x := range []cliResult{r, ro} {
				if x.code == 0 {
					t.Errorf("keyunlock %v: exit 0 on a hostile message", x.args)
				}
				if len(x.stdout) != 0 {
					t.Errorf("keyunlock %v wrote %d bytes to stdout: %q", x.args, len(x.stdout), trim(x.stdout))
				}
				if len(bytes.TrimSpace(x.stderr)) == 0 {
					t.Errorf("keyunlock %v failed without a message", x.args)
				}
				if bytes.Contains(x.stderr, []byte(strings.TrimSpace(m.Plaintext))) {
					t.Errorf("keyunlock %v printed the plaintext on stderr", x.args)
				}
			}
			if statErr == nil {
				t.Errorf("-o %s was written for a hostile message", out)
			}
		})
	}
}

// secretSet is a soft key with a known passphrase and secret scalar, and
// a message to it with a known session key.
type secretSet struct {
	dir        string
	keyFile    string
	passFile   string
	wrongFile  string
	msg        string // a valid message
	tampered   string // the same with its MDC broken: the session key is recovered, then refused
	plaintext  []byte
	secrets    map[string][]byte // name → secret bytes that must never be printed
	passphrase string
}

func newSecretSet(t *testing.T) *secretSet {
	t.Helper()
	s := &secretSet{dir: t.TempDir(), secrets: map[string][]byte{}}
	s.passphrase = "Correct-Horse-7781-passphrase"
	wrong := "Wrong-Battery-4410-passphrase"
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	e, err := openpgp.NewEntity("Secret Test", "", "secret@keyunlock.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	sub := e.Subkeys[0].PrivateKey
	if d, ok := sub.PrivateKey.(*ecdh.PrivateKey); ok {
		s.secrets["the subkey's secret scalar"] = bytes.Clone(d.D)
	}
	if err := e.EncryptPrivateKeys([]byte(s.passphrase), &packet.Config{S2KConfig: &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, S2KCount: 65536}}); err != nil {
		t.Fatal(err)
	}
	var kb bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&kb, nil); err != nil {
		t.Fatal(err)
	}
	s.keyFile = filepath.Join(s.dir, "key.pgp")
	s.passFile = filepath.Join(s.dir, "pass")
	s.wrongFile = filepath.Join(s.dir, "wrong")
	for p, b := range map[string][]byte{s.keyFile: kb.Bytes(), s.passFile: []byte(s.passphrase + "\n"), s.wrongFile: []byte(wrong + "\n")} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.secrets["the passphrase"] = []byte(s.passphrase)
	s.secrets["the wrong passphrase"] = []byte(wrong)

	sk := make([]byte, 32)
	rand.Read(sk)
	s.secrets["the session key"] = sk
	s.plaintext = []byte("LUKS-KEYFILE-" + hex.EncodeToString(sk[:4]) + "-plaintext-never-in-logs")
	var mb bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&mb, &sub.PublicKey, packet.CipherAES256, false, sk, nil); err != nil {
		t.Fatal(err)
	}
	w, err := packet.SerializeSymmetricallyEncrypted(&mb, packet.CipherAES256, false, packet.CipherSuite{}, sk, nil)
	if err != nil {
		t.Fatal(err)
	}
	lw, _ := packet.SerializeLiteral(w, true, "", 0)
	lw.Write(s.plaintext)
	lw.Close()
	s.msg = filepath.Join(s.dir, "msg.pgp")
	s.tampered = filepath.Join(s.dir, "tampered.pgp")
	msg := mb.Bytes()
	bad := bytes.Clone(msg)
	bad[len(bad)-1] ^= 1
	os.WriteFile(s.msg, msg, 0o644)
	os.WriteFile(s.tampered, bad, 0o644)
	return s
}

// forms returns the secret as raw bytes, hex and base64.
func forms(b []byte) [][]byte {
	return [][]byte{b,
		[]byte(hex.EncodeToString(b)), []byte(strings.ToUpper(hex.EncodeToString(b))),
		[]byte(base64.StdEncoding.EncodeToString(b)), []byte(base64.RawStdEncoding.EncodeToString(b)),
		[]byte(base64.URLEncoding.EncodeToString(b)), []byte(base64.RawURLEncoding.EncodeToString(b))}
}

// checkClean fails when any secret, in any form, appears in out.
func (s *secretSet) checkClean(t *testing.T, what string, out []byte, plaintextAllowed bool) {
	t.Helper()
	for name, sec := range s.secrets {
		for _, f := range forms(sec) {
			if bytes.Contains(out, f) {
				t.Errorf("%s contains %s (%q)", what, name, f)
			}
		}
	}
	if !plaintextAllowed && bytes.Contains(out, s.plaintext) {
		t.Errorf("%s contains the plaintext", what)
	}
}

// checker returns a check of one keyunlock run: its exit status as wanted,
// no secret in its stderr or stdout, and the plaintext on stdout exactly
// when plaintextOnStdout is set.
func (s *secretSet) checker(t *testing.T) func(r cliResult, wantOK, plaintextOnStdout bool) {
	return func(r cliResult, wantOK, plaintextOnStdout bool) {
		t.Helper()
		if (r.code == 0) != wantOK {
			t.Errorf("keyunlock %v: exit %d\n%s", r.args, r.code, r.stderr)
		}
		s.checkClean(t, fmt.Sprintf("stderr of keyunlock %v", r.args), r.stderr, false)
		s.checkClean(t, fmt.Sprintf("stdout of keyunlock %v", r.args), r.stdout, plaintextOnStdout)
		if plaintextOnStdout && !bytes.Equal(r.stdout, s.plaintext) {
			t.Errorf("keyunlock %v: stdout %q, want the plaintext", r.args, trim(r.stdout))
		}
	}
}

// serve starts `keyunlock serve` on a socket in s.dir with the backend
// flags given, prompting through the password agent, with env added to
// the environment, and returns the socket once it answers. When the test
// ends the daemon is stopped and its log must be free of secrets.
func (s *secretSet) serve(t *testing.T, env []string, backend ...string) string {
	t.Helper()
	sock := filepath.Join(s.dir, "keyunlock.sock")
	args := append(append([]string{"serve", "--socket", sock}, backend...), "--prompt", "agent", "--ask-password-dir", filepath.Join(s.dir, "ask"))
	var log syncBuffer
	d := exec.Command(keyunlockBin(t), args...)
	d.Env = append(os.Environ(), env...)
	d.Stdout, d.Stderr = &log, &log
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { d.Wait(); close(done) }()
	t.Cleanup(func() {
		d.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.Process.Kill()
			<-done
		}
		s.checkClean(t, "the daemon's log", log.Bytes(), false)
		t.Logf("daemon log:\n%s", log.Bytes())
	})
	waitSocket(t, sock, done)
	return sock
}

// TestNoSecretInOutput runs the binary's succeeding and failing commands,
// co-located and through the daemon, and searches every output stream and
// the daemon's log for the passphrases, the session key, the secret key
// scalar (raw, hex and base64) and the plaintext.
func TestNoSecretInOutput(t *testing.T) {
	s := newSecretSet(t)
	check := s.checker(t)
	out := filepath.Join(s.dir, "out")
	check(runCLI(t, "decrypt", "--key", s.keyFile, "--passphrase-file", s.passFile, s.msg), true, true)
	check(runCLI(t, "decrypt", "--key", s.keyFile, "--passphrase-file", s.passFile, "-o", out, s.msg), true, false)
	check(runCLI(t, "decrypt", "--key", s.keyFile, "--passphrase-file", s.wrongFile, s.msg), false, false)
	check(runCLI(t, "decrypt", "--key", s.keyFile, "--passphrase-file", s.passFile, s.tampered), false, false)
	check(runCLI(t, "decrypt", "--key", s.keyFile, s.msg), false, false) // no terminal, no passphrase
	check(runCLI(t, "list", "--key", s.keyFile), true, false)
	check(runCLI(t, "unlock", "--key", s.keyFile, "--passphrase-file", s.wrongFile), false, false)
	check(runCLI(t, "unlock", "--key", s.keyFile, "--passphrase-file", s.passFile), true, false)

	// The daemon: wrong and right passphrases, decryptions, a tampered
	// message; then its log.
	sock := s.serve(t, nil, "--key", s.keyFile)
	check(runCLI(t, "unlock", "--socket", sock, "--passphrase-file", s.wrongFile), false, false)
	check(runCLI(t, "decrypt", "--socket", sock, s.msg), false, false) // still locked, no prompt possible
	check(runCLI(t, "unlock", "--socket", sock, "--passphrase-file", s.passFile), true, false)
	check(runCLI(t, "list", "--socket", sock), true, false)
	check(runCLI(t, "decrypt", "--socket", sock, s.msg), true, true)
	check(runCLI(t, "decrypt", "--socket", sock, s.tampered), false, false)
	check(runCLI(t, "lock", "--socket", sock), true, false)
}

func waitSocket(t *testing.T, sock string, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := core.Dial(context.Background(), sock); err == nil {
			err = c.Ping(context.Background())
			c.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-done:
			t.Fatal("keyunlock serve exited")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyunlock serve does not answer on %s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a process's
// stdout and stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

var _ io.Writer = (*syncBuffer)(nil)
