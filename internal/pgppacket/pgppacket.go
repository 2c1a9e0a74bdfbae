// Package pgppacket splits an OpenPGP key file into raw packets (tag and
// body) and writes packets back, so that key packets can be taken apart and
// rebuilt byte for byte. It is deliberately small and bounded: key files
// never use partial body lengths, and the whole input is in memory.
package pgppacket

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Packet tags used by key files.
const (
	TagSignature    = 2
	TagSecretKey    = 5
	TagPublicKey    = 6
	TagSecretSubkey = 7
	TagUserID       = 13
	TagPublicSubkey = 14
)

// MaxPackets bounds the number of packets read from one file.
const MaxPackets = 10000

// Packet is one raw packet.
type Packet struct {
	Tag  int
	Body []byte // aliases the input
}

// Split parses b, which must be a sequence of complete packets.
func Split(b []byte) ([]Packet, error) {
	var out []Packet
	for off := 0; off < len(b); {
		if len(out) >= MaxPackets {
			return nil, fmt.Errorf("more than %d packets", MaxPackets)
		}
		tag, hdr, n, err := header(b[off:])
		if err != nil {
			return nil, fmt.Errorf("packet %d at offset %d: %w", len(out)+1, off, err)
		}
		start := off + hdr
		if n > len(b)-start {
			return nil, fmt.Errorf("packet %d at offset %d: declared length %d exceeds the %d bytes left (truncated file?)", len(out)+1, off, n, len(b)-start)
		}
		out = append(out, Packet{Tag: tag, Body: b[start : start+n]})
		off = start + n
	}
	return out, nil
}

// Next reads the first packet of b and returns its tag, its body and the
// bytes after it. It fails on partial body lengths, so use it only for the
// leading packets of a message (PKESKs) or for key files.
func Next(b []byte) (tag int, body, rest []byte, err error) {
	tag, hdr, n, err := header(b)
	if err != nil {
		return 0, nil, nil, err
	}
	if n > len(b)-hdr {
		return 0, nil, nil, fmt.Errorf("declared length %d exceeds the %d bytes left", n, len(b)-hdr)
	}
	return tag, b[hdr : hdr+n], b[hdr+n:], nil
}

func header(b []byte) (tag, hdrLen, bodyLen int, err error) {
	if len(b) < 2 {
		return 0, 0, 0, errors.New("truncated packet header")
	}
	c := b[0]
	if c&0x80 == 0 {
		return 0, 0, 0, fmt.Errorf("not an OpenPGP packet (first byte 0x%02x)", c)
	}
	if c&0x40 == 0 { // old format
		tag = int(c>>2) & 0xf
		switch c & 3 {
		case 0:
			return tag, 2, int(b[1]), nil
		case 1:
			if len(b) < 3 {
				return 0, 0, 0, errors.New("truncated packet header")
			}
			return tag, 3, int(binary.BigEndian.Uint16(b[1:])), nil
		case 2:
			if len(b) < 5 {
				return 0, 0, 0, errors.New("truncated packet header")
			}
			return tag, 5, lenInt(binary.BigEndian.Uint32(b[1:])), nil
		}
		return 0, 0, 0, errors.New("indeterminate packet length is not allowed in key files")
	}
	tag = int(c & 0x3f)
	switch l := b[1]; {
	case l < 192:
		return tag, 2, int(l), nil
	case l < 224:
		if len(b) < 3 {
			return 0, 0, 0, errors.New("truncated packet header")
		}
		return tag, 3, (int(l)-192)<<8 + int(b[2]) + 192, nil
	case l == 255:
		if len(b) < 6 {
			return 0, 0, 0, errors.New("truncated packet header")
		}
		return tag, 6, lenInt(binary.BigEndian.Uint32(b[2:])), nil
	}
	return 0, 0, 0, errors.New("partial body length is not allowed in key files")
}

func lenInt(n uint32) int {
	if n > 1<<30 {
		return 1 << 30 // rejected by the bounds check in Split
	}
	return int(n)
}

// Append appends a packet with a new-format header to dst.
func Append(dst []byte, tag int, body []byte) []byte {
	dst = append(dst, 0xC0|byte(tag))
	switch n := len(body); {
	case n < 192:
		dst = append(dst, byte(n))
	case n < 8384:
		n -= 192
		dst = append(dst, byte(n>>8)+192, byte(n))
	default:
		dst = append(dst, 0xFF)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return append(dst, body...)
}
