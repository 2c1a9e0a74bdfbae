package vpcd

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 5, 300, MaxFrame} {
		p := bytes.Repeat([]byte{0xA5}, n)
		var buf bytes.Buffer
		if err := WriteFrame(&buf, p); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != n+2 || buf.Bytes()[0] != byte(n>>8) || buf.Bytes()[1] != byte(n) {
			t.Fatalf("len %d: header %x", n, buf.Bytes()[:2])
		}
		got, err := ReadFrame(&buf)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("len %d: got %d bytes, %v", n, len(got), err)
		}
	}
	if err := WriteFrame(io.Discard, make([]byte, MaxFrame+1)); err == nil {
		t.Fatal("oversized frame accepted")
	}
}

func TestReadFrameTruncated(t *testing.T) {
	if _, err := ReadFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
	for _, in := range [][]byte{{0x00}, {0x00, 0x03, 0x01}, {0x00, 0x01}} {
		if _, err := ReadFrame(bytes.NewReader(in)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%x: %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
}

// FuzzReadFrame checks that ReadFrame never panics, consumes exactly the
// announced length and round-trips through WriteFrame.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x04})
	f.Add([]byte{0x00, 0x05, 0x00, 0xA4, 0x04, 0x00, 0x00})
	f.Add([]byte{0xFF, 0xFF})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		p, err := ReadFrame(r)
		if err != nil {
			if len(in) >= 2 && 2+(int(in[0])<<8|int(in[1])) <= len(in) {
				t.Fatalf("complete frame %x rejected: %v", in, err)
			}
			return
		}
		n := int(in[0])<<8 | int(in[1])
		if len(p) != n || !bytes.Equal(p, in[2:2+n]) || r.Len() != len(in)-2-n {
			t.Fatalf("frame %x decoded to %x", in, p)
		}
		var out bytes.Buffer
		if err := WriteFrame(&out, p); err != nil || !bytes.Equal(out.Bytes(), in[:2+n]) {
			t.Fatalf("re-encoding %x gave %x, %v", p, out.Bytes(), err)
		}
	})
}
