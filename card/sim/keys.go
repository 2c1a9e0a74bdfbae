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
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ProtonMail/go-crypto/brainpool"
)

// Algorithm ids in the algorithm attributes (C1–C3).
const (
	algRSA   = 0x01
	algECDH  = 0x12
	algECDSA = 0x13
	algEdDSA = 0x16
)

// curve describes an elliptic curve the card knows.
type curve struct {
	name string
	oid  []byte
	kind int // curveWeierstrass, curveX25519, curveEd25519
	ec   func() elliptic.Curve
}

const (
	curveWeierstrass = iota
	curveX25519
	curveEd25519
)

var curves = []curve{
	{"nistp256", []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, curveWeierstrass, elliptic.P256},
	{"nistp384", []byte{0x2b, 0x81, 0x04, 0x00, 0x22}, curveWeierstrass, elliptic.P384},
	{"nistp521", []byte{0x2b, 0x81, 0x04, 0x00, 0x23}, curveWeierstrass, elliptic.P521},
	{"brainpoolP256r1", []byte{0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07}, curveWeierstrass, brainpool.P256r1},
	{"brainpoolP384r1", []byte{0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b}, curveWeierstrass, brainpool.P384r1},
	{"brainpoolP512r1", []byte{0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0d}, curveWeierstrass, brainpool.P512r1},
	{"cv25519", []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01}, curveX25519, nil},
	{"ed25519", []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01}, curveEd25519, nil},
}

// keyAlgo is a parsed algorithm attributes DO.
type keyAlgo struct {
	id    byte
	bits  int    // RSA modulus size
	ebits int    // RSA public exponent size in bits
	fmt   byte   // RSA import format
	curve *curve // ECC
}

// parseAttr parses algorithm attributes (C1–C3 content).
func parseAttr(a []byte) (*keyAlgo, error) {
	if len(a) == 0 {
		return nil, errors.New("empty algorithm attributes")
	}
	switch a[0] {
	case algRSA:
		if len(a) < 5 {
			return nil, errors.New("short RSA attributes")
		}
		k := &keyAlgo{id: algRSA, bits: int(binary.BigEndian.Uint16(a[1:])), ebits: int(binary.BigEndian.Uint16(a[3:]))}
		if len(a) > 5 {
			k.fmt = a[5]
		}
		switch k.bits {
		case 1024, 2048, 3072, 4096:
		default:
			return nil, fmt.Errorf("unsupported RSA size %d", k.bits)
		}
		return k, nil
	case algECDH, algECDSA, algEdDSA:
		oid := a[1:]
		for i := range curves {
			c := &curves[i]
			if bytes.Equal(oid, c.oid) || (len(oid) == len(c.oid)+1 && bytes.Equal(oid[:len(c.oid)], c.oid)) {
				if a[0] == algEdDSA && c.kind == curveX25519 {
					// go-openpgp-card announces cv25519 ECDH keys with
					// the EdDSA id; the YubiKey accepts that as ECDH.
					return &keyAlgo{id: algECDH, curve: c}, nil
				}
				switch {
				case a[0] == algEdDSA && c.kind != curveEd25519,
					a[0] != algEdDSA && c.kind == curveEd25519,
					a[0] == algECDSA && c.kind == curveX25519:
					return nil, fmt.Errorf("curve %s not usable with algorithm %02x", c.name, a[0])
				}
				return &keyAlgo{id: a[0], curve: c}, nil
			}
		}
		return nil, fmt.Errorf("unknown curve OID %x", oid)
	}
	return nil, fmt.Errorf("unknown algorithm %02x", a[0])
}

// rsaAttr builds RSA attributes with a 17-bit exponent and the standard
// import format.
func rsaAttr(bits int) []byte { return []byte{algRSA, byte(bits >> 8), byte(bits), 0x00, 0x11, 0x00} }

// eccAttr builds ECC attributes.
func eccAttr(id byte, c *curve) []byte { return append([]byte{id}, c.oid...) }

func curveByName(name string) *curve {
	for i := range curves {
		if curves[i].name == name {
			return &curves[i]
		}
	}
	return nil
}

// coordSize is the byte size of a field element / scalar.
func (c *curve) coordSize() int { return (c.ec().Params().BitSize + 7) / 8 }

// generateKey creates a new private key; the encoding is the one stored in
// the state (see slotState.Key).
func generateKey(k *keyAlgo) ([]byte, error) {
	if k.id == algRSA {
		priv, err := rsa.GenerateKey(rand.Reader, k.bits)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKCS1PrivateKey(priv), nil
	}
	switch k.curve.kind {
	case curveX25519, curveEd25519:
		d := make([]byte, 32)
		_, err := rand.Read(d)
		return d, err
	}
	n := k.curve.ec().Params().N
	d, err := rand.Int(rand.Reader, new(big.Int).Sub(n, big.NewInt(1)))
	if err != nil {
		return nil, err
	}
	d.Add(d, big.NewInt(1))
	return d.FillBytes(make([]byte, k.curve.coordSize())), nil
}

