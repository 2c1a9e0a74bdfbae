package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/keyunlock/keyunlock/core"
)

// socketEnv names the daemon socket for every client command.
const socketEnv = "KEYUNLOCK_SOCKET"

// addSocketFlag registers --socket on a client command.
func addSocketFlag(fs *flag.FlagSet) *string {
	return fs.String("socket", "", "talk to the keyunlock daemon at `PATH` (default $"+socketEnv+", else "+core.DefaultSocket+" when it answers)")
}

// daemonSocket is the daemon socket a client command names: --socket (the
// flag's value), else $KEYUNLOCK_SOCKET, else core.DefaultSocket. named
// reports whether the flag or the variable gave it.
func daemonSocket(flag string) (path string, named bool) {
	if flag != "" {
		return flag, true
	}
	if env := os.Getenv(socketEnv); env != "" {
		return env, true
	}
	return core.DefaultSocket, false
}

// openService returns the Service a client command works with, and a
// function that releases it:
//   - the daemon, when --socket is given (it must answer; --key and --card
//     are then refused);
//   - the keys named by --key (and the cards with --card), co-located in
//     this process;
//   - the daemon at $KEYUNLOCK_SOCKET when it is set (it must answer);
//   - otherwise the daemon at the default socket when it answers, and the
//     co-located keystore ($KEYUNLOCK_KEYS, /etc/keyunlock/keys.d) when not.
//
// Notes are messages for stderr that do not stop the command.
//
// extra backends (the cards, with --card) are co-located too: they select
// the co-located keystore like --key does.
func openService(ctx context.Context, cmd, socket string, keyFlags []string, extra ...core.Backend) (core.Service, []string, func(), error) {
	explicit := socket != ""
	if !explicit && len(keyFlags) == 0 && len(extra) == 0 {
		// $KEYUNLOCK_SOCKET yields to --key and --card; --socket does not.
		socket, explicit = daemonSocket(socket)
	}
	if explicit {
		if len(extra) > 0 {
			return nil, nil, nil, usageError(cmd, "--card uses the cards in this process and cannot be used with the daemon at %s (start the daemon with 'keyunlock serve --card')", socket)
		}
		if len(keyFlags) > 0 {
			return nil, nil, nil, usageError(cmd, "--key selects co-located keys and cannot be used with the daemon at %s (the daemon's keys are given to 'keyunlock serve')", socket)
		}
		c, err := core.Dial(ctx, socket)
		if err != nil {
			return nil, nil, nil, err
		}
		return c, nil, func() { c.Close() }, nil
	}
	if len(keyFlags) == 0 && len(extra) == 0 {
		if c := probeDaemon(ctx, core.DefaultSocket); c != nil {
			return c, nil, func() { c.Close() }, nil
		}
	}
	ks, notes, err := openKeystore(keyFlags, extra...)
	if err != nil {
		return nil, nil, nil, err
	}
	return ks, notes, func() {}, nil
}

// probeDaemon returns a client when a keyunlock daemon answers at path.
func probeDaemon(ctx context.Context, path string) *core.Client {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := core.Dial(ctx, path)
	if err != nil {
		return nil
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil
	}
	return c
}

// clientPrompter is the prompter of client commands: the passphrase file or
// descriptor when given, else the terminal when there is one, else none.
func clientPrompter(passFile string, passFD int) core.Prompter {
	switch {
	case passFile != "":
		return core.NewFilePrompter(passFile)
	case passFD >= 0:
		return core.NewFDPrompter(passFD)
	}
	if p, err := core.NewTerminalPrompter(); err == nil {
		return p
	}
	return nil
}
