package main

import (
	"context"
	"fmt"

	"github.com/keyunlock/keyunlock/core"
)

const lockExamples = `  # Make the daemon forget every unlocked key (cards' verified PINs too):
  keyunlock lock

  # Forget one key:
  keyunlock lock --key-id 0123456789ABCDEF
`

func init() {
	register(&command{
		name:    "lock",
		summary: "make the daemon forget unlocked keys",
		run:     runLock,
	})
}

func runLock(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("lock", "keyunlock lock [--socket PATH] [--key-id FPR]", lockExamples)
	socket := addSocketFlag(fs)
	keyID := fs.String("key-id", "", "the key to lock: fingerprint or key ID in hex (default: every key)")
	pos, err := parseArgs(fs, args, env.stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("lock", "unexpected arguments: %q", pos)
	}
	svc, notes, done, err := openService(ctx, "lock", *socket, nil)
	if err != nil {
		return err
	}
	defer done()
	for _, n := range notes {
		fmt.Fprintf(env.stderr, "keyunlock: %s\n", n)
	}
	if err := svc.Lock(ctx, *keyID); err != nil {
		return err
	}
	if _, ok := svc.(*core.Client); !ok {
		fmt.Fprintf(env.stderr, "keyunlock: no daemon answers; nothing stays unlocked without one\n")
		return nil
	}
	if *keyID == "" {
		fmt.Fprintf(env.stderr, "keyunlock: locked every key\n")
	} else {
		fmt.Fprintf(env.stderr, "keyunlock: locked %s\n", *keyID)
	}
	return nil
}
