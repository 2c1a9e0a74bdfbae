package softkeys

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/s2k"
)

// MaxKeyBits bounds the size of RSA, DSA and ElGamal keys.
const MaxKeyBits = 8192

// Key is one secret key or subkey of a key file. It implements core.Key and
// core.KeyDescriber. It is safe for concurrent use.
type Key struct {
	file    *File
	tag     int    // pgppacket.TagSecretKey or TagSecretSubkey
	body    []byte // the raw secret key packet body (secret material still encrypted, or clear for LockNone)
	pubLen  int    // length of the public key fields at the start of body
	pub     *pgp.PublicKey
	prot    protection
	primary []byte // primary key fingerprint, for subkeys
	uid     string
	caps    []string

	canDecrypt bool

	mu   sync.RWMutex // guards priv; DecryptPKESK holds it shared while it uses priv
	priv *secretKey   // nil while locked

	preMu sync.Mutex  // guards pre and its fields
	pre   *prederived // a derivation started by Prederive, until Unlock takes it
}

// protection is the parsed secret-key protection of a key packet
// (RFC 9580 §5.5.3): the S2K usage octet and what follows it.
type protection struct {
	usage  byte // 0 clear, 253 AEAD, 254 CFB+SHA-1, 255 CFB+checksum
	cipher pgp.CipherFunction
	aead   pgp.AEADMode
	s2k    *s2k.Params // nil when clear
	iv     []byte
	data   []byte // the encrypted (or, for usage 0, clear) secret material
	stub   int    // s2k.GNUDummy or s2k.GNUDivertToCard for GnuPG stubs, else 0
	serial []byte // divert-to-card: the card's AID
}

func newKey(f *File, tag int, raw []byte) (*Key, error) {
	body := append([]byte(nil), raw...)
	pub, n, err := pgp.ParsePublicPart(body)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the public key fields: %w", err)
	}
	switch pub.Algo {
	case pgp.RSA, pgp.RSAEncryptOnly, pgp.RSASignOnly, pgp.DSA, pgp.ElGamal:
		if bits := pub.BitLength(); bits > MaxKeyBits {
			return nil, fmt.Errorf("key %X: %d-bit %s keys are not supported (at most %d bits)", pub.Fingerprint, bits, core.AlgorithmName(pub), MaxKeyBits)
		}
	}
	k := &Key{file: f, tag: tag, body: body, pubLen: n, pub: pub}
	if err := k.prot.parse(pub.Version, body[n:]); err != nil {
		core.Wipe(k.body)
		return nil, fmt.Errorf("key %X: %v", pub.Fingerprint, err)
	}
	return k, nil
}

func (p *protection) parse(version int, b []byte) error {
	if len(b) < 1 {
		return errors.New("truncated secret key packet")
	}
	p.usage = b[0]
	i := 1
	if p.usage == 0 {
		p.data = b[1:]
		return nil
	}
	if p.usage < 253 {
		return fmt.Errorf("legacy secret key protection (usage %d) is not supported: re-export the key with a current GnuPG", p.usage)
	}
	trunc := errors.New("truncated secret key protection fields")
	v6 := version == 6
	if v6 {
		if p.usage == 255 {
			return errors.New("v6 key with the forbidden checksum-only protection (usage 255)")
		}
		i++ // count of the following fields
	}
	if len(b) < i+1 {
		return trunc
	}
	p.cipher = pgp.CipherFunction(b[i])
	i++
	if p.usage == 253 {
		if len(b) < i+1 {
			return trunc
		}
		p.aead = pgp.AEADMode(b[i])
		i++
	}
	s2kLen := -1
	if v6 {
		if len(b) < i+1 {
			return trunc
		}
		s2kLen = int(b[i])
		i++
	}
	params, n, err := s2k.Parse(b[i:])
	if err != nil {
		return err
	}
	if params.Mode == s2k.GNU {
		p.stub, p.serial = params.GNUMode, params.Serial
		return nil
	}
	if s2kLen >= 0 && s2kLen != n {
		return fmt.Errorf("S2K specifier length %d does not match its type (%d bytes)", s2kLen, n)
	}
	if err := params.Check(); err != nil {
		return err
	}
	if v6 && params.Mode == s2k.Simple {
		return errors.New("v6 key with the forbidden simple S2K")
	}
	p.s2k = params
	i += n
	ivLen := 0
	switch {
	case p.usage == 253:
		ivLen = p.aead.NonceSize()
		if ivLen == 0 {
			return fmt.Errorf("unsupported AEAD mode %d protecting the secret key", p.aead)
		}
	default:
		ivLen = p.cipher.BlockSize()
		if ivLen == 0 {
			return fmt.Errorf("unsupported cipher %d protecting the secret key", p.cipher)
		}
	}
	if len(b) < i+ivLen {
		return trunc
	}
	if v6 && int(b[1]) != i+ivLen-2 {
		return fmt.Errorf("malformed v6 secret key: the S2K parameter count says %d bytes, the fields take %d", b[1], i+ivLen-2)
	}
	p.iv = b[i : i+ivLen]
	p.data = b[i+ivLen:]
	if params.Mode == s2k.Argon2 && p.usage != 253 {
		return errors.New("Argon2 S2K without AEAD protection is not allowed")
	}
	return nil
}

// Fingerprint returns the key's fingerprint.
func (k *Key) Fingerprint() []byte { return k.pub.Fingerprint }

// KeyID returns the key's ID.
func (k *Key) KeyID() uint64 { return k.pub.KeyID }

// PublicKey returns the public part of the key.
func (k *Key) PublicKey() *pgp.PublicKey { return k.pub }

// Source says which file holds the key.
func (k *Key) Source() string { return "file " + k.file.path }

