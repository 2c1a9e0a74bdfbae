// Command gen writes the hostile-input corpus of testdata/hostile: it makes
// valid keys and messages with go-crypto, mutates them in targeted ways and
// records each file's expected error class in MANIFEST.json.
//
//	go run ./internal/hostile/gen -out testdata/hostile
//
// The output depends on fresh randomness, so regenerating rewrites every
// file; the classes do not change.
package main

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"

	"github.com/keyunlock/keyunlock/internal/hostile"
)

const (
	passphrase = "hostile corpus passphrase"
	plaintext  = "the plaintext of the hostile corpus: it must never be written out\n"
)

var (
	out      = flag.String("out", "testdata/hostile", "corpus directory")
	manifest = hostile.Manifest{Passphrase: passphrase, Plaintext: plaintext}
	created  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func main() {
	flag.Parse()
	for _, d := range []string{"messages", "keys", "card"} {
		if err := os.RemoveAll(filepath.Join(*out, d)); err != nil {
			log.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(*out, d), 0o755); err != nil {
			log.Fatal(err)
		}
	}
	v4 := newEntity(false)
	v6 := newEntity(true)
	writeKey("keys/message-key-v4.pgp", hostile.ClassOK, "the unprotected v4 key (Ed25519 + Curve25519 ECDH) the v4 messages are encrypted to", serializeKey(v4, nil))
	writeKey("keys/message-key-v6.pgp", hostile.ClassOK, "the unprotected v6 key (Ed25519 + X25519) the v6 messages are encrypted to", serializeKey(v6, nil))
	messages(v4, v6)
	keys()
	cardAnswers()
	if err := hostile.Write(*out, &manifest); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d files in %s\n", len(manifest.Entries), *out)
}

func newEntity(v6 bool) *openpgp.Entity {
	cfg := &packet.Config{Time: func() time.Time { return created }}
	if v6 {
		cfg.V6Keys = true
		cfg.Algorithm = packet.PubKeyAlgoEd25519
	} else {
		cfg.Algorithm = packet.PubKeyAlgoEdDSA
	}
	e, err := openpgp.NewEntity("Hostile Corpus", "", "hostile@keyunlock.invalid", cfg)
	if err != nil {
		log.Fatal(err)
	}
	return e
}

func serializeKey(e *openpgp.Entity, cfg *packet.Config) []byte {
	var b bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&b, cfg); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

func write(kind, name, class, key, note string, data []byte) {
	if err := os.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
		log.Fatal(err)
	}
	manifest.Entries = append(manifest.Entries, hostile.Entry{File: name, Kind: kind, Class: class, Key: key, Note: note})
}

func writeKey(name, class, note string, data []byte) {
	write(hostile.KindKey, name, class, "", note, data)
}

// --- packet helpers ---

// header returns a new-format packet header with a definite length.
func header(tag int, n int) []byte {
	h := []byte{0xC0 | byte(tag)}
	switch {
	case n < 192:
		return append(h, byte(n))
	case n < 8384:
		n -= 192
		return append(h, byte(n>>8)+192, byte(n))
	}
	return binary.BigEndian.AppendUint32(append(h, 0xFF), uint32(n))
}

func pkt(tag int, body []byte) []byte { return append(header(tag, len(body)), body...) }

// rawPacket is one packet of a serialized message.
type rawPacket struct {
	tag  int
	raw  []byte // header and body as serialized
	body []byte // body with partial lengths reassembled
}

