// Package ccidtest emulates a CCID reader with a card in it, as a
// ccid.Transport, for tests above the driver (the card backend over the
// direct CCID transport). Hostile reader behaviour is tested inside
// package ccid with its own model.
package ccidtest

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/pcsc/ccid"
)

// Card is the ICC in the emulated reader (card/sim's Card implements it).
type Card interface {
	ATR() []byte
	Reset()
	Transmit(cmd []byte) []byte
}

// Descriptors of emulated readers.
var (
	// QEMU is QEMU 7.2's usb-ccid: TPDU level, T=0 only.
	QEMU = ccid.Descriptor{Interface: 0, BulkIn: 0x81, BulkOut: 0x02, Protocols: 1, MaxIFSD: 0xFE, Features: 0x000104FE, MaxMessage: 0x10012, PINSupport: 1}
	// YubiKey is a YubiKey 5: extended APDU level, 3072-byte messages.
	YubiKey = ccid.Descriptor{Interface: 2, BulkIn: 0x84, BulkOut: 0x04, Protocols: 2, MaxIFSD: 0xFE, Features: 0x000400FE, MaxMessage: 3072}
	// NitrokeyStart is a Nitrokey Start: short APDU level, 271-byte
	// messages.
	NitrokeyStart = ccid.Descriptor{Interface: 0, BulkIn: 0x82, BulkOut: 0x01, Protocols: 2, MaxIFSD: 0xFE, Features: 0x00020842, MaxMessage: 271}
	// Gnuk is a Gnuk token: extended APDU level, 64-byte messages, so
	// every APDU longer than 54 bytes is chained.
	Gnuk = ccid.Descriptor{Interface: 0, BulkIn: 0x82, BulkOut: 0x01, Protocols: 2, MaxIFSD: 0xFE, Features: 0x00040042, MaxMessage: 64}
)

// Reader is an emulated CCID reader (slot 0). Its zero value is unusable;
// make it with New.
type Reader struct {
	desc ccid.Descriptor

	mu      sync.Mutex
	card    Card
	powered bool
	queue   [][]byte
	rx      []byte
	pending []byte
	chained bool
	msgs    int
	counts  Counts
	// Errors collects protocol violations by the host.
	Errors []string
}

// New returns a reader of the given kind holding card (nil: empty).
func New(d ccid.Descriptor, card Card) *Reader { return &Reader{desc: d, card: card} }

// Descriptor is the reader's descriptor, for ccid.NewReader.
func (r *Reader) Descriptor() ccid.Descriptor { return r.desc }

// Insert puts a card in (nil removes it). The card starts unpowered.
func (r *Reader) Insert(c Card) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.card, r.powered = c, false
}

func (r *Reader) violation(format string, args ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
}

func (r *Reader) icc() byte {
	switch {
	case r.card == nil:
		return 2
	case !r.powered:
		return 1
	}
	return 0
}

// Messages is how many commands the host has sent.
func (r *Reader) Messages() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs
}

// Counts is how many commands of each kind the host has sent.
type Counts struct {
	SlotStatus int // PC_to_RDR_GetSlotStatus: card-presence checks
	PowerOn    int // PC_to_RDR_IccPowerOn
	PowerOff   int // PC_to_RDR_IccPowerOff
	XfrBlock   int // PC_to_RDR_XfrBlock: APDUs, TPDUs and their chained parts
	Other      int // anything else (a protocol violation)
}

// Total is the number of commands counted.
func (c Counts) Total() int { return c.SlotStatus + c.PowerOn + c.PowerOff + c.XfrBlock + c.Other }

// Sub returns the commands counted since before was taken.
func (c Counts) Sub(before Counts) Counts {
	return Counts{c.SlotStatus - before.SlotStatus, c.PowerOn - before.PowerOn, c.PowerOff - before.PowerOff, c.XfrBlock - before.XfrBlock, c.Other - before.Other}
}

// String is a short summary: "7 messages (1 status, 1 power-on, 5 XfrBlock)".
func (c Counts) String() string {
	return fmt.Sprintf("%d messages (%d status, %d power-on, %d power-off, %d XfrBlock, %d other)", c.Total(), c.SlotStatus, c.PowerOn, c.PowerOff, c.XfrBlock, c.Other)
}

