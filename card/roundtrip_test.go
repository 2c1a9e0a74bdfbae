package card

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/pcsc"
	"github.com/keyunlock/keyunlock/pcsc/ccid"
	"github.com/keyunlock/keyunlock/pcsc/ccid/ccidtest"
)

// connCalls counts the calls the backend makes on its Connector and Conns.
// Through pcscd each is one request on the socket (Connect is two:
// SCardConnect and SCardStatus for the ATR); Check is the presence check
// (SCardStatus).
type connCalls struct {
	Readers, Connect, Transmit, Begin, End, Check int
}

func (c connCalls) String() string {
	return fmt.Sprintf("readers %d, connect %d, transmit %d, begin %d, end %d, status %d", c.Readers, c.Connect, c.Transmit, c.Begin, c.End, c.Check)
}

// countingConnector wraps a Connector and counts its calls.
type countingConnector struct {
	Connector
	mu sync.Mutex
	n  connCalls
}

func (c *countingConnector) add(f func(*connCalls)) {
	c.mu.Lock()
	f(&c.n)
	c.mu.Unlock()
}

func (c *countingConnector) calls() connCalls {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingConnector) Readers(ctx context.Context) ([]string, error) {
	c.add(func(n *connCalls) { n.Readers++ })
	return c.Connector.Readers(ctx)
}

func (c *countingConnector) Connect(ctx context.Context, reader string) (Conn, error) {
	c.add(func(n *connCalls) { n.Connect++ })
	conn, err := c.Connector.Connect(ctx, reader)
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: conn, c: c}
	if s, ok := conn.(shortOnly); ok {
		return &countingShortConn{cc, s}, nil
	}
	return cc, nil
}

type countingConn struct {
	Conn
	c *countingConnector
}

type countingShortConn struct {
	*countingConn
	shortOnly
}

func (k *countingConn) Transmit(cmd []byte) ([]byte, error) {
	k.c.add(func(n *connCalls) { n.Transmit++ })
	return k.Conn.Transmit(cmd)
}

func (k *countingConn) Begin() error {
	k.c.add(func(n *connCalls) { n.Begin++ })
	return k.Conn.Begin()
}

func (k *countingConn) End() error {
	k.c.add(func(n *connCalls) { n.End++ })
	return k.Conn.End()
}

func (k *countingConn) Check() error {
	k.c.add(func(n *connCalls) { n.Check++ })
	return k.Conn.Check()
}

// withPresenceFresh sets presenceFresh for the rest of the test.
func withPresenceFresh(t *testing.T, d time.Duration) {
	old := presenceFresh
	presenceFresh = d
	t.Cleanup(func() { presenceFresh = old })
}

// decryptWith decrypts f.msg through ks with PIN 123456.
func (f *fixture) decryptWith(t *testing.T, ks *core.Keystore) {
	t.Helper()
	m, err := core.DecryptMessage(context.Background(), ks, bytes.NewReader(f.msg), core.DecryptOptions{Prompter: core.NewScriptedPrompter("123456")})
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Plaintext) != plaintext {
		t.Fatalf("plaintext %q", m.Plaintext)
	}
	m.Wipe()
}

