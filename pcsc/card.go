package pcsc

import (
	"fmt"
	"time"
)

// Card is a connection to the card in one reader (an SCARDHANDLE). It
// shares its Context's socket.
type Card struct {
	ctx      *Context
	handle   uint32
	reader   string
	protocol Protocol
	closed   bool
}

// Connect connects to the card in the reader. The active protocol is one of
// the preferred ones (ProtocolAny lets pcscd choose); ShareDirect with
// ProtocolUndefined reaches a reader without a card. Sharing violations are
// retried (see WithSharingTimeout).
func (c *Context) Connect(reader string, mode ShareMode, proto Protocol) (*Card, error) {
	name, err := readerNameField(reader)
	if err != nil {
		return nil, err
	}
	body := fields(c.hctx)
	body = append(body, name...)
	body = append(body, fields(uint32(mode), uint32(proto), 0, 0, 0)...)
	var card *Card
	err = c.retrySharing(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if err := c.usable(); err != nil {
			return err
		}
		reply, err := c.call(cmdConnect, body, nil, sizeConnect, c.opt.callTimeout)
		if err != nil {
			return err
		}
		if err := code(field(reply, 148)); err != nil {
			return err
		}
		card = &Card{ctx: c, handle: field(reply, 140), reader: reader, protocol: Protocol(field(reply, 144))}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pcsc: connecting to the card in %q: %w", reader, err)
	}
	return card, nil
}

// ActiveProtocol returns the protocol negotiated by Connect or Reconnect.
func (k *Card) ActiveProtocol() Protocol { return k.protocol }

// Reader returns the name of the card's reader.
func (k *Card) Reader() string { return k.reader }

// do runs one exchange for the card under the context's lock.
func (k *Card) do(f func(c *Context) error) error {
	c := k.ctx
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	if k.closed {
		return fmt.Errorf("pcsc: card in %q already disconnected: %w", k.reader, ErrInvalidHandle)
	}
	return f(c)
}

// Disconnect ends the connection and leaves the card as disposition says.
func (k *Card) Disconnect(d Disposition) error {
	return k.do(func(c *Context) error {
		reply, err := c.call(cmdDisconnect, fields(k.handle, uint32(d), 0), nil, sizeDisconn, c.opt.callTimeout)
		if err != nil {
			return err
		}
		if err := code(field(reply, 8)); err != nil {
			return err
		}
		k.closed = true
		return nil
	})
}

// Reconnect re-establishes the connection, for example after
// ErrResetCard, possibly with another share mode or protocol; init says
// what to do with the card first (LeaveCard, ResetCard, UnpowerCard).
func (k *Card) Reconnect(mode ShareMode, proto Protocol, init Disposition) error {
	return k.do(func(c *Context) error {
		reply, err := c.call(cmdReconnect, fields(k.handle, uint32(mode), uint32(proto), uint32(init), 0, 0), nil, sizeReconnect, c.opt.callTimeout)
		if err != nil {
			return err
		}
		if err := code(field(reply, 20)); err != nil {
			return err
		}
		k.protocol = Protocol(field(reply, 16))
		return nil
	})
}

// BeginTransaction gives this connection exclusive use of the card until
// EndTransaction. Sharing violations are retried.
func (k *Card) BeginTransaction() error {
	return k.ctx.retrySharing(func() error {
		return k.do(func(c *Context) error {
			reply, err := c.call(cmdBeginTransaction, fields(k.handle, 0), nil, sizeBegin, c.opt.callTimeout)
			if err != nil {
				return err
			}
			return code(field(reply, 4))
		})
	})
}

// EndTransaction ends the transaction and leaves the card as d says.
func (k *Card) EndTransaction(d Disposition) error {
	return k.do(func(c *Context) error {
		reply, err := c.call(cmdEndTransaction, fields(k.handle, uint32(d), 0), nil, sizeEnd, c.opt.callTimeout)
		if err != nil {
			return err
		}
		return code(field(reply, 8))
	})
}

// Transmit sends a command APDU and returns the response APDU (data and
// status word), using the protocol PCI of the active protocol. The exchange
// may take up to the transmit timeout. Sharing violations are retried.
func (k *Card) Transmit(cmd []byte) ([]byte, error) {
	return k.TransmitTimeout(cmd, k.ctx.opt.transmitTimeout)
}

