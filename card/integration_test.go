package card

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gopenpgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/testenv"
	"github.com/keyunlock/keyunlock/pcsc"
)

// These tests run the backend through a real pcscd with vpcd, the
// simulator behind it.

func pcscBackend(t *testing.T, srv *pcsctest.Server, opts Options) *Backend {
	t.Helper()
	conn, err := NewPCSCConnector(pcsc.WithSocket(srv.Socket))
	if err != nil {
		t.Fatal(err)
	}
	opts.Connector = conn
	b := NewBackend(opts)
	t.Cleanup(func() { b.Close() })
	return b
}

// insertCard puts c into the slot for the rest of the (sub)test and, when
// it ends, waits until pcscd has seen the card go, so that the next card
// (with the same ATR) is not mistaken for it.
func insertCard(t *testing.T, srv *pcsctest.Server, slot int, c *sim.Card) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.WaitPresent(ctx, slot, false); err != nil {
			t.Errorf("card still present after the test: %v", err)
		}
	})
	srv.InsertCard(t, slot, c)
}

func TestPCSCDecrypt(t *testing.T) {
	srv := pcsctest.Start(t)
	for i, tc := range []struct{ algo, quirks string }{
		{"cv25519", ""},
		{"rsa4096", "noext"},
		{"nistp256", "yubikey"},
		{"nistp521", "gnuk,maxresp=64"},
	} {
		t.Run(tc.algo+"/"+tc.quirks, func(t *testing.T) {
			f := newFixture(t, tc.algo, tc.quirks)
			slot := i % len(srv.Readers)
			insertCard(t, srv, slot, f.card)
			f.card.ResetCount()
			b := pcscBackend(t, srv, Options{Certs: f.cert(t), Reader: srv.Readers[slot]})
			p := core.NewScriptedPrompter("123456")
			m, err := core.DecryptMessage(context.Background(), core.NewKeystore(b), bytes.NewReader(f.msg), core.DecryptOptions{Prompter: p})
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Plaintext) != plaintext {
				t.Fatalf("plaintext %q", m.Plaintext)
			}
			if n := f.card.APDUCount(); tc.quirks == "" && n > 5 {
				t.Errorf("cold unlock through pcscd took %d APDUs", n)
			}
			b.Close()
		})
	}
}

