package unixsock

import (
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestListenAcceptDial(t *testing.T) {
	noFDLeak(t)
	path := sockPath(t)
	l, err := Listen(path, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o640 {
		t.Fatalf("socket file mode %v, want socket 0640", fi.Mode())
	}
	if l.Addr() != path {
		t.Fatalf("Addr() = %q, want %q", l.Addr(), path)
	}
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c, err := Dial(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	if got := s.LocalName(); got != path {
		t.Fatalf("accepted LocalName() = %q, want %q", got, path)
	}
	if got, err := s.PeerName(); err != nil || got != "@" {
		t.Fatalf("PeerName() of an unbound client = %q, %v; want \"@\"", got, err)
	}
	c.Close()
	s.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left the socket file: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestListenRefusesExistingFile(t *testing.T) {
	noFDLeak(t)
	path := sockPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(path, 0o600)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen over a file: %v, want EADDRINUSE", err)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("Listen damaged the existing file: %v %v", fi, err)
	}
}

func TestListenNameTooLong(t *testing.T) {
	long := "/tmp/" + string(make([]byte, 200))
	if _, err := Listen(long, 0o600); err == nil {
		t.Fatal("Listen accepted a 205-byte name")
	}
	if _, err := Dial(long, time.Second); err == nil {
		t.Fatal("Dial accepted a 205-byte name")
	}
}

func TestCloseUnblocksAccept(t *testing.T) {
	noFDLeak(t)
	l, err := Listen(sockPath(t), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Accept park in the poller
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Accept")
	}
	if _, err := l.Accept(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v", err)
	}
}

func TestAcceptDeadline(t *testing.T) {
	noFDLeak(t)
	l, err := Listen(sockPath(t), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = l.Accept()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept past its deadline: %v", err)
	}
	var oe *OpError
	if !errors.As(err, &oe) || !oe.Timeout() {
		t.Fatalf("deadline error %T does not report Timeout", err)
	}
	// Clearing the deadline makes Accept usable again.
	l.SetDeadline(time.Time{})
	c, err := Dial(l.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestAbstract(t *testing.T) {
	noFDLeak(t)
	name := abstractName(t)
	l, err := Listen(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Addr() != name {
		t.Fatalf("Addr() = %q, want %q", l.Addr(), name)
	}
	// A client bound to an abstract name, as systemd-cryptsetup binds
	// "\0<random>/cryptsetup/<volume>" before connecting.
	peer := "@" + name[1:] + "/cryptsetup/cryptroot"
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "\x00" + peer[1:]}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.PeerName()
	if err != nil || got != peer {
		t.Fatalf("PeerName() = %q, %v; want %q", got, err, peer)
	}
	// Dial reaches abstract names too.
	c, err := Dial(name, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if s2, err := l.Accept(); err != nil {
		t.Fatal(err)
	} else {
		s2.Close()
	}
}

func TestFileListener(t *testing.T) {
	noFDLeak(t)
	path := sockPath(t)
	// A listening socket as a service manager passes it: blocking, bound,
	// listening.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	l, err := FileListener(fd)
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr() != path {
		t.Fatalf("Addr() = %q, want %q", l.Addr(), path)
	}
	c, err := Dial(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	// Close unblocks Accept on an adopted socket too, and leaves the file
	// to the service manager.
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	if err := <-done; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("Close removed an activated socket's file: %v", err)
	}
}

func TestFileListenerRefusesOtherSockets(t *testing.T) {
	noFDLeak(t)
	for _, tc := range []struct {
		name   string
		domain int
		typ    int
		listen bool
	}{
		{"datagram", unix.AF_UNIX, unix.SOCK_DGRAM, false},
		{"not listening", unix.AF_UNIX, unix.SOCK_STREAM, false},
		{"inet", unix.AF_INET, unix.SOCK_STREAM, true},
	} {
		fd, err := unix.Socket(tc.domain, tc.typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if tc.listen {
			if err := unix.Listen(fd, 1); err != nil {
				t.Fatal(err)
			}
		}
		if l, err := FileListener(fd); err == nil {
			l.Close()
			t.Errorf("%s: FileListener accepted it", tc.name)
		}
	}
}