// TransmitTimeout is Transmit with its own deadline, for commands that wait
// for the user (a touch) longer than the default.
func (k *Card) TransmitTimeout(cmd []byte, d time.Duration) ([]byte, error) {
	if len(cmd) == 0 || len(cmd) > maxBufferSizeExt {
		return nil, fmt.Errorf("pcsc: command APDU of %d bytes: must be 1 to %d bytes: %w", len(cmd), maxBufferSizeExt, ErrInvalidParameter)
	}
	var resp []byte
	err := k.ctx.retrySharing(func() error {
		return k.do(func(c *Context) error {
			body := fields(k.handle, uint32(k.protocol), ioRequestSize, uint32(len(cmd)),
				uint32(ProtocolAny), ioRequestSize, maxBufferSizeExt, 0)
			reply, err := c.call(cmdTransmit, body, cmd, sizeTransmit, d)
			if err != nil {
				return err
			}
			if err := code(field(reply, 28)); err != nil {
				return err
			}
			n := field(reply, 24)
			if n > maxBufferSizeExt {
				return c.fail(cmdTransmit, fmt.Errorf("response length %d exceeds %d", n, maxBufferSizeExt), d)
			}
			resp, err = c.recv(cmdTransmit, int(n), d)
			return err
		})
	})
	return resp, err
}

// Control sends a reader control command (SCARD_CTL_CODE, see CtlCode) and
// returns the reader's answer. It has the transmit timeout, since pin-pad
// commands wait for the user.
func (k *Card) Control(ctl uint32, in []byte) ([]byte, error) {
	if len(in) > maxBufferSizeExt {
		return nil, fmt.Errorf("pcsc: control data of %d bytes exceeds %d: %w", len(in), maxBufferSizeExt, ErrInvalidParameter)
	}
	var out []byte
	err := k.do(func(c *Context) error {
		d := c.opt.transmitTimeout
		reply, err := c.call(cmdControl, fields(k.handle, ctl, uint32(len(in)), maxBufferSizeExt, 0, 0), in, sizeControl, d)
		if err != nil {
			return err
		}
		if err := code(field(reply, 20)); err != nil {
			return err
		}
		n := field(reply, 16)
		if n > maxBufferSizeExt {
			return c.fail(cmdControl, fmt.Errorf("reply length %d exceeds %d", n, maxBufferSizeExt), d)
		}
		out, err = c.recv(cmdControl, int(n), d)
		return err
	})
	return out, err
}

// Status returns the reader name, state, active protocol and ATR of the
// card. As with libpcsclite, the upper 16 bits of State hold the reader's
// event counter. It fails with ErrRemovedCard once the card was pulled.
func (k *Card) Status() (*CardStatus, error) {
	var st *CardStatus
	err := k.ctx.retrySharing(func() error {
		return k.do(func(c *Context) error {
			reply, err := c.call(cmdStatus, fields(k.handle, 0), nil, sizeStatus, c.opt.callTimeout)
			if err != nil {
				return err
			}
			if err := code(field(reply, 4)); err != nil {
				return err
			}
			states, err := c.readerStates()
			if err != nil {
				return err
			}
			r, ok := lookup(states, k.reader)
			if !ok {
				return ErrReaderUnavailable
			}
			// Like libpcsclite, the upper 16 bits of the state carry the
			// reader's event counter.
			st = &CardStatus{Reader: r.Name, State: State(r.EventCounter&0xFFFF)<<16 | r.State&0xFFFF, ActiveProtocol: r.Protocol, Atr: r.ATR}
			return nil
		})
	})
	return st, err
}

// GetAttrib reads a reader attribute (up to 264 bytes).
func (k *Card) GetAttrib(id Attrib) ([]byte, error) {
	var out []byte
	err := k.do(func(c *Context) error {
		body := fields(k.handle, uint32(id))
		body = append(body, make([]byte, maxBufferSize)...)
		body = append(body, fields(maxBufferSize, 0)...)
		reply, err := c.call(cmdGetAttrib, body, nil, sizeGetAttrib, c.opt.callTimeout)
		if err != nil {
			return err
		}
		if err := code(field(reply, 276)); err != nil {
			return err
		}
		n := field(reply, 272)
		if n > maxBufferSize {
			return c.fail(cmdGetAttrib, fmt.Errorf("attribute length %d exceeds %d", n, maxBufferSize), 0)
		}
		out = append([]byte(nil), reply[8:8+n]...)
		return nil
	})
	return out, err
}
