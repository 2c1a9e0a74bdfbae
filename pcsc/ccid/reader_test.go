package ccid

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// newT0Card is a T=0 card for the model: INS EE answers P1P2 bytes of the
// counting pattern, through 6Cxx when P3 is wrong and through 61xx/GET
// RESPONSE when the command carried data or the answer is long.
func newT0Card() func([]byte) []byte {
	var pending []byte
	more := func() []byte {
		if len(pending) == 0 {
			pending = nil
			return []byte{0x90, 0x00}
		}
		return []byte{0x61, byte(min(len(pending), 256))}
	}
	return func(t []byte) []byte {
		le := int(t[4])
		if le == 0 {
			le = 256
		}
		switch t[1] {
		case 0xC0:
			if pending == nil {
				return []byte{0x69, 0x85}
			}
			if want := min(len(pending), 256); le != want {
				return []byte{0x6C, byte(want)}
			}
			out := append([]byte(nil), pending[:le]...)
			pending = pending[le:]
			return append(out, more()...)
		case 0xEE:
			n := int(t[2])<<8 | int(t[3])
			if n == 0 {
				return []byte{0x90, 0x00}
			}
			if len(t) > 5 {
				pending = pattern(n)
				return more()
			}
			if n < 256 && le != n {
				return []byte{0x6C, byte(n)}
			}
			pending = pattern(n)
			out := append([]byte(nil), pending[:min(le, n)]...)
			pending = pending[min(le, n):]
			return append(out, more()...)
		}
		return []byte{0x6D, 0x00}
	}
}

func openModel(t *testing.T, m *model) *Reader {
	t.Helper()
	r, err := NewReader("Test Reader (ccid:1-1)", m, m.desc)
	if err != nil {
		t.Fatal(err)
	}
	r.Timeout = 50 * time.Millisecond
	if _, err := r.PowerOn(); err != nil {
		t.Fatal(err)
	}
	return r
}

func checkModel(t *testing.T, m *model) {
	t.Helper()
	for _, e := range m.errs {
		t.Errorf("reader model: %s", e)
	}
}

func TestPowerOnATRAndLevel(t *testing.T) {
	for _, c := range []struct {
		desc Descriptor
		t0   bool
	}{{apduLevel, false}, {tpduT0, true}} {
		m := newModel(c.desc, echoCard)
		r := openModel(t, m)
		if r.T0() != c.t0 {
			t.Errorf("%v: T0() = %v, want %v", c.desc.Level(), r.T0(), c.t0)
		}
		if err := r.SlotStatus(); err != nil {
			t.Errorf("SlotStatus: %v", err)
		}
		// Every command got a fresh bSeq.
		for i, cmd := range m.log {
			if cmd[6] != byte(i) {
				t.Errorf("command %d has bSeq %d", i, cmd[6])
			}
		}
		checkModel(t, m)
	}
}

func TestAPDULevel(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 300, 1000, 4096} {
		m := newModel(apduLevel, echoCard)
		m.respChunk = 100
		r := openModel(t, m)
		// A long command (extended Lc) must be chained in 261-byte parts.
		data := bytes.Repeat([]byte{0xAB}, n)
		apdu := []byte{0x00, 0xEE, byte(n >> 8), byte(n)}
		if n > 0 {
			apdu = append(apdu, 0, byte(n>>8), byte(n))
			apdu = append(apdu, data...)
			apdu = append(apdu, 0, 0)
		}
		resp, err := r.Transmit(apdu)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if want := append(pattern(n), 0x90, 0x00); !bytes.Equal(resp, want) {
			t.Fatalf("%d bytes: response % X, want % X", n, resp, want)
		}
		if got := m.apdus[len(m.apdus)-1]; !bytes.Equal(got, apdu) {
			t.Fatalf("%d bytes: the card got % X, want % X", n, got, apdu)
		}
		checkModel(t, m)
	}
}

