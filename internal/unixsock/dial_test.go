package unixsock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestDialMissing(t *testing.T) {
	noFDLeak(t)
	path := filepath.Join(t.TempDir(), "none.sock")
	_, err := Dial(path, time.Second)
	if !errors.Is(err, syscall.ENOENT) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Dial of a missing socket: %v, want ENOENT", err)
	}
	if want := "dial unix " + path + ": connect: no such file or directory"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestDialRefused(t *testing.T) {
	noFDLeak(t)
	// A stale socket file: bound, nobody listening.
	path := sockPath(t)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	_, err = Dial(path, time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Dial of a stale socket: %v, want ECONNREFUSED", err)
	}
}

// fullListener returns a socket whose accept queue is full.
func fullListener(t *testing.T) (path string) {
	t.Helper()
	path = sockPath(t)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Fill the queue with non-blocking connects until one fails EAGAIN.
	for i := 0; ; i++ {
		c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.Connect(c, &unix.SockaddrUnix{Name: path})
		if err == unix.EAGAIN {
			unix.Close(c)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(c) })
		if i > 100 {
			t.Fatal("the accept queue never filled")
		}
	}
	return path
}

func TestDialTimeoutOnFullQueue(t *testing.T) {
	noFDLeak(t)
	path := fullListener(t)
	start := time.Now()
	_, err := Dial(path, 100*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Dial to a full queue: %v, want os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("Dial gave up after %v, before its timeout", d)
	}
}

func TestDialContextCanceled(t *testing.T) {
	noFDLeak(t)
	path := fullListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := DialContext(ctx, path)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DialContext canceled: %v", err)
	}
}

// TestDialWaitsForQueue: a connect that finds the queue full succeeds once
// the listener accepts.
func TestDialWaitsForQueue(t *testing.T) {
	noFDLeak(t)
	path := sockPath(t)
	lfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(lfd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil {
		t.Fatal(err)
	}
	l, err := FileListener(lfd)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var queued []*Conn
	defer func() {
		for _, c := range queued {
			c.Close()
		}
	}()
	for len(queued) < 100 {
		c, err := Dial(path, 20*time.Millisecond)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, c)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		for range queued {
			if s, err := l.Accept(); err == nil {
				s.Close()
			}
		}
	}()
	c, err := Dial(path, 5*time.Second)
	if err != nil {
		t.Fatalf("Dial did not wait for room in the queue: %v", err)
	}
	c.Close()
}
