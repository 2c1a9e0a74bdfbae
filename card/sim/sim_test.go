package sim

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	gecdh "github.com/ProtonMail/go-crypto/openpgp/ecdh"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func newCard(t *testing.T, quirks string) *Card {
	t.Helper()
	q, err := ParseQuirks(quirks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(t.TempDir(), Options{Quirks: q, Serial: 0x01020304})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// raw sends one APDU given in hex and splits data and status word.
func raw(t *testing.T, c *Card, cmd []byte) ([]byte, uint16) {
	t.Helper()
	r := c.Transmit(cmd)
	if len(r) < 2 {
		t.Fatalf("response %x too short", r)
	}
	return r[:len(r)-2], uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])
}

// short builds a short APDU; le < 0 omits Le.
func short(cla, ins, p1, p2 byte, data []byte, le int) []byte {
	b := []byte{cla, ins, p1, p2}
	if len(data) > 0 {
		b = append(b, byte(len(data)))
		b = append(b, data...)
	}
	if le >= 0 {
		b = append(b, byte(le))
	}
	return b
}

// ext builds an extended APDU.
func ext(ins, p1, p2 byte, data []byte, le int) []byte {
	b := []byte{0, ins, p1, p2, 0}
	if len(data) > 0 {
		b = append(b, byte(len(data)>>8), byte(len(data)))
		b = append(b, data...)
	}
	if le >= 0 {
		b = append(b, byte(le>>8), byte(le))
	}
	return b
}

// do sends a command with short APDUs, chaining long data and following
// 61xx and 6Cxx, like a careful client.
func do(t *testing.T, c *Card, ins, p1, p2 byte, data []byte) ([]byte, uint16) {
	t.Helper()
	for len(data) > 255 {
		_, s := raw(t, c, short(0x10, ins, p1, p2, data[:255], -1))
		if s != swOK {
			t.Fatalf("chained part: %04x", s)
		}
		data = data[255:]
	}
	cmd := short(0, ins, p1, p2, data, 0)
	out, s := raw(t, c, cmd)
	if s>>8 == 0x6c {
		out, s = raw(t, c, short(0, ins, p1, p2, data, int(s&0xff)))
	}
	for s>>8 == 0x61 {
		var more []byte
		more, s = raw(t, c, short(0, 0xc0, 0, 0, nil, int(s&0xff)))
		out = append(out, more...)
	}
	return out, s
}

func mustOK(t *testing.T, what string, s uint16) {
	t.Helper()
	if s != swOK {
		t.Fatalf("%s: status %04x", what, s)
	}
}

func selectApp(t *testing.T, c *Card) {
	t.Helper()
	_, s := raw(t, c, unhex(t, "00a4040006d2760001240100"))
	mustOK(t, "SELECT", s)
}

func verify(t *testing.T, c *Card, p2 byte, pin string) uint16 {
	t.Helper()
	_, s := raw(t, c, short(0, 0x20, 0, p2, []byte(pin), -1))
	return s
}

func TestFreshCardApplicationData(t *testing.T) {
	c := newCard(t, "maxresp=200")
	selectApp(t, c)
	out, s := raw(t, c, unhex(t, "00ca006e00"))
	if s>>8 != 0x61 || len(out) != 200 {
		t.Fatalf("short GET DATA 6E: %d bytes, %04x; want 200 bytes + 61xx", len(out), s)
	}
	rest, s := raw(t, c, short(0, 0xc0, 0, 0, nil, int(s&0xff)))
	mustOK(t, "GET RESPONSE", s)
	ard := append(out, rest...)
	c.q.MaxResponse = 0
	full, s := raw(t, c, unhex(t, "00ca006e000bfe"))
	mustOK(t, "extended GET DATA 6E", s)
	if !bytes.Equal(full, ard) {
		t.Fatal("extended and chained 6E differ")
	}
	v, ok := findTLV(ard, 0x6e)
	if !ok {
		t.Fatal("no 6E")
	}
	aid, _ := findTLV(v, 0x4f)
	if !bytes.Equal(aid, unhex(t, "d276000124010304ff4b0102030400 00"[:0]+"d276000124010304ff4b010203040000")) {
		t.Fatalf("AID %x", aid)
	}
	d73, _ := findTLV(v, 0x73)
	c4, _ := findTLV(d73, 0xc4)
	if !bytes.Equal(c4, unhex(t, "007f7f7f030003")) {
		t.Fatalf("C4 %x", c4)
	}
	c0, _ := findTLV(d73, 0xc0)
	if len(c0) != 10 || c0[0]&0x01 == 0 {
		t.Fatalf("C0 %x", c0)
	}
	if _, ok := findTLV(d73, 0x7f66); !ok {
		t.Fatal("no 7F66")
	}
	atr := c.ATR()
	if !bytes.Contains(atr, c.historical()) || atr[0] != 0x3b {
		t.Fatalf("ATR %x", atr)
	}
	if n := c.APDUCount(); n != 4 {
		t.Fatalf("APDU count %d, want 4", n)
	}
	c.ResetCount()
	if c.APDUCount() != 0 {
		t.Fatal("ResetCount")
	}
}

