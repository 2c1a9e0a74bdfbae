package core

import "fmt"

// The varlink messages' types on the JSON codec of json.go: each is
// written and read member by member, with the names, order and omitempty
// rules of its struct tags (the tags document the wire format and let the
// tests compare with encoding/json).

// rawJSON is the undecoded text of a JSON value, such as a call's
// parameters.
type rawJSON []byte

// value appends v. It knows the types of the protocol and the values
// encoding/json decodes into an interface (for error parameters relayed
// from elsewhere).
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
	case KeyInfo:
		w.keyInfo(&x)
	case []KeyInfo:
		writeSlice(w, x, (*jsonWriter).keyInfo)
	case Candidate:
		w.candidate(&x)
	case []Candidate:
		writeSlice(w, x, (*jsonWriter).candidate)
	case varlinkReply:
		return w.reply(&x)
	case *varlinkReply:
		if x == nil {
			return w.value(nil)
		}
		return w.reply(x)
	case varlinkCall2:
		o := w.object()
		o.field("method").string(x.Method)
		if err := o.field("parameters").value(x.Parameters); err != nil {
			return err
		}
		o.end()
	case vlListKeysReply:
		o := w.object()
		writeSlice(o.field("keys"), x.Keys, (*jsonWriter).keyInfo)
		if x.Problem != "" {
			o.field("problem").string(x.Problem)
		}
		o.end()
	case vlUnlockArgs:
		o := w.object()
		if x.Key != "" {
			o.field("key").string(x.Key)
		}
		o.field("secret").bytes(x.Secret)
		if x.Force {
			o.field("force").bool(true)
		}
		o.end()
	case vlLockArgs:
		o := w.object()
		if x.Key != "" {
			o.field("key").string(x.Key)
		}
		o.end()
	case vlDecryptArgs:
		o := w.object()
		writeSlice(o.field("pkesks"), x.PKESKs, func(w *jsonWriter, b *[]byte) { w.bytes(*b) })
		o.end()
	case vlDecryptReply:
		w.decryptReply(&x)
	case *vlDecryptReply:
		if x == nil {
			return w.value(nil)
		}
		w.decryptReply(x)
	case vlDecryptMessageArgs:
		o := w.object()
		o.field("message").bytes(x.Message)
		o.end()
	case vlDecryptMessageReply:
		o := w.object()
		o.field("plaintext").bytes(x.Plaintext)
		if x.FileName != "" {
			o.field("filename").string(x.FileName)
		}
		o.field("index").int(int64(x.Index))
		o.field("fingerprint").string(x.Fingerprint)
		o.field("source").string(x.Source)
		o.end()
	case DaemonStatus:
		w.status(&x)
	case *DaemonStatus:
		if x == nil {
			return w.value(nil)
		}
		w.status(x)
	case vlGetInfoReply:
		o := w.object()
		o.field("vendor").string(x.Vendor)
		o.field("product").string(x.Product)
		o.field("version").string(x.Version)
		o.field("url").string(x.URL)
		o.field("interfaces").strings(x.Interfaces)
		o.end()
	case vlGetInterfaceDescriptionArgs:
		o := w.object()
		o.field("interface").string(x.Interface)
		o.end()
	case vlGetInterfaceDescriptionReply:
		o := w.object()
		o.field("description").string(x.Description)
		o.end()
	default:
		return fmt.Errorf("varlink: cannot encode a %T", v)
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

func (w *jsonWriter) reply(r *varlinkReply) error {
	o := w.object()
	if err := o.field("parameters").value(r.Parameters); err != nil {
		return err
	}
	if r.Continues {
		o.field("continues").bool(true)
	}
	if r.Error != "" {
		o.field("error").string(r.Error)
	}
	o.end()
	return nil
}

func (w *jsonWriter) keyInfo(k *KeyInfo) {
	o := w.object()
	o.field("fingerprint").string(k.Fingerprint)
	o.field("keyid").string(k.KeyID)
	o.field("algorithm").string(k.Algorithm)
	o.field("capabilities").strings(k.Capabilities)
	o.field("source").string(k.Source)
	o.field("lock").string(k.Lock)
	o.field("locked").bool(k.Locked)
	o.field("available").bool(k.Available)
	if k.Reason != "" {
		o.field("reason").string(k.Reason)
	}
	o.field("tries_left").int(int64(k.TriesLeft))
	if k.PrimaryFpr != "" {
		o.field("primary").string(k.PrimaryFpr)
	}
	if k.UserID != "" {
		o.field("uid").string(k.UserID)
	}
	o.end()
}

