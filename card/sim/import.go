package sim

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp/ecdh"
	"github.com/ProtonMail/go-crypto/openpgp/ecdsa"
	goed25519 "github.com/ProtonMail/go-crypto/openpgp/ed25519"
	"github.com/ProtonMail/go-crypto/openpgp/eddsa"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/x25519"
)

// curveNames maps go-crypto's curve names to the card's.
var curveNames = map[string]string{
	"P-256":           "nistp256",
	"P-384":           "nistp384",
	"P-521":           "nistp521",
	"brainpoolP256r1": "brainpoolP256r1",
	"brainpoolP384r1": "brainpoolP384r1",
	"brainpoolP512r1": "brainpoolP512r1",
	"curve25519":      "cv25519",
	"ed25519":         "ed25519",
}

// ImportKey puts an unencrypted OpenPGP private key (a v4 primary key or
// subkey) into a slot, as gpg's keytocard would: it sets the algorithm
// attributes, the key, the fingerprint (C7–C9), the generation time
// (CE–D0) and the key status "imported". The card's PINs are unchanged.
func (c *Card) ImportKey(slot Slot, key *packet.PrivateKey) error {
	if slot < SlotSig || slot > SlotAut {
		return fmt.Errorf("simulated card: no key slot %d", int(slot))
	}
	if key == nil || key.PrivateKey == nil {
		return errors.New("simulated card: ImportKey needs a private key")
	}
	if key.Encrypted {
		return errors.New("simulated card: ImportKey needs a decrypted private key")
	}
	if key.Version != 4 {
		return fmt.Errorf("simulated card: the OpenPGP card holds v4 keys (20-byte fingerprints), not v%d", key.Version)
	}
	var attr, material []byte
	switch k := key.PrivateKey.(type) {
	case *rsa.PrivateKey:
		bits := k.N.BitLen()
		attr, material = rsaAttr(bits), x509.MarshalPKCS1PrivateKey(k)
	case *ecdh.PrivateKey:
		cv := curveByName(curveNames[k.GetCurve().GetCurveName()])
		if cv == nil {
			return fmt.Errorf("simulated card: unsupported ECDH curve %s", k.GetCurve().GetCurveName())
		}
		attr = eccAttr(algECDH, cv)
		if cv.kind == curveX25519 {
			material = append([]byte(nil), k.D...) // native little-endian
		} else {
			material = make([]byte, cv.coordSize())
			copy(material[len(material)-len(k.D):], k.D)
		}
	case *x25519.PrivateKey:
		attr, material = eccAttr(algECDH, curveByName("cv25519")), append([]byte(nil), k.Secret...)
	case *ecdsa.PrivateKey:
		cv := curveByName(curveNames[k.GetCurve().GetCurveName()])
		if cv == nil || cv.kind != curveWeierstrass {
			return fmt.Errorf("simulated card: unsupported ECDSA curve %s", k.GetCurve().GetCurveName())
		}
		attr, material = eccAttr(algECDSA, cv), k.D.FillBytes(make([]byte, cv.coordSize()))
	case *eddsa.PrivateKey:
		if k.GetCurve().GetCurveName() != "ed25519" {
			return fmt.Errorf("simulated card: unsupported EdDSA curve %s", k.GetCurve().GetCurveName())
		}
		attr, material = eccAttr(algEdDSA, curveByName("ed25519")), append([]byte(nil), k.D[:32]...)
	case *goed25519.PrivateKey:
		attr, material = eccAttr(algEdDSA, curveByName("ed25519")), append([]byte(nil), k.Key[:32]...)
	default:
		return fmt.Errorf("simulated card: unsupported key type %T", key.PrivateKey)
	}
	k, err := parseAttr(attr)
	if err != nil {
		return fmt.Errorf("simulated card: %w", err)
	}
	if (slot == SlotDec && k.id != algECDH && k.id != algRSA) || (slot != SlotDec && k.id == algECDH) {
		return fmt.Errorf("simulated card: key algorithm %d does not fit the %s slot", key.PublicKey.PubKeyAlgo, slot)
	}
	if err := checkPrivate(k, material); err != nil {
		return fmt.Errorf("simulated card: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.st.Slots[slot]
	s.Attr, s.Key, s.Status = attr, material, 2
	s.Fpr = append([]byte(nil), key.PublicKey.Fingerprint...)
	s.Time = uint32(key.CreationTime.Unix())
	if slot == SlotSig {
		c.st.SigCount = 0
	}
	return save(c.dir, &c.st)
}
