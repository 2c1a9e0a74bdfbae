package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// signalContext is the context every command runs under: it is cancelled by
// SIGINT or SIGTERM. The signal handlers are installed the first time
// something waits on it (Done), not at start: signal.Notify starts a
// goroutine and a locked OS thread, which cost a one-shot unlock that never
// waits (a key without passphrase) about 40 page faults and 0.5 ms.
//
// Until it is armed, SIGINT and SIGTERM keep their default action and end
// the process, which is safe: nothing has been waited for, no terminal mode
// changed, no output file started. Everything that must not be cut short
// takes Done first: prompts before turning echo off, the daemon before it
// serves, writeOutput before its temporary file. Err reports nil until armed,
// since no signal can have been caught before.
type signalContext struct {
	once sync.Once
	ctx  atomic.Pointer[context.Context]
	stop context.CancelFunc
}

func (c *signalContext) arm() context.Context {
	c.once.Do(func() {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		c.stop = stop
		c.ctx.Store(&ctx)
	})
	return *c.ctx.Load()
}

// Deadline reports that there is none.
func (c *signalContext) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done installs the signal handlers and returns the channel a signal closes.
func (c *signalContext) Done() <-chan struct{} { return c.arm().Done() }

// Err is nil until a signal was caught.
func (c *signalContext) Err() error {
	if p := c.ctx.Load(); p != nil {
		return (*p).Err()
	}
	return nil
}

// Value looks key up in the armed context, so that contexts derived from
// this one are cancelled along with it without a goroutine of their own
// (context.WithCancel takes Done first, which arms it).
func (c *signalContext) Value(key any) any {
	if p := c.ctx.Load(); p != nil {
		return (*p).Value(key)
	}
	return nil
}

// release undoes the signal handlers when they were installed.
func (c *signalContext) release() {
	if c.ctx.Load() != nil {
		c.stop()
	}
}
