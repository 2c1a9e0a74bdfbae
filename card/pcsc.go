package card

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/pcsc"
)

// pcscConnector reaches cards through pcscd. When the stream to pcscd
// breaks (pcscd restarted, or a call ran past its deadline because a card
// or pcscd hung), the next reader scan establishes a fresh context, so that
// a long-running daemon recovers without a restart.
type pcscConnector struct {
	opts []pcsc.Option
	mu   sync.Mutex
	ctx  *pcsc.Context
	// listed holds the ATRs of the cards in the last reader listing, so
	// that Connect right after it needs no SCardStatus for the ATR.
	listed   map[string][]byte
	listedAt time.Time
}

func newPCSCConnector() (Connector, error) { return NewPCSCConnector() }

// NewPCSCConnector connects to pcscd (the default socket, or as the
// options say) and returns a Connector over it.
func NewPCSCConnector(opts ...pcsc.Option) (Connector, error) {
	c, err := pcsc.EstablishContext(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the smart-card service: %w", err)
	}
	return &pcscConnector{opts: opts, ctx: c}, nil
}

// current returns the context in use.
func (p *pcscConnector) current() *pcsc.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ctx
}

// renew replaces a broken context with a fresh one.
func (p *pcscConnector) renew(broken *pcsc.Context) (*pcsc.Context, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx != broken {
		return p.ctx, nil // renewed already
	}
	c, err := pcsc.EstablishContext(p.opts...)
	if err != nil {
		return nil, err
	}
	broken.Release()
	p.ctx = c
	return c, nil
}

// Readers lists the readers with a card, from pcscd's reader states.
func (p *pcscConnector) Readers(ctx context.Context) ([]string, error) {
	c := p.current()
	states, err := c.ReaderStatuses()
	if errors.Is(err, pcsc.ErrNoService) {
		nc, nerr := p.renew(c)
		if nerr != nil {
			return nil, nerr
		}
		states, err = nc.ReaderStatuses()
	}
	if err != nil {
		return nil, err
	}
	var out []string
	atrs := map[string][]byte{}
	for _, s := range states {
		if s.CardPresent() {
			out = append(out, s.Name)
			if len(s.ATR) >= 2 {
				atrs[s.Name] = s.ATR
			}
		}
	}
	p.mu.Lock()
	p.listed, p.listedAt = atrs, time.Now()
	p.mu.Unlock()
	return out, nil
}

// listedATR returns the ATR of the card in reader from a listing made
// within presenceFresh, or nil.
func (p *pcscConnector) listedATR(reader string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.listedAt) >= presenceFresh {
		return nil
	}
	return p.listed[reader]
}

// Connect opens a shared connection with T=0 or T=1. The ATR comes from
// the reader listing just made, else from SCardStatus.
func (p *pcscConnector) Connect(ctx context.Context, reader string) (Conn, error) {
	card, err := p.current().Connect(reader, pcsc.ShareShared, pcsc.ProtocolAny)
	if errors.Is(err, pcsc.ErrSharingViolation) {
		return nil, fmt.Errorf("%w; another program holds the card exclusively (GnuPG's scdaemon does: stop it with 'gpgconf --kill scdaemon', or add pcsc-shared to scdaemon.conf)", err)
	}
	if err != nil {
		return nil, err
	}
	if atr := p.listedATR(reader); atr != nil {
		return &pcscConn{card: card, atr: atr}, nil
	}
	st, err := card.Status()
	if err != nil {
		card.Disconnect(pcsc.LeaveCard)
		return nil, err
	}
	return &pcscConn{card: card, atr: st.Atr}, nil
}

// Close releases the PC/SC context.
func (p *pcscConnector) Close() error { return p.current().Release() }

type pcscConn struct {
	card *pcsc.Card
	atr  []byte
}

// Transmit sends one APDU (no short timeout: a touch may take long). A
// card pulled or reset since the last exchange fails here with ErrRemoved
// or ErrReset, as Check would have said.
func (c *pcscConn) Transmit(cmd []byte) ([]byte, error) {
	resp, err := c.card.Transmit(cmd)
	if err != nil {
		return nil, mapPCSC(err)
	}
	return resp, nil
}

// ATR is the card's answer-to-reset.
func (c *pcscConn) ATR() []byte { return c.atr }

// T0 reports whether pcscd negotiated T=0.
func (c *pcscConn) T0() bool { return c.card.ActiveProtocol() == pcsc.ProtocolT0 }

// Begin starts a PC/SC transaction.
func (c *pcscConn) Begin() error { return mapPCSC(c.card.BeginTransaction()) }

// End ends the transaction, leaving the card as it is.
func (c *pcscConn) End() error { return mapPCSC(c.card.EndTransaction(pcsc.LeaveCard)) }

// Close disconnects, leaving the card as it is.
func (c *pcscConn) Close() error { return c.card.Disconnect(pcsc.LeaveCard) }

// Check asks pcscd whether the card is still there and not reset.
func (c *pcscConn) Check() error {
	_, err := c.card.Status()
	return mapPCSC(err)
}

func mapPCSC(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pcsc.ErrRemovedCard), errors.Is(err, pcsc.ErrNoSmartcard), errors.Is(err, pcsc.ErrReaderUnavailable):
		return fmt.Errorf("%w: %w", ErrRemoved, err)
	case errors.Is(err, pcsc.ErrResetCard):
		return fmt.Errorf("%w: %w", ErrReset, err)
	}
	return err
}
