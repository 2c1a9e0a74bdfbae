package card

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/keyunlock/keyunlock/card/openpgp"
)

// Cards opens every OpenPGP card present (as Devices does) and returns
// them as *Device, for status displays.
func (b *Backend) Cards(ctx context.Context) ([]*Device, error) {
	devs, err := b.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Device, 0, len(devs))
	for _, d := range devs {
		out = append(out, d.(*Device))
	}
	return out, nil
}

// WriteStatus prints what gpg --card-status shows that matters for
// decryption, with the same labels so that the two can be compared.
// The retry counters are read from the card now (GET DATA C4), and the
// public key of each decryption key unless it is known already (GET
// PUBLIC KEY), to check it against the fingerprint.
func (d *Device) WriteStatus(w io.Writer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead != nil {
		return d.dead
	}
	var pw openpgp.PWStatus
	err := d.transact(func() error {
		if err := d.ensureSelected(); err != nil {
			return err
		}
		var err error
		pw, err = d.card.ReadPWStatus()
		return err
	})
	if err != nil {
		return err
	}
	a := d.ard
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-20s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	line("Reader", "%s", d.reader)
	line("Application ID", "%s", a.AIDString())
	line("Application type", "OpenPGP")
	line("Version", "%d.%d", a.Version[0], a.Version[1])
	line("Manufacturer", "%s (%04X)", a.ManufacturerName(), a.Manufacturer)
	line("Serial number", "%s", a.SerialString())
	line("Key attributes", "%s %s %s", a.Attrs[0], a.Attrs[1], a.Attrs[2])
	line("Max. PIN lengths", "%d %d %d", pw.MaxPW1, pw.MaxRC, pw.MaxPW3)
	line("PIN retry counter", "%d %d %d", pw.TriesPW1, pw.TriesRC, pw.TriesPW3)
	kdf := "off"
	if d.card.KDF != nil {
		kdf = fmt.Sprintf("on (iterated-salted S2K, hash %02X, %d bytes)", d.card.KDF.HashID, d.card.KDF.Count)
	}
	line("KDF setting", "%s", kdf)
	line("UIF setting", "Sign=%s Decrypt=%s Auth=%s", a.UIF[0], a.UIF[1], a.UIF[2])
	for i, label := range []string{"Signature key", "Encryption key", "Authentication key"} {
		fp := "[none]"
		if a.Fingerprints[i] != nil {
			fp = fmt.Sprintf("%X", a.Fingerprints[i])
		}
		line(label, "%s", fp)
	}
	var decKeys []string
	for _, k := range d.keys {
		s := fmt.Sprintf("%X (%s slot", k.fpr, openpgp.SlotName(k.slot))
		if _, err := k.publicKeyLocked(); err != nil {
			if d.dead != nil {
				return d.dead
			}
			s += "; public key unreadable: " + err.Error()
		}
		decKeys = append(decKeys, s+")")
	}
	if len(decKeys) == 0 {
		decKeys = []string{"[none]"}
	}
	line("Decryption keys", "%s", strings.Join(decKeys, ", "))
	return nil
}
