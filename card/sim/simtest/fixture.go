package simtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
)

// Fixture kinds: how GnuPG put the decryption key on the card.
const (
	// KindRSA2048: gpg --card-edit "generate" with the default attributes.
	KindRSA2048 = "rsa2048"
	// KindRSA4096: "key-attr" RSA 4096, then "generate" (not in Kinds:
	// it is slow; its decryption needs extended length or chaining).
	KindRSA4096 = "rsa4096"
	// KindCv25519: "key-attr" ECC / Curve 25519 (ed25519 + cv25519 keys),
	// then "generate".
	KindCv25519 = "cv25519"
	// KindNISTP256: "key-attr" ECC / NIST P-256, then "generate".
	KindNISTP256 = "nistp256"
	// KindKeyToCard: a soft key (ed25519 primary, cv25519 subkey) made by
	// gpg, whose encryption subkey gpg --edit-key "keytocard" moved to the
	// card.
	KindKeyToCard = "keytocard"
)

// Kinds lists every fixture kind.
var Kinds = []string{KindRSA2048, KindCv25519, KindNISTP256, KindKeyToCard}

// Fixture is a simulated card that GnuPG personalised, and a message gpg
// encrypted to the card's decryption key, which gpg decrypted with the card
// (through pcscd and vpcd) before the fixture was handed out.
type Fixture struct {
	// Kind is one of the Kind constants.
	Kind string
	// StateDir holds the card; open it with sim.New(StateDir, opts). No
	// other process uses it any more.
	StateDir string
	// CertFile is the ASCII-armoured public certificate (gpg --export).
	CertFile string
	// MsgFile is the binary OpenPGP message gpg encrypted to the card key.
	MsgFile string
	// Plaintext is the message's content.
	Plaintext []byte
	// PIN and AdminPIN are the card's PW1 and PW3.
	PIN, AdminPIN string
	// Serial is the card serial number.
	Serial uint32
	// DecFingerprint is the decryption key's fingerprint, as stored on
	// the card (C8) and in the certificate.
	DecFingerprint []byte
	// GPGLog is the scripted gpg session, for failure messages.
	GPGLog string
}

