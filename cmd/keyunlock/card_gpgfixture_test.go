package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/card/sim/simtest"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
)

// TestDecryptGnuPGPersonalisedCards: GnuPG generates keys on a simulated
// card (RSA-2048, cv25519, NIST P-256 via key-attr) or moves a soft subkey
// to it (keytocard), encrypts a keyfile to it and decrypts it with the card;
// then the static binary decrypts the same message with the same card
// behind a real pcscd, with the card showing each quirk in turn.
func TestDecryptGnuPGPersonalisedCards(t *testing.T) {
	quirksFor := map[string][]string{
		simtest.KindRSA2048:   {"", "noext,maxresp=64", "t0"},
		simtest.KindCv25519:   {"", "noext", "t0", "yubikey", "pin63cx", "maxresp=16"},
		simtest.KindNISTP256:  {"", "gnuk", "t0"},
		simtest.KindKeyToCard: {"", "yubikey"},
	}
	for _, kind := range simtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			f := simtest.GPGCardFixture(t, kind)
			dir := t.TempDir()
			pin := filepath.Join(dir, "pin")
			if err := os.WriteFile(pin, []byte(f.PIN+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := pcsctest.Start(t)
			for _, quirks := range quirksFor[kind] {
				q, err := sim.ParseQuirks(quirks)
				if err != nil {
					t.Fatal(err)
				}
				card, err := sim.New(f.StateDir, sim.Options{Quirks: q})
				if err != nil {
					t.Fatal(err)
				}
				_, stop, err := srv.Attach(context.Background(), 0, card)
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, "out-"+strings.ReplaceAll(quirks, ",", "_"))
				cmd := exec.Command(keyunlockBin, "decrypt", "--card", "--passphrase-file", pin, "-o", out, f.MsgFile)
				cmd.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+srv.Socket, "KEYUNLOCK_KEYS=/nonexistent/keyunlock-test", "KEYUNLOCK_SOCKET=")
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err = cmd.Run()
				stop()
				// Wait until pcscd has seen the card go, so that the next
				// card (maybe with the same ATR) is a new insertion.
				wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				werr := srv.WaitPresent(wctx, 0, false)
				cancel()
				if werr != nil {
					t.Fatal(werr)
				}
				if err != nil {
					t.Fatalf("quirks %q: keyunlock decrypt --card: %v\n%s", quirks, err, stderr.String())
				}
				got, err := os.ReadFile(out)
				if err != nil || !bytes.Equal(got, f.Plaintext) {
					t.Fatalf("quirks %q: decrypted %q (%v), want %q", quirks, got, err, f.Plaintext)
				}
				if pw1, _, _ := card.Tries(); pw1 != 3 {
					t.Fatalf("quirks %q: %d PIN tries left after a good PIN", quirks, pw1)
				}
			}
		})
	}
}
