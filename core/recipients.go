package core

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// RecipientKeys parses the certificates (binary or ASCII-armored; secret
// key files give their public parts) in data, read from the file name, and
// returns every encryption-capable key that is validly bound and valid at
// now. Self-signatures and subkey binding signatures are verified. A
// revoked or expired certificate is refused, and so is a certificate whose
// encryption subkeys are all revoked, expired or not validly bound; errors
// name the file and the key.
func RecipientKeys(data []byte, name string, now time.Time) ([]*pgp.PublicKey, error) {
	certs, err := pgp.ReadCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not an OpenPGP certificate: %v (export it with gpg --export KEYID > %s)", name, err, name)
	}
	var keys []*pgp.PublicKey
	for _, c := range certs {
		ks, err := certKeys(c, now)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %X: %v", name, c.Primary.Fingerprint, err)
		}
		keys = append(keys, ks...)
	}
	return keys, nil
}

// unsupportedHint follows errors about signatures keyunlock cannot check.
const unsupportedHint = "keyunlock checks RSA, DSA, ECDSA (NIST and brainpool curves), Ed25519 and Ed448 signatures; use a certificate whose primary key is one of those"

// certKeys returns the valid encryption keys of one certificate.
func certKeys(c *pgp.Cert, now time.Time) ([]*pgp.PublicKey, error) {
	self, uid, err := c.SelfSignature(now)
	switch {
	case self == nil && errors.Is(err, pgp.ErrUnsupportedSignature):
		return nil, fmt.Errorf("its self-signatures cannot be checked (%v); %s", err, unsupportedHint)
	case self == nil:
		return nil, fmt.Errorf("has no valid self-signature (%v); get a fresh copy of the certificate from its owner", err)
	case c.Revoked(now):
		return nil, fmt.Errorf("is revoked; ask its owner for a current certificate")
	case expired(c.Primary, self, now):
		return nil, fmt.Errorf("expired on %s; extend it (gpg --quick-set-expire) and export it again", expiry(c.Primary, self))
	case uid != nil && c.UserIDRevoked(uid, now):
		return nil, fmt.Errorf("its primary user ID is revoked")
	}
	var keys []*pgp.PublicKey
	var skipped []string
	for _, s := range c.Subkeys {
		if s.Key == nil || !s.Key.Algo.CanEncrypt() {
			continue
		}
		sig, err := c.Binding(s, now)
		if sig == nil {
			if errors.Is(err, pgp.ErrUnsupportedSignature) {
				err = fmt.Errorf("%v; %s", err, unsupportedHint)
			} else {
				err = fmt.Errorf("%v; the certificate is damaged or forged: get a fresh copy from its owner", err)
			}
			skipped = append(skipped, fmt.Sprintf("subkey %X has no valid binding signature (%v)", s.Key.Fingerprint, err))
			continue
		}
		if !sig.HasFlags || sig.Flags&(pgp.FlagEncryptComms|pgp.FlagEncryptStorage) == 0 {
			continue
		}
		switch err := pgp.CheckEncryptable(s.Key); {
		case err != nil:
			skipped = append(skipped, fmt.Sprintf("subkey %X: %v", s.Key.Fingerprint, err))
		case c.SubkeyRevoked(s, now):
			skipped = append(skipped, fmt.Sprintf("subkey %X is revoked", s.Key.Fingerprint))
		case expired(s.Key, sig, now):
			skipped = append(skipped, fmt.Sprintf("subkey %X expired on %s", s.Key.Fingerprint, expiry(s.Key, sig)))
		default:
			keys = append(keys, s.Key)
		}
	}
	if self.HasFlags && self.Flags&(pgp.FlagEncryptComms|pgp.FlagEncryptStorage) != 0 && c.Primary.Algo.CanEncrypt() {
		if err := pgp.CheckEncryptable(c.Primary); err != nil {
			skipped = append(skipped, fmt.Sprintf("primary key: %v", err))
		} else {
			keys = append(keys, c.Primary)
		}
	}
	if c.TooManySignatures() {
		return nil, fmt.Errorf("has more than %d self-signatures to check; export it again with gpg --export-options export-minimal", pgp.MaxSignatureChecks)
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("no usable encryption subkey: %s", strings.Join(skipped, "; "))
		}
		return nil, fmt.Errorf("has no encryption subkey")
	}
	return keys, nil
}

// expired reports whether the key with self-signature sig has expired at now.
func expired(pk *pgp.PublicKey, sig *pgp.Signature, now time.Time) bool {
	t, ok := pgp.KeyExpiry(pk, sig)
	return ok && !now.Before(t)
}

// expiry returns when a key with the given self-signature expires.
func expiry(pk *pgp.PublicKey, sig *pgp.Signature) string {
	t, ok := pgp.KeyExpiry(pk, sig)
	if !ok {
		t = pk.CreationTime()
	}
	return t.UTC().Format("2006-01-02")
}
