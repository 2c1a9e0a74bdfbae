package openpgp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Algorithm IDs used in the algorithm attributes C1–C3.
const (
	AlgoRSA   = 0x01
	AlgoECDH  = 0x12
	AlgoECDSA = 0x13
	AlgoEdDSA = 0x16
)

// Curve is an elliptic curve an OpenPGP card may hold a key on.
type Curve struct {
	Name string // GnuPG's name, e.g. "cv25519", "nistp256"
	OID  []byte // DER OID contents, without tag and length
	// CoordSize is the size of one coordinate (and of the ECDH shared secret).
	CoordSize int
	// Montgomery is true for cv25519/X448: points are raw bytes, not 04‖X‖Y.
	Montgomery bool
}

// Curves lists the curves keyunlock knows by OID.
var Curves = []Curve{
	{"cv25519", []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01}, 32, true},
	{"ed25519", []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01}, 32, true},
	{"nistp256", []byte{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07}, 32, false},
	{"nistp384", []byte{0x2B, 0x81, 0x04, 0x00, 0x22}, 48, false},
	{"nistp521", []byte{0x2B, 0x81, 0x04, 0x00, 0x23}, 66, false},
	{"brainpoolP256r1", []byte{0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07}, 32, false},
	{"brainpoolP384r1", []byte{0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B}, 48, false},
	{"brainpoolP512r1", []byte{0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0D}, 64, false},
	{"secp256k1", []byte{0x2B, 0x81, 0x04, 0x00, 0x0A}, 32, false},
	{"x448", []byte{0x2B, 0x65, 0x6F}, 56, true},
	{"ed448", []byte{0x2B, 0x65, 0x71}, 57, true},
}

// CurveByOID finds a curve by its OID.
func CurveByOID(oid []byte) (Curve, bool) {
	for _, c := range Curves {
		if bytes.Equal(c.OID, oid) {
			return c, true
		}
	}
	return Curve{}, false
}

// AlgoAttr is one algorithm attributes DO (C1, C2 or C3).
type AlgoAttr struct {
	Raw  []byte
	Algo byte
	// RSA
	ModBits, ExpBits int
	ImportFormat     byte
	// ECC
	Curve Curve
}

// IsRSA reports whether the slot holds (or will hold) an RSA key.
func (a AlgoAttr) IsRSA() bool { return a.Algo == AlgoRSA }

// IsECC reports whether the slot holds an ECC key on a known curve.
func (a AlgoAttr) IsECC() bool {
	return (a.Algo == AlgoECDH || a.Algo == AlgoECDSA || a.Algo == AlgoEdDSA) && a.Curve.Name != ""
}

// String names the algorithm as gpg --card-status does: "rsa2048", "cv25519", "nistp256".
func (a AlgoAttr) String() string {
	switch {
	case a.Algo == 0:
		return "none"
	case a.IsRSA():
		return fmt.Sprintf("rsa%d", a.ModBits)
	case a.IsECC():
		return a.Curve.Name
	}
	return fmt.Sprintf("algo %02X % X", a.Algo, a.Raw)
}

// ParseAlgoAttr decodes an algorithm attributes DO. RSA is
// `01 nbits(2) ebits(2) [format]`; ECC is `algo OID [FF]`. The OID is matched
// with and without its last byte, because the YubiKey 5.2 appends a byte.
func ParseAlgoAttr(b []byte) (AlgoAttr, error) {
	if len(b) == 0 {
		return AlgoAttr{}, nil
	}
	a := AlgoAttr{Raw: bytes.Clone(b), Algo: b[0]}
	switch b[0] {
	case AlgoRSA:
		if len(b) < 5 {
			return AlgoAttr{}, errors.New("RSA attributes shorter than 5 bytes")
		}
		a.ModBits = int(binary.BigEndian.Uint16(b[1:3]))
		a.ExpBits = int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) > 5 {
			a.ImportFormat = b[5]
		}
		if a.ModBits < 512 || a.ModBits > 16384 {
			return AlgoAttr{}, fmt.Errorf("RSA modulus of %d bits", a.ModBits)
		}
	case AlgoECDH, AlgoECDSA, AlgoEdDSA:
		oid := b[1:]
		if c, ok := CurveByOID(oid); ok {
			a.Curve = c
		} else if len(oid) > 1 {
			if c, ok := CurveByOID(oid[:len(oid)-1]); ok { // trailing FF (import with public key) or the YubiKey 5.2 extra byte
				a.Curve = c
			}
		}
	}
	return a, nil
}
