package core

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hkdf"
	"crypto/sha256"
	_ "crypto/sha512" // ECDH KDF hashes
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp/aes/keywrap"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// RawDecrypter is the private-key half of a key that lives outside the
// process, such as on an OpenPGP card: it computes the raw RSA decryption
// or the ECDH shared secret, and DecryptPKESKRaw does the OpenPGP rest.
type RawDecrypter interface {
	// DecryptRSA returns the PKCS#1 v1.5-unpadded plaintext of the RSA
	// ciphertext c (big-endian, possibly shorter than the modulus).
	DecryptRSA(ctx context.Context, c []byte) ([]byte, error)
	// ECDH returns the shared secret for the sender's ephemeral public key:
	// the X coordinate, of the curve's coordinate size, for NIST and
	// brainpool curves (ephemeral given as 04‖X‖Y), or the 32-byte X25519
	// output (ephemeral given as 32 raw bytes, without the 0x40 prefix).
	ECDH(ctx context.Context, ephemeral []byte) ([]byte, error)
}

// ErrBadPKESK is wrapped by errors about a PKESK that does not decrypt
// consistently (bad checksum, failed key unwrap, wrong lengths).
var ErrBadPKESK = errors.New("session key does not decrypt")

// DecryptPKESKRaw recovers the session key of p, addressed to pub, using
// d for the private-key operation. It supports RSA (algorithms 1 and 2),
// ECDH (18, RFC 6637: KDF and AES key unwrap) and X25519 (25, RFC 9580:
// HKDF-SHA256 and AES key unwrap), in v3 and v6 PKESKs.
func DecryptPKESKRaw(ctx context.Context, p *PKESK, pub *packet.PublicKey, d RawDecrypter) (*SessionKey, error) {
	kp, err := parsePublicParams(pub)
	if err != nil {
		return nil, err
	}
	return decryptPKESK(ctx, p, kp, pub.Fingerprint, d)
}

// KeyParams are the parts of a v4 RSA or ECDH public key that session-key
// recovery needs, for a caller that knows them without the public key
// packet: an OpenPGP card names its algorithm and curve (C1–C3) and its
// fingerprint (C5), and can guess the ECDH KDF parameters from the curve.
type KeyParams struct {
	// Algo is the public-key algorithm: RSA (1, 2) or ECDH (18).
	Algo packet.PublicKeyAlgorithm
	// CurveOID is the ECDH curve's OID, without its length octet.
	CurveOID []byte
	// KDFHash and KDFCipher are the ECDH KDF parameters (RFC 9580 hash
	// ids 8, 9, 10 and AES key-wrap cipher ids 7, 8, 9).
	KDFHash, KDFCipher byte
	// Fingerprint is the 20-byte v4 fingerprint, an input of the ECDH KDF.
	Fingerprint []byte
}

// DecryptPKESKParams is DecryptPKESKRaw for a v4 RSA or ECDH key given by
// its parameters instead of its public key packet. With wrong ECDH KDF
// parameters the AES key unwrap fails: the error wraps ErrBadPKESK.
func DecryptPKESKParams(ctx context.Context, p *PKESK, kp KeyParams, d RawDecrypter) (*SessionKey, error) {
	pp := &publicParams{version: 4, algo: kp.Algo}
	switch {
	case isRSA(kp.Algo):
	case kp.Algo == packet.PubKeyAlgoECDH:
		if len(kp.CurveOID) == 0 || len(kp.CurveOID) > 255 || len(kp.Fingerprint) != 20 {
			return nil, fmt.Errorf("ECDH key %X: needs a curve OID and a 20-byte fingerprint", kp.Fingerprint)
		}
		pp.oid = append([]byte{byte(len(kp.CurveOID))}, kp.CurveOID...)
		pp.montgomery = bytes.Equal(pp.oid, oidCurve25519)
		pp.kdfHash, pp.kdfCipher = kp.KDFHash, kp.KDFCipher
	default:
		return nil, fmt.Errorf("key %X: public-key algorithm %d needs the public key itself", kp.Fingerprint, kp.Algo)
	}
	return decryptPKESK(ctx, p, pp, kp.Fingerprint, d)
}

