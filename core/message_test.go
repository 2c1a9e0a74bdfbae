package core

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/internal/pgptest"
)

// buildMessage encrypts to pubs with AES-256 (SEIPDv2 with mode when aead)
// and lets inner write the packets inside.
func buildMessage(t testing.TB, pubs []*packet.PublicKey, aead bool, mode packet.AEADMode, inner func(w io.WriteCloser)) []byte {
	t.Helper()
	var buf bytes.Buffer
	key := make([]byte, 32)
	rand.Read(key)
	cfg := &packet.Config{AEADConfig: &packet.AEADConfig{DefaultMode: mode}}
	for _, p := range pubs {
		if err := packet.SerializeEncryptedKeyAEAD(&buf, p, packet.CipherAES256, aead, key, cfg); err != nil {
			t.Fatal(err)
		}
	}
	w, err := packet.SerializeSymmetricallyEncrypted(&buf, packet.CipherAES256, aead, packet.CipherSuite{Cipher: packet.CipherAES256, Mode: mode}, key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	inner(w)
	return buf.Bytes()
}

func literal(data []byte) func(w io.WriteCloser) {
	return func(w io.WriteCloser) {
		lw, err := packet.SerializeLiteral(w, true, "keyfile", 0)
		if err != nil {
			panic(err)
		}
		lw.Write(data)
		lw.Close()
	}
}

func compressed(algo packet.CompressionAlgo, data []byte) func(w io.WriteCloser) {
	return func(w io.WriteCloser) {
		cw, err := packet.SerializeCompressed(w, algo, &packet.CompressionConfig{Level: 9})
		if err != nil {
			panic(err)
		}
		literal(data)(cw)
	}
}

type fixture struct {
	v4, v6   *openpgp.Entity
	k4, k6   *testKey
	ks       *Keystore
	keyfile  []byte
	pub4     []*packet.PublicKey
	pub6     []*packet.PublicKey
	dataPos4 int // where the SEIPD packet starts in a v1 message
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{v4: testEntity(t, "four", false), v6: testEntity(t, "six", true)}
	f.k4, f.k6 = keyOf(t, f.v4, "file four.asc"), keyOf(t, f.v6, "file six.asc")
	f.ks = NewKeystore(backendOf(f.k4, f.k6))
	f.keyfile = make([]byte, 64)
	rand.Read(f.keyfile)
	f.pub4 = []*packet.PublicKey{f.v4.Subkeys[0].PublicKey}
	f.pub6 = []*packet.PublicKey{f.v6.Subkeys[0].PublicKey}
	return f
}

func decrypt(f *fixture, msg []byte, opts DecryptOptions) (*Message, error) {
	return DecryptMessage(ctx, f.ks, bytes.NewReader(msg), opts)
}

func TestDecryptMessageFormats(t *testing.T) {
	f := newFixture(t)
	cases := map[string][]byte{
		"v1 plain":           buildMessage(t, f.pub4, false, 0, literal(f.keyfile)),
		"v1 zlib":            buildMessage(t, f.pub4, false, 0, compressed(packet.CompressionZLIB, f.keyfile)),
		"v1 zip":             buildMessage(t, f.pub4, false, 0, compressed(packet.CompressionZIP, f.keyfile)),
		"v2 ocb":             buildMessage(t, f.pub6, true, packet.AEADModeOCB, literal(f.keyfile)),
		"v2 gcm":             buildMessage(t, f.pub6, true, packet.AEADModeGCM, literal(f.keyfile)),
		"v2 eax":             buildMessage(t, f.pub6, true, packet.AEADModeEAX, compressed(packet.CompressionZLIB, f.keyfile)),
		"v2 to a v4":         buildMessage(t, f.pub4, true, packet.AEADModeOCB, literal(f.keyfile)),
		"openpgp.Encrypt v4": encryptTo(t, f.keyfile, nil, f.v4),
		"openpgp.Encrypt v6": encryptTo(t, f.keyfile, &packet.Config{AEADConfig: &packet.AEADConfig{}}, f.v6),
	}
	var enc bytes.Buffer
	if err := Encrypt(&enc, pgptest.AllFromGoCrypto(t, append(f.pub4, f.pub6...)...), f.keyfile); err != nil {
		t.Fatal(err)
	}
	cases["Encrypt mixed"] = bytes.Clone(enc.Bytes())
	enc.Reset()
	if err := Encrypt(&enc, pgptest.AllFromGoCrypto(t, f.pub6...), f.keyfile); err != nil {
		t.Fatal(err)
	}
	cases["Encrypt v6"] = enc.Bytes()
	var arm bytes.Buffer
	aw, _ := armor.Encode(&arm, "PGP MESSAGE", nil)
	aw.Write(cases["v1 zlib"])
	aw.Close()
	cases["armored"] = append([]byte("\n\n"), arm.Bytes()...)

	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := decrypt(f, msg, DecryptOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Plaintext, f.keyfile) {
				t.Fatal("wrong plaintext")
			}
			if m.Result == nil || m.Result.Fingerprint == "" || len(m.Result.SessionKey.Key) != 0 {
				t.Fatalf("result %+v", m.Result)
			}
		})
	}
	// The SEIPD version follows the recipients.
	if p, _, _ := splitMessage(cases["Encrypt v6"], DefaultMaxSize); p[0].Version != 6 {
		t.Errorf("Encrypt to a v6 key wrote a v%d PKESK", p[0].Version)
	}
	if p, _, _ := splitMessage(cases["Encrypt mixed"], DefaultMaxSize); p[0].Version != 3 {
		t.Errorf("Encrypt to mixed keys wrote a v%d PKESK", p[0].Version)
	}
}

