// Package hostile describes the hostile-input corpus in testdata/hostile:
// malformed OpenPGP messages and keys, malicious card answers and malicious
// pcscd replies, each with the class of error that keyunlock must answer it
// with. Messages, keys and card answers are made by ./gen from valid inputs
// plus targeted mutations (go run ./internal/hostile/gen); the pcscd replies
// by the pcsc package's tests (go test ./pcsc -run TestHostilePCSCReplies
// -args -update-hostile), with their own manifest in pcsc/. The tests of
// this package, of card/openpgp and of pcsc feed every file to the matching
// entry point and check that it fails cleanly, in bounded time and memory,
// without writing plaintext.
package hostile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Kinds of corpus files: which entry point a file is fed to.
const (
	KindMessage = "message" // an OpenPGP message for core.DecryptMessage and keyunlock decrypt
	KindKey     = "key"     // a secret key file for softkeys
	KindCard    = "card"    // card answers for the OpenPGP card client
	KindPCSC    = "pcsc"    // pcscd socket replies for the pcsc client
)

// Entry is one corpus file and what must happen to it.
type Entry struct {
	File  string `json:"file"`  // path relative to the corpus directory
	Kind  string `json:"kind"`  // KindMessage, KindKey, ...
	Class string `json:"class"` // the expected outcome, see the Class constants
	Key   string `json:"key,omitempty"`
	Note  string `json:"note"` // what the file is and why it is hostile
}

// Expected outcomes. "ok" entries are controls that must succeed, proving
// that the harness can tell success from failure.
const (
	ClassOK           = "ok"           // decrypts or loads normally
	ClassMalformed    = "malformed"    // broken structure, including truncation
	ClassIntegrity    = "integrity"    // authentication (MDC/AEAD tag) fails
	ClassNoKey        = "nokey"        // no key in the keystore matches
	ClassUnsupported  = "unsupported"  // unknown version or algorithm
	ClassLimit        = "limit"        // exceeds a size, nesting or cost limit
	ClassNotEncrypted = "notencrypted" // plaintext outside encryption is refused
	ClassBadSecret    = "badsecret"    // the key file cannot be unlocked with the given passphrase
	ClassNoSecret     = "nosecret"     // the file holds no usable secret key
)

// Manifest is the list of corpus files, stored as MANIFEST.json.
type Manifest struct {
	// Passphrase unlocks the valid protected keys of the corpus.
	Passphrase string `json:"passphrase"`
	// Plaintext is what every "ok" message decrypts to, unless Plaintexts names another.
	Plaintext string  `json:"plaintext"`
	Entries   []Entry `json:"entries"`
}

// ManifestName is the manifest's file name inside the corpus directory. A
// subdirectory made by another generator (pcsc/, made by the pcsc package's
// tests) has its own manifest of the same name, whose entries name files
// relative to the corpus directory.
const ManifestName = "MANIFEST.json"

// Load reads the manifest of the corpus in dir and those of its
// subdirectories.
func Load(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("hostile corpus: %w (regenerate with go run ./internal/hostile/gen)", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("hostile corpus %s: %w", filepath.Join(dir, ManifestName), err)
	}
	subs, _ := filepath.Glob(filepath.Join(dir, "*", ManifestName))
	for _, p := range subs {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var sub Manifest
		if err := json.Unmarshal(b, &sub); err != nil {
			return nil, fmt.Errorf("hostile corpus %s: %w", p, err)
		}
		m.Entries = append(m.Entries, sub.Entries...)
	}
	return &m, nil
}

// Write stores a manifest as dir/MANIFEST.json.
func Write(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ManifestName), append(b, '\n'), 0o644)
}
