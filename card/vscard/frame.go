// Package vscard plugs a simulated smart card into QEMU's
// ccid-card-passthru device, the card behind the emulated usb-ccid reader,
// over the VSCard protocol (libcacard's vscard_common.h). A guest booted
// with -device usb-ccid -device ccid-card-passthru,chardev=… then sees the
// simulator as a card in a USB CCID reader, as with a real token.
package vscard

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Message types.
const (
	MsgInit          = 1
	MsgError         = 2
	MsgReaderAdd     = 3
	MsgReaderRemove  = 4
	MsgATR           = 5
	MsgCardRemove    = 6
	MsgAPDU          = 7
	MsgFlush         = 8
	MsgFlushComplete = 9
)

// Reader ids: the first reader, and "no reader" (Init).
const (
	ReaderFirst     = 0
	ReaderUndefined = 0xFFFFFFFF
)

// Error codes of MsgError.
const (
	ErrCodeSuccess           = 0
	ErrCodeGeneral           = 1
	ErrCodeCannotAddReaders  = 2
	ErrCodeCardAlreadyInside = 3
)

// Magic and Version are the payload head of MsgInit: the bytes "VSCD" and
// protocol version 0.0.2.
var (
	Magic   = [4]byte{'V', 'S', 'C', 'D'}
	Version = uint32(2)
)

// MaxPayload bounds the payload of one frame: an APDU response of 65536
// bytes with its status word, with room to spare.
const MaxPayload = 70000

// Frame is one VSCard message.
type Frame struct {
	Type    uint32
	Reader  uint32
	Payload []byte
}

// String describes a frame for logs, without its payload (which may carry
// a PIN).
func (f Frame) String() string {
	return fmt.Sprintf("VSCard type %d reader %#x, %d bytes", f.Type, f.Reader, len(f.Payload))
}

// ReadFrame reads one frame: a 12-byte header (type, reader id, length; all
// big-endian uint32) and the payload. Frames over MaxPayload are refused.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [12]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Type: binary.BigEndian.Uint32(h[0:]), Reader: binary.BigEndian.Uint32(h[4:])}
	n := binary.BigEndian.Uint32(h[8:])
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("VSCard frame of type %d announces %d payload bytes (at most %d): the stream is out of step", f.Type, n, MaxPayload)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return Frame{}, fmt.Errorf("VSCard frame of type %d: %d-byte payload cut short: %w", f.Type, n, err)
	}
	return f, nil
}

// AppendFrame appends the encoding of f to b.
func AppendFrame(b []byte, f Frame) []byte {
	b = binary.BigEndian.AppendUint32(b, f.Type)
	b = binary.BigEndian.AppendUint32(b, f.Reader)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Payload)))
	return append(b, f.Payload...)
}

// WriteFrame writes f in one write.
func WriteFrame(w io.Writer, f Frame) error {
	_, err := w.Write(AppendFrame(nil, f))
	return err
}

// initPayload is the payload of our MsgInit: magic, version, no
// capabilities.
func initPayload() []byte {
	p := append([]byte(nil), Magic[:]...)
	p = binary.BigEndian.AppendUint32(p, Version)
	return binary.BigEndian.AppendUint32(p, 0)
}

// errorCode reads the code of a MsgError payload.
func errorCode(p []byte) (uint32, error) {
	if len(p) < 4 {
		return 0, fmt.Errorf("VSCard error message with a %d-byte payload", len(p))
	}
	return binary.BigEndian.Uint32(p), nil
}
