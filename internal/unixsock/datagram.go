package unixsock

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Datagram is a UNIX datagram socket bound to a name: the socket a
// password question names for the agent's answer.
type Datagram struct {
	sockFile
}

// ListenDatagram creates a datagram socket bound to name. With passCred,
// every datagram received carries its sender's credentials
// (SO_PASSCRED; see SenderCred). A file-system socket is removed by Close.
func ListenDatagram(name string, passCred bool) (*Datagram, error) {
	sa, err := sockaddr(name)
	if err != nil {
		return nil, &OpError{Op: "listen", Addr: name, Err: err}
	}
	fd, err := socket(unix.SOCK_DGRAM)
	if err != nil {
		return nil, &OpError{Op: "listen", Addr: name, Err: err}
	}
	if passCred {
		// Before bind: no datagram may arrive without credentials.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
			unix.Close(fd)
			return nil, &OpError{Op: "listen", Addr: name, Err: os.NewSyscallError("SO_PASSCRED", err)}
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &OpError{Op: "listen", Addr: name, Err: os.NewSyscallError("bind", err)}
	}
	return &Datagram{sockFile{f: os.NewFile(uintptr(fd), "unixgram "+name), name: name, unlink: name[0] != '@'}}, nil
}

// ReadMsg waits for one datagram and copies it into b and its ancillary
// data into oob; a datagram longer than b is cut short. It returns the
// lengths used.
func (d *Datagram) ReadMsg(b, oob []byte) (n, oobn int, err error) {
	err = rawIO(d.f, false, "recvmsg", func(fd int) (err error) {
		n, oobn, _, _, err = unix.Recvmsg(fd, b, oob, unix.MSG_CMSG_CLOEXEC)
		return err
	})
	if err != nil {
		return 0, 0, &OpError{Op: "read", Addr: d.name, Err: err}
	}
	return n, oobn, nil
}

// SetReadDeadline bounds ReadMsg calls, pending ones included.
func (d *Datagram) SetReadDeadline(t time.Time) error { return d.f.SetReadDeadline(t) }

// Close closes the socket, unblocking a ReadMsg, and removes the socket
// file. Later calls return the first call's result.
func (d *Datagram) Close() error { return d.close() }

// SenderCred extracts the sender's credentials from the ancillary data of
// a datagram received on a socket with SO_PASSCRED.
func SenderCred(oob []byte) (Cred, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return Cred{}, false
	}
	for _, m := range msgs {
		if u, err := unix.ParseUnixCredentials(&m); err == nil {
			return Cred{PID: int(u.Pid), UID: int(u.Uid), GID: int(u.Gid)}, true
		}
	}
	return Cred{}, false
}

// CredSpace is the oob buffer size ReadMsg needs for the sender's credentials.
var CredSpace = unix.CmsgSpace(unix.SizeofUcred)

// SendDatagram sends msg as one datagram from an unbound socket to the
// socket at name (sd_notify, a password agent's answer), waiting up to
// timeout (zero: no limit) while the receiver's queue is full.
func SendDatagram(name string, msg []byte, timeout time.Duration) error {
	opErr := func(err error) error { return &OpError{Op: "send", Addr: name, Err: err} }
	sa, err := sockaddr(name)
	if err != nil {
		return opErr(err)
	}
	fd, err := socket(unix.SOCK_DGRAM)
	if err != nil {
		return opErr(err)
	}
	// Connected, the socket polls writable when the receiver's queue has
	// room again; unconnected, it would always poll writable.
	for {
		err = unix.Connect(fd, sa)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return opErr(os.NewSyscallError("connect", err))
	}
	f := os.NewFile(uintptr(fd), "unixgram "+name)
	defer f.Close()
	if timeout > 0 {
		f.SetWriteDeadline(time.Now().Add(timeout))
	}
	err = rawIO(f, true, "sendto", func(fd int) error {
		return unix.Sendto(fd, msg, unix.MSG_NOSIGNAL, nil)
	})
	if err != nil {
		return opErr(err)
	}
	return nil
}
