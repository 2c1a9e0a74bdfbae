package pcsc

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyunlock/keyunlock/internal/unixsock"
)

// conn is what the client needs of its stream to pcscd.
type conn interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
	SetReadDeadline(time.Time) error
}

// Context is a connection to pcscd (an SCARDCONTEXT and its socket).
type Context struct {
	path string
	opt  options

	mu       sync.Mutex // serializes exchanges on conn
	conn     conn
	hctx     uint32
	minor    int32
	broken   error // set once the stream is unusable
	released bool

	requests atomic.Uint64 // requests sent to pcscd

	cancelMu sync.Mutex
	cancelCh chan struct{} // non-nil while GetStatusChange waits
	closing  bool          // Release was called: no new waits
}

// EstablishContext connects to pcscd, negotiates the protocol version and
// establishes a context. Release it when done.
func EstablishContext(opts ...Option) (*Context, error) {
	o := buildOptions(opts)
	if o.minor < 4 || o.minor > 6 {
		return nil, fmt.Errorf("pcsc: protocol 4.%d is not supported (4.4 to 4.6 are)", o.minor)
	}
	c := &Context{path: o.socket, opt: o}
	dial := o.dial
	if dial == nil {
		dial = func() (conn, error) { return unixsock.Dial(o.socket, o.callTimeout) }
	}
	conn, err := dial()
	if err != nil {
		return nil, &ServiceError{Path: o.socket, Op: "dial", Err: err}
	}
	c.conn = conn
	if err := c.negotiate(); err != nil {
		conn.Close()
		return nil, err
	}
	reply, err := c.call(cmdEstablishContext, fields(uint32(o.scope), 0, 0), nil, sizeEstablish, o.callTimeout)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := code(field(reply, 8)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("pcsc: establishing a context with pcscd at %s: %w", c.path, err)
	}
	c.hctx = field(reply, 4)
	return c, nil
}

// negotiate runs CMD_VERSION, retrying with the server's proposal.
func (c *Context) negotiate() error {
	offer := c.opt.minor
	tried := map[int32]bool{}
	for {
		tried[offer] = true
		reply, err := c.call(cmdVersion, fields(4, uint32(offer), 0), nil, sizeVersion, c.opt.callTimeout)
		if err != nil {
			return err
		}
		major, minor, rv := int32(field(reply, 0)), int32(field(reply, 4)), field(reply, 8)
		if rv == 0 {
			// A backward-compatible server may report its own, higher
			// version: what counts is the version we offered.
			c.minor = offer
			return nil
		}
		if Error(rv) == ErrServiceStopped && major == 4 && minor >= 4 && minor <= 6 && !tried[minor] {
			offer = minor
			continue
		}
		return fmt.Errorf("pcsc: pcscd at %s speaks protocol %d.%d (rv %v); this client speaks 4.4 to 4.6", c.path, major, minor, Error(rv))
	}
}

// Version returns the negotiated protocol version, such as 4, 4.
func (c *Context) Version() (major, minor int) { return 4, int(c.minor) }

// SocketPath returns the path of pcscd's socket this context talks to.
func (c *Context) SocketPath() string { return c.path }

// fail marks the stream unusable after an I/O error and returns the error
// every later call will report.
func (c *Context) fail(cmd uint32, err error, d time.Duration) error {
	op := cmdNames[cmd]
	if op == "" {
		op = fmt.Sprintf("command %#x", cmd)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("reply cut short: %w", err)
	}
	c.broken = &ServiceError{Path: c.path, Op: op, Err: err, Wait: d}
	c.conn.Close()
	return c.broken
}

// usable reports why the context cannot be used, or nil. c.mu must be held.
func (c *Context) usable() error {
	if c.broken != nil {
		return c.broken
	}
	if c.released {
		return fmt.Errorf("pcsc: context already released: %w", ErrInvalidHandle)
	}
	return nil
}

// send writes a request: rxHeader, body, then payload (TRANSMIT/CONTROL).
func (c *Context) send(cmd uint32, body, payload []byte, d time.Duration) error {
	c.requests.Add(1)
	msg := append(header(len(body), cmd), body...)
	msg = append(msg, payload...)
	c.conn.SetDeadline(time.Now().Add(d))
	if _, err := c.conn.Write(msg); err != nil {
		return c.fail(cmd, err, d)
	}
	return nil
}

// recv reads exactly n bytes of reply.
func (c *Context) recv(cmd uint32, n int, d time.Duration) ([]byte, error) {
	buf := make([]byte, n)
	c.conn.SetDeadline(time.Now().Add(d))
	if _, err := io.ReadFull(c.conn, buf); err != nil {
		return nil, c.fail(cmd, err, d)
	}
	return buf, nil
}

