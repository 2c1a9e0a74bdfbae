package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// waitChunk bounds one registration for events: after it the client
// unregisters and re-reads the states, as libpcsclite does for its
// "infinite" waits. Protocol 4.6 registers after fetching the states, so a
// change in between would go unsignalled: it re-checks every second.
const (
	waitChunk   = 60 * time.Second
	waitChunk46 = time.Second
)

// atrSettle is how long to wait for pcscd to publish the ATR of a card it
// has just reported present (PCSCLITE_STATUS_POLL_RATE + 10 ms).
var atrSettle = 410 * time.Millisecond

// GetStatusChange blocks until the state of one of the readers differs from
// its CurrentState, the timeout expires (ErrTimeout) or Cancel is called
// (ErrCancelled). A negative timeout waits without limit. On return each
// EventState holds the reader's state, with StateChanged set where it
// differs and the event counter in the upper 16 bits; Atr holds the ATR of a
// present card. Use PnPNotification as a reader name to wait for readers
// being added or removed.
func (c *Context) GetStatusChange(rs []ReaderState, timeout time.Duration) error {
	return c.GetStatusChangeContext(context.Background(), rs, timeout)
}

// GetStatusChangeContext is GetStatusChange that also returns, with
// ctx.Err(), when ctx ends.
func (c *Context) GetStatusChangeContext(ctx context.Context, rs []ReaderState, timeout time.Duration) error {
	active := 0
	for _, r := range rs {
		if r.CurrentState&StateIgnore == 0 {
			active++
		}
	}
	if active == 0 {
		return nil
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	cancelCh := make(chan struct{})
	c.cancelMu.Lock()
	closing := c.closing
	c.cancelCh = cancelCh
	c.cancelMu.Unlock()
	if closing {
		return ErrCancelled
	}
	defer func() {
		c.cancelMu.Lock()
		if c.cancelCh == cancelCh {
			c.cancelCh = nil
		}
		c.cancelMu.Unlock()
	}()

	states, err := c.register()
	if err != nil {
		return err
	}
	for _, r := range rs {
		if _, ok := lookup(states, r.Reader); !ok && !strings.EqualFold(r.Reader, PnPNotification) {
			if err := c.unregister(); err != nil {
				return err
			}
			return fmt.Errorf("pcsc: reader %q: %w", r.Reader, ErrUnknownReader)
		}
	}
	for i := range rs {
		rs[i].EventState = 0
	}
	readerCount := len(states)
	settled := false
	for {
		if !settled && needsSettle(rs, states) {
			// A card was just reported present but its ATR is not yet
			// published: give pcscd one poll period, as libpcsclite does.
			settled = true
			if err := c.unregister(); err != nil {
				return err
			}
			time.Sleep(atrSettle)
			if states, err = c.register(); err != nil {
				return err
			}
		}
		if evaluate(rs, states, readerCount) {
			return c.unregister()
		}
		chunk := waitChunk
		if c.minor >= 6 {
			chunk = waitChunk46
		}
		until := time.Now().Add(chunk)
		if !deadline.IsZero() && deadline.Before(until) {
			until = deadline
		}
		ev, why, err := c.waitEvent(ctx, cancelCh, until)
		if err != nil {
			return err
		}
		switch why {
		case waitEvent:
			if err := code(field(ev, 4)); err != nil {
				return err // cancelled from another connection: unregistered already
			}
		case waitTimeout:
			if !deadline.IsZero() && !time.Now().Before(deadline) {
				return ErrTimeout
			}
		case waitCancelled:
			return ErrCancelled
		case waitContext:
			return ctx.Err()
		}
		if states, err = c.register(); err != nil {
			return err
		}
	}
}

func needsSettle(rs []ReaderState, states []ReaderStatus) bool {
	for _, r := range rs {
		if r.CurrentState&StateIgnore != 0 {
			continue
		}
		if st, ok := lookup(states, r.Reader); ok && st.State&Present != 0 && len(st.ATR) == 0 {
			return true
		}
	}
	return false
}

// register fetches the reader states and registers for the next event.
// c.mu must be held.
func (c *Context) register() ([]ReaderStatus, error) {
	if c.minor < 6 {
		// The server answers with the whole fixed array, atomically with
		// the registration.
		b, err := c.call(cmdWaitReaderStateChange, nil, nil, maxReadersContexts*readerStateSize, c.opt.callTimeout)
		if err != nil {
			return nil, err
		}
		return c.decodeStates(cmdWaitReaderStateChange, b)
	}
	states, err := c.readerStates()
	if err != nil {
		return nil, err
	}
	if err := c.send(cmdWaitReaderStateChange, nil, nil, c.opt.callTimeout); err != nil {
		return nil, err
	}
	return states, nil
}

// unregister leaves the event list: send CMD_STOP_WAITING and read the one
// message that ends the registration (the acknowledgement, or an event that
// crossed it). c.mu must be held.
func (c *Context) unregister() error {
	if err := c.send(cmdStopWaiting, nil, nil, c.opt.callTimeout); err != nil {
		return err
	}
	_, err := c.recv(cmdStopWaiting, waitEventSize, c.opt.callTimeout)
	return err
}

type waitResult int

const (
	waitEvent waitResult = iota
	waitTimeout
	waitCancelled
	waitContext
)

// waitEvent reads the 8-byte event while registered, until the deadline,
// Cancel or ctx. Unless an event arrived, it unregisters before returning.
// c.mu must be held.
func (c *Context) waitEvent(ctx context.Context, cancelCh <-chan struct{}, until time.Time) ([]byte, waitResult, error) {
	c.conn.SetDeadline(until)
	stop := make(chan struct{})
	done := make(chan waitResult, 1)
	go func() {
		select {
		case <-ctx.Done():
			c.conn.SetReadDeadline(time.Unix(1, 0))
			done <- waitContext
		case <-cancelCh:
			c.conn.SetReadDeadline(time.Unix(1, 0))
			done <- waitCancelled
		case <-stop:
			done <- waitEvent
		}
	}()
	buf := make([]byte, waitEventSize)
	n, err := io.ReadFull(c.conn, buf)
	close(stop)
	why := <-done
	if err == nil {
		return buf, waitEvent, nil
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, 0, c.fail(cmdWaitReaderStateChange, err, 0)
	}
	if why == waitEvent {
		why = waitTimeout
	}
	if n > 0 {
		// An event was arriving: finish reading it; it ends the
		// registration by itself.
		c.conn.SetDeadline(time.Now().Add(c.opt.callTimeout))
		if _, err := io.ReadFull(c.conn, buf[n:]); err != nil {
			return nil, 0, c.fail(cmdWaitReaderStateChange, err, c.opt.callTimeout)
		}
		return buf, why, nil
	}
	if err := c.unregister(); err != nil {
		return nil, 0, err
	}
	return nil, why, nil
}

func lookup(states []ReaderStatus, name string) (ReaderStatus, bool) {
	for _, s := range states {
		if s.Name == name {
			return s, true
		}
	}
	return ReaderStatus{}, false
}

// evaluate computes each reader's EventState from pcscd's states, the way
// libpcsclite's SCardGetStatusChange does, and reports whether any reader
// differs from what the caller believes (CurrentState).
func evaluate(rs []ReaderState, states []ReaderStatus, readerCount int) bool {
	changedAny := false
	for i := range rs {
		r := &rs[i]
		cur := r.CurrentState
		if cur&StateIgnore != 0 {
			continue
		}
		changed := false
		var ev StateFlag
		st, found := lookup(states, r.Reader)
		if !found {
			if strings.EqualFold(r.Reader, PnPNotification) {
				changed = len(states) != readerCount
			} else {
				ev = StateUnknown | StateUnavailable
				changed = cur&StateUnknown == 0
				r.Atr = nil
			}
			if changed {
				ev |= StateChanged
				changedAny = true
			}
			r.EventState = ev
			continue
		}
		if cur&StateUnknown != 0 {
			changed = true // the reader came back
		}
		if cur&0xFFFF0000 != 0 && uint32(cur>>16) != st.EventCounter&0xFFFF {
			changed = true
		}
		ev |= StateFlag(st.EventCounter&0xFFFF) << 16
		if st.State&Unknown != 0 {
			ev |= StateUnavailable
			if cur&StateUnavailable == 0 {
				changed = true
			}
		} else if cur&StateUnavailable != 0 {
			changed = true
		}
		if st.State&Present != 0 {
			r.Atr = bytes.Clone(st.ATR)
		} else {
			r.Atr = nil
		}
		if st.State&Absent != 0 {
			ev |= StateEmpty
			if cur&StatePresent != 0 {
				changed = true
			}
		} else if st.State&Present != 0 {
			ev |= StatePresent
			if cur&StateEmpty != 0 {
				changed = true
			}
			if st.State&Swallowed != 0 {
				ev |= StateMute
				if cur&StateMute == 0 {
					changed = true
				}
			} else if cur&StateMute != 0 {
				changed = true
			}
		}
		switch {
		case st.Sharing == -1:
			ev |= StateExclusive
			if cur&StateInuse != 0 {
				changed = true
			}
		case st.Sharing >= 1:
			if st.State&Present != 0 {
				ev |= StateInuse
				if cur&StateExclusive != 0 {
					changed = true
				}
			}
		case st.Sharing == 0:
			if cur&(StateInuse|StateExclusive) != 0 {
				changed = true
			}
		}
		if cur == StateUnaware {
			changed = true
		}
		if changed {
			ev |= StateChanged
			changedAny = true
		}
		r.EventState = ev
	}
	return changedAny
}