// split parses a sequence of new- or old-format packets.
func split(data []byte) []rawPacket {
	var ps []rawPacket
	for off := 0; off < len(data); {
		start := off
		b0 := data[off]
		off++
		var p rawPacket
		if b0&0x40 == 0 {
			p.tag = int(b0>>2) & 15
			var n int
			switch b0 & 3 {
			case 0:
				n = int(data[off])
				off++
			case 1:
				n = int(binary.BigEndian.Uint16(data[off:]))
				off += 2
			case 2:
				n = int(binary.BigEndian.Uint32(data[off:]))
				off += 4
			default:
				n = len(data) - off
			}
			p.body = data[off : off+n]
			off += n
		} else {
			p.tag = int(b0 & 0x3f)
			for {
				l0 := int(data[off])
				off++
				var n int
				partial := false
				switch {
				case l0 < 192:
					n = l0
				case l0 < 224:
					n = (l0-192)<<8 + int(data[off]) + 192
					off++
				case l0 == 255:
					n = int(binary.BigEndian.Uint32(data[off:]))
					off += 4
				default:
					n = 1 << (l0 & 31)
					partial = true
				}
				p.body = append(p.body, data[off:off+n]...)
				off += n
				if !partial {
					break
				}
			}
		}
		p.raw = data[start:off]
		ps = append(ps, p)
	}
	return ps
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x55
	return c
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// --- messages ---

// encrypted is a message split into its PKESK and SEIPD packets, with the
// session key so that variants can be made.
type encrypted struct {
	pkesk, seipd []byte
}

// encrypt builds PKESK+SEIPD for e's encryption subkey; inner writes the
// packets that go inside the encryption (nil: a literal packet holding the
// corpus plaintext). v6 keys get a v6 PKESK and SEIPDv2 (OCB) with chunk
// size octet chunk.
func encrypt(e *openpgp.Entity, chunk byte, inner func(w io.WriteCloser)) encrypted {
	sub, ok := e.EncryptionKey(created.Add(time.Hour))
	if !ok {
		log.Fatal("no encryption subkey")
	}
	v6 := sub.PublicKey.Version == 6
	sk := make([]byte, 32)
	rand.Read(sk)
	cfg := &packet.Config{Time: func() time.Time { return created }, DefaultCipher: packet.CipherAES256}
	if v6 {
		cfg.AEADConfig = &packet.AEADConfig{DefaultMode: packet.AEADModeOCB, ChunkSize: 1 << (chunk + 6)}
	}
	var kb, db bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&kb, sub.PublicKey, packet.CipherAES256, v6, sk, cfg); err != nil {
		log.Fatal(err)
	}
	w, err := packet.SerializeSymmetricallyEncrypted(&db, packet.CipherAES256, v6,
		packet.CipherSuite{Cipher: packet.CipherAES256, Mode: packet.AEADModeOCB}, sk, cfg)
	if err != nil {
		log.Fatal(err)
	}
	if inner == nil {
		inner = func(w io.WriteCloser) { literal(w, []byte(plaintext)) }
	}
	inner(w)
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	// Re-serialize SEIPD with a definite length so that mutations can
	// address its body directly.
	ps := split(db.Bytes())
	return encrypted{pkesk: kb.Bytes(), seipd: pkt(ps[0].tag, ps[0].body)}
}

func literal(w io.Writer, data []byte) {
	lw, err := packet.SerializeLiteral(nopCloser{w}, true, "", 0)
	if err != nil {
		log.Fatal(err)
	}
	lw.Write(data)
	lw.Close()
}

func literalPacket(data []byte) []byte {
	var b bytes.Buffer
	literal(&b, data)
	return b.Bytes()
}

// compressed returns a compressed data packet (ZIP/raw deflate) around inner.
func compressed(inner []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(1) // ZIP
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	fw.Write(inner)
	fw.Close()
	return pkt(8, b.Bytes())
}

// compressedZeros returns a compressed packet holding a literal packet of n
// zero bytes, streamed so that the generator itself stays small.
func compressedZeros(n int) []byte {
	var b bytes.Buffer
	b.WriteByte(1)
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	// A literal packet with a 5-byte length header, binary, no name, time 0.
	body := 6 + n
	fw.Write(append([]byte{0xCB, 0xFF}, binary.BigEndian.AppendUint32(nil, uint32(body))...))
	fw.Write([]byte{'b', 0, 0, 0, 0, 0})
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(zeros) {
		fw.Write(zeros[:min(left, len(zeros))])
	}
	fw.Close()
	return pkt(8, b.Bytes())
}

func msg(name, class, key, note string, data []byte) {
	write(hostile.KindMessage, "messages/"+name, class, key, note, data)
}

