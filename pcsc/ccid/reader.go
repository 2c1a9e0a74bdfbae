package ccid

import (
	"errors"
	"fmt"
	"time"
)

// Transport carries CCID messages to and from a reader's bulk endpoints.
// The usbfs device implements it; tests plug in a reader model.
type Transport interface {
	// Send writes one whole message to the bulk-OUT endpoint.
	Send(msg []byte, timeout time.Duration) error
	// Recv reads from the bulk-IN endpoint into buf, waiting up to timeout,
	// and returns the byte count. A timeout returns an error wrapping
	// ErrTimeout.
	Recv(buf []byte, timeout time.Duration) (int, error)
}

// Errors of the message layer.
var (
	// ErrTimeout means the reader did not answer in time.
	ErrTimeout = errors.New("the reader did not answer in time")
	// ErrNoCard means the slot is empty.
	ErrNoCard = errors.New("no card in the reader")
	// ErrCardInactive means the card is present but not powered: it was
	// removed and inserted again, or never powered on.
	ErrCardInactive = errors.New("the card in the reader is not powered")
	// ErrUnsupported means the reader needs an exchange this driver does
	// not implement (TPDU-level T=1, character level).
	ErrUnsupported = errors.New("reader not supported by the direct CCID driver")
)

// Defaults of Reader's timeouts.
const (
	// DefaultTimeout is how long a reader may stay silent during one
	// command. Time extensions restart it.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBusy bounds the time a card may keep asking for time
	// extensions within one command (a touch wait, a slow RSA key).
	DefaultMaxBusy = 3 * time.Minute
)

// maxStale bounds how many stale replies (another bSeq) one exchange skips.
const maxStale = 32

// Reader is one CCID reader (slot 0) on a Transport. Its methods are not
// safe for concurrent use.
type Reader struct {
	name string
	tr   Transport
	desc Descriptor
	seq  byte
	buf  []byte

	// Timeout is how long the reader may stay silent (DefaultTimeout).
	Timeout time.Duration
	// MaxBusy bounds the time extensions of one command (DefaultMaxBusy).
	MaxBusy time.Duration
	// Busy, if set, is called once per command when the card first asks
	// for more time (it may be waiting for a touch).
	Busy func()

	t0 bool // TPDU level with T=0, chosen at PowerOn
}

// NewReader returns the reader described by d on tr. name identifies it in
// errors. Readers whose exchange level the driver lacks are refused with
// an error wrapping ErrUnsupported.
func NewReader(name string, tr Transport, d Descriptor) (*Reader, error) {
	if err := d.supported(name); err != nil {
		return nil, err
	}
	max := int(d.MaxMessage)
	if max > headerLen+65536+2 {
		max = headerLen + 65536 + 2
	}
	return &Reader{name: name, tr: tr, desc: d, buf: make([]byte, max), Timeout: DefaultTimeout, MaxBusy: DefaultMaxBusy}, nil
}

// supported returns an error wrapping ErrUnsupported when the driver lacks
// the reader's exchange level; name identifies the reader in it.
func (d Descriptor) supported(name string) error {
	switch d.Level() {
	case LevelCharacter:
		return fmt.Errorf("%w: %s works at character level; use it through pcscd (--card-reader pcsc:)", ErrUnsupported, name)
	case LevelTPDU:
		if d.Protocols&1 == 0 {
			return fmt.Errorf("%w: %s exchanges T=1 TPDUs, which keyunlock's direct CCID driver does not implement; use it through pcscd and libccid (--card-reader pcsc:)", ErrUnsupported, name)
		}
	}
	return nil
}

// Name identifies the reader.
func (r *Reader) Name() string { return r.name }

// Descriptor returns the reader's CCID descriptor.
func (r *Reader) Descriptor() Descriptor { return r.desc }

// T0 reports whether APDUs go to the card as T=0 TPDUs (no extended
// length; the driver follows 61xx and 6Cxx itself).
func (r *Reader) T0() bool { return r.t0 }

