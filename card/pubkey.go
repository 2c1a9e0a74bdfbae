package card

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/keyunlock/keyunlock/card/openpgp"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// defaultKDF gives the ECDH KDF parameters (hash, key-wrap cipher) that
// GnuPG writes into a new key, by the curve's coordinate size: keyunlock
// derives the key-encryption key with them before it knows the public key,
// and tries them first when rebuilding a public key from the card. GnuPG's
// g10/ecdh.c (kek_params_table, pk_ecdh_default_params) picks the first row
// whose size is at least the curve's: 256 bits → SHA-256/AES-128 (Curve25519,
// P-256, brainpoolP256r1), 384 → SHA-384/AES-192 (P-384, brainpoolP384r1;
// GnuPG before 2.1 wrote AES-256 there), 528 → SHA-512/AES-256 (P-521,
// brainpoolP512r1). RFC 6637 and RFC 9580 §9.2 recommend the same pairs.
// TestGnuPGKeysOnCard checks them against the gpg at hand.
func defaultKDF(coord int) (hash, cipher byte) {
	switch {
	case coord <= 32:
		return 8, 7 // SHA-256, AES-128
	case coord <= 48:
		return 9, 8 // SHA-384, AES-192
	}
	return 10, 9 // SHA-512, AES-256
}

// publicKeyFromCard rebuilds the v4 public (sub)key packet of a slot from
// GET PUBLIC KEY, the algorithm attributes and the generation time, and
// accepts it only when its fingerprint equals the one the card stores (C5).
// For ECDH the KDF parameters are not on the card: GnuPG's defaults are
// tried first, then the other standard combinations.
func publicKeyFromCard(c *openpgp.Card, slot int) (*pgp.PublicKey, error) {
	ard := c.ARD
	attr := ard.Attrs[slot]
	want := ard.Fingerprints[slot]
	created := ard.GenTimes[slot]
	n, e, point, err := c.PublicKey(slot)
	if err != nil {
		return nil, err
	}
	type candidate struct {
		algo     pgp.PublicKeyAlgorithm
		material []byte
	}
	var candidates []candidate
	switch {
	case attr.IsRSA():
		if n == nil || e == nil {
			return nil, errors.New("the card's GET PUBLIC KEY answer has no RSA modulus or exponent; pass the key's certificate with --card-cert")
		}
		candidates = append(candidates, candidate{pgp.RSA, pgp.RSAMaterial(n, e)})
	case attr.IsECC():
		if point == nil {
			return nil, errors.New("the card's GET PUBLIC KEY answer has no EC point; pass the key's certificate with --card-cert")
		}
		if attr.Curve.Montgomery && len(point) == attr.Curve.CoordSize {
			point = append([]byte{0x40}, point...)
		}
		if attr.Algo == openpgp.AlgoECDSA || (attr.Algo == openpgp.AlgoEdDSA && !attr.Curve.Montgomery) {
			// Signature keys (SIG, AUT slots) have no KDF parameters;
			// the card's algorithm ids equal OpenPGP's (19, 22), and an
			// Ed25519 point takes the 0x40 prefix.
			if attr.Algo == openpgp.AlgoEdDSA && len(point) == 32 {
				point = append([]byte{0x40}, point...)
			}
			candidates = append(candidates, candidate{pgp.PublicKeyAlgorithm(attr.Algo), pgp.ECCMaterial(attr.Curve.OID, point)})
			break
		}
		h0, c0 := defaultKDF(attr.Curve.CoordSize)
		combos := [][2]byte{{h0, c0}}
		for _, h := range []byte{8, 9, 10} {
			for _, ci := range []byte{7, 8, 9} {
				if h != h0 || ci != c0 {
					combos = append(combos, [2]byte{h, ci})
				}
			}
		}
		for _, kc := range combos {
			candidates = append(candidates, candidate{pgp.ECDH, pgp.ECDHMaterial(attr.Curve.OID, point, kc[0], pgp.CipherFunction(kc[1]))})
		}
	default:
		return nil, fmt.Errorf("unsupported key algorithm %s", attr)
	}
	for _, cand := range candidates {
		pub, err := pgp.NewPublicKey(4, cand.algo, created, cand.material)
		if err == nil && bytes.Equal(pub.Fingerprint, want) {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("the public key read from the card does not match its fingerprint %X (created %s); pass the key's certificate with --card-cert",
		want, time.Unix(int64(created), 0).UTC().Format(time.RFC3339))
}