// GPGCardFixture makes a fixture of the kind with a fresh simulated card,
// an isolated pcscd and a GnuPG home, all in the test's temporary
// directories; pcscd and gpg-agent are stopped before it returns. It takes
// 5–30 s. Missing tools go through testenv (failure under make test, skip
// otherwise).
func GPGCardFixture(t testing.TB, kind string) *Fixture {
	t.Helper()
	srv := pcsctest.Start(t)
	defer srv.Close()
	dir := t.TempDir()
	f := &Fixture{
		Kind:     kind,
		StateDir: filepath.Join(dir, "card"),
		CertFile: filepath.Join(dir, "cert.asc"),
		MsgFile:  filepath.Join(dir, "msg.gpg"),
		PIN:      sim.DefaultPW1,
		AdminPIN: sim.DefaultPW3,
	}
	f.Plaintext = []byte(fmt.Sprintf("keyfile for %s: %s\n", kind, strings.Repeat("0123456789abcdef", 4)))
	if err := os.Mkdir(f.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	card, err := sim.New(f.StateDir, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Serial = card.Serial()
	_, stop, err := srv.Attach(context.Background(), 0, card)
	if err != nil {
		t.Fatalf("inserting the simulated card: %v", err)
	}
	defer stop()
	g := StartGPG(t, srv)
	defer g.Stop()

	var session string
	uid := "card@example.org"
	switch kind {
	case KindRSA2048, KindRSA4096, KindCv25519, KindNISTP256:
		session, err = g.GenerateOnCard(kind, "Card Tester", uid)
	case KindKeyToCard:
		uid = "soft@example.org"
		session, err = g.KeyToCard("Soft Tester", uid)
	default:
		t.Fatalf("unknown fixture kind %q", kind)
	}
	f.GPGLog = session
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	f.DecFingerprint = card.Fingerprint(sim.SlotDec)
	if bytes.Equal(f.DecFingerprint, make([]byte, 20)) {
		t.Fatalf("%s: gpg left no decryption key fingerprint on the card\n%s", kind, session)
	}
	if err := g.EncryptTo(uid, f.Plaintext, f.MsgFile); err != nil {
		t.Fatal(err)
	}
	got, err := g.Decrypt(f.MsgFile)
	if err != nil {
		t.Fatalf("%s: gpg could not decrypt with the card: %v", kind, err)
	}
	if !bytes.Equal(got, f.Plaintext) {
		t.Fatalf("%s: gpg decrypted %q, want %q", kind, got, f.Plaintext)
	}
	cert, _, err := g.Run("", "--armor", "--export", uid)
	if err != nil || !strings.Contains(cert, "BEGIN PGP PUBLIC KEY BLOCK") {
		t.Fatalf("exporting the certificate: %v", err)
	}
	if err := os.WriteFile(f.CertFile, []byte(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// GenerateOnCard runs gpg --card-edit: for cv25519 and nistp256 it first
// changes the key attributes of the three slots (key-attr), then generates
// the three keys on the card (no off-card backup, no expiry).
func (g *GPG) GenerateOnCard(kind, name, email string) (string, error) {
	prompts := []string{"admin"}
	answers := map[string][]string{
		"cardedit.genkeys.backup_enc":   {"n"},
		"cardedit.genkeys.replace_keys": {"y"},
		"keygen.valid":                  {"0"},
		"keygen.name":                   {name},
		"keygen.email":                  {email},
		"keygen.comment":                {""},
	}
	curve := map[string]string{KindCv25519: "1", KindNISTP256: "3"}[kind]
	if kind == KindRSA4096 {
		prompts = append(prompts, "key-attr")
		answers["cardedit.genkeys.algo"] = []string{"1", "1", "1"}
		answers["cardedit.genkeys.size"] = []string{"4096", "4096", "4096"}
	}
	if curve != "" {
		prompts = append(prompts, "key-attr")
		answers["cardedit.genkeys.algo"] = []string{"2", "2", "2"}
		answers["keygen.curve"] = []string{curve, curve, curve}
	}
	answers["cardedit.prompt"] = append(prompts, "generate", "quit")
	// gpg lists the NIST curves only in expert mode; the menu numbers
	// are those of the expert list (1 Curve 25519, 3 NIST P-256).
	return g.CardEdit(answers, "--expert", "--card-edit")
}

var fprLine = regexp.MustCompile(`(?m)^fpr:+([0-9A-F]{40}):`)

// KeyToCard makes a soft key with gpg (ed25519 certification key and a
// cv25519 encryption subkey, no passphrase) and moves the subkey to the
// card's decryption slot with gpg --edit-key keytocard.
func (g *GPG) KeyToCard(name, email string) (string, error) {
	uid := fmt.Sprintf("%s <%s>", name, email)
	if _, _, err := g.Run("", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "cert", "0"); err != nil {
		return "", err
	}
	out, _, err := g.Run("", "--with-colons", "--list-keys", email)
	if err != nil {
		return "", err
	}
	m := fprLine.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no fingerprint in gpg --list-keys:\n%s", out)
	}
	if _, _, err := g.Run("", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-add-key", m[1], "cv25519", "encr", "0"); err != nil {
		return "", err
	}
	return g.CardEdit(map[string][]string{
		"keyedit.prompt":                {"key 1", "keytocard", "save"},
		"cardedit.genkeys.storekeytype": {"2"},
		"cardedit.genkeys.replace_key":  {"y"},
		"keyedit.keytocard.use_primary": {"n"},
		"passphrase.enter":              {""},
		"keyedit.save.okay":             {"y"},
	}, "--edit-key", m[1])
}

// EncryptTo encrypts plaintext to the certificate with the user id and
// writes the binary message to file.
func (g *GPG) EncryptTo(email string, plaintext []byte, file string) error {
	_, _, err := g.Run(string(plaintext), "--trust-model", "always", "--yes", "--encrypt", "--recipient", email, "--output", file)
	return err
}

// Decrypt decrypts the message file with gpg (the card, through the
// pinentry) and returns the plaintext.
func (g *GPG) Decrypt(file string) ([]byte, error) {
	out, _, err := g.Run("", "--decrypt", file)
	return []byte(out), err
}
