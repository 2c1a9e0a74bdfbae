package core

import "fmt"

// The varlink messages' types on the JSON codec of json.go. Each struct
// lists its members once (jsonFields: name, pointer to the Go field,
// omitempty) with the names, order and omitempty rules of its struct tags,
// and one writer and one reader walk those lists. The tags document the
// wire format and let the tests compare with encoding/json.

// rawJSON is the undecoded text of a JSON value, such as a call's
// parameters.
type rawJSON []byte

// jsonField is one member of a protocol struct. ptr points to the Go
// field: *string, *bool, *int, *int64, *[]byte, *[]string, *[][]byte,
// *any, *rawJSON, **jsonValue (the value itself, undecoded), *KeyInfo,
// *[]KeyInfo or *[]Candidate.
type jsonField struct {
	name      string
	ptr       any
	omitEmpty bool
}

// jsonStruct is a protocol struct, by pointer.
type jsonStruct interface {
	jsonFields() []jsonField
}

func (c *varlinkCall) jsonFields() []jsonField {
	return []jsonField{{"method", &c.Method, false}, {"parameters", &c.Parameters, true},
		{"oneway", &c.Oneway, true}, {"more", &c.More, true}, {"upgrade", &c.Upgrade, true}}
}

func (c *varlinkCall2) jsonFields() []jsonField {
	return []jsonField{{"method", &c.Method, false}, {"parameters", &c.Parameters, false}}
}

func (r *varlinkReply) jsonFields() []jsonField {
	return []jsonField{{"parameters", &r.Parameters, false}, {"continues", &r.Continues, true}, {"error", &r.Error, true}}
}

// varlinkReplyWire is a reply as the client reads it: the error name and
// the parameters, decoded later according to the error or the call.
type varlinkReplyWire struct {
	params *jsonValue
	name   string
}

func (r *varlinkReplyWire) jsonFields() []jsonField {
	return []jsonField{{"parameters", &r.params, false}, {"error", &r.name, false}}
}

func (k *KeyInfo) jsonFields() []jsonField {
	return []jsonField{{"fingerprint", &k.Fingerprint, false}, {"keyid", &k.KeyID, false},
		{"algorithm", &k.Algorithm, false}, {"capabilities", &k.Capabilities, false},
		{"source", &k.Source, false}, {"lock", &k.Lock, false}, {"locked", &k.Locked, false},
		{"available", &k.Available, false}, {"reason", &k.Reason, true}, {"tries_left", &k.TriesLeft, false},
		{"primary", &k.PrimaryFpr, true}, {"uid", &k.UserID, true}}
}

func (c *Candidate) jsonFields() []jsonField {
	return []jsonField{{"key", &c.Key, false}, {"reason", &c.Reason, false}}
}

func (r *vlListKeysReply) jsonFields() []jsonField {
	return []jsonField{{"keys", &r.Keys, false}, {"problem", &r.Problem, true}}
}

func (a *vlUnlockArgs) jsonFields() []jsonField {
	return []jsonField{{"key", &a.Key, true}, {"secret", &a.Secret, false}, {"force", &a.Force, true}}
}

func (a *vlLockArgs) jsonFields() []jsonField { return []jsonField{{"key", &a.Key, true}} }

func (a *vlDecryptArgs) jsonFields() []jsonField { return []jsonField{{"pkesks", &a.PKESKs, false}} }

func (r *vlDecryptReply) jsonFields() []jsonField {
	return []jsonField{{"index", &r.Index, false}, {"fingerprint", &r.Fingerprint, false},
		{"source", &r.Source, false}, {"algorithm", &r.Algorithm, false}, {"session_key", &r.SessionKey, false}}
}

func (a *vlDecryptMessageArgs) jsonFields() []jsonField {
	return []jsonField{{"message", &a.Message, false}}
}

func (r *vlDecryptMessageReply) jsonFields() []jsonField {
	return []jsonField{{"plaintext", &r.Plaintext, false}, {"filename", &r.FileName, true},
		{"index", &r.Index, false}, {"fingerprint", &r.Fingerprint, false}, {"source", &r.Source, false}}
}

func (s *DaemonStatus) jsonFields() []jsonField {
	return []jsonField{{"version", &s.Version, false}, {"pid", &s.PID, false},
		{"uptime_seconds", &s.UptimeSeconds, false}, {"keys", &s.Keys, false}, {"unlocked", &s.Unlocked, false},
		{"connections", &s.Connections, false}, {"cache_ttl_seconds", &s.CacheTTLSeconds, false},
		{"key_provider", &s.KeyProvider, false}, {"initrd", &s.Initrd, false}}
}

