package core

import (
	"encoding/base64"
	"errors"
	"math"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON codec for the varlink protocol, in place of encoding/json:
// the daemon's messages are a handful of fixed shapes, and encoding/json's
// reflection and tables were about an eighth of the compressed binary. It
// reads and writes what encoding/json does for those shapes: the same
// syntax check, string unescaping (invalid UTF-8 and lone surrogates read
// as U+FFFD), case-insensitive member names, null leaving a value alone
// (or clearing a slice), the first type mismatch reported after the rest
// of the value is decoded; and on output encoding/json's escaping without
// HTML escapes, its number format and sorted map keys.
// varlink_codec.go maps the protocol's types onto it; the tests hold both
// to encoding/json.

// jsonKind is the type of a JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// kindName is how encoding/json names a kind in its type errors.
var kindName = [...]string{jsonNull: "null", jsonBool: "bool", jsonNumber: "number", jsonString: "string", jsonArray: "array", jsonObject: "object"}

// jsonValue is a parsed JSON value.
type jsonValue struct {
	kind jsonKind
	// raw is the value's text in the input.
	raw []byte
	// b is a bool's value.
	b bool
	// str is a string's unescaped bytes: a slice of the input when the
	// string has no escapes, else a buffer of its own (wipe, see wipeJSON).
	str []byte
	// escaped reports that str is a buffer of its own.
	escaped bool
	elems   []jsonValue  // an array's elements
	members []jsonMember // an object's members, in input order
}

// jsonMember is one name/value pair of an object.
type jsonMember struct {
	name  string
	value jsonValue
}

// jsonSyntaxError is malformed JSON, at byte offset off.
type jsonSyntaxError struct {
	msg string
	off int
}

func (e *jsonSyntaxError) Error() string {
	return "invalid JSON at offset " + strconv.Itoa(e.off) + ": " + e.msg
}

// jsonTypeError is a JSON value of the wrong type for the Go value it is
// decoded into; field names the object member it was in, if any.
type jsonTypeError struct {
	value string // "string", "number 1.5"...
	field string
	typ   string
}

func (e *jsonTypeError) Error() string {
	if e.field != "" {
		return "cannot decode JSON " + e.value + " into field " + e.field + " of type " + e.typ
	}
	return "cannot decode JSON " + e.value + " into " + e.typ
}

// jsonBase64Error is a string member that is not valid base64.
type jsonBase64Error struct {
	field string
	err   error
}

func (e *jsonBase64Error) Error() string { return "member " + e.field + ": " + e.err.Error() }

func (e *jsonBase64Error) Unwrap() error { return e.err }

// fieldOf returns the member a decoding error is about, if known.
func fieldOf(err error) string {
	var te *jsonTypeError
	var be *jsonBase64Error
	switch {
	case errors.As(err, &te):
		return te.field
	case errors.As(err, &be):
		return be.field
	}
	return ""
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// parseJSON parses b, one JSON value with optional white space around it.
func parseJSON(b []byte) (jsonValue, error) {
	p := jsonParser{b: b}
	v, err := p.value(0)
	if err == nil {
		p.space()
		if p.i < len(b) {
			err = p.fail("invalid character " + strconv.QuoteRune(rune(b[p.i])) + " after top-level value")
		}
	}
	if err != nil {
		wipeJSON(&v)
		return jsonValue{}, err
	}
	return v, nil
}

// wipeJSON zeroes the unescaped copies of v's strings; the input itself is
// the caller's to wipe.
func wipeJSON(v *jsonValue) {
	if v.escaped {
		Wipe(v.str)
	}
	for i := range v.elems {
		wipeJSON(&v.elems[i])
	}
	for i := range v.members {
		wipeJSON(&v.members[i].value)
	}
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) fail(msg string) error { return &jsonSyntaxError{msg: msg, off: p.i} }

func (p *jsonParser) space() { p.i = skipJSONSpace(p.b, p.i) }

// skipJSONSpace returns the index of the first byte at or after i in b that
// is not JSON white space (len(b) if none is).
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (p *jsonParser) unexpected(where string) error {
	if p.i >= len(p.b) {
		return p.fail("unexpected end of JSON input")
	}
	return p.fail("invalid character " + strconv.QuoteRune(rune(p.b[p.i])) + " " + where)
}

func (p *jsonParser) value(depth int) (v jsonValue, err error) {
	p.space()
	if p.i >= len(p.b) {
		return v, p.unexpected("")
	}
	start := p.i
	switch c := p.b[p.i]; {
	case c == '{':
		if depth >= maxJSONDepth {
			return v, p.fail("exceeded max depth")
		}
		v.kind = jsonObject
		err = p.object(&v, depth)
	case c == '[':
		if depth >= maxJSONDepth {
			return v, p.fail("exceeded max depth")
		}
		v.kind = jsonArray
		err = p.array(&v, depth)
	case c == '"':
		v.kind = jsonString
		v.str, v.escaped, err = p.string()
	case c == '-' || c >= '0' && c <= '9':
		v.kind = jsonNumber
		err = p.number()
	default:
		v.kind, v.b, err = p.literal()
	}
	v.raw = p.b[start:p.i]
	return v, err
}

func (p *jsonParser) literal() (jsonKind, bool, error) {
	for _, l := range [...]struct {
		text string
		kind jsonKind
		b    bool
	}{{"true", jsonBool, true}, {"false", jsonBool, false}, {"null", jsonNull, false}} {
		if p.b[p.i] != l.text[0] {
			continue
		}
		for j := 0; j < len(l.text); j++ {
			if p.i >= len(p.b) || p.b[p.i] != l.text[j] {
				return 0, false, p.unexpected("in literal " + l.text)
			}
			p.i++
		}
		return l.kind, l.b, nil
	}
	return 0, false, p.unexpected("looking for beginning of value")
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *jsonParser) number() error {
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.digits() == 0:
		return p.unexpected("in numeric literal")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return p.unexpected("after decimal point in numeric literal")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return p.unexpected("in exponent of numeric literal")
		}
	}
	return nil
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// u4 reads the four hex digits of a \u escape at p.b[i:].
func (p *jsonParser) u4(i int) rune {
	if i+4 > len(p.b) {
		return -1
	}
	var r rune
	for _, c := range p.b[i : i+4] {
		h := hexVal(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}

// string reads a string and returns its unescaped bytes: a slice of the
// input when it is valid UTF-8 without escapes, else a new buffer (own).
func (p *jsonParser) string() (s []byte, own bool, err error) {
	p.i++ // the opening quote
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			p.i++
			return p.b[start : p.i-1], false, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			p.i++
			continue
		}
		r, size := utf8.DecodeRune(p.b[p.i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		p.i += size
	}
	out := append(make([]byte, 0, p.i-start+64), p.b[start:p.i]...)
	fail := func(e error) ([]byte, bool, error) {
		Wipe(out)
		return nil, false, e
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, true, nil
		case c < 0x20:
			return fail(p.unexpected("in string literal"))
		case c == '\\':
			if p.i+1 >= len(p.b) {
				p.i++
				return fail(p.unexpected("in string escape code"))
			}
			switch e := p.b[p.i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := p.u4(p.i + 2)
				if r < 0 {
					p.i += 2
					for p.i < len(p.b) && hexVal(p.b[p.i]) >= 0 {
						p.i++
					}
					return fail(p.unexpected("in \\u hexadecimal character escape"))
				}
				p.i += 6
				if utf16.IsSurrogate(r) {
					r = utf8.RuneError
					if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
						if r2 := p.u4(p.i + 2); r2 >= 0 {
							if d := utf16.DecodeRune(p.u4(p.i-4), r2); d != utf8.RuneError {
								r = d
								p.i += 6
							}
						}
					}
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				p.i++
				return fail(p.unexpected("in string escape code"))
			}
			p.i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.b[p.i:])
			out = utf8.AppendRune(out, r) // U+FFFD for an invalid byte
			p.i += size
		}
	}
	return fail(p.unexpected(""))
}

func (p *jsonParser) array(v *jsonValue, depth int) error {
	p.i++
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		v.elems = []jsonValue{}
		return nil
	}
	for {
		e, err := p.value(depth + 1)
		v.elems = append(v.elems, e)
		if err != nil {
			return err
		}
		p.space()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return nil
		}
		if p.i >= len(p.b) || p.b[p.i] != ',' {
			return p.unexpected("after array element")
		}
		p.i++
	}
}