func TestYubiKeyLayoutMatchesTranscript(t *testing.T) {
	// 6E of the YubiKey 5.4.3 after a factory reset (TestImportKey), with
	// the serial 23852774.
	want := unhex(t, "6e8201374f10d27600012401030400062385277400005f520800730000e00590007f740381012073820110c00a7d000bfe080000ff0000c106010800001100c206010800001100c306010800001100da06010800001100c407017f7f7f030003c550000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000e9f5079a2003e46930c0d9c24a4e3318fdcbcf67c6500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000cd10000000000000000000000000624d7083de0801000200030081027f660802020bfe02020bfed6020020d7020020d8020020d9020020")
	q, _ := ParseQuirks("yubikey")
	c, err := New(t.TempDir(), Options{Quirks: q, Serial: 0x23852774})
	if err != nil {
		t.Fatal(err)
	}
	selectApp(t, c)
	got, s := raw(t, c, unhex(t, "00ca006e000bfe"))
	mustOK(t, "GET DATA", s)
	// Same structure: tags and lengths of every element of 73; the
	// attestation key of the real card is not simulated.
	tags := func(b []byte) []uint {
		v, _ := findTLV(b, 0x6e)
		items, _ := parseTLVs(v)
		var out []uint
		for _, it := range items {
			out = append(out, it.tag, uint(len(it.value)))
			if it.tag == 0x73 {
				sub, _ := parseTLVs(it.value)
				for _, s := range sub {
					out = append(out, s.tag, uint(len(s.value)))
				}
			}
		}
		return out
	}
	if g, w := tags(got), tags(want); !equalUints(g, w) {
		t.Fatalf("6E layout\n got %x\nwant %x", g, w)
	}
	if len(got) != len(want) {
		t.Fatalf("6E length %d, want %d", len(got), len(want))
	}
	_, s = raw(t, c, unhex(t, "0020008200"[:8]))
	if s != swWrongData {
		t.Fatalf("empty VERIFY on yubikey: %04x, want 6a80", s)
	}
	if s := verify(t, c, 0x81, "12345"); s != swWrongData {
		t.Fatalf("short PIN on yubikey: %04x, want 6a80", s)
	}
	if pw1, _, _ := c.Tries(); pw1 != 3 {
		t.Fatalf("short PIN cost a try: %d left", pw1)
	}
}

