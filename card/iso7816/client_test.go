package iso7816

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// script is a transport that expects exact commands and gives fixed answers.
type script struct {
	t    *testing.T
	want []string // hex command, then hex response, alternating
	i    int
}

func (s *script) Transmit(cmd []byte) ([]byte, error) {
	if s.i+1 >= len(s.want) {
		s.t.Fatalf("unexpected command %X", cmd)
	}
	if got := hex.EncodeToString(cmd); got != s.want[s.i] {
		s.t.Fatalf("command %d: sent %s, want %s", s.i/2, got, s.want[s.i])
	}
	r, _ := hex.DecodeString(s.want[s.i+1])
	s.i += 2
	return r, nil
}

func (s *script) done() {
	if s.i != len(s.want) {
		s.t.Fatalf("only %d of %d commands sent", s.i/2, len(s.want)/2)
	}
}

func TestEncodeCases(t *testing.T) {
	for _, tc := range []struct {
		c    Command
		ext  bool
		want string
	}{
		{Command{INS: 0xE6}, false, "00e60000"},
		{Command{INS: 0xCA, P2: 0x6E, Ne: 256}, false, "00ca006e00"},
		{Command{INS: 0xCA, P2: 0x6E, Ne: 0x0BFE}, true, "00ca006e000bfe"},
		{Command{INS: 0xCA, P2: 0x6E, Ne: 65536}, true, "00ca006e000000"},
		{Command{INS: 0x20, P2: 0x82, Data: []byte("123456")}, false, "0020008206313233343536"},
		{Command{INS: 0x2A, P1: 0x80, P2: 0x86, Data: []byte{1, 2}, Ne: 256}, false, "002a8086020102" + "00"},
		{Command{INS: 0x2A, P1: 0x80, P2: 0x86, Data: []byte{1, 2}, Ne: 512}, true, "002a808600000201020200"},
	} {
		got, err := tc.c.Encode(tc.ext)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("%+v: %x %v, want %s", tc.c, got, err, tc.want)
		}
		back, ext, err := ParseCommand(got)
		if err != nil || ext != tc.ext || back.INS != tc.c.INS || back.Ne != tc.c.Ne || !bytes.Equal(back.Data, tc.c.Data) {
			t.Errorf("%s parsed back as %+v ext=%v %v", tc.want, back, ext, err)
		}
	}
	if _, err := (Command{Data: make([]byte, 256)}).Encode(false); !errors.Is(err, ErrTooLong) {
		t.Errorf("256 data bytes short: %v", err)
	}
}

func TestGetResponseLoop(t *testing.T) {
	s := &script{t: t, want: []string{
		"00ca006e00", "0102" + "6103",
		"00c0000003", "030405" + "6101",
		"00c0000001", "06" + "9000",
	}}
	c := &Client{T: s}
	out, err := c.Do(Command{INS: 0xCA, P2: 0x6E, Ne: 256})
	if err != nil || hex.EncodeToString(out) != "010203040506" {
		t.Fatalf("%x %v", out, err)
	}
	s.done()
}

func TestWrongLeResend(t *testing.T) {
	s := &script{t: t, want: []string{
		"00ca004f00", "6c10",
		"00ca004f10", "d2760001240103040006238527740000" + "9000",
	}}
	c := &Client{T: s}
	out, err := c.Do(Command{INS: 0xCA, P2: 0x4F, Ne: 256})
	if err != nil || len(out) != 16 {
		t.Fatalf("%x %v", out, err)
	}
	s.done()
}

func TestChaining(t *testing.T) {
	data := make([]byte, 513) // RSA-4096: 00 ‖ 512
	for i := range data {
		data[i] = byte(i)
	}
	chunk := func(a, b int) string { return hex.EncodeToString(data[a:b]) }
	s := &script{t: t, want: []string{
		"102a8086fe" + chunk(0, 254), "9000",
		"102a8086fe" + chunk(254, 508), "6883", // accepted on a non-last chunk
		"002a808605" + chunk(508, 513) + "00", "6110",
		"00c0000010", "0311223344556677889900aabbccddee" + "9000",
	}}
	c := &Client{T: s, Caps: Caps{Chaining: true}}
	out, err := c.Do(Command{INS: 0x2A, P1: 0x80, P2: 0x86, Data: data, Ne: 512})
	if err != nil || len(out) != 16 {
		t.Fatalf("%x %v", out, err)
	}
	s.done()
}

