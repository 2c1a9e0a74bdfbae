package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/sys/unix"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// keyunlockBin is the real binary: $KEYUNLOCK_TEST_BIN (make's build) or
// one built by TestMain.
var keyunlockBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyunlock-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keyunlockBin, err = testenv.Binary(".", filepath.Join(dir, "keyunlock"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "keyunlock binary: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	stdout []byte
	stderr string
	code   int
}

// errLines returns stderr without the hardening warnings, which depend on
// the privileges the tests run with.
func (r result) errLines() []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "keyunlock: warning:") {
			out = append(out, l)
		}
	}
	return out
}

// run runs keyunlock with stdin and args, in dir when not empty.
func run(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(keyunlockBin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.Env = append(os.Environ(), "KEYUNLOCK_KEYS=/nonexistent/keyunlock-test")
	err := cmd.Run()
	r := result{stdout: so.Bytes(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustFail checks the failure contract: non-zero exit, nothing on stdout,
// one line on stderr that says want.
func mustFail(t *testing.T, r result, want string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit 0, want failure; stderr %q", r.stderr)
	}
	if len(r.stdout) != 0 {
		t.Fatalf("%d bytes on stdout after a failure", len(r.stdout))
	}
	lines := r.errLines()
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want one: %q", len(lines), r.stderr)
	}
	if !strings.Contains(lines[0], want) {
		t.Fatalf("stderr %q does not say %q", lines[0], want)
	}
}

// testKey is a generated key pair written to files.
type testKey struct {
	entity     *openpgp.Entity
	secretFile string // armored, passphrase-protected unless passphrase is ""
	certFile   string // armored public certificate
	passFile   string
	passphrase string
	subFpr     string // the encryption subkey's fingerprint
}

func writeArmored(t *testing.T, path, blockType string, write func(w *bytes.Buffer) error) {
	t.Helper()
	var raw bytes.Buffer
	if err := write(&raw); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		t.Fatal(err)
	}
	aw.Write(raw.Bytes())
	aw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newKey makes a key pair: v4 Ed25519+cv25519, or v6 Ed25519+X25519.
func newKey(t *testing.T, dir, name, passphrase string, v6 bool, cfg *packet.Config) *testKey {
	t.Helper()
	if cfg == nil {
		cfg = &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
		if v6 {
			cfg = &packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519, AEADConfig: &packet.AEADConfig{}}
		}
	}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := &testKey{entity: e, passphrase: passphrase, subFpr: fmt.Sprintf("%X", e.Subkeys[0].PublicKey.Fingerprint)}
	k.certFile = filepath.Join(dir, name+".cert.asc")
	writeArmored(t, k.certFile, "PGP PUBLIC KEY BLOCK", func(w *bytes.Buffer) error { return e.Serialize(w) })
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), &packet.Config{S2KConfig: nil}); err != nil {
			t.Fatal(err)
		}
		k.passFile = filepath.Join(dir, name+".pass")
		if err := os.WriteFile(k.passFile, []byte(passphrase+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k.secretFile = filepath.Join(dir, name+".key.asc")
	writeArmored(t, k.secretFile, "PGP PRIVATE KEY BLOCK", func(w *bytes.Buffer) error { return e.SerializePrivateWithoutSigning(w, nil) })
	return k
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// encryptWithCLI encrypts plain to the certs with "keyunlock encrypt".
func encryptWithCLI(t *testing.T, dir string, plain []byte, certs ...string) string {
	t.Helper()
	in := filepath.Join(dir, "plain.bin")
	if err := os.WriteFile(in, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, fmt.Sprintf("msg-%x.pgp", randomBytes(4)))
	args := []string{"encrypt"}
	for _, c := range certs {
		args = append(args, "--recipient", c)
	}
	r := run(t, nil, append(args, "-o", out, in)...)
	if r.code != 0 {
		t.Fatalf("encrypt failed: %s", r.stderr)
	}
	return out
}

func TestDecryptRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, v6 := range []bool{false, true} {
		k := newKey(t, dir, fmt.Sprintf("rt%v", v6), "correct horse", v6, nil)
		plain := randomBytes(64)
		msg := encryptWithCLI(t, dir, plain, k.certFile)
		r := run(t, nil, "decrypt", "--key", k.secretFile, "--passphrase-file", k.passFile, msg)
		if r.code != 0 || !bytes.Equal(r.stdout, plain) {
			t.Fatalf("v6=%v: exit %d, stdout %x, stderr %q", v6, r.code, r.stdout, r.stderr)
		}
		if lines := r.errLines(); len(lines) != 1 || !strings.Contains(lines[0], "decrypted with "+k.subFpr) {
			t.Fatalf("stderr %q does not name the key", r.stderr)
		}
		// -q: nothing on stderr; stdin input; flags after the argument.
		data, _ := os.ReadFile(msg)
		r = run(t, data, "decrypt", "-q", "--key", k.secretFile, "--passphrase-file", k.passFile)
		if r.code != 0 || !bytes.Equal(r.stdout, plain) || len(r.errLines()) != 0 {
			t.Fatalf("stdin, -q: exit %d, stderr %q", r.code, r.stderr)
		}
		out := filepath.Join(dir, "out.key")
		r = run(t, nil, "decrypt", msg, "--key", k.secretFile, "--passphrase-file", k.passFile, "-o", out)
		if got, _ := os.ReadFile(out); r.code != 0 || len(r.stdout) != 0 || !bytes.Equal(got, plain) {
			t.Fatalf("-o: exit %d, stderr %q", r.code, r.stderr)
		}
		if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
			t.Fatalf("OUT mode %v, want 0600", st.Mode().Perm())
		}
		os.Remove(out)
	}
}

