package core

import (
	"context"
	"strings"
	"sync"
	"time"
)

// CacheTTL wraps a Service so that every key unlocked through it is locked
// again TTL after its unlock. Lock cancels the pending timers it makes
// moot. The daemon wraps its Keystore in one when --cache-ttl is given.
type CacheTTL struct {
	Service
	ttl time.Duration

	mu     sync.Mutex
	timers map[string]*time.Timer // by upper-case fingerprint or key ID selector
	closed bool
}

// NewCacheTTL wraps svc. A ttl of zero or less keeps unlocked keys until
// Lock or exit, and then NewCacheTTL returns a pass-through wrapper.
func NewCacheTTL(svc Service, ttl time.Duration) *CacheTTL {
	return &CacheTTL{Service: svc, ttl: ttl, timers: map[string]*time.Timer{}}
}

// TTL returns the configured lifetime of an unlocked key (0 = unlimited).
func (c *CacheTTL) TTL() time.Duration { return c.ttl }

// Unlock unlocks and schedules the matching Lock.
func (c *CacheTTL) Unlock(ctx context.Context, sel string, secret []byte, opts UnlockOptions) error {
	if c.ttl <= 0 {
		return c.Service.Unlock(ctx, sel, secret, opts)
	}
	var before map[string]bool
	if sel == "" {
		before = c.lockedSet(ctx)
	}
	if err := c.Service.Unlock(ctx, sel, secret, opts); err != nil {
		return err
	}
	if sel != "" {
		c.schedule(strings.ToUpper(sel))
		return nil
	}
	// The only locked key was meant: find which one flipped.
	after := c.lockedSet(ctx)
	for fpr, locked := range before {
		if locked && !after[fpr] {
			c.schedule(fpr)
		}
	}
	return nil
}

func (c *CacheTTL) lockedSet(ctx context.Context) map[string]bool {
	keys, err := c.Service.ListKeys(ctx)
	if err != nil {
		return nil
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k.Fingerprint] = k.Locked
	}
	return m
}

func (c *CacheTTL) schedule(sel string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if t, ok := c.timers[sel]; ok {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(c.ttl, func() {
		c.mu.Lock()
		if c.timers[sel] != t {
			c.mu.Unlock()
			return
		}
		delete(c.timers, sel)
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.Service.Lock(ctx, sel)
	})
	c.timers[sel] = t
}

// Lock locks and cancels the timers it makes moot.
func (c *CacheTTL) Lock(ctx context.Context, sel string) error {
	c.mu.Lock()
	for k, t := range c.timers {
		if sel == "" || strings.EqualFold(k, sel) {
			t.Stop()
			delete(c.timers, k)
		}
	}
	c.mu.Unlock()
	return c.Service.Lock(ctx, sel)
}

// Close stops every timer without locking; the caller locks what it wants.
func (c *CacheTTL) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for k, t := range c.timers {
		t.Stop()
		delete(c.timers, k)
	}
}
