package pgppacket

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var b []byte
	sizes := []int{0, 1, 191, 192, 8383, 8384, 70000}
	for i, n := range sizes {
		b = Append(b, i+1, bytes.Repeat([]byte{byte(i)}, n))
	}
	ps, err := Split(b)
	if err != nil || len(ps) != len(sizes) {
		t.Fatalf("Split: %d packets, %v", len(ps), err)
	}
	for i, p := range ps {
		if p.Tag != i+1 || len(p.Body) != sizes[i] || (len(p.Body) > 0 && p.Body[0] != byte(i)) {
			t.Errorf("packet %d: tag %d len %d", i, p.Tag, len(p.Body))
		}
	}
}

func TestOldFormat(t *testing.T) {
	// Old-format tag 5 with one-, two- and four-octet lengths.
	b := []byte{0x94, 2, 'a', 'b', 0x95, 0, 1, 'c', 0x96, 0, 0, 0, 1, 'd'}
	ps, err := Split(b)
	if err != nil || len(ps) != 3 {
		t.Fatalf("Split = %v, %v", ps, err)
	}
	for i, want := range []string{"ab", "c", "d"} {
		if ps[i].Tag != 5 || string(ps[i].Body) != want {
			t.Errorf("packet %d = %d %q", i, ps[i].Tag, ps[i].Body)
		}
	}
}

func TestBad(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{[]byte{0x05, 1, 2}, "not an OpenPGP packet"},
		{[]byte{0xC5}, "truncated"},
		{[]byte{0xC5, 10, 1, 2}, "exceeds"},
		{[]byte{0xC5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1}, "exceeds"},
		{[]byte{0xCB, 0xE1, 1, 2}, "partial"},
		{[]byte{0x97, 1}, "indeterminate"},
	} {
		_, err := Split(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Split(%x) = %v, want %q", c.in, err, c.want)
		}
	}
}
