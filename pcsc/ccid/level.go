package ccid

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxResponse bounds one response APDU (65536 data bytes and SW1 SW2).
const maxResponse = 65536 + 2

// maxGetResponse bounds the GET RESPONSEs after one T=0 command.
const maxGetResponse = 260

// ErrExtendedT0 means an extended-length APDU was given for a T=0 card.
var ErrExtendedT0 = errors.New("extended-length APDUs cannot be sent with T=0")

// Transmit sends one command APDU to the card and returns the response
// APDU with SW1 SW2, at the reader's exchange level. At TPDU level (T=0)
// it follows 61xx with GET RESPONSE and 6Cxx with a resend itself.
func (r *Reader) Transmit(apdu []byte) ([]byte, error) {
	if len(apdu) < 4 {
		return nil, fmt.Errorf("%s: a command APDU needs at least 4 bytes, got %d", r.name, len(apdu))
	}
	if r.t0 {
		return r.transmitT0(apdu)
	}
	if r.desc.Level() == LevelShortAPDU && isExtended(apdu) {
		return nil, fmt.Errorf("%s: the reader takes only short APDUs, and this command is extended", r.name)
	}
	return r.transmitAPDU(apdu)
}

// isExtended reports whether an APDU uses extended length fields.
func isExtended(apdu []byte) bool { return len(apdu) > 5 && apdu[4] == 0 }

// xfr sends one XfrBlock and returns the DataBlock reply.
func (r *Reader) xfr(data []byte, level uint16) (reply, error) {
	var p [3]byte
	binary.LittleEndian.PutUint16(p[1:], level)
	return r.exchange(msgXfrBlock, p, data, msgDataBlock)
}

// transmitAPDU exchanges an APDU at APDU level, chaining the command over
// several XfrBlocks when it exceeds the reader's message size, and
// collecting a response the reader chains back.
func (r *Reader) transmitAPDU(apdu []byte) ([]byte, error) {
	part := int(r.desc.MaxMessage) - headerLen
	if part > len(r.buf)-headerLen {
		part = len(r.buf) - headerLen
	}
	var rep reply
	var err error
	for off := 0; off < len(apdu); off += part {
		end := min(off+part, len(apdu))
		level := uint16(levelMiddle)
		switch {
		case off == 0 && end == len(apdu):
			level = levelWhole
		case off == 0:
			level = levelBegin
		case end == len(apdu):
			level = levelEnd
		}
		if rep, err = r.xfr(apdu[off:end], level); err != nil {
			return nil, err
		}
	}
	resp := append([]byte(nil), rep.Data...)
	for rep.Param == 0x01 || rep.Param == 0x03 { // the response continues
		if rep, err = r.xfr(nil, levelContinue); err != nil {
			return nil, err
		}
		if len(rep.Data) == 0 {
			return nil, fmt.Errorf("%s: the reader chains an empty response part", r.name)
		}
		if len(resp)+len(rep.Data) > maxResponse {
			return nil, fmt.Errorf("%s: the card's response exceeds %d bytes", r.name, maxResponse)
		}
		resp = append(resp, rep.Data...)
	}
	if len(resp) < 2 {
		return nil, fmt.Errorf("%s: the card answered %d bytes, without status word", r.name, len(resp))
	}
	return resp, nil
}

// transmitT0 maps an APDU onto T=0 TPDUs (ISO/IEC 7816-3 12.2): Le is
// dropped when data is sent, 6Cxx resends with P3 = xx, and 61xx fetches
// the answer with GET RESPONSE.
func (r *Reader) transmitT0(apdu []byte) ([]byte, error) {
	if isExtended(apdu) {
		return nil, fmt.Errorf("%s: %w", r.name, ErrExtendedT0)
	}
	var tpdu []byte
	case2 := false
	switch {
	case len(apdu) == 4: // case 1
		tpdu = append(append([]byte(nil), apdu...), 0)
	case len(apdu) == 5: // case 2: P3 = Le
		tpdu, case2 = apdu, true
	default:
		lc := int(apdu[4])
		switch len(apdu) {
		case 5 + lc: // case 3
			tpdu = apdu
		case 6 + lc: // case 4: T=0 sends no Le; the answer comes through 61xx
			tpdu = apdu[:5+lc]
		default:
			return nil, fmt.Errorf("%s: malformed APDU (%d bytes, Lc %d)", r.name, len(apdu), lc)
		}
	}
	resp, err := r.tpdu(tpdu)
	if err != nil {
		return nil, err
	}
	if case2 && resp[len(resp)-2] == 0x6C {
		fixed := append(append([]byte(nil), tpdu[:4]...), resp[len(resp)-1])
		if resp, err = r.tpdu(fixed); err != nil {
			return nil, err
		}
	}
	data := append([]byte(nil), resp[:len(resp)-2]...)
	sw1, sw2 := resp[len(resp)-2], resp[len(resp)-1]
	for n := 0; sw1 == 0x61; n++ {
		if n >= maxGetResponse {
			return nil, fmt.Errorf("%s: the card keeps answering 61xx (%d GET RESPONSEs)", r.name, n)
		}
		get := []byte{apdu[0] & 0x03, 0xC0, 0x00, 0x00, sw2}
		if resp, err = r.tpdu(get); err != nil {
			return nil, err
		}
		if resp[len(resp)-2] == 0x6C { // the card corrects GET RESPONSE's Le
			get[4] = resp[len(resp)-1]
			if resp, err = r.tpdu(get); err != nil {
				return nil, err
			}
		}
		if len(data)+len(resp) > maxResponse {
			return nil, fmt.Errorf("%s: the card's response exceeds %d bytes (endless 61xx)", r.name, maxResponse)
		}
		data = append(data, resp[:len(resp)-2]...)
		sw1, sw2 = resp[len(resp)-2], resp[len(resp)-1]
	}
	return append(data, sw1, sw2), nil
}

// tpdu exchanges one TPDU in one XfrBlock.
func (r *Reader) tpdu(t []byte) ([]byte, error) {
	// A TPDU is at most 261 bytes; r.buf holds MaxMessage bytes (capped only
	// above 64 KiB), so the message size alone bounds it.
	if len(t) > int(r.desc.MaxMessage)-headerLen {
		return nil, fmt.Errorf("%s: a %d-byte TPDU exceeds the reader's message size", r.name, len(t))
	}
	rep, err := r.xfr(t, 0)
	if err != nil {
		return nil, err
	}
	if len(rep.Data) < 2 {
		return nil, fmt.Errorf("%s: the card answered %d bytes, without status word", r.name, len(rep.Data))
	}
	if len(rep.Data) > 258 {
		return nil, fmt.Errorf("%s: the card answered a T=0 command with %d bytes (at most 256 and SW1 SW2)", r.name, len(rep.Data))
	}
	return rep.Data, nil
}
