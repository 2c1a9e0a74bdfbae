package pgp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// Other packet tags met in certificates.
const (
	TagTrust         = 12 // GnuPG keyring trust packet
	TagUserID        = 13
	TagUserAttribute = 17 // photo IDs
	tagMarker        = 10
	tagPadding       = 21
)

// Cert is an OpenPGP certificate: a primary key with its user IDs and
// subkeys and the signatures on them, read from a transferable public key
// or the public part of a transferable secret key (RFC 9580 §10.1).
// Signatures are checked when a method needs them, newest first, and the
// outcome is remembered.
type Cert struct {
	Primary    *PublicKey
	UserIDs    []*UserID
	Subkeys    []*Subkey
	direct     []*certSig // direct-key signatures and key revocations
	checks     int        // signatures verified so far
	overBudget bool       // a check was refused: past MaxSignatureChecks
}

// TooManySignatures reports whether a signature was left unchecked
// because of MaxSignatureChecks: answers about revocations are then
// incomplete, and the certificate should be refused.
func (c *Cert) TooManySignatures() bool { return c.overBudget }

// UserID is a user ID packet and the signatures on it.
type UserID struct {
	ID   string
	sigs []*certSig
}

// Subkey is a subkey and the signatures binding or revoking it.
type Subkey struct {
	Key  *PublicKey
	sigs []*certSig
	// ParseErr is set when the subkey packet itself could not be read;
	// Key is nil then.
	ParseErr error
}

// certSig is a signature in a certificate, or why it cannot be read.
type certSig struct {
	sig     *Signature
	err     error // parse or verification error
	checked bool  // err holds the verification outcome
}

// MaxCertBytes bounds the size of a certificate file.
const MaxCertBytes = 16 << 20

// ReadCerts reads the certificates in data: binary packets or one ASCII
// armored block ("PGP PUBLIC KEY BLOCK", or "PGP PRIVATE KEY BLOCK", whose
// secret key packets give their public parts). It checks the packet
// structure only; signatures are checked when keys are chosen.
func ReadCerts(data []byte) ([]*Cert, error) {
	if len(data) > MaxCertBytes {
		return nil, fmt.Errorf("larger than %d MiB", MaxCertBytes>>20)
	}
	if bytes.Contains(data[:min(len(data), 1024)], []byte("-----BEGIN PGP")) {
		blk, err := armor.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("bad ASCII armor: %v", err)
		}
		if blk.Type != "PGP PUBLIC KEY BLOCK" && blk.Type != "PGP PRIVATE KEY BLOCK" {
			return nil, fmt.Errorf("armored %q, not a key block", blk.Type)
		}
		if data, err = io.ReadAll(io.LimitReader(blk.Body, MaxCertBytes+1)); err != nil {
			return nil, fmt.Errorf("bad ASCII armor: %v", err)
		}
		if len(data) > MaxCertBytes {
			return nil, fmt.Errorf("larger than %d MiB", MaxCertBytes>>20)
		}
	}
	ps, err := pgppacket.Split(data)
	if err != nil {
		return nil, err
	}
	return CertsFromPackets(ps)
}

