// Package iso7816 speaks ISO/IEC 7816-4 to a smart card over any transport
// that moves raw APDUs: command encoding (short and extended length, cases
// 1 to 4), automatic GET RESPONSE on 61xx, resending with the right Le on
// 6Cxx, command chaining, the T=0 restrictions, and typed status words.
// It knows nothing about PC/SC or about the OpenPGP application.
package iso7816

import (
	"errors"
	"fmt"
)

// Command is one command APDU before encoding.
type Command struct {
	CLA, INS, P1, P2 byte
	// Data is the command data field (Lc bytes); nil or empty for cases 1 and 2.
	Data []byte
	// Ne is the maximum number of response bytes expected: 0 means no Le
	// field (cases 1 and 3); 256 is the short maximum (Le = 00) and 65536
	// the extended maximum (Le = 0000).
	Ne int
}

// ErrTooLong is wrapped when a command cannot be encoded in the chosen form.
var ErrTooLong = errors.New("APDU too long")

// Encode encodes the command as a short APDU, or as an extended one when
// extended is true. It fails when the data or Ne do not fit the form.
func (c Command) Encode(extended bool) ([]byte, error) {
	if c.Ne < 0 || c.Ne > 65536 {
		return nil, fmt.Errorf("%w: Ne %d out of range", ErrTooLong, c.Ne)
	}
	out := make([]byte, 0, 4+3+len(c.Data)+3)
	out = append(out, c.CLA, c.INS, c.P1, c.P2)
	if !extended {
		if len(c.Data) > 255 || c.Ne > 256 {
			return nil, fmt.Errorf("%w: %d data bytes, Ne %d for a short APDU", ErrTooLong, len(c.Data), c.Ne)
		}
		if len(c.Data) > 0 {
			out = append(out, byte(len(c.Data)))
			out = append(out, c.Data...)
		}
		if c.Ne > 0 {
			out = append(out, byte(c.Ne)) // 256 encodes as 00
		}
		return out, nil
	}
	if len(c.Data) > 65535 {
		return nil, fmt.Errorf("%w: %d data bytes", ErrTooLong, len(c.Data))
	}
	if len(c.Data) > 0 {
		out = append(out, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
		out = append(out, c.Data...)
		if c.Ne > 0 {
			out = append(out, byte(c.Ne>>8), byte(c.Ne)) // 65536 encodes as 0000
		}
	} else if c.Ne > 0 {
		out = append(out, 0, byte(c.Ne>>8), byte(c.Ne))
	}
	return out, nil
}

// ParseCommand decodes an encoded command APDU of any case, short or
// extended. It is the inverse of Encode.
func ParseCommand(b []byte) (Command, bool, error) {
	if len(b) < 4 {
		return Command{}, false, errors.New("command APDU shorter than 4 bytes")
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, false, nil
	case len(body) == 1: // case 2 short
		c.Ne = neShort(body[0])
		return c, false, nil
	case body[0] != 0: // short case 3 or 4
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
		case 2 + lc:
			c.Ne = neShort(body[1+lc])
		default:
			return Command{}, false, fmt.Errorf("short APDU: Lc %d does not match %d body bytes", lc, len(body))
		}
		c.Data = body[1 : 1+lc]
		return c, false, nil
	case len(body) == 3: // extended case 2
		c.Ne = neExt(body[1], body[2])
		return c, true, nil
	}
	if len(body) < 3 {
		return Command{}, false, errors.New("truncated extended APDU")
	}
	lc := int(body[1])<<8 | int(body[2])
	switch len(body) {
	case 3 + lc:
	case 5 + lc:
		c.Ne = neExt(body[3+lc], body[4+lc])
	default:
		return Command{}, false, fmt.Errorf("extended APDU: Lc %d does not match %d body bytes", lc, len(body))
	}
	if lc == 0 {
		return Command{}, false, errors.New("extended APDU with Lc 0")
	}
	c.Data = body[3 : 3+lc]
	return c, true, nil
}

func neShort(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

func neExt(hi, lo byte) int {
	n := int(hi)<<8 | int(lo)
	if n == 0 {
		return 65536
	}
	return n
}
