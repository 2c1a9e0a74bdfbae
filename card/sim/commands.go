package sim

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"time"
)

// PIN references as indices into state.Tries.
const (
	refPW1 = 0
	refRC  = 1
	refPW3 = 2
)

// kdfOn reports whether the KDF-DO asks hosts to hash PINs, and the hash
// size.
func (c *Card) kdfOn() (bool, int) {
	if len(c.st.KDF) == 0 {
		return false, 0
	}
	algo, ok := findTLV(c.st.KDF, 0x81)
	if !ok || len(algo) != 1 || algo[0] != 0x03 {
		return false, 0
	}
	size := 32
	if h, ok := findTLV(c.st.KDF, 0x82); ok && len(h) == 1 && h[0] == 0x0a {
		size = 64
	}
	return true, size
}

// pinLengthOK checks a presented PIN's length: with KDF on it must be the
// hash size (or the stored PIN's length, as a PIN set by a host that did
// not hash it is still compared), else 6–127 bytes for PW1, 8–127 for PW3
// and the resetting code.
func (c *Card) pinLengthOK(ref int, pin []byte) bool {
	if on, size := c.kdfOn(); on {
		return len(pin) == size || len(pin) == len(c.storedPIN(ref))
	}
	return newPINLengthOK(ref, pin)
}

// newPINLengthOK checks the length of a new PIN (a KDF hash of 32 or 64
// bytes fits as well).
func newPINLengthOK(ref int, pin []byte) bool {
	minLen := 6
	if ref != refPW1 {
		minLen = 8
	}
	return len(pin) >= minLen && len(pin) <= 127
}

func (c *Card) storedPIN(ref int) []byte {
	switch ref {
	case refPW1:
		return c.st.PW1
	case refRC:
		return c.st.RC
	}
	return c.st.PW3
}

func (c *Card) setPIN(ref int, pin []byte) {
	pin = append([]byte(nil), pin...)
	switch ref {
	case refPW1:
		c.st.PW1 = pin
	case refRC:
		c.st.RC = pin
	default:
		c.st.PW3 = pin
	}
	c.st.Tries[ref] = maxTries
}

// checkPIN compares a presented PIN, counting a failure; it answers 9000
// or the failure status word.
func (c *Card) checkPIN(ref int, pin []byte) uint16 {
	if c.st.Tries[ref] == 0 {
		return swBlocked
	}
	if !c.pinLengthOK(ref, pin) {
		if c.q.YubiKey {
			return swWrongData
		}
		if on, _ := c.kdfOn(); on {
			return swWrongLength
		}
	}
	stored := c.storedPIN(ref)
	if len(stored) > 0 && subtle.ConstantTimeCompare(stored, pin) == 1 {
		if c.st.Tries[ref] != maxTries {
			c.st.Tries[ref] = maxTries
			if s := c.persist(); s != swOK {
				return s
			}
		}
		return swOK
	}
	c.st.Tries[ref]--
	if s := c.persist(); s != swOK {
		return s
	}
	if c.q.PIN63Cx {
		return 0x63c0 | uint16(c.st.Tries[ref])
	}
	if c.st.Tries[ref] == 0 {
		return swBlocked
	}
	return swSecurity
}

func (c *Card) doVerify(a apdu) ([]byte, uint16) {
	var flag *bool
	ref := refPW1
	switch a.p2 {
	case 0x81:
		flag = &c.pw1Sig
	case 0x82:
		flag = &c.pw1Dec
	case 0x83:
		flag, ref = &c.pw3, refPW3
	default:
		return nil, swRefNotFound
	}
	switch a.p1 {
	case 0xff:
		*flag = false
		return nil, swOK
	case 0x00:
	default:
		return nil, swWrongP1P2
	}
	if len(a.data) == 0 {
		switch {
		case *flag:
			return nil, swOK
		case c.q.YubiKey:
			return nil, swWrongData
		}
		return nil, 0x63c0 | uint16(c.st.Tries[ref])
	}
	*flag = false
	s := c.checkPIN(ref, a.data)
	if s == swOK {
		*flag = true
	}
	return nil, s
}

func (c *Card) doChange(a apdu) ([]byte, uint16) {
	if a.p1 != 0x00 {
		return nil, swWrongP1P2
	}
	ref := refPW1
	switch a.p2 {
	case 0x81:
	case 0x83:
		ref = refPW3
	default:
		return nil, swRefNotFound
	}
	old := c.storedPIN(ref)
	if len(a.data) <= len(old) {
		return nil, swWrongLength
	}
	newPIN := a.data[len(old):]
	if s := c.checkPIN(ref, a.data[:len(old)]); s != swOK {
		c.clearVerified(ref)
		return nil, s
	}
	if !newPINLengthOK(ref, newPIN) {
		return nil, swWrongData
	}
	c.setPIN(ref, newPIN)
	return nil, c.persist()
}