func TestPCSCCardRemoved(t *testing.T) {
	srv := pcsctest.Start(t)
	f := newFixture(t, "cv25519", "")
	fe := srv.InsertCard(t, 0, f.card)
	b := pcscBackend(t, srv, Options{Certs: f.cert(t)})
	ctx := context.Background()
	devs, err := b.Devices(ctx)
	if err != nil || len(devs) != 1 {
		t.Fatalf("%v %v", devs, err)
	}
	keys, _ := devs[0].Keys(ctx)
	k := keys[0]
	if k.TriesLeft(ctx) != 3 {
		t.Fatal("tries")
	}
	if err := k.Unlock(ctx, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	fe.Remove()
	if err := srv.WaitPresent(ctx, 0, false); err != nil {
		t.Fatal(err)
	}
	p, _ := pkeskOf(t, f.msg)
	_, err = k.DecryptPKESK(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "removed") || !strings.Contains(err.Error(), "insert it") {
		t.Fatalf("decrypt after removal: %v", err)
	}
	if err := k.Available(ctx); err == nil {
		t.Fatal("key still available")
	}
	// Put it back: a fresh scan finds it again, locked.
	fe.Insert()
	if err := srv.WaitPresent(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
	devs, err = b.Devices(ctx)
	if err != nil || len(devs) != 1 {
		t.Fatalf("%v %v", devs, err)
	}
	keys, _ = devs[0].Keys(ctx)
	if !keys[0].Locked() || keys[0].Available(ctx) != nil {
		t.Fatal("reinserted card state")
	}
}

func pkeskOf(t *testing.T, msg []byte) (*core.PKESK, error) {
	t.Helper()
	body, err := firstPacketBody(msg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := core.ParsePKESK(body)
	if err != nil {
		t.Fatal(err)
	}
	return p, nil
}

// firstPacketBody returns the body of the first (new-format) packet.
func firstPacketBody(b []byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, os.ErrInvalid
	}
	switch l := int(b[1]); {
	case l < 192:
		return b[2 : 2+l], nil
	case l < 224:
		n := (l-192)<<8 + int(b[2]) + 192
		return b[3 : 3+n], nil
	}
	return nil, os.ErrInvalid
}

// gpgHome makes a GnuPG home directory with a short path (agent sockets
// have a length limit) and kills its agent when the test ends.
func gpgHome(t *testing.T) (string, func(args ...string) []byte) {
	t.Helper()
	tools := testenv.RequireTool(t, "gpg", "gpgconf")
	home, err := os.MkdirTemp("", "kuc")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	t.Cleanup(func() {
		exec.Command(tools["gpgconf"], "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(tools["gpg"], append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	return home, run
}

// TestGnuPGKeysOnCard: keys made by gpg, moved to the simulated card (as
// keytocard does), messages encrypted by gpg; keyunlock decrypts them
// through pcscd, with the certificate and without it (then GnuPG's
// default KDF parameters, which keyunlock assumes before it reads the
// public key, must be the ones gpg wrote: no GET PUBLIC KEY is sent).
func TestGnuPGKeysOnCard(t *testing.T) {
	srv := pcsctest.Start(t)
	_, gpg := gpgHome(t)
	for _, tc := range []struct{ name, primary, sub string }{
		{"cv25519", "ed25519", "cv25519"},
		{"nistp256", "nistp256", "nistp256"},
		{"nistp384", "nistp384", "nistp384"},
		{"nistp521", "nistp521", "nistp521"},
		{"brainpoolP256r1", "brainpoolP256r1", "brainpoolP256r1"},
		{"brainpoolP384r1", "brainpoolP384r1", "brainpoolP384r1"},
		{"brainpoolP512r1", "brainpoolP512r1", "brainpoolP512r1"},
		{"rsa2048", "rsa2048", "rsa2048"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid := tc.name + "@example.org"
			gpg("--quick-gen-key", uid, tc.primary, "cert,sign", "never")
			fpr := strings.Fields(string(gpg("--with-colons", "--list-keys", uid)))
			var primary string
			for _, l := range strings.Split(strings.Join(fpr, "\n"), "\n") {
				if strings.HasPrefix(l, "fpr:") {
					primary = strings.Split(l, ":")[9]
					break
				}
			}
			gpg("--quick-add-key", primary, tc.sub, "encr", "never")
			secret := gpg("--export-secret-keys", primary)
			el, err := gopenpgp.ReadKeyRing(bytes.NewReader(secret))
			if err != nil {
				t.Fatal(err)
			}
			sub := el[0].Subkeys[0]
			c, err := sim.New(t.TempDir(), sim.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.ImportKey(sim.SlotDec, sub.PrivateKey); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			in := filepath.Join(dir, "key")
			os.WriteFile(in, []byte(plaintext), 0o600)
			gpg("--trust-model", "always", "-r", primary, "-o", filepath.Join(dir, "key.gpg"), "-e", in)
			msg, _ := os.ReadFile(filepath.Join(dir, "key.gpg"))
			exported := gpg("--export", primary)
			certEl, err := gopenpgp.ReadKeyRing(bytes.NewReader(exported))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := pgp.ReadCerts(exported)
			if err != nil {
				t.Fatal(err)
			}
			// GnuPG's ECDH KDF parameters are the defaults the backend
			// tries first when it rebuilds a public key from the card.
			if pub := certEl[0].Subkeys[0].PublicKey; pub.PubKeyAlgo == 18 {
				var buf bytes.Buffer
				pub.Serialize(&buf)
				raw := buf.Bytes()
				hash, cipher := raw[len(raw)-2], raw[len(raw)-1]
				wh, wc := defaultKDF(map[string]int{"cv25519": 32, "nistp256": 32, "nistp384": 48, "nistp521": 66, "brainpoolP256r1": 32, "brainpoolP384r1": 48, "brainpoolP512r1": 64}[tc.sub])
				if hash != wh || cipher != wc || raw[len(raw)-4] != 3 {
					t.Errorf("gpg wrote KDF hash %d cipher %d, the defaults are %d/%d", hash, cipher, wh, wc)
				}
			}
			insertCard(t, srv, 0, c)
			for _, certs := range [][]*pgp.Cert{cert, nil} {
				c.ResetCount()
				b := pcscBackend(t, srv, Options{Certs: certs, Reader: srv.Readers[0]})
				p := core.NewScriptedPrompter("123456")
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				m, err := core.DecryptMessage(ctx, core.NewKeystore(b), bytes.NewReader(msg), core.DecryptOptions{Prompter: p})
				cancel()
				if err != nil {
					t.Fatalf("with cert=%v: %v", certs != nil, err)
				}
				if string(m.Plaintext) != plaintext {
					t.Fatalf("plaintext %q", m.Plaintext)
				}
				// With GnuPG's KDF parameters, no GET PUBLIC KEY either way:
				// SELECT, GET DATA 6E and F9, VERIFY, PSO:DECIPHER.
				if n := c.APDUCount(); n > 5 {
					t.Errorf("with cert=%v: cold unlock through pcscd took %d APDUs, want at most 5", certs != nil, n)
				}
				b.Close()
			}
		})
	}
}