func TestDecryptPassphraseFD(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "fd", "pass on fd", false, nil)
	plain := randomBytes(64)
	msg := encryptWithCLI(t, dir, plain, k.certFile)
	pf, err := os.Open(k.passFile)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	cmd := exec.Command(keyunlockBin, "decrypt", "--key", k.secretFile, "--passphrase-fd", "3", msg)
	cmd.ExtraFiles = []*os.File{pf}
	var so bytes.Buffer
	cmd.Stdout = &so
	if err := cmd.Run(); err != nil || !bytes.Equal(so.Bytes(), plain) {
		t.Fatalf("--passphrase-fd 3: %v", err)
	}
}

func TestDecryptSeveralRecipients(t *testing.T) {
	dir := t.TempDir()
	a := newKey(t, dir, "alice", "pa", false, nil)
	b := newKey(t, dir, "bob", "pb", true, nil)
	plain := randomBytes(64)
	msg := encryptWithCLI(t, dir, plain, a.certFile, b.certFile)
	r := run(t, nil, "decrypt", "--key", b.secretFile, "--passphrase-file", b.passFile, msg)
	if r.code != 0 || !bytes.Equal(r.stdout, plain) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "decrypted with "+b.subFpr) || !strings.Contains(r.stderr, b.secretFile) {
		t.Fatalf("stderr %q does not name B and its file", r.stderr)
	}
}

func TestDecryptFailures(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "k", "right", false, nil)
	k6 := newKey(t, dir, "k6", "right6", true, nil)
	other := newKey(t, dir, "other", "po", false, nil)
	plain := randomBytes(64)
	msg := encryptWithCLI(t, dir, plain, k.certFile)
	msg6 := encryptWithCLI(t, dir, plain, k6.certFile)
	data, _ := os.ReadFile(msg)
	data6, _ := os.ReadFile(msg6)

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flip := func(b []byte, pos int) []byte {
		c := bytes.Clone(b)
		c[pos] ^= 0x04
		return c
	}
	wrongPass := write("wrong.pass", []byte("wrong\n"))
	huge := append([]byte{0xC1, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF}, make([]byte, 200)...)

	cases := []struct {
		name string
		in   string
		key  *testKey
		pass string
		want string
	}{
		{"truncated", write("trunc.pgp", data[:len(data)-30]), k, k.passFile, "message is truncated"},
		{"flipped bit MDC", write("flip.pgp", flip(data, len(data)-40)), k, k.passFile, "message integrity check failed (MDC): the file is corrupted or was tampered with"},
		{"flipped bit AEAD", write("flip6.pgp", flip(data6, len(data6)-40)), k6, k6.passFile, "message integrity check failed (AEAD)"},
		{"garbage", write("garbage.pgp", append([]byte{0x3c}, randomBytes(500)...)), k, k.passFile, "not an OpenPGP message"},
		{"empty", write("empty.pgp", nil), k, k.passFile, "input is empty"},
		{"huge length", write("huge.pgp", huge), k, k.passFile, "packet declares 2147483647 bytes, more than the 16 MiB limit"},
		{"wrong key", msg, other, other.passFile, "no usable key for this message"},
		{"wrong passphrase", msg, k, wrongPass, "wrong passphrase"},
		{"missing input", filepath.Join(dir, "nope.pgp"), k, k.passFile, "nope.pgp: no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.key")
			r := run(t, nil, "decrypt", "--key", c.key.secretFile, "--passphrase-file", c.pass, "-o", out, c.in)
			mustFail(t, r, c.want)
			ents, _ := os.ReadDir(filepath.Dir(out))
			if len(ents) != 0 {
				t.Fatalf("left behind %v", ents[0].Name())
			}
			// The same on stdout.
			r = run(t, nil, "decrypt", "--key", c.key.secretFile, "--passphrase-file", c.pass, c.in)
			mustFail(t, r, c.want)
		})
	}
	t.Run("wrong passphrase names the key", func(t *testing.T) {
		r := run(t, nil, "decrypt", "--key", k.secretFile, "--passphrase-file", wrongPass, msg)
		mustFail(t, r, k.subFpr)
	})
	t.Run("no passphrase and no terminal", func(t *testing.T) {
		cmd := exec.Command("setsid", keyunlockBin, "decrypt", "--key", k.secretFile, msg)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		if err == nil || so.Len() != 0 || !strings.Contains(se.String(), "--passphrase-file") {
			t.Fatalf("err %v, stderr %q", err, se.String())
		}
	})
}