// TestCCIDMessagesPerUnlock counts the CCID messages of a cold unlock and
// of a second decryption in the same session over the direct CCID
// driver: the APDUs, one power-on and at most one presence check
// (GetSlotStatus) when the card first shows up. Over T=0 the GET RESPONSE
// TPDUs are XfrBlocks too.
func TestCCIDMessagesPerUnlock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reader ccid.Descriptor
		quirks string
		pso    int // APDUs of PSO:DECIPHER: with GET RESPONSE over T=0
	}{
		{"yubikey", ccidtest.YubiKey, "yubikey", 1},
		{"qemu-t0", ccidtest.QEMU, "t0", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withPresenceFresh(t, time.Minute) // no slow machine turns an exchange stale
			f := newFixture(t, "cv25519", tc.quirks)
			emu := ccidtest.New(tc.reader, f.card)
			src := newEmuSource()
			src.add("1-2", "Emulated Reader", emu)
			b := NewBackend(Options{Connector: newCCIDConnector(src, ""), Certs: f.cert(t)})
			defer b.Close()
			ks := core.NewKeystore(b)

			f.card.ResetCount()
			f.decryptWith(t, ks)
			got, apdus := emu.Counts(), f.card.APDUCount()
			t.Logf("cold unlock: %d APDUs, %s", apdus, got)
			if tc.name == "yubikey" && apdus != 5 {
				t.Errorf("cold unlock: %d APDUs, want 5 (SELECT, GET DATA 6E, GET DATA F9, VERIFY, PSO:DECIPHER)", apdus)
			}
			if got.XfrBlock != apdus || got.PowerOn != 1 || got.SlotStatus > 1 || got.PowerOff != 0 || got.Other != 0 {
				t.Errorf("cold unlock: %s for %d APDUs; want one XfrBlock per APDU, 1 power-on, at most 1 status", got, apdus)
			}

			// A second message in the same session: the PIN stays verified,
			// so only PSO:DECIPHER, and no presence check right after the
			// card answered.
			before := emu.Counts()
			f.card.ResetCount()
			f.decryptWith(t, ks)
			got, apdus = emu.Counts().Sub(before), f.card.APDUCount()
			t.Logf("second decryption: %d APDUs, %s", apdus, got)
			if apdus != tc.pso || got.XfrBlock != apdus || got.SlotStatus != 0 || got.PowerOn != 0 {
				t.Errorf("second decryption: %s for %d APDUs; want only PSO:DECIPHER", got, apdus)
			}

			// After a pause the card is checked once, by the reader listing,
			// before it is used.
			presenceFresh = 300 * time.Millisecond
			time.Sleep(400 * time.Millisecond)
			before = emu.Counts()
			f.card.ResetCount()
			f.decryptWith(t, ks)
			got, apdus = emu.Counts().Sub(before), f.card.APDUCount()
			t.Logf("decryption after a pause: %d APDUs, %s", apdus, got)
			if apdus != tc.pso || got.XfrBlock != apdus || got.PowerOn != 0 || got.SlotStatus != 1 {
				t.Errorf("decryption after a pause: %s for %d APDUs; want PSO:DECIPHER after a presence check", got, apdus)
			}
		})
	}
}

// TestCCIDCardPulledWithinPresenceWindow pulls the card right after it
// answered, when no presence check is made: the next APDU finds it gone
// and the error says so; put back, the card is powered up and found again.
func TestCCIDCardPulledWithinPresenceWindow(t *testing.T) {
	withPresenceFresh(t, time.Minute)
	f := newFixture(t, "cv25519", "yubikey")
	emu := ccidtest.New(ccidtest.YubiKey, f.card)
	src := newEmuSource()
	src.add("1-2", "Emulated Reader", emu)
	b := NewBackend(Options{Connector: newCCIDConnector(src, ""), Certs: f.cert(t)})
	defer b.Close()
	ks := core.NewKeystore(b)
	f.decryptWith(t, ks)

	emu.Insert(nil)
	_, err := core.DecryptMessage(context.Background(), ks, bytes.NewReader(f.msg), core.DecryptOptions{Prompter: core.NewScriptedPrompter("123456")})
	if err == nil || !strings.Contains(err.Error(), "removed") || !strings.Contains(err.Error(), "insert it") || !strings.Contains(err.Error(), "12345678") {
		t.Fatalf("decrypt with the card pulled: %v", err)
	}
	// Reinserted (unpowered, PIN state gone): a fresh scan opens it again,
	// and the PIN is asked for again.
	emu.Insert(f.card)
	before := f.card.APDUCount()
	f.decryptWith(t, ks)
	if n := f.card.APDUCount() - before; n != 5 {
		t.Errorf("unlock after reinsertion: %d APDUs, want a cold unlock's 5", n)
	}
}