func equalUints(a, b []uint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestVerifyCountersAndBlocking(t *testing.T) {
	for _, quirk := range []string{"", "pin63cx"} {
		c := newCard(t, quirk)
		selectApp(t, c)
		if _, s := raw(t, c, unhex(t, "00200082")); s != 0x63c3 {
			t.Fatalf("%s: status query %04x, want 63c3", quirk, s)
		}
		if s := verify(t, c, 0x82, "123456"); s != swOK {
			t.Fatalf("good PIN: %04x", s)
		}
		if _, s := raw(t, c, unhex(t, "00200082")); s != swOK {
			t.Fatalf("status query when verified: %04x", s)
		}
		if s := verify(t, c, 0x82, "654321"); s != swSecurity && s != 0x63c2 {
			t.Fatalf("wrong PIN: %04x", s)
		}
		if pw1, _, _ := c.Tries(); pw1 != 2 {
			t.Fatalf("tries %d, want 2", pw1)
		}
		// The failed VERIFY cleared the verified state.
		if _, s := raw(t, c, append(unhex(t, "002a808603"), 0, 1, 2)); s != swSecurity {
			t.Fatalf("PSO after failed VERIFY: %04x", s)
		}
		// A good PIN restores the counter.
		mustOK(t, "verify", verify(t, c, 0x81, "123456"))
		if pw1, _, _ := c.Tries(); pw1 != 3 {
			t.Fatalf("tries %d after good PIN", pw1)
		}
		var last uint16
		for i := 0; i < 3; i++ {
			last = verify(t, c, 0x82, "000000")
		}
		want := uint16(swBlocked)
		if quirk == "pin63cx" {
			want = 0x63c0
		}
		if last != want {
			t.Fatalf("%s: third wrong PIN: %04x, want %04x", quirk, last, want)
		}
		if s := verify(t, c, 0x82, "123456"); s != swBlocked {
			t.Fatalf("blocked PIN: %04x", s)
		}
		// Unblock with PW3.
		mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
		_, s := raw(t, c, short(0, 0x2c, 0x02, 0x81, []byte("abcdef"), -1))
		mustOK(t, "RESET RETRY COUNTER", s)
		mustOK(t, "new PIN", verify(t, c, 0x82, "abcdef"))
		// P1=FF forgets the verification.
		_, s = raw(t, c, unhex(t, "0020ff82"))
		mustOK(t, "VERIFY FF", s)
		if _, s := raw(t, c, unhex(t, "00200082")); s != 0x63c3 {
			t.Fatalf("after FF: %04x", s)
		}
	}
}

func TestChangePINAndResettingCode(t *testing.T) {
	dir := t.TempDir()
	c, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	selectApp(t, c)
	_, s := raw(t, c, short(0, 0x24, 0, 0x81, []byte("123456"+"24681357"), -1))
	mustOK(t, "CHANGE PW1", s)
	mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
	_, s = raw(t, c, short(0, 0xda, 0, 0xd3, []byte("resetme1"), -1))
	mustOK(t, "PUT D3", s)
	for i := 0; i < 3; i++ {
		verify(t, c, 0x82, "999999")
	}
	_, s = raw(t, c, short(0, 0x2c, 0x00, 0x81, []byte("resetme1"+"135790"), -1))
	mustOK(t, "RESET RETRY COUNTER with RC", s)
	// The state survives a reopen.
	c2, err := New(dir, Options{Serial: 42})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Serial() != c.Serial() {
		t.Fatal("serial changed on reopen")
	}
	selectApp(t, c2)
	mustOK(t, "new PIN after reopen", verify(t, c2, 0x82, "135790"))
	if _, rc, _ := c2.Tries(); rc != 3 {
		t.Fatalf("RC tries %d", rc)
	}
}

// genKey sets the slot's attributes and generates a key on the card,
// returning the public key template content.
func genKey(t *testing.T, c *Card, slot Slot, attr []byte) []byte {
	t.Helper()
	_, s := do(t, c, 0xda, 0, byte(0xc1+slot), attr)
	mustOK(t, "PUT attributes", s)
	crt := []byte{0xb6, 0xb8, 0xa4}[slot]
	out, s := do(t, c, 0x47, 0x80, 0, []byte{crt, 0})
	mustOK(t, "GENERATE", s)
	pk, ok := findTLV(out, 0x7f49)
	if !ok {
		t.Fatalf("no 7F49 in %x", out)
	}
	again, s := do(t, c, 0x47, 0x81, 0, []byte{crt, 0})
	mustOK(t, "read public key", s)
	if !bytes.Equal(again, out) {
		t.Fatal("P1=81 answers another key")
	}
	return pk
}

func ecdhCmd(point []byte) []byte {
	return tlvBytes(0xa6, tlvBytes(0x7f49, tlvBytes(0x86, point)))
}

func TestGenerateAndDecipherECDH(t *testing.T) {
	for _, name := range []string{"nistp256", "nistp384", "nistp521", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1", "cv25519"} {
		for _, quirk := range []string{"", "gnuk", "t0", "noext,maxresp=7"} {
			t.Run(name+"/"+quirk, func(t *testing.T) {
				c := newCard(t, quirk)
				selectApp(t, c)
				mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
				cv := curveByName(name)
				pk := genKey(t, c, SlotDec, eccAttr(algECDH, cv))
				pub, _ := findTLV(pk, 0x86)
				mustOK(t, "VERIFY 82", verify(t, c, 0x82, "123456"))
				checkECDH(t, c, pub)
			})
		}
	}
}

func TestRSA(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA key generation is slow")
	}
	for _, bits := range []int{2048, 3072, 4096} {
		c := newCard(t, "")
		selectApp(t, c)
		mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
		pk := genKey(t, c, SlotDec, rsaAttr(bits))
		n, _ := findTLV(pk, 0x81)
		e, _ := findTLV(pk, 0x82)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() != bits {
			t.Fatalf("modulus %d bits", pub.N.BitLen())
		}
		msg := []byte("\x09session-key-bytes\x12\x34")
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
		if err != nil {
			t.Fatal(err)
		}
		mustOK(t, "VERIFY 82", verify(t, c, 0x82, "123456"))
		data := append([]byte{0}, ct...)
		// Chained short APDUs.
		got, s := do(t, c, 0x2a, 0x80, 0x86, data)
		mustOK(t, "PSO:DECIPHER chained", s)
		if !bytes.Equal(got, msg) {
			t.Fatalf("plaintext %x", got)
		}
		// Extended APDU.
		got, s = raw(t, c, ext(0x2a, 0x80, 0x86, data, 0))
		mustOK(t, "PSO:DECIPHER extended", s)
		if !bytes.Equal(got, msg) {
			t.Fatalf("plaintext %x", got)
		}
		// Signature with the SIG key: PKCS#1 DigestInfo.
		spk := genKey(t, c, SlotSig, rsaAttr(bits))
		n, _ = findTLV(spk, 0x81)
		spub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
		digest := sha256.Sum256([]byte("hello"))
		di := append(unhex(t, "3031300d060960864801650304020105000420"), digest[:]...)
		mustOK(t, "VERIFY 81", verify(t, c, 0x81, "123456"))
		sig, s := do(t, c, 0x2a, 0x9e, 0x9a, di)
		mustOK(t, "PSO:CDS", s)
		if err := rsa.VerifyPKCS1v15(spub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatal(err)
		}
		// PW1 valid for one signature only (C4[0] = 00).
		if _, s := do(t, c, 0x2a, 0x9e, 0x9a, di); s != swSecurity {
			t.Fatalf("second CDS: %04x", s)
		}
		if bits == 4096 {
			// No extended length: the extended APDU is refused.
			c.q.NoExtended = true
			if _, s := raw(t, c, ext(0x2a, 0x80, 0x86, data, 0)); s != swWrongLength {
				t.Fatalf("extended APDU with noext: %04x", s)
			}
		}
	}
}

