package unixsock

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// OpError is an error of a socket operation other than reading and writing
// (those report *os.PathError from os.File): what was done, on which
// address, and the cause, which errors.Is sees through (syscall.ENOENT,
// syscall.ECONNREFUSED, os.ErrDeadlineExceeded...).
type OpError struct {
	Op   string // "listen", "dial", "accept"...
	Addr string // the socket's name
	Err  error
}

// Error reads like "dial unix /run/x.sock: connect: connection refused".
func (e *OpError) Error() string {
	if e.Addr == "" {
		return e.Op + " unix: " + e.Err.Error()
	}
	return e.Op + " unix " + e.Addr + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Timeout reports whether the operation ran out of time.
func (e *OpError) Timeout() bool { return errors.Is(e.Err, os.ErrDeadlineExceeded) }

// sockaddr converts a name to a socket address, checking its length.
func sockaddr(name string) (*unix.SockaddrUnix, error) {
	if name == "" || name == "@" {
		return nil, errors.New("empty socket name")
	}
	var raw unix.RawSockaddrUnix
	if len(name) > len(raw.Path)-1 {
		return nil, fmt.Errorf("socket name %q is %d bytes long; the limit is %d (choose a shorter path)", name, len(name), len(raw.Path)-1)
	}
	return &unix.SockaddrUnix{Name: name}, nil
}

// socket creates a non-blocking, close-on-exec AF_UNIX socket.
func socket(typ int) (int, error) {
	for {
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, os.NewSyscallError("socket", err)
		}
		return fd, nil
	}
}

// control runs f on the descriptor of file, returning f's error or the one
// of reaching the descriptor (os.ErrClosed after Close).
func control(file *os.File, f func(fd int) error) error {
	rc, err := file.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// sockname returns the local name of a socket ("" when unbound).
func sockname(fd int) string {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return ""
	}
	if su, ok := sa.(*unix.SockaddrUnix); ok && su.Name != "@" {
		return su.Name
	}
	return ""
}

// rawIO runs op on the descriptor of f once it is ready for reading (or,
// with write, for writing): op is retried after EINTR and after waiting
// for readiness on EAGAIN. An error of op is returned as an
// *os.SyscallError named call; the poller's own errors (os.ErrClosed,
// os.ErrDeadlineExceeded) as they are.
func rawIO(f *os.File, write bool, call string, op func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var operr error
	do := func(fd uintptr) bool {
		for {
			operr = op(int(fd))
			switch operr {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			}
			return true
		}
	}
	if write {
		err = rc.Write(do)
	} else {
		err = rc.Read(do)
	}
	if err != nil {
		return pollErr(err)
	}
	if operr != nil {
		return os.NewSyscallError(call, operr)
	}
	return nil
}

// sockFile is the descriptor of a socket bound to a name, closed (and its
// file-system name removed) once.
type sockFile struct {
	f      *os.File
	name   string
	unlink bool // remove name from the file system on close
	once   sync.Once
	err    error
}

// close removes the socket file when unlink is set, then closes the
// descriptor; later calls return the first call's result.
func (s *sockFile) close() error {
	s.once.Do(func() {
		if s.unlink {
			// Unlink first: a client then finds no socket rather than
			// one nobody accepts on.
			os.Remove(s.name)
		}
		s.err = s.f.Close()
	})
	return s.err
}

// retryable reports whether a non-blocking call must wait for readiness.
func retryable(err error) bool { return err == syscall.EAGAIN }

// pollErr translates the errors of the runtime poller that a RawConn's Read
// and Write return as they are: os.File reports a closed file as
// os.ErrClosed, but RawConn passes on the poller's own error (its text is
// all that identifies it).
func pollErr(err error) error {
	if err != nil && err.Error() == "use of closed file" {
		return os.ErrClosed
	}
	return err
}
