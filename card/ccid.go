package card

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/pcsc/ccid"
)

// ccidDev is an open direct-CCID reader (*ccid.Device).
type ccidDev interface {
	PowerOn() ([]byte, error)
	SlotStatus() error
	CardPresent() (bool, error)
	Transmit(apdu []byte) ([]byte, error)
	T0() bool
	Descriptor() ccid.Descriptor
	Close() error
}

// ccidSource finds and opens direct-CCID readers: usbfs, or emulated
// readers in tests.
type ccidSource interface {
	List() ([]ccid.Info, error)
	Open(ccid.Info) (ccidDev, error)
}

// usbfsSource is the real source: sysfs and usbfs.
type usbfsSource struct{}

func (usbfsSource) List() ([]ccid.Info, error) { return ccid.List("") }
func (usbfsSource) Open(i ccid.Info) (ccidDev, error) {
	return ccid.Open(i)
}

// ccidConnector reaches USB readers directly through usbfs, without
// pcscd. A reader's interface is claimed only while a connection to its
// card is open (and briefly while the reader is checked for a card), so
// that pcscd or scdaemon can use it otherwise.
type ccidConnector struct {
	src  ccidSource
	port string // only the reader at this USB port ("" = every reader)

	mu   sync.Mutex
	held map[string]*ccidSlot // by reader name, while connected
	// listed holds the readers the last Readers call found, by name, so
	// that Connect right after it need not scan sysfs again.
	listed map[string]ccid.Info
}

// ccidSlot is a claimed reader with its open connections.
type ccidSlot struct {
	mu    sync.Mutex
	dev   ccidDev
	conns int
	// seen is when the card last answered through this claim (power-on,
	// an APDU, a slot status that found it powered).
	seen time.Time
}

// presentLocked reports whether the claimed reader holds a card: without
// a message when the card answered within presenceFresh, else by asking
// the reader (one GetSlotStatus). A powered card found so counts as seen,
// so that the Device using it needs no check of its own. The caller
// holds s.mu.
func (s *ccidSlot) presentLocked() (bool, error) {
	if time.Since(s.seen) < presenceFresh {
		return true, nil
	}
	err := s.dev.SlotStatus()
	switch {
	case err == nil:
		s.seen = time.Now()
		return true, nil
	case errors.Is(err, ccid.ErrCardInactive):
		return true, nil // put back after removal: Check tells the Device
	case errors.Is(err, ccid.ErrNoCard):
		return false, nil
	}
	return false, err
}

// NewCCIDConnector returns a Connector over the USB CCID readers the
// kernel lists (only the one at port, "BUS-PORT[.PORT…]", when set),
// talking to them through usbfs.
func NewCCIDConnector(port string) Connector {
	return newCCIDConnector(usbfsSource{}, port)
}

func newCCIDConnector(src ccidSource, port string) *ccidConnector {
	return &ccidConnector{src: src, port: port, held: map[string]*ccidSlot{}}
}

// list returns the readers the connector may use.
func (c *ccidConnector) list() ([]ccid.Info, error) {
	infos, err := c.src.List()
	if err != nil {
		return nil, fmt.Errorf("listing USB smart-card readers: %w", err)
	}
	if c.port == "" {
		return infos, nil
	}
	for _, i := range infos {
		if i.Port == c.port {
			return []ccid.Info{i}, nil
		}
	}
	return nil, nil
}

// Readers lists the CCID readers holding a card. Readers that cannot be
// used (in use by pcscd, unsupported) are skipped, but when no reader has
// a card their problems are the error.
func (c *ccidConnector) Readers(ctx context.Context) ([]string, error) {
	infos, err := c.list()
	if err != nil {
		return nil, err
	}
	var names []string
	var problems []error
	listed := make(map[string]ccid.Info, len(infos))
	for _, i := range infos {
		listed[i.Name()] = i
		present, err := c.present(i)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if present {
			names = append(names, i.Name())
		}
	}
	// Readers in use stay listed while they answer, even when sysfs no
	// longer shows them: after switch_root the daemon's /sys is gone, but
	// its usbfs descriptor still reaches the reader.
	c.mu.Lock()
	c.listed = listed
	held := make(map[string]*ccidSlot, len(c.held))
	for name, s := range c.held {
		if _, ok := listed[name]; !ok {
			held[name] = s
		}
	}
	c.mu.Unlock()
	for name, s := range held {
		s.mu.Lock()
		present, err := s.presentLocked()
		s.mu.Unlock()
		if err == nil && present {
			names = append(names, name)
		}
	}
	if len(names) == 0 && len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return names, nil
}

