package unixsock

import (
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a connected UNIX stream socket. Its methods are safe for
// concurrent use as net.Conn's are: one reader and one writer at a time,
// and Close or a deadline from any goroutine.
//
// Read and Write make their system calls without telling the Go scheduler
// (RawSyscall) and leave the waiting to the runtime poller: on a
// non-blocking socket read and sendto never sleep, whereas a thread that
// the kernel deschedules inside a call noted as a system call (the peer it
// just woke may take its CPU) has its P taken away by the runtime's
// monitor thread (sysmon), which then polls every 20 µs, and handed to
// another thread that it wakes: on a request/response connection under
// load both happened on a good share of the calls.
type Conn struct {
	f      *os.File
	rc     syscall.RawConn // of f, kept: SyscallConn allocates
	rd, wr rawOp           // the one Read and the one Write in progress
}

// rawOp is a read or write on the RawConn with its state kept between
// calls, so that an operation allocates nothing; mu serialises the
// operations of one direction, as os.File does.
type rawOp struct {
	mu   sync.Mutex
	b    []byte
	n    int
	err  syscall.Errno
	call func(fd uintptr) bool // the bound read or write method
}

// read reads into b; false asks the poller to wait for readability.
func (o *rawOp) read(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&o.b[0])), uintptr(len(o.b)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case 0:
			o.n = int(r)
		}
		o.err = e
		return true
	}
}

// write writes b from o.n on; false asks the poller to wait for
// writability.
func (o *rawOp) write(fd uintptr) bool {
	for o.n < len(o.b) {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&o.b[o.n])), uintptr(len(o.b)-o.n), unix.MSG_NOSIGNAL, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case 0:
			o.n += int(r)
			continue
		}
		o.err = e
		return true
	}
	return true
}

// newConn wraps a connected non-blocking descriptor; name labels errors.
func newConn(fd int, name string) *Conn {
	return fileConn(os.NewFile(uintptr(fd), "unix "+name))
}

// fileConn wraps f, a connected non-blocking socket.
func fileConn(f *os.File) *Conn {
	c := &Conn{f: f}
	c.rc, _ = f.SyscallConn() // fails only for a nil f
	c.rd.call = c.rd.read
	c.wr.call = c.wr.write
	return c
}

// Read reads what the peer sent: io.EOF once it closed its end or shut
// down its write side.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := c.do(c.rc.Read, &c.rd, b, "read")
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

// Write writes all of b unless an error (a deadline, a closed peer:
// syscall.EPIPE, without SIGPIPE) stops it.
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return c.do(c.rc.Write, &c.wr, b, "write")
}

// do runs o on b through wait (the RawConn's Read or Write, which parks
// the goroutine until the socket is ready) and reports errors as os.File
// does: an *os.PathError naming the operation and the socket.
func (c *Conn) do(wait func(func(uintptr) bool) error, o *rawOp, b []byte, what string) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b, o.n, o.err = b, 0, 0
	err := pollErr(wait(o.call))
	n := o.n
	if err == nil && o.err != 0 {
		err = o.err
	}
	o.b = nil
	if err != nil {
		return n, &os.PathError{Op: what, Path: c.f.Name(), Err: err}
	}
	return n, nil
}

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
