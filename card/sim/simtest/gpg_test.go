package simtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
)

// cardStatus runs gpg --card-status and returns its output.
func cardStatus(t *testing.T, g *GPG) string {
	t.Helper()
	out, _, err := g.Run("", "--card-status")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func field(t *testing.T, status, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` *\.*: ?(.*)$`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("no %q in gpg --card-status:\n%s", name, status)
	}
	return strings.TrimSpace(m[1])
}

// TestGnuPGCardStatusAndPINCounter: gpg reads a fresh card, and a wrong PIN
// typed into gpg costs exactly one try, which gpg then reports.
func TestGnuPGCardStatusAndPINCounter(t *testing.T) {
	srv := pcsctest.Start(t)
	card, err := sim.New(t.TempDir(), sim.Options{Serial: 0x0badcafe})
	if err != nil {
		t.Fatal(err)
	}
	srv.InsertCard(t, 0, card)
	g := StartGPG(t, srv)
	st := cardStatus(t, g)
	for name, want := range map[string]string{
		"Application ID":    "D276000124010304FF4B0BADCAFE0000",
		"Version":           "3.4",
		"Serial number":     "0BADCAFE",
		"PIN retry counter": "3 0 3",
		"Key attributes":    "rsa2048 rsa2048 rsa2048",
		"KDF setting":       "off",
		"Signature key":     "[none]",
	} {
		if got := field(t, st, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// A wrong user PIN for a signature (gpg --card-edit "passwd" would
	// touch PW3 too; signing needs just PW1): generate a key first.
	if _, err := g.GenerateOnCard(KindCv25519, "Pin Tester", "pin@example.org"); err != nil {
		t.Fatal(err)
	}
	msg := t.TempDir() + "/m.gpg"
	if err := g.EncryptTo("pin@example.org", []byte("x"), msg); err != nil {
		t.Fatal(err)
	}
	g.SetPINs("999999", sim.DefaultPW3)
	if _, err := g.Decrypt(msg); err == nil {
		t.Fatal("gpg decrypted with a wrong PIN")
	}
	if pw1, _, _ := card.Tries(); pw1 != 2 {
		t.Fatalf("card PW1 tries %d after one wrong PIN, want 2", pw1)
	}
	if got := field(t, cardStatus(t, g), "PIN retry counter"); got != "2 0 3" {
		t.Fatalf("gpg shows retry counter %q, want 2 0 3", got)
	}
	g.SetPINs(sim.DefaultPW1, sim.DefaultPW3)
	if out, err := g.Decrypt(msg); err != nil || string(out) != "x" {
		t.Fatalf("decrypt with the right PIN: %q, %v", out, err)
	}
	if pw1, _, _ := card.Tries(); pw1 != 3 {
		t.Fatalf("card PW1 tries %d after a good PIN, want 3", pw1)
	}
}

// TestGnuPGFixtures: for each kind gpg generates (or moves) the keys on the
// card, encrypts, and decrypts with the card (inside GPGCardFixture). Here
// the results are checked from the card's side and the message's side.
func TestGnuPGFixtures(t *testing.T) {
	wantAttr := map[string]string{
		KindRSA2048:   "010800001100",
		KindCv25519:   "122b060104019755010501",
		KindNISTP256:  "122a8648ce3d030107",
		KindKeyToCard: "122b060104019755010501",
	}
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			f := GPGCardFixture(t, kind)
			card, err := sim.New(f.StateDir, sim.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if card.Serial() != f.Serial {
				t.Fatal("serial changed")
			}
			// The card's DEC slot, seen through GET DATA.
			card.Transmit([]byte{0, 0xa4, 4, 0, 6, 0xd2, 0x76, 0, 1, 0x24, 1})
			r := card.Transmit([]byte{0, 0xca, 0, 0xc2, 0})
			if got := hex.EncodeToString(r[:len(r)-2]); !strings.HasPrefix(got, wantAttr[kind]) {
				t.Errorf("C2 %s, want %s", got, wantAttr[kind])
			}
			r = card.Transmit([]byte{0, 0xca, 0, 0xde, 0})
			status := byte(1)
			if kind == KindKeyToCard {
				status = 2
			}
			if !bytes.Contains(r, []byte{2, status}) {
				t.Errorf("key information %x: DEC key should have status %d", r, status)
			}
			// The message is addressed to the card's DEC key.
			m, err := os.Open(f.MsgFile)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			p, err := packet.Read(m)
			if err != nil {
				t.Fatal(err)
			}
			ek, ok := p.(*packet.EncryptedKey)
			if !ok {
				t.Fatalf("first packet %T", p)
			}
			wantID := f.DecFingerprint[12:]
			if got := fmt.Sprintf("%016X", ek.KeyId); got != strings.ToUpper(hex.EncodeToString(wantID)) {
				t.Errorf("PKESK key id %s, card DEC fingerprint %X", got, f.DecFingerprint)
			}
			cert, err := os.ReadFile(f.CertFile)
			if err != nil || !bytes.Contains(cert, []byte("PGP PUBLIC KEY BLOCK")) {
				t.Fatalf("certificate: %v", err)
			}
		})
	}
}

// TestGnuPGQuirks: gpg generates keys on cards with each quirk and decrypts
// with them, so every quirk stays within what a real client copes with.
func TestGnuPGQuirks(t *testing.T) {
	for _, tc := range []struct{ quirks, kind string }{
		{"noext", KindCv25519},
		{"t0", KindCv25519},
		{"noext,maxresp=64", KindRSA2048},
		{"noext", KindRSA4096},
		{"apdudelay=1ms", KindRSA4096},
		{"yubikey", KindCv25519},
		{"gnuk", KindNISTP256},
		{"kdf", KindCv25519},
		{"pin63cx", KindCv25519},
		{"uif,touch=200ms", KindCv25519},
	} {
		t.Run(tc.quirks+"/"+tc.kind, func(t *testing.T) {
			srv := pcsctest.Start(t)
			q, err := sim.ParseQuirks(tc.quirks)
			if err != nil {
				t.Fatal(err)
			}
			card, err := sim.New(t.TempDir(), sim.Options{Quirks: q})
			if err != nil {
				t.Fatal(err)
			}
			_, stop, err := srv.Attach(context.Background(), 0, card)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			g := StartGPG(t, srv)
			if tc.quirks == "kdf" {
				if got := field(t, cardStatus(t, g), "KDF setting"); got != "on" {
					t.Fatalf("KDF setting %q", got)
				}
			}
			if session, err := g.GenerateOnCard(tc.kind, "Quirk Tester", "quirk@example.org"); err != nil {
				t.Fatalf("%v\n%s", err, session)
			}
			msg := t.TempDir() + "/m.gpg"
			if err := g.EncryptTo("quirk@example.org", []byte("quirky"), msg); err != nil {
				t.Fatal(err)
			}
			if out, err := g.Decrypt(msg); err != nil || string(out) != "quirky" {
				t.Fatalf("decrypt: %q, %v", out, err)
			}
			// The quirk was really exercised: scdaemon's APDU log shows
			// the status words it implies.
			if sw := map[string]string{"t0": "sw=61", "noext,maxresp=64": "sw=61", "noext": "PCSC_data: 10 2A 80 86"}[tc.quirks]; sw != "" && (tc.quirks != "noext" || tc.kind == KindRSA4096) {
				log, _ := os.ReadFile(filepath.Join(g.Home, "scdaemon.log"))
				if !bytes.Contains(log, []byte(sw)) {
					t.Fatalf("scdaemon never saw %s", sw)
				}
			}
		})
	}
}
