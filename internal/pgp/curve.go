package pgp

import (
	"bytes"
	"crypto/ecdh"
	"crypto/elliptic"

	"github.com/ProtonMail/go-crypto/brainpool"
)

// Curve is an elliptic curve named by OID in ECDH, ECDSA and EdDSA keys.
type Curve struct {
	Name  string // e.g. "nistp256", "brainpoolP256r1", "curve25519"
	OID   []byte // DER OID contents, without tag and length
	Coord int    // field element size in bytes
}

// The curves keyunlock knows by OID (RFC 9580 §9.2 and RFC 6637).
var (
	CurveNistP256      = Curve{"nistp256", []byte{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07}, 32}
	CurveNistP384      = Curve{"nistp384", []byte{0x2B, 0x81, 0x04, 0x00, 0x22}, 48}
	CurveNistP521      = Curve{"nistp521", []byte{0x2B, 0x81, 0x04, 0x00, 0x23}, 66}
	CurveBrainpoolP256 = Curve{"brainpoolP256r1", []byte{0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07}, 32}
	CurveBrainpoolP384 = Curve{"brainpoolP384r1", []byte{0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B}, 48}
	CurveBrainpoolP512 = Curve{"brainpoolP512r1", []byte{0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0D}, 64}
	CurveSecP256k1     = Curve{"secp256k1", []byte{0x2B, 0x81, 0x04, 0x00, 0x0A}, 32}
	Curve25519         = Curve{"curve25519", []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01}, 32}
	Curve448           = Curve{"curve448", []byte{0x2B, 0x65, 0x6F}, 56}
	CurveEd25519       = Curve{"ed25519", []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01}, 32}
	CurveEd448         = Curve{"ed448", []byte{0x2B, 0x65, 0x71}, 57}
)

var curves = []*Curve{&CurveNistP256, &CurveNistP384, &CurveNistP521, &CurveBrainpoolP256, &CurveBrainpoolP384,
	&CurveBrainpoolP512, &CurveSecP256k1, &Curve25519, &Curve448, &CurveEd25519, &CurveEd448}

// CurveByOID returns the curve with the given OID, or nil when keyunlock
// does not know it.
func CurveByOID(oid []byte) *Curve {
	for _, c := range curves {
		if bytes.Equal(c.OID, oid) {
			return c
		}
	}
	return nil
}

// Montgomery reports whether points on the curve are Montgomery u
// coordinates (Curve25519, Curve448), sent with a 0x40 prefix in ECDH keys.
func (c *Curve) Montgomery() bool {
	return c != nil && (bytes.Equal(c.OID, Curve25519.OID) || bytes.Equal(c.OID, Curve448.OID))
}

// ECDH returns crypto/ecdh's implementation of a NIST curve, or nil for
// the other curves.
func (c *Curve) ECDH() ecdh.Curve {
	switch c {
	case &CurveNistP256:
		return ecdh.P256()
	case &CurveNistP384:
		return ecdh.P384()
	case &CurveNistP521:
		return ecdh.P521()
	}
	return nil
}

// Elliptic returns the elliptic.Curve of a NIST curve (crypto/elliptic)
// or a brainpool curve (go-crypto's, which the standard library lacks),
// or nil for the other curves, secp256k1 among them.
func (c *Curve) Elliptic() elliptic.Curve {
	switch c {
	case &CurveNistP256:
		return elliptic.P256()
	case &CurveNistP384:
		return elliptic.P384()
	case &CurveNistP521:
		return elliptic.P521()
	case &CurveBrainpoolP256:
		return brainpool.P256r1()
	case &CurveBrainpoolP384:
		return brainpool.P384r1()
	case &CurveBrainpoolP512:
		return brainpool.P512r1()
	}
	return nil
}
