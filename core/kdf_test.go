package core

import (
	"bytes"
	"context"
	stdecdh "crypto/ecdh"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	gcecdh "github.com/ProtonMail/go-crypto/openpgp/ecdh"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/x25519"
	"github.com/ProtonMail/go-crypto/openpgp/x448"
	circlx448 "github.com/cloudflare/circl/dh/x448"
)

// softRaw computes the raw private-key operations from a go-crypto private
// key, the way a card would: RSA PKCS#1 v1.5 decryption, and ECDH with the
// standard library where it has the curve.
type softRaw struct {
	t    *testing.T
	priv *packet.PrivateKey
	zero bool // answer an all-zero shared secret
}

func (s *softRaw) DecryptRSA(_ context.Context, c []byte) ([]byte, error) {
	k := s.priv.PrivateKey.(*rsa.PrivateKey)
	padded := make([]byte, k.Size())
	copy(padded[len(padded)-len(c):], c)
	return rsa.DecryptPKCS1v15(nil, k, padded)
}

func (s *softRaw) ECDH(_ context.Context, eph []byte) ([]byte, error) {
	if s.zero {
		return make([]byte, 32), nil
	}
	switch k := s.priv.PrivateKey.(type) {
	case *x25519.PrivateKey:
		return x25519Shared(s.t, k.Secret, eph), nil
	case *x448.PrivateKey:
		var z, sec, pub circlx448.Key
		copy(sec[:], k.Secret)
		copy(pub[:], eph)
		if !circlx448.Shared(&z, &sec, &pub) {
			return make([]byte, 56), nil
		}
		return z[:], nil
	case *gcecdh.PrivateKey:
		if strings.Contains(s.t.Name(), "brainpool") {
			// The standard library lacks brainpool; use go-crypto's curve.
			return k.GetCurve().Decaps(eph, k.D)
		}
		var curve stdecdh.Curve
		switch len(k.D) {
		case 32:
			if len(eph) == 32 { // cv25519: the scalar is stored little-endian, as X25519 wants it
				return x25519Shared(s.t, k.D, eph), nil
			}
			curve = stdecdh.P256()
		case 48:
			curve = stdecdh.P384()
		case 66:
			curve = stdecdh.P521()
		}
		priv, err := curve.NewPrivateKey(k.D)
		if err != nil {
			s.t.Fatal(err)
		}
		pub, err := curve.NewPublicKey(eph)
		if err != nil {
			s.t.Fatal(err)
		}
		return priv.ECDH(pub)
	}
	s.t.Fatalf("unexpected key type %T", s.priv.PrivateKey)
	return nil, nil
}

func x25519Shared(t *testing.T, secret, eph []byte) []byte {
	priv, err := stdecdh.X25519().NewPrivateKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := stdecdh.X25519().NewPublicKey(eph)
	if err != nil {
		t.Fatal(err)
	}
	z, err := priv.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// pkeskTo encrypts a message to e with go-crypto and returns its first PKESK.
func pkeskTo(t *testing.T, e *openpgp.Entity, cfg *packet.Config) (*PKESK, *packet.EncryptedKey) {
	t.Helper()
	var buf bytes.Buffer
	w, err := openpgp.Encrypt(&buf, []*openpgp.Entity{e}, nil, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("secret disk key"))
	w.Close()
	pkt, err := packet.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ek := pkt.(*packet.EncryptedKey)
	var raw bytes.Buffer
	if err := ek.Serialize(&raw); err != nil {
		t.Fatal(err)
	}
	body, err := packetBody(raw.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePKESK(body)
	if err != nil {
		t.Fatal(err)
	}
	return p, ek
}

func TestDecryptPKESKRawAgainstGoCrypto(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *packet.Config
	}{
		{"rsa2048", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048}},
		{"cv25519", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}},
		{"nistp256", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256}},
		{"nistp384", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP384}},
		{"nistp521", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP521}},
		{"brainpoolP256r1", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveBrainpoolP256}},
		{"brainpoolP384r1", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveBrainpoolP384}},
		{"x25519-v6", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, V6Keys: true}},
		{"x25519-v4", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519}},
		{"rsa3072-v6", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 3072, V6Keys: true}},
		{"x448-v6", &packet.Config{Algorithm: packet.PubKeyAlgoEd448, V6Keys: true}},
		{"x448-v4", &packet.Config{Algorithm: packet.PubKeyAlgoEd448}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := openpgp.NewEntity("card", "", "card@example.org", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			sub := e.Subkeys[0]
			for i := 0; i < 3; i++ {
				p, ek := pkeskTo(t, e, tc.cfg)
				if !p.Matches(sub.PublicKey.Fingerprint, sub.PublicKey.KeyId) {
					t.Fatalf("PKESK for %s, subkey %X", p.Recipient(), sub.PublicKey.Fingerprint)
				}
				sk, err := DecryptPKESKRaw(context.Background(), p, pgpKey(sub.PublicKey), &softRaw{t: t, priv: sub.PrivateKey})
				if err != nil {
					t.Fatal(err)
				}
				if err := ek.Decrypt(sub.PrivateKey, nil); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(sk.Key, ek.Key) || packet.CipherFunction(sk.Cipher) != cipherOf(ek, p) {
					t.Fatalf("session key %X/%d, go-crypto %X/%d", sk.Key, sk.Cipher, ek.Key, ek.CipherFunc)
				}
			}
		})
	}
}

