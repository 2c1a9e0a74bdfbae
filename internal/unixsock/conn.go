package unixsock

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a connected UNIX stream socket. Its methods are safe for
// concurrent use as net.Conn's are: one reader and one writer at a time,
// and Close or a deadline from any goroutine.
//
// Reads and writes go through os.File, so the runtime notes them as system
// calls and hands the P of a thread that the kernel deschedules inside one
// to another thread. Raw system calls avoided the wake-ups of that
// hand-off (about 5 µs of daemon CPU per Decrypt call) but, on a loaded
// machine, left the goroutines queued on such a P waiting for their
// thread: p99 at 16 clients went from 10 to 16 ms and the rate fell.
type Conn struct {
	f *os.File
}

// newConn wraps a connected non-blocking descriptor; name labels errors.
func newConn(fd int, name string) *Conn {
	return &Conn{f: os.NewFile(uintptr(fd), "unix "+name)}
}

// Read reads what the peer sent: io.EOF once it closed its end or shut
// down its write side.
func (c *Conn) Read(b []byte) (int, error) { return c.f.Read(b) }

// Write writes all of b unless an error (a deadline, a closed peer:
// syscall.EPIPE) stops it.
func (c *Conn) Write(b []byte) (int, error) { return c.f.Write(b) }

// Close closes the socket, unblocking a Read or Write in progress.
func (c *Conn) Close() error { return c.f.Close() }

// SetDeadline sets the read and write deadlines; the zero time clears them.
func (c *Conn) SetDeadline(t time.Time) error { return c.f.SetDeadline(t) }

// SetReadDeadline sets the deadline for Read calls, pending ones included.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for Write calls, pending ones included.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// CloseWrite shuts down the sending side: the peer reads EOF while this
// end can still read its answer.
func (c *Conn) CloseWrite() error {
	return control(c.f, func(fd int) error { return os.NewSyscallError("shutdown", unix.Shutdown(fd, unix.SHUT_WR)) })
}

// LocalName returns the name this end is bound to ("" for a dialled,
// unbound socket); abstract names start with '@'.
func (c *Conn) LocalName() string {
	var name string
	control(c.f, func(fd int) error { name = sockname(fd); return nil })
	return name
}

// PeerName returns the name the peer's socket is bound to, via
// getpeername(2): an abstract name starts with '@' (its leading NUL shown
// so), and a peer that bound no name gives "@".
func (c *Conn) PeerName() (string, error) {
	var name string
	err := control(c.f, func(fd int) error {
		sa, err := unix.Getpeername(fd)
		if err != nil {
			return os.NewSyscallError("getpeername", err)
		}
		su, ok := sa.(*unix.SockaddrUnix)
		if !ok {
			return &OpError{Op: "getpeername", Err: unix.EAFNOSUPPORT}
		}
		name = su.Name
		return nil
	})
	return name, err
}

// HungUp reports, without waiting, whether the peer has closed its end
// (POLLHUP or POLLERR on the socket).
func (c *Conn) HungUp() bool {
	var hup bool
	control(c.f, func(fd int) error {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLHUP}}
		n, _ := unix.Poll(fds, 0)
		hup = n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		return nil
	})
	return hup
}