func TestTPDUT0(t *testing.T) {
	for _, c := range []struct {
		name  string
		apdu  []byte
		n     int
		tpdus int
	}{
		{"case 1", []byte{0x00, 0xEE, 0x00, 0x00}, 0, 1},
		{"case 2 exact Le", []byte{0x00, 0xEE, 0x00, 0x10, 0x10}, 16, 1},
		{"case 2 Le 00, 6Cxx", []byte{0x00, 0xEE, 0x00, 0x10, 0x00}, 16, 2},
		{"case 2 long answer, 61xx", []byte{0x00, 0xEE, 0x02, 0x00, 0x00}, 512, 2},
		{"case 4 with Le, 61xx", []byte{0x00, 0xEE, 0x00, 0x20, 0x02, 0xAA, 0xBB, 0x00}, 32, 2},
		{"case 4, 300 bytes, 61xx twice", []byte{0x00, 0xEE, 0x01, 0x2C, 0x02, 0xAA, 0xBB, 0x00}, 300, 3},
		{"case 3", []byte{0x00, 0xEE, 0x00, 0x00, 0x01, 0xAA}, 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newModel(tpduT0, newT0Card())
			r := openModel(t, m)
			resp, err := r.Transmit(c.apdu)
			if err != nil {
				t.Fatal(err)
			}
			if want := append(pattern(c.n), 0x90, 0x00); !bytes.Equal(resp, want) {
				t.Fatalf("response % X, want % X", resp, want)
			}
			if len(m.apdus) != c.tpdus {
				t.Errorf("%d TPDUs sent (% X), want %d", len(m.apdus), m.apdus, c.tpdus)
			}
			checkModel(t, m)
		})
	}
	m := newModel(tpduT0, newT0Card())
	r := openModel(t, m)
	if _, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x00, 0x00, 0x01, 0x00, 0xAA}); !errors.Is(err, ErrExtendedT0) {
		t.Errorf("extended APDU over T=0: %v, want ErrExtendedT0", err)
	}
	if len(m.apdus) != 0 {
		t.Errorf("an extended APDU reached the card")
	}

	// A TPDU larger than the reader's messages is refused before sending.
	small := tpduT0
	small.MaxMessage = headerLen + 16
	m = newModel(small, newT0Card())
	r = openModel(t, m)
	if _, err := r.Transmit(append([]byte{0x00, 0xEE, 0x00, 0x00, 0x20}, make([]byte, 0x20)...)); err == nil || !strings.Contains(err.Error(), "message size") {
		t.Errorf("TPDU over the message size: %v", err)
	}
	if len(m.apdus) != 0 {
		t.Errorf("a TPDU over the message size reached the card")
	}
	checkModel(t, m)
}

func TestStaleRepliesSkipped(t *testing.T) {
	m := newModel(apduLevel, echoCard)
	r := openModel(t, m)
	m.stale = 3
	resp, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x04})
	if err != nil || !bytes.Equal(resp, []byte{0, 1, 2, 3, 0x90, 0x00}) {
		t.Fatalf("Transmit = % X, %v", resp, err)
	}
	m.stale = maxStale + 1
	if _, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x04}); err == nil || !strings.Contains(err.Error(), "other commands") {
		t.Fatalf("a flood of stale replies: %v", err)
	}
}

func TestLateReplyAfterTimeout(t *testing.T) {
	// The first command times out; its answer arrives during the second
	// and must not be taken for the second's.
	m := newModel(apduLevel, echoCard)
	r := openModel(t, m)
	var held [][]byte
	if _, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x02}); err != nil {
		t.Fatal(err)
	}
	// Drop the next reply, then deliver it late.
	m.mutate = func(rep []byte) []byte { held = append(held, rep); return nil }
	if _, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x03}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("lost reply: %v, want ErrTimeout", err)
	}
	m.mutate = nil
	m.queue = append(m.queue, held...)
	resp, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x05})
	if err != nil || !bytes.Equal(resp, append(pattern(5), 0x90, 0x00)) {
		t.Fatalf("after a late reply: % X, %v", resp, err)
	}
}

func TestTimeExtension(t *testing.T) {
	m := newModel(apduLevel, echoCard)
	r := openModel(t, m)
	busy := 0
	r.Busy = func() { busy++ }
	m.timeExt = 5
	resp, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x01})
	if err != nil || !bytes.Equal(resp, []byte{0, 0x90, 0x00}) {
		t.Fatalf("Transmit = % X, %v", resp, err)
	}
	if busy != 1 {
		t.Errorf("Busy called %d times, want once", busy)
	}
	m.timeExt = 0
	m.endless = true
	m.mutate = func([]byte) []byte { return nil }
	r.MaxBusy = 30 * time.Millisecond
	start := time.Now()
	if _, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x01}); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("endless time extensions: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("endless time extensions stopped only after %s", d)
	}
}

