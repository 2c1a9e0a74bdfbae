package pcsc

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Commands of pcscd's protocol (winscard_msg.h).
const (
	cmdEstablishContext      = 0x01
	cmdReleaseContext        = 0x02
	cmdConnect               = 0x04
	cmdReconnect             = 0x05
	cmdDisconnect            = 0x06
	cmdBeginTransaction      = 0x07
	cmdEndTransaction        = 0x08
	cmdTransmit              = 0x09
	cmdControl               = 0x0A
	cmdStatus                = 0x0B
	cmdCancel                = 0x0D
	cmdGetAttrib             = 0x0F
	cmdVersion               = 0x11
	cmdGetReadersState       = 0x12
	cmdWaitReaderStateChange = 0x13
	cmdStopWaiting           = 0x14
	cmdGetReaderEvents       = 0x15
	cmdGetReadersStateSize   = 0x16
	cmdGetReadersStateArray  = 0x17
)

var cmdNames = map[uint32]string{
	cmdEstablishContext: "ESTABLISH_CONTEXT", cmdReleaseContext: "RELEASE_CONTEXT", cmdConnect: "CONNECT",
	cmdReconnect: "RECONNECT", cmdDisconnect: "DISCONNECT", cmdBeginTransaction: "BEGIN_TRANSACTION",
	cmdEndTransaction: "END_TRANSACTION", cmdTransmit: "TRANSMIT", cmdControl: "CONTROL", cmdStatus: "STATUS",
	cmdCancel: "CANCEL", cmdGetAttrib: "GET_ATTRIB", cmdVersion: "CMD_VERSION",
	cmdGetReadersState: "CMD_GET_READERS_STATE", cmdWaitReaderStateChange: "CMD_WAIT_READER_STATE_CHANGE",
	cmdStopWaiting: "CMD_STOP_WAITING_READER_STATE_CHANGE", cmdGetReaderEvents: "CMD_GET_READER_EVENTS",
	cmdGetReadersStateSize: "CMD_GET_READERS_STATE_SIZE", cmdGetReadersStateArray: "CMD_GET_READERS_STATE_ARRAY",
}

// Sizes fixed by pcsc-lite.
const (
	maxReaderName        = 128
	maxATRSize           = 33
	maxReadersContexts   = 16    // entries in the fixed reader-state array (protocol ≤ 4.5)
	maxBufferSize        = 264   // pbAttr of GET_ATTRIB
	maxBufferSizeExt     = 65548 // largest APDU or response pcscd relays
	readerStateSize      = 184
	waitEventSize        = 8
	ioRequestSize        = 16 // sizeof(SCARD_IO_REQUEST) on LP64, as libpcsclite sends it
	maxReaderArrayLength = 4096
)

// Struct sizes of each command's body (request and reply are the same).
const (
	sizeVersion   = 12
	sizeEstablish = 12
	sizeRelease   = 8
	sizeConnect   = 152
	sizeReconnect = 24
	sizeDisconn   = 12
	sizeBegin     = 8
	sizeEnd       = 12
	sizeTransmit  = 32
	sizeControl   = 24
	sizeStatus    = 8
	sizeCancel    = 8
	sizeGetAttrib = 280
	sizeEvents    = 8
)

// ne is pcscd's byte order: the host's, as its structs are raw C structs.
var ne = binary.NativeEndian

// header returns rxHeader{size, command}.
func header(size int, cmd uint32) []byte {
	b := make([]byte, 8)
	ne.PutUint32(b[0:], uint32(size))
	ne.PutUint32(b[4:], cmd)
	return b
}

// fields encodes 32-bit fields into a body.
func fields(vals ...uint32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		ne.PutUint32(b[4*i:], v)
	}
	return b
}

// field returns the 32-bit field at byte offset off.
func field(b []byte, off int) uint32 { return ne.Uint32(b[off:]) }

// decodeReaderStates parses n consecutive READER_STATE records, skipping
// empty slots (readerName[0] == 0).
func decodeReaderStates(b []byte) ([]ReaderStatus, error) {
	if len(b)%readerStateSize != 0 {
		return nil, fmt.Errorf("reader-state array of %d bytes is not a multiple of %d", len(b), readerStateSize)
	}
	var out []ReaderStatus
	for off := 0; off < len(b); off += readerStateSize {
		e := b[off : off+readerStateSize]
		if e[0] == 0 {
			continue
		}
		name, _, found := bytes.Cut(e[:maxReaderName], []byte{0})
		if !found {
			return nil, fmt.Errorf("reader name %q is not NUL-terminated", name)
		}
		atrLen := field(e, 176)
		if atrLen > maxATRSize {
			return nil, fmt.Errorf("reader %q: ATR length %d exceeds %d", name, atrLen, maxATRSize)
		}
		out = append(out, ReaderStatus{
			Name:         string(name),
			EventCounter: field(e, 128),
			State:        State(field(e, 132)),
			Sharing:      int32(field(e, 136)),
			ATR:          bytes.Clone(e[140 : 140+atrLen]),
			Protocol:     Protocol(field(e, 180)),
		})
	}
	return out, nil
}

// encodeReaderState is the inverse of decodeReaderStates for one record; the
// tests' scripted servers use it.
func encodeReaderState(r ReaderStatus) []byte {
	e := make([]byte, readerStateSize)
	copy(e[:maxReaderName-1], r.Name)
	ne.PutUint32(e[128:], r.EventCounter)
	ne.PutUint32(e[132:], uint32(r.State))
	ne.PutUint32(e[136:], uint32(r.Sharing))
	copy(e[140:140+maxATRSize], r.ATR)
	ne.PutUint32(e[176:], uint32(len(r.ATR)))
	ne.PutUint32(e[180:], uint32(r.Protocol))
	return e
}

// readerNameField encodes a reader name into szReader[128].
func readerNameField(name string) ([]byte, error) {
	if len(name) >= maxReaderName || bytes.IndexByte([]byte(name), 0) >= 0 {
		return nil, fmt.Errorf("reader name %q: must be shorter than %d bytes and contain no NUL", name, maxReaderName)
	}
	b := make([]byte, maxReaderName)
	copy(b, name)
	return b, nil
}
