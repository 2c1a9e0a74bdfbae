package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/card/sim/simtest"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/internal/pgptest"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestCardStatusAgreesWithGnuPG reads a simulated card through a real
// pcscd with keyunlock card status and with gpg --card-status (scdaemon
// over PC/SC), and compares serial, fingerprints and PIN retry counters.
func TestCardStatusAgreesWithGnuPG(t *testing.T) {
	tools := testenv.RequireTool(t, "gpg", "gpgconf")
	srv := pcsctest.Start(t)
	c, err := sim.New(t.TempDir(), sim.Options{Serial: 0x10203040})
	if err != nil {
		t.Fatal(err)
	}
	e, err := openpgp.NewEntity("Status", "", "status@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportKey(sim.SlotSig, e.PrivateKey); err != nil {
		t.Fatal(err)
	}
	if err := c.ImportKey(sim.SlotDec, e.Subkeys[0].PrivateKey); err != nil {
		t.Fatal(err)
	}
	srv.InsertCard(t, 0, c)
	// One wrong PIN, so that the counters are not the factory ones.
	c.Transmit([]byte{0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01})
	c.Transmit(append([]byte{0x00, 0x20, 0x00, 0x82, 0x06}, "000000"...))
	c.Reset()
	t.Setenv("PCSCLITE_CSOCK_NAME", srv.Socket)

	var out, errb bytes.Buffer
	if code := runMain(context.Background(), &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, []string{"card", "status"}); code != 0 {
		t.Fatalf("card status: exit %d: %s", code, errb.String())
	}
	ours := out.String()

	home, err := os.MkdirTemp("", "kus")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	os.Chmod(home, 0o700)
	os.WriteFile(home+"/scdaemon.conf", []byte("disable-ccid\npcsc-shared\n"), 0o600)
	defer exec.Command(tools["gpgconf"], "--homedir", home, "--kill", "all").Run()
	cmd := exec.Command(tools["gpg"], "--homedir", home, "--batch", "--card-status")
	cmd.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+srv.Socket)
	var gerr bytes.Buffer
	cmd.Stderr = &gerr
	g, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg --card-status: %v\n%s", err, gerr.String())
	}
	theirs := string(g)
	field := func(text, label string) string {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `[ .]*: *(.*)$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %q in:\n%s", label, text)
		}
		return strings.TrimSpace(m[1])
	}
	norm := func(s string) string { return strings.ReplaceAll(strings.ToUpper(s), " ", "") }
	for _, label := range []string{"Serial number", "Signature key", "Encryption key", "Authentication key", "PIN retry counter"} {
		a, b := field(ours, label), field(theirs, label)
		if label == "PIN retry counter" {
			a, b = strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " ")
		} else {
			a, b = norm(a), norm(b)
		}
		if a != b {
			t.Errorf("%s: keyunlock %q, gpg %q", label, a, b)
		}
	}
	if got := field(ours, "PIN retry counter"); got != "2 0 3" {
		t.Errorf("retry counters %q, want 2 0 3", got)
	}
	if field(ours, "Serial number") != "10203040" {
		t.Errorf("serial %q", field(ours, "Serial number"))
	}
	t.Logf("keyunlock:\n%s\ngpg:\n%s", ours, theirs)
}

// TestDecryptWithCard runs the static binary: keyunlock decrypt --card
// decrypts a gpg-encrypted keyfile with a simulated card behind a real
// pcscd, list --card shows the card key, and a wrong PIN fails cleanly
// with the tries left and nothing written.
func TestDecryptWithCard(t *testing.T) {
	tools := testenv.RequireTool(t, "gpg", "gpgconf")
	srv := pcsctest.Start(t)
	home, err := os.MkdirTemp("", "kud")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	defer exec.Command(tools["gpgconf"], "--homedir", home, "--kill", "all").Run()
	gpg := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(tools["gpg"], append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	gpg("--quick-gen-key", "card@example.org", "future-default", "default", "never")
	secret := gpg("--export-secret-keys", "card@example.org")
	el, err := openpgp.ReadKeyRing(bytes.NewReader(secret))
	if err != nil {
		t.Fatal(err)
	}
	sub := el[0].Subkeys[0]
	c, err := sim.New(t.TempDir(), sim.Options{Serial: 0x55667788})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportKey(sim.SlotDec, sub.PrivateKey); err != nil {
		t.Fatal(err)
	}
	srv.InsertCard(t, 0, c)

	dir := t.TempDir()
	keyfile := []byte("0123456789abcdef0123456789abcdef")
	os.WriteFile(dir+"/keyfile", keyfile, 0o600)
	gpg("--trust-model", "always", "-r", "card@example.org", "-o", dir+"/keyfile.gpg", "-e", dir+"/keyfile")
	os.WriteFile(dir+"/pin", []byte("123456\n"), 0o600)
	os.WriteFile(dir+"/bad", []byte("654321\n"), 0o600)

	ku := func(args ...string) (string, string, int) {
		cmd := exec.Command(keyunlockBin, args...)
		cmd.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+srv.Socket, "KEYUNLOCK_KEYS=/nonexistent/keyunlock-test", "KEYUNLOCK_SOCKET=")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return so.String(), se.String(), code
	}
	fpr := fmt.Sprintf("%X", sub.PublicKey.Fingerprint)

	out, errs, code := ku("list", "--card")
	if code != 0 || !strings.Contains(out, fpr) || !strings.Contains(out, "3 PIN tries left") || !strings.Contains(out, "card FF4B:55667788") {
		t.Fatalf("list --card: exit %d\n%s\n%s", code, out, errs)
	}

	out, errs, code = ku("decrypt", "--card", "--passphrase-file", dir+"/bad", "-o", dir+"/out", dir+"/keyfile.gpg")
	if code == 0 || out != "" || !strings.Contains(errs, "2 PIN tries left") {
		t.Fatalf("wrong PIN: exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(dir + "/out"); !os.IsNotExist(err) {
		t.Fatalf("output written after a wrong PIN: %v", err)
	}
	if pw1, _, _ := c.Tries(); pw1 != 2 {
		t.Fatalf("card counter %d", pw1)
	}

	out, errs, code = ku("decrypt", "--card", "--card-serial", "55667788", "--passphrase-file", dir+"/pin", "-o", dir+"/out", dir+"/keyfile.gpg")
	if code != 0 {
		t.Fatalf("decrypt --card: exit %d\n%s\n%s", code, out, errs)
	}
	got, _ := os.ReadFile(dir + "/out")
	if !bytes.Equal(got, keyfile) || !strings.Contains(errs, "card FF4B:55667788") {
		t.Fatalf("plaintext %q, stderr %s", got, errs)
	}

	// Another serial: not found, clear error.
	_, errs, code = ku("decrypt", "--card", "--card-serial", "99999999", "--passphrase-file", dir+"/pin", dir+"/keyfile.gpg")
	if code == 0 || !strings.Contains(errs, "no usable key") {
		t.Fatalf("wrong serial: exit %d %s", code, errs)
	}
}

// TestDaemonWithCard: "keyunlock serve --card" holds the card; a client
// unlocks it once with the PIN, then decrypts without one; lock drops the
// card's PIN state again.
func TestDaemonWithCard(t *testing.T) {
	srv := pcsctest.Start(t)
	c, err := sim.New(t.TempDir(), sim.Options{Serial: 0x77777777})
	if err != nil {
		t.Fatal(err)
	}
	e, err := openpgp.NewEntity("Daemon", "", "daemon@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportKey(sim.SlotDec, e.Subkeys[0].PrivateKey); err != nil {
		t.Fatal(err)
	}
	srv.InsertCard(t, 0, c)
	dir := t.TempDir()
	var msg bytes.Buffer
	if err := core.Encrypt(&msg, pgptest.AllFromGoCrypto(t, e.Subkeys[0].PublicKey), []byte("disk key")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dir+"/msg.pgp", msg.Bytes(), 0o600)
	os.WriteFile(dir+"/pin", []byte("123456\n"), 0o600)
	t.Setenv("PCSCLITE_CSOCK_NAME", srv.Socket)
	d := startDaemon(t, "--card")
	env := []string{"KEYUNLOCK_SOCKET=" + d.socket}

	out, errs, code := cliRun(t, env, "list")
	if code != 0 || !strings.Contains(out, "card FF4B:77777777") || !strings.Contains(out, "3 PIN tries left") {
		t.Fatalf("list: %d %s %s\n%s", code, out, errs, d.Log())
	}
	if _, errs, code := cliRun(t, env, "decrypt", dir+"/msg.pgp"); code == 0 || !strings.Contains(errs, "locked") {
		t.Fatalf("decrypt while locked: %d %s", code, errs)
	}
	if _, errs, code := cliRun(t, env, "unlock", "--passphrase-file", dir+"/pin"); code != 0 {
		t.Fatalf("unlock: %s\n%s", errs, d.Log())
	}
	out, errs, code = cliRun(t, env, "decrypt", dir+"/msg.pgp")
	if code != 0 || out != "disk key" {
		t.Fatalf("decrypt: %d %q %s\n%s", code, out, errs, d.Log())
	}
	if _, errs, code := cliRun(t, env, "lock"); code != 0 {
		t.Fatalf("lock: %s", errs)
	}
	if _, errs, code := cliRun(t, env, "decrypt", dir+"/msg.pgp"); code == 0 || !strings.Contains(errs, "locked") {
		t.Fatalf("decrypt after lock: %d %s", code, errs)
	}
	if pw1, _, _ := c.Tries(); pw1 != 3 {
		t.Fatalf("tries %d", pw1)
	}
}

// TestDecryptGnuPGCards: GnuPG personalises the simulated card (keys
// generated on the card with --card-edit for RSA, cv25519 and NIST P-256,
// and a soft subkey moved with keytocard), encrypts a keyfile and decrypts
// it with the card; then the static keyunlock binary decrypts the same
// message with the same card behind a fresh pcscd, with the certificate
// and without it (public key read from the card).
func TestDecryptGnuPGCards(t *testing.T) {
	for _, kind := range simtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			f := simtest.GPGCardFixture(t, kind)
			srv := pcsctest.Start(t)
			c, err := sim.New(f.StateDir, sim.Options{})
			if err != nil {
				t.Fatal(err)
			}
			srv.InsertCard(t, 0, c)
			dir := t.TempDir()
			os.WriteFile(dir+"/pin", []byte(f.PIN+"\n"), 0o600)
			for _, extra := range [][]string{{"--card-cert", f.CertFile}, nil} {
				args := append([]string{"decrypt", "--card", "--card-serial", fmt.Sprintf("%08X", f.Serial), "--passphrase-file", dir + "/pin", "-o", dir + "/out"}, extra...)
				cmd := exec.Command(keyunlockBin, append(args, f.MsgFile)...)
				cmd.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+srv.Socket, "KEYUNLOCK_KEYS=/nonexistent/keyunlock-test", "KEYUNLOCK_SOCKET=")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%v: %v\n%s\ngpg session:\n%s", extra, err, out, f.GPGLog)
				}
				got, _ := os.ReadFile(dir + "/out")
				if !bytes.Equal(got, f.Plaintext) || !strings.Contains(string(out), fmt.Sprintf("%X", f.DecFingerprint)) {
					t.Fatalf("%v: plaintext %q, stderr %s", extra, got, out)
				}
				os.Remove(dir + "/out")
			}
		})
	}
}
