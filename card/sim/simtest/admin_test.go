package simtest

import (
	"testing"

	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
)

// TestGnuPGAdminCommands drives gpg --card-edit's admin commands against the
// simulator: cardholder data, PIN changes, the resetting code, unblocking,
// KDF setup and the factory reset.
func TestGnuPGAdminCommands(t *testing.T) {
	srv := pcsctest.Start(t)
	dir := t.TempDir()
	card, err := sim.New(dir, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.InsertCard(t, 0, card)
	g := StartGPG(t, srv)
	edit := func(answers map[string][]string) string {
		t.Helper()
		out, err := g.CardEdit(answers)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	edit(map[string][]string{
		"cardedit.prompt":            {"admin", "name", "url", "login", "lang", "quit"},
		"keygen.smartcard.surname":   {"Doe"},
		"keygen.smartcard.givenname": {"John"},
		"cardedit.change_url":        {"https://example.org/john.asc"},
		"cardedit.change_login":      {"jdoe"},
		"cardedit.change_lang":       {"en"},
	})
	st := cardStatus(t, g)
	for name, want := range map[string]string{
		"Name of cardholder": "John Doe",
		"URL of public key":  "https://example.org/john.asc",
		"Login data":         "jdoe",
		"Language prefs":     "en",
	} {
		if got := field(t, st, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}

	// Change PW1, set a resetting code, then unblock PW1 with it.
	g.SetNewPIN("654321", "")
	edit(map[string][]string{
		"cardedit.prompt":          {"admin", "passwd", "quit"},
		"cardutil.change_pin.menu": {"1", "q"},
	})
	g.SetPINs("654321", sim.DefaultPW3)
	g.SetNewPIN("resetcode1", "")
	edit(map[string][]string{
		"cardedit.prompt":          {"admin", "passwd", "quit"},
		"cardutil.change_pin.menu": {"4", "q"},
	})
	if got := field(t, cardStatus(t, g), "PIN retry counter"); got != "3 3 3" {
		t.Fatalf("retry counters after setting the reset code: %q", got)
	}
	g.SetNewPIN("111222", "resetcode1")
	edit(map[string][]string{
		"cardedit.prompt": {"unblock", "quit"},
	})
	g.SetPINs("111222", sim.DefaultPW3)

	// Unblock with the Admin PIN (passwd 2) sets another PIN.
	g.SetNewPIN("333444", "")
	edit(map[string][]string{
		"cardedit.prompt":          {"admin", "passwd", "quit"},
		"cardutil.change_pin.menu": {"2", "q"},
	})
	g.SetPINs("333444", sim.DefaultPW3)

	// KDF: gpg sets it up, then generates and decrypts with hashed PINs.
	edit(map[string][]string{
		"cardedit.prompt": {"admin", "kdf-setup", "quit"},
	})
	if got := field(t, cardStatus(t, g), "KDF setting"); got != "on" {
		t.Fatalf("KDF setting after kdf-setup: %q", got)
	}
	// gpg writes the KDF-DO with the initial hashes of the default PINs
	// (87/88) and no CHANGE REFERENCE DATA: the card's PINs become the
	// defaults, hashed.
	g.SetPINs(sim.DefaultPW1, sim.DefaultPW3)
	if session, err := g.GenerateOnCard(KindCv25519, "Kdf Tester", "kdf@example.org"); err != nil {
		t.Fatalf("%v\n%s", err, session)
	}
	msg := t.TempDir() + "/m.gpg"
	if err := g.EncryptTo("kdf@example.org", []byte("kdf"), msg); err != nil {
		t.Fatal(err)
	}
	if out, err := g.Decrypt(msg); err != nil || string(out) != "kdf" {
		t.Fatalf("decrypt with KDF: %q, %v", out, err)
	}

	// Factory reset.
	edit(map[string][]string{
		"cardedit.prompt":                {"admin", "factory-reset", "quit"},
		"cardedit.factory-reset.proceed": {"y"},
		"cardedit.factory-reset.really":  {"yes"},
	})
	st = cardStatus(t, g)
	for name, want := range map[string]string{
		"Name of cardholder": "[not set]",
		"PIN retry counter":  "3 0 3",
		"KDF setting":        "off",
		"Encryption key":     "[none]",
	} {
		if got := field(t, st, name); got != want {
			t.Errorf("after factory reset, %s: %q, want %q", name, got, want)
		}
	}
	g.Stop()
	// The factory PINs work again.
	card.Reset()
	if r := card.Transmit([]byte{0, 0xa4, 4, 0, 6, 0xd2, 0x76, 0, 1, 0x24, 1}); r[0] != 0x90 {
		t.Fatalf("SELECT %x", r)
	}
	if r := card.Transmit(append([]byte{0, 0x20, 0, 0x82, 6}, sim.DefaultPW1...)); r[0] != 0x90 {
		t.Fatalf("VERIFY with the factory PIN: %x", r)
	}
}
