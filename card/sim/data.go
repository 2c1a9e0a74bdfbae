package sim

import (
	"encoding/binary"
	"fmt"
)

// extCaps builds the extended capabilities (C0).
func (c *Card) extCaps() []byte {
	maxChal := uint16(0x0bfe)
	if c.q.NoExtended {
		maxChal = 0x00ff
	}
	mse := byte(1)
	if c.q.YubiKey {
		mse = 0
	}
	// GET CHALLENGE, key import, PW status changeable, private DOs,
	// attributes changeable, KDF-DO.
	b0 := byte(0x7d)
	if c.q.NoKDF {
		b0 &^= 0x01
	}
	return []byte{b0, 0x00, byte(maxChal >> 8), byte(maxChal), 0x08, 0x00, 0x00, 0xff, 0x00, mse}
}

// pwStatus builds the PW status bytes (C4).
func (c *Card) pwStatus() []byte {
	return []byte{c.st.PW1Multi, 0x7f, 0x7f, 0x7f, c.st.Tries[0], c.st.Tries[1], c.st.Tries[2]}
}

// nSlots is 4 for the YubiKey (attestation slot) else 3.
func (c *Card) nSlots() int {
	if c.q.YubiKey {
		return 4
	}
	return 3
}

func (c *Card) fingerprints(ca bool) []byte {
	out := make([]byte, 0, 20*c.nSlots())
	for i := 0; i < c.nSlots(); i++ {
		if i < 3 {
			f := c.st.Slots[i].Fpr
			if ca {
				f = c.st.Slots[i].CAFpr
			}
			out = append(out, f...)
		} else {
			out = append(out, make([]byte, 20)...)
		}
	}
	return out
}

func (c *Card) genTimes() []byte {
	out := make([]byte, 4*c.nSlots())
	for i := 0; i < 3; i++ {
		binary.BigEndian.PutUint32(out[4*i:], c.st.Slots[i].Time)
	}
	return out
}

func (c *Card) keyInfo() []byte {
	var out []byte
	for i := 0; i < 3; i++ {
		out = append(out, byte(i+1), c.st.Slots[i].Status)
	}
	if c.q.YubiKey {
		out = append(out, 0x81, 0x00)
	}
	return out
}

// extLenInfo is 7F66: maximum command and response sizes.
func (c *Card) extLenInfo() []byte {
	return []byte{0x02, 0x02, 0x0b, 0xfe, 0x02, 0x02, 0x0b, 0xfe}
}

// discretionary builds DO 73.
func (c *Card) discretionary() []byte {
	var b []byte
	b = appendTLV(b, 0xc0, c.extCaps())
	for i := 0; i < 3; i++ {
		b = appendTLV(b, uint(0xc1+i), c.st.Slots[i].Attr)
	}
	if c.q.YubiKey {
		b = appendTLV(b, 0xda, rsaAttr(2048))
	}
	b = appendTLV(b, 0xc4, c.pwStatus())
	b = appendTLV(b, 0xc5, c.fingerprints(false))
	b = appendTLV(b, 0xc6, c.fingerprints(true))
	b = appendTLV(b, 0xcd, c.genTimes())
	b = appendTLV(b, 0xde, c.keyInfo())
	if !c.q.NoExtended {
		b = appendTLV(b, 0x7f66, c.extLenInfo())
	}
	for i := 0; i < 3; i++ {
		b = appendTLV(b, uint(0xd6+i), c.st.Slots[i].UIF)
	}
	if c.q.YubiKey {
		b = appendTLV(b, 0xd9, []byte{0x00, 0x20})
	}
	return b
}

// applicationData builds DO 6E.
func (c *Card) applicationData() []byte {
	var b []byte
	b = appendTLV(b, 0x4f, c.aid())
	b = appendTLV(b, 0x5f52, c.historical())
	b = appendTLV(b, 0x7f74, []byte{0x81, 0x01, 0x20})
	b = appendTLV(b, 0x73, c.discretionary())
	return b
}

func (c *Card) cardholder() []byte {
	var b []byte
	b = appendTLV(b, 0x5b, c.st.DOs["5b"])
	b = appendTLV(b, 0x5f2d, c.st.DOs["5f2d"])
	b = appendTLV(b, 0x5f35, c.st.DOs["5f35"])
	return b
}

func (c *Card) sigCounter() []byte {
	n := c.st.SigCount
	return []byte{byte(n >> 16), byte(n >> 8), byte(n)}
}

