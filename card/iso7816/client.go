package iso7816

import (
	"errors"
	"fmt"
)

// Transport moves one encoded command APDU to the card and returns the
// response APDU including SW1 SW2. A PC/SC card handle, the in-process
// simulator and a transcript replay all implement it.
type Transport interface {
	Transmit(cmd []byte) ([]byte, error)
}

// Caps are the transport limits of one card, from its ATR historical bytes,
// the OpenPGP historical-bytes DO 5F52, and the extended length information
// DO 7F66.
type Caps struct {
	// Chaining is true when the card accepts command chaining (CLA bit 0x10).
	Chaining bool
	// Extended is true when the card accepts extended Lc/Le.
	Extended bool
	// MaxCmd and MaxResp bound extended APDU data (0 = unknown: 65535/65536).
	MaxCmd, MaxResp int
	// T0 is true when the active protocol is T=0: then neither extended
	// lengths nor Lc and Le together are used.
	T0 bool
	// ShortOnly is true when the reader carries only short APDUs (a
	// short-APDU-level CCID reader), whatever the card accepts.
	ShortOnly bool
}

// ExtendedOK reports whether extended lengths may be used: the card
// accepts them and the protocol and reader carry them.
func (c Caps) ExtendedOK() bool { return c.Extended && !c.T0 && !c.ShortOnly }

// Client sends commands through a Transport and hides the ISO 7816
// transport rules: it picks short, extended or chained forms, fetches
// 61xx remainders with GET RESPONSE and resends with the exact Le on 6Cxx.
type Client struct {
	T    Transport
	Caps Caps
}

// maxResponse bounds the bytes collected for one command through GET
// RESPONSE, so that a broken card cannot make the client loop forever.
const maxResponse = 1 << 17

// ChunkSize is the data size of each non-last command of a chain (as GnuPG).
const ChunkSize = 254

// ErrNoStatus is returned when an answer is shorter than a status word;
// readers give such answers when the card is pulled mid-command.
var ErrNoStatus = errors.New("card answered without a status word")

// ErrResponseTooLong is returned when a card keeps answering 61xx.
var ErrResponseTooLong = errors.New("card response too long")

func (c *Client) useExtended(cmd Command) bool {
	if !c.Caps.ExtendedOK() {
		return false
	}
	if len(cmd.Data) <= 255 && cmd.Ne <= 256 {
		return false
	}
	if c.Caps.MaxCmd > 0 && len(cmd.Data) > c.Caps.MaxCmd {
		return false
	}
	return true
}

// Do sends cmd and returns the response data when the card answers 9000.
// Any other final status word is returned as a *StatusError (with the
// response data, which some warnings carry).
func (c *Client) Do(cmd Command) ([]byte, error) {
	ext := c.useExtended(cmd)
	if ext && c.Caps.MaxResp > 0 && cmd.Ne > c.Caps.MaxResp {
		cmd.Ne = c.Caps.MaxResp
	}
	if !ext && cmd.Ne > 256 {
		cmd.Ne = 256 // the rest comes through 61xx
	}
	if !ext && len(cmd.Data) > 255 {
		if !c.Caps.Chaining {
			return nil, fmt.Errorf("%w: %d data bytes, and the card supports neither extended length nor command chaining", ErrTooLong, len(cmd.Data))
		}
		return c.chain(cmd)
	}
	return c.send(cmd, ext)
}

func (c *Client) chain(cmd Command) ([]byte, error) {
	data := cmd.Data
	for len(data) > ChunkSize {
		part := cmd
		part.CLA |= 0x10
		part.Data = data[:ChunkSize]
		part.Ne = 0
		resp, sw, err := c.raw(part, false)
		if err != nil {
			return nil, err
		}
		if sw != SWOK && sw != SWLastCommandExpected {
			return resp, &StatusError{SW: sw}
		}
		data = data[ChunkSize:]
	}
	last := cmd
	last.Data = data
	return c.send(last, false)
}

// send transmits one command (one element of a chain) and follows 6Cxx and
// 61xx to the final status.
func (c *Client) send(cmd Command, ext bool) ([]byte, error) {
	if c.Caps.T0 && len(cmd.Data) > 0 {
		cmd.Ne = 0 // T=0: no Lc and Le together; the answer comes with 61xx
	}
	resp, sw, err := c.raw(cmd, ext)
	if err != nil {
		return nil, err
	}
	if sw>>8 == 0x6C {
		cmd.Ne = neShort(byte(sw))
		resp, sw, err = c.raw(cmd, false)
		if err != nil {
			return nil, err
		}
	}
	out := resp
	for sw>>8 == 0x61 {
		gr := Command{INS: 0xC0, Ne: neShort(byte(sw))}
		resp, sw, err = c.raw(gr, false)
		if err != nil {
			return nil, err
		}
		if sw>>8 == 0x6C { // a T=0 card may also correct GET RESPONSE's Le
			gr.Ne = neShort(byte(sw))
			resp, sw, err = c.raw(gr, false)
			if err != nil {
				return nil, err
			}
		}
		out = append(out, resp...)
		if len(out) > maxResponse {
			return nil, ErrResponseTooLong
		}
	}
	if sw != SWOK {
		return out, &StatusError{SW: sw}
	}
	return out, nil
}

// raw encodes and transmits one APDU and splits the answer into data and
// status word.
func (c *Client) raw(cmd Command, ext bool) ([]byte, uint16, error) {
	b, err := cmd.Encode(ext)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.T.Transmit(b)
	clear(b) // the command may carry a PIN
	if err != nil {
		return nil, 0, err
	}
	if len(resp) < 2 {
		return nil, 0, fmt.Errorf("%w (%d bytes)", ErrNoStatus, len(resp))
	}
	n := len(resp) - 2
	return resp[:n:n], uint16(resp[n])<<8 | uint16(resp[n+1]), nil
}