func cipherOf(ek *packet.EncryptedKey, p *PKESK) packet.CipherFunction {
	if p.Version == 6 {
		return 0
	}
	return ek.CipherFunc
}

func TestDecryptPKESKRawRejects(t *testing.T) {
	ctx := context.Background()
	e, err := openpgp.NewEntity("card", "", "card@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	other, err := openpgp.NewEntity("other", "", "other@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	sub := e.Subkeys[0]
	p, _ := pkeskTo(t, e, nil)
	// The wrong private key: the unwrap fails.
	if _, err := DecryptPKESKRaw(ctx, p, pgpKey(sub.PublicKey), &softRaw{t: t, priv: other.Subkeys[0].PrivateKey}); !errors.Is(err, ErrBadPKESK) {
		t.Errorf("wrong key: %v", err)
	}
	// A card answering an all-zero X25519 output.
	if _, err := DecryptPKESKRaw(ctx, p, pgpKey(sub.PublicKey), &softRaw{t: t, priv: sub.PrivateKey, zero: true}); err == nil || !strings.Contains(err.Error(), "all-zero") {
		t.Errorf("all-zero secret: %v", err)
	}
	// A corrupted wrapped key.
	bad := *p
	bad.Body = bytes.Clone(p.Body)
	bad.Body[len(bad.Body)-3] ^= 1
	if _, err := DecryptPKESKRaw(ctx, &bad, pgpKey(sub.PublicKey), &softRaw{t: t, priv: sub.PrivateKey}); !errors.Is(err, ErrBadPKESK) {
		t.Errorf("corrupt: %v", err)
	}
	// Truncated bodies never panic and always fail.
	for n := 0; n < len(p.Body); n++ {
		tr := &PKESK{Version: p.Version, Body: p.Body[:n]}
		if _, err := DecryptPKESKRaw(ctx, tr, pgpKey(sub.PublicKey), &softRaw{t: t, priv: sub.PrivateKey}); err == nil {
			t.Fatalf("truncated to %d bytes: decrypted", n)
		}
	}
	// v6 X25519 all-zero too.
	e6, err := openpgp.NewEntity("v6", "", "v6@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, V6Keys: true})
	if err != nil {
		t.Fatal(err)
	}
	p6, _ := pkeskTo(t, e6, nil)
	if _, err := DecryptPKESKRaw(ctx, p6, pgpKey(e6.Subkeys[0].PublicKey), &softRaw{t: t, priv: e6.Subkeys[0].PrivateKey, zero: true}); err == nil || !strings.Contains(err.Error(), "all-zero") {
		t.Errorf("v6 all-zero secret: %v", err)
	}
}
