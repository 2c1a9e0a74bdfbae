package vscard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Card is a simulated ICC answering command APDUs (card/sim's Card
// implements it, as for card/vpcd).
type Card interface {
	ATR() []byte
	Reset()
	Transmit(cmd []byte) []byte
}

// Frontend is the card side of one ccid-card-passthru chardev: it
// announces a reader and inserts the card, then answers the APDUs the
// guest sends. Make it with NewFrontend and run it with Serve.
type Frontend struct {
	card Card
	// Logf, if set, receives protocol events (never APDU contents).
	Logf func(format string, args ...any)

	mu      sync.Mutex
	ready   chan struct{} // closed when QEMU accepted the card's ATR
	isReady bool
	apdus   int
}

// NewFrontend returns a front end serving c.
func NewFrontend(c Card) *Frontend {
	return &Frontend{card: c, ready: make(chan struct{})}
}

// Ready is closed once QEMU has acknowledged the card's insertion.
func (f *Frontend) Ready() <-chan struct{} { return f.ready }

// APDUs is how many command APDUs the guest has sent so far.
func (f *Frontend) APDUs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apdus
}

func (f *Frontend) logf(format string, args ...any) {
	if f.Logf != nil {
		f.Logf(format, args...)
	}
}

// Serve runs the protocol on conn (a stream to QEMU's chardev) until QEMU
// closes it (nil), it fails, or ctx is cancelled (nil); it closes conn. The handshake: Init (QEMU
// answers Init), ReaderAdd (Error 0), ATR (Error 0: the guest sees the
// card inserted). Then each APDU from QEMU gets the card's answer.
func (f *Frontend) Serve(ctx context.Context, conn net.Conn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	atr := f.card.ATR()
	if len(atr) < 2 || len(atr) > 40 || (atr[0] != 0x3B && atr[0] != 0x3F) {
		return fmt.Errorf("vscard: the card's ATR % X is unusable (QEMU needs 2–40 bytes starting 3B or 3F)", atr)
	}
	// One write for the whole handshake: QEMU handles the messages in order.
	var hello []byte
	hello = AppendFrame(hello, Frame{Type: MsgInit, Reader: ReaderUndefined, Payload: initPayload()})
	hello = AppendFrame(hello, Frame{Type: MsgReaderAdd, Reader: ReaderFirst, Payload: []byte("keyunlock simulated card")})
	if _, err := conn.Write(hello); err != nil {
		return fmt.Errorf("vscard: handshake: %w", err)
	}
	// acks counts the Error replies: the first answers ReaderAdd, after
	// which the ATR goes out; the second answers the ATR.
	acks := 0
	for {
		fr, err := ReadFrame(conn)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil // cancelled, or QEMU closed the chardev (it exited)
			}
			return fmt.Errorf("vscard: %w", err)
		}
		switch fr.Type {
		case MsgInit:
			if len(fr.Payload) < 8 || !bytes.Equal(fr.Payload[:4], Magic[:]) {
				return fmt.Errorf("vscard: QEMU's Init has no VSCD magic (% X)", fr.Payload)
			}
			// Never answered: QEMU answers every Init with an Init.
		case MsgError:
			code, err := errorCode(fr.Payload)
			if err != nil {
				return fmt.Errorf("vscard: %w", err)
			}
			acks++
			if code != ErrCodeSuccess && !(acks == 1 && code == ErrCodeCannotAddReaders) {
				return fmt.Errorf("vscard: QEMU refused step %d of the handshake with error %d", acks, code)
			}
			switch acks {
			case 1:
				if err := WriteFrame(conn, Frame{Type: MsgATR, Reader: ReaderFirst, Payload: atr}); err != nil {
					return fmt.Errorf("vscard: sending the ATR: %w", err)
				}
			case 2:
				f.mu.Lock()
				if !f.isReady {
					f.isReady = true
					close(f.ready)
				}
				f.mu.Unlock()
				f.logf("vscard: card inserted")
			}
		case MsgAPDU:
			resp := f.card.Transmit(fr.Payload)
			f.mu.Lock()
			f.apdus++
			f.mu.Unlock()
			if len(resp) < 2 {
				hdr := fr.Payload[:min(len(fr.Payload), 4)]
				return fmt.Errorf("vscard: the simulated card answered %d bytes to the command %X (CLA INS P1 P2): a response needs two status bytes", len(resp), hdr)
			}
			if err := WriteFrame(conn, Frame{Type: MsgAPDU, Reader: ReaderFirst, Payload: resp}); err != nil {
				return fmt.Errorf("vscard: %w", err)
			}
		case MsgFlush:
			if err := WriteFrame(conn, Frame{Type: MsgFlushComplete, Reader: fr.Reader}); err != nil {
				return fmt.Errorf("vscard: %w", err)
			}
		default:
			f.logf("vscard: ignoring %v", fr)
		}
	}
}

// ListenAndServe accepts one connection on l (QEMU's chardev socket with
// server=off connects to it), closes l and serves the connection. It
// returns when that connection ends or ctx is cancelled.
func (f *Frontend) ListenAndServe(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	conn, err := l.Accept()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("vscard: waiting for QEMU: %w", err)
	}
	l.Close()
	err = f.Serve(ctx, conn)
	if errors.Is(err, net.ErrClosed) && ctx.Err() != nil {
		return nil
	}
	return err
}
