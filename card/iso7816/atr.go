package iso7816

import "errors"

// HistoricalBytes extracts the historical bytes from an ATR by walking its
// interface bytes (TA/TB/TC/TD chains).
func HistoricalBytes(atr []byte) ([]byte, error) {
	if len(atr) < 2 {
		return nil, errors.New("ATR too short")
	}
	k := int(atr[1] & 0x0F)
	y := atr[1] >> 4
	i := 2
	for {
		for _, bit := range []byte{1, 2, 4} { // TA, TB, TC
			if y&bit != 0 {
				i++
			}
		}
		if y&8 == 0 {
			break
		}
		if i >= len(atr) {
			return nil, errors.New("truncated ATR")
		}
		y = atr[i] >> 4 // TD: which interface bytes follow
		i++
	}
	if i+k > len(atr) {
		return nil, errors.New("truncated ATR historical bytes")
	}
	return atr[i : i+k], nil
}

// CapsFromHistorical reads the card capabilities (compact-TLV tag 7, third
// byte: 0x80 command chaining, 0x40 extended Lc/Le) from historical bytes in
// category 00 or 80. It reports false when they are absent or in another
// format (the YubiKey NEO and 4 use a proprietary category).
func CapsFromHistorical(h []byte) (chaining, extended, ok bool) {
	if len(h) < 1 {
		return false, false, false
	}
	var body []byte
	switch h[0] {
	case 0x00:
		if len(h) < 4 {
			return false, false, false
		}
		body = h[1 : len(h)-3] // the last 3 bytes are a status indicator
	case 0x80:
		body = h[1:]
	default:
		return false, false, false
	}
	for len(body) > 0 {
		tag, l := body[0]>>4, int(body[0]&0x0F)
		if 1+l > len(body) {
			return false, false, false
		}
		if tag == 7 && l >= 3 {
			b := body[3]
			return b&0x80 != 0, b&0x40 != 0, true
		}
		body = body[1+l:]
	}
	return false, false, false
}
