package ccid

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Descriptor is what the driver needs from a reader's USB descriptors: the
// CCID interface, its bulk endpoints and the CCID class descriptor.
type Descriptor struct {
	Interface  byte   // bInterfaceNumber of the CCID interface
	BulkIn     byte   // bulk-IN endpoint address (0x8N)
	BulkOut    byte   // bulk-OUT endpoint address
	MaxSlot    byte   // bMaxSlotIndex
	Protocols  uint32 // dwProtocols: bit 0 T=0, bit 1 T=1
	MaxIFSD    uint32 // dwMaxIFSD
	Features   uint32 // dwFeatures (exchange level and automatic behaviour)
	MaxMessage uint32 // dwMaxCCIDMessageLength, header included
	PINSupport byte   // bPINSupport
}

// Level is a reader's exchange level, from dwFeatures.
type Level int

// Exchange levels (CCID 5.1, dwFeatures).
const (
	LevelCharacter    Level = iota // unsupported
	LevelTPDU                      // the host sends TPDUs
	LevelShortAPDU                 // short APDUs, chained in CCID messages if long
	LevelExtendedAPDU              // short and extended APDUs
)

// String names the level as the CCID specification does.
func (l Level) String() string {
	switch l {
	case LevelTPDU:
		return "TPDU"
	case LevelShortAPDU:
		return "short APDU"
	case LevelExtendedAPDU:
		return "extended APDU"
	}
	return "character"
}

// Level returns the exchange level the reader announces.
func (d Descriptor) Level() Level {
	switch {
	case d.Features&0x00040000 != 0:
		return LevelExtendedAPDU
	case d.Features&0x00020000 != 0:
		return LevelShortAPDU
	case d.Features&0x00010000 != 0:
		return LevelTPDU
	}
	return LevelCharacter
}

// USB descriptor types.
const (
	descInterface = 0x04
	descEndpoint  = 0x05
	descCCID      = 0x21
)

// classCCID is bInterfaceClass of a smart-card reader interface.
const classCCID = 0x0B

// ErrNoCCIDInterface means a device's descriptors hold no CCID interface.
var ErrNoCCIDInterface = errors.New("no CCID interface in the USB descriptors")

// ParseDescriptors finds the first CCID interface (alternate setting 0) in
// a device's descriptors as usbfs or sysfs return them: the device
// descriptor followed by the configuration descriptors.
func ParseDescriptors(b []byte) (Descriptor, error) {
	var d Descriptor
	in, found, haveClass := false, false, false
	for len(b) > 0 {
		l := int(b[0])
		if l < 2 || l > len(b) {
			return Descriptor{}, fmt.Errorf("malformed USB descriptor (length %d, %d bytes left)", l, len(b))
		}
		desc := b[:l]
		b = b[l:]
		switch desc[1] {
		case descInterface:
			if in {
				b = nil // the CCID interface ended
				continue
			}
			if l >= 9 && desc[5] == classCCID && desc[3] == 0 {
				in, found = true, true
				d.Interface = desc[2]
			}
		case descCCID:
			if in && l >= 54 {
				d.MaxSlot = desc[4]
				d.Protocols = binary.LittleEndian.Uint32(desc[6:])
				d.MaxIFSD = binary.LittleEndian.Uint32(desc[28:])
				d.Features = binary.LittleEndian.Uint32(desc[40:])
				d.MaxMessage = binary.LittleEndian.Uint32(desc[44:])
				d.PINSupport = desc[52]
				haveClass = true
			}
		case descEndpoint:
			if in && l >= 7 && desc[3]&0x03 == 0x02 { // bulk
				if desc[2]&0x80 != 0 {
					d.BulkIn = desc[2]
				} else {
					d.BulkOut = desc[2]
				}
			}
		}
	}
	switch {
	case !found:
		return Descriptor{}, ErrNoCCIDInterface
	case !haveClass:
		return Descriptor{}, fmt.Errorf("CCID interface %d has no CCID class descriptor", d.Interface)
	case d.BulkIn == 0 || d.BulkOut == 0:
		return Descriptor{}, fmt.Errorf("CCID interface %d lacks a bulk endpoint pair", d.Interface)
	case d.MaxMessage < headerLen+5:
		return Descriptor{}, fmt.Errorf("CCID interface %d announces a %d-byte maximum message", d.Interface, d.MaxMessage)
	}
	return d, nil
}