// CertsFromPackets builds the certificates of packets already split (see
// ReadCerts), for a caller that has split them for its own use. The
// certificates refer to the packets' bodies, which must stay unchanged
// while they are used.
func CertsFromPackets(ps []pgppacket.Packet) ([]*Cert, error) {
	var certs []*Cert
	var c *Cert
	var sigs *[]*certSig // where the next signatures go
	for i, p := range ps {
		switch p.Tag {
		case TagPublicKey, TagSecretKey:
			pk, err := parseKeyPacket(p)
			if err != nil {
				return nil, fmt.Errorf("primary key (packet %d): %v", i+1, err)
			}
			c = &Cert{Primary: pk}
			certs = append(certs, c)
			sigs = &c.direct
			continue
		case TagTrust, tagMarker, tagPadding:
			continue
		}
		if c == nil {
			return nil, fmt.Errorf("packet %d (tag %d) comes before any primary key", i+1, p.Tag)
		}
		switch p.Tag {
		case TagSignature:
			s, err := ParseSignature(p.Body)
			*sigs = append(*sigs, &certSig{sig: s, err: err, checked: err != nil})
		case TagUserID:
			u := &UserID{ID: string(p.Body)}
			c.UserIDs = append(c.UserIDs, u)
			sigs = &u.sigs
		case TagUserAttribute:
			sigs = new([]*certSig) // photo IDs are not used: drop their signatures
		case TagPublicSubkey, TagSecretSubkey:
			pk, err := parseKeyPacket(p)
			sk := &Subkey{Key: pk, ParseErr: err}
			c.Subkeys = append(c.Subkeys, sk)
			sigs = &sk.sigs
		default:
			return nil, fmt.Errorf("unexpected packet %d (tag %d) in a certificate", i+1, p.Tag)
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("holds no OpenPGP certificate")
	}
	return certs, nil
}

// parseKeyPacket reads the public part of a key packet.
func parseKeyPacket(p pgppacket.Packet) (*PublicKey, error) {
	if p.Tag == TagSecretKey || p.Tag == TagSecretSubkey {
		pk, _, err := ParsePublicPart(p.Body)
		return pk, err
	}
	return ParsePublicKey(p.Body)
}

// newestFirst returns the readable signatures of the given types issued by
// pk and made at or before now, newest first.
func newestFirst(sigs []*certSig, pk *PublicKey, now time.Time, types ...uint8) []*certSig {
	var out []*certSig
	for _, cs := range sigs {
		if cs.sig == nil || !cs.sig.IssuedBy(pk) || cs.sig.CreationTime().After(now) {
			continue
		}
		for _, t := range types {
			if cs.sig.Type == t {
				out = append(out, cs)
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].sig.Created > out[j].sig.Created })
	return out
}

// MaxSignatureChecks bounds the signatures verified per certificate, so
// that a certificate stuffed with bad self-signatures (Ed448 and brainpool
// checks take milliseconds each) cannot stall its reader. Real
// certificates need a handful.
const MaxSignatureChecks = 100

// errTooManySignatures is the outcome of checks past MaxSignatureChecks.
var errTooManySignatures = fmt.Errorf("more than %d self-signatures to check; strip old ones (gpg --export-options export-minimal)", MaxSignatureChecks)

// check verifies cs once with verify, within the certificate's budget,
// and remembers the outcome.
func (cs *certSig) check(c *Cert, verify func(*Signature) error) error {
	if !cs.checked {
		if c.checks >= MaxSignatureChecks {
			c.overBudget = true
			return errTooManySignatures
		}
		c.checks++
		cs.err = verify(cs.sig)
		cs.checked = true
	}
	return cs.err
}

// firstValid returns the first signature in sigs that verifies, or the
// error of the newest one when none does (nil error when sigs is empty).
func firstValid(c *Cert, sigs []*certSig, verify func(*Signature) error) (*Signature, error) {
	var first error
	for _, cs := range sigs {
		err := cs.check(c, verify)
		if err == nil {
			return cs.sig, nil
		}
		if err == errTooManySignatures {
			return nil, err
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// revokedBy reports whether one of the revocations sigs is valid at now:
// a revocation saying the key was superseded, retired or its user ID is
// no longer valid counts from its creation; any other one (compromised,
// or no reason) always.
func revokedBy(c *Cert, sigs []*certSig, verify func(*Signature) error, now time.Time) bool {
	for _, cs := range sigs {
		if cs.sig == nil || cs.check(c, verify) != nil {
			continue
		}
		soft := cs.sig.HasRevocation && (cs.sig.RevocationCode == 1 || cs.sig.RevocationCode == 3 || cs.sig.RevocationCode == 32)
		if !soft || !now.Before(cs.sig.CreationTime()) {
			return true
		}
	}
	return false
}

// revocations returns the signatures of type typ issued by pk, at any time.
func revocations(sigs []*certSig, pk *PublicKey, typ uint8) []*certSig {
	var out []*certSig
	for _, cs := range sigs {
		if cs.sig != nil && cs.sig.Type == typ && cs.sig.IssuedBy(pk) {
			out = append(out, cs)
		}
	}
	return out
}

// SelfSignature returns the signature that states the primary key's
// properties at now (flags, expiry): for a v4 key the newest valid
// self-certification of its primary user ID (one marked primary first),
// else the newest valid direct-key signature; for a v6 key the
// direct-key signature first. It also returns that user ID, if any. The
// error says why no self-signature verifies.
func (c *Cert) SelfSignature(now time.Time) (*Signature, *UserID, error) {
	pk := c.Primary
	direct := func() (*Signature, error) {
		return firstValid(c, newestFirst(c.direct, pk, now, SigDirectKey), func(s *Signature) error {
			return s.VerifyKeySignature(pk, pk, nil)
		})
	}
	if pk.Version == 6 {
		if s, _ := direct(); s != nil {
			uid, _, _ := c.primaryUserID(now)
			return s, uid, nil
		}
	}
	uid, usig, uerr := c.primaryUserID(now)
	if usig != nil {
		return usig, uid, nil
	}
	s, derr := direct()
	if s != nil {
		return s, nil, nil
	}
	switch {
	case uerr != nil:
		return nil, nil, uerr
	case derr != nil:
		return nil, nil, derr
	}
	if t, ok := c.futureSig(now); ok {
		return nil, nil, fmt.Errorf("its self-signature is dated %s, in the future; check this machine's clock", t.UTC().Format(time.RFC3339))
	}
	return nil, nil, errors.New("no self-signature")
}

// futureSig returns the creation time of the oldest self-signature made
// after now, when there is one.
func (c *Cert) futureSig(now time.Time) (time.Time, bool) {
	var first time.Time
	check := func(sigs []*certSig) {
		for _, cs := range sigs {
			if cs.sig != nil && cs.sig.IssuedBy(c.Primary) && cs.sig.CreationTime().After(now) && (first.IsZero() || cs.sig.CreationTime().Before(first)) {
				first = cs.sig.CreationTime()
			}
		}
	}
	check(c.direct)
	for _, u := range c.UserIDs {
		check(u.sigs)
	}
	for _, s := range c.Subkeys {
		check(s.sigs)
	}
	return first, !first.IsZero()
}

// primaryUserID returns the primary user ID at now and its newest valid
// self-certification: user IDs whose self-certification says primary come
// first, then the newest. The error is that of the first unverifiable
// self-certification, when none verifies.
func (c *Cert) primaryUserID(now time.Time) (*UserID, *Signature, error) {
	var best *UserID
	var bestSig *Signature
	var firstErr error
	for _, u := range c.UserIDs {
		s, err := c.userIDSelfSig(u, now)
		if s == nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if bestSig == nil || s.PrimaryUserID && !bestSig.PrimaryUserID ||
			s.PrimaryUserID == bestSig.PrimaryUserID && s.Created > bestSig.Created {
			best, bestSig = u, s
		}
	}
	return best, bestSig, firstErr
}

func (c *Cert) userIDSelfSig(u *UserID, now time.Time) (*Signature, error) {
	pk := c.Primary
	return firstValid(c, newestFirst(u.sigs, pk, now, SigGenericCert, SigPersonaCert, SigCasualCert, SigPositiveCert),
		func(s *Signature) error { return s.VerifyUserIDSignature(pk, pk, []byte(u.ID)) })
}

// PrimaryUserID returns the primary user ID at now, or "" when no user ID
// has a valid self-certification.
func (c *Cert) PrimaryUserID(now time.Time) string {
	u, _, _ := c.primaryUserID(now)
	if u == nil {
		return ""
	}
	return u.ID
}

// Revoked reports whether the primary key has a valid revocation at now.
func (c *Cert) Revoked(now time.Time) bool {
	pk := c.Primary
	return revokedBy(c, revocations(c.direct, pk, SigKeyRevocation), func(s *Signature) error {
		return s.VerifyKeySignature(pk, pk, nil)
	}, now)
}

// UserIDRevoked reports whether u has a valid revocation by the primary key.
func (c *Cert) UserIDRevoked(u *UserID, now time.Time) bool {
	pk := c.Primary
	return revokedBy(c, revocations(u.sigs, pk, SigCertRevocation), func(s *Signature) error {
		return s.VerifyUserIDSignature(pk, pk, []byte(u.ID))
	}, now)
}

// Binding returns the newest valid subkey binding signature of s made at
// or before now; the error says why none verifies.
func (c *Cert) Binding(s *Subkey, now time.Time) (*Signature, error) {
	if s.Key == nil {
		return nil, s.ParseErr
	}
	sig, err := firstValid(c, newestFirst(s.sigs, c.Primary, now, SigSubkeyBinding), func(sig *Signature) error {
		return sig.VerifyKeySignature(c.Primary, c.Primary, s.Key)
	})
	if sig == nil && err == nil {
		err = errors.New("no binding signature")
		if t, ok := c.futureSig(now); ok {
			err = fmt.Errorf("its binding signature is dated %s, in the future; check this machine's clock", t.UTC().Format(time.RFC3339))
		}
	}
	return sig, err
}

// SubkeyRevoked reports whether s has a valid revocation at now.
func (c *Cert) SubkeyRevoked(s *Subkey, now time.Time) bool {
	if s.Key == nil {
		return false
	}
	return revokedBy(c, revocations(s.sigs, c.Primary, SigSubkeyRevoke), func(sig *Signature) error {
		return sig.VerifyKeySignature(c.Primary, c.Primary, s.Key)
	}, now)
}

// KeyExpiry returns when a key with the self-signature sig expires, and
// whether it does: the key lifetime counts from the key's creation, and a
// signature lifetime from the signature's.
func KeyExpiry(pk *PublicKey, sig *Signature) (time.Time, bool) {
	var key, sigEnd time.Time
	if sig.KeyLifetime != 0 {
		key = time.Unix(int64(pk.Created)+int64(sig.KeyLifetime), 0)
	}
	if sig.SigLifetime != 0 {
		sigEnd = time.Unix(int64(sig.Created)+int64(sig.SigLifetime), 0)
	}
	switch {
	case key.IsZero() && sigEnd.IsZero():
		return time.Time{}, false
	case key.IsZero():
		return sigEnd, true
	case sigEnd.IsZero() || key.Before(sigEnd):
		return key, true
	}
	return sigEnd, true
}

// FindKey returns the primary key or subkey with fingerprint fpr, or nil.
// A subkey is only returned when a binding signature for it verifies at now.
func (c *Cert) FindKey(fpr []byte, now time.Time) *PublicKey {
	if bytes.Equal(c.Primary.Fingerprint, fpr) {
		return c.Primary
	}
	for _, s := range c.Subkeys {
		if s.Key != nil && bytes.Equal(s.Key.Fingerprint, fpr) {
			if sig, _ := c.Binding(s, now); sig != nil {
				return s.Key
			}
		}
	}
	return nil
}
