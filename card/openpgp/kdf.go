package openpgp

import (
	"crypto"
	_ "crypto/sha256" // KDF-DO hashes
	_ "crypto/sha512"
	"fmt"

	"github.com/keyunlock/keyunlock/card/tlv"
	"github.com/keyunlock/keyunlock/internal/s2k"
)

// KDF is the KDF-DO (F9): how the card wants PINs hashed before VERIFY.
type KDF struct {
	Hash    crypto.Hash
	HashID  byte
	Count   int    // iterated-salted S2K byte count (tag 83, 4 bytes)
	SaltPW1 []byte // tag 84, also used for VERIFY 82
	SaltRC  []byte // tag 85
	SaltPW3 []byte // tag 86
}

// ParseKDF decodes DO F9. It returns nil when the KDF is off (`81 01 00`).
func ParseKDF(b []byte) (*KDF, error) {
	if v, ok := tlv.Find(b, 0xF9); ok {
		b = v
	}
	algo, ok := tlv.Find(b, 0x81)
	if !ok || len(algo) != 1 || algo[0] == 0 {
		return nil, nil
	}
	if algo[0] != 0x03 {
		return nil, fmt.Errorf("KDF-DO: unknown algorithm %02X", algo[0])
	}
	k := &KDF{}
	h, ok := tlv.Find(b, 0x82)
	if !ok || len(h) != 1 {
		return nil, fmt.Errorf("KDF-DO: missing hash algorithm (82)")
	}
	k.HashID = h[0]
	switch h[0] {
	case 0x08:
		k.Hash = crypto.SHA256
	case 0x09:
		k.Hash = crypto.SHA384
	case 0x0A:
		k.Hash = crypto.SHA512
	default:
		return nil, fmt.Errorf("KDF-DO: unsupported hash %02X", h[0])
	}
	c, ok := tlv.Find(b, 0x83)
	if !ok || len(c) == 0 || len(c) > 4 {
		return nil, fmt.Errorf("KDF-DO: missing iteration count (83)")
	}
	k.Count = beInt(c)
	if k.Count <= 0 || k.Count > 1<<24 {
		return nil, fmt.Errorf("KDF-DO: iteration count %d out of range", k.Count)
	}
	k.SaltPW1, _ = tlv.Find(b, 0x84)
	k.SaltRC, _ = tlv.Find(b, 0x85)
	k.SaltPW3, _ = tlv.Find(b, 0x86)
	if len(k.SaltPW1) == 0 {
		return nil, fmt.Errorf("KDF-DO: missing PW1 salt (84)")
	}
	return k, nil
}

// HashPIN computes the VERIFY data for ref (81/82 use the PW1 salt, 83 the
// PW3 salt): the RFC 4880 iterated-salted S2K of the PIN with the hash the
// card names in tag 82 (not always SHA-256), output of the hash's size.
func (k *KDF) HashPIN(ref byte, pin []byte) []byte {
	salt := k.SaltPW1
	if ref == PW3 && len(k.SaltPW3) > 0 {
		salt = k.SaltPW3
	}
	out := make([]byte, k.Hash.Size())
	s2k.IteratedKey(out, k.Hash.New, pin, salt, k.Count)
	return out
}
