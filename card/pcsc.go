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

func (p *pcscConnector) Connect(ctx context.Context, reader string) (Conn, error) {
	card, err := p.ctx.Connect(reader, pcsc.ShareShared, pcsc.ProtocolAny)
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

func (p *pcscConnector) Close() error { return p.ctx.Release() }

type pcscConn struct {
	card *pcsc.Card
	atr  []byte
}

func (c *pcscConn) Transmit(cmd []byte) ([]byte, error) { return c.card.Transmit(cmd) }
func (c *pcscConn) ATR() []byte                         { return c.atr }
func (c *pcscConn) T0() bool                            { return c.card.ActiveProtocol() == pcsc.ProtocolT0 }
func (c *pcscConn) Begin() error                        { return mapPCSC(c.card.BeginTransaction()) }
func (c *pcscConn) End() error                          { return mapPCSC(c.card.EndTransaction(pcsc.LeaveCard)) }
func (c *pcscConn) Close() error                        { return c.card.Disconnect(pcsc.LeaveCard) }

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
