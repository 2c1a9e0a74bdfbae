package main

import (
	"testing"

	"github.com/keyunlock/keyunlock/core"
)

// TestDaemonSocket checks the order in which client commands pick the
// daemon socket: --socket, $KEYUNLOCK_SOCKET, the default.
func TestDaemonSocket(t *testing.T) {
	t.Setenv(socketEnv, "")
	if p, named := daemonSocket(""); p != core.DefaultSocket || named {
		t.Errorf("nothing set: %q, %v", p, named)
	}
	t.Setenv(socketEnv, "/run/env.sock")
	if p, named := daemonSocket(""); p != "/run/env.sock" || !named {
		t.Errorf("$%s set: %q, %v", socketEnv, p, named)
	}
	if p, named := daemonSocket("/run/flag.sock"); p != "/run/flag.sock" || !named {
		t.Errorf("--socket and $%s set: %q, %v", socketEnv, p, named)
	}
}
