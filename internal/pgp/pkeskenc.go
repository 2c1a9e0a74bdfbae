package pgp

import (
	"crypto/ecdh"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"

	"github.com/ProtonMail/go-crypto/openpgp/aes/keywrap"
	"github.com/cloudflare/circl/dh/x448"
	"golang.org/x/crypto/hkdf"
)

// AppendPKESK appends a public-key encrypted session key packet (RFC 9580
// §5.1) giving the session key key, for cipher c, to pub. v6 selects a
// version 6 PKESK (for SEIPDv2, naming the recipient by fingerprint, with
// no cipher octet); otherwise it writes a version 3 PKESK (for SEIPDv1,
// naming the key ID). It encrypts to RSA, ECDH (Curve25519, NIST and
// brainpool curves), X25519 and X448 keys.
func AppendPKESK(dst []byte, rand io.Reader, pub *PublicKey, v6 bool, c CipherFunction, key []byte) ([]byte, error) {
	if !c.IsAES() || len(key) != c.KeySize() {
		return nil, fmt.Errorf("session key: want an AES key, got %s with %d bytes", c, len(key))
	}
	var body []byte
	if v6 {
		body = append(body, 6, byte(1+len(pub.Fingerprint)), byte(pub.Version))
		body = append(body, pub.Fingerprint...)
	} else {
		body = binary.BigEndian.AppendUint64(append(body, 3), pub.KeyID)
	}
	body = append(body, byte(pub.Algo))

	// RSA and ECDH carry [cipher ‖] key ‖ checksum; X25519 and X448 the
	// bare key, with the cipher octet in the clear for v3.
	var block []byte
	if !v6 {
		block = append(block, byte(c))
	}
	block = append(block, key...)
	block = binary.BigEndian.AppendUint16(block, Checksum(key))
	defer clear(block)

	var err error
	switch pub.Algo {
	case RSA, RSAEncryptOnly:
		body, err = appendRSASessionKey(body, rand, pub, block)
	case ECDH:
		body, err = appendECDHSessionKey(body, rand, pub, block)
	case X25519, X448:
		body, err = appendXSessionKey(body, rand, pub, v6, c, key)
	case ElGamal:
		if v6 {
			err = errors.New("ElGamal keys cannot receive v6 PKESKs (RFC 9580 §5.1.4)")
		} else {
			body, err = appendElGamalSessionKey(body, rand, pub, block)
		}
	default:
		err = fmt.Errorf("cannot encrypt to %s keys", pub.algoWord())
	}
	if err != nil {
		return nil, fmt.Errorf("encrypting to key %X: %w", pub.Fingerprint, err)
	}
	return AppendPacket(dst, TagPKESK, body), nil
}

// appendRSASessionKey appends MPI(m^e mod n), m the PKCS #1 v1.5 padded block.
func appendRSASessionKey(body []byte, rand io.Reader, pub *PublicKey, block []byte) ([]byte, error) {
	rk, err := pub.rsaPublicKey()
	if err != nil {
		return nil, err
	}
	ct, err := rsa.EncryptPKCS1v15(rand, rk, block)
	if err != nil {
		return nil, err
	}
	return AppendMPI(body, ct), nil
}

