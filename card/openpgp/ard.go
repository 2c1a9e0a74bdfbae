// Package openpgp is the host side of the OpenPGP card application (v3.4):
// it selects the application, reads the Application Related Data in one
// GET DATA, verifies PW1 (with the KDF-DO when the card asks for it) and
// runs PSO:DECIPHER for RSA and ECDH keys. Transport rules live in
// card/iso7816; card quirks are handled here, named after the APDU they
// concern.
package openpgp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/keyunlock/keyunlock/card/iso7816"
	"github.com/keyunlock/keyunlock/card/tlv"
)

// Key slots of the OpenPGP card, indexed as in C1–C3, C5 and D6–D8.
const (
	SlotSig = 0
	SlotDec = 1
	SlotAut = 2
)

// SlotName names a key slot as GnuPG does.
func SlotName(slot int) string {
	return [...]string{"signature", "encryption", "authentication"}[slot]
}

// ExtCaps is the extended capabilities DO C0.
type ExtCaps struct {
	Raw        []byte
	KDF        bool // b0 0x01: the KDF-DO F9 is supported
	KeyImport  bool // b0 0x20
	MaxCert    int  // b4–5
	MaxSpecial int  // b6–7
	MSE        bool // b9 = 01: MANAGE SECURITY ENVIRONMENT selects the AUT key for PSO:DECIPHER
}

// PWStatus is the PW status DO C4.
type PWStatus struct {
	PW1ValidMulti bool // [0]: PW1 (81) valid for several signatures
	MaxPW1        int  // [1]
	MaxRC         int  // [2]
	MaxPW3        int  // [3]
	TriesPW1      int  // [4]
	TriesRC       int  // [5]
	TriesPW3      int  // [6]
}

// ParsePWStatus decodes DO C4 (at least 7 bytes).
func ParsePWStatus(b []byte) (PWStatus, error) {
	if len(b) < 7 {
		return PWStatus{}, fmt.Errorf("PW status (C4) has %d bytes, want 7", len(b))
	}
	return PWStatus{
		PW1ValidMulti: b[0] != 0,
		MaxPW1:        int(b[1]), MaxRC: int(b[2]), MaxPW3: int(b[3]),
		TriesPW1: int(b[4]), TriesRC: int(b[5]), TriesPW3: int(b[6]),
	}, nil
}

// UIF is a user-interaction flag DO (D6–D8): touch policy.
type UIF struct {
	Present bool
	Mode    byte // 00 off, 01 on, 02 permanent, 03/04 Yubico cached modes
	Feature byte // 0x20 button
}

// Enabled reports whether the card waits for a touch.
func (u UIF) Enabled() bool { return u.Present && u.Mode != 0 }

// String names the touch policy.
func (u UIF) String() string {
	if !u.Present {
		return "not supported"
	}
	switch u.Mode {
	case 0:
		return "off"
	case 1:
		return "on"
	case 2:
		return "fixed"
	case 3:
		return "cached"
	case 4:
		return "cached-fixed"
	}
	return fmt.Sprintf("mode %02X", u.Mode)
}

// ARD is the parsed Application Related Data (DO 6E).
type ARD struct {
	AID          []byte // DO 4F, 16 bytes
	Version      [2]byte
	Manufacturer uint16
	Serial       uint32
	Historical   []byte // DO 5F52
	// HistChaining and HistExtended come from the card capabilities in 5F52
	// (valid when HistCapsOK).
	HistChaining, HistExtended, HistCapsOK bool
	ExtCaps                                ExtCaps
	Attrs                                  [3]AlgoAttr
	PWStatus                               PWStatus
	Fingerprints                           [3][]byte // C5; nil when the slot holds no key (all zeros)
	GenTimes                               [3]uint32 // CD
	UIF                                    [3]UIF    // D6–D8
	KeyStatus                              map[byte]byte
	// MaxCmd and MaxResp come from 7F66 (0 when absent).
	MaxCmd, MaxResp int
}

// ErrNotOpenPGP is returned when the data does not look like an OpenPGP card's.
var ErrNotOpenPGP = errors.New("not an OpenPGP card application")

