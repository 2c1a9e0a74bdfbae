// Command keyunlock unlocks encrypted disks at boot with OpenPGP keys: soft
// keys (passphrase-protected secret key files) or OpenPGP smart cards.
//
// This package only parses flags and wires backends into the core; every
// subcommand lives in its own file and registers itself in init.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/softkeys"
)

// Version is the keyunlock version, set at build time with -ldflags -X.
var Version = "dev"

// command is one subcommand of keyunlock.
type command struct {
	name    string
	summary string
	// run executes the command. stdout is where data goes; messages go to stderr.
	run func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv carries the process's standard streams so that tests can run
// commands in-process.
type cliEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("duplicate command " + c.name)
	}
	commands[c.name] = c
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usage(w io.Writer) {
	fmt.Fprintf(w, "keyunlock unlocks encrypted disks with OpenPGP keys and cards.\n\nUsage: keyunlock <command> [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'keyunlock <command> --help' for a command's flags and examples.\n")
}

func runMain(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		usage(env.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		usage(env.stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.stderr, "keyunlock: unknown command %q\n", name)
		usage(env.stderr)
		return 2
	}
	err := c.run(ctx, env, args[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	code := 1
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintf(env.stderr, "keyunlock %s: %v\n", name, err)
	return code
}

// hardenQuietly lists the commands that handle no secret: their memory is
// not locked and they print no hardening warning.
var hardenQuietly = map[string]bool{"help": true, "-h": true, "--help": true, "version": true, "-version": true, "--version": true}

func main() {
	// A boot unlock reads soft keys first thing: build what checking them
	// needs on the other core while memory is being locked.
	if len(os.Args) > 1 && os.Args[1] == "decrypt" {
		go softkeys.Prewarm()
	}
	// Keep secrets out of core dumps, debuggers and swap before anything is
	// read. The commands that read no secret skip the costly memory locking.
	if len(os.Args) > 1 && !hardenQuietly[os.Args[1]] {
		for _, w := range core.HardenProcess() {
			fmt.Fprintf(os.Stderr, "keyunlock: warning: %s\n", w)
		}
	} else {
		core.HardenProcessNoLock()
	}
	ctx := &signalContext{}
	code := runMain(ctx, &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	ctx.release()
	os.Exit(code)
}