func TestChainingErrorStops(t *testing.T) {
	s := &script{t: t, want: []string{"102a8086fe" + hex.EncodeToString(make([]byte, 254)), "6884"}}
	c := &Client{T: s, Caps: Caps{Chaining: true}}
	_, err := c.Do(Command{INS: 0x2A, P1: 0x80, P2: 0x86, Data: make([]byte, 300)})
	if SW(err) != SWChainingUnsupported {
		t.Fatalf("err %v", err)
	}
	s.done()
}

func TestExtendedWhenAllowed(t *testing.T) {
	data := make([]byte, 300)
	s := &script{t: t, want: []string{"002a808600012c" + hex.EncodeToString(data) + "0200", "aa9000"}}
	c := &Client{T: s, Caps: Caps{Extended: true, Chaining: true, MaxCmd: 3070, MaxResp: 3070}}
	if _, err := c.Do(Command{INS: 0x2A, P1: 0x80, P2: 0x86, Data: data, Ne: 512}); err != nil {
		t.Fatal(err)
	}
	s.done()
	// Never extended on T=0, and no Lc with Le there: chaining, then 61xx.
	s = &script{t: t, want: []string{
		"102a8086fe" + hex.EncodeToString(data[:254]), "9000",
		"002a80862e" + hex.EncodeToString(data[254:]), "6101",
		"00c0000001", "aa9000",
	}}
	c = &Client{T: s, Caps: Caps{Extended: true, Chaining: true, T0: true}}
	if _, err := c.Do(Command{INS: 0x2A, P1: 0x80, P2: 0x86, Data: data, Ne: 512}); err != nil {
		t.Fatal(err)
	}
	s.done()
	// Neither: a clear error before anything is sent.
	c = &Client{T: &script{t: t}}
	if _, err := c.Do(Command{INS: 0x2A, Data: data}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("err %v", err)
	}
}

func TestStatusErrors(t *testing.T) {
	s := &script{t: t, want: []string{"0020008206313233343536", "63c2"}}
	c := &Client{T: s}
	_, err := c.Do(Command{INS: 0x20, P2: 0x82, Data: []byte("123456")})
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err %v", err)
	}
	if n, ok := se.TriesLeft(); !ok || n != 2 || se.Error() != "card status 63C2: wrong PIN, 2 tries left" {
		t.Fatalf("%v", se)
	}
	if (&StatusError{SW: 0x6983}).Error() != "card status 6983: PIN blocked" {
		t.Fatal((&StatusError{SW: 0x6983}).Error())
	}
}

func TestHistoricalBytes(t *testing.T) {
	atr, _ := hex.DecodeString("3bfd1300008131fe158073c021c057597562694b657940")
	h, err := HistoricalBytes(atr)
	if err != nil || hex.EncodeToString(h) != "8073c021c057597562694b6579" {
		t.Fatalf("%x %v", h, err)
	}
	ch, ext, ok := CapsFromHistorical(h)
	if !ok || !ch || !ext {
		t.Fatalf("%v %v %v", ch, ext, ok)
	}
	// 5F52 from the YubiKey's ARD: category 00, status 05 90 00.
	h, _ = hex.DecodeString("0073000080059000")
	if ch, ext, ok := CapsFromHistorical(h); !ok || !ch || ext {
		t.Fatalf("%v %v %v", ch, ext, ok)
	}
	if _, _, ok := CapsFromHistorical([]byte("Yubikey")); ok {
		t.Fatal("proprietary category accepted")
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, h := range []string{"00a4040006d2760001240100", "00ca006e00", "00ca006e000bfe", "002a808600000201020200", "00e60000"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ext, err := ParseCommand(b)
		if err != nil {
			return
		}
		enc, err := c.Encode(ext)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("%x re-encoded as %x (%v)", b, enc, err)
		}
	})
}