func TestDecryptUnreadableKeyFile(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.d")
	os.Mkdir(keys, 0o700)
	k := newKey(t, dir, "k", "", false, nil)
	msg := encryptWithCLI(t, dir, randomBytes(64), k.certFile)
	data, _ := os.ReadFile(k.secretFile)
	os.WriteFile(filepath.Join(keys, "good.asc"), data, 0o600)
	// Root reads a 0000 file, so make the file unreadable for everybody:
	// a symbolic link to nowhere.
	dangling := filepath.Join(keys, "broken.asc")
	if err := os.Symlink(filepath.Join(dir, "gone"), dangling); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "decrypt", "--key", keys, msg)
	mustFail(t, r, "broken.asc")
	r = run(t, nil, "list", "--key", keys)
	if r.code == 0 || !strings.Contains(r.stderr, "broken.asc") {
		t.Fatalf("list: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestDefaultKeyLocation(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "k", "", false, nil)
	plain := randomBytes(64)
	msg := encryptWithCLI(t, dir, plain, k.certFile)
	cmd := exec.Command(keyunlockBin, "decrypt", msg)
	cmd.Env = append(os.Environ(), "KEYUNLOCK_KEYS="+k.secretFile)
	out, err := cmd.Output()
	if err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("$KEYUNLOCK_KEYS: %v", err)
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "k", "pw", false, nil)
	k6 := newKey(t, dir, "k6", "", true, nil)
	r := run(t, nil, "list", "--key", k.secretFile, "--key", k6.secretFile)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := string(r.stdout)
	for _, want := range []struct{ fpr, algo, state string }{
		{k.subFpr, "cv25519", "locked (password)"},
		{k6.subFpr, "x25519", "unlocked"},
	} {
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, want.fpr) {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, want.algo) || !strings.Contains(line, want.state) || !strings.Contains(line, "encrypt") {
			t.Errorf("no line %v in:\n%s", want, out)
		}
	}
}

func TestEncryptRefusesBadCerts(t *testing.T) {
	dir := t.TempDir()
	past := time.Now().Add(-48 * time.Hour)
	expired := newKey(t, dir, "expired", "", false, &packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		Time: func() time.Time { return past }, KeyLifetimeSecs: 3600,
	})
	revoked := newKey(t, dir, "revoked", "", false, nil)
	if err := revoked.entity.RevokeKey(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	writeArmored(t, revoked.certFile, "PGP PUBLIC KEY BLOCK", func(w *bytes.Buffer) error { return revoked.entity.Serialize(w) })
	good := newKey(t, dir, "good", "", false, nil)
	for _, c := range []struct {
		cert, want string
	}{
		{expired.certFile, "expired on"},
		{revoked.certFile, "is revoked"},
		{filepath.Join(dir, "missing.asc"), "missing.asc: no such file"},
		{good.secretFile + "x", "no such file"},
	} {
		out := filepath.Join(dir, "out.pgp")
		r := run(t, nil, "encrypt", "--recipient", good.certFile, "--recipient", c.cert, "-o", out)
		mustFail(t, r, c.want)
		if !strings.Contains(r.stderr, filepath.Base(c.cert)) {
			t.Errorf("error %q does not name %s", r.stderr, c.cert)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("output written despite the error")
		}
	}
}

