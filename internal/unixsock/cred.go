package unixsock

import (
	"os"

	"golang.org/x/sys/unix"
)

// Cred is the identity of the process at the other end of a socket as the
// kernel recorded it when the connection was made (SO_PEERCRED).
type Cred struct {
	PID int
	UID int
	GID int
}

// PeerCred reads the peer's credentials (SO_PEERCRED).
func (c *Conn) PeerCred() (Cred, error) {
	var cred Cred
	err := control(c.f, func(fd int) error {
		u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return os.NewSyscallError("SO_PEERCRED", err)
		}
		cred = Cred{PID: int(u.Pid), UID: int(u.Uid), GID: int(u.Gid)}
		return nil
	})
	return cred, err
}
