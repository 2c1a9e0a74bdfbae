package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Message is a decrypted, integrity-checked OpenPGP message.
type Message struct {
	// Plaintext is the literal data. Callers wipe it with Wipe when done.
	Plaintext []byte
	// Result says which PKESK and key were used. Its session key is
	// already wiped.
	Result *Result
	// FileName is the file name stored in the literal data packet, if any.
	FileName string
}

// Wipe zeroes the plaintext.
func (m *Message) Wipe() {
	if m != nil {
		Wipe(m.Plaintext)
	}
}

// Errors a caller may want to tell apart.
var (
	// ErrIntegrity is wrapped when the MDC or an AEAD tag does not verify.
	ErrIntegrity = errors.New("message integrity check failed")
	// ErrNotOpenPGP is wrapped when the input is not an OpenPGP message.
	ErrNotOpenPGP = errors.New("not an OpenPGP message")
)

var armorHeader = []byte("-----BEGIN PGP")

// DecryptMessage reads a binary or ASCII-armored OpenPGP message of at most
// opts.MaxSize bytes from in, obtains the session key from svc (prompting
// through opts.Prompter for locked keys, see DecryptSessionKey), decrypts
// the SEIPDv1 (MDC), SEIPDv2 (AEAD) or legacy AEAD packet and returns the
// literal data. The plaintext is only returned once the whole message has
// been authenticated: on any error no plaintext is returned, and buffers
// that held decrypted bytes are wiped.
func DecryptMessage(ctx context.Context, svc Service, in io.Reader, opts DecryptOptions) (*Message, error) {
	max := opts.maxSize()
	data, err := io.ReadAll(io.LimitReader(in, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("the message is larger than the %s limit", sizeName(max))
	}
	data, err = dearmor(data)
	if err != nil {
		return nil, err
	}

	pkesks, data2, err := splitMessage(data, max)
	if err != nil {
		return nil, err
	}

	res, err := DecryptSessionKey(ctx, svc, pkesks, opts)
	if err != nil {
		return nil, err
	}
	defer res.SessionKey.Wipe()

	plain, name, err := decryptData(data2, res.SessionKey, max)
	if err != nil {
		return nil, fmt.Errorf("%w (session key from key %s, %s)", err, res.Fingerprint, res.Source)
	}
	res.SessionKey.Wipe()
	res.SessionKey.Key = nil
	return &Message{Plaintext: plain, Result: res, FileName: name}, nil
}

// dearmor returns the binary message, decoding ASCII armor when present.
func dearmor(data []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("input is empty: expected an OpenPGP message")
	}
	if trimmed[0]&0x80 != 0 {
		return data, nil
	}
	if !bytes.Contains(data, armorHeader) {
		return nil, fmt.Errorf("%w: the input is neither binary OpenPGP nor ASCII armor", ErrNotOpenPGP)
	}
	block, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: bad ASCII armor: %v", ErrNotOpenPGP, err)
	}
	if block.Type != "PGP MESSAGE" {
		return nil, fmt.Errorf("%w: the armored block is a %q, not a PGP MESSAGE", ErrNotOpenPGP, block.Type)
	}
	bin, err := io.ReadAll(block.Body)
	if err != nil {
		return nil, fmt.Errorf("bad ASCII armor (the file is corrupted): %v", err)
	}
	if len(bin) == 0 {
		return nil, fmt.Errorf("input is empty: the armored message holds no data")
	}
	return bin, nil
}

// splitMessage collects the PKESKs and returns them with the encrypted data
// packet, re-serialised with a definite length.
func splitMessage(data []byte, max int64) ([]*PKESK, []byte, error) {
	s := &packetScanner{data: data, max: max}
	var pkesks []*PKESK
	var bad []string
	skesks := 0
	for {
		p, ok, err := s.next()
		if err != nil {
			if p.offset == 0 && (errors.Is(err, errBadHeader) || !knownTag(p.tag)) {
				return nil, nil, fmt.Errorf("%w: %v", ErrNotOpenPGP, err)
			}
			return nil, nil, err
		}
		if !ok {
			return nil, nil, errTruncated
		}
		switch p.tag {
		case tagPKESK:
			pk, err := ParsePKESK(p.body)
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			pkesks = append(pkesks, pk)
		case tagSKESK:
			skesks++
		case tagMarker, tagPadding:
		case tagSEIPD, tagAEAD:
			if err := trailing(s); err != nil {
				return nil, nil, err
			}
			if len(pkesks) == 0 {
				switch {
				case len(bad) > 0:
					return nil, nil, fmt.Errorf("no usable recipient in the message: %s", strings.Join(bad, "; "))
				case skesks > 0:
					return nil, nil, fmt.Errorf("the message is encrypted with a password only: keyunlock decrypts messages encrypted to a public key (encrypt with gpg -e -r KEY or keyunlock encrypt)")
				}
				return nil, nil, fmt.Errorf("the message names no recipient (no public-key encrypted session key)")
			}
			return pkesks, append(packetHeader(p.tag, len(p.body)), p.body...), nil
		case tagSED:
			return nil, nil, fmt.Errorf("the message is encrypted without integrity protection (legacy packet 9), which is unsafe; re-encrypt it with a current tool")
		default:
			if p.offset == 0 && !knownTag(p.tag) {
				return nil, nil, fmt.Errorf("%w: the input starts with an undefined packet type (%d)", ErrNotOpenPGP, p.tag)
			}
			if p.offset == 0 {
				return nil, nil, fmt.Errorf("%w: it starts with a %s packet, not an encrypted message", ErrNotOpenPGP, tagName(p.tag))
			}
			return nil, nil, fmt.Errorf("%w: unexpected %s packet at byte %d of an encrypted message", ErrNotOpenPGP, tagName(p.tag), p.offset)
		}
	}
}