// checkPrivate validates stored key material against the algorithm.
func checkPrivate(k *keyAlgo, key []byte) error {
	if k.id == algRSA {
		priv, err := x509.ParsePKCS1PrivateKey(key)
		if err != nil {
			return err
		}
		if priv.N.BitLen() != k.bits {
			return fmt.Errorf("RSA key has %d bits, attributes say %d", priv.N.BitLen(), k.bits)
		}
		return nil
	}
	switch k.curve.kind {
	case curveX25519, curveEd25519:
		if len(key) != 32 {
			return fmt.Errorf("%s key must be 32 bytes, not %d", k.curve.name, len(key))
		}
		return nil
	}
	d := new(big.Int).SetBytes(key)
	if d.Sign() == 0 || d.Cmp(k.curve.ec().Params().N) >= 0 || len(key) > k.curve.coordSize() {
		return fmt.Errorf("%s private scalar out of range", k.curve.name)
	}
	return nil
}

// publicKeyDO returns the content of the public key template 7F49.
func publicKeyDO(k *keyAlgo, key []byte) ([]byte, error) {
	if k.id == algRSA {
		priv, err := x509.ParsePKCS1PrivateKey(key)
		if err != nil {
			return nil, err
		}
		b := appendTLV(nil, 0x81, priv.N.Bytes())
		return appendTLV(b, 0x82, big.NewInt(int64(priv.E)).Bytes()), nil
	}
	var pt []byte
	switch k.curve.kind {
	case curveX25519:
		p, err := ecdh.X25519().NewPrivateKey(key)
		if err != nil {
			return nil, err
		}
		pt = p.PublicKey().Bytes()
	case curveEd25519:
		pt = ed25519.NewKeyFromSeed(key).Public().(ed25519.PublicKey)
	default:
		c := k.curve.ec()
		x, y := c.ScalarBaseMult(key)
		pt = elliptic.Marshal(c, x, y)
	}
	return appendTLV(nil, 0x86, pt), nil
}

// errSW is an operation failure carrying the status word to answer.
type errSW uint16

func (e errSW) Error() string { return fmt.Sprintf("status %04X", uint16(e)) }

// decipher performs PSO:DECIPHER. For RSA data is the padding indicator
// 00 followed by the cryptogram; for ECDH it is A6{7F49{86 point}}.
func decipher(k *keyAlgo, key, data []byte, gnuk bool) ([]byte, error) {
	if k.id == algRSA {
		priv, err := x509.ParsePKCS1PrivateKey(key)
		if err != nil {
			return nil, errSW(swMemoryFailure)
		}
		if len(data) != priv.Size()+1 || data[0] != 0x00 {
			return nil, errSW(swWrongLength)
		}
		out, err := rsa.DecryptPKCS1v15(nil, priv, data[1:])
		if err != nil {
			return nil, errSW(swWrongData)
		}
		return out, nil
	}
	if k.id != algECDH {
		return nil, errSW(swConditions)
	}
	a6, ok := findTLV(data, 0xa6)
	if !ok {
		return nil, errSW(swWrongData)
	}
	pk, ok := findTLV(a6, 0x7f49)
	if !ok {
		return nil, errSW(swWrongData)
	}
	pt, ok := findTLV(pk, 0x86)
	if !ok {
		return nil, errSW(swWrongData)
	}
	switch k.curve.kind {
	case curveX25519:
		if len(pt) == 33 && pt[0] == 0x40 {
			pt = pt[1:]
		}
		priv, err := ecdh.X25519().NewPrivateKey(key)
		if err != nil {
			return nil, errSW(swMemoryFailure)
		}
		pub, err := ecdh.X25519().NewPublicKey(pt)
		if err != nil {
			return nil, errSW(swWrongData)
		}
		s, err := priv.ECDH(pub)
		if err != nil {
			return nil, errSW(swWrongData)
		}
		return s, nil
	case curveWeierstrass:
		c := k.curve.ec()
		size := k.curve.coordSize()
		if len(pt) != 1+2*size || pt[0] != 0x04 {
			return nil, errSW(swWrongData)
		}
		x, y := new(big.Int).SetBytes(pt[1:1+size]), new(big.Int).SetBytes(pt[1+size:])
		if !c.IsOnCurve(x, y) {
			return nil, errSW(swWrongData)
		}
		sx, sy := c.ScalarMult(x, y, key)
		if gnuk {
			return elliptic.Marshal(c, sx, sy), nil
		}
		return sx.FillBytes(make([]byte, size)), nil
	}
	return nil, errSW(swConditions)
}

