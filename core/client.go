package core

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/internal/unixsock"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/keyunlock/keyunlock.sock"

// Client is a Service backed by the keyunlock daemon over its varlink
// socket. Its answers, errors included, are those of the daemon's
// Keystore, so callers print the same output in both modes. A Client is
// safe for concurrent use; calls are serialised on one connection, which is
// re-established when it breaks.
type Client struct {
	path string
	// MaxReply caps a reply in bytes (default 16 MiB).
	MaxReply int

	mu   sync.Mutex
	conn *unixsock.Conn
	r    *bufio.Reader
	// deadline is set when conn may carry a deadline from an earlier call.
	deadline bool
	// wbuf and rbuf are reused for the calls and replies of the Decrypt
	// fast path and for long replies; wiped after each call.
	wbuf, rbuf []byte
}

// Dial connects to the daemon socket at path.
func Dial(ctx context.Context, path string) (*Client, error) {
	c := &Client{path: path}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) connect(ctx context.Context) error {
	conn, err := unixsock.DialContext(ctx, c.path)
	if err != nil {
		return fmt.Errorf("cannot reach the keyunlock daemon at %s: %w (is 'keyunlock serve' running?)", c.path, err)
	}
	c.conn = conn
	c.r = bufio.NewReader(conn)
	c.deadline = false
	return nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// call sends one call and decodes the reply parameters into out.
func (c *Client) call(ctx context.Context, method string, params, out any) error {
	return c.do(ctx, method, params, nil, nil, out)
}

// do is call with optional fast codecs: encode, when set, appends the call
// and its NUL in place of encoding params with writeMessage; fast, when
// set, decodes a reply into out and reports whether it could. Replies it
// cannot decode (errors among them) take the general JSON codec.
func (c *Client) do(ctx context.Context, method string, params any, encode func([]byte) []byte, fast func([]byte) bool, out any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		if err := c.connect(ctx); err != nil {
			return err
		}
	}
	conn := c.conn
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
		c.deadline = true
	} else if c.deadline {
		conn.SetDeadline(time.Time{})
		c.deadline = false
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
		defer func() {
			if !stop() {
				// The cancellation may have set a deadline after the reply.
				c.deadline = true
			}
		}()
	}
	fail := func(err error) error {
		c.conn.Close()
		c.conn = nil
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("keyunlock daemon at %s: %s: %w", c.path, method, err)
	}
	if params == nil {
		params = struct{}{}
	}
	var werr error
	if encode != nil {
		werr = writeWiped(conn, encode(c.wbuf[:0]), &c.wbuf)
	} else {
		werr = writeMessage(conn, varlinkCall2{Method: method, Parameters: params})
	}
	max := c.MaxReply
	if max <= 0 {
		max = 16 << 20
	}
	// After a failed write, the daemon may still have sent an error reply
	// (a refused peer, a busy daemon) before closing: read it.
	msg, err := readMessageInto(c.r, &c.rbuf, max)
	if err != nil {
		if werr != nil {
			return fail(werr)
		}
		return fail(err)
	}
	defer Wipe(msg)
	if fast != nil && fast(msg) {
		return nil
	}
	rep, err := parseJSON(msg)
	if err != nil {
		return fail(fmt.Errorf("malformed reply: %v", err))
	}
	defer wipeJSON(&rep)
	var wire varlinkReplyWire
	if err := rep.decodeStruct(&wire); err != nil {
		return fail(fmt.Errorf("malformed reply: %v", err))
	}
	name, rparams := wire.name, wire.params
	if name != "" {
		var pm map[string]any
		if rparams != nil {
			pm, _ = rparams.decodeMap()
		}
		if name == ErrNamePermissionDenied {
			c.conn.Close()
			c.conn = nil
			return fmt.Errorf("the keyunlock daemon at %s refused this user (%w): run as root, or start it with --allow-group",
				c.path, &VarlinkError{Name: name, Parameters: pm})
		}
		return varlinkToError(name, pm, rparams)
	}
	if out != nil {
		if rparams == nil {
			return fail(errors.New("malformed reply: no parameters"))
		}
		if err := rparams.decode(out); err != nil {
			return fail(fmt.Errorf("malformed reply parameters: %v", err))
		}
	}
	return nil
}

