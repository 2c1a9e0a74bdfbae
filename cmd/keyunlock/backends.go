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
func openKeystore(keyFlags []string) (*core.Keystore, []string, error) {
	paths := keyPaths(keyFlags)
	soft, err := softkeys.New(paths)
	if err != nil {
		if len(keyFlags) == 0 {
			return nil, nil, fmt.Errorf("%w (keys are read from $KEYUNLOCK_KEYS or %s unless --key is given)", err, defaultKeyDir)
		}
		return nil, nil, err
	}
	var notes []string
	for _, s := range soft.Skipped() {
		notes = append(notes, fmt.Sprintf("skipped %s: %s", s.Path, s.Reason))
	}
	return core.NewKeystore(soft), notes, nil
}
