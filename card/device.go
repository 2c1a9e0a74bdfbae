package card

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/card/iso7816"
	"github.com/keyunlock/keyunlock/card/openpgp"
	"github.com/keyunlock/keyunlock/core"
)

var errNotOpenPGP = openpgp.ErrNotOpenPGP

// Device is one OpenPGP card in one reader. Its methods are safe for
// concurrent use; every card exchange runs inside a PC/SC transaction.
type Device struct {
	reader string
	opts   Options

	mu    sync.Mutex
	conn  Conn
	card  *openpgp.Card
	ard   *openpgp.ARD
	keys  []*Key
	dead  error // set when the card was removed or reset
	state cardState
	// seen is when the card last answered (an APDU or a presence check).
	seen time.Time
}

// cardState is what keyunlock knows about the card's volatile state.
type cardState struct {
	selected bool // the OpenPGP application is selected
	verified bool // PW1 (82) verified in this card session
	tries    int  // PW1 tries left as last read; -1 unknown
	// triesAt is when tries was read from the card.
	triesAt time.Time
	// triesShown is the count last returned by TriesLeft, on which the
	// caller based its decision to unlock.
	triesShown int
	aut        bool // MSE made the AUT key the decryption key
	// failed remembers the PINs the card rejected (as keyed hashes), so
	// that the same wrong PIN is never sent twice.
	failed map[[32]byte]bool
}

func openDevice(ctx context.Context, conn Connector, reader string, opts Options) (*Device, error) {
	c, err := conn.Connect(ctx, reader)
	if err != nil {
		return nil, fmt.Errorf("reader %q: cannot connect to the card: %w", reader, err)
	}
	d := &Device{reader: reader, opts: opts, conn: c, state: cardState{tries: -1, triesShown: -1, failed: map[[32]byte]bool{}}}
	caps := iso7816.Caps{T0: c.T0()}
	if h, err := iso7816.HistoricalBytes(c.ATR()); err == nil {
		caps.Chaining, caps.Extended, _ = iso7816.CapsFromHistorical(h)
	}
	if s, ok := c.(shortOnly); ok && s.ShortAPDUsOnly() {
		caps.ShortOnly = true // the reader cannot carry extended APDUs, whatever the card says
	}
	d.card = openpgp.New(connTransport{c: c, seen: &d.seen}, caps)
	err = d.transact(func() error {
		if err := d.card.Open(); err != nil {
			return err
		}
		d.state.selected = true
		return nil
	})
	if err != nil {
		c.Close()
		if errors.Is(err, openpgp.ErrNotOpenPGP) {
			return nil, err
		}
		return nil, fmt.Errorf("card in reader %q: %w", reader, err)
	}
	d.ard = d.card.ARD
	d.state.tries = d.ard.PWStatus.TriesPW1
	d.state.triesAt = time.Now()
	d.buildKeys()
	return d, nil
}

// transact runs f inside a PC/SC transaction. A transport error marks the
// card as gone.
func (d *Device) transact(f func() error) error {
	if err := d.conn.Begin(); err != nil {
		return d.lost(err)
	}
	err := f()
	if e := d.conn.End(); e != nil && err == nil {
		err = &transportError{e}
	}
	var te *transportError
	if errors.As(err, &te) {
		return d.lost(te.err)
	}
	if errors.Is(err, iso7816.ErrNoStatus) {
		if cerr := d.conn.Check(); cerr != nil {
			return d.lost(cerr)
		}
		return d.lost(err)
	}
	return err
}

// transportError marks an error of the connection to the card (removed,
// reset, reader gone), as opposed to an answer of the card.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// connTransport is the Conn as the APDU layer sees it, with its errors
// marked as transport errors. Each answer (whatever its status word)
// shows the card present: seen records when (under the Device's lock).
type connTransport struct {
	c    Conn
	seen *time.Time
}

// Transmit sends one APDU through the connection.
func (t connTransport) Transmit(cmd []byte) ([]byte, error) {
	resp, err := t.c.Transmit(cmd)
	if err != nil {
		return nil, &transportError{err}
	}
	*t.seen = time.Now()
	return resp, nil
}