func decryptPKESK(ctx context.Context, p *PKESK, kp *publicParams, fingerprint []byte, d RawDecrypter) (*SessionKey, error) {
	f, err := parsePKESKFields(p)
	if err != nil {
		return nil, err
	}
	if kp.algo != f.algo && !(isRSA(kp.algo) && isRSA(f.algo)) {
		return nil, fmt.Errorf("PKESK for algorithm %d, key %X is algorithm %d", f.algo, fingerprint, kp.algo)
	}
	switch f.algo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly:
		m, err := d.DecryptRSA(ctx, f.mpi1)
		if err != nil {
			return nil, err
		}
		defer Wipe(m)
		return decodeChecksummed(m, p.Version)
	case packet.PubKeyAlgoECDH:
		eph := f.mpi1
		if kp.montgomery {
			if len(eph) != 33 || eph[0] != 0x40 {
				return nil, fmt.Errorf("%w: cv25519 ephemeral of %d bytes", ErrBadPKESK, len(eph))
			}
			eph = eph[1:]
		}
		zb, err := d.ECDH(ctx, eph)
		if err != nil {
			return nil, err
		}
		defer Wipe(zb)
		if kp.montgomery && allZero(zb) {
			return nil, fmt.Errorf("%w: all-zero X25519 shared secret (low-order ephemeral key)", ErrBadPKESK)
		}
		// Like go-crypto, also accept the KDF input without ZB's leading
		// zeros (old go-crypto senders) or trailing zeros (old OpenPGP.js).
		var m []byte
		unwrapped := false
		for _, z := range [][]byte{zb, bytes.TrimLeft(zb, "\x00"), bytes.TrimRight(zb, "\x00")} {
			kek, err := ecdhKEK(kp, z, fingerprint)
			if err != nil {
				return nil, err
			}
			m, err = keywrap.Unwrap(kek, f.wrapped)
			Wipe(kek)
			if err == nil {
				unwrapped = true
				break
			}
			if len(z) == len(zb) && len(bytes.TrimLeft(zb, "\x00")) == len(zb) && len(bytes.TrimRight(zb, "\x00")) == len(zb) {
				break // nothing to strip: no point in trying again
			}
		}
		if !unwrapped || len(m) == 0 {
			return nil, fmt.Errorf("%w: AES key unwrap failed (wrong key or corrupt message)", ErrBadPKESK)
		}
		defer Wipe(m)
		n := int(m[len(m)-1])
		if n == 0 || n > len(m) || !bytes.Equal(m[len(m)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
			return nil, fmt.Errorf("%w: bad padding", ErrBadPKESK)
		}
		return decodeChecksummed(m[:len(m)-n], p.Version)
	case packet.PubKeyAlgoX25519:
		if len(kp.x25519) != 32 {
			return nil, fmt.Errorf("X25519 key %X has a %d-byte public key", fingerprint, len(kp.x25519))
		}
		shared, err := d.ECDH(ctx, f.mpi1)
		if err != nil {
			return nil, err
		}
		defer Wipe(shared)
		if len(shared) != 32 {
			return nil, fmt.Errorf("%w: X25519 shared secret of %d bytes", ErrBadPKESK, len(shared))
		}
		if allZero(shared) {
			return nil, fmt.Errorf("%w: all-zero X25519 shared secret (low-order ephemeral key)", ErrBadPKESK)
		}
		ikm := make([]byte, 0, 96)
		ikm = append(append(append(ikm, f.mpi1...), kp.x25519...), shared...)
		defer Wipe(ikm)
		kek, err := hkdf.Key(sha256.New, ikm, nil, "OpenPGP X25519", 16)
		if err != nil {
			return nil, err
		}
		defer Wipe(kek)
		key, err := keywrap.Unwrap(kek, f.wrapped)
		if err != nil {
			return nil, fmt.Errorf("%w: AES key unwrap failed (wrong key or corrupt message)", ErrBadPKESK)
		}
		sk := &SessionKey{Key: key}
		if p.Version == 3 {
			sk.Cipher = packet.CipherFunction(f.cipher)
			switch sk.Cipher {
			case packet.CipherAES128, packet.CipherAES192, packet.CipherAES256:
			default:
				sk.Wipe()
				return nil, fmt.Errorf("%w: v3 X25519 PKESK names cipher %d, not AES", ErrBadPKESK, f.cipher)
			}
			if len(key) != sk.Cipher.KeySize() {
				sk.Wipe()
				return nil, fmt.Errorf("%w: %d-byte key for cipher %d", ErrBadPKESK, len(key), f.cipher)
			}
		}
		return sk, nil
	}
	return nil, fmt.Errorf("public-key algorithm %d is not supported by this key", f.algo)
}

