package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CryptsetupRead behaves exactly like systemd-cryptsetup reading a key file
// that is an AF_UNIX socket (src/basic/fileio.c): it binds the abstract
// address "\0<random hex>/cryptsetup/<volume>", connects to path, shuts down
// its writing side and reads until EOF. The socket is closed when ctx ends,
// and a read waits at most timeout.
func CryptsetupRead(ctx context.Context, path, volume string, timeout time.Duration) ([]byte, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	closeFD := func() { once.Do(func() { unix.Shutdown(fd, unix.SHUT_RDWR); unix.Close(fd) }) }
	defer closeFD()
	stop := context.AfterFunc(ctx, closeFD)
	defer stop()
	var rnd [8]byte
	rand.Read(rnd[:])
	// systemd prints the random number with "%" PRIx64 (no leading zeros);
	// x/sys writes a leading '@' as the abstract NUL.
	name := "@" + strings.TrimLeft(hex.EncodeToString(rnd[:]), "0") + "/cryptsetup/" + volume
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, err
	}
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return nil, err
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			// A signal (the Go runtime's preemption among them) ends a
			// read on a socket with SO_RCVTIMEO without restarting it.
			continue
		}
		if n > 0 {
			out = append(out, buf[:n]...)
		}
		if n == 0 && err == nil {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
