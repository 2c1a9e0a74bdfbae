package ccid

import (
	"encoding/binary"
	"fmt"
	"time"
)

// model is an in-process CCID reader (slot 0) with a card behind it: the
// Transport the message-layer tests drive. It checks the commands it gets
// as a reader would and can misbehave on demand.
type model struct {
	desc    Descriptor
	atr     []byte
	present bool
	powered bool
	card    func(apdu []byte) []byte // answers a whole APDU (or TPDU)

	queue [][]byte // replies waiting on bulk-IN
	log   [][]byte // commands received (bulk-OUT)
	apdus [][]byte // APDUs (or TPDUs) passed to the card
	errs  []string // protocol violations by the host

	// Hostile behaviour.
	stale      int                 // replies with a wrong bSeq before each real one
	timeExt    int                 // time extensions before each reply
	endless    bool                // time extensions forever
	respChunk  int                 // APDU level: chain responses in parts of this size
	recvChunk  int                 // deliver bulk-IN data in pieces of this size
	mutate     func([]byte) []byte // rewrites each real reply
	beforeSend func(cmd []byte)    // observes each command

	rx         []byte // APDU-level command being chained in
	pending    []byte // APDU-level response still to chain out
	chainedOut bool
	lastSeq    byte
}

// apduLevel and tpduT0 are the descriptors of the two kinds of reader.
var (
	apduLevel = Descriptor{Interface: 0, BulkIn: 0x82, BulkOut: 0x01, Protocols: 3, Features: 0x000400FE, MaxMessage: 271}
	tpduT0    = Descriptor{Interface: 0, BulkIn: 0x82, BulkOut: 0x01, Protocols: 1, Features: 0x000104FE, MaxMessage: 0x10012}
)

func newModel(d Descriptor, card func([]byte) []byte) *model {
	return &model{desc: d, atr: []byte{0x3b, 0x80, 0x80, 0x01, 0x01}, present: true, card: card}
}

func (m *model) violation(format string, args ...any) {
	m.errs = append(m.errs, fmt.Sprintf(format, args...))
}

// Send takes one PC_to_RDR message and queues the reply.
func (m *model) Send(msg []byte, timeout time.Duration) error {
	m.log = append(m.log, append([]byte(nil), msg...))
	if m.beforeSend != nil {
		m.beforeSend(msg)
	}
	if len(msg) < headerLen || int(binary.LittleEndian.Uint32(msg[1:5])) != len(msg)-headerLen {
		m.violation("malformed command % X", msg)
		return nil
	}
	if len(msg) > int(m.desc.MaxMessage) {
		m.violation("command of %d bytes exceeds dwMaxCCIDMessageLength %d", len(msg), m.desc.MaxMessage)
	}
	typ, slot, seq := msg[0], msg[5], msg[6]
	m.lastSeq = seq
	data := msg[headerLen:]
	level := binary.LittleEndian.Uint16(msg[8:10])
	var rep []byte
	status := func() byte {
		switch {
		case !m.present:
			return iccAbsent
		case !m.powered:
			return iccInactive
		}
		return iccActive
	}
	mk := func(t byte, st, er, param byte, d []byte) []byte {
		r := make([]byte, headerLen+len(d))
		r[0] = t
		binary.LittleEndian.PutUint32(r[1:], uint32(len(d)))
		r[5], r[6], r[7], r[8], r[9] = slot, seq, st, er, param
		copy(r[headerLen:], d)
		return r
	}
	switch typ {
	case msgGetSlotStatus:
		rep = mk(msgSlotStatus, status(), 0, 0, nil)
	case msgIccPowerOff:
		m.powered = false
		rep = mk(msgSlotStatus, status(), 0, 0, nil)
	case msgIccPowerOn:
		if !m.present {
			rep = mk(msgDataBlock, cmdFailed|iccAbsent, 0xFE, 0, nil)
			break
		}
		m.powered = true
		rep = mk(msgDataBlock, iccActive, 0, 0, m.atr)
	case msgXfrBlock:
		if !m.present || !m.powered {
			rep = mk(msgDataBlock, cmdFailed|status(), 0xFE, 0, nil)
			break
		}
		rep = m.xfr(mk, data, level)
	default:
		m.violation("unexpected message type %#02x", typ)
		rep = mk(msgSlotStatus, cmdFailed|status(), 0, 0, nil)
	}
	if rep == nil {
		return nil
	}
	for i := 0; i < m.stale; i++ {
		s := append([]byte(nil), rep...)
		s[6] = seq - 1 - byte(i)
		m.queue = append(m.queue, s)
	}
	for i := 0; i < m.timeExt; i++ {
		m.queue = append(m.queue, mk(rep[0], cmdTimeExt|iccActive, 1, 0, nil))
	}
	if m.mutate != nil {
		rep = m.mutate(rep)
	}
	if rep != nil {
		m.queue = append(m.queue, rep)
	}
	return nil
}