func TestSignECDSAEdDSAAndCounter(t *testing.T) {
	c := newCard(t, "")
	selectApp(t, c)
	mustOK(t, "PW3", verify(t, c, 0x83, "12345678"))
	for _, name := range []string{"nistp256", "nistp521", "brainpoolP384r1"} {
		cv := curveByName(name)
		pk := genKey(t, c, SlotSig, eccAttr(algECDSA, cv))
		pt, _ := findTLV(pk, 0x86)
		x, y := elliptic.Unmarshal(cv.ec(), pt)
		digest := sha256.Sum256([]byte(name))
		mustOK(t, "VERIFY 81", verify(t, c, 0x81, "123456"))
		sig, s := do(t, c, 0x2a, 0x9e, 0x9a, digest[:])
		mustOK(t, "CDS", s)
		size := cv.coordSize()
		r, ss := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if len(sig) != 2*size || !ecdsa.Verify(&ecdsa.PublicKey{Curve: cv.ec(), X: x, Y: y}, digest[:], r, ss) {
			t.Fatalf("%s: bad signature", name)
		}
	}
	pk := genKey(t, c, SlotAut, eccAttr(algEdDSA, curveByName("ed25519")))
	pt, _ := findTLV(pk, 0x86)
	mustOK(t, "VERIFY 82", verify(t, c, 0x82, "123456"))
	sig, s := do(t, c, 0x88, 0, 0, []byte("challenge"))
	mustOK(t, "INTERNAL AUTHENTICATE", s)
	if !ed25519.Verify(ed25519.PublicKey(pt), []byte("challenge"), sig) {
		t.Fatal("bad EdDSA signature")
	}
	out, s := do(t, c, 0xca, 0, 0x7a, nil)
	mustOK(t, "GET 7A", s)
	if !bytes.Equal(out, unhex(t, "7a05930300000"+"1")) {
		t.Fatalf("signature counter %x, want 1 (reset by the last SIG key generation)", out)
	}
}

