package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// multiFlag collects a flag given several times, such as --key.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// usageError is a command-line mistake: exit status 2.
func usageError(cmd, format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format+" (see 'keyunlock %s --help')", append(args, cmd)...)}
}

// newFlagSet returns a flag set whose --help text is the synopsis, the
// flags and the examples. Parse errors are reported by parseArgs.
func newFlagSet(name, synopsis, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\nFlags:\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			arg, help := flag.UnquoteUsage(f)
			dash := "--"
			if len(f.Name) == 1 {
				dash = "-"
			}
			fmt.Fprintf(w, "  %s%s %s\n      %s\n", dash, f.Name, arg, help)
		})
		fmt.Fprintf(w, "\nExamples:\n%s", examples)
	}
	return fs
}

// parseArgs parses flags that may come before or after the positional
// arguments (as in "decrypt IN -o OUT"); "--" ends the flags. On --help it
// prints the help to stdout and returns flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, usageError(fs.Name(), "%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
