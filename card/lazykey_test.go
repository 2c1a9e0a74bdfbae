package card

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgptest"
)

// These tests check that a card unlock reads the public key only when it
// must: never for RSA, and for ECDH only when the key's KDF parameters are
// not the curve's defaults (go-crypto writes SHA-512/AES-256 for every
// curve, GnuPG the defaults).

// gpgKDF are the ECDH KDF parameters (hash, cipher) GnuPG writes by curve
// (g10/ecdh.c), written out here rather than taken from defaultKDF so that
// a wrong default fails the tests.
var gpgKDF = map[string][2]byte{
	"cv25519": {8, 7}, "nistp256": {8, 7}, "brainpoolP256r1": {8, 7}, // SHA-256, AES-128
	"nistp384": {9, 8}, "brainpoolP384r1": {9, 8}, // SHA-384, AES-192
	"nistp521": {10, 9}, // SHA-512, AES-256
}

// withKDF returns a copy of an unencrypted v4 ECDH secret (sub)key packet
// with other KDF parameters, hence another fingerprint. The secret part's
// checksum does not cover them.
func withKDF(t testing.TB, k *packet.PrivateKey, hash, cipher byte) *packet.PrivateKey {
	t.Helper()
	var buf bytes.Buffer
	if err := k.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	pkt := buf.Bytes()
	if pkt[0]&0xC0 != 0xC0 {
		t.Fatalf("old-format packet %x", pkt[0])
	}
	hdr := 2
	switch l := pkt[1]; {
	case l >= 192 && l < 224:
		hdr = 3
	case l == 255:
		hdr = 6
	}
	body := pkt[hdr:]
	// version, creation time, algorithm, OID with its length, point MPI, KDF
	if body[0] != 4 || body[5] != byte(packet.PubKeyAlgoECDH) {
		t.Fatalf("not a v4 ECDH key: %x", body[:6])
	}
	off := 7 + int(body[6])
	off += 2 + (int(body[off])<<8|int(body[off+1])+7)/8
	if body[off] != 3 || body[off+1] != 1 {
		t.Fatalf("KDF parameters %x", body[off:off+4])
	}
	body[off+2], body[off+3] = hash, cipher
	p, err := packet.Read(bytes.NewReader(pkt))
	if err != nil {
		t.Fatal(err)
	}
	out, ok := p.(*packet.PrivateKey)
	if !ok || out.Dummy() || out.Encrypted {
		t.Fatalf("re-read %T", p)
	}
	return out
}

// newKeyFixture is a simulated card holding key in its DEC slot, and a
// message encrypted to it. It has no certificate (entity is nil).
func newKeyFixture(t testing.TB, key *packet.PrivateKey, quirks string) *fixture {
	t.Helper()
	q, err := sim.ParseQuirks(quirks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sim.New(t.TempDir(), sim.Options{Quirks: q, Serial: 0x12345678})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportKey(sim.SlotDec, key); err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	if err := core.Encrypt(&msg, pgptest.AllFromGoCrypto(t, &key.PublicKey), []byte(plaintext)); err != nil {
		t.Fatal(err)
	}
	f := &fixture{card: c, conn: newSimConnector(), msg: msg.Bytes()}
	f.slot = f.conn.insert("Sim Reader 00", c)
	return f
}

// gpgLikeKey is the decryption subkey of a test entity, with the KDF
// parameters GnuPG would have written for its curve (RSA unchanged).
func gpgLikeKey(t testing.TB, algo string) *packet.PrivateKey {
	k := entity(t, algo).Subkeys[0].PrivateKey
	if k.PubKeyAlgo != packet.PubKeyAlgoECDH {
		return k
	}
	kdf, ok := gpgKDF[algo]
	if !ok {
		t.Fatalf("no GnuPG KDF parameters for %s", algo)
	}
	return withKDF(t, k, kdf[0], kdf[1])
}

// apduLog records the command headers the card receives.
type apduLog struct {
	mu   sync.Mutex
	cmds [][]byte
}

func (l *apduLog) attach(sl *simSlot) {
	sl.onTransmit = func(cmd []byte) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.cmds = append(l.cmds, bytes.Clone(cmd[:min(4, len(cmd))]))
		return false
	}
}