func isRSA(a packet.PublicKeyAlgorithm) bool {
	return a == packet.PubKeyAlgoRSA || a == packet.PubKeyAlgoRSAEncryptOnly
}

// decodeChecksummed splits `[algo ‖] key ‖ checksum(2)`: v3 PKESKs carry
// the cipher octet, v6 ones do not.
func decodeChecksummed(m []byte, version int) (*SessionKey, error) {
	sk := &SessionKey{}
	if version == 3 {
		if len(m) < 1 {
			return nil, fmt.Errorf("%w: empty", ErrBadPKESK)
		}
		sk.Cipher = packet.CipherFunction(m[0])
		m = m[1:]
		if sk.Cipher.KeySize() == 0 {
			return nil, fmt.Errorf("%w: unknown cipher %d (wrong key?)", ErrBadPKESK, sk.Cipher)
		}
		if len(m) != sk.Cipher.KeySize()+2 {
			return nil, fmt.Errorf("%w: %d bytes for cipher %d", ErrBadPKESK, len(m), sk.Cipher)
		}
	}
	if len(m) < 2+16 {
		return nil, fmt.Errorf("%w: truncated session key", ErrBadPKESK)
	}
	key := m[:len(m)-2]
	var sum uint16
	for _, c := range key {
		sum += uint16(c)
	}
	want := binary.BigEndian.Uint16(m[len(m)-2:])
	if subtle.ConstantTimeEq(int32(sum), int32(want)) != 1 {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadPKESK)
	}
	sk.Key = bytes.Clone(key)
	return sk, nil
}

// ecdhKEK is RFC 6637 §7: Hash(00 00 00 01 ‖ ZB ‖ Param)[:keylen], with
// Param = OID (with length) ‖ 12 ‖ 03 01 hash cipher ‖ "Anonymous Sender    " ‖ fingerprint.
func ecdhKEK(kp *publicParams, zb, fingerprint []byte) ([]byte, error) {
	h, ok := kdfHashes[kp.kdfHash]
	if !ok || !h.Available() {
		return nil, fmt.Errorf("ECDH key names unsupported KDF hash %d", kp.kdfHash)
	}
	keyLen, ok := kdfCiphers[kp.kdfCipher]
	if !ok {
		return nil, fmt.Errorf("ECDH key names unsupported key-wrap cipher %d", kp.kdfCipher)
	}
	if kp.version == 5 {
		fingerprint = fingerprint[:20]
	}
	hh := h.New()
	hh.Write([]byte{0, 0, 0, 1})
	hh.Write(zb)
	hh.Write(kp.oid)
	hh.Write([]byte{18, 3, 1, kp.kdfHash, kp.kdfCipher})
	hh.Write([]byte("Anonymous Sender    "))
	hh.Write(fingerprint)
	mb := hh.Sum(nil)
	if len(mb) < keyLen {
		return nil, fmt.Errorf("ECDH KDF hash %d is shorter than the %d-byte key", kp.kdfHash, keyLen)
	}
	return mb[:keyLen], nil
}

var kdfHashes = map[byte]crypto.Hash{8: crypto.SHA256, 9: crypto.SHA384, 10: crypto.SHA512}
var kdfCiphers = map[byte]int{7: 16, 8: 24, 9: 32}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// pkeskFields are the algorithm-specific fields of a PKESK body.
type pkeskFields struct {
	algo    packet.PublicKeyAlgorithm
	mpi1    []byte // RSA ciphertext, ECDH ephemeral point (MPI value), or X25519 ephemeral
	wrapped []byte // ECDH / X25519 wrapped session key
	cipher  byte   // v3 X25519: cipher octet
}