func (r *vlGetInfoReply) jsonFields() []jsonField {
	return []jsonField{{"vendor", &r.Vendor, false}, {"product", &r.Product, false},
		{"version", &r.Version, false}, {"url", &r.URL, false}, {"interfaces", &r.Interfaces, false}}
}

func (a *vlGetInterfaceDescriptionArgs) jsonFields() []jsonField {
	return []jsonField{{"interface", &a.Interface, false}}
}

func (r *vlGetInterfaceDescriptionReply) jsonFields() []jsonField {
	return []jsonField{{"description", &r.Description, false}}
}

func (e *wireError) jsonFields() []jsonField {
	return []jsonField{{"message", &e.Message, false}, {"parameter", &e.Parameter, false},
		{"recipients", &e.Recipients, false}, {"candidates", &e.Candidates, false}, {"last_try", &e.LastTry, false}}
}

// value appends v: a protocol struct (by value or pointer), or a value of
// the kinds encoding/json decodes into an interface (for error parameters
// relayed from elsewhere).
func (w *jsonWriter) value(v any) error {
	switch x := v.(type) {
	case nil:
		w.b = append(w.b, "null"...)
	case string:
		w.string(x)
	case bool:
		w.bool(x)
	case int:
		w.int(int64(x))
	case int64:
		w.int(x)
	case float64:
		return w.float(x)
	case []byte:
		w.bytes(x)
	case []string:
		w.strings(x)
	case []any:
		if x == nil {
			w.b = append(w.b, "null"...)
			return nil
		}
		w.b = append(w.b, '[')
		for i, e := range x {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			if err := w.value(e); err != nil {
				return err
			}
		}
		w.b = append(w.b, ']')
	case map[string]any:
		return w.anyMap(x)
	case struct{}:
		w.b = append(w.b, "{}"...)
	case []KeyInfo:
		return w.field(&x)
	case []Candidate:
		return w.field(&x)
	case jsonStruct:
		if reflectNil(x) {
			w.b = append(w.b, "null"...)
			return nil
		}
		return w.structValue(x)
	// Protocol structs passed by value.
	case varlinkReply:
		return w.structValue(&x)
	case varlinkCall2:
		return w.structValue(&x)
	case KeyInfo:
		return w.structValue(&x)
	case Candidate:
		return w.structValue(&x)
	case vlListKeysReply:
		return w.structValue(&x)
	case vlUnlockArgs:
		return w.structValue(&x)
	case vlLockArgs:
		return w.structValue(&x)
	case vlDecryptArgs:
		return w.structValue(&x)
	case vlDecryptReply:
		return w.structValue(&x)
	case vlDecryptMessageArgs:
		return w.structValue(&x)
	case vlDecryptMessageReply:
		return w.structValue(&x)
	case DaemonStatus:
		return w.structValue(&x)
	case vlGetInfoReply:
		return w.structValue(&x)
	case vlGetInterfaceDescriptionArgs:
		return w.structValue(&x)
	case vlGetInterfaceDescriptionReply:
		return w.structValue(&x)
	default:
		return fmt.Errorf("varlink: cannot encode a %T", v)
	}
	return nil
}

// reflectNil reports whether s is a nil pointer (a typed nil in the
// interface).
func reflectNil(s jsonStruct) bool {
	switch x := s.(type) {
	case *varlinkReply:
		return x == nil
	case *vlDecryptReply:
		return x == nil
	case *DaemonStatus:
		return x == nil
	}
	return false
}

func (w *jsonWriter) structValue(s jsonStruct) error {
	o := w.object()
	for _, f := range s.jsonFields() {
		if f.omitEmpty && emptyField(f.ptr) {
			continue
		}
		if err := o.field(f.name).field(f.ptr); err != nil {
			return err
		}
	}
	o.end()
	return nil
}

// emptyField reports whether encoding/json's omitempty leaves the field
// out.
func emptyField(p any) bool {
	switch x := p.(type) {
	case *string:
		return *x == ""
	case *bool:
		return !*x
	case *[]byte:
		return len(*x) == 0
	case *rawJSON:
		return len(*x) == 0
	}
	return false
}

