package ccid

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseReply feeds arbitrary bulk-IN data to the reply parser and to a
// whole exchange: neither may panic, and an accepted reply must be exactly
// what its header announces.
func FuzzParseReply(f *testing.F) {
	f.Add([]byte{0x80, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x90, 0x00})
	f.Add([]byte{0x80, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0})
	f.Add([]byte{0x81, 0, 0, 0, 0, 0, 0, 0x42, 0xFE, 0})
	f.Add([]byte{0x80, 0, 0, 0, 0, 0, 0, 0x80, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := parseReply(b, 300)
		if err == nil {
			if len(rep.Data) != len(b)-headerLen || len(rep.Data) > 300 || !bytes.Equal(rep.Data, b[headerLen:]) {
				t.Fatalf("accepted % X as %+v", b, rep)
			}
		}
		// The same bytes as the reader's answer to a Transmit.
		tr := &scripted{reply: b}
		r, err := NewReader("fuzz (ccid:1-1)", tr, apduLevel)
		if err != nil {
			t.Fatal(err)
		}
		r.Timeout, r.MaxBusy = time.Millisecond, time.Millisecond
		resp, err := r.Transmit([]byte{0x00, 0xCA, 0x00, 0x6E, 0x00})
		if err == nil && len(resp) < 2 {
			t.Fatalf("response % X without status word accepted", resp)
		}
	})
}

// scripted answers every command with the same bytes, its bSeq patched in
// when long enough.
type scripted struct {
	reply []byte
	seq   byte
	sent  int
	left  []byte
}

func (s *scripted) Send(msg []byte, _ time.Duration) error {
	s.seq = msg[6]
	s.sent++
	s.left = append([]byte(nil), s.reply...)
	if len(s.left) > 6 {
		s.left[6] = s.seq
	}
	return nil
}

func (s *scripted) Recv(buf []byte, _ time.Duration) (int, error) {
	if len(s.left) == 0 {
		return 0, ErrTimeout
	}
	n := copy(buf, s.left)
	s.left = s.left[n:]
	return n, nil
}

// FuzzParseDescriptors checks that no descriptor blob panics the parser.
func FuzzParseDescriptors(f *testing.F) {
	f.Add(descriptors(0x000104FE, 1, 0x10012))
	f.Add(descriptors(0x000400FE, 3, 3072))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDescriptors(b)
		if err == nil && (d.BulkIn == 0 || d.BulkOut == 0 || d.MaxMessage < headerLen+5) {
			t.Fatalf("accepted %+v", d)
		}
	})
}