func (c *Card) clearVerified(ref int) {
	if ref == refPW1 {
		c.pw1Sig, c.pw1Dec = false, false
	} else if ref == refPW3 {
		c.pw3 = false
	}
}

func (c *Card) doResetRetry(a apdu) ([]byte, uint16) {
	if a.p2 != 0x81 {
		return nil, swRefNotFound
	}
	var newPIN []byte
	switch a.p1 {
	case 0x00:
		rc := c.st.RC
		if len(rc) == 0 || c.st.Tries[refRC] == 0 {
			if len(rc) != 0 {
				return nil, swBlocked
			}
			return nil, swSecurity
		}
		if len(a.data) <= len(rc) {
			return nil, swWrongLength
		}
		if s := c.checkPIN(refRC, a.data[:len(rc)]); s != swOK {
			return nil, s
		}
		newPIN = a.data[len(rc):]
	case 0x02:
		if !c.pw3 {
			return nil, swSecurity
		}
		newPIN = a.data
	default:
		return nil, swWrongP1P2
	}
	if !newPINLengthOK(refPW1, newPIN) {
		return nil, swWrongData
	}
	c.setPIN(refPW1, newPIN)
	return nil, c.persist()
}

// doPutData handles PUT DATA (DA).
func (c *Card) doPutData(a apdu) ([]byte, uint16) {
	tag := uint(a.p1)<<8 | uint(a.p2)
	d := a.data
	switch tag {
	case 0x0101, 0x0103:
		if !c.pw1Dec && !c.pw3 {
			return nil, swSecurity
		}
	default:
		if !c.pw3 {
			return nil, swSecurity
		}
	}
	switch tag {
	case 0x005b, 0x5f2d, 0x5f35, 0x5f50, 0x005e, 0x0101, 0x0102, 0x0103, 0x0104:
		if len(d) > 0xff && tag != 0x5f50 {
			return nil, swWrongLength
		}
		c.st.DOs[doKey(tag)] = append([]byte(nil), d...)
	case 0x7f21:
		if len(d) > 0x800 {
			return nil, swWrongLength
		}
		c.st.DOs[c.certKey()] = append([]byte(nil), d...)
	case 0x00c1, 0x00c2, 0x00c3:
		k, err := parseAttr(d)
		if err != nil {
			return nil, swWrongData
		}
		if tag == 0x00c2 && k.id != algRSA && k.id != algECDH {
			return nil, swWrongData
		}
		if tag != 0x00c2 && k.id == algECDH {
			return nil, swWrongData
		}
		s := &c.st.Slots[tag-0xc1]
		if !bytes.Equal(s.Attr, d) {
			s.Attr = append([]byte(nil), d...)
			s.Key, s.Status = nil, 0
		}
	case 0x00c4:
		if len(d) < 1 || d[0] > 1 {
			return nil, swWrongData
		}
		c.st.PW1Multi = d[0]
	case 0x00c7, 0x00c8, 0x00c9, 0x00ca, 0x00cb, 0x00cc:
		if len(d) != 20 {
			return nil, swWrongLength
		}
		if tag <= 0xc9 {
			c.st.Slots[tag-0xc7].Fpr = append([]byte(nil), d...)
		} else {
			c.st.Slots[tag-0xca].CAFpr = append([]byte(nil), d...)
		}
	case 0x00ce, 0x00cf, 0x00d0:
		if len(d) != 4 {
			return nil, swWrongLength
		}
		c.st.Slots[tag-0xce].Time = binary.BigEndian.Uint32(d)
	case 0x00d3:
		if len(d) == 0 {
			c.st.RC, c.st.Tries[refRC] = nil, 0
			break
		}
		if !newPINLengthOK(refRC, d) {
			return nil, swWrongData
		}
		c.setPIN(refRC, d)
	case 0x00d6, 0x00d7, 0x00d8:
		if len(d) != 2 || d[0] > 2 {
			return nil, swWrongData
		}
		s := &c.st.Slots[tag-0xd6]
		if s.UIF[0] == 2 {
			return nil, swSecurity
		}
		s.UIF = append([]byte(nil), d...)
	case 0x00f9:
		if c.q.NoKDF {
			return nil, swRefNotFound
		}
		return nil, c.putKDF(d)
	case 0x00d1, 0x00d2, 0x00d5:
		// Secure messaging and AES keys: accepted and not used.
	default:
		return nil, swRefNotFound
	}
	return nil, c.persist()
}

