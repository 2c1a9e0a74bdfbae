package pgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// TagSignature is the packet tag of signatures (RFC 9580 §5.2).
const TagSignature = 2

// Signature types keyunlock reads in certificates (RFC 9580 §5.2.1).
const (
	SigGenericCert    = 0x10 // certification of a user ID, no claim
	SigPersonaCert    = 0x11
	SigCasualCert     = 0x12
	SigPositiveCert   = 0x13 // what gpg and sq write on their own user IDs
	SigSubkeyBinding  = 0x18
	SigPrimaryBinding = 0x19 // back signature by a signing subkey
	SigDirectKey      = 0x1F
	SigKeyRevocation  = 0x20
	SigSubkeyRevoke   = 0x28
	SigCertRevocation = 0x30 // revokes a user ID certification
)

// Key flags (RFC 9580 §5.2.3.29).
const (
	FlagCertify        = 0x01
	FlagSign           = 0x02
	FlagEncryptComms   = 0x04
	FlagEncryptStorage = 0x08
	FlagAuthenticate   = 0x20
)

// Signature is a parsed v4 or v6 signature packet, with the subpackets a
// certificate reader needs decoded. Byte fields alias the packet body.
type Signature struct {
	Version int
	Type    uint8
	Algo    PublicKeyAlgorithm
	Hash    uint8  // hash algorithm number
	Left16  []byte // the first two octets of the digest
	Salt    []byte // v6 only
	// Material is the algorithm-specific signature: MPIs for RSA, DSA,
	// ECDSA and legacy EdDSA, raw octets for Ed25519 and Ed448.
	Material []byte
	// trailer is the hashed part of the packet: version through the end
	// of the hashed subpackets.
	trailer []byte

	Created         uint32 // signature creation time (required)
	SigLifetime     uint32 // seconds after Created; 0 means it does not expire
	KeyLifetime     uint32 // seconds after the key's creation; 0 means never
	HasKeyLifetime  bool
	Flags           uint8 // key flags, first octet
	HasFlags        bool
	PrimaryUserID   bool
	IssuerKeyID     uint64
	IssuerFpr       []byte
	RevocationCode  uint8 // reason for revocation, when given
	HasRevocation   bool
	unknownCritical int // hashed subpacket type marked critical that keyunlock does not know; 0 if none
}

// CreationTime is when the signature was made.
func (s *Signature) CreationTime() time.Time { return time.Unix(int64(s.Created), 0) }

// Expired reports whether the signature itself has expired at now.
func (s *Signature) Expired(now time.Time) bool {
	return s.SigLifetime != 0 && !now.Before(time.Unix(int64(s.Created)+int64(s.SigLifetime), 0))
}

// ParseSignature parses a signature packet body. Version 3 and unknown
// versions are an error, which certificate readers treat as an unusable
// signature rather than a broken file.
func ParseSignature(body []byte) (*Signature, error) {
	if len(body) < 1 {
		return nil, errors.New("empty signature packet")
	}
	s := &Signature{Version: int(body[0])}
	var lenSize int
	switch s.Version {
	case 4:
		lenSize = 2
	case 6:
		lenSize = 4
	default:
		return nil, fmt.Errorf("version %d signatures are not supported", s.Version)
	}
	truncated := errors.New("truncated signature packet")
	b := body
	if len(b) < 4+lenSize {
		return nil, truncated
	}
	s.Type, s.Algo, s.Hash = b[1], PublicKeyAlgorithm(b[2]), b[3]
	area := func(off int) (int, error) {
		if len(b) < off+lenSize {
			return 0, truncated
		}
		var n uint64
		if lenSize == 2 {
			n = uint64(binary.BigEndian.Uint16(b[off:]))
		} else {
			n = uint64(binary.BigEndian.Uint32(b[off:]))
		}
		if n > uint64(len(b)-off-lenSize) {
			return 0, truncated
		}
		return int(n), nil
	}
	hashedLen, err := area(4)
	if err != nil {
		return nil, err
	}
	hashed := b[4+lenSize : 4+lenSize+hashedLen]
	s.trailer = b[:4+lenSize+hashedLen]
	off := 4 + lenSize + hashedLen
	unhashedLen, err := area(off)
	if err != nil {
		return nil, err
	}
	unhashed := b[off+lenSize : off+lenSize+unhashedLen]
	off += lenSize + unhashedLen
	if len(b) < off+2 {
		return nil, truncated
	}
	s.Left16 = b[off : off+2]
	off += 2
	if s.Version == 6 {
		if len(b) < off+1 || len(b) < off+1+int(b[off]) {
			return nil, truncated
		}
		s.Salt = b[off+1 : off+1+int(b[off])]
		off += 1 + int(b[off])
	}
	s.Material = b[off:]
	if err := s.parseSubpackets(hashed, true); err != nil {
		return nil, err
	}
	if err := s.parseSubpackets(unhashed, false); err != nil {
		return nil, err
	}
	if s.Created == 0 {
		return nil, errors.New("signature without a creation time")
	}
	return s, nil
}

