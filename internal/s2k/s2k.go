// Package s2k derives symmetric keys from passphrases with the OpenPGP
// string-to-key functions (RFC 4880 §3.7, RFC 9580 §3.7): simple, salted,
// iterated+salted and Argon2. Its iterated S2K feeds the hash in large
// chunks and computes the output blocks in parallel, so it runs at the hash's
// raw speed; the result is bit-identical to go-crypto's s2k.Iterated.
//
// It also parses S2K specifiers, including the GnuPG extensions that mark
// secret keys kept elsewhere (gnu-dummy and gnu-divert-to-card).
package s2k

import (
	"crypto"
	"errors"
	"fmt"
	"hash"
	"sync"

	// Register the hashes that S2K specifiers may name.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"

	"golang.org/x/crypto/argon2"
)

// Mode is the S2K specifier type octet.
type Mode uint8

// The S2K specifier types.
const (
	Simple   Mode = 0
	Salted   Mode = 1
	Iterated Mode = 3
	Argon2   Mode = 4
	GNU      Mode = 101 // GnuPG extension: no secret here (dummy or on a card)
)

// GNU extension modes, as GnuPG numbers them (1000 + the mode octet).
const (
	GNUDummy        = 1001 // secret material absent
	GNUDivertToCard = 1002 // secret material on an OpenPGP card
)

// Limits that keep a hostile key file from stalling a boot or exhausting memory.
const (
	MaxCount        = 65011712 // the largest count the one-octet coding can express
	MaxArgon2Memory = 1 << 21  // KiB, i.e. 2 GiB
	MaxArgon2Passes = 64
	// MaxArgon2Work bounds passes × memory (in KiB), the time Argon2
	// takes: 2 GiB over 4 passes. It admits both RFC 9580 recommendations
	// (1 pass over 2 GiB, 3 passes over 64 MiB) and refuses keys that sit
	// below each separate limit but would run for hours.
	MaxArgon2Work = 1 << 23
)

// Params is a parsed S2K specifier.
type Params struct {
	Mode        Mode
	HashID      uint8  // OpenPGP hash algorithm ID (not for Argon2)
	Salt        []byte // 8 bytes, 16 for Argon2
	Count       int    // iterated: number of bytes hashed
	Passes      uint8  // Argon2 t
	Parallelism uint8  // Argon2 p
	MemoryExp   uint8  // Argon2: memory is 2^MemoryExp KiB
	GNUMode     int    // GNU: GNUDummy or GNUDivertToCard
	Serial      []byte // GNU divert-to-card: the card's serial number (AID bytes)
}

// DecodeCount expands the one-octet coded iteration count.
func DecodeCount(c uint8) int {
	return (16 + int(c&15)) << (uint32(c>>4) + 6)
}

// Parse reads an S2K specifier from the start of b and returns it with the
// number of bytes it took. For a divert-to-card stub the serial number that
// follows the specifier is consumed as well.
func Parse(b []byte) (*Params, int, error) {
	if len(b) < 1 {
		return nil, 0, errors.New("truncated S2K specifier")
	}
	p := &Params{Mode: Mode(b[0])}
	need := func(n int) error {
		if len(b) < n {
			return fmt.Errorf("truncated S2K specifier (type %d)", b[0])
		}
		return nil
	}
	switch p.Mode {
	case Simple:
		if err := need(2); err != nil {
			return nil, 0, err
		}
		p.HashID = b[1]
		return p, 2, nil
	case Salted:
		if err := need(10); err != nil {
			return nil, 0, err
		}
		p.HashID, p.Salt = b[1], b[2:10]
		return p, 10, nil
	case Iterated:
		if err := need(11); err != nil {
			return nil, 0, err
		}
		p.HashID, p.Salt, p.Count = b[1], b[2:10], DecodeCount(b[10])
		return p, 11, nil
	case Argon2:
		if err := need(20); err != nil {
			return nil, 0, err
		}
		p.Salt, p.Passes, p.Parallelism, p.MemoryExp = b[1:17], b[17], b[18], b[19]
		return p, 20, nil
	case GNU:
		if err := need(6); err != nil {
			return nil, 0, err
		}
		if string(b[2:5]) != "GNU" {
			return nil, 0, errors.New("unknown S2K extension (type 101 without GNU marker)")
		}
		p.HashID = b[1]
		p.GNUMode = 1000 + int(b[5])
		n := 6
		switch p.GNUMode {
		case GNUDummy:
		case GNUDivertToCard:
			if len(b) > n {
				l := int(b[n])
				n++
				if l > 16 || len(b) < n+l {
					return nil, 0, errors.New("malformed serial number in divert-to-card stub")
				}
				p.Serial = b[n : n+l]
				n += l
			}
		default:
			return nil, 0, fmt.Errorf("unknown GnuPG S2K extension %d", p.GNUMode)
		}
		return p, n, nil
	}
	return nil, 0, fmt.Errorf("unsupported S2K specifier type %d", b[0])
}

