package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyunlock/keyunlock/internal/unixsock"
)

// ListenOptions says who may open a daemon socket file.
type ListenOptions struct {
	// Group, when set, makes the socket 0660 and owned by this group;
	// otherwise it is 0600 and reachable by its owner (root) only.
	Group bool
	GID   int
}

// Listen creates the UNIX stream socket at path for the daemon: it creates
// the parent directory (0755) if needed, replaces a stale socket file that
// nothing listens on, refuses to replace a live one or a non-socket, and
// sets the mode and group.
func Listen(path string, opts ListenOptions) (*unixsock.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket: remove it or choose another --socket", path)
		}
		// A daemon whose accept queue stays full is alive too.
		c, err := unixsock.Dial(path, time.Second)
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("%s: another daemon already listens there (stop it, or choose another --socket)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	// Owner only until the group is set; Close removes the file.
	l, err := unixsock.Listen(path, 0o600)
	if err != nil {
		return nil, err
	}
	if opts.Group {
		if err := os.Chown(path, -1, opts.GID); err != nil {
			l.Close()
			return nil, fmt.Errorf("giving %s to group %d: %w", path, opts.GID, err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// LookupGroup resolves a group name or number from /etc/group.
func LookupGroup(name string) (int, error) {
	if gid, err := strconv.Atoi(name); err == nil {
		return gid, nil
	}
	data, err := os.ReadFile("/etc/group")
	if err != nil {
		return 0, fmt.Errorf("looking up group %q: %w", name, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			return strconv.Atoi(f[2])
		}
	}
	return 0, fmt.Errorf("no group %q in /etc/group: create it or pass a numeric GID", name)
}

// ActivatedListeners returns the sockets passed by systemd socket
// activation (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES; sd_listen_fds(3)),
// keyed by their FileDescriptorName. It returns nil when the process was not
// socket-activated, and unsets the variables so that children do not
// inherit them.
func ActivatedListeners() (map[string][]*unixsock.Listener, error) {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil, nil
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	out := map[string][]*unixsock.Listener{}
	var errs []error
	for i := 0; i < n; i++ {
		fd := 3 + i
		name := "unknown"
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		unix.CloseOnExec(fd)
		l, err := unixsock.FileListener(fd)
		if err != nil {
			errs = append(errs, fmt.Errorf("activated socket %q (fd %d) is not a listening UNIX stream socket: %w", name, fd, err))
			continue
		}
		out[name] = append(out[name], l)
	}
	return out, errors.Join(errs...)
}
