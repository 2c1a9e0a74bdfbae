package vpcd

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// fakeVPCD is the listening side of a vpcd slot, driven by the test.
type fakeVPCD struct {
	t  *testing.T
	ln net.Listener
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeVPCD{t: t, ln: ln}
}

func (v *fakeVPCD) accept() net.Conn {
	v.t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := v.ln.Accept(); ch <- res{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			v.t.Fatal(r.err)
		}
		r.c.SetDeadline(time.Now().Add(5 * time.Second))
		v.t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(5 * time.Second):
		v.t.Fatal("the front end did not connect")
		return nil
	}
}

func exchange(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	if err := WriteFrame(c, msg); err != nil {
		t.Fatal(err)
	}
	r, err := ReadFrame(c)
	if err != nil {
		t.Fatalf("reply to %x: %v", msg, err)
	}
	return r
}

func TestFrontendProtocol(t *testing.T) {
	v := newFakeVPCD(t)
	card := &BasicCard{}
	ctx, cancel := context.WithCancel(context.Background())
	fe := NewFrontend(v.ln.Addr().String(), card)
	done := make(chan error, 1)
	go func() { done <- fe.Run(ctx) }()

	c := v.accept()
	if got := exchange(t, c, []byte{ctrlGetATR}); !bytes.Equal(got, BasicATR) {
		t.Fatalf("ATR %x, want %x", got, BasicATR)
	}
	// Power on, off and reset get no reply; the next exchange proves it.
	for _, b := range []byte{ctrlPowerOn, ctrlPowerOff, ctrlReset} {
		if err := WriteFrame(c, []byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	sel := []byte{0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01}
	if got := exchange(t, c, sel); !bytes.Equal(got, []byte{0x90, 0x00}) {
		t.Fatalf("SELECT answered %x", got)
	}
	if card.Resets() != 2 {
		t.Fatalf("card saw %d resets, want 2 (power off + reset)", card.Resets())
	}
	if got := exchange(t, c, []byte{0x00, 0x84, 0x00, 0x00, 0x00, 0xFF, 0xFD}); len(got) != 0xFFFF || !bytes.Equal(got[len(got)-2:], []byte{0x90, 0x00}) {
		t.Fatalf("long GET CHALLENGE answered %d bytes", len(got))
	}
	if got := exchange(t, c, []byte{0x00, 0x12, 0x00, 0x00}); !bytes.Equal(got, []byte{0x6D, 0x00}) {
		t.Fatalf("unknown INS answered %x", got)
	}

	// Removal closes the connection; insertion dials again.
	fe.Remove()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ReadFrame(c); err == nil {
		t.Fatal("connection still open after Remove")
	}
	fe.Insert()
	c2 := v.accept()
	if got := exchange(t, c2, []byte{ctrlGetATR}); !bytes.Equal(got, BasicATR) {
		t.Fatalf("ATR after insert %x", got)
	}

	// vpcd dropping the connection (a pcscd restart) makes the front end redial.
	c2.Close()
	c3 := v.accept()
	if got := exchange(t, c3, []byte{ctrlGetATR}); !bytes.Equal(got, BasicATR) {
		t.Fatalf("ATR after redial %x", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestFrontendWaitsForVPCD(t *testing.T) {
	// Reserve a port, close it, start the front end, then listen: the front
	// end must keep dialling until vpcd appears.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fe := NewFrontend(addr, &BasicCard{})
	go fe.Run(ctx)
	time.Sleep(300 * time.Millisecond)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port %s taken meanwhile: %v", addr, err)
	}
	v := &fakeVPCD{t: t, ln: ln}
	t.Cleanup(func() { ln.Close() })
	c := v.accept()
	select {
	case <-fe.Connected():
	case <-time.After(5 * time.Second):
		t.Fatal("Connected not signalled")
	}
	if got := exchange(t, c, []byte{ctrlGetATR}); !bytes.Equal(got, BasicATR) {
		t.Fatalf("ATR %x", got)
	}
}
