package core

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// PKESK is one public-key encrypted session key packet (tag 1), kept as its
// raw body so that it can be sent to the daemon or taken apart by the
// session-key derivation (DecryptPKESKRaw).
type PKESK struct {
	Version     int                    // 3 or 6
	KeyID       uint64                 // 0 for an anonymous (wildcard) recipient
	KeyVersion  int                    // v6 PKESK only: 4 or 6, 0 when anonymous
	Fingerprint []byte                 // v6 PKESK only; nil when anonymous
	Algo        pgp.PublicKeyAlgorithm // the recipient's public-key algorithm
	Body        []byte                 // the packet body, without the packet header

	// fields are the algorithm-specific fields ParsePKESK found in Body,
	// so that DecryptPKESKRaw need not parse them again; used only while
	// Body is still the slice they were parsed from.
	fields *pkeskFields
}

// ParsePKESK parses the body of a PKESK packet (RFC 9580 §5.1): the
// version, the recipient and the algorithm, and checks that the
// algorithm-specific fields are well formed for the algorithms keyunlock
// decrypts. A PKESK for another algorithm parses; no key will decrypt it.
func ParsePKESK(body []byte) (*PKESK, error) {
	return parsePKESK(body, false)
}

// parsePKESK is ParsePKESK; with owned, the PKESK keeps body itself
// instead of a copy (the caller hands it over).
func parsePKESK(body []byte, owned bool) (*PKESK, error) {
	bad := func(what string) error { return fmt.Errorf("malformed PKESK packet: %s", what) }
	if len(body) < 1 {
		return nil, bad("empty")
	}
	p := &PKESK{Version: int(body[0])}
	b := body[1:]
	switch p.Version {
	case 3:
		if len(b) < 9 {
			return nil, bad("truncated header")
		}
		p.KeyID = binary.BigEndian.Uint64(b)
		b = b[8:]
	case 6:
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, bad("truncated header")
		}
		n := int(b[0])
		if n > 0 {
			p.KeyVersion = int(b[1])
			switch {
			case p.KeyVersion == 4 && n == 21:
				p.Fingerprint = bytes.Clone(b[2:22])
				p.KeyID = binary.BigEndian.Uint64(p.Fingerprint[12:])
			case p.KeyVersion == 6 && n == 33:
				p.Fingerprint = bytes.Clone(b[2:34])
				p.KeyID = binary.BigEndian.Uint64(p.Fingerprint)
			case p.KeyVersion != 4 && p.KeyVersion != 6:
				return nil, fmt.Errorf("malformed PKESK packet: unsupported recipient key version %d", p.KeyVersion)
			default:
				return nil, bad(fmt.Sprintf("a %d-byte recipient field for a version %d key", n, p.KeyVersion))
			}
		}
		b = b[1+n:]
		if len(b) < 1 {
			return nil, bad("truncated header")
		}
	default:
		return nil, fmt.Errorf("malformed PKESK packet: unsupported PKESK version %d", p.Version)
	}
	p.Algo = pgp.PublicKeyAlgorithm(b[0])
	p.Body = body
	if !owned {
		p.Body = bytes.Clone(body)
	}
	f, err := parsePKESKFields(p)
	if err != nil && p.Algo.CanEncrypt() {
		return nil, err
	}
	p.fields = f
	return p, nil
}

// Anonymous reports whether the PKESK hides its recipient (key ID 0), in
// which case every decryption-capable key has to be tried.
func (p *PKESK) Anonymous() bool {
	return p.KeyID == 0 && len(p.Fingerprint) == 0
}

// Matches reports whether the PKESK is addressed to the key with the given
// fingerprint and key ID. Anonymous PKESKs match every key.
func (p *PKESK) Matches(fpr []byte, keyID uint64) bool {
	if p.Anonymous() {
		return true
	}
	if len(p.Fingerprint) > 0 {
		return bytes.Equal(p.Fingerprint, fpr)
	}
	return p.KeyID == keyID
}

// Recipient names the recipient as users see it: the fingerprint when the
// packet has one, else the key ID, else "anonymous recipient".
func (p *PKESK) Recipient() string {
	switch {
	case len(p.Fingerprint) > 0:
		return fmt.Sprintf("%X", p.Fingerprint)
	case p.KeyID != 0:
		return fmt.Sprintf("%016X", p.KeyID)
	}
	return "anonymous recipient"
}

// Serialize writes the PKESK as a complete packet (new-format header).
func (p *PKESK) Serialize() []byte {
	var hdr []byte
	n := len(p.Body)
	switch {
	case n < 192:
		hdr = []byte{0xC1, byte(n)}
	case n < 8384:
		n -= 192
		hdr = []byte{0xC1, byte(n>>8) + 192, byte(n)}
	default:
		hdr = []byte{0xC1, 0xFF, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hdr[2:], uint32(n))
	}
	return append(hdr, p.Body...)
}
