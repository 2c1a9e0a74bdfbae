package card

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gopenpgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/pgptest"
)

var algos = map[string]*packet.Config{
	"rsa2048":         {Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048},
	"rsa4096":         {Algorithm: packet.PubKeyAlgoRSA, RSABits: 4096},
	"cv25519":         {Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519},
	"nistp256":        {Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256},
	"nistp384":        {Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP384},
	"nistp521":        {Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP521},
	"brainpoolP256r1": {Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveBrainpoolP256},
	"brainpoolP384r1": {Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveBrainpoolP384},
}

var entityCache = map[string]*gopenpgp.Entity{}

func entity(t testing.TB, algo string) *gopenpgp.Entity {
	t.Helper()
	if e := entityCache[algo]; e != nil {
		return e
	}
	e, err := gopenpgp.NewEntity("Card Holder", "", "holder@example.org", algos[algo])
	if err != nil {
		t.Fatal(err)
	}
	entityCache[algo] = e
	return e
}

// fixture is a simulated card holding the decryption subkey of an entity,
// plus a message encrypted to it.
type fixture struct {
	card   *sim.Card
	conn   *simConnector
	slot   *simSlot
	entity *gopenpgp.Entity
	msg    []byte
}

const plaintext = "0123456789abcdef disk key"

func newFixture(t testing.TB, algo, quirks string) *fixture {
	t.Helper()
	q, err := sim.ParseQuirks(quirks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sim.New(t.TempDir(), sim.Options{Quirks: q, Serial: 0x12345678})
	if err != nil {
		t.Fatal(err)
	}
	e := entity(t, algo)
	if err := c.ImportKey(sim.SlotDec, e.Subkeys[0].PrivateKey); err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	if err := core.Encrypt(&msg, pgptest.AllFromGoCrypto(t, e.Subkeys[0].PublicKey), []byte(plaintext)); err != nil {
		t.Fatal(err)
	}
	f := &fixture{card: c, conn: newSimConnector(), entity: e, msg: msg.Bytes()}
	f.slot = f.conn.insert("Sim Reader 00", c)
	return f
}

// publicOnly is the entity's certificate without secrets, as --card-cert gives it.
func (f *fixture) cert(t testing.TB) []*pgp.Cert {
	var buf bytes.Buffer
	if err := f.entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	certs, err := pgp.ReadCerts(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func (f *fixture) decrypt(t *testing.T, opts Options, dopts core.DecryptOptions) (*core.Message, *Backend, error) {
	t.Helper()
	opts.Connector = f.conn
	b := NewBackend(opts)
	ks := core.NewKeystore(b)
	m, err := core.DecryptMessage(context.Background(), ks, bytes.NewReader(f.msg), dopts)
	return m, b, err
}

func TestDecryptEveryAlgorithm(t *testing.T) {
	for _, algo := range []string{"rsa2048", "rsa4096", "cv25519", "nistp256", "nistp384", "nistp521", "brainpoolP256r1", "brainpoolP384r1"} {
		for _, withCert := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cert=%v", algo, withCert), func(t *testing.T) {
				f := newFixture(t, algo, "")
				opts := Options{}
				if withCert {
					opts.Certs = f.cert(t)
				}
				p := core.NewScriptedPrompter("123456")
				m, _, err := f.decrypt(t, opts, core.DecryptOptions{Prompter: p})
				if err != nil {
					t.Fatal(err)
				}
				if string(m.Plaintext) != plaintext {
					t.Fatalf("plaintext %q", m.Plaintext)
				}
				if len(p.Requests) != 1 || p.Requests[0].TriesLeft != 3 || !strings.Contains(p.Requests[0].Message, "3 tries left") {
					t.Errorf("prompts %+v", p.Requests)
				}
			})
		}
	}
}

