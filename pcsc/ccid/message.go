package ccid

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message types (CCID Rev 1.1, section 6).
const (
	msgIccPowerOn    = 0x62
	msgIccPowerOff   = 0x63
	msgGetSlotStatus = 0x65
	msgXfrBlock      = 0x6F

	msgDataBlock  = 0x80
	msgSlotStatus = 0x81
)

// headerLen is the size of every CCID bulk message header.
const headerLen = 10

// Command status (bits 6–7 of bStatus).
const (
	cmdOK       = 0x00
	cmdFailed   = 0x40
	cmdTimeExt  = 0x80
	cmdStatMask = 0xC0
)

// ICC status (bits 0–1 of bStatus).
const (
	iccActive   = 0 // present and powered
	iccInactive = 1 // present, not powered
	iccAbsent   = 2
	iccMask     = 0x03
)

// wLevelParameter values of XfrBlock at APDU level (CCID 6.1.4).
const (
	levelWhole    = 0x0000 // the command APDU begins and ends here
	levelBegin    = 0x0001 // it begins here and continues
	levelEnd      = 0x0002 // it continues and ends here
	levelMiddle   = 0x0003 // it continues and continues
	levelContinue = 0x0010 // empty: send the next part of the response
)

// reply is one parsed RDR_to_PC message.
type reply struct {
	Type   byte
	Slot   byte
	Seq    byte
	Status byte // bStatus
	Error  byte // bError
	Param  byte // bChainParameter (DataBlock) or bClockStatus (SlotStatus)
	Data   []byte
}

// icc is the ICC status of a reply.
func (r *reply) icc() byte { return r.Status & iccMask }

// command encodes a PC_to_RDR message.
func command(typ, slot, seq byte, p [3]byte, data []byte) []byte {
	m := make([]byte, headerLen+len(data))
	m[0] = typ
	binary.LittleEndian.PutUint32(m[1:5], uint32(len(data)))
	m[5], m[6] = slot, seq
	copy(m[7:10], p[:])
	copy(m[headerLen:], data)
	return m
}

// errShortMessage means a reply is shorter than its header says; more bulk
// data may complete it.
var errShortMessage = errors.New("short CCID message")

// parseReply decodes one RDR_to_PC message. Data aliases b. A message
// announcing more payload than max bytes is refused before anything is
// read; one with fewer bytes than announced returns errShortMessage
// (wrapped); bytes after the announced payload are an error.
func parseReply(b []byte, max int) (reply, error) {
	if len(b) < headerLen {
		return reply{}, fmt.Errorf("%w: %d bytes, less than the 10-byte header", errShortMessage, len(b))
	}
	n := binary.LittleEndian.Uint32(b[1:5])
	if uint64(n) > uint64(max) {
		return reply{}, fmt.Errorf("the reader announced a %d-byte reply, more than the %d bytes it may send", n, max)
	}
	switch {
	case len(b)-headerLen < int(n):
		return reply{}, fmt.Errorf("%w: %d of %d payload bytes", errShortMessage, len(b)-headerLen, n)
	case len(b)-headerLen > int(n):
		return reply{}, fmt.Errorf("CCID message with %d bytes after its %d-byte payload", len(b)-headerLen-int(n), n)
	}
	return reply{Type: b[0], Slot: b[5], Seq: b[6], Status: b[7], Error: b[8], Param: b[9], Data: b[headerLen:]}, nil
}

// slotErrorText describes a bError value of a failed command.
func slotErrorText(e byte) string {
	switch e {
	case 0xFF:
		return "command aborted"
	case 0xFE:
		return "the card is mute (no answer)"
	case 0xFD:
		return "parity error"
	case 0xFC:
		return "overrun"
	case 0xFB:
		return "hardware error"
	case 0xF8:
		return "bad ATR TS"
	case 0xF7:
		return "bad ATR TCK"
	case 0xF6:
		return "protocol not supported by the card"
	case 0xF5:
		return "class not supported by the card"
	case 0xF4:
		return "procedure byte conflict"
	case 0xF3:
		return "deactivated protocol"
	case 0xF2:
		return "busy with automatic sequence"
	case 0xE0:
		return "slot busy"
	case 0x00:
		return "command not supported by the reader"
	}
	return fmt.Sprintf("error %#02x", e)
}