// dataOffset returns where the body of the encrypted data packet starts.
func dataOffset(t testing.TB, msg []byte) int {
	s := &packetScanner{data: msg, max: DefaultMaxSize}
	for {
		p, ok, err := s.next()
		if err != nil || !ok {
			t.Fatalf("no data packet: %v", err)
		}
		if p.tag == tagSEIPD {
			return s.off - len(p.body)
		}
	}
}

func wantErr(t *testing.T, m *Message, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; plaintext %x", m.Plaintext)
	}
	if m != nil {
		t.Fatal("a message came back with the error")
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestDecryptMessageBadInputs(t *testing.T) {
	f := newFixture(t)
	v1 := buildMessage(t, f.pub4, false, 0, literal(f.keyfile))
	v2 := buildMessage(t, f.pub6, true, packet.AEADModeOCB, literal(f.keyfile))

	t.Run("empty", func(t *testing.T) {
		m, err := decrypt(f, nil, DecryptOptions{})
		wantErr(t, m, err, "input is empty")
		m, err = decrypt(f, []byte("\n \n"), DecryptOptions{})
		wantErr(t, m, err, "input is empty")
	})
	t.Run("garbage", func(t *testing.T) {
		junk := make([]byte, 300)
		rand.Read(junk)
		junk[0] = 0x31 // no packet tag bit
		m, err := decrypt(f, junk, DecryptOptions{})
		wantErr(t, m, err, "not an OpenPGP message")
		if !errors.Is(err, ErrNotOpenPGP) {
			t.Fatal("not ErrNotOpenPGP")
		}
		m, err = decrypt(f, []byte("hello world\n"), DecryptOptions{})
		wantErr(t, m, err, "not an OpenPGP message")
	})
	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{1, 10, len(v1) / 2, len(v1) - 1} {
			m, err := decrypt(f, v1[:n], DecryptOptions{})
			wantErr(t, m, err, "truncated")
		}
	})
	t.Run("flipped bit MDC", func(t *testing.T) {
		off := dataOffset(t, v1)
		for _, pos := range []int{off + 1 + 20, off + 1 + 40, len(v1) - 1, len(v1) - 21} {
			bad := bytes.Clone(v1)
			bad[pos] ^= 0x10
			m, err := decrypt(f, bad, DecryptOptions{})
			wantErr(t, m, err, "message integrity check failed (MDC): the file is corrupted or was tampered with")
			if !errors.Is(err, ErrIntegrity) {
				t.Fatal("not ErrIntegrity")
			}
		}
	})
	t.Run("flipped bit AEAD", func(t *testing.T) {
		off := dataOffset(t, v2)
		for _, pos := range []int{off + 4 + 32 + 5, len(v2) - 1, len(v2) - 20} {
			bad := bytes.Clone(v2)
			bad[pos] ^= 0x01
			m, err := decrypt(f, bad, DecryptOptions{})
			wantErr(t, m, err, "message integrity check failed (AEAD)")
		}
	})
	t.Run("huge declared length", func(t *testing.T) {
		off := dataOffset(t, v1)
		// Rewrite the data packet's header as a 5-byte length of 4 GiB-1.
		hdrStart := bytes.LastIndexByte(v1[:off], 0xC0|tagSEIPD)
		bad := append(bytes.Clone(v1[:hdrStart]), 0xC0|tagSEIPD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
		bad = append(bad, v1[off:]...)
		m, err := decrypt(f, bad, DecryptOptions{})
		wantErr(t, m, err, "packet declares 4294967295 bytes, more than the 16 MiB limit")
		// An old-format first packet declaring 2 GiB.
		m, err = decrypt(f, append([]byte{0x86, 0x7F, 0xFF, 0xFF, 0xFF}, make([]byte, 100)...), DecryptOptions{})
		wantErr(t, m, err, "packet declares 2147483647 bytes, more than the 16 MiB limit")
	})
	t.Run("too big", func(t *testing.T) {
		m, err := decrypt(f, v1, DecryptOptions{MaxSize: 100})
		wantErr(t, m, err, "larger than the 100 bytes limit")
	})
	t.Run("compression bomb", func(t *testing.T) {
		bomb := buildMessage(t, f.pub4, false, 0, compressed(packet.CompressionZLIB, make([]byte, 3<<20)))
		if len(bomb) > 64<<10 {
			t.Fatalf("bomb of %d bytes is not a bomb", len(bomb))
		}
		m, err := decrypt(f, bomb, DecryptOptions{MaxSize: 1 << 20})
		wantErr(t, m, err, "decompresses to more than the 1 MiB limit")
	})
	t.Run("password only", func(t *testing.T) {
		var buf bytes.Buffer
		w, err := openpgp.SymmetricallyEncrypt(&buf, []byte("pw"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.keyfile)
		w.Close()
		m, err := decrypt(f, buf.Bytes(), DecryptOptions{})
		wantErr(t, m, err, "encrypted with a password only")
	})
	t.Run("public key instead of message", func(t *testing.T) {
		var buf bytes.Buffer
		f.v4.Serialize(&buf)
		m, err := decrypt(f, buf.Bytes(), DecryptOptions{})
		wantErr(t, m, err, "not an OpenPGP message: it starts with a public key packet")
	})
	t.Run("armored key instead of message", func(t *testing.T) {
		var buf bytes.Buffer
		aw, _ := armor.Encode(&buf, "PGP PUBLIC KEY BLOCK", nil)
		f.v4.Serialize(aw)
		aw.Close()
		m, err := decrypt(f, buf.Bytes(), DecryptOptions{})
		wantErr(t, m, err, `"PGP PUBLIC KEY BLOCK", not a PGP MESSAGE`)
	})
	t.Run("wrong key", func(t *testing.T) {
		other := testEntity(t, "other", false)
		msg := encryptTo(t, f.keyfile, nil, other)
		m, err := decrypt(f, msg, DecryptOptions{})
		wantErr(t, m, err, "no usable key for this message")
		if !errors.Is(err, ErrNoKey) {
			t.Fatal("not ErrNoKey")
		}
	})
	t.Run("trailing garbage", func(t *testing.T) {
		m, err := decrypt(f, append(bytes.Clone(v1), 0xC2, 0x01, 0x00), DecryptOptions{})
		wantErr(t, m, err, "after the encrypted data")
	})
}

func TestPacketScannerPartialLengths(t *testing.T) {
	// A literal packet split into partial chunks of 512 and 1 byte plus a final
	// 2-byte length must be reassembled.
	body := make([]byte, 512+1+300)
	rand.Read(body)
	pkt := []byte{0xC0 | tagLiteral, 0xE9} // 2^9 = 512
	pkt = append(pkt, body[:512]...)
	pkt = append(pkt, 0xE0) // 2^0 = 1
	pkt = append(pkt, body[512])
	pkt = append(pkt, byte((300-192)>>8+192), byte((300-192)&0xFF))
	pkt = append(pkt, body[513:]...)
	s := &packetScanner{data: pkt, max: DefaultMaxSize}
	p, ok, err := s.next()
	if err != nil || !ok || p.tag != tagLiteral || !bytes.Equal(p.body, body) {
		t.Fatalf("ok %v err %v tag %d len %d", ok, err, p.tag, len(p.body))
	}
	// Partial chunks summing above the limit are refused.
	s = &packetScanner{data: pkt, max: 600}
	if _, _, err := s.next(); err == nil || !strings.Contains(err.Error(), "more than the 600 bytes limit") {
		t.Fatalf("over the limit: %v", err)
	}
	// Old format with a 4-byte length.
	old := []byte{0x80 | tagLiteral<<2 | 2, 0, 0, 0, 3, 'a', 'b', 'c'}
	binary.BigEndian.PutUint32(old[1:], 3)
	s = &packetScanner{data: old, max: DefaultMaxSize}
	if p, ok, err := s.next(); err != nil || !ok || string(p.body) != "abc" {
		t.Fatalf("old format: %v", err)
	}
}

func TestDecryptMessagePrompts(t *testing.T) {
	f := newFixture(t)
	f.k4.lockedBy(LockPassword, "pw", -1)
	msg := buildMessage(t, f.pub4, false, 0, literal(f.keyfile))
	p := NewScriptedPrompter("pw")
	m, err := decrypt(f, msg, DecryptOptions{Prompter: p})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Wipe()
	if !bytes.Equal(m.Plaintext, f.keyfile) || len(p.Asked()) != 1 || m.FileName != "keyfile" {
		t.Fatalf("plaintext ok %v, asked %d, name %q", bytes.Equal(m.Plaintext, f.keyfile), len(p.Asked()), m.FileName)
	}
}

// BenchmarkDecryptMessage measures parsing, key selection and decryption of
// a 64-byte keyfile with an unlocked cv25519 key (no S2K).
func BenchmarkDecryptMessage(b *testing.B) {
	f := newFixture(b)
	msg := buildMessage(b, f.pub4, false, 0, compressed(packet.CompressionZLIB, f.keyfile))
	b.ReportAllocs()
	for b.Loop() {
		m, err := decrypt(f, msg, DecryptOptions{})
		if err != nil {
			b.Fatal(err)
		}
		m.Wipe()
	}
}

func TestDecryptSignedMessage(t *testing.T) {
	f := newFixture(t)
	signer := testEntity(t, "signer", false)
	var buf bytes.Buffer
	w, err := openpgp.Encrypt(&buf, []*openpgp.Entity{f.v4}, signer, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(f.keyfile)
	w.Close()
	m, err := decrypt(f, buf.Bytes(), DecryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Plaintext, f.keyfile) {
		t.Fatal("wrong plaintext")
	}
}

func TestNotOpenPGPBeforeHugeLength(t *testing.T) {
	f := newFixture(t)
	// New-format tag 63 with a 4 GiB length: garbage, not a huge packet.
	m, err := decrypt(f, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3}, DecryptOptions{})
	wantErr(t, m, err, "not an OpenPGP message")
	// A real PKESK tag with a huge length is reported as such, without
	// claiming the input is not OpenPGP.
	m, err = decrypt(f, []byte{0xC1, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3}, DecryptOptions{})
	wantErr(t, m, err, "packet declares 2147483647 bytes, more than the 16 MiB limit")
	if errors.Is(err, ErrNotOpenPGP) {
		t.Fatalf("%v claims the input is not OpenPGP", err)
	}
}
