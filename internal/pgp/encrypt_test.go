package pgp

import (
	"bytes"
	"crypto/rand"
	"io"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// goKey is a go-crypto key pair made for the encryption tests.
type goKey struct {
	name string
	cfg  *packet.Config
}

var goKeys = []goKey{
	{"rsa2048", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048}},
	{"cv25519", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}},
	{"nistp256", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256}},
	{"nistp384", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP384}},
	{"nistp521", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP521}},
	{"brainpoolP256r1", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveBrainpoolP256}},
	{"brainpoolP384r1", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveBrainpoolP384}},
	{"brainpoolP512r1", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveBrainpoolP512}},
	{"v6-x25519", &packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519, AEADConfig: &packet.AEADConfig{}}},
	{"v6-x448", &packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd448, AEADConfig: &packet.AEADConfig{}}},
}

var (
	entitiesOnce sync.Once
	entities     map[string]*openpgp.Entity
)

// testEntities returns one go-crypto key pair per goKeys entry.
func testEntities(t testing.TB) map[string]*openpgp.Entity {
	entitiesOnce.Do(func() {
		entities = map[string]*openpgp.Entity{}
		for _, k := range goKeys {
			e, err := openpgp.NewEntity(k.name, "", k.name+"@example.org", k.cfg)
			if err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
			entities[k.name] = e
		}
	})
	return entities
}

// fromGoCrypto parses go-crypto's serialisation of pk with ParsePublicKey.
func fromGoCrypto(t testing.TB, pk *packet.PublicKey) *PublicKey {
	t.Helper()
	var buf bytes.Buffer
	if err := pk.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	ps, err := pgppacket.Split(buf.Bytes())
	if err != nil || len(ps) != 1 {
		t.Fatalf("splitting go-crypto's key: %v", err)
	}
	p, err := ParsePublicKey(ps[0].Body)
	if err != nil {
		t.Fatalf("parsing go-crypto's key: %v", err)
	}
	if !bytes.Equal(p.Fingerprint, pk.Fingerprint) {
		t.Fatalf("fingerprint %X, go-crypto says %X", p.Fingerprint, pk.Fingerprint)
	}
	return p
}

// goDecrypt decrypts msg with go-crypto, reading to the end so that the
// MDC or the final AEAD tag is checked.
func goDecrypt(t *testing.T, msg []byte, keys openpgp.EntityList) []byte {
	t.Helper()
	md, err := openpgp.ReadMessage(bytes.NewReader(msg), keys, nil, nil)
	if err != nil {
		t.Fatalf("go-crypto cannot read the message: %v", err)
	}
	out, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatalf("go-crypto cannot decrypt the message: %v", err)
	}
	return out
}

// TestEncryptGoCryptoDecrypts encrypts to every algorithm keyunlock can
// encrypt to, and has go-crypto decrypt the result.
func TestEncryptGoCryptoDecrypts(t *testing.T) {
	ents := testEntities(t)
	for _, k := range goKeys {
		t.Run(k.name, func(t *testing.T) {
			e := ents[k.name]
			pub := fromGoCrypto(t, e.Subkeys[0].PublicKey)
			for _, size := range []int{0, 64, 1<<18 - 6, 1<<18 + 100} {
				plain := make([]byte, size)
				rand.Read(plain)
				msg, err := Encrypt(rand.Reader, []*PublicKey{pub}, plain)
				if err != nil {
					t.Fatal(err)
				}
				if got := goDecrypt(t, msg, openpgp.EntityList{e}); !bytes.Equal(got, plain) {
					t.Fatalf("%d bytes: go-crypto decrypted something else", size)
				}
			}
		})
	}
}

// TestEncryptSeveralRecipients checks that each recipient of a message to
// several keys (v4 and v6 mixed: SEIPDv1, v3 PKESKs) can decrypt it alone,
// and that a v6-only message uses SEIPDv2.
func TestEncryptSeveralRecipients(t *testing.T) {
	ents := testEntities(t)
	for _, names := range [][]string{{"rsa2048", "v6-x25519", "cv25519"}, {"v6-x25519", "v6-x448"}} {
		var pubs []*PublicKey
		for _, n := range names {
			pubs = append(pubs, fromGoCrypto(t, ents[n].Subkeys[0].PublicKey))
		}
		plain := []byte("several recipients")
		msg, err := Encrypt(rand.Reader, pubs, plain)
		if err != nil {
			t.Fatal(err)
		}
		v6 := len(names) == 2
		ps := packetTags(t, msg)
		if len(ps) != len(names)+1 || ps[len(ps)-1] != TagSEIPD {
			t.Fatalf("%v: packets %v", names, ps)
		}
		if got := seipdVersion(t, msg); (got == 2) != v6 {
			t.Fatalf("%v: SEIPD version %d", names, got)
		}
		for _, n := range names {
			if got := goDecrypt(t, msg, openpgp.EntityList{ents[n]}); !bytes.Equal(got, plain) {
				t.Fatalf("%v: %s decrypted something else", names, n)
			}
		}
	}
}

// TestEncryptTamperedFails flips one byte in each place of the encrypted
// data and checks that go-crypto refuses the message.
func TestEncryptTamperedFails(t *testing.T) {
	ents := testEntities(t)
	for _, n := range []string{"cv25519", "v6-x25519"} {
		pub := fromGoCrypto(t, ents[n].Subkeys[0].PublicKey)
		msg, err := Encrypt(rand.Reader, []*PublicKey{pub}, bytes.Repeat([]byte("x"), 100))
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int{len(msg) - 1, len(msg) - 20, len(msg) - 60} {
			bad := bytes.Clone(msg)
			bad[off] ^= 1
			md, err := openpgp.ReadMessage(bytes.NewReader(bad), openpgp.EntityList{ents[n]}, nil, nil)
			if err == nil {
				_, err = io.ReadAll(md.UnverifiedBody)
			}
			if err == nil {
				t.Fatalf("%s: byte %d flipped, go-crypto still decrypted", n, off)
			}
		}
	}
}

func packetTags(t *testing.T, msg []byte) []int {
	t.Helper()
	ps, err := pgppacket.Split(msg)
	if err != nil {
		t.Fatal(err)
	}
	var tags []int
	for _, p := range ps {
		tags = append(tags, p.Tag)
	}
	return tags
}

func seipdVersion(t *testing.T, msg []byte) int {
	ps, _ := pgppacket.Split(msg)
	return int(ps[len(ps)-1].Body[0])
}

// TestEncryptRefusesSigningKeys checks that a signing-only key is refused
// with an error naming it.
func TestEncryptRefusesSigningKeys(t *testing.T) {
	e := testEntities(t)["cv25519"]
	pub := fromGoCrypto(t, e.PrimaryKey)
	_, err := Encrypt(rand.Reader, []*PublicKey{pub}, []byte("x"))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(pub.algoWord())) {
		t.Fatalf("encrypting to an EdDSA key: %v", err)
	}
}
