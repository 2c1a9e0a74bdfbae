package vpcd

import "sync"

// BasicATR is the answer-to-reset of BasicCard: direct convention, T=1, no
// historical bytes.
var BasicATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}

// BasicCard is a minimal card for transport tests and demos. It answers
// SELECT (CLA 00, INS A4) with 90 00, GET CHALLENGE (00 84 00 00 Le) with Le
// pseudo-random bytes (256 when Le is 00, up to 65535 with an extended Le)
// and 90 00, and anything else with 6D 00 (instruction not supported). It
// counts the commands and resets it receives.
type BasicCard struct {
	mu      sync.Mutex
	seq     byte
	resets  int
	applied int
}

// ATR returns BasicATR.
func (c *BasicCard) ATR() []byte { return append([]byte(nil), BasicATR...) }

// Reset counts a power cycle or warm reset.
func (c *BasicCard) Reset() {
	c.mu.Lock()
	c.resets++
	c.mu.Unlock()
}

// Resets returns how many times the card was reset or powered off.
func (c *BasicCard) Resets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resets
}

// Commands returns how many command APDUs the card has processed.
func (c *BasicCard) Commands() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

// Transmit answers one command APDU.
func (c *BasicCard) Transmit(cmd []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applied++
	if len(cmd) < 4 || cmd[0] != 0x00 {
		return []byte{0x6E, 0x00}
	}
	switch cmd[1] {
	case 0xA4:
		return []byte{0x90, 0x00}
	case 0x84:
		n, ok := expectedLength(cmd)
		if !ok {
			return []byte{0x67, 0x00}
		}
		if n > MaxFrame-2 {
			// vpcd frames cannot carry more than 0xFFFF bytes.
			return []byte{0x67, 0x00}
		}
		out := make([]byte, n+2)
		for i := 0; i < n; i++ {
			c.seq = c.seq*5 + 17
			out[i] = c.seq
		}
		out[n], out[n+1] = 0x90, 0x00
		return out
	}
	return []byte{0x6D, 0x00}
}

// expectedLength decodes Le of a case-2 APDU (short or extended).
func expectedLength(cmd []byte) (int, bool) {
	switch {
	case len(cmd) == 5:
		if cmd[4] == 0 {
			return 256, true
		}
		return int(cmd[4]), true
	case len(cmd) == 7 && cmd[4] == 0:
		n := int(cmd[5])<<8 | int(cmd[6])
		if n == 0 {
			n = 65536
		}
		return n, true
	}
	return 0, false
}
