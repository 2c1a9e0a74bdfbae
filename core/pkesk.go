package core

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// PKESK is one public-key encrypted session key packet (tag 1), kept as its
// raw body so that it can be sent to the daemon, parsed again by go-crypto,
// or taken apart by a card backend.
type PKESK struct {
	Version     int                       // 3 or 6
	KeyID       uint64                    // 0 for an anonymous (wildcard) recipient
	KeyVersion  int                       // v6 PKESK only: 4 or 6, 0 when anonymous
	Fingerprint []byte                    // v6 PKESK only; nil when anonymous
	Algo        packet.PublicKeyAlgorithm // the recipient's public-key algorithm
	Body        []byte                    // the packet body, without the packet header
}

// ParsePKESK parses the body of a PKESK packet.
func ParsePKESK(body []byte) (*PKESK, error) {
	ek, err := parseEncryptedKey(body)
	if err != nil {
		return nil, err
	}
	return &PKESK{
		Version:     ek.Version,
		KeyID:       ek.KeyId,
		KeyVersion:  ek.KeyVersion,
		Fingerprint: ek.KeyFingerprint,
		Algo:        ek.Algo,
		Body:        bytes.Clone(body),
	}, nil
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

// Packet parses the body again into a fresh go-crypto EncryptedKey, which a
// soft key can pass to EncryptedKey.Decrypt.
func (p *PKESK) Packet() (*packet.EncryptedKey, error) {
	return parseEncryptedKey(p.Body)
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

func parseEncryptedKey(body []byte) (*packet.EncryptedKey, error) {
	pk := &PKESK{Body: body}
	pkt, err := packet.Read(bytes.NewReader(pk.Serialize()))
	if err != nil {
		return nil, fmt.Errorf("malformed PKESK packet: %w", err)
	}
	ek, ok := pkt.(*packet.EncryptedKey)
	if !ok {
		return nil, fmt.Errorf("malformed PKESK packet")
	}
	return ek, nil
}
