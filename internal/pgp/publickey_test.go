package pgp

import (
	"bytes"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"os"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/ecdh"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/x25519"
	"github.com/ProtonMail/go-crypto/openpgp/x448"

	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// readPackets reads a binary or armored key file and splits it into packets.
func readPackets(t *testing.T, path string) []pgppacket.Packet {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		blk, err := armor.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if data, err = io.ReadAll(blk.Body); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	pkts, err := pgppacket.Split(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pkts
}

// goCryptoKey parses one key packet with go-crypto.
func goCryptoKey(t *testing.T, tag int, body []byte) *packet.PublicKey {
	t.Helper()
	p, err := packet.Read(bytes.NewReader(AppendPacket(nil, tag, body)))
	if err != nil {
		t.Fatalf("go-crypto cannot parse the tag %d packet: %v", tag, err)
	}
	switch k := p.(type) {
	case *packet.PublicKey:
		return k
	case *packet.PrivateKey:
		return &k.PublicKey
	}
	t.Fatalf("go-crypto parsed a %T", p)
	return nil
}

// goCurveNames maps our curve names to go-crypto's.
var goCurveNames = map[string]packet.Curve{
	"curve25519": packet.Curve25519, "ed25519": packet.Curve25519, "curve448": packet.Curve448, "ed448": packet.Curve448,
	"nistp256": packet.CurveNistP256, "nistp384": packet.CurveNistP384, "nistp521": packet.CurveNistP521,
	"brainpoolP256r1": packet.CurveBrainpoolP256, "brainpoolP384r1": packet.CurveBrainpoolP384,
	"brainpoolP512r1": packet.CurveBrainpoolP512, "secp256k1": packet.CurveSecP256k1,
}

// TestFixtureKeysMatchGoCrypto parses every key packet of every fixture
// (gpg, sq and go-crypto keys, secret files and certificates) and checks
// that fingerprint, key ID, algorithm, creation time and public parameters
// are those go-crypto finds, and that the body serializes back unchanged.
func TestFixtureKeysMatchGoCrypto(t *testing.T) {
	set := fixtures.Load(t)
	algos := map[string]bool{}
	for _, fk := range set.Keys {
		for _, file := range []string{fk.KeyFile, fk.CertFile} {
			if file == "" {
				continue
			}
			for i, p := range readPackets(t, file) {
				switch p.Tag {
				case TagPublicKey, TagPublicSubkey, TagSecretKey, TagSecretSubkey:
				default:
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%d", fk.Name, map[bool]string{true: "key", false: "cert"}[file == fk.KeyFile], i), func(t *testing.T) {
					var pk *PublicKey
					var err error
					n := len(p.Body)
					if p.Tag == TagSecretKey || p.Tag == TagSecretSubkey {
						pk, n, err = ParsePublicPart(p.Body)
					} else {
						pk, err = ParsePublicKey(p.Body)
					}
					if err != nil {
						t.Fatal(err)
					}
					// go-crypto reads the same public fields as a public
					// key packet (it refuses GnuPG's card stubs as secret keys).
					gk := goCryptoKey(t, TagPublicKey, p.Body[:n])
					compareKey(t, pk, gk)
					if !bytes.Equal(pk.Serialize(), p.Body[:n]) {
						t.Errorf("Serialize differs from the packet's public fields")
					}
					algos[pk.Name()] = true
				})
			}
		}
	}
	for _, want := range []string{"rsa3072", "cv25519", "ed25519", "nistp256", "brainpoolP256r1", "x25519", "x448"} {
		if !algos[want] {
			t.Errorf("no fixture key of algorithm %s was checked (have %v)", want, algos)
		}
	}
}

func compareKey(t *testing.T, pk *PublicKey, gk *packet.PublicKey) {
	t.Helper()
	if pk.Version != gk.Version || uint8(pk.Algo) != uint8(gk.PubKeyAlgo) || !pk.CreationTime().Equal(gk.CreationTime) {
		t.Errorf("version/algo/created = %d/%d/%v, go-crypto %d/%d/%v", pk.Version, pk.Algo, pk.CreationTime(), gk.Version, gk.PubKeyAlgo, gk.CreationTime)
	}
	if !bytes.Equal(pk.Fingerprint, gk.Fingerprint) || pk.KeyID != gk.KeyId {
		t.Errorf("fingerprint %X / key ID %016X, go-crypto %X / %016X", pk.Fingerprint, pk.KeyID, gk.Fingerprint, gk.KeyId)
	}
	var buf bytes.Buffer
	if err := gk.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	gp, err := pgppacket.Split(buf.Bytes())
	if err != nil || len(gp) != 1 || !bytes.Equal(gp[0].Body, pk.Body) {
		t.Errorf("body differs from go-crypto's serialization")
	}
	if pk.Algo.CanEncrypt() != gk.PubKeyAlgo.CanEncrypt() || pk.Algo.CanSign() != gk.PubKeyAlgo.CanSign() {
		t.Errorf("capabilities of algorithm %d differ from go-crypto's", pk.Algo)
	}
	switch k := gk.PublicKey.(type) {
	case *rsa.PublicKey:
		if new(big.Int).SetBytes(pk.N).Cmp(k.N) != 0 || new(big.Int).SetBytes(pk.E).Int64() != int64(k.E) {
			t.Errorf("RSA parameters differ")
		}
		if bits, _ := gk.BitLength(); int(bits) != pk.BitLength() {
			t.Errorf("BitLength %d, go-crypto %d", pk.BitLength(), bits)
		}
	case *ecdh.PublicKey:
		if uint8(pk.KDFHash) != k.KDF.Hash.Id() || uint8(pk.KDFCipher) != k.KDF.Cipher.Id() {
			t.Errorf("KDF %d/%d, go-crypto %d/%d", pk.KDFHash, pk.KDFCipher, k.KDF.Hash.Id(), k.KDF.Cipher.Id())
		}
		if !bytes.Equal(pk.Point, k.Point) && !bytes.Equal(pk.Point[1:], k.Point) {
			t.Errorf("ECDH point %x, go-crypto %x", pk.Point, k.Point)
		}
	case *x25519.PublicKey:
		if !bytes.Equal(pk.Point, k.Point) || len(pk.Point) != 32 {
			t.Errorf("X25519 point %x, go-crypto %x", pk.Point, k.Point)
		}
	case *x448.PublicKey:
		if !bytes.Equal(pk.Point, k.Point) || len(pk.Point) != 56 {
			t.Errorf("X448 point %x, go-crypto %x", pk.Point, k.Point)
		}
	}
	switch pk.Algo {
	case ECDH, ECDSA, EdDSALegacy:
		gc, err := gk.Curve()
		if err != nil || pk.Curve == nil || goCurveNames[pk.Curve.Name] != gc {
			t.Errorf("curve %v, go-crypto %q (%v)", pk.Curve, gc, err)
		}
	}
}

// An unknown algorithm parses as an opaque key with the fingerprint the
// RFC defines, in v4 and v6; a v4 secret key of an unknown algorithm is refused.
func TestOpaqueKeys(t *testing.T) {
	v4 := mustHex(t, "04"+"5f5e1000"+"63"+"0102030405")
	pk, err := ParsePublicKey(v4)
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Opaque() || pk.Algo != 99 || pk.Version != 4 {
		t.Fatalf("parsed %+v", pk)
	}
	// SHA-1(99 00 0B 04 5F5E1000 63 0102030405)
	want := sha1Hex(append([]byte{0x99, 0, byte(len(v4))}, v4...))
	if hex.EncodeToString(pk.Fingerprint) != want || fmt.Sprintf("%016x", pk.KeyID) != want[24:] {
		t.Errorf("fingerprint %X key ID %016X, want %s", pk.Fingerprint, pk.KeyID, want)
	}
	if _, _, err := ParsePublicPart(v4); err == nil {
		t.Errorf("a v4 secret key of an unknown algorithm parsed")
	}

	v6 := mustHex(t, "06"+"5f5e1000"+"63"+"00000003"+"aabbcc"+"ff")
	pk, n, err := ParsePublicPart(v6)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(v6)-1 || !pk.Opaque() {
		t.Fatalf("n = %d, opaque %v", n, pk.Opaque())
	}
	want = sha256Hex(append([]byte{0x9B, 0, 0, 0, byte(n)}, v6[:n]...))
	if hex.EncodeToString(pk.Fingerprint) != want || fmt.Sprintf("%016x", pk.KeyID) != want[:16] {
		t.Errorf("v6 fingerprint %X key ID %016X, want %s", pk.Fingerprint, pk.KeyID, want)
	}
	if _, err := ParsePublicKey(v6); err == nil {
		t.Errorf("trailing byte after a v6 public key was accepted")
	}
}

// Malformed bodies are errors, never panics; truncating a valid key at any
// length fails.
func TestMalformed(t *testing.T) {
	good, err := NewPublicKey(4, ECDH, 1, ECDHMaterial(Curve25519.OID, append([]byte{0x40}, make([]byte, 32)...), 8, CipherAES128))
	if err != nil {
		t.Fatal(err)
	}
	if good.Name() != "cv25519" || good.KDFHash != 8 || good.KDFCipher != CipherAES128 || len(good.Point) != 33 {
		t.Fatalf("built %+v", good)
	}
	for i := 0; i < len(good.Body); i++ {
		if _, err := ParsePublicKey(good.Body[:i]); err == nil {
			t.Errorf("truncated to %d bytes: parsed", i)
		}
	}
	for name, body := range map[string]string{
		"v3":          "03" + "00000001" + "01" + "0001" + "01" + "0001" + "01",
		"v6 short":    "06" + "00000001" + "19" + "00000020" + "00",
		"v6 mismatch": "06" + "00000001" + "19" + "00000021" + "00000000000000000000000000000000000000000000000000000000000000000000",
		"ecdh kdf":    "04" + "00000001" + "12" + "03" + "2b656f" + "0008" + "40" + "03" + "02" + "08" + "07",
		"oid len 0":   "04" + "00000001" + "13" + "00" + "0008" + "04",
	} {
		if _, err := ParsePublicKey(mustHex(t, body)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// NewPublicKey builds v4 and v6 keys that parse back to the same fields.
func TestNewPublicKey(t *testing.T) {
	n := bytes.Repeat([]byte{0xC5}, 256)
	pk, err := NewPublicKey(4, RSA, 1700000000, RSAMaterial(n, []byte{0, 1, 0, 1}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pk.N, n) || !bytes.Equal(pk.E, []byte{1, 0, 1}) || pk.Name() != "rsa2048" {
		t.Errorf("RSA key: %s n=%x... e=%x", pk.Name(), pk.N[:4], pk.E)
	}
	x, err := NewPublicKey(6, X448, 1700000000, bytes.Repeat([]byte{7}, 56))
	if err != nil {
		t.Fatal(err)
	}
	if x.Name() != "x448" || len(x.Fingerprint) != 32 || len(x.Point) != 56 {
		t.Errorf("X448 key: %s %X", x.Name(), x.Fingerprint)
	}
	again, err := ParsePublicKey(x.AppendPacket(nil, TagPublicKey)[2:])
	if err != nil || !bytes.Equal(again.Fingerprint, x.Fingerprint) {
		t.Errorf("AppendPacket does not round-trip: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRSAPublicKey checks the conversion encryption and signature
// verification share: exponents up to 32 bits, none longer or empty.
func TestRSAPublicKey(t *testing.T) {
	n := bytes.Repeat([]byte{0xC5}, 256)
	for _, c := range []struct {
		e    []byte
		want int
	}{{[]byte{1, 0, 1}, 65537}, {[]byte{3}, 3}, {[]byte{0x7F, 0xFF, 0xFF, 0xFF}, 1<<31 - 1}, {nil, 0}, {[]byte{1, 0, 0, 0, 1}, 0}} {
		k, err := (&PublicKey{Algo: RSA, N: n, E: c.e}).rsaPublicKey()
		if c.want == 0 {
			if err == nil {
				t.Errorf("exponent % X accepted", c.e)
			}
			continue
		}
		if err != nil || k.E != c.want || !bytes.Equal(k.N.Bytes(), n) {
			t.Errorf("exponent % X: %v, %v", c.e, k, err)
		}
	}
}
