package softkeys

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// errCorrupt is a secret key that decrypted and authenticated but holds
// invalid key material.
var errCorrupt = errors.New("the secret key material is damaged (export the key again)")

// deriveCache remembers keys derived by one UnlockAll call, so that keys
// sharing an S2K specifier (same salt) are derived once.
type deriveCache struct {
	keys map[string][]byte
}

func (c *deriveCache) wipe() {
	if c == nil {
		return
	}
	for _, v := range c.keys {
		core.Wipe(v)
	}
	c.keys = nil
}

// deriveID names what a derivation of k depends on besides the secret: the
// S2K specifier and the key size.
func (k *Key) deriveID() string {
	return fmt.Sprintf("%+v/%x/%d", *k.prot.s2k, k.prot.s2k.Salt, k.prot.cipher.KeySize())
}

// runS2K derives k's key-encryption key from secret into a new buffer of
// the cipher's key size, counting the derivation.
func (k *Key) runS2K(secret []byte) ([]byte, error) {
	out := make([]byte, k.prot.cipher.KeySize())
	derivations.Add(1)
	return out, k.prot.s2k.Derive(out, secret)
}

// derive runs the S2K of p into a new buffer of the cipher's key size, or
// takes the key Prederive derived from the same secret.
func (k *Key) derive(secret []byte, cache *deriveCache) ([]byte, error) {
	id := k.deriveID()
	if cache != nil {
		if v, ok := cache.keys[id]; ok {
			return bytes.Clone(v), nil
		}
	}
	out, err, ok := k.takePrederived(secret, id)
	if !ok {
		out, err = k.runS2K(secret)
	}
	if err != nil {
		core.Wipe(out)
		return nil, err
	}
	if cache != nil {
		if cache.keys == nil {
			cache.keys = map[string][]byte{}
		}
		cache.keys[id] = bytes.Clone(out)
	}
	return out, nil
}

// derivations counts S2K runs, so that tests can check the cache.
var derivations atomic.Int64

// decryptSecret derives the key-encryption key from the passphrase,
// decrypts and authenticates the secret material, parses it and checks that
// it belongs to the public key.
func (k *Key) decryptSecret(secret []byte, cache *deriveCache) (*secretKey, error) {
	if k.prot.cipher.KeySize() == 0 {
		return nil, fmt.Errorf("unsupported cipher %d protecting the secret key", k.prot.cipher)
	}
	dk, err := k.derive(secret, cache)
	if err != nil {
		return nil, err
	}
	defer core.Wipe(dk)
	material, err := k.openMaterial(dk)
	if err != nil {
		return nil, err
	}
	defer core.Wipe(material[:cap(material)])
	priv, err := parseSecret(k.pub, material)
	if errors.Is(err, errCorrupt) && k.prot.usage == 255 {
		// The two-byte checksum of usage 255 lets about one wrong
		// passphrase in 65536 through; its material then fails to parse.
		return nil, core.ErrBadSecret
	}
	return priv, err
}

// openMaterial decrypts and authenticates the secret material.
func (k *Key) openMaterial(dk []byte) ([]byte, error) {
	p := &k.prot
	switch p.usage {
	case 253:
		info := []byte{0xC0 | byte(k.tag), byte(k.pub.Version), byte(p.cipher), byte(p.aead)}
		kek, err := hkdf.Key(sha256.New, dk, nil, string(info), len(dk))
		if err != nil {
			return nil, err
		}
		defer core.Wipe(kek)
		if !p.cipher.IsAES() {
			return nil, fmt.Errorf("unsupported cipher %s for AEAD secret key protection", p.cipher)
		}
		block, err := aes.NewCipher(kek)
		if err != nil {
			return nil, err
		}
		aead, err := p.aead.New(block)
		if err != nil {
			return nil, err
		}
		ad := make([]byte, 0, 1+k.pubLen)
		ad = append(ad, 0xC0|byte(k.tag))
		ad = append(ad, k.body[:k.pubLen]...)
		out, err := aead.Open(nil, p.iv, p.data, ad)
		if err != nil {
			return nil, core.ErrBadSecret
		}
		return out, nil
	case 254, 255:
		block, err := p.cipher.NewBlock(dk)
		if err != nil {
			return nil, err
		}
		out := make([]byte, len(p.data))
		cipher.NewCFBDecrypter(block, p.iv).XORKeyStream(out, p.data) //nolint:staticcheck // OpenPGP mandates CFB
		if p.usage == 254 {
			if len(out) < sha1.Size {
				core.Wipe(out)
				return nil, errCorrupt
			}
			n := len(out) - sha1.Size
			sum := sha1.Sum(out[:n])
			if subtle.ConstantTimeCompare(sum[:], out[n:]) != 1 {
				core.Wipe(out)
				return nil, core.ErrBadSecret
			}
			return out[:n], nil
		}
		if len(out) < 2 {
			core.Wipe(out)
			return nil, errCorrupt
		}
		n := len(out) - 2
		if binary.BigEndian.Uint16(out[n:]) != pgp.Checksum(out[:n]) {
			core.Wipe(out)
			return nil, core.ErrBadSecret
		}
		return out[:n], nil
	}
	return nil, fmt.Errorf("unsupported secret key protection (usage %d)", p.usage)
}

// parseClear parses the secret material of an unprotected key packet body
// (usage 0): the material, followed by a two-octet checksum in v4 keys.
func (k *Key) parseClear(body []byte) (*secretKey, error) {
	b := body[k.pubLen:]
	if len(b) < 1 || b[0] != 0 {
		return nil, errors.New("not a clear secret key packet")
	}
	b = b[1:]
	if k.pub.Version != 6 {
		if len(b) < 2 {
			return nil, errCorrupt
		}
		if binary.BigEndian.Uint16(b[len(b)-2:]) != pgp.Checksum(b[:len(b)-2]) {
			return nil, errors.New("the secret key checksum does not match: the file is damaged (export the key again)")
		}
		b = b[:len(b)-2]
	}
	return parseSecret(k.pub, b)
}

// UnlockAll unlocks every passphrase-protected key of the file that is still
// locked, deriving each distinct S2K key only once. It stops at the first
// error.
func (f *File) UnlockAll(ctx context.Context, secret []byte) error {
	cache := &deriveCache{}
	defer cache.wipe()
	for _, k := range f.keys {
		if k.prot.stub != 0 || k.LockKind() == core.LockNone {
			continue
		}
		if err := k.unlock(ctx, secret, cache); err != nil {
			return err
		}
	}
	return nil
}
