package vpcd

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MaxFrame is the largest payload one vpcd frame can carry: the length
// prefix is two bytes.
const MaxFrame = 0xFFFF

// Control bytes vpcd sends as one-byte frames.
const (
	ctrlPowerOff = 0x00
	ctrlPowerOn  = 0x01
	ctrlReset    = 0x02
	ctrlGetATR   = 0x04
)

// ReadFrame reads one vpcd frame: a 2-byte big-endian length, then that many
// bytes. A clean EOF before the first byte is returned as io.EOF; a frame cut
// short is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// WriteFrame writes p as one vpcd frame with a single Write call.
func WriteFrame(w io.Writer, p []byte) error {
	if len(p) > MaxFrame {
		return fmt.Errorf("vpcd: frame of %d bytes exceeds the %d-byte limit", len(p), MaxFrame)
	}
	buf := make([]byte, 2+len(p))
	binary.BigEndian.PutUint16(buf, uint16(len(p)))
	copy(buf[2:], p)
	_, err := w.Write(buf)
	return err
}
