package main

import (
	"context"
	"fmt"

	"github.com/keyunlock/keyunlock/core"
)

const decryptExamples = `  # Unlock a LUKS volume with a keyfile encrypted to a soft key:
  keyunlock decrypt --key /etc/keyunlock/keys.d/root.asc /etc/keyunlock/root.pgp |
      cryptsetup open --key-file=- /dev/sda2 root

  # Non-interactive, passphrase from a file, plaintext to a file:
  keyunlock decrypt --key key.asc --passphrase-file pass.txt -o keyfile keyfile.pgp

  # Passphrase on file descriptor 3, message on stdin:
  keyunlock decrypt --key key.asc --passphrase-fd 3 3<pass.txt < keyfile.pgp > keyfile

  # With an OpenPGP card (PIN asked on the terminal), waiting for it a minute:
  keyunlock decrypt --card --card-serial 23852774 --card-wait 1m -o keyfile keyfile.pgp

Without --key, the keys are read from $KEYUNLOCK_KEYS (a list of files or
directories separated by ':') or else from /etc/keyunlock/keys.d.
Exit status 0 means the whole message was decrypted and verified; on any
error nothing is written to stdout and OUT is left untouched.
`

func init() {
	register(&command{
		name:    "decrypt",
		summary: "decrypt an OpenPGP-encrypted keyfile",
		run:     runDecrypt,
	})
}

func runDecrypt(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("decrypt", "keyunlock decrypt [--key PATH]... [--card [--card-serial S] [--card-cert F]...] [--passphrase-file F | --passphrase-fd N] [--force] [-q] [-o OUT] [IN]", decryptExamples)
	var keys multiFlag
	socket := addSocketFlag(fs)
	fs.Var(&keys, "key", "secret key `PATH` (file or directory); repeat for several")
	passFile := fs.String("passphrase-file", "", "read the passphrase from the first line of `FILE`")
	passFD := fs.Int("passphrase-fd", -1, "read the passphrase from the first line of file descriptor `N`")
	force := fs.Bool("force", false, "allow spending a card's last PIN try")
	out := fs.String("o", "", "write the plaintext to `OUT` (default stdout)")
	quiet := fs.Bool("q", false, "do not say which key decrypted the message")
	cards := addCardFlags(fs)
	pos, err := parseArgs(fs, args, env.stdout)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError("decrypt", "too many arguments: %q", pos[1:])
	}
	if *passFile != "" && *passFD >= 0 {
		return usageError("decrypt", "give --passphrase-file or --passphrase-fd, not both")
	}
	in := ""
	if len(pos) == 1 {
		in = pos[0]
	}

	cardBackends, err := cards.backends()
	if err != nil {
		return err
	}
	defer cards.close()
	ks, notes, done, err := openService(ctx, "decrypt", *socket, keys, cardBackends...)
	if err != nil {
		return err
	}
	defer done()
	for _, n := range notes {
		fmt.Fprintf(env.stderr, "keyunlock: %s\n", n)
	}
	opts := core.DecryptOptions{Force: *force}
	switch {
	case *passFile != "":
		opts.Prompter = core.NewFilePrompter(*passFile)
	case *passFD >= 0:
		opts.Prompter = core.NewFDPrompter(*passFD)
	default:
		if p, err := core.NewTerminalPrompter(); err == nil {
			opts.Prompter = p
		}
	}

	cards.setPrompter(opts.Prompter, env.stderr)

	r, name, err := openInput(in, env.stdin)
	if err != nil {
		return err
	}
	msg, err := core.DecryptMessage(ctx, ks, r, opts)
	r.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer msg.Wipe()
	if err := writeOutput(ctx, *out, msg.Plaintext, env.stdout, 0o600); err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(env.stderr, "keyunlock: decrypted with %s (%s)\n", msg.Result.Fingerprint, msg.Result.Source)
	}
	return nil
}