func parsePKESKFields(p *PKESK) (*pkeskFields, error) {
	b := p.Body
	bad := func(what string) error { return fmt.Errorf("malformed PKESK for %s: %s", p.Recipient(), what) }
	if len(b) < 1 {
		return nil, bad("empty")
	}
	switch b[0] {
	case 3:
		if len(b) < 10 {
			return nil, bad("truncated header")
		}
		b = b[9:]
	case 6:
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return nil, bad("truncated header")
		}
		b = b[2+int(b[1]):]
	default:
		return nil, bad(fmt.Sprintf("version %d", b[0]))
	}
	if len(b) < 1 {
		return nil, bad("no algorithm")
	}
	f := &pkeskFields{algo: packet.PublicKeyAlgorithm(b[0])}
	b = b[1:]
	switch f.algo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly:
		v, _, err := readMPI(b)
		if err != nil {
			return nil, bad(err.Error())
		}
		f.mpi1 = v
	case packet.PubKeyAlgoECDH:
		v, rest, err := readMPI(b)
		if err != nil {
			return nil, bad(err.Error())
		}
		f.mpi1 = v
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) || rest[0] < 24 {
			return nil, bad("wrapped key")
		}
		f.wrapped = rest[1 : 1+int(rest[0])]
	case packet.PubKeyAlgoX25519:
		if len(b) < 33 {
			return nil, bad("truncated X25519 fields")
		}
		f.mpi1 = b[:32]
		n := int(b[32])
		rest := b[33:]
		if len(rest) < n {
			return nil, bad("truncated wrapped key")
		}
		rest = rest[:n]
		if p.Version == 3 {
			if n < 1 {
				return nil, bad("missing cipher octet")
			}
			f.cipher = rest[0]
			rest = rest[1:]
		}
		if len(rest) < 24 || len(rest)%8 != 0 {
			return nil, bad("wrapped key length")
		}
		f.wrapped = rest
	default:
		return nil, fmt.Errorf("PKESK for %s uses public-key algorithm %d, which keyunlock cannot decrypt with a card", p.Recipient(), f.algo)
	}
	return f, nil
}

func readMPI(b []byte) (value, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, errors.New("truncated MPI")
	}
	bits := int(binary.BigEndian.Uint16(b))
	n := (bits + 7) / 8
	if len(b) < 2+n || n == 0 {
		return nil, nil, errors.New("truncated MPI")
	}
	return b[2 : 2+n], b[2+n:], nil
}

// publicParams are the parts of a public key the session-key derivation needs.
type publicParams struct {
	version            int
	algo               packet.PublicKeyAlgorithm
	oid                []byte // ECDH: OID with its length octet
	montgomery         bool   // ECDH on Curve25519
	kdfHash, kdfCipher byte
	x25519             []byte
}

var oidCurve25519 = []byte{0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01}

// parsePublicParams takes the key's own serialisation apart: go-crypto does
// not export the OID and KDF fields.
func parsePublicParams(pub *packet.PublicKey) (*publicParams, error) {
	var buf bytes.Buffer
	if err := pub.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("key %X: %w", pub.Fingerprint, err)
	}
	body, err := packetBody(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("key %X: %w", pub.Fingerprint, err)
	}
	bad := fmt.Errorf("key %X: malformed public key packet", pub.Fingerprint)
	if len(body) < 6 {
		return nil, bad
	}
	kp := &publicParams{version: int(body[0])}
	b := body[5:]
	kp.algo = packet.PublicKeyAlgorithm(b[0])
	b = b[1:]
	if kp.version >= 5 {
		if len(b) < 4 {
			return nil, bad
		}
		b = b[4:]
	}
	switch kp.algo {
	case packet.PubKeyAlgoECDH:
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, bad
		}
		kp.oid = b[:1+int(b[0])]
		kp.montgomery = bytes.Equal(kp.oid, oidCurve25519)
		_, rest, err := readMPI(b[1+int(b[0]):])
		if err != nil || len(rest) < 4 || rest[0] < 3 || rest[1] != 1 {
			return nil, bad
		}
		kp.kdfHash, kp.kdfCipher = rest[2], rest[3]
	case packet.PubKeyAlgoX25519:
		if len(b) < 32 {
			return nil, bad
		}
		kp.x25519 = b[:32]
	}
	return kp, nil
}

// packetBody strips a new-format packet header.
func packetBody(p []byte) ([]byte, error) {
	if len(p) < 2 || p[0]&0xC0 != 0xC0 {
		return nil, errors.New("unexpected packet header")
	}
	switch l := p[1]; {
	case l < 192:
		if len(p) < 2+int(l) {
			break
		}
		return p[2 : 2+int(l)], nil
	case l < 224:
		if len(p) < 3 {
			break
		}
		n := (int(l)-192)<<8 + int(p[2]) + 192
		if len(p) < 3+n {
			break
		}
		return p[3 : 3+n], nil
	case l == 255:
		if len(p) < 6 {
			break
		}
		n := int(binary.BigEndian.Uint32(p[2:6]))
		if n < 0 || len(p) < 6+n {
			break
		}
		return p[6 : 6+n], nil
	}
	return nil, errors.New("truncated packet")
}
