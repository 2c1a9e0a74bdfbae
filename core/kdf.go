package core

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/ProtonMail/go-crypto/openpgp/aes/keywrap"

	"github.com/keyunlock/keyunlock/internal/pgp"
)

// RawDecrypter is the private-key half of a key: it computes the raw RSA
// decryption or the ECDH shared secret, and DecryptPKESKRaw does the
// OpenPGP rest. Card keys implement it with the card's PSO:DECIPHER, soft
// keys with the standard library.
type RawDecrypter interface {
	// DecryptRSA returns the PKCS#1 v1.5-unpadded plaintext of the RSA
	// ciphertext c (big-endian, possibly shorter than the modulus).
	DecryptRSA(ctx context.Context, c []byte) ([]byte, error)
	// ECDH returns the shared secret for the sender's ephemeral public key:
	// the X coordinate, of the curve's coordinate size, for NIST and
	// brainpool curves (ephemeral given as 04‖X‖Y), or the 32-byte X25519
	// (56-byte X448) output for an ephemeral given as raw bytes, without
	// the 0x40 prefix of RFC 6637 points.
	ECDH(ctx context.Context, ephemeral []byte) ([]byte, error)
}

// ElGamalDecrypter is implemented by a RawDecrypter that can also decrypt
// ElGamal: it returns the PKCS#1 v1.5-unpadded plaintext of (c1, c2).
type ElGamalDecrypter interface {
	DecryptElGamal(ctx context.Context, c1, c2 []byte) ([]byte, error)
}

// ErrBadPKESK is wrapped by errors about a PKESK that does not decrypt
// consistently (bad checksum, failed key unwrap, wrong lengths).
var ErrBadPKESK = errors.New("session key does not decrypt")

// DecryptPKESKRaw recovers the session key of p, addressed to pub, using
// d for the private-key operation. It supports RSA (algorithms 1 and 2),
// ElGamal (16, when d implements ElGamalDecrypter), ECDH (18, RFC 6637: KDF
// and AES key unwrap, NIST, brainpool and Curve25519/448 curves), X25519
// and X448 (25 and 26, RFC 9580: HKDF and AES key unwrap), in v3 and v6
// PKESKs.
func DecryptPKESKRaw(ctx context.Context, p *PKESK, pub *pgp.PublicKey, d RawDecrypter) (*SessionKey, error) {
	f, err := parsePKESKFields(p)
	if err != nil {
		return nil, err
	}
	if !compatibleAlgo(f.algo, pub.Algo) {
		return nil, fmt.Errorf("PKESK for algorithm %d, key %X is algorithm %d", f.algo, pub.Fingerprint, pub.Algo)
	}
	switch f.algo {
	case pgp.RSA, pgp.RSAEncryptOnly:
		m, err := d.DecryptRSA(ctx, f.mpi1)
		if err != nil {
			return nil, err
		}
		defer Wipe(m)
		return decodeChecksummed(m, p.Version)
	case pgp.ElGamal:
		eg, ok := d.(ElGamalDecrypter)
		if !ok {
			return nil, fmt.Errorf("key %X cannot decrypt ElGamal", pub.Fingerprint)
		}
		m, err := eg.DecryptElGamal(ctx, f.mpi1, f.mpi2)
		if err != nil {
			return nil, err
		}
		defer Wipe(m)
		return decodeChecksummed(m, p.Version)
	case pgp.ECDH:
		return decryptECDH(ctx, p, f, pub, d)
	case pgp.X25519, pgp.X448:
		return decryptX(ctx, p, f, pub, d)
	}
	return nil, fmt.Errorf("public-key algorithm %d is not supported", f.algo)
}

// KeyParams are the parts of a v4 RSA or ECDH public key that session-key
// recovery needs, for a caller that knows them without the public key
// packet: an OpenPGP card names its algorithm and curve (C1–C3) and its
// fingerprint (C5), and can guess the ECDH KDF parameters from the curve.
type KeyParams struct {
	// Algo is the public-key algorithm: RSA (1, 2) or ECDH (18).
	Algo pgp.PublicKeyAlgorithm
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
	pub := &pgp.PublicKey{Version: 4, Algo: kp.Algo, Fingerprint: kp.Fingerprint}
	switch {
	case isRSA(kp.Algo):
	case kp.Algo == pgp.ECDH:
		if len(kp.CurveOID) == 0 || len(kp.CurveOID) > 255 || len(kp.Fingerprint) != 20 {
			return nil, fmt.Errorf("ECDH key %X: needs a curve OID and a 20-byte fingerprint", kp.Fingerprint)
		}
		pub.OID, pub.Curve = kp.CurveOID, pgp.CurveByOID(kp.CurveOID)
		pub.KDFHash, pub.KDFCipher = kp.KDFHash, pgp.CipherFunction(kp.KDFCipher)
	default:
		return nil, fmt.Errorf("key %X: public-key algorithm %d needs the public key itself", kp.Fingerprint, kp.Algo)
	}
	return DecryptPKESKRaw(ctx, p, pub, d)
}

