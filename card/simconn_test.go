package card

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/keyunlock/keyunlock/card/sim"
)

// simConnector puts in-process simulated cards into named readers, with a
// hook to pull a card out in the middle of an exchange.
type simConnector struct {
	mu    sync.Mutex
	slots map[string]*simSlot
}

type simSlot struct {
	card    *sim.Card
	removed bool
	gen     int // bumped on every insertion and reset
	// onTransmit, when set, runs before each command; returning true pulls
	// the card out and fails that command.
	onTransmit func(cmd []byte) bool
}

func newSimConnector() *simConnector { return &simConnector{slots: map[string]*simSlot{}} }

func (s *simConnector) insert(reader string, c *sim.Card) *simSlot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := &simSlot{card: c}
	if old := s.slots[reader]; old != nil {
		sl.gen = old.gen + 1
	}
	s.slots[reader] = sl
	c.Reset()
	return sl
}

func (s *simConnector) remove(reader string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl := s.slots[reader]; sl != nil {
		sl.removed = true
	}
}

func (s *simConnector) Readers(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for r, sl := range s.slots {
		if !sl.removed {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *simConnector) Connect(ctx context.Context, reader string) (Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[reader]
	if sl == nil || sl.removed {
		return nil, fmt.Errorf("no card in %q", reader)
	}
	return &simConn{s: s, slot: sl, gen: sl.gen}, nil
}

func (s *simConnector) Close() error { return nil }

type simConn struct {
	s    *simConnector
	slot *simSlot
	gen  int
}

func (c *simConn) check() error {
	switch {
	case c.slot.removed:
		return ErrRemoved
	case c.slot.gen != c.gen:
		return ErrReset
	}
	return nil
}

func (c *simConn) Transmit(cmd []byte) ([]byte, error) {
	c.s.mu.Lock()
	if err := c.check(); err != nil {
		c.s.mu.Unlock()
		return nil, err
	}
	if c.slot.onTransmit != nil && c.slot.onTransmit(cmd) {
		c.slot.removed = true
		c.s.mu.Unlock()
		return nil, ErrRemoved
	}
	card := c.slot.card
	c.s.mu.Unlock()
	return card.Transmit(cmd), nil
}

func (c *simConn) ATR() []byte { return c.slot.card.ATR() }
func (c *simConn) T0() bool    { return c.slot.card.Quirks().T0 }
func (c *simConn) Begin() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.check()
}
func (c *simConn) End() error { return nil }
func (c *simConn) Check() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.check()
}
func (c *simConn) Close() error { return nil }