// ParseARD parses the value (or the complete TLV) of DO 6E. It is
// tolerant: fields it does not need may be absent or longer than the spec says.
func ParseARD(b []byte) (*ARD, error) {
	if v, ok := tlv.Find(b, 0x6E); ok {
		b = v
	}
	a := &ARD{KeyStatus: map[byte]byte{}}
	aid, ok := tlv.Find(b, 0x4F)
	if !ok || len(aid) < 14 || !bytes.Equal(aid[:5], []byte{0xD2, 0x76, 0x00, 0x01, 0x24}) || aid[5] != 0x01 {
		return nil, fmt.Errorf("%w: missing or bad AID (4F)", ErrNotOpenPGP)
	}
	a.AID = bytes.Clone(aid)
	a.Version = [2]byte{aid[6], aid[7]}
	a.Manufacturer = binary.BigEndian.Uint16(aid[8:10])
	a.Serial = binary.BigEndian.Uint32(aid[10:14])
	if h, ok := tlv.Find(b, 0x5F52); ok {
		a.Historical = bytes.Clone(h)
		a.HistChaining, a.HistExtended, a.HistCapsOK = iso7816.CapsFromHistorical(h)
	}
	if c, ok := tlv.Find(b, 0xC0); ok && len(c) >= 1 {
		a.ExtCaps.Raw = bytes.Clone(c)
		a.ExtCaps.KDF = c[0]&0x01 != 0
		a.ExtCaps.KeyImport = c[0]&0x20 != 0
		if len(c) >= 8 {
			a.ExtCaps.MaxCert = int(binary.BigEndian.Uint16(c[4:6]))
			a.ExtCaps.MaxSpecial = int(binary.BigEndian.Uint16(c[6:8]))
		}
		if len(c) >= 10 {
			a.ExtCaps.MSE = c[9] == 0x01
		}
	}
	for i, tag := range []uint32{0xC1, 0xC2, 0xC3} {
		if v, ok := tlv.Find(b, tag); ok {
			attr, err := ParseAlgoAttr(v)
			if err != nil {
				return nil, fmt.Errorf("%s key attributes (%X): %w", SlotName(i), tag, err)
			}
			a.Attrs[i] = attr
		}
	}
	if v, ok := tlv.Find(b, 0xC4); ok {
		pw, err := ParsePWStatus(v)
		if err != nil {
			return nil, err
		}
		a.PWStatus = pw
	} else {
		return nil, fmt.Errorf("%w: missing PW status (C4)", ErrNotOpenPGP)
	}
	if v, ok := tlv.Find(b, 0xC5); ok {
		for i := 0; i < 3 && (i+1)*20 <= len(v); i++ {
			fp := v[i*20 : (i+1)*20]
			if !allZero(fp) {
				a.Fingerprints[i] = bytes.Clone(fp)
			}
		}
	}
	if v, ok := tlv.Find(b, 0xCD); ok {
		for i := 0; i < 3 && (i+1)*4 <= len(v); i++ {
			a.GenTimes[i] = binary.BigEndian.Uint32(v[i*4:])
		}
	}
	for i, tag := range []uint32{0xD6, 0xD7, 0xD8} {
		if v, ok := tlv.Find(b, tag); ok && len(v) >= 1 {
			a.UIF[i] = UIF{Present: true, Mode: v[0]}
			if len(v) >= 2 {
				a.UIF[i].Feature = v[1]
			}
		}
	}
	if v, ok := tlv.Find(b, 0xDE); ok {
		for i := 0; i+1 < len(v); i += 2 {
			a.KeyStatus[v[i]] = v[i+1]
		}
	}
	if v, ok := tlv.Find(b, 0x7F66); ok {
		// 02 02 <max cmd> 02 02 <max resp>; be tolerant about the framing.
		if items, err := tlv.Parse(v); err == nil && len(items) >= 2 {
			a.MaxCmd = beInt(items[0].Value)
			a.MaxResp = beInt(items[1].Value)
		}
	}
	return a, nil
}

// AIDString is the AID in upper-case hex, as gpg prints it.
func (a *ARD) AIDString() string { return fmt.Sprintf("%X", a.AID) }

// SerialString is the serial number as gpg --card-status prints it: 8 hex
// digits (the YubiKey stores its decimal serial as BCD, so it reads as decimal).
func (a *ARD) SerialString() string { return fmt.Sprintf("%08X", a.Serial) }

// ManufacturerName names the manufacturer ID as GnuPG does (for the common ones).
func (a *ARD) ManufacturerName() string {
	if n, ok := manufacturers[a.Manufacturer]; ok {
		return n
	}
	if a.Manufacturer >= 0xFF00 && a.Manufacturer < 0xFFFF {
		return "unmanaged S/N range"
	}
	return "unknown"
}

var manufacturers = map[uint16]string{
	0x0001: "PPC Card Systems", 0x0002: "Prism", 0x0003: "OpenFortress", 0x0004: "Wewid",
	0x0005: "ZeitControl", 0x0006: "Yubico", 0x0007: "OpenKMS", 0x0008: "LogoEmail",
	0x0009: "Fidesmo", 0x000A: "VivoKey", 0x000B: "Feitian Technologies", 0x000D: "Dangerous Things",
	0x000E: "Excelsecu", 0x000F: "Nitrokey", 0x002A: "Magrathea", 0x0042: "GnuPG e.V.",
	0x1337: "Warsaw Hackerspace", 0x2342: "warpzone", 0x4354: "Confidential Technologies",
	0x5343: "SSE Carte à puce", 0x5443: "TIF-IT e.V.", 0x63AF: "Trustica", 0xBA53: "c-base e.V.",
	0xBD0E: "Paranoidlabs", 0xCA05: "Atos CardOS", 0xF1D0: "CanoKeys", 0xF517: "FSIJ",
	0xF5EC: "F-Secure", 0xFFFF: "test card",
}

func beInt(b []byte) int {
	n := 0
	for _, c := range b {
		n = n<<8 | int(c)
		if n > 1<<24 {
			return 1 << 24
		}
	}
	return n
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