// Hash maps an OpenPGP hash algorithm ID to a hash usable for S2K.
func Hash(id uint8) (crypto.Hash, error) {
	var h crypto.Hash
	switch id {
	case 2:
		h = crypto.SHA1
	case 8:
		h = crypto.SHA256
	case 9:
		h = crypto.SHA384
	case 10:
		h = crypto.SHA512
	case 11:
		h = crypto.SHA224
	default:
		return 0, fmt.Errorf("unsupported S2K hash algorithm %d", id)
	}
	if !h.Available() {
		return 0, fmt.Errorf("S2K hash %v not available", h)
	}
	return h, nil
}

// Check validates the parameters against the limits, so that a hostile key
// file cannot ask for unbounded memory or time.
func (p *Params) Check() error {
	switch p.Mode {
	case Simple, Salted, Iterated:
		_, err := Hash(p.HashID)
		if err != nil {
			return err
		}
		if p.Count > MaxCount {
			return fmt.Errorf("S2K iteration count %d above the maximum %d", p.Count, MaxCount)
		}
		return nil
	case Argon2:
		if p.Passes == 0 || p.Parallelism == 0 {
			return errors.New("invalid Argon2 parameters: passes and parallelism must be non-zero")
		}
		if p.Passes > MaxArgon2Passes {
			return fmt.Errorf("Argon2 passes %d above the limit %d", p.Passes, MaxArgon2Passes)
		}
		if p.MemoryExp > 31 || uint64(1)<<p.MemoryExp < 8*uint64(p.Parallelism) {
			return fmt.Errorf("invalid Argon2 memory exponent %d for parallelism %d", p.MemoryExp, p.Parallelism)
		}
		if uint64(1)<<p.MemoryExp > MaxArgon2Memory {
			return fmt.Errorf("Argon2 memory of %d MiB above the limit of %d MiB", (uint64(1)<<p.MemoryExp)>>10, MaxArgon2Memory>>10)
		}
		if uint64(p.Passes)<<p.MemoryExp > MaxArgon2Work {
			return fmt.Errorf("Argon2 cost of %d passes over %d MiB above the limit of %d MiB-passes", p.Passes, (uint64(1)<<p.MemoryExp)>>10, MaxArgon2Work>>10)
		}
		return nil
	case GNU:
		return errors.New("the secret key is not stored here (GnuPG stub)")
	}
	return fmt.Errorf("unsupported S2K specifier type %d", p.Mode)
}

// Derive fills out with the key derived from passphrase.
func (p *Params) Derive(out, passphrase []byte) error {
	if err := p.Check(); err != nil {
		return err
	}
	if p.Mode == Argon2 {
		k := argon2.IDKey(passphrase, p.Salt, uint32(p.Passes), uint32(1)<<p.MemoryExp, p.Parallelism, uint32(len(out)))
		copy(out, k)
		clear(k)
		return nil
	}
	h, _ := Hash(p.HashID)
	switch p.Mode {
	case Simple:
		IteratedKey(out, h.New, passphrase, nil, 0)
	case Salted:
		IteratedKey(out, h.New, passphrase, p.Salt, 0)
	default:
		IteratedKey(out, h.New, passphrase, p.Salt, p.Count)
	}
	return nil
}

// chunk is the size of the buffer of repeated salt‖passphrase fed to the hash.
const chunk = 64 << 10

// IteratedKey computes the iterated+salted S2K (RFC 4880 §3.7.1.3) of
// passphrase into out; a count below len(salt)+len(passphrase) hashes
// salt‖passphrase once, which is also the salted and (with no salt) the
// simple S2K. Output blocks beyond the first hash size are computed
// concurrently.
func IteratedKey(out []byte, newHash func() hash.Hash, passphrase, salt []byte, count int) {
	l := len(salt) + len(passphrase)
	if count < l {
		count = l
	}
	size := newHash().Size()
	blocks := (len(out) + size - 1) / size
	if blocks == 0 {
		return
	}

	// One buffer of whole repetitions of salt‖passphrase, shared read-only.
	var buf []byte
	if l > 0 {
		reps := chunk / l
		if reps == 0 {
			reps = 1
		}
		if reps*l > count {
			reps = (count + l - 1) / l
		}
		buf = make([]byte, reps*l)
		for i := 0; i < reps; i++ {
			copy(buf[i*l:], salt)
			copy(buf[i*l+len(salt):], passphrase)
		}
		defer clear(buf)
	}

	digests := make([][]byte, blocks)
	one := func(i int) {
		h := newHash()
		var zeros [64]byte
		for z := i; z > 0; {
			n := min(z, len(zeros))
			h.Write(zeros[:n])
			z -= n
		}
		left := count
		for l > 0 && left > 0 {
			n := min(left, len(buf))
			h.Write(buf[:n])
			left -= n
		}
		digests[i] = h.Sum(nil)
	}
	if blocks == 1 {
		one(0)
	} else {
		var wg sync.WaitGroup
		for i := 1; i < blocks; i++ {
			wg.Add(1)
			go func(i int) { defer wg.Done(); one(i) }(i)
		}
		one(0)
		wg.Wait()
	}
	done := 0
	for _, d := range digests {
		done += copy(out[done:], d)
		clear(d)
	}
}