// putKDF writes the KDF-DO. With the initial hashes 87/88 the card's PW1
// and PW3 become those hashes, and the resetting code is cleared.
func (c *Card) putKDF(d []byte) uint16 {
	algo, ok := findTLV(d, 0x81)
	if !ok || len(algo) != 1 {
		return swWrongData
	}
	switch algo[0] {
	case 0x00:
		c.st.KDF = nil
		return c.persist()
	case 0x03:
	default:
		return swWrongData
	}
	size := 32
	if h, ok := findTLV(d, 0x82); ok {
		switch {
		case len(h) == 1 && h[0] == 0x08:
		case len(h) == 1 && h[0] == 0x0a:
			size = 64
		default:
			return swWrongData
		}
	}
	if n, ok := findTLV(d, 0x83); !ok || len(n) != 4 {
		return swWrongData
	}
	if s, ok := findTLV(d, 0x84); !ok || len(s) != 8 {
		return swWrongData
	}
	pw1, ok1 := findTLV(d, 0x87)
	pw3, ok3 := findTLV(d, 0x88)
	if (ok1 && len(pw1) != size) || (ok3 && len(pw3) != size) {
		return swWrongData
	}
	c.st.KDF = append([]byte(nil), d...)
	if ok1 {
		c.setPIN(refPW1, pw1)
	}
	if ok3 {
		c.setPIN(refPW3, pw3)
	}
	c.st.RC, c.st.Tries[refRC] = nil, 0
	return c.persist()
}

// crtSlot maps a control reference template tag (B6, B8, A4) to a slot.
func crtSlot(data []byte) (Slot, bool) {
	if len(data) < 2 {
		return 0, false
	}
	switch data[0] {
	case 0xb6:
		return SlotSig, true
	case 0xb8:
		return SlotDec, true
	case 0xa4:
		return SlotAut, true
	}
	return 0, false
}

func (c *Card) doGenerate(a apdu) ([]byte, uint16) {
	if a.p2 != 0x00 {
		return nil, swWrongP1P2
	}
	slot, ok := crtSlot(a.data)
	if !ok {
		return nil, swWrongData
	}
	s := &c.st.Slots[slot]
	k, err := parseAttr(s.Attr)
	if err != nil {
		return nil, swConditions
	}
	switch a.p1 {
	case 0x80:
		if !c.pw3 {
			return nil, swSecurity
		}
		key, err := generateKey(k)
		if err != nil {
			return nil, swMemoryFailure
		}
		s.Key, s.Status = key, 1
		s.Fpr, s.Time = make([]byte, 20), 0
		if slot == SlotSig {
			c.st.SigCount = 0
		}
		if sw := c.persist(); sw != swOK {
			return nil, sw
		}
	case 0x81:
		if len(s.Key) == 0 {
			return nil, swRefNotFound
		}
	default:
		return nil, swWrongP1P2
	}
	pub, err := publicKeyDO(k, s.Key)
	if err != nil {
		return nil, swMemoryFailure
	}
	return tlvBytes(0x7f49, pub), swOK
}

// doImport handles PUT DATA (DB) 3FFF with an extended header list.
func (c *Card) doImport(a apdu) ([]byte, uint16) {
	if a.p1 != 0x3f || a.p2 != 0xff {
		return nil, swWrongP1P2
	}
	if !c.pw3 {
		return nil, swSecurity
	}
	ehl, ok := findTLV(a.data, 0x4d)
	if !ok {
		return nil, swWrongData
	}
	items, err := parseTLVs(ehl)
	if err != nil || len(items) < 3 {
		return nil, swWrongData
	}
	var slot Slot
	var hdr []tlv
	var keyData []byte
	var haveCRT, haveHdr, haveData bool
	for _, it := range items {
		switch it.tag {
		case 0xb6, 0xb8, 0xa4:
			slot, haveCRT = crtSlot(append([]byte{byte(it.tag)}, appendLen(nil, len(it.value))...))
		case 0x7f48:
			hdr, err = parseHeaderList(it.value)
			haveHdr = err == nil
		case 0x5f48:
			keyData, haveData = it.value, true
		}
	}
	if !haveCRT || !haveHdr || !haveData {
		return nil, swWrongData
	}
	s := &c.st.Slots[slot]
	k, err := parseAttr(s.Attr)
	if err != nil {
		return nil, swConditions
	}
	key, err := importKey(k, hdr, keyData)
	if err != nil {
		return nil, swWrongData
	}
	s.Key, s.Status = key, 2
	if slot == SlotSig {
		c.st.SigCount = 0
	}
	return nil, c.persist()
}

