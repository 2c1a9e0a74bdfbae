package softkeys

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/ProtonMail/go-crypto/bitcurves"
	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/dh/x448"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// errMismatch is returned when decrypted secret material does not belong
// to the public key next to it: the file was damaged or tampered with (an
// attacker who can rewrite the public fields of a key file could otherwise
// make keyunlock compute with a key of their choosing).
var errMismatch = errors.New("the secret key does not match its public key: the file is damaged or was tampered with (export the key again)")

// secretKey is an unlocked private key: the parts keyunlock computes with.
// It implements core.RawDecrypter and core.ElGamalDecrypter. Keys of the
// signing algorithms are checked for structure only and keep nothing.
type secretKey struct {
	rsa    *rsa.PrivateKey
	ecdh   *ecdh.PrivateKey // X25519 (native and cv25519) and the NIST curves
	x25519 []byte           // X25519 scalar (native and cv25519)
	x448   []byte           // X448 scalar (native and cv448)
	curve  elliptic.Curve   // brainpool and secp256k1 ECDH
	scalar []byte           // with curve
	elgP   *big.Int         // ElGamal prime
	elgX   *big.Int         // ElGamal secret exponent
}

// parseSecret parses the clear secret material of a key of pub's algorithm
// (RFC 9580 §5.5.3, without checksum) and checks that it matches pub.
func parseSecret(pub *pgp.PublicKey, b []byte) (*secretKey, error) {
	var mpis [][]byte
	readMPIs := func(n int) error {
		var rest []byte
		var ok bool
		if mpis, rest, ok = pgp.ReadMPIs(b, n); !ok || len(rest) != 0 {
			return errCorrupt
		}
		return nil
	}
	raw := func(n int) ([]byte, error) {
		if len(b) != n {
			return nil, errCorrupt
		}
		return b, nil
	}
	switch pub.Algo {
	case pgp.RSA, pgp.RSAEncryptOnly, pgp.RSASignOnly:
		if err := readMPIs(4); err != nil {
			return nil, err
		}
		k, err := rsaKey(pub, mpis[0], mpis[1], mpis[2], mpis[3])
		if err != nil {
			return nil, err
		}
		return &secretKey{rsa: k}, nil
	case pgp.ElGamal:
		if err := readMPIs(1); err != nil {
			return nil, err
		}
		p, g, y, x := new(big.Int).SetBytes(pub.P), new(big.Int).SetBytes(pub.G), new(big.Int).SetBytes(pub.Y), new(big.Int).SetBytes(mpis[0])
		if p.Sign() <= 0 || x.Sign() <= 0 || x.Cmp(p) >= 0 || new(big.Int).Exp(g, x, p).Cmp(y) != 0 {
			return nil, errMismatch
		}
		return &secretKey{elgP: p, elgX: x}, nil
	case pgp.DSA, pgp.ECDSA, pgp.EdDSALegacy:
		// Signing keys: keyunlock never uses them, their material is
		// only checked for structure.
		if err := readMPIs(1); err != nil {
			return nil, err
		}
		return &secretKey{}, nil
	case pgp.Ed25519:
		_, err := raw(32)
		return &secretKey{}, err
	case pgp.Ed448:
		_, err := raw(57)
		return &secretKey{}, err
	case pgp.X25519:
		s, err := raw(32)
		if err != nil {
			return nil, err
		}
		return x25519Key(bytes.Clone(s), pub.Point)
	case pgp.X448:
		s, err := raw(56)
		if err != nil {
			return nil, err
		}
		return x448Key(bytes.Clone(s), pub.Point)
	case pgp.ECDH:
		if err := readMPIs(1); err != nil {
			return nil, err
		}
		return ecdhKey(pub, mpis[0])
	}
	if pub.Opaque() {
		return &secretKey{}, nil
	}
	return nil, fmt.Errorf("unsupported public-key algorithm %d", pub.Algo)
}

