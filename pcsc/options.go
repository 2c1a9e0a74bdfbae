package pcsc

import (
	"os"
	"time"
)

// DefaultSocket is pcscd's socket when PCSCLITE_CSOCK_NAME is not set.
const DefaultSocket = "/run/pcscd/pcscd.comm"

// Default deadlines; see the package documentation.
const (
	DefaultCallTimeout     = 20 * time.Second
	DefaultTransmitTimeout = 60 * time.Second
	DefaultSharingTimeout  = 10 * time.Second
)

// lockPollRate is how long to wait between retries after a sharing
// violation (PCSCLITE_LOCK_POLL_RATE).
const lockPollRate = 100 * time.Millisecond

type options struct {
	socket          string
	scope           Scope
	minor           int32
	callTimeout     time.Duration
	transmitTimeout time.Duration
	sharingTimeout  time.Duration
	dial            func() (conn, error) // tests: replaces dialling the socket
}

// An Option configures EstablishContext.
type Option func(*options)

// WithSocket connects to pcscd at path instead of $PCSCLITE_CSOCK_NAME or
// DefaultSocket.
func WithSocket(path string) Option { return func(o *options) { o.socket = path } }

// WithScope sets dwScope (pcscd ignores it apart from its range).
func WithScope(s Scope) Option { return func(o *options) { o.scope = s } }

// WithVersion sets the protocol minor version offered first (4, 5 or 6;
// the major is always 4). The default is 4; 6 lets a pcsc-lite 2.5 server
// report more than 16 readers. Against an older server the client falls
// back to the server's proposal.
func WithVersion(minor int) Option { return func(o *options) { o.minor = int32(minor) } }

// WithCallTimeout bounds every exchange with pcscd except Transmit and
// Control.
func WithCallTimeout(d time.Duration) Option { return func(o *options) { o.callTimeout = d } }

// WithTransmitTimeout bounds Transmit and Control, which may legitimately
// wait for a touch on the card.
func WithTransmitTimeout(d time.Duration) Option { return func(o *options) { o.transmitTimeout = d } }

// WithSharingTimeout bounds how long Connect, BeginTransaction, Transmit and
// Status keep retrying while another process holds the card. Zero disables
// the retries.
func WithSharingTimeout(d time.Duration) Option { return func(o *options) { o.sharingTimeout = d } }

func buildOptions(opts []Option) options {
	o := options{
		socket:          os.Getenv("PCSCLITE_CSOCK_NAME"),
		scope:           ScopeSystem,
		minor:           4,
		callTimeout:     DefaultCallTimeout,
		transmitTimeout: DefaultTransmitTimeout,
		sharingTimeout:  DefaultSharingTimeout,
	}
	if o.socket == "" {
		o.socket = DefaultSocket
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// SocketPath returns the socket EstablishContext would use with opts.
func SocketPath(opts ...Option) string { return buildOptions(opts).socket }