func TestDecryptEveryQuirk(t *testing.T) {
	for _, quirks := range []string{"", "noext", "t0", "gnuk", "yubikey", "pin63cx", "maxresp=64", "kdf", "noext,maxresp=16", "t0,kdf", "uif,touch=5ms"} {
		for _, algo := range []string{"rsa2048", "rsa4096", "cv25519", "nistp256", "nistp521"} {
			t.Run(fmt.Sprintf("%s/%s", quirks, algo), func(t *testing.T) {
				f := newFixture(t, algo, quirks)
				p := core.NewScriptedPrompter("123456")
				m, _, err := f.decrypt(t, Options{Certs: f.cert(t), Prompter: p}, core.DecryptOptions{Prompter: p})
				if err != nil {
					t.Fatal(err)
				}
				if string(m.Plaintext) != plaintext {
					t.Fatalf("plaintext %q", m.Plaintext)
				}
				touched := false
				for _, n := range p.Notes {
					touched = touched || strings.HasPrefix(n, "Touch card")
				}
				if touched != strings.Contains(quirks, "uif") {
					t.Errorf("touch notices %q", p.Notes)
				}
			})
		}
	}
}

// TestColdUnlockAPDUCount counts the APDUs of one cold unlock with the PIN
// and the certificate given: SELECT, GET DATA 6E, GET DATA F9, VERIFY,
// PSO:DECIPHER (TestColdUnlockWithoutCert: the same without certificate).
func TestColdUnlockAPDUCount(t *testing.T) {
	for _, tc := range []struct{ algo, quirks string }{
		{"cv25519", ""}, {"nistp384", ""}, {"rsa2048", ""}, {"rsa4096", ""},
		{"cv25519", "yubikey"}, {"rsa4096", "yubikey"}, {"nistp256", "noext"},
	} {
		t.Run(tc.algo+"/"+tc.quirks, func(t *testing.T) {
			f := newFixture(t, tc.algo, tc.quirks)
			f.card.ResetCount()
			p := core.NewScriptedPrompter("123456")
			if _, _, err := f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p}); err != nil {
				t.Fatal(err)
			}
			if n := f.card.APDUCount(); n > 5 {
				t.Errorf("cold unlock took %d APDUs, want at most 5", n)
			}
		})
	}
}

func TestWrongPINThenRight(t *testing.T) {
	f := newFixture(t, "cv25519", "")
	p := core.NewScriptedPrompter("654321", "123456")
	m, _, err := f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p})
	if err != nil {
		t.Fatal(err)
	}
	m.Wipe()
	if len(p.Requests) != 2 || p.Requests[0].TriesLeft != 3 || p.Requests[1].TriesLeft != 2 || !strings.Contains(p.Requests[1].Message, "2 tries left") {
		for _, r := range p.Requests {
			t.Logf("%d %q", r.TriesLeft, r.Message)
		}
		t.Fatalf("prompts")
	}
	if pw1, _, _ := f.card.Tries(); pw1 != 3 {
		t.Errorf("tries after a good PIN %d", pw1)
	}
}

func TestPINSafety(t *testing.T) {
	for _, quirks := range []string{"", "pin63cx", "yubikey", "kdf"} {
		t.Run(quirks, func(t *testing.T) {
			f := newFixture(t, "nistp256", quirks)
			// Two wrong PINs: each decrements and is reported; the same wrong
			// PIN is not sent twice.
			p := core.NewScriptedPrompter("111111", "111111", "222222")
			_, _, err := f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p})
			if err == nil {
				t.Fatal("decrypted with wrong PINs")
			}
			if pw1, _, _ := f.card.Tries(); pw1 != 1 {
				t.Fatalf("card counter %d after two distinct wrong PINs, want 1 (%v)", pw1, err)
			}
			if !strings.Contains(err.Error(), "1 try left") && !errors.Is(err, core.ErrLastTry) {
				t.Errorf("error does not report the last try: %v", err)
			}
			// At 1 try left: refused without force, no VERIFY sent.
			f.card.ResetCount()
			p = core.NewScriptedPrompter("123456")
			_, _, err = f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p})
			if !errors.Is(err, core.ErrLastTry) {
				t.Fatalf("at 1 try left: %v", err)
			}
			if pw1, _, _ := f.card.Tries(); pw1 != 1 {
				t.Fatalf("counter moved to %d", pw1)
			}
			// With force, a wrong PIN blocks the card and says so.
			p = core.NewScriptedPrompter("333333")
			_, _, err = f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p, Force: true})
			if err == nil || !strings.Contains(err.Error(), "blocked") {
				t.Fatalf("blocking try: %v", err)
			}
			// Blocked: clear error, no VERIFY even with force.
			p = core.NewScriptedPrompter("123456")
			_, _, err = f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p, Force: true})
			if !errors.Is(err, core.ErrPINBlocked) || !strings.Contains(err.Error(), "admin PIN") {
				t.Fatalf("blocked card: %v", err)
			}
			if pw1, _, _ := f.card.Tries(); pw1 != 0 {
				t.Fatalf("counter %d", pw1)
			}
		})
	}
}

