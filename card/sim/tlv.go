package sim

import "errors"

// tlv is one BER-TLV element: its tag (one or two bytes, as an integer) and
// its value.
type tlv struct {
	tag   uint
	value []byte
}

var errTLV = errors.New("malformed BER-TLV")

// appendTLV appends the encoding of tag and value to b.
func appendTLV(b []byte, tag uint, value []byte) []byte {
	if tag > 0xff {
		b = append(b, byte(tag>>8))
	}
	b = append(b, byte(tag))
	b = appendLen(b, len(value))
	return append(b, value...)
}

// tlvBytes encodes one element.
func tlvBytes(tag uint, value []byte) []byte { return appendTLV(nil, tag, value) }

// appendLen appends a BER length.
func appendLen(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	default:
		return append(b, 0x82, byte(n>>8), byte(n))
	}
}

// readTag reads a tag at the start of b and returns it and its size.
func readTag(b []byte) (uint, int, error) {
	if len(b) == 0 {
		return 0, 0, errTLV
	}
	if b[0]&0x1f != 0x1f {
		return uint(b[0]), 1, nil
	}
	if len(b) < 2 || b[1]&0x80 != 0 {
		return 0, 0, errTLV
	}
	return uint(b[0])<<8 | uint(b[1]), 2, nil
}

// readLen reads a BER length at the start of b and returns it and its size.
func readLen(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, errTLV
	}
	switch {
	case b[0] < 0x80:
		return int(b[0]), 1, nil
	case b[0] == 0x81 && len(b) >= 2:
		return int(b[1]), 2, nil
	case b[0] == 0x82 && len(b) >= 3:
		return int(b[1])<<8 | int(b[2]), 3, nil
	}
	return 0, 0, errTLV
}

// readHeader reads the tag and length at the start of b and returns them
// with the rest of b.
func readHeader(b []byte) (tag uint, l int, rest []byte, err error) {
	tag, n, err := readTag(b)
	if err != nil {
		return 0, 0, nil, err
	}
	b = b[n:]
	l, n, err = readLen(b)
	if err != nil {
		return 0, 0, nil, err
	}
	return tag, l, b[n:], nil
}

// parseTLVs splits b into its top-level elements.
func parseTLVs(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		tag, l, rest, err := readHeader(b)
		if err != nil {
			return nil, err
		}
		if l > len(rest) {
			return nil, errTLV
		}
		out = append(out, tlv{tag, rest[:l]})
		b = rest[l:]
	}
	return out, nil
}

// findTLV returns the value of the first top-level element with the tag.
func findTLV(b []byte, tag uint) ([]byte, bool) {
	items, err := parseTLVs(b)
	if err != nil {
		return nil, false
	}
	for _, it := range items {
		if it.tag == tag {
			return it.value, true
		}
	}
	return nil, false
}

// parseHeaderList parses a list of tag-length pairs without values, as in
// the extended header list's 7F48 (cardholder private key template).
func parseHeaderList(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		tag, l, rest, err := readHeader(b)
		if err != nil {
			return nil, err
		}
		out = append(out, tlv{tag: tag, value: make([]byte, l)})
		b = rest
	}
	return out, nil
}
