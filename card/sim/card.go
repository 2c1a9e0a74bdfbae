package sim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Slot is one of the card's three key slots.
type Slot int

// The key slots, in the order of C1–C3 / C7–C9.
const (
	SlotSig Slot = iota // signature key (C1, C7)
	SlotDec             // decryption key (C2, C8)
	SlotAut             // authentication key (C3, C9)
)

// String names the slot the way the OpenPGP card spec does, for logs and
// errors.
func (s Slot) String() string {
	switch s {
	case SlotSig:
		return "signature"
	case SlotDec:
		return "decryption"
	case SlotAut:
		return "authentication"
	}
	return fmt.Sprintf("slot %d", int(s))
}

// Options configure a simulated card.
type Options struct {
	// Quirks select behaviours of real tokens (see Quirks).
	Quirks Quirks
	// Serial is the card serial number of a new card; 0 derives it from
	// the state directory. Ignored when the directory already holds a card.
	Serial uint32
	// Manufacturer is the manufacturer id of a new card (in the AID); 0
	// means 0x0006 (Yubico) with the yubikey quirk, else 0xFF4B, in the
	// range reserved for unmanaged serial numbers. Ignored when the
	// directory already holds a card.
	Manufacturer uint16
}

// Card is a simulated OpenPGP card. It is safe for concurrent use.
type Card struct {
	mu  sync.Mutex
	dir string
	q   Quirks
	st  state

	count int

	// Volatile state, lost on Reset.
	selected            bool
	pw1Sig, pw1Dec, pw3 bool
	chain               []byte
	chainHdr            [3]byte
	chaining            bool
	pending             []byte
	pendingSW           uint16
	decKey, authKey     Slot
	certIdx             int
}

// Status words.
const (
	swOK             = 0x9000
	swTerminated     = 0x6285
	swMemoryFailure  = 0x6581
	swTouchTimeout   = 0x6600
	swWrongLength    = 0x6700
	swLastChain      = 0x6883
	swSecurity       = 0x6982
	swBlocked        = 0x6983
	swConditions     = 0x6985
	swWrongData      = 0x6a80
	swNotFound       = 0x6a82
	swRefNotFound    = 0x6a88
	swWrongP1P2      = 0x6b00
	swINSUnsupported = 0x6d00
	swCLAUnsupported = 0x6e00
)

// New opens the card stored in stateDir, or creates a factory-fresh one
// there (PW1 123456, PW3 12345678, 3 tries each, no keys, RSA-2048
// attributes) when the directory holds none. The directory must exist.
func New(stateDir string, opts Options) (*Card, error) {
	fi, err := os.Stat(stateDir)
	if err != nil {
		return nil, fmt.Errorf("simulated card: state directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("simulated card: state directory %s is not a directory", stateDir)
	}
	if opts.Quirks.TouchTimeout == 0 {
		opts.Quirks.TouchTimeout = 2 * time.Second
	}
	c := &Card{dir: stateDir, q: opts.Quirks, decKey: SlotDec, authKey: SlotAut}
	st, ok, err := load(stateDir)
	if err != nil {
		return nil, err
	}
	if !ok {
		serial, man := opts.Serial, opts.Manufacturer
		if serial == 0 {
			serial = serialFromDir(stateDir)
		}
		if man == 0 {
			man = 0xff4b
			if opts.Quirks.YubiKey {
				man = 0x0006
			}
		}
		if st, err = factoryState(serial, man, opts.Quirks); err != nil {
			return nil, err
		}
		if err := save(stateDir, &st); err != nil {
			return nil, err
		}
	}
	c.st = st
	return c, nil
}

// Serial returns the card serial number.
func (c *Card) Serial() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Serial
}

// AID returns the full application identifier (DO 4F).
func (c *Card) AID() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aid()
}

// Fingerprint returns the fingerprint stored for a slot (C7–C9).
func (c *Card) Fingerprint(s Slot) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.st.Slots[s].Fpr...)
}

// Tries returns the retry counters: PW1, resetting code, PW3.
func (c *Card) Tries() (pw1, rc, pw3 int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.st.Tries[0]), int(c.st.Tries[1]), int(c.st.Tries[2])
}

// Quirks returns the card's quirks.
func (c *Card) Quirks() Quirks { return c.q }

// APDUCount returns how many command APDUs the card has received since it
// was opened or since ResetCount, GET RESPONSE included.
func (c *Card) APDUCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// ResetCount sets the APDU counter back to zero.
func (c *Card) ResetCount() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count = 0
}

