package vscard

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// echoCard answers every APDU with its header and 90 00.
type echoCard struct{ resets int }

func (c *echoCard) ATR() []byte { return []byte{0x3B, 0x80, 0x80, 0x01, 0x01} }
func (c *echoCard) Reset()      { c.resets++ }
func (c *echoCard) Transmit(cmd []byte) []byte {
	return append(append([]byte(nil), cmd[:4]...), 0x90, 0x00)
}

// TestHandshakeAndAPDUs plays QEMU's side of the protocol in-process.
func TestHandshakeAndAPDUs(t *testing.T) {
	qemu, card := net.Pipe()
	defer qemu.Close()
	fe := NewFrontend(&echoCard{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fe.Serve(ctx, card) }()

	qemu.SetDeadline(time.Now().Add(10 * time.Second))
	expect := func(typ, reader uint32) Frame {
		t.Helper()
		f, err := ReadFrame(qemu)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != typ || f.Reader != reader {
			t.Fatalf("got %v, want type %d reader %#x", f, typ, reader)
		}
		return f
	}
	ok := binary.BigEndian.AppendUint32(nil, ErrCodeSuccess)
	init := expect(MsgInit, ReaderUndefined)
	if !bytes.Equal(init.Payload, []byte{'V', 'S', 'C', 'D', 0, 0, 0, 2, 0, 0, 0, 0}) {
		t.Fatalf("Init payload % X", init.Payload)
	}
	expect(MsgReaderAdd, ReaderFirst)
	WriteFrame(qemu, Frame{Type: MsgInit, Reader: ReaderUndefined, Payload: initPayload()})
	WriteFrame(qemu, Frame{Type: MsgError, Reader: 0, Payload: ok})
	atr := expect(MsgATR, ReaderFirst)
	if !bytes.Equal(atr.Payload, (&echoCard{}).ATR()) {
		t.Fatalf("ATR % X", atr.Payload)
	}
	select {
	case <-fe.Ready():
		t.Fatal("ready before QEMU acknowledged the ATR")
	default:
	}
	WriteFrame(qemu, Frame{Type: MsgError, Reader: 0, Payload: ok})
	WriteFrame(qemu, Frame{Type: MsgAPDU, Reader: 0, Payload: []byte{0x00, 0xA4, 0x04, 0x00, 0x00}})
	resp := expect(MsgAPDU, 0)
	if !bytes.Equal(resp.Payload, []byte{0x00, 0xA4, 0x04, 0x00, 0x90, 0x00}) {
		t.Fatalf("response % X", resp.Payload)
	}
	select {
	case <-fe.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready after the ATR was acknowledged")
	}
	WriteFrame(qemu, Frame{Type: MsgFlush, Reader: 0})
	expect(MsgFlushComplete, 0)
	if fe.APDUs() != 1 {
		t.Errorf("APDUs() = %d", fe.APDUs())
	}
	// A refused ATR ends the session with an error.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

func TestRefusedATR(t *testing.T) {
	qemu, card := net.Pipe()
	defer qemu.Close()
	fe := NewFrontend(&echoCard{})
	done := make(chan error, 1)
	go func() { done <- fe.Serve(context.Background(), card) }()
	qemu.SetDeadline(time.Now().Add(10 * time.Second))
	ReadFrame(qemu)
	ReadFrame(qemu)
	WriteFrame(qemu, Frame{Type: MsgError, Payload: binary.BigEndian.AppendUint32(nil, 0)})
	ReadFrame(qemu)
	WriteFrame(qemu, Frame{Type: MsgError, Payload: binary.BigEndian.AppendUint32(nil, ErrCodeGeneral)})
	if err := <-done; err == nil {
		t.Fatal("a refused ATR was not reported")
	}
}