// waitTouch simulates the user interaction a slot's UIF asks for.
func (c *Card) waitTouch(slot Slot) uint16 {
	if c.st.Slots[slot].UIF[0] == 0 {
		return swOK
	}
	if c.q.NoTouch || c.q.Touch > c.q.TouchTimeout {
		time.Sleep(c.q.TouchTimeout)
		c.pw1Sig, c.pw1Dec = false, false
		if c.q.Gnuk {
			return swTouchTimeout
		}
		return swSecurity
	}
	time.Sleep(c.q.Touch)
	return swOK
}

func (c *Card) slotKey(slot Slot) (*keyAlgo, []byte, uint16) {
	s := &c.st.Slots[slot]
	if len(s.Key) == 0 {
		return nil, nil, swRefNotFound
	}
	k, err := parseAttr(s.Attr)
	if err != nil {
		return nil, nil, swRefNotFound
	}
	return k, s.Key, swOK
}

func (c *Card) doPSO(a apdu) ([]byte, uint16) {
	switch {
	case a.p1 == 0x9e && a.p2 == 0x9a:
		if !c.pw1Sig {
			return nil, swSecurity
		}
		k, key, s := c.slotKey(SlotSig)
		if s != swOK {
			return nil, s
		}
		if s := c.waitTouch(SlotSig); s != swOK {
			return nil, s
		}
		if c.st.PW1Multi == 0 {
			c.pw1Sig = false
		}
		out, err := sign(k, key, a.data)
		if err != nil {
			return nil, uint16(err.(errSW))
		}
		if c.st.SigCount < 0xffffff {
			c.st.SigCount++
		}
		if s := c.persist(); s != swOK {
			return nil, s
		}
		return out, swOK
	case a.p1 == 0x80 && a.p2 == 0x86:
		if !c.pw1Dec {
			return nil, swSecurity
		}
		if len(a.data) == 0 {
			return nil, swWrongLength
		}
		if a.data[0] == 0x02 {
			return nil, swConditions // no AES key
		}
		k, key, s := c.slotKey(c.decKey)
		if s != swOK {
			return nil, s
		}
		if s := c.waitTouch(c.decKey); s != swOK {
			return nil, s
		}
		out, err := decipher(k, key, a.data, c.q.Gnuk)
		if err != nil {
			return nil, uint16(err.(errSW))
		}
		return out, swOK
	}
	return nil, swWrongP1P2
}

func (c *Card) doInternalAuth(a apdu) ([]byte, uint16) {
	if a.p1 != 0 || a.p2 != 0 {
		return nil, swWrongP1P2
	}
	if !c.pw1Dec {
		return nil, swSecurity
	}
	k, key, s := c.slotKey(c.authKey)
	if s != swOK {
		return nil, s
	}
	if k.id == algECDH {
		return nil, swConditions
	}
	if s := c.waitTouch(c.authKey); s != swOK {
		return nil, s
	}
	out, err := sign(k, key, a.data)
	if err != nil {
		return nil, uint16(err.(errSW))
	}
	return out, swOK
}

// doMSE handles MANAGE SECURITY ENVIRONMENT: 41 B8 selects the key for
// PSO:DECIPHER, 41 A4 the key for INTERNAL AUTHENTICATE (83 01 02 = DEC,
// 83 01 03 = AUT).
func (c *Card) doMSE(a apdu) ([]byte, uint16) {
	if c.q.YubiKey {
		return nil, swINSUnsupported
	}
	if a.p1 != 0x41 {
		return nil, swWrongP1P2
	}
	ref, ok := findTLV(a.data, 0x83)
	if !ok || len(ref) != 1 || (ref[0] != 2 && ref[0] != 3) {
		return nil, swWrongData
	}
	slot := SlotDec
	if ref[0] == 3 {
		slot = SlotAut
	}
	switch a.p2 {
	case 0xb8:
		c.decKey = slot
	case 0xa4:
		c.authKey = slot
	default:
		return nil, swWrongP1P2
	}
	return nil, swOK
}

func (c *Card) doChallenge(a apdu) ([]byte, uint16) {
	if a.le <= 0 {
		return nil, swWrongLength
	}
	n := min(a.le, 0x0bfe)
	out := make([]byte, n)
	if _, err := rand.Read(out); err != nil {
		return nil, swMemoryFailure
	}
	return out, swOK
}
