package unixsock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestReadDeadline(t *testing.T) {
	noFDLeak(t)
	c, _ := pair(t)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v", err)
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("Read returned before its deadline")
	}
	// A deadline set while a Read waits applies to it.
	c.SetDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	c.SetDeadline(time.Now())
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("pending Read: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SetDeadline did not interrupt a pending Read")
	}
}

func TestWriteDeadline(t *testing.T) {
	noFDLeak(t)
	c, _ := pair(t)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	// Nobody reads: the socket buffers fill, then the deadline hits.
	_, err := c.Write(make([]byte, 16<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline: %v", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	noFDLeak(t)
	c, _ := pair(t)
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Read on a closed Conn: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

func TestEOF(t *testing.T) {
	noFDLeak(t)
	c, s := pair(t)
	c.Write([]byte("last"))
	c.Close()
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "last" {
		t.Fatalf("ReadAll after the peer closed: %q, %v", b, err)
	}
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after EOF: %v, want io.EOF", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write to a closed peer: %v, want EPIPE", err)
	}
}

func TestCloseWrite(t *testing.T) {
	noFDLeak(t)
	c, s := pair(t)
	c.Write([]byte("request"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "request" {
		t.Fatalf("server read %q, %v", b, err)
	}
	s.Write([]byte("answer"))
	s.Close()
	if b, err := io.ReadAll(c); err != nil || string(b) != "answer" {
		t.Fatalf("client read %q, %v after CloseWrite", b, err)
	}
}

// TestReset: a peer that closes with unread data resets the connection.
func TestReset(t *testing.T) {
	noFDLeak(t)
	c, s := pair(t)
	c.Write([]byte("unread"))
	s.Close()
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset: %v, want ECONNRESET", err)
	}
}

func TestHungUp(t *testing.T) {
	noFDLeak(t)
	c, s := pair(t)
	if s.HungUp() {
		t.Fatal("HungUp with the peer connected")
	}
	c.CloseWrite()
	if s.HungUp() {
		t.Fatal("HungUp after the peer only shut down its write side")
	}
	c.Close()
	if !s.HungUp() {
		t.Fatal("not HungUp after the peer closed")
	}
}

// TestLargeWrite: a write larger than the socket buffers goes out in
// several system calls, waiting for the reader in between, and arrives
// whole and in order.
func TestLargeWrite(t *testing.T) {
	noFDLeak(t)
	c, s := pair(t)
	msg := make([]byte, 8<<20)
	for i := range msg {
		msg[i] = byte(i * 131 >> 7)
	}
	done := make(chan error, 1)
	go func() {
		n, err := c.Write(msg)
		if err == nil && n != len(msg) {
			err = fmt.Errorf("wrote %d of %d bytes", n, len(msg))
		}
		c.CloseWrite()
		done <- err
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(msg))
	}
	if n, err := s.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty Read: %d, %v", n, err)
	}
}

// TestWriteToClosedPeer: writing to a peer that closed fails with EPIPE
// (and no SIGPIPE kills the test).
func TestWriteToClosedPeer(t *testing.T) {
	noFDLeak(t)
	c, s := pair(t)
	s.Close()
	_, err := c.Write([]byte("x"))
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write to a closed peer: %v, want EPIPE", err)
	}
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "write" {
		t.Fatalf("Write error %#v is not a *os.PathError of write", err)
	}
}
