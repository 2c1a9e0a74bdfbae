package sim

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"
)

func TestParseQuirks(t *testing.T) {
	q, err := ParseQuirks("noext, gnuk,yubikey,pin63cx,kdf,uif,maxresp=64,touch=20ms,touchtimeout=1s,apdudelay=5ms")
	if err != nil {
		t.Fatal(err)
	}
	want := Quirks{NoExtended: true, Gnuk: true, YubiKey: true, PIN63Cx: true, KDF: true, UIF: true,
		MaxResponse: 64, Touch: 20 * time.Millisecond, TouchTimeout: time.Second, APDUDelay: 5 * time.Millisecond}
	if q != want {
		t.Fatalf("got %+v", q)
	}
	if again, err := ParseQuirks(q.String()); err != nil || again != q {
		t.Fatalf("String round trip: %q → %+v, %v", q.String(), again, err)
	}
	if q, _ := ParseQuirks("t0"); !q.T0 || !q.NoExtended {
		t.Fatal("t0 must imply noext")
	}
	if q, _ := ParseQuirks("touch=never"); !q.NoTouch {
		t.Fatal("touch=never")
	}
	if q, err := ParseQuirks("nokdf"); err != nil || !q.NoKDF || q.String() != "nokdf" {
		t.Fatalf("nokdf: %+v %v", q, err)
	}
	for _, bad := range []string{"bogus", "maxresp", "maxresp=0", "touch=soon", "apdudelay=-1s", "kdf,nokdf"} {
		if _, err := ParseQuirks(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestNoKDF: a card without the KDF-DO says so in C0 and has no F9.
func TestNoKDF(t *testing.T) {
	for _, quirks := range []string{"", "nokdf"} {
		c := newCard(t, quirks)
		selectApp(t, c)
		caps, s := raw(t, c, unhex(t, "00ca00c000"))
		mustOK(t, "GET DATA C0", s)
		if got := caps[0]&0x01 != 0; got != (quirks == "") {
			t.Errorf("%q: C0 byte 0 %02x", quirks, caps[0])
		}
		_, s = raw(t, c, unhex(t, "00ca00f900"))
		if want := map[string]uint16{"": 0x9000, "nokdf": 0x6a88}[quirks]; s != want {
			t.Errorf("%q: GET DATA F9 answered %04x, want %04x", quirks, s, want)
		}
	}
}

func TestT0Responses(t *testing.T) {
	c := newCard(t, "t0")
	selectApp(t, c)
	// Le=00 on a short answer: 6C with the exact length.
	_, s := raw(t, c, unhex(t, "00ca00c400"))
	if s != 0x6c07 {
		t.Fatalf("GET DATA C4 Le=00 on t0: %04x, want 6c07", s)
	}
	out, s := raw(t, c, unhex(t, "00ca00c407"))
	mustOK(t, "exact Le", s)
	if len(out) != 7 {
		t.Fatalf("C4 %x", out)
	}
	// A command with data and an answer: 61xx, then GET RESPONSE.
	mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
	_, s = raw(t, c, short(0, 0xda, 0, 0xc2, eccAttr(algECDH, curveByName("cv25519")), -1))
	mustOK(t, "PUT C2", s)
	out, s = raw(t, c, short(0, 0x47, 0x80, 0, []byte{0xb8, 0}, 0))
	if len(out) != 0 || s != 0x6100|uint16(2+2+32+1) {
		t.Fatalf("GENERATE on t0: %x %04x", out, s)
	}
	out, s = raw(t, c, short(0, 0xc0, 0, 0, nil, int(s&0xff)))
	mustOK(t, "GET RESPONSE", s)
	if len(out) != 37 || out[0] != 0x7f {
		t.Fatalf("public key %x", out)
	}
	// Extended APDUs are refused.
	if _, s := raw(t, c, unhex(t, "00ca006e000bfe")); s != swWrongLength {
		t.Fatalf("extended on t0: %04x", s)
	}
	// The historical bytes announce chaining only, and there is no 7F66.
	if h := c.historical(); h[4] != 0x80 {
		t.Fatalf("caps %x", h)
	}
	if _, s := raw(t, c, unhex(t, "00ca7f6600")); s != swRefNotFound {
		t.Fatalf("7F66 on t0: %04x", s)
	}
}

func TestKDF(t *testing.T) {
	c := newCard(t, "kdf")
	selectApp(t, c)
	f9, s := do(t, c, 0xca, 0, 0xf9, nil)
	mustOK(t, "GET F9", s)
	salt, _ := findTLV(f9, 0x84)
	salt3, _ := findTLV(f9, 0x86)
	if algo, _ := findTLV(f9, 0x81); !bytes.Equal(algo, []byte{3}) || len(salt) != 8 {
		t.Fatalf("F9 %x", f9)
	}
	// The plain PIN is wrong (and of the wrong length: no try lost).
	if s := verify(t, c, 0x82, "123456"); s != swWrongLength {
		t.Fatalf("plain PIN with KDF: %04x", s)
	}
	if pw1, _, _ := c.Tries(); pw1 != 3 {
		t.Fatal("wrong-length KDF PIN cost a try")
	}
	h := kdfHash(sha256.New, []byte("123456"), salt, 100000)
	mustOK(t, "hashed PW1", verify(t, c, 0x82, string(h)))
	h3 := kdfHash(sha256.New, []byte("12345678"), salt3, 100000)
	mustOK(t, "hashed PW3", verify(t, c, 0x83, string(h3)))
	// Spec vector: SHA-256, count 100000, salt "01234567".
	var f []byte
	f = appendTLV(f, 0x81, []byte{3})
	f = appendTLV(f, 0x82, []byte{8})
	f = appendTLV(f, 0x83, []byte{0, 1, 0x86, 0xa0})
	f = appendTLV(f, 0x84, []byte("01234567"))
	f = appendTLV(f, 0x86, []byte("ABCDEFGH"))
	f = appendTLV(f, 0x87, unhex(t, "773784a602b6c81e3f092f4d7d00e17cc822d88f7360fcf2d2ef2d9d901f44b6"))
	f = appendTLV(f, 0x88, unhex(t, "2675d6164a0d4827d1d00c7eea620d015c00030a1cab38b4d0dd600b27dc9630"))
	_, s = do(t, c, 0xda, 0, 0xf9, f)
	mustOK(t, "PUT F9", s)
	mustOK(t, "spec PW1", verify(t, c, 0x82, string(kdfHash(sha256.New, []byte("123456"), []byte("01234567"), 100000))))
	mustOK(t, "spec PW3", verify(t, c, 0x83, string(kdfHash(sha256.New, []byte("12345678"), []byte("ABCDEFGH"), 100000))))
	// KDF off again.
	_, s = do(t, c, 0xda, 0, 0xf9, []byte{0x81, 1, 0})
	mustOK(t, "F9 off", s)
	if f9, _ := do(t, c, 0xca, 0, 0xf9, nil); !bytes.Equal(f9, []byte{0x81, 1, 0}) {
		t.Fatalf("F9 after off: %x", f9)
	}
}

func TestTouch(t *testing.T) {
	for _, tc := range []struct {
		quirks string
		want   uint16
	}{
		{"uif,touch=30ms", swOK},
		{"uif,touch=never,touchtimeout=10ms", swSecurity},
		{"uif,gnuk,touch=never,touchtimeout=10ms", swTouchTimeout},
		{"touch=never", swOK}, // UIF off: no touch needed
	} {
		c := newCard(t, tc.quirks)
		selectApp(t, c)
		mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
		pk := genKey(t, c, SlotDec, eccAttr(algECDH, curveByName("cv25519")))
		pub, _ := findTLV(pk, 0x86)
		mustOK(t, "VERIFY 82", verify(t, c, 0x82, "123456"))
		start := time.Now()
		_, s := do(t, c, 0x2a, 0x80, 0x86, ecdhCmd(pub))
		if s != tc.want {
			t.Fatalf("%s: PSO %04x, want %04x", tc.quirks, s, tc.want)
		}
		if tc.quirks == "uif,touch=30ms" && time.Since(start) < 30*time.Millisecond {
			t.Fatal("the PSO did not wait for the touch")
		}
		if s == swTouchTimeout || s == swSecurity {
			// The PIN must be presented again after a timeout.
			if _, s := raw(t, c, unhex(t, "00200082")); s != 0x63c3 {
				t.Fatalf("PIN state after timeout: %04x", s)
			}
		}
	}
	// UIF can be switched through PUT DATA, except when permanent.
	c := newCard(t, "")
	selectApp(t, c)
	mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
	_, s := do(t, c, 0xda, 0, 0xd7, []byte{2, 0x20})
	mustOK(t, "UIF permanent", s)
	if _, s := do(t, c, 0xda, 0, 0xd7, []byte{0, 0x20}); s != swSecurity {
		t.Fatalf("changing a permanent UIF: %04x", s)
	}
}

func TestTerminateActivateAndDOs(t *testing.T) {
	c := newCard(t, "")
	selectApp(t, c)
	if _, s := raw(t, c, unhex(t, "00e60000")); s != swSecurity {
		t.Fatalf("TERMINATE without PW3: %04x", s)
	}
	mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
	for tag, v := range map[uint16]string{0x5b: "Doe<<John", 0x5f50: "https://example.org/key.asc", 0x5e: "jdoe", 0x0101: "private", 0x7f21: "cert"} {
		_, s := do(t, c, 0xda, byte(tag>>8), byte(tag), []byte(v))
		mustOK(t, "PUT", s)
		got, s := do(t, c, 0xca, byte(tag>>8), byte(tag), nil)
		mustOK(t, "GET", s)
		if string(got) != v {
			t.Fatalf("DO %04x: %q", tag, got)
		}
	}
	_, s := do(t, c, 0xda, 0, 0xc7, bytes.Repeat([]byte{0xaa}, 20))
	mustOK(t, "PUT C7", s)
	ch, s := do(t, c, 0x84, 0, 0, nil)
	mustOK(t, "GET CHALLENGE", s)
	if len(ch) != 256 {
		t.Fatalf("challenge of %d bytes", len(ch))
	}
	if _, s := do(t, c, 0x22, 0x41, 0xb8, []byte{0x83, 1, 3}); s != swOK {
		t.Fatalf("MSE: %04x", s)
	}
	_, s = raw(t, c, unhex(t, "00e60000"))
	mustOK(t, "TERMINATE", s)
	if _, s := raw(t, c, unhex(t, "00ca006e00")); s != swTerminated {
		t.Fatalf("GET DATA on a terminated card: %04x", s)
	}
	_, s = raw(t, c, unhex(t, "00440000"))
	mustOK(t, "ACTIVATE", s)
	selectApp(t, c)
	if f := c.Fingerprint(SlotSig); !bytes.Equal(f, make([]byte, 20)) {
		t.Fatal("factory reset kept the fingerprint")
	}
	if got, _ := do(t, c, 0xca, 0, 0x5b, nil); len(got) != 0 {
		t.Fatal("factory reset kept the name")
	}
	if s := verify(t, c, 0x82, "123456"); s != swOK {
		t.Fatal("factory PIN")
	}
}

func TestChainingErrors(t *testing.T) {
	c := newCard(t, "")
	selectApp(t, c)
	_, s := raw(t, c, short(0x10, 0xda, 0, 0x5b, []byte("abc"), -1))
	mustOK(t, "first chunk", s)
	if _, s := raw(t, c, short(0, 0xda, 0, 0x5e, []byte("x"), -1)); s != swLastChain {
		t.Fatalf("other command in a chain: %04x", s)
	}
	if _, s := raw(t, c, unhex(t, "00c00000")); s != swConditions {
		t.Fatalf("GET RESPONSE with nothing pending: %04x", s)
	}
	if _, s := raw(t, c, unhex(t, "00ca")); s != swWrongLength {
		t.Fatalf("short APDU: %04x", s)
	}
}

func TestCertificatesAndAlgorithmInfo(t *testing.T) {
	c := newCard(t, "")
	selectApp(t, c)
	mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
	for i, cert := range []string{"sig-cert", "dec-cert", "aut-cert"} {
		_, s := do(t, c, 0xa5, byte(i), 0x04, []byte{0x60, 0x04, 0x5c, 0x02, 0x7f, 0x21})
		mustOK(t, "SELECT DATA", s)
		_, s = do(t, c, 0xda, 0x7f, 0x21, []byte(cert))
		mustOK(t, "PUT 7F21", s)
	}
	_, s := do(t, c, 0xa5, 0, 0x04, []byte{0x60, 0x04, 0x5c, 0x02, 0x7f, 0x21})
	mustOK(t, "SELECT DATA", s)
	got, s := do(t, c, 0xca, 0x7f, 0x21, nil)
	if s != swOK || string(got) != "sig-cert" {
		t.Fatalf("first certificate %q %04x", got, s)
	}
	got, s = do(t, c, 0xcc, 0x7f, 0x21, nil)
	if s != swOK || string(got) != "dec-cert" {
		t.Fatalf("GET NEXT DATA %q %04x", got, s)
	}
	fa, s := do(t, c, 0xca, 0, 0xfa, nil)
	mustOK(t, "GET FA", s)
	v, _ := findTLV(fa, 0xfa)
	items, err := parseTLVs(v)
	if err != nil || len(items) == 0 {
		t.Fatalf("FA %x", fa)
	}
	for _, it := range items {
		if _, err := parseAttr(it.value); err != nil {
			t.Errorf("FA lists unusable attributes %x: %v", it.value, err)
		}
	}
	if _, s := raw(t, c, unhex(t, "80ca006e00")); s != swCLAUnsupported {
		t.Fatalf("CLA 80: %04x", s)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newCard(t, "")
	selectApp(t, c)
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			ok := true
			for i := 0; i < 50; i++ {
				r := c.Transmit(unhex(t, "00ca00c400"))
				ok = ok && len(r) == 9 && r[7] == 0x90
				c.APDUCount()
			}
			done <- ok
		}()
	}
	for g := 0; g < 4; g++ {
		if !<-done {
			t.Fatal("a concurrent GET DATA failed")
		}
	}
	if n := c.APDUCount(); n != 201 {
		t.Fatalf("APDU count %d, want 201", n)
	}
}