// parseSubpackets decodes the subpackets of one area (RFC 9580 §5.2.3.7).
// Only the issuer subpackets are taken from the unhashed area: nothing
// else there is protected by the signature.
func (s *Signature) parseSubpackets(b []byte, hashed bool) error {
	for len(b) > 0 {
		var n, hdr int
		switch c := int(b[0]); {
		case c < 192:
			n, hdr = c, 1
		case c < 255:
			if len(b) < 2 {
				return errors.New("truncated signature subpacket")
			}
			n, hdr = (c-192)<<8+int(b[1])+192, 2
		default:
			if len(b) < 5 {
				return errors.New("truncated signature subpacket")
			}
			l := binary.BigEndian.Uint32(b[1:])
			if l > uint32(len(b)) {
				return errors.New("truncated signature subpacket")
			}
			n, hdr = int(l), 5
		}
		if n < 1 || len(b) < hdr+n {
			return errors.New("truncated signature subpacket")
		}
		typ, critical, data := b[hdr]&0x7f, b[hdr]&0x80 != 0, b[hdr+1:hdr+n]
		b = b[hdr+n:]
		u32 := func() (uint32, bool) {
			if len(data) != 4 {
				return 0, false
			}
			return binary.BigEndian.Uint32(data), true
		}
		ok := true
		switch {
		case typ == 16: // issuer key ID
			if len(data) == 8 {
				s.IssuerKeyID = binary.BigEndian.Uint64(data)
			}
		case typ == 33: // issuer fingerprint: version ‖ fingerprint
			if len(data) > 1 {
				s.IssuerFpr = data[1:]
			}
		case !hashed:
		case typ == 2:
			s.Created, ok = u32()
		case typ == 3:
			s.SigLifetime, ok = u32()
		case typ == 9:
			s.KeyLifetime, ok = u32()
			s.HasKeyLifetime = ok
		case typ == 27:
			if len(data) > 0 {
				s.Flags, s.HasFlags = data[0], true
			} else {
				s.HasFlags = true
			}
		case typ == 25:
			s.PrimaryUserID = len(data) == 1 && data[0] != 0
		case typ == 29:
			if len(data) > 0 {
				s.RevocationCode, s.HasRevocation = data[0], true
			}
		case typ == 4, typ == 5, typ == 6, typ == 7, typ == 11, typ == 12, typ == 20, typ == 21, typ == 22,
			typ == 23, typ == 24, typ == 26, typ == 28, typ == 30, typ == 31, typ == 32, typ == 34, typ == 35,
			typ == 37, typ == 39:
			// Known and irrelevant to choosing encryption keys.
		default:
			if critical && s.unknownCritical == 0 {
				s.unknownCritical = int(typ)
			}
		}
		if !ok {
			return fmt.Errorf("malformed signature subpacket %d", typ)
		}
	}
	return nil
}

// IssuedBy reports whether the signature names pk as its issuer, or names
// no issuer at all (then only verification can tell).
func (s *Signature) IssuedBy(pk *PublicKey) bool {
	if s.IssuerFpr != nil {
		return string(s.IssuerFpr) == string(pk.Fingerprint)
	}
	if s.IssuerKeyID != 0 {
		return s.IssuerKeyID == pk.KeyID
	}
	return true
}
