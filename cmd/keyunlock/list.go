package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
)

const listExamples = `  keyunlock list --key /etc/keyunlock/keys.d
  keyunlock list --key root.asc --key backup.asc

Each line shows: fingerprint, algorithm, capabilities, locked or unlocked
(and how: password or PIN), and where the key lives.
`

func init() {
	register(&command{
		name:    "list",
		summary: "list the keys keyunlock can use",
		run:     runList,
	})
}

func runList(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("list", "keyunlock list [--key PATH]... [--card [--card-serial S] [--card-cert F]...]", listExamples)
	var keys multiFlag
	socket := addSocketFlag(fs)
	fs.Var(&keys, "key", "secret key `PATH` (file or directory); repeat for several")
	cards := addCardFlags(fs)
	pos, err := parseArgs(fs, args, env.stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("list", "unexpected arguments: %q", pos)
	}
	cardBackends, err := cards.backends()
	if err != nil {
		return err
	}
	defer cards.close()
	cards.setPrompter(nil, env.stderr)
	ks, notes, done, err := openService(ctx, "list", *socket, keys, cardBackends...)
	if err != nil {
		return err
	}
	defer done()
	for _, n := range notes {
		fmt.Fprintf(env.stderr, "keyunlock: %s\n", n)
	}
	infos, lerr := ks.ListKeys(ctx)
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	for _, k := range infos {
		state := "unlocked"
		if k.Locked {
			state = "locked (" + k.Lock + ")"
		}
		if k.TriesLeft >= 0 {
			state += fmt.Sprintf(", %d PIN tries left", k.TriesLeft)
		}
		if !k.Available {
			state += ", unavailable: " + k.Reason
		}
		caps := strings.Join(k.Capabilities, ",")
		if caps == "" {
			caps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, k.Algorithm, caps, state, k.Source)
	}
	tw.Flush()
	if lerr != nil {
		return fmt.Errorf("%s", strings.ReplaceAll(lerr.Error(), "\n", "; "))
	}
	if len(infos) == 0 {
		return fmt.Errorf("no key found: pass --key PATH or --card, or put the secret keys in %s", defaultKeyDir)
	}
	return nil
}
