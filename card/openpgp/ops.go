package openpgp

import (
	"errors"
	"fmt"

	"github.com/keyunlock/keyunlock/card/iso7816"
	"github.com/keyunlock/keyunlock/card/tlv"
)

// MinPINLen is the shortest PW1 the OpenPGP card accepts; shorter PINs are
// refused locally (the YubiKey answers 6A80 without saying whether it counted).
const (
	MinPW1Len = 6
	MinPW3Len = 8
)

// CheckPIN checks a PIN locally before it reaches the card.
func (c *Card) CheckPIN(ref byte, pin []byte) error {
	min := MinPW1Len
	if ref == PW3 {
		min = MinPW3Len
	}
	if len(pin) < min {
		return fmt.Errorf("%w: the card needs at least %d characters", ErrPINTooShort, min)
	}
	if c.KDF == nil && c.ARD != nil {
		max := c.ARD.PWStatus.MaxPW1
		if ref == PW3 {
			max = c.ARD.PWStatus.MaxPW3
		}
		if max > 0 && len(pin) > max {
			return fmt.Errorf("%w: the card takes at most %d bytes", ErrPINTooLong, max)
		}
	}
	return nil
}

// Verify sends VERIFY `00 20 00 ref` with the PIN, hashed first when the
// KDF-DO is on. It checks the PIN length locally first. It does not read
// the retry counter: callers do that (ReadPWStatus) before deciding to call it.
func (c *Card) Verify(ref byte, pin []byte) error {
	if err := c.CheckPIN(ref, pin); err != nil {
		return err
	}
	data := pin
	if c.KDF != nil {
		data = c.KDF.HashPIN(ref, pin)
		defer clear(data)
	}
	cmdData := append([]byte(nil), data...)
	defer clear(cmdData)
	_, err := c.c.Do(iso7816.Command{INS: 0x20, P2: ref, Data: cmdData})
	return pinError(err)
}

func pinError(err error) error {
	if err == nil {
		return nil
	}
	var se *iso7816.StatusError
	if !errors.As(err, &se) {
		return err
	}
	switch {
	case se.SW == iso7816.SWSecurityStatus:
		return fmt.Errorf("%w (%v)", ErrWrongPIN, se)
	case se.SW == iso7816.SWAuthBlocked:
		return fmt.Errorf("%w (%v)", ErrPINBlocked, se)
	case se.SW == 0x63C0:
		return fmt.Errorf("%w (%v)", ErrPINBlocked, se)
	case se.SW&0xFFF0 == 0x63C0:
		return fmt.Errorf("%w (%v)", ErrWrongPIN, se)
	case se.SW == iso7816.SWWrongData || se.SW == iso7816.SWWrongLength:
		return fmt.Errorf("%w (%v)", ErrPINFormat, se)
	}
	return fmt.Errorf("VERIFY: %w", se)
}

// DecipherRSA sends PSO:DECIPHER `00 2A 80 86` with `00 ‖ c` left-padded to
// the modulus length (modBits) and returns the PKCS#1-unpadded plaintext.
// Above 255 bytes it is sent extended or chained, as the card allows.
func (c *Card) DecipherRSA(ct []byte, modBits int) ([]byte, error) {
	n := (modBits + 7) / 8
	if len(ct) > n {
		return nil, fmt.Errorf("RSA ciphertext of %d bytes for a %d-bit key", len(ct), modBits)
	}
	data := make([]byte, 1+n)
	copy(data[1+n-len(ct):], ct)
	return c.pso(data, n)
}

// DecipherECDH sends PSO:DECIPHER with `A6 { 7F49 { 86 point } }` (BER
// long-form lengths where needed) and returns the shared secret: the
// X25519 output, or the X coordinate. It accepts both answer forms (X only,
// and Gnuk's 04‖X‖Y). point is the raw 32 bytes for cv25519 (no 40 prefix)
// and 04‖X‖Y for NIST and brainpool curves.
func (c *Card) DecipherECDH(point []byte, curve Curve) ([]byte, error) {
	if curve.Montgomery && len(point) == curve.CoordSize+1 && point[0] == 0x40 {
		point = point[1:]
	}
	do := tlv.Encode(0xA6, tlv.Encode(0x7F49, tlv.Encode(0x86, point)))
	out, err := c.pso(do, 256)
	if err != nil {
		return nil, err
	}
	return normaliseShared(out, curve)
}