// sign performs PSO:COMPUTE DIGITAL SIGNATURE or INTERNAL AUTHENTICATE.
// RSA signs the given DigestInfo with PKCS#1 v1.5 padding; ECDSA signs the
// hash and answers r‖s; EdDSA signs the data and answers R‖S.
func sign(k *keyAlgo, key, data []byte) ([]byte, error) {
	switch k.id {
	case algRSA:
		priv, err := x509.ParsePKCS1PrivateKey(key)
		if err != nil {
			return nil, errSW(swMemoryFailure)
		}
		if len(data) > priv.Size()*4/10 {
			return nil, errSW(swWrongLength)
		}
		out, err := rsa.SignPKCS1v15(nil, priv, crypto.Hash(0), data)
		if err != nil {
			return nil, errSW(swWrongData)
		}
		return out, nil
	case algEdDSA:
		return ed25519.Sign(ed25519.NewKeyFromSeed(key), data), nil
	case algECDSA:
		c := k.curve.ec()
		d := new(big.Int).SetBytes(key)
		x, y := c.ScalarBaseMult(key)
		priv := &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: c, X: x, Y: y}, D: d}
		r, s, err := ecdsa.Sign(rand.Reader, priv, data)
		if err != nil {
			return nil, errSW(swWrongData)
		}
		size := k.curve.coordSize()
		out := r.FillBytes(make([]byte, 2*size)[:size])
		return append(out, s.FillBytes(make([]byte, size))...), nil
	}
	return nil, errSW(swConditions)
}

// importKey extracts the private key from an extended header list's
// cardholder private key template (7F48) and its concatenated data (5F48).
func importKey(k *keyAlgo, hdr []tlv, data []byte) ([]byte, error) {
	parts := map[uint][]byte{}
	for _, h := range hdr {
		n := len(h.value)
		if n > len(data) {
			return nil, errors.New("5F48 shorter than 7F48 announces")
		}
		parts[h.tag] = data[:n]
		data = data[n:]
	}
	if k.id == algRSA {
		e, p, q := parts[0x91], parts[0x92], parts[0x93]
		if len(e) == 0 || len(p) == 0 || len(q) == 0 {
			return nil, errors.New("RSA import needs e, p and q")
		}
		P, Q := new(big.Int).SetBytes(p), new(big.Int).SetBytes(q)
		E := new(big.Int).SetBytes(e)
		if !E.IsInt64() || E.Int64() < 3 || E.Int64() > 1<<31 {
			return nil, errors.New("RSA exponent out of range")
		}
		N := new(big.Int).Mul(P, Q)
		phi := new(big.Int).Mul(new(big.Int).Sub(P, big.NewInt(1)), new(big.Int).Sub(Q, big.NewInt(1)))
		D := new(big.Int).ModInverse(E, phi)
		if D == nil {
			return nil, errors.New("RSA exponent not invertible")
		}
		priv := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: N, E: int(E.Int64())}, D: D, Primes: []*big.Int{P, Q}}
		if err := priv.Validate(); err != nil {
			return nil, err
		}
		priv.Precompute()
		if N.BitLen() != k.bits {
			return nil, fmt.Errorf("RSA key has %d bits, attributes say %d", N.BitLen(), k.bits)
		}
		return x509.MarshalPKCS1PrivateKey(priv), nil
	}
	d := parts[0x92]
	if len(d) == 0 {
		return nil, errors.New("ECC import needs the private key (92)")
	}
	var key []byte
	switch k.curve.kind {
	case curveX25519:
		// GnuPG sends the cv25519 secret as the OpenPGP MPI, big-endian;
		// the native X25519 scalar is little-endian. When the public key
		// came along, accept whichever order matches it.
		if len(d) > 32 {
			return nil, errors.New("cv25519 secret too long")
		}
		be := make([]byte, 32)
		copy(be[32-len(d):], d)
		key = make([]byte, 32)
		for i := range be {
			key[i] = be[31-i]
		}
		if pub := parts[0x99]; len(pub) > 0 && len(d) == 32 {
			if len(pub) == 33 && pub[0] == 0x40 {
				pub = pub[1:]
			}
			if do, err := publicKeyDO(k, key); err == nil {
				if got, _ := findTLV(do, 0x86); !bytes.Equal(got, pub) {
					key = append([]byte(nil), d...)
				}
			}
		}
	case curveEd25519:
		if len(d) > 32 {
			return nil, errors.New("ed25519 secret too long")
		}
		key = make([]byte, 32)
		copy(key[32-len(d):], d)
	default:
		size := k.curve.coordSize()
		if len(d) > size {
			d = bytes.TrimLeft(d, "\x00")
		}
		if len(d) > size {
			return nil, errors.New("private scalar too long")
		}
		key = make([]byte, size)
		copy(key[size-len(d):], d)
	}
	if err := checkPrivate(k, key); err != nil {
		return nil, err
	}
	if pub := parts[0x99]; len(pub) > 0 {
		do, err := publicKeyDO(k, key)
		if err != nil {
			return nil, err
		}
		want, _ := findTLV(do, 0x86)
		if len(pub) == len(want)+1 && pub[0] == 0x40 {
			pub = pub[1:]
		}
		if !bytes.Equal(pub, want) {
			return nil, errors.New("imported public key does not match the private key")
		}
	}
	return key, nil
}