func (w *jsonWriter) candidate(c *Candidate) {
	o := w.object()
	o.field("key").keyInfo(&c.Key)
	o.field("reason").string(c.Reason)
	o.end()
}

func (w *jsonWriter) decryptReply(r *vlDecryptReply) {
	o := w.object()
	o.field("index").int(int64(r.Index))
	o.field("fingerprint").string(r.Fingerprint)
	o.field("source").string(r.Source)
	o.field("algorithm").int(int64(r.Algorithm))
	o.field("session_key").bytes(r.SessionKey)
	o.end()
}

func (w *jsonWriter) status(s *DaemonStatus) {
	o := w.object()
	o.field("version").string(s.Version)
	o.field("pid").int(int64(s.PID))
	o.field("uptime_seconds").int(s.UptimeSeconds)
	o.field("keys").int(int64(s.Keys))
	o.field("unlocked").int(int64(s.Unlocked))
	o.field("connections").int(int64(s.Connections))
	o.field("cache_ttl_seconds").int(s.CacheTTLSeconds)
	o.field("key_provider").bool(s.KeyProvider)
	o.field("initrd").bool(s.Initrd)
	o.end()
}

// marshalJSON returns v's JSON encoding.
func marshalJSON(v any) ([]byte, error) {
	var w jsonWriter
	err := w.value(v)
	return w.b, err
}

// unmarshalJSON decodes the JSON text b into v, a pointer to one of the
// protocol's types, as encoding/json would: a syntax error decodes
// nothing; a type mismatch is returned after the rest is decoded.
func unmarshalJSON(b []byte, v any) error {
	p, err := parseJSON(b)
	if err != nil {
		return err
	}
	defer wipeJSON(&p)
	return p.decode(v)
}