func TestEncryptGenerates64Bytes(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "k", "", false, nil)
	out := filepath.Join(dir, "new.pgp")
	r := run(t, nil, "encrypt", "--armor", "--recipient", k.certFile, "-o", out)
	if r.code != 0 || !strings.Contains(r.stderr, "cryptsetup luksAddKey") || len(r.stdout) != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	data, _ := os.ReadFile(out)
	if !bytes.HasPrefix(data, []byte("-----BEGIN PGP MESSAGE-----")) {
		t.Fatalf("--armor output starts %q", data[:min(len(data), 30)])
	}
	r = run(t, nil, "decrypt", "--key", k.secretFile, out)
	if r.code != 0 || len(r.stdout) != 64 {
		t.Fatalf("decrypting the generated keyfile: exit %d, %d bytes, %s", r.code, len(r.stdout), r.stderr)
	}
	// gpg's short flags, output on stdout.
	r = run(t, nil, "encrypt", "-a", "-r", k.certFile)
	if r.code != 0 || !bytes.HasPrefix(r.stdout, []byte("-----BEGIN PGP MESSAGE-----")) {
		t.Fatalf("-a -r: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	for _, c := range []string{"decrypt", "list", "encrypt"} {
		r := run(t, nil, c, "--help")
		if r.code != 0 || !strings.Contains(string(r.stdout), "Examples:") || !strings.Contains(string(r.stdout), "keyunlock "+c) {
			t.Errorf("%s --help: exit %d, %q", c, r.code, r.stdout)
		}
	}
	r := run(t, nil, "decrypt", "--bogus")
	if r.code != 2 || !strings.Contains(r.stderr, "--help") {
		t.Errorf("bad flag: exit %d, %q", r.code, r.stderr)
	}
}

