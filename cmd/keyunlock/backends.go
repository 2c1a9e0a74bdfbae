package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/softkeys"
)

// defaultKeyDir is where keys are looked for without --key or $KEYUNLOCK_KEYS.
const defaultKeyDir = "/etc/keyunlock/keys.d"

// keyPaths returns the --key paths, else the ':'-separated $KEYUNLOCK_KEYS,
// else defaultKeyDir.
func keyPaths(flags []string) []string {
	if len(flags) > 0 {
		return flags
	}
	if env := os.Getenv("KEYUNLOCK_KEYS"); env != "" {
		return filepath.SplitList(env)
	}
	return []string{defaultKeyDir}
}

// openKeystore wires every backend into a Keystore. This is the only place
// that knows the backends. Notes are things the user should hear about but
// that do not stop the command, such as files skipped in a key directory.
//
// extra are further backends (the OpenPGP cards with --card); with them,
// missing default key locations are skipped instead of being an error.
func openKeystore(keyFlags []string, extra ...core.Backend) (*core.Keystore, []string, error) {
	paths := keyPaths(keyFlags)
	if len(keyFlags) == 0 && len(extra) > 0 {
		var present []string
		for _, p := range paths {
			if _, err := os.Stat(p); err == nil {
				present = append(present, p)
			}
		}
		if len(present) == 0 {
			return core.NewKeystore(extra...), nil, nil
		}
		paths = present
	}
	if len(keyFlags) == 0 {
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				return nil, nil, fmt.Errorf("no key given and %s is missing: pass --key PATH, or put the secret keys in %s (or list them in $KEYUNLOCK_KEYS)", p, defaultKeyDir)
			}
		}
	}
	soft, err := softkeys.New(paths)
	if err != nil {
		return nil, nil, err
	}
	var notes []string
	for _, s := range soft.Skipped() {
		if s.EmptyDir && len(keyFlags) == 0 && len(extra) > 0 {
			continue // a card-only setup: the default key directory is empty on purpose
		}
		notes = append(notes, fmt.Sprintf("skipped %s: %s", s.Path, s.Reason))
	}
	return core.NewKeystore(append([]core.Backend{soft}, extra...)...), notes, nil
}