func (d *Device) lost(err error) error {
	if errors.Is(err, ErrReset) {
		d.dead = fmt.Errorf("%s was reset by another application: run the command again (%v)", d.name(), err)
	} else {
		d.dead = fmt.Errorf("%s was removed or stopped answering: insert it and run the command again (%v)", d.name(), err)
	}
	d.state.verified = false
	d.state.selected = false
	return d.dead
}

// presenceFresh is how long a card that answered is taken to be present
// without asking the reader again (GetSlotStatus over CCID, SCardStatus
// through pcscd). Within it, alive sends nothing: a card pulled or reset
// meanwhile fails the next exchange instead (Begin or Transmit), which
// marks it lost with the same error.
var presenceFresh = 2 * time.Second

// alive returns nil while the card is usable: it answered within
// presenceFresh, or the reader says it is still there now.
func (d *Device) alive() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead != nil {
		return d.dead
	}
	if time.Since(d.seen) < presenceFresh {
		return nil
	}
	if s, ok := d.conn.(seenConn); ok && time.Since(s.Seen()) < presenceFresh {
		return nil // the connector saw it just now (a reader scan)
	}
	if err := d.conn.Check(); err != nil {
		return d.lost(err)
	}
	d.seen = time.Now()
	return nil
}

func (d *Device) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state.verified = false
	d.conn.Close()
	if d.dead == nil {
		d.dead = fmt.Errorf("%s: connection closed", d.name())
	}
}

// name is how messages refer to the card: "card 0006:23852774 in reader …".
func (d *Device) name() string {
	if d.ard == nil {
		return fmt.Sprintf("the card in reader %q", d.reader)
	}
	return fmt.Sprintf("card %s in reader %q", d.source(), d.reader)
}

func (d *Device) source() string {
	return fmt.Sprintf("%04X:%s", d.ard.Manufacturer, d.ard.SerialString())
}

// ID implements core.Device: "card <AID>".
func (d *Device) ID() string { return "card " + d.ard.AIDString() }

// Reader is the name of the reader holding the card.
func (d *Device) Reader() string { return d.reader }

// ARD returns the application data read when the card was opened.
func (d *Device) ARD() *openpgp.ARD { return d.ard }

// KDF reports whether the card hashes PINs with its KDF-DO.
func (d *Device) KDF() bool { return d.card.KDF != nil }

// Keys implements core.Device.
func (d *Device) Keys(ctx context.Context) ([]core.Key, error) {
	out := make([]core.Key, 0, len(d.keys))
	for _, k := range d.keys {
		out = append(out, k)
	}
	return out, nil
}

// matches reports whether sel names this card: serial as gpg prints it,
// MMMM:SERIAL, or the AID.
func (d *Device) matches(sel string) bool {
	sel = strings.ToUpper(strings.TrimSpace(sel))
	serial := d.ard.SerialString()
	switch {
	case sel == d.ard.AIDString(), sel == d.source():
		return true
	case strings.TrimLeft(sel, "0") == strings.TrimLeft(serial, "0") && sel != "":
		return true
	}
	return false
}

// freshTries is how long a retry counter read from the card is trusted
// before a VERIFY without reading it again. Within it, a cold unlock with
// the PIN given needs no GET DATA C4 of its own: SELECT, GET DATA 6E,
// [GET DATA F9], VERIFY, PSO:DECIPHER.
var freshTries = 2 * time.Second

// currentTries returns the PW1 retry counter, read from the card (GET
// DATA C4) unless the last reading is younger than freshTries.
func (d *Device) currentTries() (int, error) {
	if d.state.tries >= 0 && time.Since(d.state.triesAt) < freshTries {
		return d.state.tries, nil
	}
	st, err := d.card.ReadPWStatus()
	if err != nil {
		return -1, err
	}
	d.state.tries = st.TriesPW1
	d.state.triesAt = time.Now()
	return d.state.tries, nil
}

// ensureSelected re-selects the application after our own reset (Lock).
func (d *Device) ensureSelected() error {
	if d.state.selected {
		return nil
	}
	if err := d.card.Select(); err != nil {
		return err
	}
	d.state.selected = true
	d.state.aut = false
	return nil
}
