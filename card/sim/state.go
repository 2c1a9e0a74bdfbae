package sim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"hash/fnv"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

// stateFile is the name of the card's state inside its directory.
const stateFile = "card.json"

// slotState is one key slot (SIG, DEC, AUT).
type slotState struct {
	// Attr is the algorithm attributes DO (C1–C3).
	Attr []byte `json:"attr"`
	// Key is the private key: PKCS#1 DER for RSA, the big-endian scalar
	// for NIST and brainpool curves, the little-endian X25519 scalar for
	// cv25519, the seed for Ed25519. Empty when no key is present.
	Key []byte `json:"key,omitempty"`
	// Fpr, CAFpr (20 bytes each) and Time (Unix seconds) are the values
	// the host wrote to C7–C9, CA–CC and CE–D0.
	Fpr   []byte `json:"fpr"`
	CAFpr []byte `json:"ca_fpr"`
	Time  uint32 `json:"time"`
	// Status is the key information (DE): 0 none, 1 generated, 2 imported.
	Status byte `json:"status"`
	// UIF is the user interaction flag DO (D6–D8): [0] mode, [1] 0x20.
	UIF []byte `json:"uif"`
}

// state is everything a card remembers across power cycles.
type state struct {
	Serial       uint32 `json:"serial"`
	Manufacturer uint16 `json:"manufacturer"`
	// PINs as the host sends them in VERIFY (KDF hashes when KDF is on).
	PW1 []byte `json:"pw1"`
	RC  []byte `json:"rc,omitempty"`
	PW3 []byte `json:"pw3"`
	// Tries left: PW1, RC, PW3 (the order of C4[4..6]).
	Tries    [3]byte `json:"tries"`
	PW1Multi byte    `json:"pw1_multi"` // C4[0]
	// Slots SIG, DEC, AUT.
	Slots [3]slotState `json:"slots"`
	// DOs holds the other writable data objects by hex tag ("5b",
	// "5f50", "0101", "7f21.0" for the certificate of slot 0…).
	DOs map[string][]byte `json:"dos"`
	// KDF is the KDF-DO (F9) content; nil or 81 01 00 when off.
	KDF        []byte `json:"kdf,omitempty"`
	SigCount   uint32 `json:"sig_count"`
	Terminated bool   `json:"terminated"`
}

const maxTries = 3

// Default PINs of a factory-fresh card.
const (
	DefaultPW1 = "123456"
	DefaultPW3 = "12345678"
)

// factoryState builds the state of a card fresh from the factory (or after
// TERMINATE + ACTIVATE), keeping its serial and manufacturer.
func factoryState(serial uint32, manufacturer uint16, q Quirks) (state, error) {
	st := state{
		Serial:       serial,
		Manufacturer: manufacturer,
		PW1:          []byte(DefaultPW1),
		PW3:          []byte(DefaultPW3),
		Tries:        [3]byte{maxTries, 0, maxTries},
		DOs:          map[string][]byte{"5f35": {0x39}},
	}
	if q.YubiKey {
		st.PW1Multi = 1
	}
	for i := range st.Slots {
		st.Slots[i] = slotState{Attr: rsaAttr(2048), Fpr: make([]byte, 20), CAFpr: make([]byte, 20), UIF: []byte{0, 0x20}}
	}
	if q.UIF {
		st.Slots[1].UIF[0] = 1
	}
	if q.KDF {
		salts := make([]byte, 24)
		if _, err := rand.Read(salts); err != nil {
			return state{}, err
		}
		const count = 100000
		pw1, pw3 := kdfHash(sha256.New, []byte(DefaultPW1), salts[:8], count), kdfHash(sha256.New, []byte(DefaultPW3), salts[16:], count)
		var f9 []byte
		f9 = appendTLV(f9, 0x81, []byte{0x03})
		f9 = appendTLV(f9, 0x82, []byte{0x08})
		f9 = appendTLV(f9, 0x83, []byte{0, 0x01, 0x86, 0xa0})
		f9 = appendTLV(f9, 0x84, salts[:8])
		f9 = appendTLV(f9, 0x85, salts[8:16])
		f9 = appendTLV(f9, 0x86, salts[16:])
		f9 = appendTLV(f9, 0x87, pw1)
		f9 = appendTLV(f9, 0x88, pw3)
		st.KDF, st.PW1, st.PW3 = f9, pw1, pw3
	}
	return st, nil
}

// kdfHash is the iterated-salted S2K of a PIN, as KDF-DO hosts compute it.
func kdfHash(newHash func() hash.Hash, pin, salt []byte, count int) []byte {
	h := newHash()
	out := make([]byte, h.Size())
	s2k.Iterated(out, h, pin, salt, count)
	return out
}

// serialFromDir derives a stable card serial number from the directory.
func serialFromDir(dir string) uint32 {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	h := fnv.New32a()
	h.Write([]byte(abs))
	s := h.Sum32()
	if s == 0 || s == 0xffffffff {
		s = 0x4b550001
	}
	return s
}

// load reads the state from dir; ok is false when there is none yet.
func load(dir string) (st state, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if os.IsNotExist(err) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, fmt.Errorf("simulated card: reading state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, false, fmt.Errorf("simulated card: state file %s is corrupt (delete the directory for a fresh card): %w", filepath.Join(dir, stateFile), err)
	}
	if st.DOs == nil {
		st.DOs = map[string][]byte{}
	}
	return st, true, nil
}

// save writes the state atomically (temporary file, fsync, rename).
func save(dir string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, stateFile+".tmp*")
	if err != nil {
		return fmt.Errorf("simulated card: saving state: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("simulated card: saving state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("simulated card: saving state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("simulated card: saving state: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("simulated card: saving state: %w", err)
	}
	return nil
}