// varlinkCall2 is a call as the client writes it.
type varlinkCall2 struct {
	Method     string `json:"method"`
	Parameters any    `json:"parameters"`
}

// ListKeys implements Service.
func (c *Client) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	var rep vlListKeysReply
	if err := c.call(ctx, VarlinkInterface+".ListKeys", nil, &rep); err != nil {
		return nil, err
	}
	if rep.Problem != "" {
		return rep.Keys, errors.New(rep.Problem)
	}
	return rep.Keys, nil
}

// Unlock implements Service. The secret is sent to the daemon and the
// request buffer zeroed afterwards; the caller still wipes its own copy.
func (c *Client) Unlock(ctx context.Context, sel string, secret []byte, opts UnlockOptions) error {
	return c.call(ctx, VarlinkInterface+".Unlock", vlUnlockArgs{Key: sel, Secret: secret, Force: opts.Force}, nil)
}

// Lock implements Service.
func (c *Client) Lock(ctx context.Context, sel string) error {
	return c.call(ctx, VarlinkInterface+".Lock", vlLockArgs{Key: sel}, nil)
}

// DecryptPKESKs implements Service: only the PKESK packets travel to the
// daemon, and the session key comes back.
func (c *Client) DecryptPKESKs(ctx context.Context, pkesks []*PKESK) (*Result, error) {
	a := vlDecryptArgs{PKESKs: make([][]byte, len(pkesks))}
	for i, p := range pkesks {
		a.PKESKs[i] = p.Body
	}
	var rep vlDecryptReply
	encode := func(dst []byte) []byte { return appendDecryptCall(dst, a.PKESKs) }
	fast := func(msg []byte) bool { return parseDecryptReply(msg, &rep) }
	if err := c.do(ctx, decryptMethod, a, encode, fast, &rep); err != nil {
		return nil, err
	}
	if rep.Index < 0 || rep.Index >= len(pkesks) {
		Wipe(rep.SessionKey)
		return nil, fmt.Errorf("keyunlock daemon at %s returned PKESK index %d of %d", c.path, rep.Index, len(pkesks))
	}
	return &Result{Index: rep.Index, Fingerprint: rep.Fingerprint, Source: rep.Source,
		SessionKey: SessionKey{Cipher: cipherFunction(rep.Algorithm), Key: rep.SessionKey}}, nil
}

// DecryptMessage has the daemon decrypt a whole small message.
func (c *Client) DecryptMessage(ctx context.Context, msg []byte) (*RemoteMessage, error) {
	var rep vlDecryptMessageReply
	if err := c.call(ctx, VarlinkInterface+".DecryptMessage", vlDecryptMessageArgs{Message: msg}, &rep); err != nil {
		return nil, err
	}
	return &RemoteMessage{Plaintext: rep.Plaintext, FileName: rep.FileName,
		Result: Result{Index: rep.Index, Fingerprint: rep.Fingerprint, Source: rep.Source}}, nil
}

// Status asks the daemon to describe itself.
func (c *Client) Status(ctx context.Context) (*DaemonStatus, error) {
	var st DaemonStatus
	if err := c.call(ctx, VarlinkInterface+".Status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Ping checks that the daemon answers (org.varlink.service.GetInfo).
func (c *Client) Ping(ctx context.Context) error {
	var info vlGetInfoReply
	if err := c.call(ctx, VarlinkServiceInterface+".GetInfo", nil, &info); err != nil {
		return err
	}
	for _, i := range info.Interfaces {
		if i == VarlinkInterface {
			return nil
		}
	}
	return errors.New("the socket at " + c.path + " does not serve " + VarlinkInterface)
}

var _ Service = (*Client)(nil)