func TestForceLastTry(t *testing.T) {
	f := newFixture(t, "cv25519", "")
	p := core.NewScriptedPrompter("111111", "222222")
	if _, _, err := f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p}); err == nil {
		t.Fatal("decrypted")
	}
	p = core.NewScriptedPrompter("123456")
	m, _, err := f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Plaintext) != plaintext || p.Requests[0].TriesLeft != 1 {
		t.Fatalf("%q %+v", m.Plaintext, p.Requests)
	}
}

func TestShortPINNotSent(t *testing.T) {
	f := newFixture(t, "cv25519", "")
	p := core.NewScriptedPrompter("12345", "123456")
	if _, _, err := f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p}); err != nil {
		t.Fatal(err)
	}
	if pw1, _, _ := f.card.Tries(); pw1 != 3 || len(p.Requests) != 2 || p.Requests[1].TriesLeft != 3 {
		t.Fatalf("counter %d, prompts %+v", pw1, p.Requests)
	}
}

func TestCardRemovedMidPSO(t *testing.T) {
	f := newFixture(t, "nistp256", "")
	f.slot.onTransmit = func(cmd []byte) bool { return len(cmd) > 2 && cmd[1] == 0x2A }
	p := core.NewScriptedPrompter("123456")
	m, _, err := f.decrypt(t, Options{Certs: f.cert(t)}, core.DecryptOptions{Prompter: p})
	if err == nil || m != nil {
		t.Fatalf("decrypted without the card: %v", m)
	}
	if !strings.Contains(err.Error(), "removed") || !strings.Contains(err.Error(), "card FF4B:12345678") {
		t.Fatalf("error: %v", err)
	}
}

func TestTouchTimeout(t *testing.T) {
	for _, quirks := range []string{"uif,touch=never,touchtimeout=20ms", "gnuk,uif,touch=never,touchtimeout=20ms"} {
		t.Run(quirks, func(t *testing.T) {
			f := newFixture(t, "cv25519", quirks)
			p := core.NewScriptedPrompter("123456")
			_, _, err := f.decrypt(t, Options{Certs: f.cert(t), Prompter: p}, core.DecryptOptions{Prompter: p})
			if err == nil || !strings.Contains(err.Error(), "touch") {
				t.Fatalf("err %v", err)
			}
			if len(p.Notes) == 0 || !strings.Contains(p.Notes[0], "Touch card FF4B:12345678") {
				t.Errorf("notes %q", p.Notes)
			}
		})
	}
}

