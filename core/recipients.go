package core

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// RecipientKeys parses the certificates (binary or ASCII-armored) in data,
// read from the file name, and returns every encryption-capable subkey that
// is valid at now. A revoked or expired certificate is refused, and so is a
// certificate whose encryption subkeys are all revoked or expired; errors
// name the file and the key.
func RecipientKeys(data []byte, name string, now time.Time) ([]*packet.PublicKey, error) {
	var ents openpgp.EntityList
	var err error
	if bytes.Contains(data[:min(len(data), 1024)], []byte("-----BEGIN PGP")) {
		ents, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		ents, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not an OpenPGP certificate: %v (export it with gpg --export KEYID > %s)", name, err, name)
	}
	if len(ents) == 0 {
		return nil, fmt.Errorf("%s: holds no OpenPGP certificate", name)
	}
	var keys []*packet.PublicKey
	for _, e := range ents {
		ks, err := entityKeys(e, now)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %X: %v", name, e.PrimaryKey.Fingerprint, err)
		}
		keys = append(keys, ks...)
	}
	return keys, nil
}

// entityKeys returns the valid encryption keys of one certificate.
func entityKeys(e *openpgp.Entity, now time.Time) ([]*packet.PublicKey, error) {
	self, ident := e.PrimarySelfSignature()
	switch {
	case self == nil:
		return nil, fmt.Errorf("has no valid self-signature")
	case e.Revoked(now):
		return nil, fmt.Errorf("is revoked; ask its owner for a current certificate")
	case e.PrimaryKey.KeyExpired(self, now) || self.SigExpired(now):
		return nil, fmt.Errorf("expired on %s; extend it (gpg --quick-set-expire) and export it again", expiry(e.PrimaryKey, self))
	case ident != nil && ident.Revoked(now):
		return nil, fmt.Errorf("its primary user ID is revoked")
	}
	var keys []*packet.PublicKey
	var skipped []string
	for _, s := range e.Subkeys {
		if s.Sig == nil || !s.Sig.FlagsValid || !(s.Sig.FlagEncryptCommunications || s.Sig.FlagEncryptStorage) || !s.PublicKey.PubKeyAlgo.CanEncrypt() {
			continue
		}
		switch {
		case s.Revoked(now):
			skipped = append(skipped, fmt.Sprintf("subkey %X is revoked", s.PublicKey.Fingerprint))
		case s.PublicKey.KeyExpired(s.Sig, now) || s.Sig.SigExpired(now):
			skipped = append(skipped, fmt.Sprintf("subkey %X expired on %s", s.PublicKey.Fingerprint, expiry(s.PublicKey, s.Sig)))
		default:
			keys = append(keys, s.PublicKey)
		}
	}
	if self.FlagsValid && (self.FlagEncryptCommunications || self.FlagEncryptStorage) && e.PrimaryKey.PubKeyAlgo.CanEncrypt() {
		keys = append(keys, e.PrimaryKey)
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("no usable encryption subkey: %s", strings.Join(skipped, "; "))
		}
		return nil, fmt.Errorf("has no encryption subkey")
	}
	return keys, nil
}

// expiry returns when a key with the given self-signature expires.
func expiry(pk *packet.PublicKey, sig *packet.Signature) string {
	t := pk.CreationTime
	switch {
	case sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs != 0:
		t = t.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
	case sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs != 0:
		t = sig.CreationTime.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second)
	}
	return t.UTC().Format("2006-01-02")
}
