package softkeys

import (
	"time"

	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// describe fills in each key's capabilities, user ID and whether it may
// decrypt, from the verified self-signatures of the file's certificate:
// the primary key's newest valid self-signature, each subkey's newest
// valid binding signature. Keys without a valid signature with key flags
// (or a file whose certificate cannot be read) get what their algorithm
// allows.
//
// It runs once per file, when first needed (see Key.checked).
func describe(f *File, pkts []pgppacket.Packet) {
	now := time.Now()
	bySig := map[string]*pgp.Signature{}
	uids := map[string]string{}
	if certs, err := pgp.CertsFromPackets(pkts); err == nil {
		for _, c := range certs {
			fpr := string(c.Primary.Fingerprint)
			if sig, _, _ := c.SelfSignature(now); sig != nil {
				bySig[fpr] = sig
			}
			uids[fpr] = c.PrimaryUserID(now)
			for _, s := range c.Subkeys {
				if s.Key == nil {
					continue
				}
				sub := string(s.Key.Fingerprint)
				if sig, _ := c.Binding(s, now); sig != nil {
					bySig[sub] = sig
				}
				uids[sub] = uids[fpr]
			}
		}
	}
	for _, k := range f.keys {
		fpr := string(k.pub.Fingerprint)
		k.uid = uids[fpr]
		sig := bySig[fpr]
		encAlgo := k.pub.Algo.CanEncrypt()
		if sig == nil || !sig.HasFlags {
			k.canDecrypt = encAlgo
			if encAlgo {
				k.caps = append(k.caps, "encrypt")
			}
			if k.pub.Algo.CanSign() {
				k.caps = append(k.caps, "sign")
			}
			continue
		}
		if sig.Flags&(pgp.FlagEncryptComms|pgp.FlagEncryptStorage) != 0 {
			k.caps = append(k.caps, "encrypt")
			k.canDecrypt = encAlgo
		}
		if sig.Flags&pgp.FlagSign != 0 {
			k.caps = append(k.caps, "sign")
		}
		if sig.Flags&pgp.FlagCertify != 0 {
			k.caps = append(k.caps, "certify")
		}
		if sig.Flags&pgp.FlagAuthenticate != 0 {
			k.caps = append(k.caps, "authenticate")
		}
	}
}