func normaliseShared(out []byte, curve Curve) ([]byte, error) {
	cs := curve.CoordSize
	switch {
	case len(out) == cs:
		return out, nil
	case !curve.Montgomery && len(out) == 1+2*cs && out[0] == 0x04:
		return out[1 : 1+cs], nil // Gnuk: 04‖X‖Y
	case curve.Montgomery && len(out) == cs+1 && out[0] == 0x40:
		return out[1:], nil
	case !curve.Montgomery && len(out) > 0 && len(out) < cs:
		p := make([]byte, cs)
		copy(p[cs-len(out):], out)
		return p, nil
	}
	return nil, fmt.Errorf("card returned a %d-byte ECDH secret for %s", len(out), curve.Name)
}

func (c *Card) pso(data []byte, ne int) ([]byte, error) {
	out, err := c.c.Do(iso7816.Command{INS: 0x2A, P1: 0x80, P2: 0x86, Data: data, Ne: ne})
	if err == nil {
		return out, nil
	}
	var se *iso7816.StatusError
	if errors.As(err, &se) {
		switch se.SW {
		case iso7816.SWTouchTimeout:
			return nil, fmt.Errorf("PSO:DECIPHER: %w (%v)", ErrTouchTimeout, se)
		case iso7816.SWSecurityStatus:
			return nil, fmt.Errorf("PSO:DECIPHER: %w (%v)", ErrNotVerified, se)
		case iso7816.SWRefDataNotFound:
			return nil, fmt.Errorf("PSO:DECIPHER: %w (%v)", ErrNoKey, se)
		}
	}
	return nil, fmt.Errorf("PSO:DECIPHER: %w", err)
}

// SetDecipherKey sends MSE `00 22 41 B8 03 83 01 <03|02>` so that the
// following PSO:DECIPHER uses the authentication key (slot SlotAut) or the
// decryption key again (SlotDec). Only cards whose C0 byte 9 is 01 support it.
func (c *Card) SetDecipherKey(slot int) error {
	if c.ARD == nil || !c.ARD.ExtCaps.MSE {
		return errors.New("the card does not support MANAGE SECURITY ENVIRONMENT (C0 byte 9)")
	}
	ref := byte(0x02)
	if slot == SlotAut {
		ref = 0x03
	}
	_, err := c.c.Do(iso7816.Command{INS: 0x22, P1: 0x41, P2: 0xB8, Data: []byte{0x83, 0x01, ref}})
	if err != nil {
		return fmt.Errorf("MSE (%s key for decryption): %w", SlotName(slot), err)
	}
	return nil
}

// PublicKey reads a slot's public key with GET PUBLIC KEY
// `00 47 81 00 <CRT>` and returns the 7F49 template's parts: RSA modulus
// and exponent (81, 82) or the EC point (86).
func (c *Card) PublicKey(slot int) (n, e, point []byte, err error) {
	crt := [...]byte{0xB6, 0xB8, 0xA4}[slot]
	ne := c.maxNe()
	out, err := c.c.Do(iso7816.Command{INS: 0x47, P1: 0x81, Data: []byte{crt, 0x00}, Ne: ne})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("GET PUBLIC KEY (%s): %w", SlotName(slot), err)
	}
	tmpl, ok := tlv.Find(out, 0x7F49)
	if !ok {
		return nil, nil, nil, errors.New("GET PUBLIC KEY: no 7F49 template")
	}
	n, _ = tlv.Find(tmpl, 0x81)
	e, _ = tlv.Find(tmpl, 0x82)
	point, _ = tlv.Find(tmpl, 0x86)
	if point == nil && (n == nil || e == nil) {
		return nil, nil, nil, errors.New("GET PUBLIC KEY: neither RSA parts nor an EC point")
	}
	return n, e, point, nil
}
