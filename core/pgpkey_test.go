package core

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// pgpKey converts a go-crypto public key to keyunlock's key type through
// its serialization; it panics on keys go-crypto made that pgp refuses,
// which would be a bug in pgp.
func pgpKey(pk *packet.PublicKey) *pgp.PublicKey {
	if pk == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := pk.Serialize(&buf); err != nil {
		panic(err)
	}
	body, err := packetBody(buf.Bytes())
	if err != nil {
		panic(err)
	}
	k, err := pgp.ParsePublicKey(body)
	if err != nil {
		panic(err)
	}
	return k
}

// packetBody strips a new-format packet header.
func packetBody(p []byte) ([]byte, error) {
	if len(p) < 2 || p[0]&0xC0 != 0xC0 {
		return nil, errors.New("unexpected packet header")
	}
	switch l := p[1]; {
	case l < 192:
		if len(p) >= 2+int(l) {
			return p[2 : 2+int(l)], nil
		}
	case l < 224:
		if len(p) >= 3 {
			n := (int(l)-192)<<8 + int(p[2]) + 192
			if len(p) >= 3+n {
				return p[3 : 3+n], nil
			}
		}
	case l == 255:
		if len(p) >= 6 {
			n := int(binary.BigEndian.Uint32(p[2:6]))
			if len(p) >= 6+n {
				return p[6 : 6+n], nil
			}
		}
	}
	return nil, errors.New("truncated packet")
}

// goEncryptedKey parses a PKESK again with go-crypto.
func goEncryptedKey(p *PKESK) (*packet.EncryptedKey, error) {
	pkt, err := packet.Read(bytes.NewReader(p.Serialize()))
	if err != nil {
		return nil, err
	}
	ek, ok := pkt.(*packet.EncryptedKey)
	if !ok {
		return nil, errors.New("not a PKESK")
	}
	return ek, nil
}
