package pgp

import (
	"crypto/sha3"
	"math/big"
	"sync"
)

// Ed448 signature verification (RFC 8032 §5.2), for the self-signatures of
// v6 certificates with Ed448 primary keys. Only public data is involved,
// so plain math/big arithmetic in projective coordinates is fine; it runs
// once per signature when a certificate is read.

// ed448Params are the curve constants: the field prime p, d, the group
// order L and the base point.
type ed448Params struct {
	p, d, l, bx, by *big.Int
}

var ed448 = sync.OnceValue(func() *ed448Params {
	p := new(big.Int).Lsh(big.NewInt(1), 448)
	p.Sub(p, new(big.Int).Lsh(big.NewInt(1), 224))
	p.Sub(p, big.NewInt(1))
	l := new(big.Int).Lsh(big.NewInt(1), 446)
	c, _ := new(big.Int).SetString("13818066809895115352007386748515426880336692474882178609894547503885", 10)
	l.Sub(l, c)
	bx, _ := new(big.Int).SetString("224580040295924300187604334099896036246789641632564134246125461686950415467406032909029192869357953282578032075146446173674602635247710", 10)
	by, _ := new(big.Int).SetString("298819210078481492676017930443930673437544040154080242095928241372331506189835876003536878655418784733982303233503462500531545062832660", 10)
	d := new(big.Int).Sub(p, big.NewInt(39081))
	return &ed448Params{p: p, d: d, l: l, bx: bx, by: by}
})

// ed448Point is a point in projective coordinates (X:Y:Z), x = X/Z, y = Y/Z.
type ed448Point struct{ x, y, z *big.Int }

// add returns a+b with the complete addition law of RFC 8032 §5.2.4
// (valid for doubling too).
func (c *ed448Params) add(a, b ed448Point) ed448Point {
	p := c.p
	mul := func(x, y *big.Int) *big.Int { r := new(big.Int).Mul(x, y); return r.Mod(r, p) }
	A := mul(a.z, b.z)
	B := mul(A, A)
	C := mul(a.x, b.x)
	D := mul(a.y, b.y)
	E := mul(mul(c.d, C), D)
	F := new(big.Int).Sub(B, E)
	F.Mod(F, p)
	G := new(big.Int).Add(B, E)
	G.Mod(G, p)
	H := mul(new(big.Int).Add(a.x, a.y), new(big.Int).Add(b.x, b.y))
	hcd := new(big.Int).Sub(H, C)
	hcd.Sub(hcd, D)
	hcd.Mod(hcd, p)
	dc := new(big.Int).Sub(D, C)
	dc.Mod(dc, p)
	return ed448Point{x: mul(mul(A, F), hcd), y: mul(mul(A, G), dc), z: mul(F, G)}
}

// mul2 returns [a]P + [b]Q by simultaneous double-and-add (Shamir's
// trick; public scalars only).
func (c *ed448Params) mul2(a *big.Int, pt ed448Point, b *big.Int, qt ed448Point) ed448Point {
	both := c.add(pt, qt)
	r := ed448Point{big.NewInt(0), big.NewInt(1), big.NewInt(1)}
	for i := max(a.BitLen(), b.BitLen()) - 1; i >= 0; i-- {
		r = c.add(r, r)
		switch a.Bit(i)<<1 | b.Bit(i) {
		case 3:
			r = c.add(r, both)
		case 2:
			r = c.add(r, pt)
		case 1:
			r = c.add(r, qt)
		}
	}
	return r
}

// encode returns the 57-octet encoding of pt: y little-endian, the sign of
// x in the top bit of the last octet.
func (c *ed448Params) encode(pt ed448Point) []byte {
	zi := new(big.Int).ModInverse(pt.z, c.p)
	x := new(big.Int).Mul(pt.x, zi)
	x.Mod(x, c.p)
	y := new(big.Int).Mul(pt.y, zi)
	y.Mod(y, c.p)
	out := make([]byte, 57)
	y.FillBytes(out)
	reverse(out)
	out[56] |= byte(x.Bit(0)) << 7
	return out
}

// decode parses a 57-octet point encoding (RFC 8032 §5.2.3).
func (c *ed448Params) decode(b []byte) (ed448Point, bool) {
	if len(b) != 57 || b[56]&0x7f != 0 {
		return ed448Point{}, false
	}
	le := append([]byte{}, b...)
	sign := le[56] >> 7
	le[56] = 0
	reverse(le)
	y := new(big.Int).SetBytes(le)
	if y.Cmp(c.p) >= 0 {
		return ed448Point{}, false
	}
	// x² = (y² − 1) / (d·y² − 1); p ≡ 3 mod 4, so x = (x²)^((p+1)/4).
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, c.p)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	u.Mod(u, c.p)
	v := new(big.Int).Mul(c.d, y2)
	v.Sub(v, big.NewInt(1))
	v.Mod(v, c.p)
	vi := new(big.Int).ModInverse(v, c.p)
	if vi == nil {
		return ed448Point{}, false
	}
	x2 := new(big.Int).Mul(u, vi)
	x2.Mod(x2, c.p)
	e := new(big.Int).Add(c.p, big.NewInt(1))
	e.Rsh(e, 2)
	x := new(big.Int).Exp(x2, e, c.p)
	chk := new(big.Int).Mul(x, x)
	if chk.Mod(chk, c.p).Cmp(x2) != 0 {
		return ed448Point{}, false
	}
	if x.Sign() == 0 && sign == 1 {
		return ed448Point{}, false
	}
	if uint8(x.Bit(0)) != sign {
		x.Sub(c.p, x)
	}
	return ed448Point{x: x, y: y, z: big.NewInt(1)}, true
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

// ed448Verify reports whether sig is a valid pure Ed448 signature (empty
// context) of msg by the 57-octet public key pub: it checks that
// [S]B − [k]A encodes to R, with k = SHAKE256(dom4 ‖ R ‖ A ‖ msg) mod L.
func ed448Verify(pub, msg, sig []byte) bool {
	if len(pub) != 57 || len(sig) != 114 {
		return false
	}
	c := ed448()
	a, ok := c.decode(pub)
	if !ok {
		return false
	}
	sle := append([]byte{}, sig[57:]...)
	reverse(sle)
	s := new(big.Int).SetBytes(sle)
	if s.Cmp(c.l) >= 0 {
		return false
	}
	h := sha3.NewSHAKE256()
	h.Write([]byte("SigEd448\x00\x00"))
	h.Write(sig[:57])
	h.Write(pub)
	h.Write(msg)
	kb := make([]byte, 114)
	h.Read(kb)
	reverse(kb)
	k := new(big.Int).SetBytes(kb)
	k.Mod(k, c.l)

	negA := ed448Point{x: new(big.Int).Sub(c.p, a.x), y: a.y, z: a.z}
	negA.x.Mod(negA.x, c.p)
	base := ed448Point{x: c.bx, y: c.by, z: big.NewInt(1)}
	r := c.mul2(s, base, k, negA)
	enc := c.encode(r)
	eq := byte(0)
	for i := range enc {
		eq |= enc[i] ^ sig[i]
	}
	return eq == 0
}
