package card

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/keyunlock/keyunlock/card/openpgp"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

// Key is a decryption key held on a card: the DEC slot, or the AUT slot
// when the card can decrypt with it (MSE). It implements core.Key.
//
// Its public key is read lazily: the certificate given in Options.Certs
// has it; otherwise GET PUBLIC KEY reads it from the card the first time
// something needs it (PublicKey, card status, or an ECDH key whose KDF
// parameters are not the curve's defaults), and it is kept for the card
// session. Decryption itself needs only the algorithm attributes and the
// fingerprint from the application data.
type Key struct {
	dev  *Device
	slot int
	fpr  []byte
	attr openpgp.AlgoAttr
	cert *pgp.Cert // the certificate, when given
	// pub is the public key from the certificate, or read from the card;
	// pubErr says why reading it failed. Both are guarded by dev.mu.
	pub    *pgp.PublicKey
	pubErr error
}

var (
	_                    core.Key           = (*Key)(nil)
	_                    core.KeyDescriber  = (*Key)(nil)
	_                    core.RawDecrypter  = (*Key)(nil)
	_                    core.LazyPublicKey = (*Key)(nil)
	pinTagKey                               = newPINTagKey()
	errUnsupportedCurves                    = map[string]bool{"ed25519": true, "ed448": true}
)

func newPINTagKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}

// buildKeys makes the Keys of the card's decryption-capable slots, with
// their public keys from the certificates given. It sends no APDU.
func (d *Device) buildKeys() {
	slots := []int{openpgp.SlotDec}
	if d.ard.ExtCaps.MSE {
		slots = append(slots, openpgp.SlotAut)
	}
	for _, slot := range slots {
		fpr := d.ard.Fingerprints[slot]
		attr := d.ard.Attrs[slot]
		if fpr == nil || !(attr.IsRSA() || attr.IsECC() && !errUnsupportedCurves[attr.Curve.Name]) {
			continue
		}
		// The AUT slot usually holds a signing key (ECDSA, EdDSA): only an
		// RSA or ECDH key there can decrypt.
		if slot == openpgp.SlotAut && !attr.IsRSA() && attr.Algo != openpgp.AlgoECDH {
			continue
		}
		k := &Key{dev: d, slot: slot, fpr: fpr, attr: attr}
		k.cert, k.pub = findCert(d.opts.Certs, fpr)
		d.keys = append(d.keys, k)
	}
}

// publicKeyLocked returns the key's public key, reading it from the card
// (one GET PUBLIC KEY) the first time. The caller holds dev.mu. A failure
// is remembered, unless the card went away.
func (k *Key) publicKeyLocked() (*pgp.PublicKey, error) {
	d := k.dev
	if k.pub != nil || k.pubErr != nil {
		return k.pub, k.pubErr
	}
	if d.dead != nil {
		return nil, d.dead
	}
	var pub *pgp.PublicKey
	err := d.transact(func() error {
		if err := d.ensureSelected(); err != nil {
			return err
		}
		var err error
		pub, err = publicKeyFromCard(d.card, k.slot)
		return err
	})
	if err != nil {
		if d.dead != nil {
			return nil, d.dead
		}
		k.pubErr = fmt.Errorf("%s key of %s: %w", openpgp.SlotName(k.slot), d.name(), err)
		return nil, k.pubErr
	}
	k.pub = pub
	return pub, nil
}

// loadPublicKey is publicKeyLocked for callers not holding dev.mu.
func (k *Key) loadPublicKey() (*pgp.PublicKey, error) {
	k.dev.mu.Lock()
	defer k.dev.mu.Unlock()
	return k.publicKeyLocked()
}

// cachedPublicKey is the public key if it is known without asking the card.
func (k *Key) cachedPublicKey() *pgp.PublicKey {
	k.dev.mu.Lock()
	defer k.dev.mu.Unlock()
	return k.pub
}

func findCert(certs []*pgp.Cert, fpr []byte) (*pgp.Cert, *pgp.PublicKey) {
	now := time.Now()
	for _, c := range certs {
		if pk := c.FindKey(fpr, now); pk != nil {
			return c, pk
		}
	}
	return nil, nil
}

// Fingerprint implements core.Key: the 20-byte v4 fingerprint from C5.
func (k *Key) Fingerprint() []byte { return k.fpr }

