package core

import (
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
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

	// A passphrase given in a file is known already: start its key
	// derivation now, while the keys are checked and chosen.
	if release := prederive(ctx, svc, pkesks, opts.Prompter); release != nil {
		defer release()
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
	s := &packetScanner{data: pkt, max: max}
	p, ok, err := s.next()
	if err != nil || !ok || len(p.body) < 1 {
		return nil, "", fmt.Errorf("malformed encrypted data packet")
	}
	var inner []byte
	integrity := "MDC"
	switch {
	case p.tag == tagAEAD:
		integrity = "AEAD"
		inner, err = decryptAEADLegacy(p.body, sk)
	case p.body[0] == 1:
		if sk.Cipher == 0 {
			return nil, "", fmt.Errorf("malformed message: a version 6 session key with a version 1 encrypted data packet")
		}
		inner, err = decryptSEIPDv1(p.body[1:], sk)
	case p.body[0] == 2:
		integrity = "AEAD"
		inner, err = decryptSEIPDv2(p.body[1:], sk)
	default:
		return nil, "", fmt.Errorf("cannot decrypt the data: unsupported encrypted data packet version %d", p.body[0])
	}
	if errors.Is(err, errTagMismatch) {
		return nil, "", fmt.Errorf("%w (%s): the file is corrupted or was tampered with", ErrIntegrity, integrity)
	}
	if err != nil {
		return nil, "", fmt.Errorf("cannot decrypt the data: %v", err)
	}
	defer Wipe(inner)
	if int64(len(inner)) > max+64 {
		return nil, "", fmt.Errorf("the decrypted data is larger than the %s limit", sizeName(max))
	}
	return unpack(inner, max, 0)
}

// Compression algorithms of the compressed data packet (RFC 9580 §9.4).
const (
	compressNone  = 0
	compressZIP   = 1
	compressZLIB  = 2
	compressBZIP2 = 3
)

// decompressor returns a reader of the decompressed contents of a
// compressed data packet body.
func decompressor(body []byte) (io.Reader, error) {
	if len(body) < 1 {
		return nil, errors.New("empty compressed data packet")
	}
	r := bytes.NewReader(body[1:])
	switch body[0] {
	case compressNone:
		return r, nil
	case compressZIP:
		return flate.NewReader(r), nil
	case compressZLIB:
		return zlib.NewReader(r)
	case compressBZIP2:
		return bzip2.NewReader(r), nil
	}
	return nil, fmt.Errorf("unsupported compression algorithm %d", body[0])
}

// literalData splits a literal data packet body (RFC 9580 §5.9): format,
// file name, date, data.
func literalData(body []byte) (data []byte, name string, err error) {
	if len(body) < 2 || len(body) < 2+int(body[1])+4 {
		return nil, "", errors.New("truncated literal data header")
	}
	n := int(body[1])
	return body[2+n+4:], string(body[2 : 2+n]), nil
}

// unpack parses the authenticated inner packets: compressed data (at most
// two levels), one-pass signatures and signatures (skipped), literal data.
func unpack(inner []byte, max int64, depth int) ([]byte, string, error) {
	// The inner packets are in memory already: a length past their end is
	// a truncated (malformed) packet, not one above a size limit.
	s := &packetScanner{data: inner, max: 1 << 62}
	for {
		p, ok, err := s.next()
		if err != nil {
			return nil, "", fmt.Errorf("malformed message contents: %v", err)
		}
		if !ok {
			return nil, "", fmt.Errorf("malformed message: no literal data inside the encrypted data")
		}
		switch p.tag {
		case tagCompressed:
			if depth >= 2 {
				return nil, "", fmt.Errorf("malformed message: compressed data nested too deeply")
			}
			r, err := decompressor(p.body)
			if err != nil {
				return nil, "", fmt.Errorf("malformed message contents: %v", err)
			}
			body, err := readCapped(r, max)
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
				err = onlySignaturesLeft(inner[s.off:], max)
			}
			if err != nil {
				Wipe(plain)
				return nil, "", err
			}
			return plain, name, nil
		case tagLiteral:
			data, name, err := literalData(p.body)
			if err != nil {
				return nil, "", fmt.Errorf("malformed literal data: %v", err)
			}
			if int64(len(data)) > max {
				return nil, "", fmt.Errorf("the literal data is larger than the %s limit", sizeName(max))
			}
			if err := onlySignaturesLeft(inner[s.off:], max); err != nil {
				return nil, "", err
			}
			return bytes.Clone(data), name, nil
		case tagOnePass, tagSignature:
			// keyfiles are not signature-checked; skip.
		default:
			return nil, "", fmt.Errorf("malformed message: unexpected %s packet inside the encrypted data", tagName(p.tag))
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
