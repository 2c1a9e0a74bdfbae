package pcsctest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Reader state bits (pcsclite.h).
const (
	StateAbsent  = 0x2
	StatePresent = 0x4
	StatePowered = 0x10
)

// ReaderState is one entry of pcscd's reader-state array.
type ReaderState struct {
	Name         string
	EventCounter uint32
	State        uint32
	Sharing      int32
	ATR          []byte
	Protocol     uint32
}

// ReaderStates fetches pcscd's reader-state array over the socket with a
// minimal, independent implementation of the protocol (CMD_VERSION 4.4, then
// CMD_GET_READERS_STATE), so the harness does not depend on package pcsc,
// the code under test.
func ReaderStates(socket string) ([]ReaderState, error) {
	conn, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	le := binary.LittleEndian
	req := make([]byte, 8+12)
	le.PutUint32(req[0:], 12)
	le.PutUint32(req[4:], 0x11) // CMD_VERSION
	le.PutUint32(req[8:], 4)
	le.PutUint32(req[12:], 4)
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	var ver [12]byte
	if _, err := io.ReadFull(conn, ver[:]); err != nil {
		return nil, fmt.Errorf("CMD_VERSION: %w", err)
	}
	if rv := le.Uint32(ver[8:]); rv != 0 {
		return nil, fmt.Errorf("CMD_VERSION: rv %#x (server %d.%d)", rv, le.Uint32(ver[0:]), le.Uint32(ver[4:]))
	}
	le.PutUint32(req[0:], 0)
	le.PutUint32(req[4:], 0x12) // CMD_GET_READERS_STATE
	if _, err := conn.Write(req[:8]); err != nil {
		return nil, err
	}
	const entry, n = 184, 16
	buf := make([]byte, entry*n)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, fmt.Errorf("CMD_GET_READERS_STATE: %w", err)
	}
	var out []ReaderState
	for i := 0; i < n; i++ {
		e := buf[i*entry : (i+1)*entry]
		if e[0] == 0 {
			continue
		}
		name, _, _ := bytes.Cut(e[:128], []byte{0})
		atrLen := le.Uint32(e[176:])
		if atrLen > 33 {
			return nil, errors.New("reader state with an ATR longer than 33 bytes")
		}
		out = append(out, ReaderState{
			Name:         string(name),
			EventCounter: le.Uint32(e[128:]),
			State:        le.Uint32(e[132:]),
			Sharing:      int32(le.Uint32(e[136:])),
			ATR:          append([]byte(nil), e[140:140+atrLen]...),
			Protocol:     le.Uint32(e[180:]),
		})
	}
	return out, nil
}