// TestConnCallsPerUnlock counts the backend's calls on its connection for a
// cold unlock and a second decryption: no presence check (SCardStatus
// through pcscd) while the card keeps answering, and a card reset by
// another application in between is still reported as such.
func TestConnCallsPerUnlock(t *testing.T) {
	withPresenceFresh(t, time.Minute)
	f := newFixture(t, "cv25519", "")
	cc := &countingConnector{Connector: f.conn}
	b := NewBackend(Options{Connector: cc, Certs: f.cert(t)})
	defer b.Close()
	ks := core.NewKeystore(b)
	f.card.ResetCount()
	f.decryptWith(t, ks)
	got := cc.calls()
	t.Logf("cold unlock: %d APDUs; %s", f.card.APDUCount(), got)
	if got.Check != 0 || got.Transmit != f.card.APDUCount() || got.Transmit != 5 || got.Connect != 1 || got.Begin != got.End {
		t.Errorf("cold unlock: %s", got)
	}
	f.decryptWith(t, ks)
	second := cc.calls()
	if second.Check != 0 || second.Transmit != got.Transmit+1 || second.Connect != 1 {
		t.Errorf("second decryption: %s (after %s)", second, got)
	}

	// Reset by someone else right after the card answered: the next
	// transaction says so, and the attempt after it opens the card afresh.
	f.slot.gen++
	_, err := core.DecryptMessage(context.Background(), ks, bytes.NewReader(f.msg), core.DecryptOptions{Prompter: core.NewScriptedPrompter("123456")})
	if err == nil || !strings.Contains(err.Error(), "reset by another application") || !strings.Contains(err.Error(), "run the command again") {
		t.Fatalf("decrypt after a reset: %v", err)
	}
	f.decryptWith(t, ks)
	// Reset after a pause: the presence check sees it first, and the card
	// is opened afresh at once.
	presenceFresh = 0
	f.slot.gen++
	before := cc.calls()
	f.decryptWith(t, ks)
	if n := cc.calls(); n.Connect != before.Connect+1 || n.Check == before.Check {
		t.Errorf("decrypt after a pause and a reset: %s (before %s)", n, before)
	}
}

// TestPCSCCallsPerUnlock is TestConnCallsPerUnlock through a real pcscd:
// the calls and requests the backend makes on its pcscd connection for a
// cold unlock and a second decryption, and that a card reset through
// pcscd by another client in between is reported as a reset.
func TestPCSCCallsPerUnlock(t *testing.T) {
	withPresenceFresh(t, time.Minute)
	srv := pcsctest.Start(t)
	f := newFixture(t, "cv25519", "")
	insertCard(t, srv, 0, f.card)
	conn, err := NewPCSCConnector(pcsc.WithSocket(srv.Socket))
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConnector{Connector: conn}
	b := NewBackend(Options{Connector: cc, Certs: f.cert(t), Reader: srv.Readers[0]})
	defer b.Close()
	ks := core.NewKeystore(b)
	pctx := conn.(*pcscConnector).current()
	req0 := pctx.Requests()
	f.card.ResetCount()
	f.decryptWith(t, ks)
	got := cc.calls()
	reqs := pctx.Requests() - req0
	t.Logf("cold unlock through pcscd: %d APDUs, %d pcscd requests; %s", f.card.APDUCount(), reqs, got)
	if got.Check != 0 || got.Transmit != 5 || got.Connect != 1 || got.Begin != got.End {
		t.Errorf("cold unlock through pcscd: %s", got)
	}
	// Protocol 4.4: one request per listing, SCardConnect (the ATR comes
	// from the listing), the APDUs, and a BeginTransaction and
	// EndTransaction around each of the three exchanges (open, VERIFY,
	// PSO:DECIPHER). It was 29 with a status check before each use.
	if reqs > 15 {
		t.Errorf("cold unlock through pcscd: %d requests, want at most 15", reqs)
	}
	req0 = pctx.Requests()
	f.decryptWith(t, ks)
	reqs = pctx.Requests() - req0
	t.Logf("second decryption through pcscd: %d pcscd requests", reqs)
	if reqs > 4 {
		t.Errorf("second decryption through pcscd: %d requests, want at most 4 (listing, begin, PSO:DECIPHER, end)", reqs)
	}
	if second := cc.calls(); second.Check != 0 || second.Transmit != got.Transmit+1 {
		t.Errorf("second decryption: %s (after %s)", second, got)
	}

	// Another client resets the card: our next transaction fails clearly.
	other, err := pcsc.EstablishContext(pcsc.WithSocket(srv.Socket))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	card, err := other.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	if err := card.Disconnect(pcsc.ResetCard); err != nil {
		t.Fatal(err)
	}
	_, err = core.DecryptMessage(context.Background(), ks, bytes.NewReader(f.msg), core.DecryptOptions{Prompter: core.NewScriptedPrompter("123456")})
	if err == nil || !strings.Contains(err.Error(), "reset by another application") {
		t.Fatalf("decrypt after a reset: %v", err)
	}
	f.decryptWith(t, ks)
}
