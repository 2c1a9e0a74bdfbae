package core

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// errTagMismatch is returned inside this file when an MDC or an AEAD tag
// does not verify; decryptData turns it into ErrIntegrity.
var errTagMismatch = errors.New("authentication failed")

// newBlock returns the block cipher c keyed with the session key.
func newBlock(c pgp.CipherFunction, key []byte) (cipher.Block, error) {
	if n := c.KeySize(); n != 0 && len(key) != n {
		return nil, fmt.Errorf("the session key has %d bytes, %s needs %d", len(key), c, n)
	}
	return c.NewBlock(key)
}

// decryptSEIPDv1 decrypts a version 1 SEIPD body (after the version octet):
// CFB with a zero IV over a random prefix, the data and an MDC packet
// (D3 14 ‖ SHA-1 of prefix, data and D3 14), RFC 9580 §5.13.1.
func decryptSEIPDv1(data []byte, sk SessionKey) ([]byte, error) {
	block, err := newBlock(sk.Cipher, sk.Key)
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	if len(data) < bs+2 {
		return nil, errors.New("unexpected EOF: the encrypted data is shorter than its prefix")
	}
	out := make([]byte, len(data))
	cipher.NewCFBDecrypter(block, make([]byte, bs)).XORKeyStream(out, data) //nolint:staticcheck // OpenPGP mandates CFB
	if len(out) < bs+2+22 {
		Wipe(out)
		return nil, errTagMismatch
	}
	n := len(out) - 20
	sum := sha1.Sum(out[:n])
	ok := subtle.ConstantTimeCompare(sum[:], out[n:]) & subtle.ConstantTimeByteEq(out[n-2], 0xD3) & subtle.ConstantTimeByteEq(out[n-1], 0x14)
	if ok != 1 {
		Wipe(out)
		return nil, errTagMismatch
	}
	inner := out[bs+2 : n-2]
	clear(out[:bs+2])
	clear(out[n-2:])
	return inner, nil
}

// aeadChunks opens the chunks of an AEAD-encrypted body and checks the
// final tag. nonce is the base nonce, whose last 8 bytes are XORed with the
// chunk index; ad returns the associated data for a chunk index, and for
// the final tag (final=true) with the total plaintext length appended.
func aeadChunks(aead cipher.AEAD, nonce []byte, chunkSize int, data []byte, ad func(index uint64, final bool, total uint64) []byte) ([]byte, error) {
	tag := aead.Overhead()
	if len(data) < tag {
		return nil, errTagMismatch
	}
	body, final := data[:len(data)-tag], data[len(data)-tag:]
	out := make([]byte, 0, len(body))
	nc := make([]byte, len(nonce))
	setNonce := func(i uint64) {
		copy(nc, nonce)
		var idx [8]byte
		binary.BigEndian.PutUint64(idx[:], i)
		for j := range idx {
			nc[len(nc)-8+j] ^= idx[j]
		}
	}
	var i uint64
	for len(body) > 0 {
		n := min(len(body), chunkSize+tag)
		if n < tag {
			Wipe(out)
			return nil, errTagMismatch
		}
		setNonce(i)
		res, err := aead.Open(out, nc, body[:n], ad(i, false, 0))
		if err != nil {
			Wipe(out[:cap(out)])
			return nil, errTagMismatch
		}
		out = res
		body = body[n:]
		i++
	}
	setNonce(i)
	if _, err := aead.Open(nil, nc, final, ad(i, true, uint64(len(out)))); err != nil {
		Wipe(out)
		return nil, errTagMismatch
	}
	return out, nil
}

// decryptSEIPDv2 decrypts a version 2 SEIPD body (after the version octet),
// RFC 9580 §5.13.2: HKDF-SHA256 derives the message key and nonce from the
// session key and the salt, then the chunks are opened in order.
func decryptSEIPDv2(data []byte, sk SessionKey) ([]byte, error) {
	if len(data) < 3+32 {
		return nil, errors.New("truncated version 2 encrypted data header")
	}
	c, mode, cs := pgp.CipherFunction(data[0]), pgp.AEADMode(data[1]), data[2]
	if !c.IsAES() {
		return nil, fmt.Errorf("unsupported AEAD cipher %d", c)
	}
	if mode.NonceSize() == 0 {
		return nil, fmt.Errorf("unsupported AEAD mode %d", mode)
	}
	if cs > 16 {
		return nil, fmt.Errorf("unsupported AEAD chunk size octet %d", cs)
	}
	if len(sk.Key) != c.KeySize() {
		return nil, fmt.Errorf("the session key has %d bytes, %s needs %d", len(sk.Key), c, c.KeySize())
	}
	salt := data[3:35]
	hdr := []byte{0xC0 | tagSEIPD, 2, byte(c), byte(mode), cs}
	okm, err := hkdf.Key(sha256.New, sk.Key, salt, string(hdr), c.KeySize()+mode.NonceSize()-8)
	if err != nil {
		return nil, err
	}
	defer Wipe(okm)
	block, err := aes.NewCipher(okm[:c.KeySize()])
	if err != nil {
		return nil, err
	}
	aead, err := mode.New(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, mode.NonceSize())
	copy(nonce, okm[c.KeySize():])
	ad := make([]byte, len(hdr), len(hdr)+8)
	copy(ad, hdr)
	return aeadChunks(aead, nonce, 1<<(cs+6), data[35:], func(_ uint64, final bool, total uint64) []byte {
		if final {
			return binary.BigEndian.AppendUint64(ad[:len(hdr)], total)
		}
		return ad[:len(hdr)]
	})
}

// decryptAEADLegacy decrypts the AEAD encrypted data packet (tag 20) of the
// RFC 4880bis drafts that GnuPG still writes for v5 keys: the session key is
// the message key, the nonce is in the packet, and the associated data
// carries the chunk index.
func decryptAEADLegacy(body []byte, sk SessionKey) ([]byte, error) {
	if len(body) < 4 {
		return nil, errors.New("truncated AEAD encrypted data header")
	}
	if body[0] != 1 {
		return nil, fmt.Errorf("unsupported AEAD encrypted data version %d", body[0])
	}
	c, mode, cs := pgp.CipherFunction(body[1]), pgp.AEADMode(body[2]), body[3]
	if mode != pgp.AEADModeEAX && mode != pgp.AEADModeOCB {
		return nil, fmt.Errorf("unsupported AEAD mode %d", mode)
	}
	if c.BlockSize() != 16 {
		return nil, fmt.Errorf("unsupported AEAD cipher %d", c)
	}
	if cs > 16 {
		return nil, fmt.Errorf("unsupported AEAD chunk size octet %d", cs)
	}
	if sk.Cipher != 0 && sk.Cipher != c {
		return nil, fmt.Errorf("the session key is for %s, the data uses %s", sk.Cipher, c)
	}
	n := mode.NonceSize()
	if len(body) < 4+n {
		return nil, errors.New("truncated AEAD encrypted data header")
	}
	block, err := newBlock(c, sk.Key)
	if err != nil {
		return nil, err
	}
	aead, err := mode.New(block)
	if err != nil {
		return nil, err
	}
	hdr := []byte{0xC0 | tagAEAD, 1, byte(c), byte(mode), cs}
	ad := make([]byte, len(hdr), len(hdr)+16)
	copy(ad, hdr)
	return aeadChunks(aead, body[4:4+n], 1<<(cs+6), body[4+n:], func(i uint64, final bool, total uint64) []byte {
		a := binary.BigEndian.AppendUint64(ad[:len(hdr)], i)
		if final {
			a = binary.BigEndian.AppendUint64(a, total)
		}
		return a
	})
}