// count is how many commands had this INS (and P2, when p2 >= 0).
func (l *apduLog) count(ins byte, p2 int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.cmds {
		if len(c) == 4 && c[1] == ins && (p2 < 0 || c[3] == byte(p2)) {
			n++
		}
	}
	return n
}

func (l *apduLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s []string
	for _, c := range l.cmds {
		s = append(s, fmt.Sprintf("%X", c))
	}
	return strings.Join(s, " ")
}

const (
	insGetPublicKey = 0x47
	insPSO          = 0x2A
	insVerify       = 0x20
	insGetData      = 0xCA
)

// TestColdUnlockWithoutCert: with keys as GnuPG makes them and no
// certificate, a cold unlock sends no GET PUBLIC KEY: SELECT, GET DATA 6E,
// GET DATA F9, VERIFY, PSO:DECIPHER; on a card without the KDF-DO the F9
// is not read (4 APDUs).
func TestColdUnlockWithoutCert(t *testing.T) {
	for _, tc := range []struct{ algo, quirks string }{
		{"cv25519", ""}, {"nistp256", ""}, {"nistp384", ""}, {"nistp521", ""},
		{"brainpoolP256r1", ""}, {"brainpoolP384r1", ""}, {"rsa2048", ""}, {"rsa4096", ""},
		{"cv25519", "yubikey"}, {"nistp384", "noext"},
		{"cv25519", "nokdf"}, {"nistp256", "nokdf"}, {"rsa2048", "nokdf"},
	} {
		t.Run(tc.algo+"/"+tc.quirks, func(t *testing.T) {
			f := newKeyFixture(t, gpgLikeKey(t, tc.algo), tc.quirks)
			var log apduLog
			log.attach(f.slot)
			f.card.ResetCount()
			p := core.NewScriptedPrompter("123456")
			m, _, err := f.decrypt(t, Options{}, core.DecryptOptions{Prompter: p})
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Plaintext) != plaintext {
				t.Fatalf("plaintext %q", m.Plaintext)
			}
			n := f.card.APDUCount()
			if g := log.count(insGetPublicKey, -1); g != 0 {
				t.Errorf("%d GET PUBLIC KEY sent (%s)", g, &log)
			}
			want := 5
			if strings.Contains(tc.quirks, "nokdf") {
				want = 4
				if g := log.count(insGetData, 0xF9); g != 0 {
					t.Errorf("GET DATA F9 sent to a card without KDF-DO (%s)", &log)
				}
			}
			if n != want {
				t.Errorf("cold unlock without certificate took %d APDUs, want %d (%s)", n, want, &log)
			}
		})
	}
}

