package unixsock

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestDatagram(t *testing.T) {
	noFDLeak(t)
	for _, name := range []string{filepath.Join(t.TempDir(), "sck.1"), abstractName(t)} {
		d, err := ListenDatagram(name, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := SendDatagram(name, []byte("+secret"), time.Second); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		oob := make([]byte, CredSpace)
		d.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, oobn, err := d.ReadMsg(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != "+secret" {
			t.Fatalf("received %q", buf[:n])
		}
		cred, ok := SenderCred(oob[:oobn])
		if !ok || cred.UID != os.Geteuid() || cred.PID != os.Getpid() {
			t.Fatalf("SenderCred = %+v, %v; want pid %d uid %d", cred, ok, os.Getpid(), os.Geteuid())
		}
		// The read deadline ends a wait with os.ErrDeadlineExceeded.
		d.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if _, _, err := d.ReadMsg(buf, oob); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadMsg past its deadline: %v", err)
		}
		// Close unblocks a pending ReadMsg.
		d.SetReadDeadline(time.Time{})
		done := make(chan error, 1)
		go func() { _, _, err := d.ReadMsg(buf, oob); done <- err }()
		time.Sleep(20 * time.Millisecond)
		d.Close()
		if err := <-done; !errors.Is(err, os.ErrClosed) {
			t.Fatalf("ReadMsg after Close: %v", err)
		}
		if name[0] != '@' {
			if _, err := os.Lstat(name); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Close left %s: %v", name, err)
			}
		}
	}
}

func TestDatagramWithoutCred(t *testing.T) {
	noFDLeak(t)
	name := filepath.Join(t.TempDir(), "sck")
	d, err := ListenDatagram(name, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	SendDatagram(name, []byte("x"), time.Second)
	oob := make([]byte, CredSpace)
	_, oobn, err := d.ReadMsg(make([]byte, 8), oob)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := SenderCred(oob[:oobn]); ok {
		t.Fatal("credentials without SO_PASSCRED")
	}
}

func TestSendDatagramErrors(t *testing.T) {
	noFDLeak(t)
	if err := SendDatagram(filepath.Join(t.TempDir(), "none"), []byte("x"), time.Second); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("SendDatagram to a missing socket: %v", err)
	}
}

// TestSendDatagramFullQueue: a receiver that reads nothing makes the sender
// wait, up to its timeout.
func TestSendDatagramFullQueue(t *testing.T) {
	noFDLeak(t)
	name := filepath.Join(t.TempDir(), "sck")
	d, err := ListenDatagram(name, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var err2 error
	for i := 0; i < 10000; i++ {
		if err2 = SendDatagram(name, []byte("x"), 20*time.Millisecond); err2 != nil {
			break
		}
	}
	if !errors.Is(err2, os.ErrDeadlineExceeded) {
		t.Fatalf("SendDatagram to a full queue: %v, want os.ErrDeadlineExceeded", err2)
	}
	// Reading makes room: the next send, waiting, gets through.
	go func() {
		time.Sleep(30 * time.Millisecond)
		buf := make([]byte, 8)
		for i := 0; i < 5; i++ {
			d.ReadMsg(buf, nil)
		}
	}()
	if err := SendDatagram(name, []byte("y"), 5*time.Second); err != nil {
		t.Fatalf("SendDatagram after the receiver read: %v", err)
	}
}