// historical returns the historical bytes (5F52).
func (c *Card) historical() []byte {
	caps := byte(0xe0) // chaining, extended Lc/Le, extended length info
	if c.q.NoExtended {
		caps = 0x80
	}
	return []byte{0x00, 0x73, 0x00, 0x00, caps, 0x05, 0x90, 0x00}
}

// ATR returns the answer-to-reset: T=1, with the historical bytes.
func (c *Card) ATR() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.historical()
	atr := []byte{0x3b, 0x80 | byte(len(h)), 0x80, 0x01}
	atr = append(atr, h...)
	var tck byte
	for _, b := range atr[1:] {
		tck ^= b
	}
	return append(atr, tck)
}

// Reset drops the volatile state (PIN verification, selected application,
// pending answers), like a power cycle.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetVolatile()
	c.selected = false
}

func (c *Card) resetVolatile() {
	c.pw1Sig, c.pw1Dec, c.pw3 = false, false, false
	c.chain, c.chaining = nil, false
	c.pending = nil
	c.decKey, c.authKey = SlotDec, SlotAut
	c.certIdx = 0
}

// apdu is a parsed command APDU. le is -1 when absent, else the number of
// bytes expected (256 or 65536 for a zero Le).
type apdu struct {
	cla, ins, p1, p2 byte
	data             []byte
	le               int
	ext              bool
}

var errAPDU = errors.New("malformed APDU")

func parseAPDU(b []byte) (apdu, error) {
	if len(b) < 4 {
		return apdu{}, errAPDU
	}
	a := apdu{cla: b[0], ins: b[1], p1: b[2], p2: b[3], le: -1}
	body := b[4:]
	switch {
	case len(body) == 0:
	case len(body) == 1:
		a.le = int(body[0])
		if a.le == 0 {
			a.le = 256
		}
	case body[0] != 0:
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
		case 2 + lc:
			a.le = int(body[1+lc])
			if a.le == 0 {
				a.le = 256
			}
		default:
			return apdu{}, errAPDU
		}
		a.data = body[1 : 1+lc]
	default:
		a.ext = true
		if len(body) == 3 {
			a.le = int(body[1])<<8 | int(body[2])
			if a.le == 0 {
				a.le = 65536
			}
			break
		}
		if len(body) < 3 {
			return apdu{}, errAPDU
		}
		lc := int(body[1])<<8 | int(body[2])
		switch len(body) {
		case 3 + lc:
		case 5 + lc:
			a.le = int(body[3+lc])<<8 | int(body[4+lc])
			if a.le == 0 {
				a.le = 65536
			}
		default:
			return apdu{}, errAPDU
		}
		if lc == 0 {
			return apdu{}, errAPDU
		}
		a.data = body[3 : 3+lc]
	}
	return a, nil
}

func sw(s uint16) []byte { return []byte{byte(s >> 8), byte(s)} }

