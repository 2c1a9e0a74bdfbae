package main

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// TestSignalContext checks the lazily armed context: no error before it is
// armed, and once armed a SIGTERM cancels it and the contexts derived from it.
func TestSignalContext(t *testing.T) {
	c := &signalContext{}
	if c.Err() != nil || c.Value("x") != nil {
		t.Fatal("unarmed context reports an error or a value")
	}
	if _, ok := c.Deadline(); ok {
		t.Fatal("signal context has a deadline")
	}
	defer c.release()
	child, cancel := context.WithCancel(c) // takes Done: arms
	defer cancel()
	if c.ctx.Load() == nil {
		t.Fatal("deriving a context did not arm the signal context")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the derived context")
	}
	if c.Err() == nil {
		t.Fatal("Err is nil after SIGTERM")
	}
}
