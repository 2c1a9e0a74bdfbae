package hostile

import (
	"bytes"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// goKey converts a key to go-crypto's type, for core.Encrypt; nil if
// go-crypto cannot read it.
func goKey(pk *pgp.PublicKey) *packet.PublicKey {
	p, err := packet.Read(bytes.NewReader(pk.AppendPacket(nil, pgp.TagPublicSubkey)))
	if err != nil {
		return nil
	}
	k, _ := p.(*packet.PublicKey)
	return k
}
