package main

import (
	"context"
	"fmt"
	"runtime"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the version",
		run: func(ctx context.Context, env *cliEnv, args []string) error {
			fmt.Fprintf(env.stdout, "keyunlock %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}
