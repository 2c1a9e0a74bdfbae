package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyunlock/keyunlock/core"
)

const unlockExamples = `  # Unlock the only locked key of the running daemon, asking on the terminal:
  keyunlock unlock

  # Unlock one key with a passphrase read from a file:
  keyunlock unlock --key-id 0123456789ABCDEF --passphrase-file /run/pass

  # Check a passphrase without a daemon (the key is locked again on exit):
  keyunlock unlock --key root.asc --passphrase-fd 3 3<pass.txt

The daemon keeps the key unlocked until 'keyunlock lock', its --cache-ttl or
its exit. A card PIN is never sent when only one try is left, unless --force.
`

func init() {
	register(&command{
		name:    "unlock",
		summary: "unlock a key in the daemon with its passphrase or PIN",
		run:     runUnlock,
	})
}

func runUnlock(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("unlock", "keyunlock unlock [--socket PATH] [--key-id FPR] [--passphrase-file F | --passphrase-fd N] [--force]", unlockExamples)
	socket := addSocketFlag(fs)
	var keys multiFlag
	fs.Var(&keys, "key", "co-located: secret key `PATH` (file or directory) instead of the daemon")
	keyID := fs.String("key-id", "", "the key to unlock: fingerprint or key ID in hex (default: the only locked key)")
	passFile := fs.String("passphrase-file", "", "read the passphrase or PIN from the first line of `FILE`")
	passFD := fs.Int("passphrase-fd", -1, "read the passphrase or PIN from the first line of file descriptor `N`")
	force := fs.Bool("force", false, "allow spending a card's last PIN try")
	pos, err := parseArgs(fs, args, env.stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("unlock", "unexpected arguments: %q", pos)
	}
	if *passFile != "" && *passFD >= 0 {
		return usageError("unlock", "give --passphrase-file or --passphrase-fd, not both")
	}
	svc, notes, done, err := openService(ctx, "unlock", *socket, keys)
	if err != nil {
		return err
	}
	defer done()
	for _, n := range notes {
		fmt.Fprintf(env.stderr, "keyunlock: %s\n", n)
	}
	key, err := pickLocked(ctx, svc, *keyID)
	if err != nil {
		return err
	}
	if !key.Locked {
		fmt.Fprintf(env.stderr, "keyunlock: %s (%s) is already unlocked\n", key.Fingerprint, key.Source)
		return nil
	}
	prompter := clientPrompter(*passFile, *passFD)
	if prompter == nil {
		return fmt.Errorf("key %s (%s) needs its %s and there is no terminal to ask on: use --passphrase-file or --passphrase-fd",
			key.Fingerprint, key.Source, secretName(key))
	}
	kind := core.ParseLockKind(key.Lock)
	for attempt := 1; ; attempt++ {
		secret, err := prompter.Ask(ctx, core.PromptRequest{
			Key: key, Kind: kind, Attempt: attempt, TriesLeft: key.TriesLeft,
			Message: core.PromptMessage(key, kind, attempt), ID: "keyunlock:" + key.Fingerprint,
		})
		if err != nil {
			return fmt.Errorf("key %s (%s): %w", key.Fingerprint, key.Source, err)
		}
		err = svc.Unlock(ctx, key.Fingerprint, secret, core.UnlockOptions{Force: *force})
		core.Wipe(secret)
		if err == nil {
			fmt.Fprintf(env.stderr, "keyunlock: unlocked %s (%s)\n", key.Fingerprint, key.Source)
			if _, daemon := svc.(*core.Client); !daemon {
				fmt.Fprintf(env.stderr, "keyunlock: no daemon answers: the secret is right, but the key is locked again as keyunlock exits\n")
			}
			return nil
		}
		// Only a terminal can be asked again, and never after a wrong PIN
		// when the card has few tries left: the user retries deliberately.
		_, tty := prompter.(*core.TerminalPrompter)
		if !errors.Is(err, core.ErrBadSecret) || !tty || attempt >= core.DefaultMaxAttempts || kind == core.LockPIN {
			return err
		}
		fmt.Fprintf(env.stderr, "keyunlock: %v\n", err)
	}
}

// secretName says what a key's secret is called.
func secretName(k core.KeyInfo) string {
	if k.Lock == core.LockPIN.String() {
		return "PIN"
	}
	return "passphrase"
}

// pickLocked finds the key selected by sel, or the only locked key.
func pickLocked(ctx context.Context, svc core.Service, sel string) (core.KeyInfo, error) {
	keys, err := svc.ListKeys(ctx)
	if err != nil && len(keys) == 0 {
		return core.KeyInfo{}, err
	}
	if sel != "" {
		want := strings.ToUpper(strings.TrimPrefix(strings.ReplaceAll(sel, " ", ""), "0x"))
		var found []core.KeyInfo
		for _, k := range keys {
			if k.Fingerprint == want || k.KeyID == want || k.PrimaryFpr == want ||
				len(want) >= 8 && strings.HasSuffix(k.Fingerprint, want) {
				found = append(found, k)
			}
		}
		// Prefer the decryption keys: a primary key's fingerprint selects
		// its encryption subkey too.
		var enc []core.KeyInfo
		for _, k := range found {
			if k.Lock != core.LockNone.String() && canDecrypt(k) {
				enc = append(enc, k)
			}
		}
		if len(enc) == 0 {
			for _, k := range found {
				if k.Lock != core.LockNone.String() {
					enc = append(enc, k)
				}
			}
		}
		switch {
		case len(found) == 0:
			return core.KeyInfo{}, fmt.Errorf("no key %s: run 'keyunlock list' to see the keys", sel)
		case len(enc) == 1:
			return enc[0], nil
		case len(enc) == 0:
			return found[0], nil
		}
		return core.KeyInfo{}, fmt.Errorf("%s selects %d keys: give a full fingerprint (see 'keyunlock list')", sel, len(enc))
	}
	var locked []core.KeyInfo
	for _, k := range keys {
		if k.Locked && canDecrypt(k) {
			locked = append(locked, k)
		}
	}
	switch len(locked) {
	case 0:
		return core.KeyInfo{}, errors.New("no locked key to unlock (see 'keyunlock list')")
	case 1:
		return locked[0], nil
	}
	var names []string
	for _, k := range locked {
		names = append(names, k.Fingerprint+" ("+k.Source+")")
	}
	return core.KeyInfo{}, fmt.Errorf("several keys are locked: choose one with --key-id: %s", strings.Join(names, ", "))
}

func canDecrypt(k core.KeyInfo) bool {
	for _, c := range k.Capabilities {
		if c == "encrypt" {
			return true
		}
	}
	return false
}