func TestDemoKeyfile(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo")
	r := run(t, nil, "decrypt", "--key", filepath.Join(demo, "key.asc"), "--passphrase-file", filepath.Join(demo, "passphrase"), filepath.Join(demo, "keyfile.pgp"))
	if r.code != 0 || len(r.stdout) != 64 {
		t.Fatalf("exit %d, %d bytes, stderr %q", r.code, len(r.stdout), r.stderr)
	}
	want, err := os.ReadFile(filepath.Join(demo, "keyfile.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(r.stdout)); got != strings.TrimSpace(string(want)) {
		t.Fatalf("demo plaintext hashes to %s, want %s", got, want)
	}
}

// openPTY returns the master and slave ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.Unavailable(t, "pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestTerminalPrompt types the passphrase on a pseudo-terminal once the
// prompt is shown and checks that it is not echoed.
func TestTerminalPrompt(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "tty", "typed-on-the-tty", false, nil)
	plain := randomBytes(64)
	msg := encryptWithCLI(t, dir, plain, k.certFile)
	out := filepath.Join(dir, "out.key")

	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(keyunlockBin, "decrypt", "--key", k.secretFile, "-o", out, msg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var transcript []byte
	buf := make([]byte, 4096)
	typed := false
	for {
		master.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := master.Read(buf)
		transcript = append(transcript, buf[:n]...)
		if !typed && bytes.Contains(transcript, []byte("Enter the passphrase for key "+k.subFpr)) {
			master.Write([]byte("typed-on-the-tty\n"))
			typed = true
		}
		if err != nil { // EIO once the child has exited
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("%v: %q", err, transcript)
	}
	if !typed {
		t.Fatalf("no prompt naming the key in %q", transcript)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, plain) {
		t.Fatalf("wrong plaintext; transcript %q", transcript)
	}
	if bytes.Contains(transcript, []byte("typed-on-the-tty")) {
		t.Fatalf("the passphrase was echoed: %q", transcript)
	}
}

// TestLUKSEnrolment follows the enrolment that "keyunlock encrypt" prints
// on a LUKS1 image file: the new key is added with cryptsetup luksAddKey,
// and "keyunlock decrypt | cryptsetup open --key-file=-" opens the volume
// (checked with --test-passphrase, which needs no device mapper).
func TestLUKSEnrolment(t *testing.T) {
	testenv.RequireTool(t, "cryptsetup")
	dir := t.TempDir()
	k := newKey(t, dir, "luks", "pw", false, nil)
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old.pass")
	os.WriteFile(old, []byte("old passphrase"), 0o600)
	cs := func(stdin []byte, args ...string) error {
		c := exec.Command("cryptsetup", args...)
		c.Stdin = bytes.NewReader(stdin)
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("cryptsetup %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := cs(nil, "luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations", "1000", "--key-file", old, img); err != nil {
		t.Fatal(err)
	}
	pgp := filepath.Join(dir, "root.pgp")
	r := run(t, nil, "encrypt", "--recipient", k.certFile, "-o", pgp)
	if r.code != 0 || !strings.Contains(r.stderr, "cryptsetup luksAddKey DEVICE") {
		t.Fatalf("encrypt: %d %q", r.code, r.stderr)
	}
	newKeyFile := filepath.Join(dir, "new.key")
	if r := run(t, nil, "decrypt", "--key", k.secretFile, "--passphrase-file", k.passFile, "-o", newKeyFile, pgp); r.code != 0 {
		t.Fatalf("decrypt: %q", r.stderr)
	}
	if err := cs(nil, "luksAddKey", "-q", "--key-file", old, "--pbkdf-force-iterations", "1000", img, newKeyFile); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, "decrypt", "-q", "--key", k.secretFile, "--passphrase-file", k.passFile, pgp)
	if r.code != 0 {
		t.Fatalf("decrypt: %q", r.stderr)
	}
	if err := cs(r.stdout, "open", "--test-passphrase", "--key-file=-", img); err != nil {
		t.Fatalf("the decrypted keyfile does not open the volume: %v", err)
	}
	if err := cs(randomBytes(64), "open", "--test-passphrase", "--key-file=-", img); err == nil {
		t.Fatal("a random key opened the volume")
	}
}

// TestTerminalPromptInterrupt presses Ctrl-C at the prompt: keyunlock must
// exit at once with an error, write nothing, and turn echo back on.
func TestTerminalPromptInterrupt(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "int", "never-typed", false, nil)
	msg := encryptWithCLI(t, dir, randomBytes(64), k.certFile)
	out := filepath.Join(dir, "out.key")
	master, slave := openPTY(t)
	defer master.Close()
	defer slave.Close()
	cmd := exec.Command(keyunlockBin, "decrypt", "--key", k.secretFile, "-o", out, msg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var transcript []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(transcript, []byte("Enter the passphrase")) {
		master.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := master.Read(buf)
		transcript = append(transcript, buf[:n]...)
		if err != nil {
			t.Fatalf("no prompt: %v %q", err, transcript)
		}
	}
	master.Write([]byte{0x03}) // Ctrl-C: SIGINT to the foreground process group
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("exit 0 after Ctrl-C")
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("Ctrl-C at the prompt did not stop keyunlock")
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&unix.ECHO == 0 {
		t.Fatal("echo left off after Ctrl-C")
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("OUT written after Ctrl-C")
	}
}

// TestTerminalPromptReadOnlyStdin runs keyunlock as an initrd hook does: no
// controlling terminal, stdin a terminal opened read-only (< /dev/console),
// stdout a pipe. The prompt must still reach the terminal, and the typed
// passphrase must unlock.
func TestTerminalPromptReadOnlyStdin(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "console", "typed-on-the-console", false, nil)
	plain := randomBytes(64)
	msg := encryptWithCLI(t, dir, plain, k.certFile)

	master, slave := openPTY(t)
	defer master.Close()
	ro, err := os.OpenFile(slave.Name(), os.O_RDONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(keyunlockBin, "decrypt", "-q", "--key", k.secretFile, msg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = ro, &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ro.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// A keyunlock whose prompt went nowhere waits for input forever: end it,
	// which also ends the reads below (the terminal's last user is gone).
	stop := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer stop.Stop()

	var transcript []byte
	buf := make([]byte, 4096)
	typed := false
	for !typed {
		master.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := master.Read(buf)
		transcript = append(transcript, buf[:n]...)
		if bytes.Contains(transcript, []byte("Enter the passphrase for key "+k.subFpr)) {
			master.Write([]byte("typed-on-the-console\n"))
			typed = true
		}
		if err != nil {
			break
		}
	}
	if !typed {
		cmd.Process.Kill()
		<-done
		t.Fatalf("no prompt naming the key reached the terminal: transcript %q, stderr %q", transcript, stderr.String())
	}
	if err := <-done; err != nil {
		t.Fatalf("exit %v, transcript %q, stderr %q", err, transcript, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), plain) {
		t.Fatalf("wrong plaintext on stdout; stderr %q", stderr.String())
	}
}