// Requests is how many requests the context has sent to pcscd, each a
// round trip on its socket: for tests and benchmarks that count them.
func (c *Context) Requests() uint64 { return c.requests.Load() }

// call sends a request and reads a reply of n bytes.
func (c *Context) call(cmd uint32, body, payload []byte, n int, d time.Duration) ([]byte, error) {
	if err := c.send(cmd, body, payload, d); err != nil {
		return nil, err
	}
	return c.recv(cmd, n, d)
}

// Release releases the context and closes the socket, interrupting a
// GetStatusChange in progress. Cards connected through it are disconnected
// by pcscd (leaving the card as it is).
func (c *Context) Release() error {
	c.cancelMu.Lock()
	c.closing = true
	c.cancelMu.Unlock()
	c.Cancel() // a wait in progress would hold the lock
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return nil
	}
	if c.broken != nil {
		c.released = true
		return nil
	}
	c.released = true
	defer c.conn.Close()
	reply, err := c.call(cmdReleaseContext, fields(c.hctx, 0), nil, sizeRelease, c.opt.callTimeout)
	if err != nil {
		return err
	}
	return code(field(reply, 4))
}

// readerStates fetches pcscd's reader-state array. c.mu must be held.
func (c *Context) readerStates() ([]ReaderStatus, error) {
	if c.minor < 6 {
		b, err := c.call(cmdGetReadersState, nil, nil, maxReadersContexts*readerStateSize, c.opt.callTimeout)
		if err != nil {
			return nil, err
		}
		return c.decodeStates(cmdGetReadersState, b)
	}
	b, err := c.call(cmdGetReadersStateSize, nil, nil, 4, c.opt.callTimeout)
	if err != nil {
		return nil, err
	}
	n := int32(field(b, 0))
	if n < 0 || n > maxReaderArrayLength {
		return nil, c.fail(cmdGetReadersStateSize, fmt.Errorf("implausible reader count %d", n), 0)
	}
	b, err = c.call(cmdGetReadersStateArray, nil, nil, int(n)*readerStateSize, c.opt.callTimeout)
	if err != nil {
		return nil, err
	}
	return c.decodeStates(cmdGetReadersStateArray, b)
}

func (c *Context) decodeStates(cmd uint32, b []byte) ([]ReaderStatus, error) {
	states, err := decodeReaderStates(b)
	if err != nil {
		return nil, c.fail(cmd, err, 0)
	}
	return states, nil
}

// ReaderStatuses returns every reader with its state as pcscd publishes it:
// name, state bits, event counter, sharing, ATR and protocol.
func (c *Context) ReaderStatuses() ([]ReaderStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usable(); err != nil {
		return nil, err
	}
	return c.readerStates()
}

// ListReaders returns the names of the readers, or ErrNoReadersAvailable.
func (c *Context) ListReaders() ([]string, error) {
	states, err := c.ReaderStatuses()
	if err != nil {
		return nil, err
	}
	if len(states) == 0 {
		return nil, ErrNoReadersAvailable
	}
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = s.Name
	}
	return names, nil
}

// ReaderEvents returns pcscd's reader-events counter, which changes when a
// reader is added or removed (CMD_GET_READER_EVENTS, protocol 4.5 and later;
// ErrUnsupportedFeature before).
func (c *Context) ReaderEvents() (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usable(); err != nil {
		return 0, err
	}
	if c.minor < 5 {
		return 0, ErrUnsupportedFeature
	}
	b, err := c.call(cmdGetReaderEvents, nil, nil, sizeEvents, c.opt.callTimeout)
	if err != nil {
		return 0, err
	}
	if err := code(field(b, 4)); err != nil {
		return 0, err
	}
	return field(b, 0), nil
}

// retrySharing calls f again every 100 ms while it fails with a sharing
// violation, up to the sharing timeout.
func (c *Context) retrySharing(f func() error) error {
	deadline := time.Now().Add(c.opt.sharingTimeout)
	for {
		err := f()
		if !errors.Is(err, ErrSharingViolation) || time.Now().Add(lockPollRate).After(deadline) {
			return err
		}
		time.Sleep(lockPollRate)
	}
}

// Cancel interrupts a GetStatusChange in progress on this context, which
// then returns ErrCancelled. It does nothing when no wait is in progress.
func (c *Context) Cancel() error {
	c.cancelMu.Lock()
	defer c.cancelMu.Unlock()
	if c.cancelCh != nil {
		close(c.cancelCh)
		c.cancelCh = nil
	}
	return nil
}
