package openpgp

import (
	"errors"
	"fmt"

	"github.com/keyunlock/keyunlock/card/iso7816"
	"github.com/keyunlock/keyunlock/card/tlv"
)

// AID is the RID+PIX prefix that SELECT uses to pick the OpenPGP application.
var AID = []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01}

// PIN references for VERIFY.
const (
	PW1Sign    = 0x81 // PW1 for PSO:CDS
	PW1Decrypt = 0x82 // PW1 for PSO:DECIPHER and INTERNAL AUTHENTICATE
	PW3        = 0x83 // admin PIN
)

// Errors a caller has to tell apart. They wrap the card's *iso7816.StatusError.
var (
	ErrWrongPIN     = errors.New("wrong PIN")
	ErrPINBlocked   = errors.New("PIN blocked")
	ErrPINTooShort  = errors.New("PIN too short")
	ErrPINTooLong   = errors.New("PIN too long")
	ErrTouchTimeout = errors.New("the card was not touched in time")
	ErrNoKey        = errors.New("no key in the card's slot")
	ErrNotVerified  = errors.New("PIN not verified, or touch missing")
	ErrPINFormat    = errors.New("the card rejected the PIN's format")
)

// Card is an OpenPGP card application reached through an iso7816.Client.
// It is not safe for concurrent use; the caller serialises access (and
// wraps related commands in a PC/SC transaction).
type Card struct {
	c *iso7816.Client
	// ARD is the Application Related Data read by Open or ReadARD.
	ARD *ARD
	// KDF is the KDF-DO read by Open when the card supports it (nil when
	// unsupported or off).
	KDF *KDF
}

// New wraps a transport. caps are the limits known before talking to the
// card (from the ATR and the protocol); Open refines them from the ARD.
func New(t iso7816.Transport, caps iso7816.Caps) *Card {
	return &Card{c: &iso7816.Client{T: t, Caps: caps}}
}

// Caps returns the transport limits in use.
func (c *Card) Caps() iso7816.Caps { return c.c.Caps }

// Open selects the application, reads the ARD, and the KDF-DO when C0 says
// the card has one: 2 APDUs (+1 GET RESPONSE without extended length, +1 for F9).
func (c *Card) Open() error {
	if err := c.Select(); err != nil {
		return err
	}
	if _, err := c.ReadARD(); err != nil {
		return err
	}
	if c.ARD.ExtCaps.KDF {
		k, err := c.ReadKDF()
		if err != nil {
			return err
		}
		c.KDF = k
	}
	return nil
}

// Select sends SELECT by AID `00 A4 04 00 06 D2 76 00 01 24 01` (no Le: the
// YubiKey returns no FCI, and T=0 cards want case 3).
func (c *Card) Select() error {
	_, err := c.c.Do(iso7816.Command{INS: 0xA4, P1: 0x04, Data: AID})
	if err != nil {
		if iso7816.IsSW(err, iso7816.SWNotFound) {
			return fmt.Errorf("%w (SELECT: %v)", ErrNotOpenPGP, err)
		}
		return fmt.Errorf("SELECT OpenPGP application: %w", err)
	}
	return nil
}

// maxNe is the longest answer to ask a GET DATA or GET PUBLIC KEY for: 256
// bytes with short APDUs, else the reader's or card's limit (65536 when
// none is known).
func (c *Card) maxNe() int {
	if !c.c.Caps.ExtendedOK() {
		return 256
	}
	if c.c.Caps.MaxResp > 0 {
		return c.c.Caps.MaxResp
	}
	return 65536
}

// GetData sends GET DATA for a (one- or two-byte) tag and returns the value.
func (c *Card) GetData(tag uint16) ([]byte, error) {
	ne := c.maxNe()
	cmd := iso7816.Command{INS: 0xCA, P1: byte(tag >> 8), P2: byte(tag), Ne: ne}
	out, err := c.c.Do(cmd)
	if ne > 256 && iso7816.IsSW(err, iso7816.SWWrongLength) {
		// The card (or the reader) refused the extended Le: fetch the data
		// with a short Le and GET RESPONSE, and stop asking for more.
		c.c.Caps.Extended = false
		cmd.Ne = 256
		return c.c.Do(cmd)
	}
	return out, err
}

// ReadARD reads and parses DO 6E in one GET DATA (with an extended Le when
// the card allows it, else through 61xx) and refines the transport limits.
func (c *Card) ReadARD() (*ARD, error) {
	b, err := c.GetData(0x6E)
	if err != nil {
		return nil, fmt.Errorf("GET DATA 6E (application related data): %w", err)
	}
	a, err := ParseARD(b)
	if err != nil {
		return nil, err
	}
	c.ARD = a
	caps := &c.c.Caps
	if a.HistCapsOK {
		caps.Chaining = a.HistChaining
		caps.Extended = a.HistExtended
	}
	if a.MaxCmd > 0 && a.MaxResp > 0 {
		caps.Extended = true // 7F66 exists only on cards with extended length
		caps.MaxCmd, caps.MaxResp = a.MaxCmd, a.MaxResp
	}
	return a, nil
}

// ReadPWStatus reads DO C4 alone, for the retry counters right before a VERIFY.
func (c *Card) ReadPWStatus() (PWStatus, error) {
	b, err := c.GetData(0xC4)
	if err != nil {
		return PWStatus{}, fmt.Errorf("GET DATA C4 (PIN retry counters): %w", err)
	}
	v := b
	if inner, ok := tlv.Find(b, 0xC4); ok && len(b) > 7 {
		v = inner
	}
	s, err := ParsePWStatus(v)
	if err != nil {
		return PWStatus{}, err
	}
	if c.ARD != nil {
		c.ARD.PWStatus = s
	}
	return s, nil
}

// ReadKDF reads the KDF-DO F9. A card that answers 6A83 or 6A88 (the
// YubiKey NEO) has no KDF; that and `81 01 00` give nil.
func (c *Card) ReadKDF() (*KDF, error) {
	b, err := c.GetData(0xF9)
	if iso7816.IsSW(err, iso7816.SWRecordNotFound, iso7816.SWRefDataNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("GET DATA F9 (KDF): %w", err)
	}
	return ParseKDF(b)
}