func messages(v4, v6 *openpgp.Entity) {
	const k4, k6 = "keys/message-key-v4.pgp", "keys/message-key-v6.pgp"
	m4 := encrypt(v4, 0, nil)
	m6 := encrypt(v6, 12, nil)
	valid4 := join(m4.pkesk, m4.seipd)
	valid6 := join(m6.pkesk, m6.seipd)
	msg("ok-v4.pgp", hostile.ClassOK, k4, "control: a valid v3 PKESK + SEIPDv1 message", valid4)
	msg("ok-v6.pgp", hostile.ClassOK, k6, "control: a valid v6 PKESK + SEIPDv2 (OCB) message", valid6)
	small := encrypt(v6, 0, func(w io.WriteCloser) { literal(w, bytes.Repeat([]byte(plaintext), 200)) })
	msg("ok-v6-chunk-min.pgp", hostile.ClassOK, k6, "control: AEAD chunk size octet 0 (64-byte chunks, 210 chunks)", join(small.pkesk, small.seipd))
	big := encrypt(v6, 16, nil)
	msg("ok-v6-chunk-max.pgp", hostile.ClassOK, k6, "control: AEAD chunk size octet 16 (4 MiB chunks, the largest allowed)", join(big.pkesk, big.seipd))

	// Truncation everywhere.
	msg("trunc-1-byte.pgp", hostile.ClassMalformed, k4, "only the first header byte of the PKESK", valid4[:1])
	msg("trunc-pkesk.pgp", hostile.ClassMalformed, k4, "cut in the middle of the PKESK", valid4[:len(m4.pkesk)/2])
	msg("trunc-pkesk-only.pgp", hostile.ClassMalformed, k4, "a PKESK and no encrypted data", m4.pkesk)
	msg("trunc-seipd-header.pgp", hostile.ClassMalformed, k4, "the SEIPD header byte and nothing after it", valid4[:len(m4.pkesk)+1])
	msg("trunc-seipd-half.pgp", hostile.ClassMalformed, k4, "SEIPDv1 cut in half (declared length runs past the end)", valid4[:len(m4.pkesk)+len(m4.seipd)/2])
	msg("trunc-seipd-last-byte.pgp", hostile.ClassMalformed, k4, "SEIPDv1 missing its last byte", valid4[:len(valid4)-1])
	msg("trunc-seipd2-half.pgp", hostile.ClassMalformed, k6, "SEIPDv2 cut in half", valid6[:len(m6.pkesk)+len(m6.seipd)/2])
	msg("trunc-seipd2-final-tag.pgp", hostile.ClassMalformed, k6, "SEIPDv2 without its final authentication tag", valid6[:len(valid6)-16])
	// The same truncations, but with the length fixed up so that the packet
	// structure is intact and only the cryptography can notice.
	s4 := split(m4.seipd)[0].body
	s6 := split(m6.seipd)[0].body
	msg("short-seipd-no-mdc.pgp", hostile.ClassIntegrity, k4, "SEIPDv1 whose body lost its last 22 bytes (the MDC), lengths consistent", join(m4.pkesk, pkt(18, s4[:len(s4)-22])))
	msg("short-seipd2-no-final-tag.pgp", hostile.ClassIntegrity, k6, "SEIPDv2 whose body lost the final tag, lengths consistent", join(m6.pkesk, pkt(18, s6[:len(s6)-16])))
	msg("empty.pgp", hostile.ClassMalformed, k4, "an empty file", nil)
	// Fixed pseudo-random bytes, so that the class does not depend on the run.
	junk := make([]byte, 4096)
	mrand.NewChaCha8([32]byte{'h', 'o', 's', 't', 'i', 'l', 'e'}).Read(junk)
	junk[0] |= 0x80
	msg("random-4k.pgp", hostile.ClassMalformed, k4, "4 KiB of pseudo-random bytes starting with a packet tag", junk)

	// Authentication.
	msg("seipd-flip-mdc.pgp", hostile.ClassIntegrity, k4, "SEIPDv1 with the last MDC byte changed", flip(valid4, len(valid4)-1))
	msg("seipd-flip-body.pgp", hostile.ClassIntegrity, k4, "SEIPDv1 with a ciphertext byte in the middle changed", flip(valid4, len(m4.pkesk)+len(m4.seipd)/2))
	msg("seipd2-flip-tag.pgp", hostile.ClassIntegrity, k6, "SEIPDv2 with the final tag changed", flip(valid6, len(valid6)-1))
	msg("seipd2-flip-body.pgp", hostile.ClassIntegrity, k6, "SEIPDv2 with a ciphertext byte changed", flip(valid6, len(m6.pkesk)+len(m6.seipd)/2))
	hdr6 := len(m6.seipd) - len(s6)
	// SEIPDv2 body: version, cipher, mode, chunk size octet, salt.
	msg("seipd2-chunk-17.pgp", hostile.ClassUnsupported, k6, "SEIPDv2 chunk size octet 17 (above the maximum 16)", join(m6.pkesk, flip17(m6.seipd, hdr6+3, 17)))
	msg("seipd2-chunk-255.pgp", hostile.ClassUnsupported, k6, "SEIPDv2 chunk size octet 255 (a shift beyond 64 bits)", join(m6.pkesk, flip17(m6.seipd, hdr6+3, 255)))
	msg("seipd2-chunk-changed.pgp", hostile.ClassIntegrity, k6, "SEIPDv2 chunk size octet 0 where 12 was authenticated", join(m6.pkesk, flip17(m6.seipd, hdr6+3, 0)))
	msg("seipd2-aead-mode-99.pgp", hostile.ClassUnsupported, k6, "SEIPDv2 with AEAD mode 99", join(m6.pkesk, flip17(m6.seipd, hdr6+2, 99)))
	msg("seipd2-cipher-200.pgp", hostile.ClassUnsupported, k6, "SEIPDv2 with symmetric algorithm 200", join(m6.pkesk, flip17(m6.seipd, hdr6+1, 200)))
	msg("seipd-version-3.pgp", hostile.ClassUnsupported, k4, "SEIPD version 3", join(m4.pkesk, flip17(m4.seipd, len(m4.seipd)-len(s4), 3)))
	msg("seipd1-after-v6-pkesk.pgp", hostile.ClassMalformed, k6, "a v6 PKESK followed by a SEIPDv1 packet (RFC 9580 forbids the mix)", join(m6.pkesk, pkt(18, append([]byte{1}, s6[1:]...))))

	// Structure.
	msg("seipd-only.pgp", hostile.ClassMalformed, k4, "a SEIPD packet without any PKESK", m4.seipd)
	other := encrypt(v4, 0, nil)
	msg("two-seipd.pgp", hostile.ClassMalformed, k4, "a PKESK and two SEIPD packets", join(m4.pkesk, m4.seipd, other.seipd))
	msg("two-messages.pgp", hostile.ClassMalformed, k4, "two complete messages one after the other", join(valid4, other.pkesk, other.seipd))
	lit := literalPacket([]byte(plaintext))
	msg("literal-only.pgp", hostile.ClassNotEncrypted, k4, "a bare literal data packet: plaintext outside encryption", lit)
	msg("literal-before-pkesk.pgp", hostile.ClassNotEncrypted, k4, "a literal data packet in front of a valid message", join(lit, valid4))
	msg("literal-after-seipd.pgp", hostile.ClassMalformed, k4, "a literal data packet after a valid message", join(valid4, lit))
	msg("compressed-only.pgp", hostile.ClassNotEncrypted, k4, "a compressed literal packet with no encryption", compressed(lit))
	msg("marker-only.pgp", hostile.ClassMalformed, k4, "a marker packet alone", pkt(10, []byte("PGP")))
	msg("tag-0.pgp", hostile.ClassMalformed, k4, "a packet with the reserved tag 0 in front of a valid message", join(pkt(0, []byte{1, 2, 3}), valid4))
	msg("tag-35-critical.pgp", hostile.ClassMalformed, k4, "an unknown critical packet (tag 35) in front of a valid message", join(pkt(35, []byte{1, 2, 3}), valid4))
	msg("seipd-as-sed.pgp", hostile.ClassMalformed, k4, "the SEIPD retagged as a SED packet (tag 9), which has no integrity protection", join(m4.pkesk, pkt(9, s4)))
	msg("pkesk-as-skesk.pgp", hostile.ClassUnsupported, k4, "the PKESK retagged as an SKESK (tag 3): a password-only message", join(pkt(3, split(m4.pkesk)[0].body), m4.seipd))
	msg("old-format-header-bits.pgp", hostile.ClassMalformed, k4, "a first byte without the always-one bit 7", append([]byte{0x41}, valid4[1:]...))

	// PKESK contents.
	pk4 := split(m4.pkesk)[0].body // v3: version, key ID (8), algorithm, fields
	pk6 := split(m6.pkesk)[0].body // v6: version, length, key version, fingerprint (32), algorithm, fields
	msg("pkesk-algo-99.pgp", hostile.ClassNoKey, k4, "PKESK for the key's ID but unknown public-key algorithm 99", join(pkt(1, flip17(pk4, 9, 99)), m4.seipd))
	msg("pkesk-algo-rsa.pgp", hostile.ClassNoKey, k4, "PKESK for the ECDH key's ID claiming RSA", join(pkt(1, flip17(pk4, 9, 1)), m4.seipd))
	msg("pkesk-version-7.pgp", hostile.ClassUnsupported, k4, "PKESK version 7", join(pkt(1, flip17(pk4, 0, 7)), m4.seipd))
	msg("pkesk-wrong-keyid.pgp", hostile.ClassNoKey, k4, "PKESK for a key ID nobody has", join(pkt(1, flip(pk4, 3)), m4.seipd))
	msg("pkesk-ecdh-point-65535-bits.pgp", hostile.ClassMalformed, k4, "ECDH PKESK whose ephemeral point MPI declares 65535 bits", join(pkt(1, join(pk4[:10], []byte{0xFF, 0xFF}, pk4[12:])), m4.seipd))
	msg("pkesk-ecdh-wrapped-len-255.pgp", hostile.ClassUnsupported, k4, "ECDH PKESK whose wrapped session key declares 255 bytes (go-crypto reads 255 as a reserved extension)", join(pkt(1, join(pk4[:len(pk4)-49], []byte{255}, pk4[len(pk4)-48:])), m4.seipd))
	msg("pkesk-ecdh-cut.pgp", hostile.ClassMalformed, k4, "ECDH PKESK cut before the wrapped key, lengths consistent", join(pkt(1, pk4[:len(pk4)-49]), m4.seipd))
	// v6 PKESK: version, length, key version, fingerprint (32), algorithm = 36 bytes, then the ephemeral key.
	msg("pkesk6-x25519-cut.pgp", hostile.ClassMalformed, k6, "X25519 v6 PKESK ending in the middle of the ephemeral key, lengths consistent", join(pkt(1, pk6[:36+16]), m6.seipd))
	msg("pkesk6-flip-ephemeral.pgp", hostile.ClassNoKey, k6, "X25519 v6 PKESK with a changed ephemeral key: key unwrapping fails", join(pkt(1, flip(pk6, 40)), m6.seipd))
	msg("pkesk-many.pgp", hostile.ClassNoKey, k4, "2000 PKESKs for unknown key IDs and no SEIPD that anyone can open", join(bytes.Repeat(pkt(1, flip(pk4, 3)), 2000), m4.seipd))

	// Lengths.
	msg("huge-length-seipd.pgp", hostile.ClassLimit, k4, "SEIPD declaring 4 GiB - 1 of body", join(m4.pkesk, []byte{0xD2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, s4))
	msg("huge-length-pkesk.pgp", hostile.ClassLimit, k4, "PKESK declaring 4 GiB - 1 of body", join([]byte{0xC1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, pk4, m4.seipd))
	msg("partial-on-pkesk.pgp", hostile.ClassMalformed, k4, "a PKESK with a partial body length (only data packets may use them)", join([]byte{0xC1, 0xE0 + 5}, pk4[:32], []byte{byte(len(pk4) - 32)}, pk4[32:], m4.seipd))
	msg("partial-first-chunk-1.pgp", hostile.ClassMalformed, k4, "SEIPD in 1-byte partial chunks (the first must be at least 512 bytes)", join(m4.pkesk, partialTiny(18, s4)))
	msg("partial-never-ends.pgp", hostile.ClassMalformed, k4, "SEIPD whose partial chunks run to the end of the file without a final length", join(m4.pkesk, []byte{0xD2, 0xE0 + 9}, padTo(s4, 512)))
	msg("partial-huge-chunk.pgp", hostile.ClassLimit, k4, "SEIPD with a 1 GiB partial chunk (0xFE) and a short body", join(m4.pkesk, []byte{0xD2, 0xFE}, s4))
	msg("old-format-indeterminate.pgp", hostile.ClassMalformed, k4, "an old-format PKESK with indeterminate length swallowing the SEIPD", join([]byte{0x87}, pk4, m4.seipd))

	// What is inside the encryption.
	bomb := encrypt(v4, 0, func(w io.WriteCloser) { w.Write(compressed(compressed(compressedZeros(256 << 20)))) })
	msg("bomb-nested-256m.pgp", hostile.ClassLimit, k4, "a literal packet of 256 MiB of zeros compressed three times (a few KiB)", join(bomb.pkesk, bomb.seipd))
	bomb2 := encrypt(v4, 0, func(w io.WriteCloser) { w.Write(compressed(compressedZeros(256 << 20))) })
	msg("bomb-2-levels-256m.pgp", hostile.ClassLimit, k4, "a literal packet of 256 MiB of zeros compressed twice (within the nesting limit, so the size limit must stop it)", join(bomb2.pkesk, bomb2.seipd))
	bomb6 := encrypt(v6, 12, func(w io.WriteCloser) { w.Write(compressedZeros(64 << 20)) })
	msg("bomb6-64m.pgp", hostile.ClassLimit, k6, "SEIPDv2 holding 64 MiB of compressed zeros", join(bomb6.pkesk, bomb6.seipd))
	deep := encrypt(v4, 0, func(w io.WriteCloser) {
		p := literalPacket([]byte(plaintext))
		for i := 0; i < 40; i++ {
			p = compressed(p)
		}
		w.Write(p)
	})
	msg("nested-compression-40.pgp", hostile.ClassLimit, k4, "a literal packet inside 40 nested compressed packets", join(deep.pkesk, deep.seipd))
	two := encrypt(v4, 0, func(w io.WriteCloser) { w.Write(join(lit, literalPacket([]byte("second literal\n")))) })
	msg("inner-two-literals.pgp", hostile.ClassMalformed, k4, "two literal packets inside the encryption", join(two.pkesk, two.seipd))
	mark := encrypt(v4, 0, func(w io.WriteCloser) { w.Write(pkt(10, []byte("PGP"))) })
	msg("inner-marker-only.pgp", hostile.ClassMalformed, k4, "a marker packet and no literal data inside the encryption", join(mark.pkesk, mark.seipd))
	short := encrypt(v4, 0, func(w io.WriteCloser) {
		l := literalPacket([]byte(plaintext))
		w.Write(append([]byte{0xCB, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF}, split(l)[0].body...))
	})
	msg("inner-literal-huge-length.pgp", hostile.ClassMalformed, k4, "an inner literal packet declaring 2 GiB but holding a line", join(short.pkesk, short.seipd))
	nested := encrypt(v4, 0, func(w io.WriteCloser) { w.Write(valid4) })
	msg("inner-encrypted-again.pgp", hostile.ClassMalformed, k4, "an encrypted message whose content is another encrypted message", join(nested.pkesk, nested.seipd))
	cbad := encrypt(v4, 0, func(w io.WriteCloser) { w.Write(pkt(8, append([]byte{1}, junk[:200]...))) })
	msg("inner-bad-deflate.pgp", hostile.ClassMalformed, k4, "a compressed packet holding random bytes, not deflate", join(cbad.pkesk, cbad.seipd))
	calg := encrypt(v4, 0, func(w io.WriteCloser) { w.Write(pkt(8, append([]byte{77}, junk[:20]...))) })
	msg("inner-compression-77.pgp", hostile.ClassUnsupported, k4, "a compressed packet with unknown algorithm 77", join(calg.pkesk, calg.seipd))
}

// flip17 returns a copy of b with b[i] set to v.
func flip17(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func padTo(b []byte, n int) []byte {
	if len(b) >= n {
		return b[:n]
	}
	return append(bytes.Clone(b), make([]byte, n-len(b))...)
}

// partialTiny encodes body as a packet made of 1-byte partial chunks.
func partialTiny(tag int, body []byte) []byte {
	b := []byte{0xC0 | byte(tag)}
	for _, c := range body[:len(body)-1] {
		b = append(b, 0xE0, c)
	}
	return append(b, 1, body[len(body)-1])
}

// --- card answers ---

// script encodes card responses as read by the card client test's scripted
// card: each is a 2-byte big-endian length and the response APDU.
func script(resps ...[]byte) []byte {
	var b []byte
	for _, r := range resps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(r)))
		b = append(b, r...)
	}
	return b
}

