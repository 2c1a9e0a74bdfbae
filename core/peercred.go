package core

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// PeerCred is the identity of the process at the other end of a UNIX socket,
// as the kernel recorded it at connect time (SO_PEERCRED).
type PeerCred struct {
	PID int
	UID int
	GID int
}

// String formats the peer for log lines.
func (p PeerCred) String() string {
	return fmt.Sprintf("pid %d uid %d gid %d", p.PID, p.UID, p.GID)
}

// PeerCredOf reads SO_PEERCRED from a UNIX socket connection.
func PeerCredOf(c net.Conn) (PeerCred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return PeerCred{}, fmt.Errorf("not a UNIX socket connection: %T", c)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return PeerCred{}, err
	}
	var cred *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return PeerCred{}, err
	}
	if serr != nil {
		return PeerCred{}, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	return PeerCred{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}, nil
}

// AccessPolicy decides which peers may talk to the daemon: root, the
// daemon's own user, and, when AllowGroup is set, members of group GID
// (primary or supplementary, the latter read from /proc/PID/status). The
// zero value admits root and the daemon's own user only.
type AccessPolicy struct {
	AllowGroup bool
	GID        int
}

// Check returns nil when the peer may connect, or an error saying why not.
func (a AccessPolicy) Check(p PeerCred) error {
	if p.UID == 0 || p.UID == os.Geteuid() {
		return nil
	}
	if a.AllowGroup {
		if p.GID == a.GID {
			return nil
		}
		if groups, err := procGroups(p.PID); err == nil {
			for _, g := range groups {
				if g == a.GID {
					return nil
				}
			}
		}
		return fmt.Errorf("peer %s is neither root nor in group %d", p, a.GID)
	}
	return fmt.Errorf("peer %s is not root (start the daemon with --allow-group to admit a group)", p)
}

// procGroups reads the supplementary groups of a process from /proc.
func procGroups(pid int) ([]int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Groups:"); ok {
			var gs []int
			for _, f := range strings.Fields(rest) {
				if g, err := strconv.Atoi(f); err == nil {
					gs = append(gs, g)
				}
			}
			return gs, nil
		}
	}
	return nil, fmt.Errorf("no Groups line in /proc/%d/status", pid)
}
