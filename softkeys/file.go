package softkeys

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// MaxFileSize bounds a key file; real TSKs are a few KiB.
const MaxFileSize = 4 << 20

// File is one secret key file. It implements core.Device.
type File struct {
	path string
	keys []*Key
	// The self-signatures are checked on first need (see Key.checked):
	// certs holds the public packets until then, secret key packets cut to
	// their public fields.
	describeOnce sync.Once
	certs        []pgppacket.Packet
}

// ID returns the file's path.
func (f *File) ID() string { return f.path }

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// Keys lists the secret keys and subkeys of the file.
func (f *File) Keys(ctx context.Context) ([]core.Key, error) {
	ks := make([]core.Key, len(f.keys))
	for i, k := range f.keys {
		ks[i] = k
	}
	return ks, nil
}

// SoftKeys returns the file's keys with their concrete type.
func (f *File) SoftKeys() []*Key { return f.keys }

// notKeyError marks a file that is not an OpenPGP secret key file at all, as
// opposed to a key file that is damaged.
type notKeyError struct{ path, reason string }

func (e *notKeyError) Error() string {
	return fmt.Sprintf("key file %s: %s", e.path, e.reason)
}

// loadFile reads and parses one key file.
func loadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w (check that it exists and is readable by this user)", path, unwrapPath(err))
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w (check that it is readable)", path, unwrapPath(err))
	}
	defer core.Wipe(data)
	if len(data) > MaxFileSize {
		return nil, &notKeyError{path, fmt.Sprintf("larger than %d MiB, not a key file", MaxFileSize>>20)}
	}
	bin, err := dearmor(path, data)
	if err != nil {
		return nil, err
	}
	defer core.Wipe(bin)
	return parseKeys(path, bin)
}

// dearmor returns the binary packets of an armored or binary key file.
func dearmor(path string, data []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &notKeyError{path, "empty file"}
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP ")) {
		blk, err := armor.Decode(bytes.NewReader(trimmed))
		if err != nil {
			return nil, fmt.Errorf("key file %s: damaged ASCII armor: %v (export the key again)", path, err)
		}
		if blk.Type != "PGP PRIVATE KEY BLOCK" {
			if blk.Type == "PGP PUBLIC KEY BLOCK" {
				return nil, &notKeyError{path, "a public certificate, not a secret key (export it with gpg --export-secret-keys)"}
			}
			return nil, &notKeyError{path, fmt.Sprintf("an armored %q, not a secret key", blk.Type)}
		}
		bin, err := io.ReadAll(io.LimitReader(blk.Body, MaxFileSize))
		if err != nil {
			return nil, fmt.Errorf("key file %s: damaged ASCII armor: %v (export the key again)", path, err)
		}
		return bin, nil
	}
	if trimmed[0]&0x80 == 0 {
		return nil, &notKeyError{path, "not an OpenPGP key file"}
	}
	return bytes.Clone(data), nil
}

// parseKeys splits the packets, keeps every secret (sub)key and the public
// packets for checking the self-signatures (key flags, user IDs) when
// first needed: a passphrase's key derivation started before that (see
// Backend.Prederive) then runs while they are checked. bin is not kept.
func parseKeys(path string, bin []byte) (*File, error) {
	pkts, err := pgppacket.Split(bin)
	if err != nil {
		if len(bin) > 0 && !isKeyTag(firstTag(bin)) {
			return nil, &notKeyError{path, "not an OpenPGP key file"}
		}
		return nil, fmt.Errorf("key file %s: %v (export the key again)", path, err)
	}
	if len(pkts) == 0 || !isKeyTag(pkts[0].Tag) {
		return nil, &notKeyError{path, "not an OpenPGP key file"}
	}
	f := &File{path: path}
	public := 0
	for _, p := range pkts {
		public += len(p.Body)
	}
	buf := make([]byte, 0, public) // the public packets' bodies
	var primary *Key
	for i, p := range pkts {
		switch p.Tag {
		case pgppacket.TagSecretKey, pgppacket.TagSecretSubkey:
			k, err := newKey(f, p.Tag, p.Body)
			if err != nil {
				return nil, fmt.Errorf("key file %s: key packet %d: %v (export the key again with a current OpenPGP tool)", path, i+1, err)
			}
			if p.Tag == pgppacket.TagSecretKey {
				primary = k
			} else if primary != nil {
				k.primary = primary.pub.Fingerprint
			}
			f.keys = append(f.keys, k)
			f.certs = append(f.certs, pgppacket.Packet{Tag: p.Tag, Body: k.body[:k.pubLen:k.pubLen]})
			continue
		case pgppacket.TagPublicKey:
			primary = nil
		}
		buf = append(buf, p.Body...)
		f.certs = append(f.certs, pgppacket.Packet{Tag: p.Tag, Body: buf[len(buf)-len(p.Body) : len(buf) : len(buf)]})
	}
	if len(f.keys) == 0 {
		return nil, &notKeyError{path, "a public certificate, not a secret key (export it with gpg --export-secret-keys)"}
	}
	return f, nil
}

func firstTag(b []byte) int {
	if b[0]&0x40 != 0 {
		return int(b[0] & 0x3f)
	}
	return int(b[0]>>2) & 0xf
}

func isKeyTag(t int) bool {
	return t == pgppacket.TagSecretKey || t == pgppacket.TagPublicKey
}