func TestImportKeyFromOpenPGP(t *testing.T) {
	for _, cfg := range []*packet.Config{
		{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519},
		{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP384},
		{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveBrainpoolP256},
		{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048},
	} {
		ent, err := openpgp.NewEntity("t", "", "t@example.org", cfg)
		if err != nil {
			t.Fatal(err)
		}
		sub := ent.Subkeys[0].PrivateKey
		c := newCard(t, "")
		if err := c.ImportKey(SlotDec, sub); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.Fingerprint(SlotDec), sub.PublicKey.Fingerprint) {
			t.Fatal("fingerprint not set")
		}
		if err := c.ImportKey(SlotSig, ent.PrivateKey); err != nil {
			t.Fatal(err)
		}
		selectApp(t, c)
		// Encrypt to the subkey with go-crypto and decrypt the PKESK
		// with the card: the session key must come out the same.
		var buf bytes.Buffer
		w, err := openpgp.Encrypt(&buf, []*openpgp.Entity{ent}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("secret"))
		w.Close()
		p, err := packet.Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		ek := p.(*packet.EncryptedKey)
		if err := ek.Decrypt(sub, nil); err != nil {
			t.Fatal(err)
		}
		mustOK(t, "VERIFY 82", verify(t, c, 0x82, "123456"))
		switch cfg.Algorithm {
		case packet.PubKeyAlgoRSA:
			var mpi bytes.Buffer
			ek.Serialize(&mpi)
			// The MPI is the last field of the packet: recover it by
			// re-encrypting is not possible, so use the soft key's
			// modulus size and the serialised bytes' tail.
			ct := mpi.Bytes()[mpi.Len()-256:]
			got, s := do(t, c, 0x2a, 0x80, 0x86, append([]byte{0}, ct...))
			mustOK(t, "RSA decipher", s)
			if got[0] != byte(ek.CipherFunc) || !bytes.Equal(got[1:len(got)-2], ek.Key) {
				t.Fatalf("card session key %x, soft %x", got, ek.Key)
			}
		default:
			// The public key the card derives from the imported secret
			// is the subkey's, and it agrees with our own ephemeral.
			pkDO, s := do(t, c, 0x47, 0x81, 0, []byte{0xb8, 0})
			mustOK(t, "read pubkey", s)
			cardPub, _ := findTLV(pkDO, 0x7f49)
			cardPub, _ = findTLV(cardPub, 0x86)
			if soft := sub.PublicKey.PublicKey.(*gecdh.PublicKey).Point; !bytes.Equal(cardPub, soft) {
				t.Fatalf("card public %x, key's %x", cardPub, soft)
			}
			checkECDH(t, c, cardPub)
		}
		time.Sleep(0)
	}
}

// checkECDH runs PSO:DECIPHER with a fresh ephemeral key against the
// card's DEC public point and compares with the host-side secret.
func checkECDH(t *testing.T, c *Card, cardPub []byte) {
	t.Helper()
	k, _, s := c.slotKey(SlotDec)
	mustOK(t, "slot key", s)
	cv := k.curve
	var eph, want []byte
	if cv.kind == curveX25519 {
		e, _ := ecdh.X25519().GenerateKey(rand.Reader)
		p, err := ecdh.X25519().NewPublicKey(cardPub)
		if err != nil {
			t.Fatal(err)
		}
		want, _ = e.ECDH(p)
		eph = e.PublicKey().Bytes()
	} else {
		ec := cv.ec()
		d, _ := generateKey(&keyAlgo{id: algECDH, curve: cv})
		x, y := elliptic.Unmarshal(ec, cardPub)
		if x == nil {
			t.Fatalf("bad card point %x", cardPub)
		}
		sx, sy := ec.ScalarMult(x, y, d)
		want = sx.FillBytes(make([]byte, cv.coordSize()))
		if c.q.Gnuk {
			want = elliptic.Marshal(ec, sx, sy)
		}
		ex, ey := ec.ScalarBaseMult(d)
		eph = elliptic.Marshal(ec, ex, ey)
	}
	got, s := do(t, c, 0x2a, 0x80, 0x86, ecdhCmd(eph))
	mustOK(t, "PSO:DECIPHER", s)
	if !bytes.Equal(got, want) {
		t.Fatalf("shared secret\n got %x\nwant %x", got, want)
	}
}
