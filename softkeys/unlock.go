package softkeys

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"

	"github.com/ProtonMail/go-crypto/eax"
	"github.com/ProtonMail/go-crypto/ocb"
	"github.com/ProtonMail/go-crypto/openpgp/ecdh"
	"github.com/ProtonMail/go-crypto/openpgp/ecdsa"
	"github.com/ProtonMail/go-crypto/openpgp/ed25519"
	"github.com/ProtonMail/go-crypto/openpgp/ed448"
	"github.com/ProtonMail/go-crypto/openpgp/eddsa"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/x25519"
	"github.com/ProtonMail/go-crypto/openpgp/x448"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
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

// derive runs the S2K of p into a new buffer of the cipher's key size.
func (k *Key) derive(secret []byte, cache *deriveCache) ([]byte, error) {
	size := k.prot.cipher.KeySize()
	id := fmt.Sprintf("%+v/%x/%d", *k.prot.s2k, k.prot.s2k.Salt, size)
	if cache != nil {
		if v, ok := cache.keys[id]; ok {
			return bytes.Clone(v), nil
		}
	}
	out := make([]byte, size)
	derivations.Add(1)
	if err := k.prot.s2k.Derive(out, secret); err != nil {
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

// fastPath reports whether this package decrypts the key itself; other
// ciphers go through go-crypto's own (slower) Decrypt.
func (p *protection) fastPath() bool {
	switch p.cipher {
	case packet.CipherAES128, packet.CipherAES192, packet.CipherAES256:
		return true
	}
	return false
}

// decryptSecret turns the protected key packet into a usable private key.
func (k *Key) decryptSecret(secret []byte, cache *deriveCache) (*packet.PrivateKey, error) {
	if !k.prot.fastPath() {
		return k.decryptGoCrypto(secret)
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

	// Rebuild the packet without protection: public fields, usage 0, the
	// clear material and, for v4, its two-octet checksum.
	clearBody := make([]byte, 0, k.pubLen+1+len(material)+2)
	clearBody = append(clearBody, k.body[:k.pubLen]...)
	clearBody = append(clearBody, 0)
	clearBody = append(clearBody, material...)
	if k.pub.Version != 6 {
		var sum uint16
		for _, c := range material {
			sum += uint16(c)
		}
		clearBody = append(clearBody, byte(sum>>8), byte(sum))
	}
	defer core.Wipe(clearBody)
	priv, err := k.parseClear(clearBody)
	if err != nil {
		if k.prot.usage == 255 {
			// The 16-bit checksum lets one wrong passphrase in 65536 through.
			return nil, core.ErrBadSecret
		}
		return nil, errCorrupt
	}
	return priv, nil
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
		block, err := aes.NewCipher(kek)
		if err != nil {
			return nil, err
		}
		var aead cipher.AEAD
		switch p.aead {
		case packet.AEADModeEAX:
			aead, err = eax.NewEAX(block)
		case packet.AEADModeOCB:
			aead, err = ocb.NewOCB(block)
		case packet.AEADModeGCM:
			aead, err = cipher.NewGCM(block)
		default:
			err = fmt.Errorf("unsupported AEAD mode %d", p.aead)
		}
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
		block, err := aes.NewCipher(dk)
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
		var sum uint16
		for _, c := range out[:n] {
			sum += uint16(c)
		}
		if out[n] != byte(sum>>8) || out[n+1] != byte(sum) {
			core.Wipe(out)
			return nil, core.ErrBadSecret
		}
		return out[:n], nil
	}
	return nil, fmt.Errorf("unsupported secret key protection (usage %d)", p.usage)
}

// parseClear parses an unprotected secret key packet body with go-crypto.
func (k *Key) parseClear(body []byte) (*packet.PrivateKey, error) {
	pkt := pgppacket.Append(make([]byte, 0, len(body)+6), k.tag, body)
	defer core.Wipe(pkt)
	p, err := packet.Read(bytes.NewReader(pkt))
	if err != nil {
		return nil, err
	}
	priv, ok := p.(*packet.PrivateKey)
	if !ok || priv.Encrypted {
		return nil, errors.New("not a clear secret key packet")
	}
	return priv, nil
}

// decryptGoCrypto is the fallback for protections the fast path does not
// handle (ciphers other than AES): go-crypto parses and decrypts the packet.
func (k *Key) decryptGoCrypto(secret []byte) (*packet.PrivateKey, error) {
	pkt := pgppacket.Append(nil, k.tag, k.body)
	p, err := packet.Read(bytes.NewReader(pkt))
	if err != nil {
		return nil, fmt.Errorf("cannot parse the secret key: %v", err)
	}
	priv, ok := p.(*packet.PrivateKey)
	if !ok {
		return nil, errors.New("not a secret key packet")
	}
	if err := priv.Decrypt(secret); err != nil {
		return nil, fmt.Errorf("%w (%v)", core.ErrBadSecret, err)
	}
	return priv, nil
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

// wipePrivateKey zeroes the secret fields of a go-crypto private key, as far
// as its types expose them.
func wipePrivateKey(pk *packet.PrivateKey) {
	wipeInt := func(x *big.Int) {
		if x != nil {
			clear(x.Bits())
			x.SetInt64(0)
		}
	}
	switch k := pk.PrivateKey.(type) {
	case *rsa.PrivateKey:
		wipeInt(k.D)
		for _, p := range k.Primes {
			wipeInt(p)
		}
		wipeInt(k.Precomputed.Dp)
		wipeInt(k.Precomputed.Dq)
		wipeInt(k.Precomputed.Qinv)
	case *ecdh.PrivateKey:
		core.Wipe(k.D)
	case *ecdsa.PrivateKey:
		wipeInt(k.D)
	case *eddsa.PrivateKey:
		core.Wipe(k.D)
	case *x25519.PrivateKey:
		core.Wipe(k.Secret)
	case *x448.PrivateKey:
		core.Wipe(k.Secret)
	case *ed25519.PrivateKey:
		core.Wipe(k.Key)
	case *ed448.PrivateKey:
		core.Wipe(k.Key)
	}
	pk.PrivateKey = nil
}