// decryptECDH is RFC 6637 §8: ECDH with the ephemeral key, the KDF, AES key
// unwrap and the PKCS#5-style padding.
func decryptECDH(ctx context.Context, p *PKESK, f *pkeskFields, pub *pgp.PublicKey, d RawDecrypter) (*SessionKey, error) {
	eph := f.mpi1
	montgomery := pub.Curve.Montgomery()
	if montgomery {
		if len(eph) != pub.Curve.Coord+1 || eph[0] != 0x40 {
			return nil, fmt.Errorf("%w: %s ephemeral of %d bytes", ErrBadPKESK, pub.Name(), len(eph))
		}
		eph = eph[1:]
	}
	zb, err := d.ECDH(ctx, eph)
	if err != nil {
		return nil, err
	}
	defer Wipe(zb)
	if montgomery && allZero(zb) {
		return nil, fmt.Errorf("%w: all-zero shared secret (low-order ephemeral key)", ErrBadPKESK)
	}
	// Like go-crypto, also accept the KDF input without ZB's leading
	// zeros (old go-crypto senders) or trailing zeros (old OpenPGP.js).
	var m []byte
	unwrapped := false
	for _, z := range [][]byte{zb, bytes.TrimLeft(zb, "\x00"), bytes.TrimRight(zb, "\x00")} {
		kek, err := ecdhKEK(pub, z)
		if err != nil {
			return nil, err
		}
		m, err = keywrap.Unwrap(kek, f.wrapped)
		Wipe(kek)
		if err == nil {
			unwrapped = true
			break
		}
		if len(bytes.TrimLeft(zb, "\x00")) == len(zb) && len(bytes.TrimRight(zb, "\x00")) == len(zb) {
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
}

// decryptX is RFC 9580 §5.1.6 and §5.1.7: X25519 or X448, HKDF (SHA-256 or
// SHA-512) over ephemeral ‖ recipient key ‖ shared secret, AES key unwrap.
func decryptX(ctx context.Context, p *PKESK, f *pkeskFields, pub *pgp.PublicKey, d RawDecrypter) (*SessionKey, error) {
	name, size, keyLen, info := "X25519", 32, 16, "OpenPGP X25519"
	h := sha256.New
	if f.algo == pgp.X448 {
		name, size, keyLen, info = "X448", 56, 32, "OpenPGP X448"
		h = func() hash.Hash { return sha512.New() }
	}
	if len(pub.Point) != size {
		return nil, fmt.Errorf("%s key %X has a %d-byte public key", name, pub.Fingerprint, len(pub.Point))
	}
	shared, err := d.ECDH(ctx, f.mpi1)
	if err != nil {
		return nil, err
	}
	defer Wipe(shared)
	if len(shared) != size {
		return nil, fmt.Errorf("%w: %s shared secret of %d bytes", ErrBadPKESK, name, len(shared))
	}
	if allZero(shared) {
		return nil, fmt.Errorf("%w: all-zero %s shared secret (low-order ephemeral key)", ErrBadPKESK, name)
	}
	ikm := make([]byte, 0, 3*size)
	ikm = append(append(append(ikm, f.mpi1...), pub.Point...), shared...)
	defer Wipe(ikm)
	kek, err := hkdf.Key(h, ikm, nil, info, keyLen)
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
		sk.Cipher = pgp.CipherFunction(f.cipher)
		if !sk.Cipher.IsAES() {
			sk.Wipe()
			return nil, fmt.Errorf("%w: v3 %s PKESK names cipher %d, not AES", ErrBadPKESK, name, f.cipher)
		}
		if len(key) != sk.Cipher.KeySize() {
			sk.Wipe()
			return nil, fmt.Errorf("%w: %d-byte key for cipher %d", ErrBadPKESK, len(key), f.cipher)
		}
	}
	return sk, nil
}

func isRSA(a pgp.PublicKeyAlgorithm) bool {
	return a == pgp.RSA || a == pgp.RSAEncryptOnly
}

// decodeChecksummed splits `[algo ‖] key ‖ checksum(2)`: v3 PKESKs carry
// the cipher octet, v6 ones do not.
func decodeChecksummed(m []byte, version int) (*SessionKey, error) {
	sk := &SessionKey{}
	if version == 3 {
		if len(m) < 1 {
			return nil, fmt.Errorf("%w: empty", ErrBadPKESK)
		}
		sk.Cipher = pgp.CipherFunction(m[0])
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
	want := binary.BigEndian.Uint16(m[len(m)-2:])
	if subtle.ConstantTimeEq(int32(pgp.Checksum(key)), int32(want)) != 1 {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadPKESK)
	}
	sk.Key = bytes.Clone(key)
	return sk, nil
}

// ecdhKEK is RFC 6637 §7's key-wrap key: pgp.ECDHKDF's hash cut to the
// key-wrap cipher's key length.
func ecdhKEK(pub *pgp.PublicKey, zb []byte) ([]byte, error) {
	h, ok := kdfHashes[pub.KDFHash]
	if !ok || !h.Available() {
		return nil, fmt.Errorf("ECDH key %X names unsupported KDF hash %d", pub.Fingerprint, pub.KDFHash)
	}
	if !pub.KDFCipher.IsAES() {
		return nil, fmt.Errorf("ECDH key %X names unsupported key-wrap cipher %d", pub.Fingerprint, pub.KDFCipher)
	}
	mb := pgp.ECDHKDF(h.New(), pub, zb)
	keyLen := pub.KDFCipher.KeySize()
	if len(mb) < keyLen {
		return nil, fmt.Errorf("ECDH KDF hash %d is shorter than the %d-byte key", pub.KDFHash, keyLen)
	}
	return mb[:keyLen], nil
}

var kdfHashes = map[byte]crypto.Hash{8: crypto.SHA256, 9: crypto.SHA384, 10: crypto.SHA512}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// pkeskFields are the algorithm-specific fields of a PKESK body.
type pkeskFields struct {
	body    []byte // the PKESK body the fields were parsed from
	algo    pgp.PublicKeyAlgorithm
	mpi1    []byte // RSA ciphertext, ElGamal c1, ECDH ephemeral point (MPI value), or X25519/X448 ephemeral
	mpi2    []byte // ElGamal c2
	wrapped []byte // ECDH / X25519 wrapped session key
	cipher  byte   // v3 X25519: cipher octet
}

// parsePKESKFields takes apart the algorithm-specific fields of p's body,
// or returns those ParsePKESK found when p.Body is unchanged.
func parsePKESKFields(p *PKESK) (*pkeskFields, error) {
	if f := p.fields; f != nil && len(p.Body) == len(f.body) && len(f.body) > 0 && &p.Body[0] == &f.body[0] {
		return f, nil
	}
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
	f := &pkeskFields{body: p.Body, algo: pgp.PublicKeyAlgorithm(b[0])}
	b = b[1:]
	switch f.algo {
	case pgp.RSA, pgp.RSAEncryptOnly:
		v, _, err := readMPI(b)
		if err != nil {
			return nil, bad(err.Error())
		}
		f.mpi1 = v
	case pgp.ElGamal:
		v, rest, err := readMPI(b)
		if err != nil {
			return nil, bad(err.Error())
		}
		w, _, err := readMPI(rest)
		if err != nil {
			return nil, bad(err.Error())
		}
		f.mpi1, f.mpi2 = v, w
	case pgp.ECDH:
		v, rest, err := readMPI(b)
		if err != nil {
			return nil, bad(err.Error())
		}
		f.mpi1 = v
		if len(rest) > 0 && rest[0] == 0xFF {
			return nil, bad("unsupported wrapped key length 255 (reserved for extensions)")
		}
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) || rest[0] < 24 {
			return nil, bad("wrapped key")
		}
		f.wrapped = rest[1 : 1+int(rest[0])]
	case pgp.X25519, pgp.X448:
		size := 32
		if f.algo == pgp.X448 {
			size = 56
		}
		if len(b) < size+1 {
			return nil, bad("truncated ephemeral key")
		}
		f.mpi1 = b[:size]
		n := int(b[size])
		rest := b[size+1:]
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
		return nil, fmt.Errorf("PKESK for %s uses public-key algorithm %d, which keyunlock does not support", p.Recipient(), f.algo)
	}
	return f, nil
}

// readMPI reads a non-empty MPI (pgp.ReadMPI).
func readMPI(b []byte) (value, rest []byte, err error) {
	value, rest, ok := pgp.ReadMPI(b)
	if !ok || len(value) == 0 {
		return nil, nil, errors.New("truncated MPI")
	}
	return value, rest, nil
}