// xfr handles an XfrBlock at the reader's level.
func (m *model) xfr(mk func(t, st, er, param byte, d []byte) []byte, data []byte, level uint16) []byte {
	if m.desc.Level() == LevelTPDU {
		if level != 0 {
			m.violation("wLevelParameter %#x at TPDU level", level)
		}
		if len(data) < 5 {
			m.violation("TPDU of %d bytes (T=0 needs a 5-byte header)", len(data))
			return mk(msgDataBlock, cmdFailed, 0xF4, 0, nil)
		}
		if len(data) != 5 && len(data) != 5+int(data[4]) {
			m.violation("TPDU % X has both data and Le, or a bad P3", data)
		}
		m.apdus = append(m.apdus, append([]byte(nil), data...))
		return mk(msgDataBlock, iccActive, 0, 0, m.card(data))
	}
	switch level {
	case levelWhole:
		if m.rx != nil {
			m.violation("new APDU while a chained one is incomplete")
		}
		m.rx = nil
		return m.respond(mk, append([]byte(nil), data...))
	case levelBegin:
		m.rx = append([]byte(nil), data...)
		return mk(msgDataBlock, iccActive, 0, 0x10, nil)
	case levelMiddle:
		if m.rx == nil {
			m.violation("chain continued without a beginning")
		}
		m.rx = append(m.rx, data...)
		return mk(msgDataBlock, iccActive, 0, 0x10, nil)
	case levelEnd:
		if m.rx == nil {
			m.violation("chain ended without a beginning")
		}
		apdu := append(m.rx, data...)
		m.rx = nil
		return m.respond(mk, apdu)
	case levelContinue:
		if m.pending == nil {
			m.violation("asked for more response data, but none is left")
			return mk(msgDataBlock, cmdFailed|iccActive, 0, 0, nil)
		}
		return m.chunk(mk)
	}
	m.violation("bad wLevelParameter %#x", level)
	return mk(msgDataBlock, cmdFailed|iccActive, 0, 0, nil)
}

// respond passes an APDU to the card and starts sending its response.
func (m *model) respond(mk func(t, st, er, param byte, d []byte) []byte, apdu []byte) []byte {
	m.apdus = append(m.apdus, apdu)
	m.pending = m.card(apdu)
	return m.chunk(mk)
}

// chunk sends the next part of the pending response.
func (m *model) chunk(mk func(t, st, er, param byte, d []byte) []byte) []byte {
	if m.respChunk <= 0 || len(m.pending) <= m.respChunk {
		d := m.pending
		param := byte(0)
		if m.chainedOut {
			param = 0x02 // the end of a chained response
		}
		m.pending, m.chainedOut = nil, false
		return mk(msgDataBlock, iccActive, 0, param, d)
	}
	param := byte(0x01)
	if m.chainedOut {
		param = 0x03
	}
	d := m.pending[:m.respChunk]
	m.pending = m.pending[m.respChunk:]
	m.chainedOut = true
	return mk(msgDataBlock, iccActive, 0, param, d)
}

// Recv delivers queued replies.
func (m *model) Recv(buf []byte, timeout time.Duration) (int, error) {
	if len(m.queue) == 0 {
		if m.endless {
			r := make([]byte, headerLen)
			r[0], r[6], r[7], r[8] = msgDataBlock, m.lastSeq, cmdTimeExt, 1
			return copy(buf, r), nil
		}
		return 0, fmt.Errorf("%w: model: nothing to read", ErrTimeout)
	}
	r := m.queue[0]
	n := len(r)
	if m.recvChunk > 0 && n > m.recvChunk {
		n = m.recvChunk
	}
	if n > len(buf) {
		n = len(buf)
	}
	copy(buf, r[:n])
	if n == len(r) {
		m.queue = m.queue[1:]
	} else {
		m.queue[0] = r[n:]
	}
	return n, nil
}

// echoCard answers INS 0xEE with P1P2 as a 16-bit length: that many bytes
// of a counting pattern, and 9000; anything else with 6D00.
func echoCard(apdu []byte) []byte {
	if len(apdu) >= 4 && apdu[1] == 0xEE {
		n := int(apdu[2])<<8 | int(apdu[3])
		out := make([]byte, n, n+2)
		for i := range out {
			out[i] = byte(i)
		}
		return append(out, 0x90, 0x00)
	}
	return []byte{0x6D, 0x00}
}

// pattern is echoCard's answer without the status word.
func pattern(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(i)
	}
	return out
}
