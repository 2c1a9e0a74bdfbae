package core

import (
	"bytes"
	"encoding/base64"
	"strconv"
)

// The daemon's hot call is io.keyunlock.Keystore.Decrypt: a few hundred
// bytes each way, answered in well under a millisecond. Going through a
// general JSON decoder for it costs about as much CPU as the rest of the
// round trip, so the call and its reply have hand-written codecs here.
// They handle only the plain shape that keyunlock itself sends (no escapes,
// no unknown or repeated members, ASCII strings) and report false for
// anything else; the caller then takes the general codec (json.go, held to
// encoding/json by its tests), which stays the one authority on what a
// message means and on every error reply. FuzzFastDecryptCall and
// FuzzFastDecryptReply hold the fast codecs to encoding/json.

const decryptMethod = VarlinkInterface + ".Decrypt"

// jsonScan reads the plain subset of JSON that the fast codecs accept.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) skipSpace() { s.i = skipJSONSpace(s.b, s.i) }

// next skips white space and consumes c if it comes next.
func (s *jsonScan) next(c byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// raw reads a string up to the next quote, unchecked: the caller checks
// its bytes (no escapes, no control or non-ASCII bytes).
func (s *jsonScan) raw() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	n := bytes.IndexByte(s.b[s.i:], '"')
	if n < 0 {
		return nil, false
	}
	v := s.b[s.i : s.i+n]
	s.i += n + 1
	return v, true
}

// str reads a string of printable ASCII without escapes and returns its
// bytes (a slice of the input).
func (s *jsonScan) str() ([]byte, bool) {
	v, ok := s.raw()
	if !ok {
		return nil, false
	}
	for _, c := range v {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return nil, false
		}
	}
	return v, true
}

// integer reads a JSON integer without fraction or exponent that fits an
// int comfortably.
func (s *jsonScan) integer() (int, bool) {
	s.skipSpace()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	digits := s.i
	v := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = 10*v + int(s.b[s.i]-'0')
		s.i++
	}
	n := s.i - digits
	if n == 0 || n > 15 || n > 1 && s.b[digits] == '0' {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	return v, true
}

// end reports whether only white space is left.
func (s *jsonScan) end() bool {
	s.skipSpace()
	return s.i == len(s.b)
}

// members calls f for each member of an object until f or the syntax
// fails; f must consume the member's value. Repeated names fail: encoding/json
// lets the last one win, which the fast path does not reproduce.
func (s *jsonScan) members(f func(name []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	var seenBuf [8][]byte
	seen := seenBuf[:0]
	for {
		name, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		for _, n := range seen {
			if string(n) == string(name) {
				return false
			}
		}
		seen = append(seen, name)
		if !f(name) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// base64Value decodes a standard base64 string value. The decoder
// rejects every byte str would (a backslash, control and non-ASCII bytes)
// except the line breaks it skips, which JSON does not allow raw.
func (s *jsonScan) base64Value() ([]byte, bool) {
	v, ok := s.raw()
	if !ok || bytes.IndexByte(v, '\n') >= 0 || bytes.IndexByte(v, '\r') >= 0 {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(v)))
	n, err := base64.StdEncoding.Decode(out, v)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// parseDecryptCall recognises {"method":"io.keyunlock.Keystore.Decrypt",
// "parameters":{"pkesks":[...]}} with at least one PKESK and returns the
// decoded PKESK bodies. ok is false for anything else, including calls that
// are valid but not of this plain shape.
func parseDecryptCall(msg []byte) (pkesks [][]byte, ok bool) {
	s := jsonScan{b: msg}
	method := false
	ok = s.members(func(name []byte) bool {
		switch string(name) {
		case "method":
			m, ok := s.str()
			method = ok && string(m) == decryptMethod
			return method
		case "parameters":
			return s.members(func(name []byte) bool {
				if string(name) != "pkesks" || !s.next('[') {
					return false
				}
				for {
					b, ok := s.base64Value()
					if !ok {
						return false
					}
					pkesks = append(pkesks, b)
					if s.next(']') {
						return true
					}
					if !s.next(',') {
						return false
					}
				}
			})
		}
		return false
	})
	if !ok || !method || len(pkesks) == 0 || !s.end() {
		return nil, false
	}
	return pkesks, true
}

// plainString reports whether encoding/json writes s as itself between
// quotes (printable ASCII other than the quote and the backslash).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func appendBase64(dst, b []byte) []byte {
	if b == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendDecryptCall appends the call of Decrypt with the given PKESK bodies
// and its NUL terminator, exactly as writeMessage would encode it.
func appendDecryptCall(dst []byte, bodies [][]byte) []byte {
	dst = append(dst, `{"method":"`+decryptMethod+`","parameters":{"pkesks":`...)
	if bodies == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, b := range bodies {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendBase64(dst, b)
		}
		dst = append(dst, ']')
	}
	return append(dst, "}}\x00"...)
}

// appendDecryptReply appends the reply carrying r and its NUL terminator,
// exactly as writeMessage would encode it. ok is false when a string needs
// escaping; the caller then uses writeMessage.
func appendDecryptReply(dst []byte, r *vlDecryptReply) (out []byte, ok bool) {
	if !plainString(r.Fingerprint) || !plainString(r.Source) {
		return dst, false
	}
	dst = append(dst, `{"parameters":{"index":`...)
	dst = strconv.AppendInt(dst, int64(r.Index), 10)
	dst = append(dst, `,"fingerprint":"`...)
	dst = append(dst, r.Fingerprint...)
	dst = append(dst, `","source":"`...)
	dst = append(dst, r.Source...)
	dst = append(dst, `","algorithm":`...)
	dst = strconv.AppendInt(dst, int64(r.Algorithm), 10)
	dst = append(dst, `,"session_key":`...)
	dst = appendBase64(dst, r.SessionKey)
	return append(dst, "}}\x00"...), true
}

// parseDecryptReply decodes a successful Decrypt reply whose parameters
// hold exactly the five members of vlDecryptReply. ok is false for anything
// else (an error reply, "continues", an unknown member...).
func parseDecryptReply(msg []byte, r *vlDecryptReply) (ok bool) {
	s := jsonScan{b: msg}
	var got vlDecryptReply
	params := false
	ok = s.members(func(name []byte) bool {
		if string(name) != "parameters" {
			return false
		}
		params = true
		n := 0
		return s.members(func(name []byte) bool {
			n++
			var ok bool
			switch string(name) {
			case "index":
				got.Index, ok = s.integer()
			case "algorithm":
				got.Algorithm, ok = s.integer()
			case "fingerprint", "source":
				var v []byte
				if v, ok = s.str(); ok {
					if string(name) == "source" {
						got.Source = string(v)
					} else {
						got.Fingerprint = string(v)
					}
				}
			case "session_key":
				got.SessionKey, ok = s.base64Value()
			}
			return ok
		}) && n == 5
	})
	if !ok || !params || !s.end() {
		Wipe(got.SessionKey)
		return false
	}
	*r = got
	return true
}
