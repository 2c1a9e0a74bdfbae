// Package tlv parses and encodes the BER-TLV data objects used by ISO 7816-4
// smart cards and the OpenPGP card application: tags of up to three bytes,
// definite lengths in short or long form. Parsing is bounded: it never reads
// past its input and never recurses deeper than MaxDepth.
package tlv

import (
	"errors"
	"fmt"
)

// MaxDepth bounds the nesting that Find descends into.
const MaxDepth = 8

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed BER-TLV")

// TLV is one data object. Value aliases the parsed buffer.
type TLV struct {
	Tag   uint32 // the tag bytes big-endian, e.g. 0x5F52 or 0x7F49
	Value []byte
}

// Constructed reports whether the tag marks a constructed object, whose
// value is itself a sequence of TLVs.
func Constructed(tag uint32) bool {
	first := tag
	for first > 0xFF {
		first >>= 8
	}
	return first&0x20 != 0
}

// Next parses the first data object of b and returns it with the rest of b.
func Next(b []byte) (TLV, []byte, error) {
	tag, n, err := parseTag(b)
	if err != nil {
		return TLV{}, nil, err
	}
	b = b[n:]
	length, n, err := parseLength(b)
	if err != nil {
		return TLV{}, nil, fmt.Errorf("%w: tag %X: %v", ErrMalformed, tag, err)
	}
	b = b[n:]
	if length > len(b) {
		return TLV{}, nil, fmt.Errorf("%w: tag %X: length %d exceeds the %d bytes left", ErrMalformed, tag, length, len(b))
	}
	return TLV{Tag: tag, Value: b[:length:length]}, b[length:], nil
}

// Parse splits b into a sequence of data objects (one level, no recursion).
// Padding bytes 00 and FF between objects are skipped, as ISO 7816-4 allows.
func Parse(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		if b[0] == 0x00 || b[0] == 0xFF {
			b = b[1:]
			continue
		}
		t, rest, err := Next(b)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		b = rest
	}
	return out, nil
}

// Find searches b depth-first, descending into constructed objects, for the
// first object with the given tag and returns its value. Malformed parts
// end the search of their level without an error.
func Find(b []byte, tag uint32) ([]byte, bool) {
	return find(b, tag, 0)
}

func find(b []byte, tag uint32, depth int) ([]byte, bool) {
	if depth > MaxDepth {
		return nil, false
	}
	for len(b) > 0 {
		if b[0] == 0x00 || b[0] == 0xFF {
			b = b[1:]
			continue
		}
		t, rest, err := Next(b)
		if err != nil {
			return nil, false
		}
		if t.Tag == tag {
			return t.Value, true
		}
		if Constructed(t.Tag) {
			if v, ok := find(t.Value, tag, depth+1); ok {
				return v, true
			}
		}
		b = rest
	}
	return nil, false
}

func parseTag(b []byte) (uint32, int, error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: missing tag", ErrMalformed)
	}
	tag := uint32(b[0])
	if b[0]&0x1F != 0x1F {
		return tag, 1, nil
	}
	for i := 1; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated tag %X", ErrMalformed, tag)
		}
		tag = tag<<8 | uint32(b[i])
		if b[i]&0x80 == 0 {
			return tag, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: tag longer than 3 bytes", ErrMalformed)
}

func parseLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, errors.New("missing length")
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, nil
	}
	n := int(b[0] & 0x7F)
	if n == 0 {
		return 0, 0, errors.New("indefinite length")
	}
	if n > 3 {
		return 0, 0, fmt.Errorf("%d-byte length field", n)
	}
	if len(b) < 1+n {
		return 0, 0, errors.New("truncated length")
	}
	l := 0
	for _, c := range b[1 : 1+n] {
		l = l<<8 | int(c)
	}
	return l, 1 + n, nil
}

// AppendTag appends the tag bytes (1 to 4 bytes, leading zero bytes dropped).
func AppendTag(dst []byte, tag uint32) []byte {
	switch {
	case tag > 0xFFFFFF:
		return append(dst, byte(tag>>24), byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFFFF:
		return append(dst, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		return append(dst, byte(tag>>8), byte(tag))
	}
	return append(dst, byte(tag))
}

// AppendLength appends a definite length in the shortest BER form: one byte
// below 128, else 81 xx, 82 xxxx or 83 xxxxxx.
func AppendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	}
	return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
}

// Append appends one complete data object.
func Append(dst []byte, tag uint32, value []byte) []byte {
	dst = AppendTag(dst, tag)
	dst = AppendLength(dst, len(value))
	return append(dst, value...)
}

// Encode returns one complete data object.
func Encode(tag uint32, value []byte) []byte {
	return Append(make([]byte, 0, len(value)+8), tag, value)
}