func (p *jsonParser) object(v *jsonValue, depth int) error {
	p.i++
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return p.unexpected("looking for beginning of object key string")
		}
		name, own, err := p.string()
		if err != nil {
			return err
		}
		m := jsonMember{name: string(name)}
		if own {
			Wipe(name)
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			v.members = append(v.members, m)
			return p.unexpected("after object key")
		}
		p.i++
		m.value, err = p.value(depth + 1)
		v.members = append(v.members, m)
		if err != nil {
			return err
		}
		p.space()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return nil
		}
		if p.i >= len(p.b) || p.b[p.i] != ',' {
			return p.unexpected("after object key:value pair")
		}
		p.i++
	}
}

// nameIs reports whether an object member name selects the field name, as
// encoding/json matches them: equal under Unicode simple case folding.
// Field names are lower-case ASCII; k and s have a third case each (the
// Kelvin sign and the long s).
func nameIs(member, field string) bool {
	if member == field {
		return true
	}
	i := 0
	for _, r := range member {
		if i >= len(field) {
			return false
		}
		c := field[i]
		i++
		switch {
		case r == rune(c):
		case c >= 'a' && c <= 'z' && r == rune(c-'a'+'A'):
		case c == 'k' && r == '\u212a', c == 's' && r == '\u017f':
		default:
			return false
		}
	}
	return i == len(field)
}