// appendElGamalSessionKey appends MPI(g^k mod p) ‖ MPI(m·y^k mod p), m
// the PKCS #1 v1.5 (type 2) padded block, k random (RFC 9580 §5.1.4).
func appendElGamalSessionKey(body []byte, rand io.Reader, pub *PublicKey, block []byte) ([]byte, error) {
	p, g, y := new(big.Int).SetBytes(pub.P), new(big.Int).SetBytes(pub.G), new(big.Int).SetBytes(pub.Y)
	size := (p.BitLen() + 7) / 8
	if p.BitLen() < 1024 || len(block) > size-11 {
		return nil, fmt.Errorf("ElGamal key of %d bits is too small", p.BitLen())
	}
	em := make([]byte, size)
	defer clear(em)
	em[1] = 2
	ps := em[2 : size-len(block)-1]
	if _, err := io.ReadFull(rand, ps); err != nil {
		return nil, err
	}
	for i := range ps {
		for ps[i] == 0 {
			if _, err := io.ReadFull(rand, ps[i:i+1]); err != nil {
				return nil, err
			}
		}
	}
	copy(em[size-len(block):], block)
	m := new(big.Int).SetBytes(em)
	k, err := cryptorand.Int(rand, new(big.Int).Sub(p, big.NewInt(2)))
	if err != nil {
		return nil, err
	}
	k.Add(k, big.NewInt(1))
	c1 := new(big.Int).Exp(g, k, p)
	c2 := new(big.Int).Exp(y, k, p)
	c2.Mul(c2, m).Mod(c2, p)
	body = AppendMPI(body, c1.Bytes())
	return AppendMPI(body, c2.Bytes()), nil
}