// TestNonDefaultKDFWithoutCert: a key whose ECDH KDF parameters are not the
// curve's defaults still decrypts without its certificate: the default
// guess fails the key unwrap, keyunlock reads the public key (one GET
// PUBLIC KEY) and unwraps again with the same shared secret, with one
// VERIFY and one PSO:DECIPHER in all. The public key is then kept for the
// card session: a second message costs one PSO:DECIPHER and nothing else.
func TestNonDefaultKDFWithoutCert(t *testing.T) {
	for _, tc := range []struct {
		name, algo   string
		hash, cipher byte // 0: go-crypto's SHA-512/AES-256
	}{
		{"cv25519/sha512-aes256", "cv25519", 0, 0},
		{"nistp256/sha512-aes256", "nistp256", 0, 0},
		{"nistp384/sha384-aes256", "nistp384", 9, 9}, // GnuPG 2.0's choice
		{"brainpoolP256r1/sha512-aes256", "brainpoolP256r1", 0, 0},
		{"cv25519/sha256-aes256", "cv25519", 8, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := entity(t, tc.algo).Subkeys[0].PrivateKey
			if tc.hash != 0 {
				key = withKDF(t, key, tc.hash, tc.cipher)
			}
			f := newKeyFixture(t, key, "")
			var log apduLog
			log.attach(f.slot)
			f.card.ResetCount()
			ctx := context.Background()
			ks := core.NewKeystore(NewBackend(Options{Connector: f.conn}))
			p := core.NewScriptedPrompter("123456")
			m, err := core.DecryptMessage(ctx, ks, bytes.NewReader(f.msg), core.DecryptOptions{Prompter: p})
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Plaintext) != plaintext {
				t.Fatalf("plaintext %q", m.Plaintext)
			}
			if g, v, d := log.count(insGetPublicKey, -1), log.count(insVerify, -1), log.count(insPSO, -1); g != 1 || v != 1 || d != 1 {
				t.Errorf("%d GET PUBLIC KEY, %d VERIFY, %d PSO:DECIPHER, want 1 each (%s)", g, v, d, &log)
			}
			if n := f.card.APDUCount(); n != 6 {
				t.Errorf("%d APDUs, want 6 (%s)", n, &log)
			}
			if pw1, _, _ := f.card.Tries(); pw1 != 3 {
				t.Errorf("PIN counter %d after one good VERIFY, want 3", pw1)
			}
			if len(p.Requests) != 1 {
				t.Errorf("%d PIN prompts", len(p.Requests))
			}
			// Same card session: the public key is known now.
			f.card.ResetCount()
			m, err = core.DecryptMessage(ctx, ks, bytes.NewReader(f.msg), core.DecryptOptions{Prompter: p})
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Plaintext) != plaintext {
				t.Fatalf("plaintext %q", m.Plaintext)
			}
			if n, g := f.card.APDUCount(), log.count(insGetPublicKey, -1); n != 1 || g != 1 {
				t.Errorf("second message: %d APDUs (want 1), %d GET PUBLIC KEY in all (want 1): %s", n, g, &log)
			}
		})
	}
}

// TestCorruptPKESKWithoutCert: a wrapped session key that unwraps with no
// KDF parameters fails with ErrBadPKESK after one PSO:DECIPHER and one GET
// PUBLIC KEY: the card is never asked twice, and no PIN try is lost.
func TestCorruptPKESKWithoutCert(t *testing.T) {
	for _, algo := range []string{"cv25519", "nistp256"} {
		t.Run(algo, func(t *testing.T) {
			f := newKeyFixture(t, gpgLikeKey(t, algo), "")
			pk, _ := pkeskOf(t, f.msg)
			pk.Body[len(pk.Body)-1] ^= 0x55 // the last byte of the wrapped key
			var log apduLog
			log.attach(f.slot)
			ctx := context.Background()
			devs, err := NewBackend(Options{Connector: f.conn}).Devices(ctx)
			if err != nil || len(devs) != 1 {
				t.Fatal(devs, err)
			}
			keys, _ := devs[0].Keys(ctx)
			k := keys[0]
			if err := k.Unlock(ctx, []byte("123456")); err != nil {
				t.Fatal(err)
			}
			_, err = k.DecryptPKESK(ctx, pk)
			if !errors.Is(err, core.ErrBadPKESK) || !strings.Contains(err.Error(), "card FF4B:12345678") {
				t.Fatalf("corrupt PKESK: %v", err)
			}
			if g, v, d := log.count(insGetPublicKey, -1), log.count(insVerify, -1), log.count(insPSO, -1); g != 1 || v != 1 || d != 1 {
				t.Errorf("%d GET PUBLIC KEY, %d VERIFY, %d PSO:DECIPHER, want 1 each (%s)", g, v, d, &log)
			}
			if pw1, _, _ := f.card.Tries(); pw1 != 3 {
				t.Errorf("PIN counter %d", pw1)
			}
		})
	}
}

