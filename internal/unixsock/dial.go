package unixsock

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Dial connects to the stream socket at name, giving up after timeout
// (zero: no limit). A missing socket file fails at once with an error
// matching syscall.ENOENT (and os.ErrNotExist), a socket nobody listens on
// with syscall.ECONNREFUSED, and a timeout with os.ErrDeadlineExceeded.
func Dial(name string, timeout time.Duration) (*Conn, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	return dial(nil, name, deadline)
}

// DialContext is Dial bounded by ctx: its deadline, and its cancellation,
// which is reported as ctx.Err().
func DialContext(ctx context.Context, name string) (*Conn, error) {
	deadline, _ := ctx.Deadline()
	c, err := dial(ctx.Done(), name, deadline)
	if err != nil && ctx.Err() != nil {
		return nil, &OpError{Op: "dial", Addr: name, Err: ctx.Err()}
	}
	return c, err
}

// dial connects a non-blocking socket. A listener with a full queue makes
// connect fail with EAGAIN (Linux does not queue the attempt for a
// non-blocking socket), so dial retries with a growing pause until the
// deadline; EINPROGRESS waits for the socket to become writable and reads
// the outcome from SO_ERROR.
func dial(done <-chan struct{}, name string, deadline time.Time) (*Conn, error) {
	opErr := func(err error) error { return &OpError{Op: "dial", Addr: name, Err: err} }
	sa, err := sockaddr(name)
	if err != nil {
		return nil, opErr(err)
	}
	fd, err := socket(unix.SOCK_STREAM)
	if err != nil {
		return nil, opErr(err)
	}
	f := os.NewFile(uintptr(fd), "unix "+name)
	fail := func(err error) (*Conn, error) {
		f.Close()
		return nil, opErr(err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fail(err)
	}
	if !deadline.IsZero() {
		if err := f.SetWriteDeadline(deadline); err != nil {
			return fail(err)
		}
	}
	pause := time.Millisecond
	for {
		var cerr error
		started := false
		err := pollErr(rc.Write(func(fd uintptr) bool {
			if started {
				// Writable after EINPROGRESS: the connect is over.
				n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
				if err != nil {
					cerr = os.NewSyscallError("getsockopt", err)
				} else if n != 0 {
					cerr = os.NewSyscallError("connect", unix.Errno(n))
				}
				return true
			}
			for {
				err := unix.Connect(int(fd), sa)
				switch err {
				case nil:
					return true
				case unix.EINTR:
					continue
				case unix.EINPROGRESS, unix.EALREADY:
					started = true
					return false
				}
				cerr = os.NewSyscallError("connect", err)
				return true
			}
		}))
		if err != nil {
			return fail(err)
		}
		if cerr == nil {
			break
		}
		if !retryable(unwrapErrno(cerr)) {
			return fail(cerr)
		}
		// The listener's queue is full: wait for it to accept.
		wait := pause
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return fail(os.ErrDeadlineExceeded)
			}
			wait = min(wait, left)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			return fail(os.ErrDeadlineExceeded)
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
	if !deadline.IsZero() {
		f.SetWriteDeadline(time.Time{})
	}
	return &Conn{f: f}, nil
}

// unwrapErrno returns the errno inside an *os.SyscallError, or err.
func unwrapErrno(err error) error {
	if se, ok := err.(*os.SyscallError); ok {
		return se.Err
	}
	return err
}