func TestHostileReplies(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func([]byte) []byte
		want   string
	}{
		{"short header", func(b []byte) []byte { return b[:7] }, "header"},
		{"huge dwLength", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[1:], 0xFFFFFFF0); return b }, "more than"},
		{"truncated payload", func(b []byte) []byte { return b[:len(b)-1] }, "payload"},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }, "after its"},
		{"wrong type", func(b []byte) []byte { b[0] = msgSlotStatus; return b }, "message type"},
		{"failed, card mute", func(b []byte) []byte { b[7], b[8] = cmdFailed, 0xFE; return b }, "mute"},
		{"card removed", func(b []byte) []byte { b[7] = cmdFailed | iccAbsent; return b }, "no card"},
		{"bad status", func(b []byte) []byte { b[7] = 0xC0; return b }, "invalid status"},
		{"no status word", func(b []byte) []byte {
			b = b[:headerLen+1]
			binary.LittleEndian.PutUint32(b[1:], 1)
			return b
		}, "without status word"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newModel(apduLevel, echoCard)
			r := openModel(t, m)
			m.mutate = c.mutate
			_, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x08})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "Test Reader (ccid:1-1)") {
				t.Errorf("error %q does not name the reader", err)
			}
		})
	}
}

func TestSplitBulkReads(t *testing.T) {
	m := newModel(apduLevel, echoCard)
	r := openModel(t, m)
	m.recvChunk = 64 // a full-speed endpoint's packet size
	resp, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0xF0, 0x00})
	if err != nil || !bytes.Equal(resp, append(pattern(0xF0), 0x90, 0x00)) {
		t.Fatalf("Transmit = % X, %v", resp, err)
	}
}

func TestEndless61xx(t *testing.T) {
	m := newModel(tpduT0, func([]byte) []byte { return []byte{0x61, 0x00} })
	r := openModel(t, m)
	if _, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x01, 0x01, 0x00}); err == nil {
		t.Fatal("a card answering 61xx forever was accepted")
	}
	m = newModel(tpduT0, func([]byte) []byte { return []byte{0x61, 0x01} }) // no data at all
	r = openModel(t, m)
	if _, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x01, 0x01, 0x00}); err == nil || !strings.Contains(err.Error(), "61xx") {
		t.Fatalf("a card answering an empty 61 01 forever: %v", err)
	}
}

func TestCardRemovedAndInactive(t *testing.T) {
	m := newModel(apduLevel, echoCard)
	r := openModel(t, m)
	m.powered = false
	if err := r.SlotStatus(); !errors.Is(err, ErrCardInactive) {
		t.Errorf("unpowered card: %v", err)
	}
	m.present = false
	if err := r.SlotStatus(); !errors.Is(err, ErrNoCard) {
		t.Errorf("no card: %v", err)
	}
	if _, err := r.PowerOn(); !errors.Is(err, ErrNoCard) {
		t.Errorf("PowerOn without card: %v", err)
	}
	if _, err := r.Transmit([]byte{0x00, 0xEE, 0x00, 0x01}); !errors.Is(err, ErrNoCard) {
		t.Errorf("Transmit without card: %v", err)
	}
}

func TestUnsupportedReaders(t *testing.T) {
	t1 := Descriptor{BulkIn: 0x81, BulkOut: 0x02, Protocols: 2, Features: 0x000104BA, MaxMessage: 271}
	if _, err := NewReader("Nitrokey Pro (ccid:1-3)", nil, t1); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Nitrokey Pro (ccid:1-3)") || !strings.Contains(err.Error(), "pcscd") {
		t.Errorf("T=1 TPDU reader: %v", err)
	}
	char := Descriptor{BulkIn: 0x81, BulkOut: 0x02, Protocols: 1, Features: 0x0000003E, MaxMessage: 271}
	if _, err := NewReader("Old (ccid:1-4)", nil, char); !errors.Is(err, ErrUnsupported) {
		t.Errorf("character-level reader: %v", err)
	}
	// A TPDU reader offering T=0 and T=1, with a T=1-only card.
	both := tpduT0
	both.Protocols = 3
	m := newModel(both, echoCard)
	m.atr = []byte{0x3b, 0x81, 0x81, 0x31, 0xFE, 0x45} // TD1 = T=1 only
	r, err := NewReader("SCR3310 (ccid:1-5)", m, both)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.PowerOn(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("T=1-only card on a TPDU reader: %v", err)
	}
}

func TestATRProtocols(t *testing.T) {
	for _, c := range []struct {
		atr  []byte
		want uint32
	}{
		{[]byte{0x3b, 0x02, 0x14, 0x50}, 1},                         // no TD1: T=0
		{[]byte{0x3b, 0x80, 0x80, 0x01, 0x01}, 3},                   // T=0 and T=1
		{[]byte{0x3b, 0xF8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE}, 2}, // YubiKey-like: T=1
		{[]byte{0x3b}, 0},
	} {
		if got := atrProtocols(c.atr) & 3; got != c.want {
			t.Errorf("atrProtocols(% X) = %b, want %b", c.atr, got, c.want)
		}
	}
}
