package pgp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// Packet tags of an encrypted message (RFC 9580 §5).
const (
	TagPKESK   = 1  // public-key encrypted session key
	TagLiteral = 11 // literal data
	TagSEIPD   = 18 // symmetrically encrypted and integrity protected data
	TagMDC     = 19 // modification detection code (inside SEIPDv1 only)
)

// SEIPDv2ChunkSize is the chunk size octet of the SEIPDv2 packets keyunlock
// writes: chunks of 1<<(12+6) = 256 KiB, the size go-crypto and sq use.
const SEIPDv2ChunkSize = 12

// AppendLiteral appends a binary literal data packet (RFC 9580 §5.9) with
// no file name and a zero date holding data.
func AppendLiteral(dst, data []byte) []byte {
	body := make([]byte, 0, 6+len(data))
	body = append(body, 'b', 0, 0, 0, 0, 0)
	body = append(body, data...)
	dst = AppendPacket(dst, TagLiteral, body)
	clear(body)
	return dst
}

// aesBlock returns the AES block cipher of c, which must be one of the
// AES key sizes, with key.
func aesBlock(c CipherFunction, key []byte) (cipher.Block, error) {
	if !c.IsAES() {
		return nil, fmt.Errorf("cannot encrypt with %s: keyunlock encrypts with AES only", c)
	}
	if len(key) != c.KeySize() {
		return nil, fmt.Errorf("%s session key of %d bytes (want %d)", c, len(key), c.KeySize())
	}
	return aes.NewCipher(key)
}

// AppendSEIPDv1 appends a version 1 SEIPD packet (RFC 9580 §5.13.1)
// holding the packets in inner, encrypted with cipher c and the session
// key: a random block and its last two octets repeated, inner and an MDC
// packet (SHA-1 over everything before its hash), all in CFB mode with a
// zero IV.
func AppendSEIPDv1(dst []byte, rand io.Reader, c CipherFunction, key, inner []byte) ([]byte, error) {
	block, err := aesBlock(c, key)
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	plain := make([]byte, 0, bs+2+len(inner)+2+sha1.Size)
	defer func() { clear(plain[:cap(plain)]) }()
	plain = plain[:bs]
	if _, err := io.ReadFull(rand, plain); err != nil {
		return nil, err
	}
	plain = append(plain, plain[bs-2], plain[bs-1])
	plain = append(plain, inner...)
	plain = append(plain, 0xC0|TagMDC, sha1.Size)
	mdc := sha1.Sum(plain)
	plain = append(plain, mdc[:]...)

	body := make([]byte, 1+len(plain))
	body[0] = 1
	cipher.NewCFBEncrypter(block, make([]byte, bs)).XORKeyStream(body[1:], plain)
	return AppendPacket(dst, TagSEIPD, body), nil
}

// AppendSEIPDv2 appends a version 2 SEIPD packet (RFC 9580 §5.13.2)
// holding inner, encrypted with cipher c in OCB mode. The message key and
// nonce prefix come from HKDF-SHA-256 over the session key with a random
// salt; each chunk is sealed with the chunk index as the nonce's last 8
// octets, and a final empty chunk authenticates the total length.
func AppendSEIPDv2(dst []byte, rand io.Reader, c CipherFunction, key, inner []byte) ([]byte, error) {
	if _, err := aesBlock(c, key); err != nil {
		return nil, err
	}
	const mode = AEADModeOCB
	hdr := []byte{0xC0 | TagSEIPD, 2, byte(c), byte(mode), SEIPDv2ChunkSize}
	salt := make([]byte, 32)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return nil, err
	}
	nonceSize := mode.NonceSize()
	derived := make([]byte, c.KeySize()+nonceSize-8)
	defer clear(derived)
	if _, err := io.ReadFull(hkdf.New(sha256.New, key, salt, hdr), derived); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(derived[:c.KeySize()])
	if err != nil {
		return nil, err
	}
	aead, err := mode.New(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceSize)
	copy(nonce, derived[c.KeySize():])
	index := nonce[nonceSize-8:]

	chunk := 1 << (SEIPDv2ChunkSize + 6)
	chunks := (len(inner) + chunk - 1) / chunk
	if chunks == 0 {
		chunks = 1 // an empty message still has one (empty) chunk
	}
	tag := aead.Overhead()
	body := make([]byte, 0, 4+len(salt)+len(inner)+(chunks+1)*tag)
	body = append(body, hdr[1:]...)
	body = append(body, salt...)
	for i := 0; i < chunks; i++ {
		binary.BigEndian.PutUint64(index, uint64(i))
		part := inner[min(i*chunk, len(inner)):min((i+1)*chunk, len(inner))]
		body = aead.Seal(body, nonce, part, hdr)
	}
	binary.BigEndian.PutUint64(index, uint64(chunks))
	final := binary.BigEndian.AppendUint64(append([]byte{}, hdr...), uint64(len(inner)))
	body = aead.Seal(body, nonce, nil, final)
	return AppendPacket(dst, TagSEIPD, body), nil
}