func TestSelectAndWait(t *testing.T) {
	ctx := context.Background()
	mk := func(serial uint32) *sim.Card {
		c, err := sim.New(t.TempDir(), sim.Options{Serial: serial})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ImportKey(sim.SlotDec, entity(t, "cv25519").Subkeys[0].PrivateKey); err != nil {
			t.Fatal(err)
		}
		return c
	}
	conn := newSimConnector()
	conn.insert("Reader A", mk(0x11111111))
	conn.insert("Reader B", mk(0x22222222))
	for sel, want := range map[string]string{"": "", "22222222": "Reader B", "ff4b:11111111": "Reader A", "D276000124010304FF4B222222220000": "Reader B"} {
		devs, err := NewBackend(Options{Connector: conn, Select: sel}).Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sel == "" {
			if len(devs) != 2 {
				t.Fatalf("%d devices", len(devs))
			}
			continue
		}
		if len(devs) != 1 || devs[0].(*Device).Reader() != want {
			t.Fatalf("select %q: %d devices", sel, len(devs))
		}
	}
	// Waiting: the card shows up after a while.
	p := core.NewScriptedPrompter()
	b := NewBackend(Options{Connector: conn, Select: "33333333", Wait: 5 * time.Second, Prompter: p, PollInterval: 10 * time.Millisecond})
	late := mk(0x33333333)
	go func() {
		time.Sleep(50 * time.Millisecond)
		conn.insert("Reader C", late)
	}()
	devs, err := b.Devices(ctx)
	if err != nil || len(devs) != 1 || devs[0].(*Device).Reader() != "Reader C" {
		t.Fatalf("wait: %v %v", devs, err)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "Insert card 33333333") {
		t.Errorf("notes %q", p.Notes)
	}
	// Timeout.
	b = NewBackend(Options{Connector: conn, Select: "44444444", Wait: 30 * time.Millisecond, PollInterval: 5 * time.Millisecond})
	if _, err := b.Devices(ctx); err == nil || !strings.Contains(err.Error(), "card 44444444 was not inserted within") {
		t.Fatalf("timeout: %v", err)
	}
}

// TestStaleCounterRefused: another application spends PIN tries between
// TriesLeft and Unlock; Unlock reads the counter again and refuses the
// last try instead of spending it.
func TestStaleCounterRefused(t *testing.T) {
	saved := freshTries
	freshTries = 0
	defer func() { freshTries = saved }()
	f := newFixture(t, "cv25519", "")
	ctx := context.Background()
	devs, err := NewBackend(Options{Connector: f.conn, Certs: f.cert(t)}).Devices(ctx)
	if err != nil || len(devs) != 1 {
		t.Fatal(devs, err)
	}
	keys, _ := devs[0].Keys(ctx)
	k := keys[0]
	if n := k.TriesLeft(ctx); n != 3 {
		t.Fatalf("tries %d", n)
	}
	for _, pin := range []string{"999999", "888888"} { // someone else, behind our back
		f.card.Transmit(append([]byte{0x00, 0x20, 0x00, 0x82, 0x06}, pin...))
	}
	f.card.Transmit([]byte{0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01})
	err = k.Unlock(ctx, []byte("123456"))
	if !errors.Is(err, core.ErrLastTry) {
		t.Fatalf("unlock with a stale count: %v", err)
	}
	if pw1, _, _ := f.card.Tries(); pw1 != 1 {
		t.Fatalf("counter %d", pw1)
	}
	// Now that the count was shown, a forced unlock goes through the keystore.
	if n := k.TriesLeft(ctx); n != 1 {
		t.Fatalf("tries %d", n)
	}
	if err := k.Unlock(ctx, []byte("123456")); err != nil {
		t.Fatal(err)
	}
}

