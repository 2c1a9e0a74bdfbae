package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/core"
)

// noDevices stands in for the card backend when no card is needed.
type noDevices struct{}

func (noDevices) Name() string                                   { return "card" }
func (noDevices) Devices(context.Context) ([]core.Device, error) { return nil, nil }

// TestEmptyKeyDirWithCards checks that an empty default key directory is
// reported when it is the only source of keys, and not when cards are used
// too (a card-only initrd has that directory empty on purpose), while other
// skipped files are still reported.
func TestEmptyKeyDirWithCards(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KEYUNLOCK_KEYS", dir)
	_, notes, err := openKeystore(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "holds no OpenPGP secret key") {
		t.Errorf("soft keys only: notes %q, want the empty-directory note", notes)
	}
	_, notes, err = openKeystore(nil, noDevices{})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 0 {
		t.Errorf("with cards: notes %q, want none", notes)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, notes, err = openKeystore(nil, noDevices{})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "README") {
		t.Errorf("with cards and a stray file: notes %q, want the stray file named", notes)
	}
}