// present checks a reader for a card, through the open connection if
// there is one (and only when the card has not answered just now).
func (c *ccidConnector) present(i ccid.Info) (bool, error) {
	c.mu.Lock()
	s := c.held[i.Name()]
	c.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.presentLocked()
	}
	if i.Err != nil {
		return false, i.Err
	}
	dev, err := c.src.Open(i)
	if err != nil {
		return false, err
	}
	defer dev.Close()
	return dev.CardPresent()
}

// Connect claims the reader and powers the card up (a warm reset if it
// was powered), which gives its ATR.
func (c *ccidConnector) Connect(ctx context.Context, reader string) (Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.held[reader]
	if s == nil {
		dev, err := c.open(reader)
		if err != nil {
			return nil, err
		}
		s = &ccidSlot{dev: dev}
	}
	s.mu.Lock()
	atr, err := s.dev.PowerOn()
	if err == nil {
		s.seen = time.Now()
	}
	s.mu.Unlock()
	if err != nil {
		if s.conns == 0 {
			s.dev.Close()
		}
		return nil, err
	}
	s.conns++
	c.held[reader] = s
	return &ccidConn{c: c, name: reader, s: s, atr: atr}, nil
}

// open opens a reader as the last Readers call listed it, without a new
// sysfs scan. A reader it did not list, or one that no longer opens so
// (plugged in anew), is looked up in sysfs again. The caller holds c.mu.
func (c *ccidConnector) open(reader string) (ccidDev, error) {
	if i, ok := c.listed[reader]; ok && i.Err == nil {
		if dev, err := c.src.Open(i); err == nil {
			return dev, nil
		}
	}
	infos, err := c.list()
	if err != nil {
		return nil, err
	}
	for _, i := range infos {
		if i.Name() != reader {
			continue
		}
		if i.Err != nil {
			return nil, i.Err
		}
		return c.src.Open(i)
	}
	return nil, fmt.Errorf("USB reader %s is gone: %w", reader, ErrRemoved)
}

// release drops one connection and the claim with the last.
func (c *ccidConnector) release(name string, s *ccidSlot) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.conns--
	if s.conns > 0 {
		return nil
	}
	if c.held[name] == s {
		delete(c.held, name)
	}
	return s.dev.Close()
}

// Close releases every reader still claimed.
func (c *ccidConnector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, s := range c.held {
		s.dev.Close()
		delete(c.held, name)
	}
	return nil
}

// ccidConn is a connection to the card in a direct-CCID reader. The
// reader's interface is claimed exclusively, so Begin and End have
// nothing to do.
type ccidConn struct {
	c      *ccidConnector
	name   string
	s      *ccidSlot
	atr    []byte
	closed bool
}

// Transmit sends one APDU (time extensions keep a touch wait going).
func (k *ccidConn) Transmit(cmd []byte) ([]byte, error) {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	if k.closed {
		return nil, fmt.Errorf("reader %s: connection closed", k.name)
	}
	resp, err := k.s.dev.Transmit(cmd)
	if errors.Is(err, ccid.ErrNoCard) || errors.Is(err, ccid.ErrCardInactive) {
		k.s.seen = time.Time{}
		return nil, fmt.Errorf("%w: %v", ErrRemoved, err)
	}
	if err != nil {
		k.s.seen = time.Time{}
		return nil, err
	}
	k.s.seen = time.Now()
	return resp, nil
}

// ATR is the answer-to-reset of the last power-up.
func (k *ccidConn) ATR() []byte { return k.atr }

// T0 reports whether the reader exchanges T=0 TPDUs.
func (k *ccidConn) T0() bool { return k.s.dev.T0() }

// ShortAPDUsOnly reports whether the reader carries only short APDUs.
func (k *ccidConn) ShortAPDUsOnly() bool {
	return k.s.dev.Descriptor().Level() == ccid.LevelShortAPDU
}

// Seen is when the card last answered through this reader claim (zero
// after a failure): the Device skips its own presence check within
// presenceFresh of it.
func (k *ccidConn) Seen() time.Time {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	return k.s.seen
}

// Begin does nothing: the interface is claimed exclusively.
func (k *ccidConn) Begin() error { return nil }

// End does nothing.
func (k *ccidConn) End() error { return nil }

// Check asks the reader whether the card is still powered (always one
// GetSlotStatus): a card pulled out (and perhaps put back) is reported as
// removed.
func (k *ccidConn) Check() error {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	if err := k.s.dev.SlotStatus(); err != nil {
		k.s.seen = time.Time{}
		return fmt.Errorf("%w: %v", ErrRemoved, err)
	}
	k.s.seen = time.Now()
	return nil
}

// Close releases the reader when no other connection uses it; the card
// stays powered.
func (k *ccidConn) Close() error {
	k.s.mu.Lock()
	if k.closed {
		k.s.mu.Unlock()
		return nil
	}
	k.closed = true
	k.s.mu.Unlock()
	return k.c.release(k.name, k.s)
}