// exchange sends one command and returns its reply: the first reply with
// the command's bSeq that is not a time extension.
func (r *Reader) exchange(typ byte, p [3]byte, data []byte, want byte) (reply, error) {
	seq := r.seq
	r.seq++
	if err := r.tr.Send(command(typ, 0, seq, p, data), r.Timeout); err != nil {
		return reply{}, fmt.Errorf("%s: sending to the reader: %w", r.name, err)
	}
	start := time.Now()
	stale := 0
	notified := false
	for {
		rep, err := r.recv()
		if err != nil {
			return reply{}, err
		}
		if rep.Seq != seq || rep.Slot != 0 {
			// A late answer to an earlier command that timed out: skip
			// it until the reader is in step again.
			if stale++; stale > maxStale {
				return reply{}, fmt.Errorf("%s: the reader keeps answering other commands (bSeq %d, want %d); unplug it and plug it in again", r.name, rep.Seq, seq)
			}
			continue
		}
		if rep.Type != want {
			return reply{}, fmt.Errorf("%s: the reader answered message type %#02x to %#02x (want %#02x)", r.name, rep.Type, typ, want)
		}
		switch rep.Status & cmdStatMask {
		case cmdTimeExt:
			if time.Since(start) > r.MaxBusy {
				return reply{}, fmt.Errorf("%s: the card has been busy for more than %s; %w", r.name, r.MaxBusy, ErrTimeout)
			}
			if !notified && r.Busy != nil {
				notified = true
				r.Busy()
			}
			continue
		case cmdFailed:
			switch rep.icc() {
			case iccAbsent:
				return rep, fmt.Errorf("%s: %w", r.name, ErrNoCard)
			case iccInactive:
				if typ != msgIccPowerOn {
					return rep, fmt.Errorf("%s: %w", r.name, ErrCardInactive)
				}
			}
			return rep, fmt.Errorf("%s: the command failed: %s", r.name, slotErrorText(rep.Error))
		case cmdOK:
			return rep, nil
		}
		return reply{}, fmt.Errorf("%s: reply with invalid status %#02x", r.name, rep.Status)
	}
}

// recv reads one complete reply, reading more bulk data while the header
// announces more than has arrived.
func (r *Reader) recv() (reply, error) {
	n := 0
	for {
		m, err := r.tr.Recv(r.buf[n:], r.Timeout)
		if err != nil && n > 0 {
			_, perr := parseReply(r.buf[:n], len(r.buf)-headerLen)
			return reply{}, fmt.Errorf("%s: bad reply: %v, and nothing more came: %w", r.name, perr, err)
		}
		if err != nil {
			if errors.Is(err, ErrTimeout) {
				return reply{}, fmt.Errorf("%s: %w (no reply within %s)", r.name, ErrTimeout, r.Timeout)
			}
			return reply{}, fmt.Errorf("%s: reading from the reader: %w", r.name, err)
		}
		n += m
		rep, err := parseReply(r.buf[:n], len(r.buf)-headerLen)
		if err == nil {
			return rep, nil
		}
		if !errors.Is(err, errShortMessage) || m == 0 || n == len(r.buf) {
			return reply{}, fmt.Errorf("%s: bad reply: %w", r.name, err)
		}
	}
}

// SlotStatus returns nil when a powered card is present, else an error
// wrapping ErrNoCard or ErrCardInactive.
func (r *Reader) SlotStatus() error {
	rep, err := r.exchange(msgGetSlotStatus, [3]byte{}, nil, msgSlotStatus)
	if err != nil {
		return err
	}
	switch rep.icc() {
	case iccActive:
		return nil
	case iccInactive:
		return fmt.Errorf("%s: %w", r.name, ErrCardInactive)
	}
	return fmt.Errorf("%s: %w", r.name, ErrNoCard)
}

// CardPresent reports whether a card is in the slot, powered or not.
func (r *Reader) CardPresent() (bool, error) {
	rep, err := r.exchange(msgGetSlotStatus, [3]byte{}, nil, msgSlotStatus)
	if err != nil {
		return false, err
	}
	return rep.icc() != iccAbsent, nil
}

// PowerOn powers the card (voltage chosen by the reader), returns its ATR
// and picks the exchange for later Transmits. A TPDU reader whose card
// offers no T=0 is refused with ErrUnsupported.
func (r *Reader) PowerOn() ([]byte, error) {
	rep, err := r.exchange(msgIccPowerOn, [3]byte{0, 0, 0}, nil, msgDataBlock)
	if err != nil {
		return nil, err
	}
	if len(rep.Data) < 2 {
		return nil, fmt.Errorf("%s: the card's ATR is %d bytes long", r.name, len(rep.Data))
	}
	atr := append([]byte(nil), rep.Data...)
	r.t0 = false
	if r.desc.Level() == LevelTPDU {
		if atrProtocols(atr)&1 == 0 {
			return nil, fmt.Errorf("%w: the card in %s speaks only T=1, which keyunlock's direct CCID driver does not implement at TPDU level; use pcscd (--card-reader pcsc:)", ErrUnsupported, r.name)
		}
		r.t0 = true
	}
	return atr, nil
}

// PowerOff powers the card down.
func (r *Reader) PowerOff() error {
	_, err := r.exchange(msgIccPowerOff, [3]byte{}, nil, msgSlotStatus)
	return err
}

// atrProtocols returns a bit mask of the protocols an ATR offers (bit n:
// T=n). An ATR without TD1 offers T=0 only.
func atrProtocols(atr []byte) uint32 {
	if len(atr) < 2 {
		return 0
	}
	var mask uint32
	y := atr[1] >> 4
	i := 2
	first := true
	for {
		for _, bit := range []byte{1, 2, 4} {
			if y&bit != 0 {
				i++
			}
		}
		if y&8 == 0 || i >= len(atr) {
			break
		}
		td := atr[i]
		i++
		mask |= 1 << (td & 0x0F)
		y = td >> 4
		first = false
	}
	if first {
		mask = 1
	}
	return mask
}