// kdfHash returns the hash of an ECDH key's KDF parameters.
func kdfHash(id uint8) (func() hash.Hash, error) {
	switch id {
	case 8:
		return sha256.New, nil
	case 9:
		return sha512.New384, nil
	case 10:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("ECDH key with KDF hash algorithm %d (keyunlock supports SHA-256, SHA-384 and SHA-512)", id)
}

// appendECDHSessionKey appends MPI(ephemeral point) ‖ length ‖ wrapped
// key (RFC 9580 §5.1.4, RFC 6637 §8): the block is padded to 40 octets
// PKCS #5-style, as gpg and go-crypto do, and wrapped with AES key wrap
// under the KDF output of the shared point's x coordinate.
func appendECDHSessionKey(body []byte, rand io.Reader, pub *PublicKey, block []byte) ([]byte, error) {
	if pub.Curve == nil {
		return nil, fmt.Errorf("ECDH key on an unknown curve (OID %X)", pub.OID)
	}
	newHash, err := kdfHash(pub.KDFHash)
	if err != nil {
		return nil, err
	}
	kek := pub.KDFCipher.KeySize()
	if !pub.KDFCipher.IsAES() {
		return nil, fmt.Errorf("ECDH key whose KDF wraps with %s (keyunlock supports AES)", pub.KDFCipher)
	}
	if len(block) > 40 {
		return nil, errors.New("session key too long for ECDH")
	}
	ephemeral, zb, err := ecdhEncaps(rand, pub)
	if err != nil {
		return nil, err
	}
	defer clear(zb)

	z := ECDHKDF(newHash(), pub, zb)
	defer clear(z)
	if len(z) < kek {
		return nil, errors.New("ECDH KDF hash is shorter than the key-wrap key")
	}

	padded := make([]byte, 40)
	defer clear(padded)
	copy(padded, block)
	for i := len(block); i < 40; i++ {
		padded[i] = byte(40 - len(block))
	}
	wrapped, err := keywrap.Wrap(z[:kek], padded)
	if err != nil {
		return nil, err
	}
	body = AppendMPI(body, ephemeral)
	body = append(body, byte(len(wrapped)))
	return append(body, wrapped...), nil
}

// ecdhEncaps makes an ephemeral key on pub's curve and returns its public
// point, encoded as in keys (0x40 ‖ u for Curve25519, 0x04 ‖ x ‖ y
// otherwise), and the shared secret ZB (the u or x coordinate).
func ecdhEncaps(rand io.Reader, pub *PublicKey) (point, zb []byte, err error) {
	curve := pub.Curve.ECDH()
	switch {
	case pub.Curve == &Curve25519:
		if len(pub.Point) != 33 || pub.Point[0] != 0x40 {
			return nil, nil, errors.New("malformed Curve25519 ECDH point")
		}
		return x25519Encaps(rand, pub.Point[1:], true)
	case curve != nil:
	case pub.Curve.Elliptic() != nil: // brainpool
		return brainpoolEncaps(rand, pub.Curve.Elliptic(), pub.Point)
	default:
		return nil, nil, fmt.Errorf("cannot encrypt to ECDH keys on %s", pub.Curve.Name)
	}
	peer, err := curve.NewPublicKey(pub.Point)
	if err != nil {
		return nil, nil, fmt.Errorf("malformed %s ECDH point: %v", pub.Curve.Name, err)
	}
	eph, err := curve.GenerateKey(rand)
	if err != nil {
		return nil, nil, err
	}
	zb, err = eph.ECDH(peer)
	if err != nil {
		return nil, nil, err
	}
	return eph.PublicKey().Bytes(), zb, nil
}

// x25519Encaps does X25519 with a fresh ephemeral key; prefix adds the
// 0x40 octet of legacy ECDH points.
func x25519Encaps(rand io.Reader, peerU []byte, prefix bool) (point, shared []byte, err error) {
	peer, err := ecdh.X25519().NewPublicKey(peerU)
	if err != nil {
		return nil, nil, fmt.Errorf("malformed X25519 public key: %v", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand)
	if err != nil {
		return nil, nil, err
	}
	shared, err = eph.ECDH(peer)
	if err != nil {
		return nil, nil, fmt.Errorf("X25519 with the recipient key: %v", err)
	}
	point = eph.PublicKey().Bytes()
	if prefix {
		point = append([]byte{0x40}, point...)
	}
	return point, shared, nil
}

// brainpoolEncaps is ECDH on a brainpool curve with math/big arithmetic.
func brainpoolEncaps(rand io.Reader, curve elliptic.Curve, peer []byte) (point, zb []byte, err error) {
	size := (curve.Params().BitSize + 7) / 8
	if len(peer) != 1+2*size || peer[0] != 4 {
		return nil, nil, fmt.Errorf("malformed %s ECDH point", curve.Params().Name)
	}
	px, py := new(big.Int).SetBytes(peer[1:1+size]), new(big.Int).SetBytes(peer[1+size:])
	if !curve.IsOnCurve(px, py) {
		return nil, nil, fmt.Errorf("%s ECDH point is not on the curve", curve.Params().Name)
	}
	d, x, y, err := elliptic.GenerateKey(curve, rand)
	if err != nil {
		return nil, nil, err
	}
	defer clear(d)
	sx, _ := curve.ScalarMult(px, py, d)
	point = make([]byte, 1+2*size)
	point[0] = 4
	x.FillBytes(point[1 : 1+size])
	y.FillBytes(point[1+size:])
	zb = make([]byte, size)
	sx.FillBytes(zb)
	return point, zb, nil
}

// appendXSessionKey appends ephemeral ‖ length ‖ [cipher] ‖ wrapped for an
// X25519 or X448 key (RFC 9580 §5.1.6, §5.1.7): the key-wrap key is HKDF
// (SHA-256 / SHA-512) over ephemeral ‖ recipient ‖ shared secret. X25519
// runs on crypto/ecdh; X448, which the standard library lacks, on circl's
// X448 (see x448Wrap).
func appendXSessionKey(body []byte, rand io.Reader, pub *PublicKey, v6 bool, c CipherFunction, key []byte) ([]byte, error) {
	if !v6 && !c.IsAES() {
		return nil, errors.New("X25519 and X448 need an AES session key")
	}
	var eph, wrapped []byte
	var err error
	if pub.Algo == X25519 {
		eph, wrapped, err = x25519Wrap(rand, pub.Point, key)
	} else {
		eph, wrapped, err = x448Wrap(rand, pub.Point, key)
	}
	if err != nil {
		return nil, err
	}
	body = append(body, eph...)
	if v6 {
		body = append(body, byte(len(wrapped)))
	} else {
		body = append(body, byte(1+len(wrapped)), byte(c))
	}
	return append(body, wrapped...), nil
}

// x25519Wrap does X25519 with a fresh ephemeral key and wraps key under
// HKDF-SHA-256(ephemeral ‖ recipient ‖ shared, info "OpenPGP X25519").
func x25519Wrap(rand io.Reader, peer, key []byte) (eph, wrapped []byte, err error) {
	eph, shared, err := x25519Encaps(rand, peer, false)
	if err != nil {
		return nil, nil, err
	}
	defer clear(shared)
	wrapped, err = hkdfWrap(sha256.New, 16, "OpenPGP X25519", eph, peer, shared, key)
	return eph, wrapped, err
}

// hkdfWrap wraps key (AES key wrap) under a kekLen-octet key derived with
// HKDF(h) from ephemeral ‖ recipient ‖ shared and info, as RFC 9580
// §5.1.6 and §5.1.7 do for X25519 and X448.
func hkdfWrap(h func() hash.Hash, kekLen int, info string, eph, peer, shared, key []byte) ([]byte, error) {
	ikm := append(append(append([]byte{}, eph...), peer...), shared...)
	defer clear(ikm)
	kek := make([]byte, kekLen)
	defer clear(kek)
	if _, err := io.ReadFull(hkdf.New(h, ikm, nil, []byte(info)), kek); err != nil {
		return nil, err
	}
	return keywrap.Wrap(kek, key)
}

// x448Base is X448's base point, u = 5.
var x448Base = x448.Key{5}

// x448Wrap does X448 with a fresh ephemeral key and wraps key under
// HKDF-SHA-512(ephemeral ‖ recipient ‖ shared, info "OpenPGP X448"), a
// 256-bit key-wrap key (RFC 9580 §5.1.7). The ephemeral public key is
// computed as the shared secret with the base point: the same result as
// circl's x448.KeyGen, whose fixed-base tables and formulas are twice the
// size of the rest of its X448 in the binary.
func x448Wrap(rand io.Reader, peer, key []byte) (eph, wrapped []byte, err error) {
	var sk, pub, pk, shared x448.Key
	if len(peer) != len(pk) {
		return nil, nil, fmt.Errorf("malformed X448 public key of %d bytes", len(peer))
	}
	copy(pk[:], peer)
	defer clear(sk[:])
	defer clear(shared[:])
	if _, err := io.ReadFull(rand, sk[:]); err != nil {
		return nil, nil, err
	}
	x448.Shared(&pub, &sk, &x448Base)
	if !x448.Shared(&shared, &sk, &pk) {
		return nil, nil, errors.New("X448 with the recipient key: low-order public key")
	}
	wrapped, err = hkdfWrap(sha512.New, 32, "OpenPGP X448", pub[:], peer, shared[:], key)
	return pub[:], wrapped, err
}

// CheckEncryptable returns nil when AppendPKESK can encrypt to pub, or an
// error saying why not (a signing-only or ElGamal key, an unknown curve or
// KDF parameters).
func CheckEncryptable(pub *PublicKey) error {
	switch pub.Algo {
	case RSA, RSAEncryptOnly:
		if len(pub.E) == 0 || len(pub.E) > 4 {
			return errors.New("RSA public exponent is out of range")
		}
		return nil
	case X25519, X448:
		return nil
	case ElGamal:
		if bitLen(pub.P) < 1024 {
			return fmt.Errorf("ElGamal key of %d bits is too small", bitLen(pub.P))
		}
		return nil
	case ECDH:
		switch pub.Curve {
		case &Curve25519, &CurveNistP256, &CurveNistP384, &CurveNistP521, &CurveBrainpoolP256, &CurveBrainpoolP384, &CurveBrainpoolP512:
		case nil:
			return fmt.Errorf("ECDH key on an unknown curve (OID %X)", pub.OID)
		default:
			return fmt.Errorf("keyunlock cannot encrypt to ECDH keys on %s", pub.Curve.Name)
		}
		if _, err := kdfHash(pub.KDFHash); err != nil {
			return err
		}
		if !pub.KDFCipher.IsAES() {
			return fmt.Errorf("ECDH key whose KDF wraps with %s (keyunlock supports AES)", pub.KDFCipher)
		}
		return nil
	}
	return fmt.Errorf("keyunlock cannot encrypt to %s keys", pub.algoWord())
}