// decode decodes v into out, a pointer to one of the protocol's types.
func (v *jsonValue) decode(out any) error {
	switch x := out.(type) {
	case *varlinkCall:
		return v.fields("varlinkCall", []string{"method", "parameters", "oneway", "more", "upgrade"}, func(f string, m *jsonValue) error {
			switch f {
			case "method":
				return m.decodeString(f, &x.Method)
			case "parameters":
				x.Parameters = m.raw
			case "oneway":
				return m.decodeBool(f, &x.Oneway)
			case "more":
				return m.decodeBool(f, &x.More)
			case "upgrade":
				return m.decodeBool(f, &x.Upgrade)
			}
			return nil
		})
	case *vlGetInterfaceDescriptionArgs:
		return v.fields("vlGetInterfaceDescriptionArgs", []string{"interface"}, func(f string, m *jsonValue) error {
			return m.decodeString(f, &x.Interface)
		})
	case *vlUnlockArgs:
		return v.fields("vlUnlockArgs", []string{"key", "secret", "force"}, func(f string, m *jsonValue) error {
			switch f {
			case "key":
				return m.decodeString(f, &x.Key)
			case "secret":
				Wipe(x.Secret) // a repeated member
				return m.decodeBytes(f, &x.Secret)
			}
			return m.decodeBool(f, &x.Force)
		})
	case *vlLockArgs:
		return v.fields("vlLockArgs", []string{"key"}, func(f string, m *jsonValue) error {
			return m.decodeString(f, &x.Key)
		})
	case *vlDecryptArgs:
		return v.fields("vlDecryptArgs", []string{"pkesks"}, func(f string, m *jsonValue) error {
			return decodeSlice(m, f, "[][]uint8", &x.PKESKs, func(e *jsonValue, b *[]byte) error { return e.decodeBytes(f, b) })
		})
	case *vlDecryptMessageArgs:
		return v.fields("vlDecryptMessageArgs", []string{"message"}, func(f string, m *jsonValue) error {
			return m.decodeBytes(f, &x.Message)
		})
	case *vlDecryptReply:
		return v.fields("vlDecryptReply", []string{"index", "fingerprint", "source", "algorithm", "session_key"}, func(f string, m *jsonValue) error {
			switch f {
			case "index":
				return m.decodeIntInto(f, &x.Index)
			case "fingerprint":
				return m.decodeString(f, &x.Fingerprint)
			case "source":
				return m.decodeString(f, &x.Source)
			case "algorithm":
				return m.decodeIntInto(f, &x.Algorithm)
			}
			Wipe(x.SessionKey)
			return m.decodeBytes(f, &x.SessionKey)
		})
	case *vlDecryptMessageReply:
		return v.fields("vlDecryptMessageReply", []string{"plaintext", "filename", "index", "fingerprint", "source"}, func(f string, m *jsonValue) error {
			switch f {
			case "plaintext":
				Wipe(x.Plaintext)
				return m.decodeBytes(f, &x.Plaintext)
			case "filename":
				return m.decodeString(f, &x.FileName)
			case "index":
				return m.decodeIntInto(f, &x.Index)
			case "fingerprint":
				return m.decodeString(f, &x.Fingerprint)
			}
			return m.decodeString(f, &x.Source)
		})
	case *vlListKeysReply:
		return v.fields("vlListKeysReply", []string{"keys", "problem"}, func(f string, m *jsonValue) error {
			if f == "problem" {
				return m.decodeString(f, &x.Problem)
			}
			return decodeSlice(m, f, "[]core.KeyInfo", &x.Keys, (*jsonValue).decodeKeyInfo)
		})
	case *DaemonStatus:
		return v.fields("DaemonStatus", []string{"version", "pid", "uptime_seconds", "keys", "unlocked", "connections", "cache_ttl_seconds", "key_provider", "initrd"}, func(f string, m *jsonValue) error {
			switch f {
			case "version":
				return m.decodeString(f, &x.Version)
			case "pid":
				return m.decodeIntInto(f, &x.PID)
			case "uptime_seconds":
				return m.decodeInt(f, &x.UptimeSeconds)
			case "keys":
				return m.decodeIntInto(f, &x.Keys)
			case "unlocked":
				return m.decodeIntInto(f, &x.Unlocked)
			case "connections":
				return m.decodeIntInto(f, &x.Connections)
			case "cache_ttl_seconds":
				return m.decodeInt(f, &x.CacheTTLSeconds)
			case "key_provider":
				return m.decodeBool(f, &x.KeyProvider)
			}
			return m.decodeBool(f, &x.Initrd)
		})
	case *vlGetInfoReply:
		return v.fields("vlGetInfoReply", []string{"vendor", "product", "version", "url", "interfaces"}, func(f string, m *jsonValue) error {
			switch f {
			case "vendor":
				return m.decodeString(f, &x.Vendor)
			case "product":
				return m.decodeString(f, &x.Product)
			case "version":
				return m.decodeString(f, &x.Version)
			case "url":
				return m.decodeString(f, &x.URL)
			}
			return m.decodeStrings(f, &x.Interfaces)
		})
	case *vlGetInterfaceDescriptionReply:
		return v.fields("vlGetInterfaceDescriptionReply", []string{"description"}, func(f string, m *jsonValue) error {
			return m.decodeString(f, &x.Description)
		})
	case *wireError:
		return v.fields("wireError", []string{"message", "parameter", "recipients", "candidates", "last_try"}, func(f string, m *jsonValue) error {
			switch f {
			case "message":
				return m.decodeString(f, &x.Message)
			case "parameter":
				return m.decodeString(f, &x.Parameter)
			case "recipients":
				return m.decodeStrings(f, &x.Recipients)
			case "candidates":
				return decodeSlice(m, f, "[]core.Candidate", &x.Candidates, (*jsonValue).decodeCandidate)
			}
			return m.decodeBool(f, &x.LastTry)
		})
	case *map[string]any:
		m, err := v.decodeMap()
		if m != nil || v.kind == jsonNull {
			*x = m
		}
		return err
	}
	return fmt.Errorf("varlink: cannot decode into a %T", out)
}

func (v *jsonValue) decodeKeyInfo(k *KeyInfo) error {
	return v.fields("core.KeyInfo", []string{"fingerprint", "keyid", "algorithm", "capabilities", "source", "lock", "locked", "available", "reason", "tries_left", "primary", "uid"}, func(f string, m *jsonValue) error {
		switch f {
		case "fingerprint":
			return m.decodeString(f, &k.Fingerprint)
		case "keyid":
			return m.decodeString(f, &k.KeyID)
		case "algorithm":
			return m.decodeString(f, &k.Algorithm)
		case "capabilities":
			return m.decodeStrings(f, &k.Capabilities)
		case "source":
			return m.decodeString(f, &k.Source)
		case "lock":
			return m.decodeString(f, &k.Lock)
		case "locked":
			return m.decodeBool(f, &k.Locked)
		case "available":
			return m.decodeBool(f, &k.Available)
		case "reason":
			return m.decodeString(f, &k.Reason)
		case "tries_left":
			return m.decodeIntInto(f, &k.TriesLeft)
		case "primary":
			return m.decodeString(f, &k.PrimaryFpr)
		}
		return m.decodeString(f, &k.UserID)
	})
}

func (v *jsonValue) decodeCandidate(c *Candidate) error {
	return v.fields("core.Candidate", []string{"key", "reason"}, func(f string, m *jsonValue) error {
		if f == "key" {
			return m.decodeKeyInfo(&c.Key)
		}
		return m.decodeString(f, &c.Reason)
	})
}