// rsaKey builds the CRT-ready private key. OpenPGP stores u = p⁻¹ mod q;
// with the primes swapped that is the standard library's Qinv, so the
// precomputation needs no modular inversion, and Precompute's own checks
// (p·q = n, d consistent with the CRT exponents, Qinv·q ≡ 1 mod p) verify
// the key against the public modulus.
func rsaKey(pub *pgp.PublicKey, d, p, q, u []byte) (*rsa.PrivateKey, error) {
	e := new(big.Int).SetBytes(pub.E)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("unsupported RSA public exponent")
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).SetBytes(pub.N), E: int(e.Int64())},
		D:         new(big.Int).SetBytes(d),
		Primes:    []*big.Int{new(big.Int).SetBytes(q), new(big.Int).SetBytes(p)},
	}
	one := big.NewInt(1)
	gp, gq := k.Primes[0], k.Primes[1]
	if gp.Cmp(one) <= 0 || gq.Cmp(one) <= 0 {
		return nil, errMismatch
	}
	k.Precomputed.Dp = new(big.Int).Mod(k.D, new(big.Int).Sub(gp, one))
	k.Precomputed.Dq = new(big.Int).Mod(k.D, new(big.Int).Sub(gq, one))
	k.Precomputed.Qinv = new(big.Int).SetBytes(u)
	k.Precompute()
	if err := k.Validate(); err != nil {
		wipeRSA(k)
		return nil, errMismatch
	}
	return k, nil
}

