package softkeys

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"math/big"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/elgamal"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// modp1536 is the 1536-bit MODP group of RFC 3526 (generator 2).
const modp1536 = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
	"EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
	"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
	"83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF"

// TestElGamal decrypts a v3 PKESK made with go-crypto's ElGamal through
// the soft key's DecryptElGamal and core.DecryptPKESKRaw, and refuses a
// secret exponent that does not match the public key.
func TestElGamal(t *testing.T) {
	p, _ := new(big.Int).SetString(modp1536, 16)
	g := big.NewInt(2)
	x, err := rand.Int(rand.Reader, new(big.Int).Sub(p, big.NewInt(2)))
	if err != nil {
		t.Fatal(err)
	}
	x.Add(x, big.NewInt(1))
	y := new(big.Int).Exp(g, x, p)
	material := pgp.AppendMPI(pgp.AppendMPI(pgp.AppendMPI(nil, p.Bytes()), g.Bytes()), y.Bytes())
	pub, err := pgp.NewPublicKey(4, pgp.ElGamal, 1700000000, material)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Name() != "elg1536" || !pub.Algo.CanEncrypt() {
		t.Fatalf("key %s", pub.Name())
	}
	sk, err := parseSecret(pub, pgp.AppendMPI(nil, x.Bytes()))
	if err != nil {
		t.Fatal(err)
	}

	key := bytes.Repeat([]byte{0x5A}, 32)
	m := append([]byte{byte(pgp.CipherAES256)}, key...)
	var sum uint16
	for _, c := range key {
		sum += uint16(c)
	}
	m = binary.BigEndian.AppendUint16(m, sum)
	c1, c2, err := elgamal.Encrypt(rand.Reader, &elgamal.PublicKey{G: g, P: p, Y: y}, m)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte{3}
	body = binary.BigEndian.AppendUint64(body, pub.KeyID)
	body = append(body, byte(pgp.ElGamal))
	body = pgp.AppendMPI(pgp.AppendMPI(body, c1.Bytes()), c2.Bytes())
	pkesk, err := core.ParsePKESK(body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := core.DecryptPKESKRaw(ctx, pkesk, pub, sk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Key, key) || got.Cipher != pgp.CipherAES256 {
		t.Fatalf("session key %X cipher %d", got.Key, got.Cipher)
	}

	// A wrong exponent is refused when the key is read.
	if _, err := parseSecret(pub, pgp.AppendMPI(nil, new(big.Int).Add(x, big.NewInt(1)).Bytes())); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("wrong exponent: %v", err)
	}
	// A corrupted ciphertext fails cleanly.
	bad := bytes.Clone(body)
	bad[len(bad)-1] ^= 1
	pk2, err := core.ParsePKESK(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.DecryptPKESKRaw(ctx, pk2, pub, sk); err == nil {
		t.Fatal("corrupted ElGamal PKESK decrypted")
	}
}
