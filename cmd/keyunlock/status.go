package main

import (
	"context"
	"fmt"
	"time"

	"github.com/keyunlock/keyunlock/core"
)

const statusExamples = `  keyunlock status
  keyunlock status --socket /run/keyunlock/keyunlock.sock
`

func init() {
	register(&command{
		name:    "status",
		summary: "show whether the daemon runs, and its keys",
		run:     runStatus,
	})
}

func runStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("status", "keyunlock status [--socket PATH]", statusExamples)
	socket := addSocketFlag(fs)
	pos, err := parseArgs(fs, args, env.stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("status", "unexpected arguments: %q", pos)
	}
	path, _ := daemonSocket(*socket)
	c, err := core.Dial(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	ttl := "until locked"
	if st.CacheTTLSeconds > 0 {
		ttl = (time.Duration(st.CacheTTLSeconds) * time.Second).String()
	}
	fmt.Fprintf(env.stdout, "daemon:       pid %d, version %s, up %s, at %s\n", st.PID, st.Version,
		(time.Duration(st.UptimeSeconds) * time.Second).String(), path)
	fmt.Fprintf(env.stdout, "keys:         %d, %d unlocked (kept %s)\n", st.Keys, st.Unlocked, ttl)
	fmt.Fprintf(env.stdout, "clients:      %d connected\n", st.Connections)
	fmt.Fprintf(env.stdout, "key provider: %s\n", yesNo(st.KeyProvider))
	fmt.Fprintf(env.stdout, "initrd:       %s\n", yesNo(st.Initrd))
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