// reversed returns b in the opposite byte order, left-padded to n bytes
// first: RFC 6637 stores Curve25519/448 secrets as big-endian MPIs, the
// functions take them little-endian.
func reversed(b []byte, n int) ([]byte, error) {
	if len(b) > n {
		return nil, errCorrupt
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	slices.Reverse(out)
	return out, nil
}

// padded left-pads a big-endian scalar to n bytes.
func padded(b []byte, n int) ([]byte, error) {
	if len(b) > n {
		return nil, errCorrupt
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out, nil
}

// x25519Base and x448Base are the curves' base points (u = 9 and u = 5).
var (
	x25519Base = x25519.Key{9}
	x448Base   = x448.Key{5}
)

// x25519Key keeps the X25519 scalar in a buffer of our own (Lock zeroes
// it; crypto/ecdh's keys cannot be wiped) and uses circl's X25519, which is
// about a third faster than crypto/ecdh's here (the daemon's hot path).
// The check of the public key multiplies the base point with Shared, like
// any other point: circl's KeyGen gives the same result with fixed-base
// tables and code of its own, which would add about 10 kB (X25519) and
// 30 kB (X448) to the compressed binary for a check made once per key.
func x25519Key(scalar, point []byte) (*secretKey, error) {
	var sk, pk x25519.Key
	if len(scalar) != len(sk) {
		core.Wipe(scalar)
		return nil, errCorrupt
	}
	copy(sk[:], scalar)
	x25519.Shared(&pk, &sk, &x25519Base)
	clear(sk[:])
	if subtle.ConstantTimeCompare(pk[:], point) != 1 {
		core.Wipe(scalar)
		return nil, errMismatch
	}
	return &secretKey{x25519: scalar}, nil
}

func x448Key(scalar, point []byte) (*secretKey, error) {
	var sk, pk x448.Key
	copy(sk[:], scalar)
	x448.Shared(&pk, &sk, &x448Base)
	clear(sk[:])
	if subtle.ConstantTimeCompare(pk[:], point) != 1 {
		core.Wipe(scalar)
		return nil, errMismatch
	}
	return &secretKey{x448: scalar}, nil
}

// ecdhKey makes the RFC 6637 ECDH key of pub's curve from the MPI d.
func ecdhKey(pub *pgp.PublicKey, d []byte) (*secretKey, error) {
	switch {
	case pub.Curve == nil:
		return nil, fmt.Errorf("unsupported ECDH curve (OID %X)", pub.OID)
	case pub.Curve.Montgomery():
		if len(pub.Point) != pub.Curve.Coord+1 || pub.Point[0] != 0x40 {
			return nil, errCorrupt
		}
		s, err := reversed(d, pub.Curve.Coord)
		if err != nil {
			return nil, err
		}
		if pub.Curve.Coord == 32 {
			return x25519Key(s, pub.Point[1:])
		}
		return x448Key(s, pub.Point[1:])
	}
	if c := pub.Curve.ECDH(); c != nil {
		s, err := padded(d, pub.Curve.Coord)
		if err != nil {
			return nil, err
		}
		k, err := c.NewPrivateKey(s)
		core.Wipe(s)
		if err != nil {
			return nil, errCorrupt
		}
		if subtle.ConstantTimeCompare(k.PublicKey().Bytes(), pub.Point) != 1 {
			return nil, errMismatch
		}
		return &secretKey{ecdh: k}, nil
	}
	c := pub.Curve.Elliptic() // brainpool
	if pub.Curve == &pgp.CurveSecP256k1 {
		// Not in Curve.Elliptic: keyunlock decrypts with secp256k1 keys
		// but neither encrypts to them nor verifies their signatures.
		c = bitcurves.S256()
	}
	if c == nil {
		return nil, fmt.Errorf("unsupported ECDH curve %s", pub.Curve.Name)
	}
	s, err := padded(d, pub.Curve.Coord)
	if err != nil {
		return nil, err
	}
	x, y := c.ScalarBaseMult(s)
	if subtle.ConstantTimeCompare(elliptic.Marshal(c, x, y), pub.Point) != 1 { //nolint:staticcheck // brainpool is only an elliptic.Curve
		core.Wipe(s)
		return nil, errMismatch
	}
	return &secretKey{curve: c, scalar: s}, nil
}

// DecryptRSA implements core.RawDecrypter: PKCS#1 v1.5 decryption with the
// CRT key.
func (s *secretKey) DecryptRSA(_ context.Context, c []byte) ([]byte, error) {
	if s.rsa == nil {
		return nil, errors.New("not an RSA key")
	}
	size := s.rsa.Size()
	if len(c) > size {
		return nil, fmt.Errorf("%w: RSA ciphertext longer than the modulus", core.ErrBadPKESK)
	}
	in := make([]byte, size)
	copy(in[size-len(c):], c)
	m, err := rsa.DecryptPKCS1v15(nil, s.rsa, in)
	if err != nil {
		return nil, fmt.Errorf("%w: RSA decryption failed (wrong key or corrupt message)", core.ErrBadPKESK)
	}
	return m, nil
}

// ECDH implements core.RawDecrypter: the shared secret with the sender's
// ephemeral key (the X coordinate for Weierstrass curves).
func (s *secretKey) ECDH(_ context.Context, eph []byte) ([]byte, error) {
	switch {
	case s.ecdh != nil:
		pub, err := s.ecdh.Curve().NewPublicKey(eph)
		if err != nil {
			return nil, fmt.Errorf("%w: invalid ephemeral key", core.ErrBadPKESK)
		}
		z, err := s.ecdh.ECDH(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", core.ErrBadPKESK, err)
		}
		return z, nil
	case s.x25519 != nil:
		var z, sk, pk x25519.Key
		if len(eph) != len(pk) {
			return nil, fmt.Errorf("%w: X25519 ephemeral of %d bytes", core.ErrBadPKESK, len(eph))
		}
		copy(sk[:], s.x25519)
		copy(pk[:], eph)
		ok := x25519.Shared(&z, &sk, &pk)
		clear(sk[:])
		if !ok {
			return nil, fmt.Errorf("%w: all-zero X25519 shared secret (low-order ephemeral key)", core.ErrBadPKESK)
		}
		return z[:], nil
	case s.x448 != nil:
		var z, sk, pk x448.Key
		if len(eph) != len(pk) {
			return nil, fmt.Errorf("%w: X448 ephemeral of %d bytes", core.ErrBadPKESK, len(eph))
		}
		copy(sk[:], s.x448)
		copy(pk[:], eph)
		ok := x448.Shared(&z, &sk, &pk)
		clear(sk[:])
		if !ok {
			return nil, fmt.Errorf("%w: all-zero X448 shared secret (low-order ephemeral key)", core.ErrBadPKESK)
		}
		return z[:], nil
	case s.curve != nil:
		x, y := elliptic.Unmarshal(s.curve, eph) //nolint:staticcheck // brainpool is only an elliptic.Curve
		if x == nil {
			return nil, fmt.Errorf("%w: invalid ephemeral key", core.ErrBadPKESK)
		}
		zx, _ := s.curve.ScalarMult(x, y, s.scalar)
		return zx.FillBytes(make([]byte, (s.curve.Params().BitSize+7)/8)), nil
	}
	return nil, errors.New("not an ECDH key")
}

// DecryptElGamal implements core.ElGamalDecrypter: m = c2 / c1^x mod p,
// then the PKCS#1 v1.5 padding is removed.
func (s *secretKey) DecryptElGamal(_ context.Context, c1, c2 []byte) ([]byte, error) {
	if s.elgX == nil {
		return nil, errors.New("not an ElGamal key")
	}
	a, b := new(big.Int).SetBytes(c1), new(big.Int).SetBytes(c2)
	if a.Sign() <= 0 || a.Cmp(s.elgP) >= 0 || b.Sign() <= 0 || b.Cmp(s.elgP) >= 0 {
		return nil, fmt.Errorf("%w: ElGamal ciphertext out of range", core.ErrBadPKESK)
	}
	sh := new(big.Int).Exp(a, s.elgX, s.elgP)
	inv := sh.ModInverse(sh, s.elgP)
	if inv == nil {
		return nil, fmt.Errorf("%w: ElGamal ciphertext not invertible", core.ErrBadPKESK)
	}
	m := inv.Mul(inv, b)
	m.Mod(m, s.elgP)
	em := m.FillBytes(make([]byte, (s.elgP.BitLen()+7)/8))
	clear(m.Bits())
	defer core.Wipe(em)
	// EME-PKCS1-v1_5: 00 02 PS(nonzero, ≥ 8) 00 M
	if len(em) < 11 || em[0] != 0 || em[1] != 2 {
		return nil, fmt.Errorf("%w: bad ElGamal padding (wrong key or corrupt message)", core.ErrBadPKESK)
	}
	i := bytes.IndexByte(em[2:], 0)
	if i < 8 {
		return nil, fmt.Errorf("%w: bad ElGamal padding (wrong key or corrupt message)", core.ErrBadPKESK)
	}
	return bytes.Clone(em[2+i+1:]), nil
}

// wipe zeroes the secret parts it can reach.
func (s *secretKey) wipe() {
	if s == nil {
		return
	}
	if s.rsa != nil {
		wipeRSA(s.rsa)
	}
	core.Wipe(s.x25519)
	core.Wipe(s.x448)
	core.Wipe(s.scalar)
	if s.elgX != nil {
		clear(s.elgX.Bits())
	}
	// crypto/ecdh (NIST curves) keeps its scalar unexported; dropping the reference is
	// all that can be done.
	*s = secretKey{}
}

func wipeRSA(k *rsa.PrivateKey) {
	wipeInt := func(x *big.Int) {
		if x != nil {
			clear(x.Bits())
			x.SetInt64(0)
		}
	}
	wipeInt(k.D)
	for _, p := range k.Primes {
		wipeInt(p)
	}
	wipeInt(k.Precomputed.Dp)
	wipeInt(k.Precomputed.Dq)
	wipeInt(k.Precomputed.Qinv)
}