func (v *jsonValue) typeError(field, typ string) error {
	val := kindName[v.kind]
	if v.kind == jsonNumber {
		val += " " + string(v.raw)
	}
	return &jsonTypeError{value: val, field: field, typ: typ}
}

// decodeString sets *dst to a string value; null leaves it alone.
func (v *jsonValue) decodeString(field string, dst *string) error {
	switch v.kind {
	case jsonNull:
		return nil
	case jsonString:
		*dst = string(v.str)
		return nil
	}
	return v.typeError(field, "string")
}

// decodeBool sets *dst to a bool value; null leaves it alone.
func (v *jsonValue) decodeBool(field string, dst *bool) error {
	switch v.kind {
	case jsonNull:
		return nil
	case jsonBool:
		*dst = v.b
		return nil
	}
	return v.typeError(field, "bool")
}

// decodeInt sets *dst to an integer value; null leaves it alone.
func (v *jsonValue) decodeInt(field string, dst *int64) error {
	switch v.kind {
	case jsonNull:
		return nil
	case jsonNumber:
		n, err := strconv.ParseInt(string(v.raw), 10, 64)
		if err != nil {
			return v.typeError(field, "int")
		}
		*dst = n
		return nil
	}
	return v.typeError(field, "int")
}

func (v *jsonValue) decodeIntInto(field string, dst *int) error {
	n := int64(*dst)
	err := v.decodeInt(field, &n)
	*dst = int(n)
	return err
}

// decodeBytes sets *dst to the bytes of a standard base64 string; null sets
// it to nil.
func (v *jsonValue) decodeBytes(field string, dst *[]byte) error {
	switch v.kind {
	case jsonNull:
		*dst = nil
		return nil
	case jsonString:
		b := make([]byte, base64.StdEncoding.DecodedLen(len(v.str)))
		n, err := base64.StdEncoding.Decode(b, v.str)
		if err != nil {
			Wipe(b)
			return &jsonBase64Error{field: field, err: err}
		}
		*dst = b[:n]
		return nil
	}
	return v.typeError(field, "[]uint8")
}

// decodeAny decodes v as encoding/json does into an empty interface: nil,
// bool, float64, string, []any or map[string]any.
func (v *jsonValue) decodeAny() (any, error) {
	switch v.kind {
	case jsonBool:
		return v.b, nil
	case jsonNumber:
		f, err := strconv.ParseFloat(string(v.raw), 64)
		if err != nil {
			return nil, v.typeError("", "float64")
		}
		return f, nil
	case jsonString:
		return string(v.str), nil
	case jsonArray:
		out := make([]any, len(v.elems))
		var first error
		for i := range v.elems {
			var err error
			if out[i], err = v.elems[i].decodeAny(); err != nil && first == nil {
				first = err
			}
		}
		return out, first
	case jsonObject:
		m, err := v.decodeMap()
		return m, err
	}
	return nil, nil
}

