package vpcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultAddr is where Debian's vpcd configuration (/etc/reader.conf.d/vpcd)
// listens for the card of its first slot.
const DefaultAddr = "127.0.0.1:35963"

// redialDelay is how long the front end waits before dialling vpcd again
// after a failed dial or a dropped connection.
const redialDelay = 100 * time.Millisecond

// Frontend plugs a Card into one vpcd slot. vpcd listens on a TCP port per
// slot; the front end dials it, and while the connection is up pcscd sees the
// card as inserted. Remove and Insert simulate pulling the card out of the
// reader and putting it back.
//
// The Card's methods are only ever called from the goroutine running Run, one
// at a time.
type Frontend struct {
	addr string
	card Card

	// Logf, if set, receives connection events (dial failures, drops).
	Logf func(format string, args ...any)

	mu       sync.Mutex
	removed  bool
	conn     net.Conn
	changed  chan struct{} // closed and replaced on every Insert/Remove
	upNotify []chan struct{}
}

// NewFrontend returns a front end that will serve c to the vpcd slot
// listening at addr (host:port) once Run is called. The card starts inserted.
func NewFrontend(addr string, c Card) *Frontend {
	return &Frontend{addr: addr, card: c, changed: make(chan struct{})}
}

// Serve connects c to the vpcd slot at addr and answers vpcd until ctx is
// cancelled, reconnecting whenever vpcd goes away. It returns nil after ctx
// is cancelled.
func Serve(ctx context.Context, addr string, c Card) error {
	return NewFrontend(addr, c).Run(ctx)
}

// Run serves the card until ctx is cancelled, then closes the connection and
// returns nil. If vpcd is not listening yet, or restarts, Run keeps dialling
// every 100 ms.
func (f *Frontend) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		if f.conn != nil {
			f.conn.Close()
		}
		f.mu.Unlock()
	})
	defer stop()
	for ctx.Err() == nil {
		f.mu.Lock()
		removed, changed := f.removed, f.changed
		f.mu.Unlock()
		if removed {
			select {
			case <-ctx.Done():
			case <-changed:
			}
			continue
		}
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := d.DialContext(dctx, "tcp", f.addr)
		cancel()
		if err != nil {
			f.logf("vpcd: dialling %s: %v", f.addr, err)
			select {
			case <-ctx.Done():
			case <-time.After(redialDelay):
			}
			continue
		}
		f.mu.Lock()
		if f.removed || ctx.Err() != nil {
			f.mu.Unlock()
			conn.Close()
			continue
		}
		f.conn = conn
		for _, ch := range f.upNotify {
			close(ch)
		}
		f.upNotify = nil
		f.mu.Unlock()

		err = f.serveConn(conn)

		f.mu.Lock()
		f.conn = nil
		f.mu.Unlock()
		conn.Close()
		if ctx.Err() == nil && err != nil {
			f.logf("vpcd: connection to %s ended: %v", f.addr, err)
			select {
			case <-ctx.Done():
			case <-time.After(redialDelay):
			}
		}
	}
	return nil
}

// Remove pulls the card out: the connection to vpcd is closed and not
// re-established until Insert. pcscd notices within its 400 ms poll.
func (f *Frontend) Remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed {
		return
	}
	f.removed = true
	if f.conn != nil {
		f.conn.Close()
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// Insert puts the card back after Remove. The front end dials vpcd again;
// the card gets a fresh power-up (Reset) from pcscd.
func (f *Frontend) Insert() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.removed {
		return
	}
	f.removed = false
	close(f.changed)
	f.changed = make(chan struct{})
}

// Connected returns a channel that is closed once the front end holds a
// connection to vpcd (immediately if it already does).
func (f *Frontend) Connected() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	if f.conn != nil {
		close(ch)
		return ch
	}
	f.upNotify = append(f.upNotify, ch)
	return ch
}

func (f *Frontend) logf(format string, args ...any) {
	if f.Logf != nil {
		f.Logf(format, args...)
	}
}

// serveConn answers vpcd's frames on conn until it fails.
func (f *Frontend) serveConn(conn net.Conn) error {
	for {
		quickAck(conn)
		msg, err := ReadFrame(conn)
		if err != nil {
			return err
		}
		reply, err := f.handle(msg)
		if err != nil {
			return err
		}
		if reply == nil {
			continue
		}
		if err := WriteFrame(conn, reply); err != nil {
			return err
		}
	}
}

// handle answers one frame from vpcd. A nil reply means nothing is sent back.
func (f *Frontend) handle(msg []byte) ([]byte, error) {
	switch len(msg) {
	case 0:
		return nil, nil // vpcd never sends empty frames; ignore one.
	case 1:
		switch msg[0] {
		case ctrlPowerOff, ctrlReset:
			f.card.Reset()
			return nil, nil
		case ctrlPowerOn:
			return nil, nil
		case ctrlGetATR:
			atr := f.card.ATR()
			if len(atr) == 0 {
				return nil, errors.New("vpcd: card has no ATR")
			}
			return atr, nil
		default:
			f.logf("vpcd: ignoring unknown control byte %#02x", msg[0])
			return nil, nil
		}
	default:
		resp := f.card.Transmit(msg)
		if len(resp) < 2 {
			// Name the command by its header only: the data field of a
			// VERIFY or CHANGE REFERENCE DATA holds a PIN.
			hdr := msg
			if len(hdr) > 4 {
				hdr = hdr[:4]
			}
			return nil, fmt.Errorf("vpcd: the simulated card answered %d bytes to the command %X (CLA INS P1 P2): a response needs two status bytes; fix the card simulator", len(resp), hdr)
		}
		return resp, nil
	}
}
