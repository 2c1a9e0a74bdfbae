package core

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestListenModes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "a.sock")
	l, err := Listen(p, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("default socket mode %v, %v; want 0600 socket", fi.Mode(), err)
	}
	// A live socket is not replaced.
	if _, err := Listen(p, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "another daemon already listens") {
		t.Fatalf("second Listen on a live socket: %v", err)
	}
	l.Close()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("socket file after Close: %v", err)
	}

	// A stale socket (nobody listening) is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	g := os.Getgid()
	if os.Geteuid() == 0 {
		g = 4242 // root may give the socket to any group
	}
	l, err = Listen(p, ListenOptions{Group: true, GID: g})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l.Close()
	fi, _ = os.Stat(p)
	if fi.Mode().Perm() != 0o660 || int(fi.Sys().(*syscall.Stat_t).Gid) != g {
		t.Fatalf("group socket: mode %v gid %d, want 0660 gid %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, g)
	}

	// A regular file in the way is an error, not deleted.
	f := filepath.Join(dir, "file")
	os.WriteFile(f, []byte("x"), 0o600)
	if _, err := Listen(f, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("Listen over a file: %v", err)
	}
	if _, err := os.Stat(f); err != nil {
		t.Fatal("the file was removed")
	}
}

func TestLookupGroup(t *testing.T) {
	if g, err := LookupGroup("root"); err != nil || g != 0 {
		t.Fatalf("root: %d, %v", g, err)
	}
	if g, err := LookupGroup("123"); err != nil || g != 123 {
		t.Fatalf("123: %d, %v", g, err)
	}
	if _, err := LookupGroup("no-such-group-keyunlock"); err == nil {
		t.Fatal("unknown group accepted")
	}
}

// TestListenKeepsBusyDaemon: a daemon whose accept queue is full is alive;
// Listen must not take its socket away.
func TestListenKeepsBusyDaemon(t *testing.T) {
	p := filepath.Join(t.TempDir(), "busy.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: p}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(c, &unix.SockaddrUnix{Name: p}); err != nil {
			unix.Close(c)
			if err != unix.EAGAIN {
				t.Fatal(err)
			}
			break
		}
		defer unix.Close(c)
		if i > 100 {
			t.Fatal("the accept queue never filled")
		}
	}
	if _, err := Listen(p, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "another daemon already listens") {
		t.Fatalf("Listen over a busy daemon's socket: %v", err)
	}
	if _, err := os.Lstat(p); err != nil {
		t.Fatalf("the busy daemon's socket was removed: %v", err)
	}
}
