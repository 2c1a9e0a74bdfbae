package core

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/keyunlock/keyunlock/internal/unixsock"
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
func PeerCredOf(c *unixsock.Conn) (PeerCred, error) {
	cred, err := c.PeerCred()
	if err != nil {
		return PeerCred{}, err
	}
	return PeerCred(cred), nil
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
