package softkeys

import (
	"bytes"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// readMessage returns the binary form of a fixture message.
func readMessage(t testing.TB, m fixtures.Message) []byte {
	t.Helper()
	data := fixtures.ReadFile(t, m.File)
	if m.Armored {
		blk, err := armor.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", m.File, err)
		}
		data, err = io.ReadAll(blk.Body)
		if err != nil {
			t.Fatalf("%s: %v", m.File, err)
		}
	}
	return data
}

// pkesks returns the PKESK packets at the start of a binary message.
func pkesks(t testing.TB, msg []byte) []*core.PKESK {
	t.Helper()
	var out []*core.PKESK
	for len(msg) > 0 {
		tag, body, rest, err := pgppacket.Next(msg)
		if err != nil || tag != 1 {
			break
		}
		p, err := core.ParsePKESK(body)
		if err != nil {
			t.Fatalf("PKESK: %v", err)
		}
		out = append(out, p)
		msg = rest
	}
	if len(out) == 0 {
		t.Fatal("message has no PKESK")
	}
	return out
}

// decryptData decrypts the message's data packet with the session key
// through go-crypto, checking its integrity, and returns the literal data.
func decryptData(t testing.TB, msg []byte, sk *core.SessionKey) []byte {
	t.Helper()
	pr := packet.NewReader(bytes.NewReader(msg))
	for {
		p, err := pr.Next()
		if err != nil {
			t.Fatalf("reading message: %v", err)
		}
		se, ok := p.(*packet.SymmetricallyEncrypted)
		if !ok {
			continue
		}
		rc, err := se.Decrypt(packet.CipherFunction(sk.Cipher), sk.Key)
		if err != nil {
			t.Fatalf("decrypting data: %v", err)
		}
		inner, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("decrypting data (integrity): %v", err)
		}
		if err := rc.Close(); err != nil {
			t.Fatalf("decrypting data (integrity): %v", err)
		}
		return literal(t, inner)
	}
}

func literal(t testing.TB, b []byte) []byte {
	t.Helper()
	p, err := packet.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("inner packet: %v", err)
	}
	switch p := p.(type) {
	case *packet.LiteralData:
		out, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case *packet.Compressed:
		inner, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		return literal(t, inner)
	}
	t.Fatalf("unexpected inner packet %T", p)
	return nil
}