// KeyID implements core.Key.
func (k *Key) KeyID() uint64 { return binary.BigEndian.Uint64(k.fpr[12:20]) }

// PublicKey implements core.Key: from the certificate, or read from the
// card on first use (nil when that fails; card status says why).
func (k *Key) PublicKey() *pgp.PublicKey {
	pub, _ := k.loadPublicKey()
	return pub
}

// PublicKeyAlgorithm implements core.LazyPublicKey, from the card's
// algorithm attributes: RSA or ECDH for the keys offered for decryption.
func (k *Key) PublicKeyAlgorithm() pgp.PublicKeyAlgorithm {
	switch {
	case k.attr.IsRSA():
		return pgp.RSA
	case k.attr.Algo == openpgp.AlgoECDSA:
		return pgp.ECDSA
	case k.attr.Algo == openpgp.AlgoEdDSA:
		return pgp.EdDSALegacy
	}
	return pgp.ECDH
}

// AlgorithmName implements core.LazyPublicKey: "rsa2048", "cv25519", "nistp384"…
func (k *Key) AlgorithmName() string { return k.attr.String() }

// Source implements core.Key: "card MMMM:SERIAL".
func (k *Key) Source() string { return "card " + k.dev.source() }

// Slot is the card slot holding the key (openpgp.SlotDec or SlotAut).
func (k *Key) Slot() int { return k.slot }

// CanDecrypt implements core.Key: an RSA or ECDH key.
func (k *Key) CanDecrypt() bool {
	return k.attr.IsRSA() || k.attr.Algo == openpgp.AlgoECDH
}

// Available implements core.Key: nil while the card answered within the
// last presenceFresh (no message then), or the reader says it is there.
func (k *Key) Available(ctx context.Context) error {
	return k.dev.alive()
}

// LockKind implements core.Key: card keys need PW1.
func (k *Key) LockKind() core.LockKind { return core.LockPIN }

// Locked implements core.Key: true until PW1 (82) is verified in this card session.
func (k *Key) Locked() bool {
	k.dev.mu.Lock()
	defer k.dev.mu.Unlock()
	return !k.dev.state.verified
}

// Describe implements core.KeyDescriber.
func (k *Key) Describe(info *core.KeyInfo) {
	info.Capabilities = []string{"encrypt"}
	if k.slot == openpgp.SlotAut {
		info.Capabilities = append(info.Capabilities, "authenticate")
	}
	if k.cert != nil {
		if !bytes.Equal(k.cert.Primary.Fingerprint, k.fpr) {
			info.PrimaryFpr = fmt.Sprintf("%X", k.cert.Primary.Fingerprint)
		}
		info.UserID = k.cert.PrimaryUserID(time.Now())
	}
}

// TriesLeft implements core.Key: the PW1 retry counter. It comes from the
// application data read when the card was opened, or from GET DATA C4
// when that value is stale (after a VERIFY). It never sends a VERIFY.
func (k *Key) TriesLeft(ctx context.Context) int {
	d := k.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead != nil {
		return -1
	}
	if d.state.tries < 0 {
		err := d.transact(func() error {
			if err := d.ensureSelected(); err != nil {
				return err
			}
			_, err := d.currentTries()
			return err
		})
		if err != nil {
			return -1
		}
	}
	d.state.triesShown = d.state.tries
	return d.state.tries
}

func pinTag(serial string, pin []byte) [32]byte {
	m := hmac.New(sha256.New, pinTagKey)
	m.Write([]byte(serial))
	m.Write([]byte{0})
	m.Write(pin)
	var t [32]byte
	copy(t[:], m.Sum(nil))
	return t
}