// decodeMap decodes an object into a map[string]any; null gives nil.
func (v *jsonValue) decodeMap() (map[string]any, error) {
	switch v.kind {
	case jsonNull:
		return nil, nil
	case jsonObject:
	default:
		return nil, v.typeError("", "map[string]interface {}")
	}
	m := make(map[string]any, len(v.members))
	var first error
	for i := range v.members {
		x, err := v.members[i].value.decodeAny()
		if err != nil && first == nil {
			first = err
		}
		m[v.members[i].name] = x
	}
	return m, first
}

// member returns the value of the last member named exactly name, as a
// map[string]json.RawMessage would hold it.
func (v *jsonValue) member(name string) (*jsonValue, bool) {
	for i := len(v.members) - 1; i >= 0; i-- {
		if v.members[i].name == name {
			return &v.members[i].value, true
		}
	}
	return nil, false
}

// jsonWriter appends JSON to b.
type jsonWriter struct {
	b []byte
}

// errUnsupportedValue is a value JSON cannot represent (NaN, an infinity).
var errUnsupportedValue = errors.New("json: unsupported value")

const hexDigits = "0123456789abcdef"

// string appends s quoted as encoding/json does without HTML escaping.
func (w *jsonWriter) string(s string) {
	w.b = append(w.b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			w.b = append(w.b, s[start:i]...)
			switch c {
			case '"', '\\':
				w.b = append(w.b, '\\', c)
			case '\b':
				w.b = append(w.b, '\\', 'b')
			case '\f':
				w.b = append(w.b, '\\', 'f')
			case '\n':
				w.b = append(w.b, '\\', 'n')
			case '\r':
				w.b = append(w.b, '\\', 'r')
			case '\t':
				w.b = append(w.b, '\\', 't')
			default:
				w.b = append(w.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			w.b = append(w.b, s[start:i]...)
			w.b = append(w.b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			w.b = append(w.b, s[start:i]...)
			w.b = append(w.b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}

// bytes appends b as a standard base64 string, or null for nil.
func (w *jsonWriter) bytes(b []byte) {
	if b == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '"')
	w.b = base64.StdEncoding.AppendEncode(w.b, b)
	w.b = append(w.b, '"')
}

func (w *jsonWriter) int(n int64) { w.b = strconv.AppendInt(w.b, n, 10) }

func (w *jsonWriter) bool(b bool) { w.b = strconv.AppendBool(w.b, b) }

// float appends f as encoding/json does (ES6 number formatting).
func (w *jsonWriter) float(f float64) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return errUnsupportedValue
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if format == 'e' {
		if n := len(w.b); n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
	return nil
}

// object writes the members of an object one by one: field writes the
// name (and the separator before it).
type jsonObjectWriter struct {
	w     *jsonWriter
	first bool
}

func (w *jsonWriter) object() jsonObjectWriter {
	w.b = append(w.b, '{')
	return jsonObjectWriter{w: w, first: true}
}

func (o *jsonObjectWriter) field(name string) *jsonWriter {
	if !o.first {
		o.w.b = append(o.w.b, ',')
	}
	o.first = false
	o.w.string(name)
	o.w.b = append(o.w.b, ':')
	return o.w
}

func (o *jsonObjectWriter) end() { o.w.b = append(o.w.b, '}') }

func (w *jsonWriter) strings(s []string) {
	if s == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '[')
	for i, x := range s {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.string(x)
	}
	w.b = append(w.b, ']')
}

// anyMap appends a map with its keys sorted.
func (w *jsonWriter) anyMap(m map[string]any) error {
	if m == nil {
		w.b = append(w.b, "null"...)
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := w.object()
	for _, k := range keys {
		if err := o.field(k).value(m[k]); err != nil {
			return err
		}
	}
	o.end()
	return nil
}