func cardFile(name, class, note string, data []byte) {
	write(hostile.KindCard, "card/"+name, class, "", note, data)
}

// cardAnswers writes malicious answers of an OpenPGP card, in the order the
// card client asks: SELECT, GET DATA 6E (ARD), GET DATA C4 (PIN status),
// GET PUBLIC KEY ×3, PSO:DECIPHER.
func cardAnswers() {
	ok := []byte{0x90, 0x00}
	// The ARD of a YubiKey 5 (recorded), from the card client's fuzz seeds.
	seed, err := os.ReadFile("card/openpgp/testdata/fuzz/FuzzParseARD/yk543-00")
	if err != nil {
		log.Fatal(err)
	}
	line := strings.TrimSpace(strings.SplitN(string(seed), "\n", 2)[1])
	raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
	if err != nil {
		log.Fatal(err)
	}
	ard := []byte(raw)
	pw := []byte{0x00, 0x7F, 0x7F, 0x7F, 0x03, 0x00, 0x03}
	pub := append([]byte{0x7F, 0x49, 0x22, 0x86, 0x20}, bytes.Repeat([]byte{9}, 32)...)
	shared := bytes.Repeat([]byte{7}, 32)
	withSW := func(b []byte, sw ...byte) []byte { return append(bytes.Clone(b), sw...) }
	kdf := []byte{0xF9, 0x03, 0x81, 0x01, 0x00} // KDF-DO: KDF off
	good := [][]byte{ok, withSW(ard, 0x90, 0x00), withSW(kdf, 0x90, 0x00), withSW(pw, 0x90, 0x00), withSW(pub, 0x90, 0x00), withSW(pub, 0x90, 0x00), withSW(pub, 0x90, 0x00), withSW(shared, 0x90, 0x00)}
	cardFile("ok.bin", hostile.ClassOK, "control: a card that answers everything correctly", script(good...))
	cardFile("not-openpgp.bin", hostile.ClassUnsupported, "SELECT answered 6A82: no OpenPGP application", script([]byte{0x6A, 0x82}))
	cardFile("empty-answer.bin", hostile.ClassMalformed, "SELECT answered with 0 bytes", script([]byte{}))
	cardFile("one-byte-answer.bin", hostile.ClassMalformed, "SELECT answered with a single byte", script([]byte{0x90}))
	cardFile("silent-after-select.bin", hostile.ClassMalformed, "the card stops answering after SELECT", script(ok))
	cardFile("ard-cut.bin", hostile.ClassUnsupported, "the ARD cut in the middle of a TLV: no valid AID, so not an OpenPGP card", script(ok, withSW(ard[:len(ard)/2], 0x90, 0x00)))
	cardFile("ard-huge-length.bin", hostile.ClassUnsupported, "an ARD whose outer TLV declares 4 GiB: no valid AID, so not an OpenPGP card", script(ok, withSW(append([]byte{0x6E, 0x84, 0xFF, 0xFF, 0xFF, 0xFF}, ard[4:]...), 0x90, 0x00)))
	deep := []byte{}
	for i := 0; i < 2000; i++ {
		deep = append([]byte{0x73, 0x82, byte(len(deep) >> 8), byte(len(deep))}, deep...)
		if len(deep) > 60000 {
			break
		}
	}
	cardFile("ard-deep-nesting.bin", hostile.ClassUnsupported, "an ARD of constructed TLVs nested thousands deep: no valid AID, so not an OpenPGP card", script(ok, withSW(append([]byte{0x6E, 0x82, byte(len(deep) >> 8), byte(len(deep))}, deep...), 0x90, 0x00)))
	var endless [][]byte
	endless = append(endless, ok, append(bytes.Repeat([]byte{0xAA}, 200), 0x61, 0x00))
	for i := 0; i < 800; i++ {
		endless = append(endless, append(bytes.Repeat([]byte{0xAA}, 256), 0x61, 0x00))
	}
	cardFile("endless-get-response.bin", hostile.ClassLimit, "the ARD never ends: 61 00 (more data) after every chunk, 200 KiB in all", script(endless...))
	var resend [][]byte
	resend = append(resend, ok)
	for i := 0; i < 50; i++ {
		resend = append(resend, []byte{0x6C, byte(i + 1)})
	}
	cardFile("6cxx-forever.bin", hostile.ClassMalformed, "GET DATA answered 6Cxx (wrong Le, resend with xx) again and again", script(resend...))
	pso := func(name, note string, answer []byte) {
		r := append(append([][]byte(nil), good[:7]...), answer)
		cardFile(name, hostile.ClassMalformed, note, script(r...))
	}
	pso("pso-short.bin", "PSO:DECIPHER answers 31 bytes for a cv25519 key", withSW(shared[:31], 0x90, 0x00))
	pso("pso-long.bin", "PSO:DECIPHER answers 200 bytes for a cv25519 key", withSW(bytes.Repeat([]byte{7}, 200), 0x90, 0x00))
	pso("pso-6982.bin", "PSO:DECIPHER answers 6982 (security status not satisfied)", []byte{0x69, 0x82})
	pso("pso-garbage-sw.bin", "PSO:DECIPHER answers an unknown status word 1234", withSW(shared, 0x12, 0x34))
	pw2 := append(append([][]byte(nil), good[:3]...), withSW([]byte{0x00}, 0x90, 0x00))
	cardFile("pw-status-short.bin", hostile.ClassMalformed, "the PIN status DO (C4) is 1 byte long", script(pw2...))
}

