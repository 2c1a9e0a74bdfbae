package card

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyunlock/keyunlock/pcsc"
)

// pcscConnector reaches cards through pcscd.
type pcscConnector struct {
	ctx *pcsc.Context
}

func newPCSCConnector() (Connector, error) { return NewPCSCConnector() }

// NewPCSCConnector connects to pcscd (the default socket, or as the
// options say) and returns a Connector over it.
func NewPCSCConnector(opts ...pcsc.Option) (Connector, error) {
	c, err := pcsc.EstablishContext(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the smart-card service: %w", err)
	}
	return &pcscConnector{ctx: c}, nil
}

// Readers lists the readers with a card, from pcscd's reader states.
func (p *pcscConnector) Readers(ctx context.Context) ([]string, error) {
	states, err := p.ctx.ReaderStatuses()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range states {
		if s.CardPresent() {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

// Connect opens a shared connection with T=0 or T=1 and reads the ATR.
func (p *pcscConnector) Connect(ctx context.Context, reader string) (Conn, error) {
	card, err := p.ctx.Connect(reader, pcsc.ShareShared, pcsc.ProtocolAny)
	if errors.Is(err, pcsc.ErrSharingViolation) {
		return nil, fmt.Errorf("%w; another program holds the card exclusively (GnuPG's scdaemon does: stop it with 'gpgconf --kill scdaemon', or add pcsc-shared to scdaemon.conf)", err)
	}
	if err != nil {
		return nil, err
	}
	st, err := card.Status()
	if err != nil {
		card.Disconnect(pcsc.LeaveCard)
		return nil, err
	}
	return &pcscConn{card: card, atr: st.Atr}, nil
}

// Close releases the PC/SC context.
func (p *pcscConnector) Close() error { return p.ctx.Release() }

type pcscConn struct {
	card *pcsc.Card
	atr  []byte
}

// Transmit sends one APDU (no short timeout: a touch may take long).
func (c *pcscConn) Transmit(cmd []byte) ([]byte, error) { return c.card.Transmit(cmd) }

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
		return fmt.Errorf("%w: %v", ErrRemoved, err)
	case errors.Is(err, pcsc.ErrResetCard):
		return fmt.Errorf("%w: %v", ErrReset, err)
	}
	return err
}