// trailing checks that nothing but padding follows the encrypted data.
func trailing(s *packetScanner) error {
	for {
		p, ok, err := s.next()
		if err != nil {
			return fmt.Errorf("garbage after the encrypted data: %v", err)
		}
		if !ok {
			return nil
		}
		if p.tag != tagPadding && p.tag != tagMarker {
			return fmt.Errorf("unexpected %s packet after the encrypted data at byte %d", tagName(p.tag), p.offset)
		}
	}
}

// decryptData decrypts the encrypted data packet, checks its integrity and
// unpacks the literal data. Nothing is returned unless everything verified.
func decryptData(pkt []byte, sk SessionKey, max int64) (plain []byte, name string, err error) {
	p, err := packet.Read(bytes.NewReader(pkt))
	if err != nil {
		return nil, "", fmt.Errorf("malformed encrypted data packet: %v", err)
	}
	var rc io.ReadCloser
	integrity := "MDC"
	switch d := p.(type) {
	case *packet.SymmetricallyEncrypted:
		if d.Version == 2 {
			integrity = "AEAD"
		} else if sk.Cipher == 0 {
			return nil, "", fmt.Errorf("malformed message: a version 6 session key with a version 1 encrypted data packet")
		}
		rc, err = d.Decrypt(sk.Cipher, sk.Key)
	case *packet.AEADEncrypted:
		integrity = "AEAD"
		rc, err = d.Decrypt(sk.Cipher, sk.Key)
	default:
		return nil, "", fmt.Errorf("malformed encrypted data packet")
	}
	if err != nil {
		return nil, "", fmt.Errorf("cannot decrypt the data: %v", err)
	}
	inner, rerr := readCapped(rc, max+64)
	cerr := rc.Close()
	if rerr != nil && !errors.Is(rerr, errCapped) || cerr != nil {
		Wipe(inner)
		return nil, "", fmt.Errorf("%w (%s): the file is corrupted or was tampered with", ErrIntegrity, integrity)
	}
	if rerr != nil {
		Wipe(inner)
		return nil, "", fmt.Errorf("the decrypted data is larger than the %s limit", sizeName(max))
	}
	defer Wipe(inner)
	return unpack(inner, max, 0)
}

// unpack parses the authenticated inner packets: compressed data (at most
// two levels), one-pass signatures and signatures (skipped), literal data.
func unpack(inner []byte, max int64, depth int) ([]byte, string, error) {
	r := bytes.NewReader(inner)
	for {
		p, err := packet.Read(r)
		if err == io.EOF {
			return nil, "", fmt.Errorf("malformed message: no literal data inside the encrypted data")
		}
		if err != nil {
			return nil, "", fmt.Errorf("malformed message contents: %v", err)
		}
		switch d := p.(type) {
		case *packet.Compressed:
			if depth >= 2 {
				return nil, "", fmt.Errorf("malformed message: compressed data nested too deeply")
			}
			body, err := readCapped(d.Body, max)
			if errors.Is(err, errCapped) {
				Wipe(body)
				return nil, "", fmt.Errorf("the message decompresses to more than the %s limit (a compression bomb?)", sizeName(max))
			}
			if err != nil {
				Wipe(body)
				return nil, "", fmt.Errorf("malformed compressed data: %v", err)
			}
			plain, name, err := unpack(body, max, depth+1)
			Wipe(body)
			if err == nil {
				err = onlySignaturesLeft(inner[len(inner)-r.Len():], max)
			}
			if err != nil {
				Wipe(plain)
				return nil, "", err
			}
			return plain, name, nil
		case *packet.LiteralData:
			body, err := readCapped(d.Body, max)
			if errors.Is(err, errCapped) {
				Wipe(body)
				return nil, "", fmt.Errorf("the literal data is larger than the %s limit", sizeName(max))
			}
			if err != nil {
				Wipe(body)
				return nil, "", fmt.Errorf("malformed literal data: %v", err)
			}
			if err := onlySignaturesLeft(inner[len(inner)-r.Len():], max); err != nil {
				Wipe(body)
				return nil, "", err
			}
			return body, d.FileName, nil
		case *packet.OnePassSignature, *packet.Signature:
			// keyfiles are not signature-checked; skip.
		default:
			return nil, "", fmt.Errorf("malformed message: unexpected %T inside the encrypted data", p)
		}
	}
}

// onlySignaturesLeft checks that what follows the literal data inside the
// encryption is nothing but signatures (or padding): a second literal packet
// or anything else makes the message ambiguous, so it is refused.
func onlySignaturesLeft(rest []byte, max int64) error {
	s := &packetScanner{data: rest, max: max}
	for {
		p, ok, err := s.next()
		if err != nil {
			return fmt.Errorf("malformed message: garbage after the literal data inside the encrypted data: %v", err)
		}
		if !ok {
			return nil
		}
		if p.tag != tagSignature && p.tag != tagPadding && p.tag != tagMarker {
			return fmt.Errorf("malformed message: a %s packet follows the literal data inside the encrypted data", tagName(p.tag))
		}
	}
}

// errCapped is returned by readCapped when the reader holds more than the cap.
var errCapped = errors.New("size limit exceeded")

// readCapped reads r to EOF into a buffer of at most limit bytes. Buffers
// outgrown on the way are wiped, so no stray copy of the data stays behind.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, errCapped
			}
			nb := make([]byte, len(buf), min(int64(2*cap(buf)), limit+1))
			copy(nb, buf)
			Wipe(buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errCapped
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