// --- keys ---

// secretOffsets locates the secret part of the first secret (sub)key packet
// with tag in the serialized key: it returns the packet index and the offset
// of the S2K usage octet in its body.
func secretOffsets(ps []rawPacket, tag int) (int, int) {
	for i, p := range ps {
		if p.tag != tag {
			continue
		}
		pp, err := packet.Read(bytes.NewReader(pkt(tag, p.body)))
		if err != nil {
			log.Fatal(err)
		}
		priv := pp.(*packet.PrivateKey)
		var b bytes.Buffer
		priv.PublicKey.Serialize(&b)
		return i, len(split(b.Bytes())[0].body)
	}
	log.Fatalf("no packet with tag %d", tag)
	return 0, 0
}

// mutate returns the key with fn applied to the body of its encryption
// subkey packet (tag 7); off is where the secret part begins.
func mutate(key []byte, fn func(body []byte, off int) []byte) []byte {
	ps := split(key)
	i, off := secretOffsets(ps, 7)
	var b []byte
	for j, p := range ps {
		if j == i {
			b = append(b, pkt(7, fn(bytes.Clone(p.body), off))...)
		} else {
			b = append(b, p.raw...)
		}
	}
	return b
}

func protected(v6 bool, s2kcfg *s2k.Config, aead bool) []byte {
	e := newEntity(v6)
	cfg := &packet.Config{S2KConfig: s2kcfg, DefaultCipher: packet.CipherAES256}
	if aead {
		cfg.AEADConfig = &packet.AEADConfig{DefaultMode: packet.AEADModeOCB}
	}
	if err := e.EncryptPrivateKeys([]byte(passphrase), cfg); err != nil {
		log.Fatal(err)
	}
	return serializeKey(e, nil)
}