// algorithmInfo builds DO FA: every supported attribute for each slot.
func (c *Card) algorithmInfo() []byte {
	var b []byte
	for slot := 0; slot < 3; slot++ {
		tag := uint(0xc1 + slot)
		for _, bits := range []int{2048, 3072, 4096} {
			b = appendTLV(b, tag, rsaAttr(bits))
		}
		for i := range curves {
			cv := &curves[i]
			switch {
			case cv.kind == curveEd25519:
				if slot != 1 {
					b = appendTLV(b, tag, eccAttr(algEdDSA, cv))
				}
			case cv.kind == curveX25519:
				if slot == 1 {
					b = appendTLV(b, tag, eccAttr(algECDH, cv))
				}
			case slot == 1:
				b = appendTLV(b, tag, eccAttr(algECDH, cv))
			default:
				b = appendTLV(b, tag, eccAttr(algECDSA, cv))
			}
		}
	}
	return b
}

func doKey(tag uint) string {
	if tag > 0xff {
		return fmt.Sprintf("%04x", tag)
	}
	return fmt.Sprintf("%02x", tag)
}

func (c *Card) certKey() string { return fmt.Sprintf("7f21.%d", c.certIdx) }

func (c *Card) doGetData(a apdu) ([]byte, uint16) {
	tag := uint(a.p1)<<8 | uint(a.p2)
	switch tag {
	case 0x004f:
		return c.aid(), swOK
	case 0x005e:
		return c.st.DOs["5e"], swOK
	case 0x005b:
		return c.st.DOs["5b"], swOK
	case 0x5f2d:
		return c.st.DOs["5f2d"], swOK
	case 0x5f35:
		return c.st.DOs["5f35"], swOK
	case 0x5f50:
		return c.st.DOs["5f50"], swOK
	case 0x5f52:
		return c.historical(), swOK
	case 0x0065:
		return tlvBytes(0x65, c.cardholder()), swOK
	case 0x006e:
		return tlvBytes(0x6e, c.applicationData()), swOK
	case 0x0073:
		return tlvBytes(0x73, c.discretionary()), swOK
	case 0x007a:
		return tlvBytes(0x7a, tlvBytes(0x93, c.sigCounter())), swOK
	case 0x0093:
		return c.sigCounter(), swOK
	case 0x00c0:
		return c.extCaps(), swOK
	case 0x00c1, 0x00c2, 0x00c3:
		return c.st.Slots[tag-0xc1].Attr, swOK
	case 0x00c4:
		return c.pwStatus(), swOK
	case 0x00c5:
		return c.fingerprints(false), swOK
	case 0x00c6:
		return c.fingerprints(true), swOK
	case 0x00cd:
		return c.genTimes(), swOK
	case 0x00de:
		return c.keyInfo(), swOK
	case 0x00d6, 0x00d7, 0x00d8:
		return c.st.Slots[tag-0xd6].UIF, swOK
	case 0x7f66:
		if c.q.NoExtended {
			return nil, swRefNotFound
		}
		return c.extLenInfo(), swOK
	case 0x7f74:
		return []byte{0x81, 0x01, 0x20}, swOK
	case 0x00f9:
		if c.q.NoKDF {
			return nil, swRefNotFound
		}
		if len(c.st.KDF) == 0 {
			return []byte{0x81, 0x01, 0x00}, swOK
		}
		return c.st.KDF, swOK
	case 0x00fa:
		return tlvBytes(0xfa, c.algorithmInfo()), swOK
	case 0x0101, 0x0102:
		return c.st.DOs[doKey(tag)], swOK
	case 0x0103:
		if !c.pw1Dec {
			return nil, swSecurity
		}
		return c.st.DOs["0103"], swOK
	case 0x0104:
		if !c.pw3 {
			return nil, swSecurity
		}
		return c.st.DOs["0104"], swOK
	case 0x7f21:
		return c.st.DOs[c.certKey()], swOK
	}
	return nil, swRefNotFound
}

func (c *Card) doGetNextData(a apdu) ([]byte, uint16) {
	if a.p1 != 0x7f || a.p2 != 0x21 {
		return nil, swRefNotFound
	}
	if c.certIdx >= 2 {
		return nil, swWrongData
	}
	c.certIdx++
	return c.st.DOs[c.certKey()], swOK
}

// doSelectData handles SELECT DATA (A5) for the cardholder certificates.
func (c *Card) doSelectData(a apdu) ([]byte, uint16) {
	if a.p1 > 2 {
		return nil, swWrongP1P2
	}
	d := a.data
	if len(d) > 0 && int(d[0]) == len(d)-1 {
		// The form YubiKey firmware before 5.4.4 expects (and GnuPG and
		// go-openpgp-card send it): the template prefixed by its length.
		d = d[1:]
	}
	if v, ok := findTLV(d, 0x60); ok {
		d = v
	}
	v, ok := findTLV(d, 0x5c)
	if !ok || len(v) != 2 || v[0] != 0x7f || v[1] != 0x21 {
		return nil, swRefNotFound
	}
	c.certIdx = int(a.p1)
	return nil, swOK
}