// TestPublicKeyLazy: listing keys needs no GET PUBLIC KEY (the algorithm
// comes from the card's attributes); card status and PublicKey read it
// once per card session and check it against the fingerprint.
func TestPublicKeyLazy(t *testing.T) {
	key := gpgLikeKey(t, "nistp384")
	f := newKeyFixture(t, key, "")
	var log apduLog
	log.attach(f.slot)
	ctx := context.Background()
	b := NewBackend(Options{Connector: f.conn})
	infos, err := core.NewKeystore(b).ListKeys(ctx)
	if err != nil || len(infos) != 1 {
		t.Fatalf("%+v %v", infos, err)
	}
	if i := infos[0]; i.Algorithm != "nistp384" || !i.Available || len(i.Capabilities) != 1 || i.Capabilities[0] != "encrypt" {
		t.Errorf("list: %+v", i)
	}
	if g := log.count(insGetPublicKey, -1); g != 0 {
		t.Errorf("list sent %d GET PUBLIC KEY (%s)", g, &log)
	}
	cards, err := b.Cards(ctx)
	if err != nil || len(cards) != 1 {
		t.Fatal(cards, err)
	}
	var out bytes.Buffer
	if err := cards[0].WriteStatus(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "unreadable") {
		t.Errorf("status:\n%s", out.String())
	}
	keys, _ := cards[0].Keys(ctx)
	pub := keys[0].PublicKey()
	if pub == nil || !bytes.Equal(pub.Fingerprint, key.Fingerprint) {
		t.Fatalf("public key %v", pub)
	}
	if g := log.count(insGetPublicKey, -1); g != 1 {
		t.Errorf("status and PublicKey sent %d GET PUBLIC KEY, want 1 (%s)", g, &log)
	}
}

// TestPublicKeyMismatch: when the card's stored fingerprint (C5) is not
// that of its key, listing still works without a GET PUBLIC KEY; card
// status says the public key does not match; and an ECDH decryption
// (whose KDF takes the fingerprint) fails after one PSO:DECIPHER with an
// error that says to pass the certificate.
func TestPublicKeyMismatch(t *testing.T) {
	f := newKeyFixture(t, gpgLikeKey(t, "cv25519"), "")
	for _, cmd := range []string{
		"00a4040006d2760001240100",
		"002000830831323334353637 38",
		"00da00c814" + strings.Repeat("ab", 20),
	} {
		b, err := hex.DecodeString(strings.ReplaceAll(cmd, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		if r := f.card.Transmit(b); !bytes.HasSuffix(r, []byte{0x90, 0x00}) {
			t.Fatalf("%s: %x", cmd, r)
		}
	}
	var log apduLog
	log.attach(f.slot)
	ctx := context.Background()
	b := NewBackend(Options{Connector: f.conn})
	infos, err := core.NewKeystore(b).ListKeys(ctx)
	if err != nil || len(infos) != 1 || infos[0].Fingerprint != strings.Repeat("AB", 20) {
		t.Fatalf("%+v %v", infos, err)
	}
	cards, err := b.Cards(ctx)
	if err != nil || len(cards) != 1 {
		t.Fatal(cards, err)
	}
	var out bytes.Buffer
	if err := cards[0].WriteStatus(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "public key unreadable") || !strings.Contains(out.String(), "does not match its fingerprint") {
		t.Errorf("status:\n%s", out.String())
	}
	// A fresh session: the mismatch is found while decrypting.
	f.card.Reset()
	log = apduLog{}
	log.attach(f.slot)
	var msg bytes.Buffer
	msg.Write(f.msg)
	pk, _ := pkeskOf(t, f.msg)
	// Re-address the PKESK to the stored fingerprint's key ID.
	copy(pk.Body[1:9], bytes.Repeat([]byte{0xab}, 8))
	devs, err := NewBackend(Options{Connector: f.conn}).Devices(ctx)
	if err != nil || len(devs) != 1 {
		t.Fatal(devs, err)
	}
	keys, _ := devs[0].Keys(ctx)
	if err := keys[0].Unlock(ctx, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	_, err = keys[0].DecryptPKESK(ctx, pk)
	if !errors.Is(err, core.ErrBadPKESK) || !strings.Contains(err.Error(), "--card-cert") {
		t.Fatalf("decrypt: %v", err)
	}
	if g, d := log.count(insGetPublicKey, -1), log.count(insPSO, -1); g != 1 || d != 1 {
		t.Errorf("%d GET PUBLIC KEY, %d PSO:DECIPHER, want 1 each (%s)", g, d, &log)
	}
}
