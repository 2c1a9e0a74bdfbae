package core

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"encoding/binary"
	"testing"

	"github.com/ProtonMail/go-crypto/ocb"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// legacyAEADMessage builds a message with the draft-RFC4880bis AEAD
// Encrypted Data packet (tag 20, OCB, one chunk) as older GnuPG 2.3 and
// OpenPGP.js wrote it: nonce = IV xor chunk index, associated data = tag,
// version, cipher, mode, chunk size byte, chunk index (and, for the final
// tag, the total plaintext length).
func legacyAEADMessage(t testing.TB, pub *packet.PublicKey, inner []byte) []byte {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	var buf bytes.Buffer
	if err := packet.SerializeEncryptedKey(&buf, pub, packet.CipherAES256, key, nil); err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, err := ocb.NewOCB(block)
	if err != nil {
		t.Fatal(err)
	}
	const chunkByte = 6 // 4096-byte chunks
	hdr := []byte{1, byte(packet.CipherAES256), byte(packet.AEADModeOCB), chunkByte}
	iv := make([]byte, 15)
	rand.Read(iv)
	ad := append([]byte{0xD4}, hdr...)
	nonce := func(i uint64) []byte {
		n := bytes.Clone(iv)
		var idx [8]byte
		binary.BigEndian.PutUint64(idx[:], i)
		for j := range 8 {
			n[len(n)-8+j] ^= idx[j]
		}
		return n
	}
	index := func(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }
	body := append(hdr, iv...)
	body = aead.Seal(body, nonce(0), inner, append(bytes.Clone(ad), index(0)...))
	final := append(append(bytes.Clone(ad), index(1)...), index(uint64(len(inner)))...)
	body = aead.Seal(body, nonce(1), nil, final)
	buf.Write(packetHeader(tagAEAD, len(body)))
	buf.Write(body)
	return buf.Bytes()
}

func TestDecryptLegacyAEADPacket(t *testing.T) {
	f := newFixture(t)
	var lit bytes.Buffer
	literal(f.keyfile)(nopCloser{&lit})
	msg := legacyAEADMessage(t, f.pub4[0], lit.Bytes())
	m, err := decrypt(f, msg, DecryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Plaintext, f.keyfile) {
		t.Fatal("wrong plaintext")
	}
	bad := bytes.Clone(msg)
	bad[len(bad)-30] ^= 1
	m, err = decrypt(f, bad, DecryptOptions{})
	wantErr(t, m, err, "message integrity check failed (AEAD)")
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }
