package vscard

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	in := []Frame{
		{Type: MsgInit, Reader: ReaderUndefined, Payload: initPayload()},
		{Type: MsgAPDU, Reader: 0, Payload: []byte{0x00, 0xA4, 0x04, 0x00}},
		{Type: MsgFlush, Reader: 0, Payload: []byte{}},
	}
	var buf bytes.Buffer
	for _, f := range in {
		if err := WriteFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	// The Init header as QEMU expects it: type 1, reader FFFFFFFF, 12 bytes.
	want := []byte{0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 12, 'V', 'S', 'C', 'D', 0, 0, 0, 2, 0, 0, 0, 0}
	if !bytes.HasPrefix(buf.Bytes(), want) {
		t.Fatalf("Init frame % X, want % X", buf.Bytes()[:24], want)
	}
	for _, w := range in {
		f, err := ReadFrame(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != w.Type || f.Reader != w.Reader || !bytes.Equal(f.Payload, w.Payload) {
			t.Fatalf("read %v, want %v", f, w)
		}
	}
	if _, err := ReadFrame(&buf); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

func TestFrameHostile(t *testing.T) {
	huge := make([]byte, 12)
	binary.BigEndian.PutUint32(huge[0:], MsgAPDU)
	binary.BigEndian.PutUint32(huge[8:], 0xA0000000)
	if _, err := ReadFrame(bytes.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "out of step") {
		t.Errorf("huge length: %v", err)
	}
	short := AppendFrame(nil, Frame{Type: MsgAPDU, Payload: []byte{1, 2, 3, 4}})
	if _, err := ReadFrame(bytes.NewReader(short[:14])); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("truncated payload: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(short[:5])); err == nil {
		t.Error("truncated header accepted")
	}
}

// FuzzReadFrame checks that any byte stream decodes to frames that encode
// back to the same bytes, or to an error, without panics or huge
// allocations.
func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, Frame{Type: MsgInit, Reader: ReaderUndefined, Payload: initPayload()}))
	f.Add(AppendFrame(AppendFrame(nil, Frame{Type: MsgError, Payload: []byte{0, 0, 0, 0}}), Frame{Type: MsgAPDU, Payload: []byte{0, 0xCA, 0, 0x6E, 0}}))
	f.Add([]byte{0, 0, 0, 7, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		var again []byte
		for {
			fr, err := ReadFrame(r)
			if err != nil {
				break
			}
			if len(fr.Payload) > MaxPayload {
				t.Fatalf("payload of %d bytes accepted", len(fr.Payload))
			}
			again = AppendFrame(again, fr)
		}
		if !bytes.HasPrefix(b, again) {
			t.Fatalf("re-encoding differs: % X vs % X", again, b)
		}
	})
}
