package unixsock

import (
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// backlog is the listen(2) queue length; the kernel caps it at somaxconn.
const backlog = 4096

// Listener is a listening UNIX stream socket.
type Listener struct {
	sockFile
}

// Listen creates a stream socket bound to name and listens on it. A
// file-system socket gets mode (permission bits) before it starts
// listening, so no connection is possible under a laxer mode, and is
// removed again by Close. An abstract name (starting with '@') has no mode.
// A file already at name makes Listen fail (syscall.EADDRINUSE).
func Listen(name string, mode os.FileMode) (*Listener, error) {
	sa, err := sockaddr(name)
	if err != nil {
		return nil, &OpError{Op: "listen", Addr: name, Err: err}
	}
	fd, err := socket(unix.SOCK_STREAM)
	if err != nil {
		return nil, &OpError{Op: "listen", Addr: name, Err: err}
	}
	fail := func(op string, err error) (*Listener, error) {
		unix.Close(fd)
		return nil, &OpError{Op: "listen", Addr: name, Err: os.NewSyscallError(op, err)}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	abstract := name[0] == '@'
	if !abstract {
		if err := unix.Fchmodat(unix.AT_FDCWD, name, uint32(mode.Perm()), 0); err != nil {
			os.Remove(name)
			return fail("chmod", err)
		}
	}
	if err := unix.Listen(fd, backlog); err != nil {
		if !abstract {
			os.Remove(name)
		}
		return fail("listen", err)
	}
	return &Listener{sockFile{f: os.NewFile(uintptr(fd), "unix "+name), name: name, unlink: !abstract}}, nil
}

// FileListener adopts fd, a listening AF_UNIX stream socket handed over by
// socket activation; the Listener owns it from then on (even on error,
// fd is closed). It sets the descriptor non-blocking and close-on-exec, and
// Close leaves the socket file in place for the service manager.
func FileListener(fd int) (*Listener, error) {
	label := "fd " + strconv.Itoa(fd)
	fail := func(err error) (*Listener, error) {
		unix.Close(fd)
		return nil, &OpError{Op: "listen", Addr: label, Err: err}
	}
	if dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return fail(os.NewSyscallError("SO_DOMAIN", err))
	} else if dom != unix.AF_UNIX {
		return fail(errors.New("not a UNIX socket"))
	}
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return fail(os.NewSyscallError("SO_TYPE", err))
	} else if typ != unix.SOCK_STREAM {
		return fail(errors.New("not a stream socket"))
	}
	if acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil {
		return fail(os.NewSyscallError("SO_ACCEPTCONN", err))
	} else if acc == 0 {
		return fail(errors.New("socket is not listening"))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail(os.NewSyscallError("setnonblock", err))
	}
	unix.CloseOnExec(fd)
	sn := sockname(fd)
	name := sn
	if name == "" {
		name = label
	}
	return &Listener{sockFile{f: os.NewFile(uintptr(fd), "unix "+name), name: sn}}, nil
}

// Accept waits for a connection. After Close, a pending or later Accept
// returns an error matching os.ErrClosed; after the deadline set by
// SetDeadline, one matching os.ErrDeadlineExceeded.
func (l *Listener) Accept() (*Conn, error) {
	var nfd int
	err := rawIO(l.f, false, "accept4", func(fd int) error {
		for {
			var err error
			nfd, _, err = unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err != unix.ECONNABORTED {
				return err
			}
			// A client that gave up while queued: take the next.
		}
	})
	if err != nil {
		return nil, &OpError{Op: "accept", Addr: l.name, Err: err}
	}
	return newConn(nfd, l.name), nil
}

// SetDeadline bounds Accept calls, pending ones included; the zero time
// clears the deadline.
func (l *Listener) SetDeadline(t time.Time) error { return l.f.SetReadDeadline(t) }

// Addr returns the name the socket is bound to ('@' first when abstract;
// "" when unknown).
func (l *Listener) Addr() string { return l.name }

// Close stops listening, unblocks a pending Accept, and removes the socket
// file Listen created. Later calls return the first call's result.
func (l *Listener) Close() error { return l.close() }