// field appends the Go field p points to (see jsonField).
func (w *jsonWriter) field(p any) error {
	switch x := p.(type) {
	case *string:
		w.string(*x)
	case *bool:
		w.bool(*x)
	case *int:
		w.int(int64(*x))
	case *int64:
		w.int(*x)
	case *[]byte:
		w.bytes(*x)
	case *[]string:
		w.strings(*x)
	case *any:
		return w.value(*x)
	case *rawJSON:
		if *x == nil {
			w.b = append(w.b, "null"...)
		} else {
			w.b = append(w.b, *x...)
		}
	case *KeyInfo:
		return w.structValue(x)
	case *[][]byte:
		writeSlice(w, *x, func(w *jsonWriter, b *[]byte) { w.bytes(*b) })
	case *[]KeyInfo:
		writeSlice(w, *x, func(w *jsonWriter, k *KeyInfo) { w.structValue(k) })
	case *[]Candidate:
		writeSlice(w, *x, func(w *jsonWriter, c *Candidate) { w.structValue(c) })
	default:
		return fmt.Errorf("varlink: cannot encode a %T", p)
	}
	return nil
}

// writeSlice appends s with elem for each element, or null for nil.
func writeSlice[T any](w *jsonWriter, s []T, elem func(*jsonWriter, *T)) {
	if s == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '[')
	for i := range s {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		elem(w, &s[i])
	}
	w.b = append(w.b, ']')
}

// marshalJSON returns v's JSON encoding.
func marshalJSON(v any) ([]byte, error) {
	var w jsonWriter
	err := w.value(v)
	return w.b, err
}

// unmarshalJSON decodes the JSON text b into v, a pointer to a protocol
// struct or a map[string]any, as encoding/json would: a syntax error
// decodes nothing; a type mismatch is returned after the rest is decoded.
func unmarshalJSON(b []byte, v any) error {
	p, err := parseJSON(b)
	if err != nil {
		return err
	}
	defer wipeJSON(&p)
	return p.decode(v)
}

// decode decodes v into out, a pointer to a protocol struct or a
// map[string]any.
func (v *jsonValue) decode(out any) error {
	switch x := out.(type) {
	case jsonStruct:
		return v.decodeStruct(x)
	case *map[string]any:
		m, err := v.decodeMap()
		if m != nil || v.kind == jsonNull {
			*x = m
		}
		return err
	}
	return fmt.Errorf("varlink: cannot decode into a %T", out)
}

// decodeStruct decodes an object's members into the fields they name (the
// last of repeated members wins, as each overwrites the previous). A null
// leaves the fields alone; a non-object is a type error.
func (v *jsonValue) decodeStruct(s jsonStruct) error {
	switch v.kind {
	case jsonNull:
		return nil
	case jsonObject:
	default:
		return v.typeError("", "object")
	}
	fields := s.jsonFields()
	var first error
	for i := range v.members {
		m := &v.members[i]
		for _, f := range fields {
			if nameIs(m.name, f.name) {
				if err := m.value.decodeField(f.name, f.ptr); err != nil && first == nil {
					first = err
				}
				break
			}
		}
	}
	return first
}

// decodeField decodes v into the Go field p points to (see jsonField).
func (v *jsonValue) decodeField(name string, p any) error {
	switch x := p.(type) {
	case *string:
		return v.decodeString(name, x)
	case *bool:
		return v.decodeBool(name, x)
	case *int:
		return v.decodeIntInto(name, x)
	case *int64:
		return v.decodeInt(name, x)
	case *[]byte:
		Wipe(*x) // a repeated member: the previous value may be a secret
		return v.decodeBytes(name, x)
	case *[]string:
		return decodeSlice(v, name, x)
	case *rawJSON:
		*x = rawJSON(v.raw)
	case **jsonValue:
		*x = v
	case *KeyInfo:
		return v.decodeStruct(x)
	case *[][]byte:
		return decodeSlice(v, name, x)
	case *[]KeyInfo:
		return decodeSlice(v, name, x)
	case *[]Candidate:
		return decodeSlice(v, name, x)
	default:
		return fmt.Errorf("varlink: cannot decode into a %T", p)
	}
	return nil
}

// decodeSlice sets *dst to an array's elements; null sets it to nil.
func decodeSlice[T any](v *jsonValue, name string, dst *[]T) error {
	switch v.kind {
	case jsonNull:
		*dst = nil
		return nil
	case jsonArray:
	default:
		return v.typeError(name, "array")
	}
	out := make([]T, len(v.elems))
	var first error
	for i := range v.elems {
		var err error
		if s, ok := any(&out[i]).(jsonStruct); ok {
			err = v.elems[i].decodeStruct(s)
		} else {
			err = v.elems[i].decodeField(name, &out[i])
		}
		if err != nil && first == nil {
			first = err
		}
	}
	*dst = out
	return first
}