// Transmit processes one command APDU and returns the response APDU
// (data and status word).
func (c *Card) Transmit(cmd []byte) []byte {
	if c.q.APDUDelay > 0 {
		time.Sleep(c.q.APDUDelay)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	a, err := parseAPDU(cmd)
	if err != nil || (a.ext && c.q.NoExtended) {
		c.pending = nil
		return sw(swWrongLength)
	}
	if a.cla&0x80 != 0 {
		return sw(swCLAUnsupported)
	}
	if a.ins == 0xc0 && a.cla&0x10 == 0 {
		if c.pending == nil {
			return sw(swConditions)
		}
		data, s := c.pending, c.pendingSW
		c.pending = nil
		return c.respond(a, data, s, true)
	}
	c.pending = nil

	hdr := [3]byte{a.ins, a.p1, a.p2}
	if a.cla&0x10 != 0 {
		if c.chaining && c.chainHdr != hdr {
			c.chain, c.chaining = nil, false
			return sw(swLastChain)
		}
		if len(c.chain)+len(a.data) > 65535 {
			c.chain, c.chaining = nil, false
			return sw(swWrongLength)
		}
		c.chaining, c.chainHdr = true, hdr
		c.chain = append(c.chain, a.data...)
		return sw(swOK)
	}
	if c.chaining {
		if c.chainHdr != hdr {
			c.chain, c.chaining = nil, false
			return sw(swLastChain)
		}
		a.data = append(c.chain, a.data...)
		c.chain, c.chaining = nil, false
	}
	data, s := c.dispatch(a)
	return c.respond(a, data, s, false)
}

// respond applies the transport rules (Le, 61xx, 6Cxx, maximum response
// size) to an answer.
func (c *Card) respond(a apdu, data []byte, s uint16, getResponse bool) []byte {
	if len(data) == 0 {
		return sw(s)
	}
	limit := a.le
	if limit < 0 {
		limit = 256
	}
	if c.q.T0 && !getResponse {
		if len(a.data) > 0 || a.le < 0 {
			// Case 4 (or case 3 with an answer): T=0 cannot carry data
			// both ways; announce the answer.
			c.pending, c.pendingSW = data, s
			return sw(0x6100 | uint16(min(len(data), 256)&0xff))
		}
		if len(data) < 256 && a.le != len(data) {
			return sw(0x6c00 | uint16(len(data)))
		}
	}
	if c.q.MaxResponse > 0 && limit > c.q.MaxResponse {
		limit = c.q.MaxResponse
	}
	if len(data) <= limit {
		return append(append([]byte(nil), data...), sw(s)...)
	}
	c.pending, c.pendingSW = data[limit:], s
	rest := len(c.pending)
	out := append([]byte(nil), data[:limit]...)
	return append(out, sw(0x6100|uint16(min(rest, 256)&0xff))...)
}

// persist saves the state after a change; a failure is a memory failure.
func (c *Card) persist() uint16 {
	if err := save(c.dir, &c.st); err != nil {
		return swMemoryFailure
	}
	return swOK
}

// aid builds the full AID (DO 4F).
func (c *Card) aid() []byte {
	return []byte{0xd2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04,
		byte(c.st.Manufacturer >> 8), byte(c.st.Manufacturer),
		byte(c.st.Serial >> 24), byte(c.st.Serial >> 16), byte(c.st.Serial >> 8), byte(c.st.Serial),
		0x00, 0x00}
}

// dispatch runs one complete command.
func (c *Card) dispatch(a apdu) ([]byte, uint16) {
	if a.ins == 0xa4 {
		return c.doSelect(a)
	}
	if !c.selected {
		return nil, swConditions
	}
	if c.st.Terminated {
		switch a.ins {
		case 0x44:
			return c.doActivate()
		case 0xe6:
			return nil, swOK
		}
		return nil, swTerminated
	}
	switch a.ins {
	case 0xca:
		return c.doGetData(a)
	case 0xcc:
		return c.doGetNextData(a)
	case 0xa5:
		return c.doSelectData(a)
	case 0xda:
		return c.doPutData(a)
	case 0xdb:
		return c.doImport(a)
	case 0x20:
		return c.doVerify(a)
	case 0x24:
		return c.doChange(a)
	case 0x2c:
		return c.doResetRetry(a)
	case 0x47:
		return c.doGenerate(a)
	case 0x2a:
		return c.doPSO(a)
	case 0x88:
		return c.doInternalAuth(a)
	case 0x22:
		return c.doMSE(a)
	case 0x84:
		return c.doChallenge(a)
	case 0xe6:
		return c.doTerminate()
	case 0x44:
		return nil, swOK
	}
	return nil, swINSUnsupported
}

// openPGPRID is the RID and application id every OpenPGP card AID starts with.
var openPGPRID = []byte{0xd2, 0x76, 0x00, 0x01, 0x24, 0x01}

func (c *Card) doSelect(a apdu) ([]byte, uint16) {
	if a.p1 != 0x04 || len(a.data) < 5 {
		return nil, swNotFound
	}
	full := c.aid()
	if !bytes.HasPrefix(full, a.data) && !bytes.HasPrefix(a.data, openPGPRID) {
		c.selected = false
		return nil, swNotFound
	}
	if len(a.data) > 6 && !bytes.HasPrefix(full, a.data) {
		c.selected = false
		return nil, swNotFound
	}
	c.resetVolatile()
	c.selected = true
	if c.st.Terminated {
		return nil, swTerminated
	}
	return nil, swOK
}

func (c *Card) doTerminate() ([]byte, uint16) {
	if !c.pw3 && c.st.Tries[2] != 0 {
		return nil, swSecurity
	}
	c.st.Terminated = true
	if !c.q.YubiKey {
		// A YubiKey keeps the PIN verification across TERMINATE and
		// ACTIVATE (its PINs return to the same defaults).
		c.resetVolatile()
	}
	return nil, c.persist()
}

func (c *Card) doActivate() ([]byte, uint16) {
	st, err := factoryState(c.st.Serial, c.st.Manufacturer, c.q)
	if err != nil {
		return nil, swMemoryFailure
	}
	c.st = st
	if !c.q.YubiKey {
		c.resetVolatile()
	}
	return nil, c.persist()
}
