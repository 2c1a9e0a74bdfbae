package softkeys

import (
	"encoding/binary"

	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// Key flags (RFC 9580 §5.2.3.29).
const (
	flagCertify      = 0x01
	flagSign         = 0x02
	flagEncryptComms = 0x04
	flagEncryptStore = 0x08
	flagAuthenticate = 0x20
)

// selfSig is what describe needs from a self-signature's hashed area.
type selfSig struct {
	created    uint32
	flags      byte
	hasFlags   bool
	primaryUID bool
}

// parseSelfSig reads the signature type and hashed subpackets of a v4 or
// v6 signature packet body; ok is false for other versions or damage.
// Signatures in a secret key file are not verified: whoever can write the
// file holds the secret key anyway, and the flags only say what to list
// and which keys to try.
func parseSelfSig(b []byte) (sigType byte, s selfSig, ok bool) {
	if len(b) < 4 {
		return 0, s, false
	}
	sigType = b[1]
	var area []byte
	switch b[0] {
	case 4:
		if len(b) < 6 {
			return 0, s, false
		}
		n := int(binary.BigEndian.Uint16(b[4:]))
		if len(b) < 6+n {
			return 0, s, false
		}
		area = b[6 : 6+n]
	case 6:
		if len(b) < 8 {
			return 0, s, false
		}
		n := binary.BigEndian.Uint32(b[4:])
		if uint64(len(b)) < 8+uint64(n) {
			return 0, s, false
		}
		area = b[8 : 8+n]
	default:
		return 0, s, false
	}
	for len(area) > 0 {
		var n, hdr int
		switch l := area[0]; {
		case l < 192:
			n, hdr = int(l), 1
		case l < 255:
			if len(area) < 2 {
				return 0, s, false
			}
			n, hdr = (int(l)-192)<<8+int(area[1])+192, 2
		default:
			if len(area) < 5 {
				return 0, s, false
			}
			v := binary.BigEndian.Uint32(area[1:])
			if v > uint32(len(area)) {
				return 0, s, false
			}
			n, hdr = int(v), 5
		}
		if n < 1 || len(area) < hdr+n {
			return 0, s, false
		}
		typ, data := area[hdr]&0x7f, area[hdr+1:hdr+n]
		switch {
		case typ == 2 && len(data) == 4:
			s.created = binary.BigEndian.Uint32(data)
		case typ == 27 && len(data) >= 1:
			s.flags, s.hasFlags = data[0], true
		case typ == 25 && len(data) == 1:
			s.primaryUID = data[0] != 0
		}
		area = area[hdr+n:]
	}
	return sigType, s, true
}

// describe fills in each key's capabilities, primary user ID and whether
// it may decrypt, from the newest self-signature with key flags: user ID
// certifications and direct-key signatures for the primary key, binding
// signatures for subkeys. Keys without key flags get what their algorithm
// allows.
func describe(f *File, pkts []pgppacket.Packet) {
	type info struct {
		sig      selfSig
		have     bool
		uid      string
		uidPrime bool
	}
	byFpr := map[string]*info{}
	var primary, current *info
	var uid string
	for _, p := range pkts {
		switch p.Tag {
		case pgppacket.TagSecretKey, pgppacket.TagPublicKey, pgppacket.TagSecretSubkey, pgppacket.TagPublicSubkey:
			pub, _, err := pgp.ParsePublicPart(p.Body)
			if err != nil {
				current = nil
				if p.Tag == pgppacket.TagSecretKey || p.Tag == pgppacket.TagPublicKey {
					primary = nil
				}
				continue
			}
			current = &info{}
			byFpr[string(pub.Fingerprint)] = current
			if p.Tag == pgppacket.TagSecretKey || p.Tag == pgppacket.TagPublicKey {
				primary = current
			}
		case pgppacket.TagUserID:
			uid = string(p.Body)
		case pgppacket.TagSignature:
			typ, s, ok := parseSelfSig(p.Body)
			if !ok {
				continue
			}
			var target *info
			switch {
			case typ >= 0x10 && typ <= 0x13:
				target = primary
				if target != nil && current == primary && (target.uid == "" || s.primaryUID && !target.uidPrime) {
					target.uid, target.uidPrime = uid, s.primaryUID
				}
			case typ == 0x1F:
				target = primary
			case typ == 0x18:
				if current != primary {
					target = current
				}
			}
			if target != nil && s.hasFlags && (!target.have || s.created >= target.sig.created) {
				target.sig, target.have = s, true
			}
		}
	}
	var primaryUID string
	for _, k := range f.keys {
		in := byFpr[string(k.pub.Fingerprint)]
		if k.tag == pgppacket.TagSecretKey {
			primaryUID = ""
			if in != nil {
				primaryUID = in.uid
			}
		}
		k.uid = primaryUID
		encAlgo := k.pub.Algo.CanEncrypt()
		if in == nil || !in.have {
			k.canDecrypt = encAlgo
			if encAlgo {
				k.caps = append(k.caps, "encrypt")
			}
			if k.pub.Algo.CanSign() {
				k.caps = append(k.caps, "sign")
			}
			continue
		}
		fl := in.sig.flags
		if fl&(flagEncryptComms|flagEncryptStore) != 0 {
			k.caps = append(k.caps, "encrypt")
			k.canDecrypt = encAlgo
		}
		if fl&flagSign != 0 {
			k.caps = append(k.caps, "sign")
		}
		if fl&flagCertify != 0 {
			k.caps = append(k.caps, "certify")
		}
		if fl&flagAuthenticate != 0 {
			k.caps = append(k.caps, "authenticate")
		}
	}
}
