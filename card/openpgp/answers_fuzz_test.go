package openpgp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/card/iso7816"
)

// scriptedCard answers each command with the next response of a script:
// the fuzz input cut into [2-byte length][response] records. When the
// script runs out, the card is gone.
type scriptedCard struct {
	script []byte
	calls  int
}

var errCardGone = errors.New("card removed")

func (s *scriptedCard) Transmit(cmd []byte) ([]byte, error) {
	s.calls++
	if len(s.script) < 2 {
		return nil, errCardGone
	}
	n := int(binary.BigEndian.Uint16(s.script))
	s.script = s.script[2:]
	n = min(n, len(s.script))
	r := s.script[:n]
	s.script = s.script[n:]
	return bytes.Clone(r), nil
}

// script encodes responses as a scriptedCard input.
func script(resps ...[]byte) []byte {
	var b []byte
	for _, r := range resps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(r)))
		b = append(b, r...)
	}
	return b
}

// FuzzCardAnswers plays a malicious or broken card: every response the
// OpenPGP card client reads (SELECT, the ARD, GET RESPONSE chains, the
// PIN status, GET PUBLIC KEY, PSO:DECIPHER) comes from the fuzz input. The
// client must return values or errors, never panic, and never send more
// than a bounded number of commands for one operation.
func FuzzCardAnswers(f *testing.F) {
	ok := []byte{0x90, 0x00}
	ards, _ := filepath.Glob("testdata/fuzz/FuzzParseARD/*")
	for _, p := range ards {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		line := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[1])
		raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
		if err != nil {
			continue
		}
		ard := append([]byte(raw), ok...)
		pw := []byte{0x00, 0x7F, 0x7F, 0x7F, 0x03, 0x00, 0x03, 0x90, 0x00}
		pub := append([]byte{0x7F, 0x49, 0x22, 0x86, 0x20}, make([]byte, 32)...)
		f.Add(script(ok, ard, pw, append(pub, ok...), append(make([]byte, 32), ok...)))
		if len(ard) < 100 {
			continue
		}
		// The same, with the ARD in 61xx pieces and a 6Cxx resend.
		f.Add(script(ok, append(bytes.Clone(ard[:100]), 0x61, 0x00), ard[100:], []byte{0x6C, 0x09}, pw, []byte{0x69, 0x82}))
	}
	f.Add(script(ok, []byte{0x61, 0xFF}, []byte{0x61, 0xFF}, []byte{0x61, 0xFF}))
	f.Add(script([]byte{0x6A, 0x82}))
	f.Add(script(ok, []byte{0x90}))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := &scriptedCard{script: data}
		c := New(sc, iso7816.Caps{Extended: true, Chaining: true})
		bound := func(op string, before int) {
			if n := sc.calls - before; n > 1100 {
				t.Fatalf("%s sent %d commands", op, n)
			}
		}
		n := sc.calls
		err := c.Open()
		bound("Open", n)
		if err == nil && c.ARD == nil {
			t.Fatal("Open succeeded without an ARD")
		}
		n = sc.calls
		c.ReadPWStatus()
		bound("ReadPWStatus", n)
		for slot := 0; slot < 3; slot++ {
			n = sc.calls
			if nn, e, pt, err := c.PublicKey(slot); err == nil && pt == nil && (nn == nil || e == nil) {
				t.Fatal("PublicKey succeeded without a key")
			}
			bound("PublicKey", n)
		}
		n = sc.calls
		if out, err := c.DecipherECDH(make([]byte, 32), Curves[0]); err == nil && len(out) != 32 {
			t.Fatalf("DecipherECDH returned %d bytes for cv25519", len(out))
		}
		bound("DecipherECDH", n)
		n = sc.calls
		c.DecipherRSA(make([]byte, 256), 2048)
		bound("DecipherRSA", n)
	})
}