// TestAUTKeyViaMSE: a card that supports MSE (C0 byte 9) decrypts with its
// authentication key too; keyunlock switches the card between the keys.
func TestAUTKeyViaMSE(t *testing.T) {
	c, err := sim.New(t.TempDir(), sim.Options{Serial: 0x31313131})
	if err != nil {
		t.Fatal(err)
	}
	dec, aut := entity(t, "cv25519"), entity(t, "rsa2048")
	if err := c.ImportKey(sim.SlotDec, dec.Subkeys[0].PrivateKey); err != nil {
		t.Fatal(err)
	}
	if err := c.ImportKey(sim.SlotAut, aut.Subkeys[0].PrivateKey); err != nil {
		t.Fatal(err)
	}
	conn := newSimConnector()
	conn.insert("Reader", c)
	ks := core.NewKeystore(NewBackend(Options{Connector: conn}))
	ctx := context.Background()
	infos, err := ks.ListKeys(ctx)
	if err != nil || len(infos) != 2 {
		t.Fatalf("%+v %v", infos, err)
	}
	p := core.NewScriptedPrompter("123456")
	for _, e := range []*gopenpgp.Entity{dec, aut, dec, aut} {
		var msg bytes.Buffer
		if err := core.Encrypt(&msg, pgptest.AllFromGoCrypto(t, e.Subkeys[0].PublicKey), []byte(plaintext)); err != nil {
			t.Fatal(err)
		}
		m, err := core.DecryptMessage(ctx, ks, &msg, core.DecryptOptions{Prompter: p})
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Plaintext) != plaintext || m.Result.Fingerprint != fmt.Sprintf("%X", e.Subkeys[0].PublicKey.Fingerprint) {
			t.Fatalf("%q by %s", m.Plaintext, m.Result.Fingerprint)
		}
	}
	if len(p.Requests) != 1 {
		t.Errorf("%d PIN prompts for one card", len(p.Requests))
	}
	// The YubiKey has no MSE: its AUT key is not offered for decryption.
	y, err := sim.New(t.TempDir(), sim.Options{Quirks: sim.Quirks{YubiKey: true}})
	if err != nil {
		t.Fatal(err)
	}
	y.ImportKey(sim.SlotDec, dec.Subkeys[0].PrivateKey)
	y.ImportKey(sim.SlotAut, aut.Subkeys[0].PrivateKey)
	conn.insert("Reader", y)
	infos, err = core.NewKeystore(NewBackend(Options{Connector: conn})).ListKeys(ctx)
	if err != nil || len(infos) != 1 {
		t.Fatalf("YubiKey keys: %+v %v", infos, err)
	}
}

// TestSigningKeyInAUTSlot: an ECDSA key in the AUT slot (as gpg makes it)
// is not offered for decryption, and without certificates the card still
// works with its DEC key.
func TestSigningKeyInAUTSlot(t *testing.T) {
	f := newFixture(t, "nistp256", "")
	if err := f.card.ImportKey(sim.SlotAut, f.entity.PrivateKey); err != nil {
		t.Fatal(err)
	}
	p := core.NewScriptedPrompter("123456")
	m, b, err := f.decrypt(t, Options{}, core.DecryptOptions{Prompter: p})
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Plaintext) != plaintext {
		t.Fatalf("%q", m.Plaintext)
	}
	infos, err := core.NewKeystore(b).ListKeys(context.Background())
	if err != nil || len(infos) != 1 {
		t.Fatalf("%+v %v", infos, err)
	}
}

// lateConnector fails like an unreachable pcscd for its first calls.
type lateConnector struct {
	*simConnector
	fails int
}

func (l *lateConnector) Readers(ctx context.Context) ([]string, error) {
	if l.fails > 0 {
		l.fails--
		return nil, errors.New("pcscd is not running")
	}
	return l.simConnector.Readers(ctx)
}

func TestWaitForService(t *testing.T) {
	f := newFixture(t, "cv25519", "")
	ctx := context.Background()
	b := NewBackend(Options{Connector: &lateConnector{f.conn, 3}, Wait: 5 * time.Second, PollInterval: 5 * time.Millisecond})
	devs, err := b.Devices(ctx)
	if err != nil || len(devs) != 1 {
		t.Fatalf("%v %v", devs, err)
	}
	b = NewBackend(Options{Connector: &lateConnector{f.conn, 1 << 30}, Wait: 30 * time.Millisecond, PollInterval: 5 * time.Millisecond})
	if _, err := b.Devices(ctx); err == nil || !strings.Contains(err.Error(), "pcscd is not running") {
		t.Fatalf("%v", err)
	}
	b = NewBackend(Options{Connector: &lateConnector{f.conn, 1}})
	if _, err := b.Devices(ctx); err == nil || !strings.Contains(err.Error(), "cannot list card readers") {
		t.Fatalf("%v", err)
	}
}