func keys() {
	argon := &s2k.Config{S2KMode: s2k.Argon2S2K, Argon2Config: &s2k.Argon2Config{NumberOfPasses: 1, DegreeOfParallelism: 1, Memory: 64}}
	iter := &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, S2KCount: 65536}
	a4 := protected(false, argon, true) // v4: usage 253, cipher, aead, S2K (mode 4, salt 16, t, p, m)
	a6 := protected(true, argon, true)  // v6: usage 253, count, cipher, aead, s2k length, S2K
	i4 := protected(false, iter, false) // v4: usage 254, cipher, S2K (mode 3, hash, salt 8, count)
	writeKey("keys/ok-argon2-v4.pgp", hostile.ClassOK, "control: v4 key, Argon2 (64 KiB) S2K, OCB-protected", a4)
	writeKey("keys/ok-argon2-v6.pgp", hostile.ClassOK, "control: v6 key, Argon2 (64 KiB) S2K, OCB-protected", a6)
	writeKey("keys/ok-iterated-v4.pgp", hostile.ClassOK, "control: v4 key, iterated+salted S2K", i4)
	maxIter := protected(false, &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, S2KCount: 65011712}, false)
	writeKey("keys/ok-iterated-max-count.pgp", hostile.ClassOK, "v4 key with the largest encodable S2K count (65011712 bytes hashed): bounded by the encoding", maxIter)

	v4argon := func(name, class, note string, fn func(s []byte)) {
		writeKey("keys/"+name, class, note, mutate(a4, func(b []byte, off int) []byte {
			if b[off] != 253 || b[off+3] != 4 {
				log.Fatalf("%s: unexpected S2K layout % x", name, b[off:off+4])
			}
			fn(b[off+3:]) // the S2K specifier
			return b
		}))
	}
	// S2K specifier: mode, salt (16), passes, parallelism, memory exponent.
	v4argon("argon2-memory-2tib.pgp", hostile.ClassLimit, "Argon2 memory exponent 31 (2 TiB)", func(s []byte) { s[19] = 31 })
	v4argon("argon2-memory-4gib.pgp", hostile.ClassLimit, "Argon2 memory exponent 22 (4 GiB)", func(s []byte) { s[19] = 22 })
	v4argon("argon2-memory-32.pgp", hostile.ClassMalformed, "Argon2 memory exponent 32 (beyond the encoding's maximum 31)", func(s []byte) { s[19] = 32 })
	v4argon("argon2-memory-below-8p.pgp", hostile.ClassMalformed, "Argon2 memory 8 KiB with parallelism 255 (below 8*p)", func(s []byte) { s[18], s[19] = 255, 3 })
	v4argon("argon2-passes-255.pgp", hostile.ClassLimit, "Argon2 with 255 passes", func(s []byte) { s[17] = 255 })
	v4argon("argon2-passes-0.pgp", hostile.ClassMalformed, "Argon2 with 0 passes", func(s []byte) { s[17] = 0 })
	v4argon("argon2-parallelism-0.pgp", hostile.ClassMalformed, "Argon2 with parallelism 0", func(s []byte) { s[18] = 0 })
	v4argon("argon2-cost-product.pgp", hostile.ClassLimit, "Argon2 with 2 GiB and 64 passes: each within its limit, together hours of work", func(s []byte) { s[17], s[19] = 64, 21 })
	v4argon("s2k-mode-2.pgp", hostile.ClassUnsupported, "S2K specifier of reserved mode 2", func(s []byte) { s[0] = 2 })
	v4argon("s2k-mode-99.pgp", hostile.ClassUnsupported, "S2K specifier of unknown mode 99", func(s []byte) { s[0] = 99 })
	v4argon("salt-changed.pgp", hostile.ClassBadSecret, "Argon2 salt changed: the derived key is wrong and the OCB tag must catch it", func(s []byte) { s[5] ^= 1 })
	writeKey("keys/cipher-200.pgp", hostile.ClassUnsupported, "secret key protected with unknown symmetric algorithm 200", mutate(i4, func(b []byte, off int) []byte { b[off+1] = 200; return b }))
	writeKey("keys/usage-77.pgp", hostile.ClassUnsupported, "S2K usage octet 77 (a legacy cipher ID, unknown)", mutate(i4, func(b []byte, off int) []byte { b[off] = 77; return b }))
	writeKey("keys/sha1-check-flipped.pgp", hostile.ClassBadSecret, "CFB-protected key with the encrypted SHA-1 check area changed (last byte)", mutate(i4, func(b []byte, off int) []byte { b[len(b)-1] ^= 1; return b }))
	writeKey("keys/ocb-tag-flipped.pgp", hostile.ClassBadSecret, "v6 OCB-protected key with its tag changed", mutate(a6, func(b []byte, off int) []byte { b[len(b)-1] ^= 1; return b }))
	writeKey("keys/secret-cut.pgp", hostile.ClassMalformed, "secret part cut to 10 bytes after the S2K usage octet, lengths consistent", mutate(a4, func(b []byte, off int) []byte { return b[:off+10] }))
	writeKey("keys/secret-missing.pgp", hostile.ClassMalformed, "secret subkey packet ending right after the public part", mutate(a4, func(b []byte, off int) []byte { return b[:off] }))
	writeKey("keys/v6-count-wrong.pgp", hostile.ClassMalformed, "v6 key whose S2K parameter count octet is 99", mutate(a6, func(b []byte, off int) []byte { b[off+1] = 99; return b }))
	writeKey("keys/v6-s2k-len-wrong.pgp", hostile.ClassMalformed, "v6 key whose S2K specifier length octet is 3 (too short for Argon2)", mutate(a6, func(b []byte, off int) []byte {
		if b[off] != 253 || b[off+5] != 4 {
			log.Fatalf("v6 layout % x", b[off:off+6])
		}
		b[off+4] = 3
		return b
	}))
	writeKey("keys/v6-pub-len-wrong.pgp", hostile.ClassMalformed, "v6 subkey whose public key material length field is 0xFFFFFFFF", mutate(a6, func(b []byte, off int) []byte {
		// v6: version, time (4), algorithm, 4-octet key material length.
		binary.BigEndian.PutUint32(b[6:], 0xFFFFFFFF)
		return b
	}))
	u4 := serializeKey(newEntity(false), nil)
	writeKey("keys/plain-checksum-wrong.pgp", hostile.ClassNoKey, "unprotected v4 key with a wrong two-octet checksum: loads, but is refused when used", mutate(u4, func(b []byte, off int) []byte { b[len(b)-1] ^= 1; return b }))
	writeKey("keys/mpi-huge.pgp", hostile.ClassNoKey, "unprotected v4 ECDH key whose secret MPI declares 65535 bits: loads, but is refused when used", mutate(u4, func(b []byte, off int) []byte { b[off+1], b[off+2] = 0xFF, 0xFF; return b }))
	writeKey("keys/algo-99.pgp", hostile.ClassUnsupported, "encryption subkey with unknown public-key algorithm 99", mutate(u4, func(b []byte, off int) []byte { b[5] = 99; return b }))
	var pub bytes.Buffer
	newEntity(false).Serialize(&pub)
	writeKey("keys/public-only.pgp", hostile.ClassNoSecret, "a public key: no secret key material", pub.Bytes())
	writeKey("keys/empty.pgp", hostile.ClassMalformed, "an empty key file", nil)
	writeKey("keys/huge-length.pgp", hostile.ClassMalformed, "a secret key packet declaring 4 GiB - 1 of body", join([]byte{0xC5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, split(u4)[0].body))
	writeKey("keys/truncated.pgp", hostile.ClassMalformed, "a protected key cut in half", a4[:len(a4)/2])
}
