package card

import (
	"context"
	"errors"
	"time"
)

// Connector reaches card readers. The PC/SC implementation talks to pcscd;
// tests plug in simulated cards directly.
type Connector interface {
	// Readers lists the readers that hold a card now.
	Readers(ctx context.Context) ([]string, error)
	// Connect opens a shared connection to the card in the reader.
	Connect(ctx context.Context, reader string) (Conn, error)
	// Close releases the connector.
	Close() error
}

// Conn is one connection to one card.
type Conn interface {
	// Transmit sends one command APDU and returns the response with SW1 SW2.
	// While a card waits for a touch it does not answer: Transmit has no
	// short timeout.
	Transmit(cmd []byte) ([]byte, error)
	// ATR is the card's answer-to-reset.
	ATR() []byte
	// T0 reports whether the active protocol is T=0.
	T0() bool
	// Begin and End bracket a transaction: nobody else talks to the card
	// in between.
	Begin() error
	End() error
	// Check returns nil while the card is present and has not been reset
	// since Connect; ErrRemoved or ErrReset otherwise.
	Check() error
	// Close disconnects, leaving the card as it is.
	Close() error
}

// Errors a Conn reports when the card is gone or was reset by someone else.
var (
	ErrRemoved = errors.New("card removed")
	ErrReset   = errors.New("card reset by another application")
)

// shortOnly is implemented by connections whose reader carries only short
// APDUs (a short-APDU-level CCID reader): long commands are then chained
// by the card layer instead of sent with extended length.
type shortOnly interface {
	ShortAPDUsOnly() bool
}

// seenConn is implemented by connections that know when the card last
// answered through them by other means than the Device's own exchanges
// (the direct-CCID connector checks claimed readers when it lists them).
type seenConn interface {
	Seen() time.Time
}