// Unlock implements core.Key: VERIFY PW1 (82). Inside one transaction it
// first reads the retry counter (C4, unless it was read within freshTries)
// and refuses when the PIN is blocked,
// or when the counter dropped to 1 since TriesLeft reported it (the
// caller's decision was based on a stale count). A PIN the card rejected
// once is never sent again, and a PIN shorter than 6 is refused locally.
func (k *Key) Unlock(ctx context.Context, secret []byte) error {
	d := k.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead != nil {
		return d.dead
	}
	if err := d.card.CheckPIN(openpgp.PW1Decrypt, secret); err != nil {
		return fmt.Errorf("%w: %s: %v; nothing was sent to the card", core.ErrBadSecret, d.name(), err)
	}
	tag := pinTag(d.ard.AIDString(), secret)
	if d.state.failed[tag] {
		return fmt.Errorf("%w: %s already rejected this PIN; it is not sent again", core.ErrBadSecret, d.name())
	}
	return d.transact(func() error {
		if err := d.ensureSelected(); err != nil {
			return err
		}
		tries, err := d.currentTries()
		if err != nil {
			return err
		}
		switch {
		case tries == 0:
			return fmt.Errorf("%w on %s: unblock it with the admin PIN or the reset code (gpg --card-edit, admin, passwd)", core.ErrPINBlocked, d.name())
		case tries == 1 && d.state.triesShown != 1:
			return fmt.Errorf("%w on %s (the counter changed since it was shown); run again to see it, and use --force to spend it", core.ErrLastTry, d.name())
		}
		err = d.card.Verify(openpgp.PW1Decrypt, secret)
		if err == nil {
			d.state.verified = true
			d.state.tries = -1 // back to the maximum, which C4 will tell
			return nil
		}
		if errors.Is(err, openpgp.ErrPINBlocked) {
			d.state.tries = 0
			return fmt.Errorf("%w on %s: unblock it with the admin PIN or the reset code (gpg --card-edit, admin, passwd)", core.ErrPINBlocked, d.name())
		}
		if !errors.Is(err, openpgp.ErrWrongPIN) && !errors.Is(err, openpgp.ErrPINFormat) {
			return err
		}
		d.state.failed[tag] = true
		left := -1
		if st, e := d.card.ReadPWStatus(); e == nil {
			left = st.TriesPW1
			d.state.triesAt = time.Now()
		}
		d.state.tries = left
		d.state.triesShown = left
		switch left {
		case -1:
			return fmt.Errorf("%w: %s rejected the PIN (%v)", core.ErrBadSecret, d.name(), err)
		case 0:
			return fmt.Errorf("%w: %s rejected the PIN and is now blocked: unblock it with the admin PIN or the reset code (gpg --card-edit, admin, passwd)", core.ErrBadSecret, d.name())
		}
		return fmt.Errorf("%w: %s rejected the PIN, %d %s left", core.ErrBadSecret, d.name(), left, plural(left, "try", "tries"))
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Lock implements core.Key: it drops the card's PIN state by selecting the
// application again (the YubiKey's VERIFY FF does not work reliably).
func (k *Key) Lock() {
	d := k.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead != nil || !d.state.verified {
		return
	}
	d.state.verified = false
	d.state.selected = false
	_ = d.transact(d.ensureSelected)
}

// DecryptPKESK implements core.Key. With the public key known (from the
// certificate, or read before) it takes the KDF parameters from it.
// Otherwise it needs no public key: RSA needs none, and for ECDH it
// derives the key-encryption key with the curve's default KDF parameters
// (defaultKDF) and the fingerprint from C5; the AES key unwrap's integrity
// check tells whether they were right. Only when they were not does it read
// the public key (one GET PUBLIC KEY) and unwrap again with the same shared
// secret: never a second PSO:DECIPHER, never a second VERIFY.
func (k *Key) DecryptPKESK(ctx context.Context, p *core.PKESK) (*core.SessionKey, error) {
	sk, err := k.decryptPKESK(ctx, p)
	if err != nil && errors.Is(err, core.ErrBadPKESK) {
		return nil, fmt.Errorf("%s: %w", k.dev.name(), err)
	}
	return sk, err
}

func (k *Key) decryptPKESK(ctx context.Context, p *core.PKESK) (*core.SessionKey, error) {
	if pub := k.cachedPublicKey(); pub != nil {
		return core.DecryptPKESKRaw(ctx, p, pub, k)
	}
	kp := core.KeyParams{Algo: k.PublicKeyAlgorithm(), Fingerprint: k.fpr}
	if k.attr.IsRSA() {
		return core.DecryptPKESKParams(ctx, p, kp, k)
	}
	kp.CurveOID = k.attr.Curve.OID
	kp.KDFHash, kp.KDFCipher = defaultKDF(k.attr.Curve.CoordSize)
	keep := &keptSecret{RawDecrypter: k}
	defer keep.wipe()
	sk, err := core.DecryptPKESKParams(ctx, p, kp, keep)
	if err == nil || keep.secret == nil || !errors.Is(err, core.ErrBadPKESK) {
		return sk, err
	}
	pub, perr := k.loadPublicKey()
	if perr != nil {
		return nil, fmt.Errorf("%w (with the default KDF parameters of %s; the public key, which names the key's own, cannot be used: %v)", err, k.attr, perr)
	}
	return core.DecryptPKESKRaw(ctx, p, pub, keep)
}

// keptSecret runs the card's ECDH once and keeps the shared secret, so that
// the key unwrap can be tried again with other KDF parameters without a
// second PSO:DECIPHER. wipe zeroes it.
type keptSecret struct {
	core.RawDecrypter
	eph, secret []byte
}

// ECDH returns a copy of the shared secret for eph (the caller wipes what
// it gets), asking the card only for an ephemeral key not seen before.
func (s *keptSecret) ECDH(ctx context.Context, eph []byte) ([]byte, error) {
	if s.secret == nil || !bytes.Equal(s.eph, eph) {
		z, err := s.RawDecrypter.ECDH(ctx, eph)
		if err != nil {
			return nil, err
		}
		core.Wipe(s.secret)
		s.eph, s.secret = bytes.Clone(eph), z
	}
	return bytes.Clone(s.secret), nil
}

func (s *keptSecret) wipe() {
	core.Wipe(s.secret)
	s.secret = nil
}

// DecryptRSA implements core.RawDecrypter with PSO:DECIPHER.
func (k *Key) DecryptRSA(ctx context.Context, c []byte) ([]byte, error) {
	if !k.attr.IsRSA() {
		return nil, fmt.Errorf("%s: the %s key is %s, not RSA", k.dev.name(), openpgp.SlotName(k.slot), k.attr)
	}
	return k.decipher(ctx, func() ([]byte, error) { return k.dev.card.DecipherRSA(c, k.attr.ModBits) })
}

// ECDH implements core.RawDecrypter with PSO:DECIPHER.
func (k *Key) ECDH(ctx context.Context, eph []byte) ([]byte, error) {
	if !k.attr.IsECC() {
		return nil, fmt.Errorf("%s: the %s key is %s, not ECDH", k.dev.name(), openpgp.SlotName(k.slot), k.attr)
	}
	return k.decipher(ctx, func() ([]byte, error) { return k.dev.card.DecipherECDH(eph, k.attr.Curve) })
}

func (k *Key) decipher(ctx context.Context, pso func() ([]byte, error)) ([]byte, error) {
	d := k.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead != nil {
		return nil, d.dead
	}
	if !d.state.verified {
		return nil, fmt.Errorf("%s: the PIN is not verified: unlock the key first", d.name())
	}
	var out []byte
	err := d.transact(func() error {
		if err := d.ensureSelected(); err != nil {
			return err
		}
		if d.ard.ExtCaps.MSE && d.state.aut != (k.slot == openpgp.SlotAut) {
			if err := d.card.SetDecipherKey(k.slot); err != nil {
				return err
			}
			d.state.aut = k.slot == openpgp.SlotAut
		}
		if d.ard.UIF[k.slot].Enabled() && d.opts.Prompter != nil {
			d.opts.Prompter.Notify(ctx, fmt.Sprintf("Touch %s to decrypt", d.name()))
		}
		var err error
		out, err = pso()
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, openpgp.ErrTouchTimeout):
		d.state.verified = false // the card may have dropped the PIN state
		return nil, fmt.Errorf("%s was not touched in time: run the command again and touch the card while it blinks", d.name())
	case errors.Is(err, openpgp.ErrNotVerified):
		d.state.verified = false
		msg := "the card no longer has the PIN verified"
		if d.ard.UIF[k.slot].Enabled() {
			msg = "the card was not touched in time, or the PIN is no longer verified"
		}
		return nil, fmt.Errorf("%s: %s: run the command again (%v)", d.name(), msg, err)
	case errors.Is(err, openpgp.ErrNoKey):
		return nil, fmt.Errorf("%s has no %s key: check the card with keyunlock card status", d.name(), openpgp.SlotName(k.slot))
	}
	if d.dead != nil {
		return nil, d.dead
	}
	return nil, fmt.Errorf("%s: %w", d.name(), err)
}