// CanDecrypt reports whether the key is flagged for encryption and has an
// encryption algorithm. Stubs can decrypt too, but only on their card.
func (k *Key) CanDecrypt() bool { return k.checked().canDecrypt }

// checked checks the file's self-signatures unless that was done already
// (see describe) and returns k, whose canDecrypt, caps and uid may then be
// read.
func (k *Key) checked() *Key {
	f := k.file
	f.describeOnce.Do(func() {
		describe(f, f.certs)
		f.certs = nil
	})
	return k
}

// Capabilities lists the key's capabilities from its verified key flags.
func (k *Key) Capabilities() []string { return k.checked().caps }

// Describe fills in the capabilities, primary fingerprint and user ID (core.KeyDescriber).
func (k *Key) Describe(info *core.KeyInfo) {
	k.checked()
	info.Capabilities = append([]string(nil), k.caps...)
	if k.primary != nil {
		info.PrimaryFpr = fmt.Sprintf("%X", k.primary)
	}
	info.UserID = k.uid
}

// OnCard reports whether the file holds only a gnu-divert-to-card stub for
// this key, and if so the card's serial number (AID) in hex.
func (k *Key) OnCard() (bool, string) {
	if k.prot.stub == s2k.GNUDivertToCard {
		return true, strings.ToUpper(hex.EncodeToString(k.prot.serial))
	}
	return false, ""
}

// Available returns nil unless the file holds only a GnuPG stub for the key.
func (k *Key) Available(ctx context.Context) error {
	switch k.prot.stub {
	case s2k.GNUDivertToCard:
		return fmt.Errorf("key is on a card, serial %s: insert that card (this file holds only a stub)", cardSerial(k.prot.serial))
	case s2k.GNUDummy:
		return errors.New("the secret key is not in this file (gnu-dummy stub); use the file or card that holds it")
	}
	return nil
}

// cardSerial formats an OpenPGP card AID as gpg shows it: manufacturer and
// serial number ("0006:12345678"), with the full AID in parentheses.
func cardSerial(aid []byte) string {
	if len(aid) == 16 && hex.EncodeToString(aid[:6]) == "d27600012401" {
		return fmt.Sprintf("%X:%X (%X)", aid[8:10], aid[10:14], aid)
	}
	if len(aid) == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%X", aid)
}

// LockKind is LockPassword for passphrase-protected keys, else LockNone.
// A divert-to-card stub reports LockPIN, since the card holding the key
// wants its PIN, but it is never available here.
func (k *Key) LockKind() core.LockKind {
	switch {
	case k.prot.stub == s2k.GNUDivertToCard:
		return core.LockPIN
	case k.prot.usage != 0 && k.prot.stub == 0:
		return core.LockPassword
	}
	return core.LockNone
}

// Locked reports whether Unlock is needed before DecryptPKESK.
func (k *Key) Locked() bool {
	if k.LockKind() == core.LockNone {
		return false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.priv == nil
}

// TriesLeft is -1: passphrases have no retry counter.
func (k *Key) TriesLeft(ctx context.Context) int { return -1 }

// Unlock decrypts this key's secret material with the passphrase. Other keys
// of the file stay locked. A wrong passphrase returns an error wrapping
// core.ErrBadSecret.
func (k *Key) Unlock(ctx context.Context, secret []byte) error {
	return k.unlock(ctx, secret, nil)
}

func (k *Key) unlock(ctx context.Context, secret []byte, cache *deriveCache) error {
	if err := k.Available(ctx); err != nil {
		return fmt.Errorf("key %X (%s): %w", k.pub.Fingerprint, k.Source(), err)
	}
	if k.LockKind() == core.LockNone {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.priv != nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	priv, err := k.decryptSecret(secret, cache)
	if err != nil {
		return fmt.Errorf("key %X (%s): %w", k.pub.Fingerprint, k.Source(), err)
	}
	k.priv = priv
	return nil
}

// Lock drops the decrypted key and zeroes its secret material.
func (k *Key) Lock() {
	k.dropPrederived()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.priv != nil {
		k.priv.wipe()
		k.priv = nil
	}
}

// withPrivateKey runs f with the usable private key, holding the key's lock
// shared so that Lock cannot wipe it meanwhile. An unprotected key is parsed
// on first use (and dropped again by Lock).
func (k *Key) withPrivateKey(f func(*secretKey) error) error {
	if err := k.Available(context.Background()); err != nil {
		return err
	}
	for {
		k.mu.RLock()
		if k.priv != nil {
			defer k.mu.RUnlock()
			return f(k.priv)
		}
		k.mu.RUnlock()
		if k.LockKind() != core.LockNone {
			return errors.New("key is locked: unlock it with its passphrase first")
		}
		k.mu.Lock()
		if k.priv == nil {
			priv, err := k.parseClear(k.body)
			if err != nil {
				k.mu.Unlock()
				return err
			}
			k.priv = priv
		}
		k.mu.Unlock()
	}
}

// DecryptPKESK recovers the session key from a PKESK addressed to this key.
func (k *Key) DecryptPKESK(ctx context.Context, p *core.PKESK) (*core.SessionKey, error) {
	if !k.checked().canDecrypt {
		return nil, fmt.Errorf("key %X (%s) is not an encryption key", k.pub.Fingerprint, k.Source())
	}
	var sk *core.SessionKey
	var decErr error
	err := k.withPrivateKey(func(priv *secretKey) error {
		sk, decErr = core.DecryptPKESKRaw(ctx, p, k.pub, priv)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("key %X (%s): %w", k.pub.Fingerprint, k.Source(), err)
	}
	if decErr != nil {
		return nil, fmt.Errorf("key %X (%s) cannot decrypt the session key for %s: %w", k.pub.Fingerprint, k.Source(), p.Recipient(), decErr)
	}
	return sk, nil
}