// Counts returns how many commands of each kind the host has sent.
func (r *Reader) Counts() Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts
}

// Send implements ccid.Transport.
func (r *Reader) Send(msg []byte, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs++
	if len(msg) < 10 || int(binary.LittleEndian.Uint32(msg[1:5])) != len(msg)-10 || len(msg) > int(r.desc.MaxMessage) {
		r.violation("malformed or oversized command (%d bytes)", len(msg))
		r.counts.Other++
		return nil
	}
	typ, seq, data := msg[0], msg[6], msg[10:]
	level := binary.LittleEndian.Uint16(msg[8:10])
	mk := func(t, status, errb, param byte, d []byte) {
		m := make([]byte, 10+len(d))
		m[0] = t
		binary.LittleEndian.PutUint32(m[1:], uint32(len(d)))
		m[6], m[7], m[8], m[9] = seq, status, errb, param
		copy(m[10:], d)
		r.queue = append(r.queue, m)
	}
	switch typ {
	case 0x65:
		r.counts.SlotStatus++
	case 0x62:
		r.counts.PowerOn++
	case 0x63:
		r.counts.PowerOff++
	case 0x6F:
		r.counts.XfrBlock++
	default:
		r.counts.Other++
	}
	switch typ {
	case 0x65: // GetSlotStatus
		mk(0x81, r.icc(), 0, 0, nil)
	case 0x63: // IccPowerOff
		r.powered = false
		mk(0x81, r.icc(), 0, 0, nil)
	case 0x62: // IccPowerOn
		if r.card == nil {
			mk(0x80, 0x40|2, 0xFE, 0, nil)
			break
		}
		r.card.Reset()
		r.powered = true
		mk(0x80, 0, 0, 0, r.card.ATR())
	case 0x6F: // XfrBlock
		if r.icc() != 0 {
			mk(0x80, 0x40|r.icc(), 0xFE, 0, nil)
			break
		}
		if r.desc.Level() == ccid.LevelTPDU {
			if level != 0 || len(data) < 5 || (len(data) != 5 && len(data) != 5+int(data[4])) {
				r.violation("bad T=0 TPDU % X (wLevelParameter %#x)", data, level)
			}
			mk(0x80, 0, 0, 0, r.card.Transmit(data))
			break
		}
		switch level {
		case 0:
			r.pending = r.card.Transmit(data)
		case 1:
			r.rx = append([]byte(nil), data...)
			mk(0x80, 0, 0, 0x10, nil)
			return nil
		case 3:
			r.rx = append(r.rx, data...)
			mk(0x80, 0, 0, 0x10, nil)
			return nil
		case 2:
			r.pending = r.card.Transmit(append(r.rx, data...))
			r.rx = nil
		case 0x10:
			if r.pending == nil {
				r.violation("asked for more response, none left")
			}
		default:
			r.violation("bad wLevelParameter %#x", level)
		}
		// Responses longer than a message are chained back.
		part := int(r.desc.MaxMessage) - 10
		if len(r.pending) <= part {
			param := byte(0)
			if r.chained {
				param = 2
			}
			mk(0x80, 0, 0, param, r.pending)
			r.pending, r.chained = nil, false
		} else {
			param := byte(1)
			if r.chained {
				param = 3
			}
			mk(0x80, 0, 0, param, r.pending[:part])
			r.pending, r.chained = r.pending[part:], true
		}
	default:
		r.violation("unexpected message type %#02x", typ)
		mk(0x81, 0x40|r.icc(), 0, 0, nil)
	}
	return nil
}

// Recv implements ccid.Transport.
func (r *Reader) Recv(buf []byte, _ time.Duration) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return 0, fmt.Errorf("%w: emulated reader has nothing to send", ccid.ErrTimeout)
	}
	m := r.queue[0]
	r.queue = r.queue[1:]
	if len(m) > len(buf) {
		r.violation("reply of %d bytes, host buffer %d", len(m), len(buf))
	}
	return copy(buf, m), nil
}
