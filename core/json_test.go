package core

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// The varlink codec (json.go, varlink_codec.go) is held to encoding/json:
// every type of the protocol must read and write as encoding/json reads
// and writes it.

// varlinkReplyIn is a reply as encoding/json reads it, for the tests.
type varlinkReplyIn struct {
	Parameters rawJSON `json:"parameters"`
	Continues  bool    `json:"continues"`
	Error      string  `json:"error"`
}

// MarshalJSON and UnmarshalJSON make encoding/json treat rawJSON as it
// treats json.RawMessage, so that the tests can decode the protocol's
// types with it.
func (m rawJSON) MarshalJSON() ([]byte, error) { return json.RawMessage(m).MarshalJSON() }

func (m *rawJSON) UnmarshalJSON(b []byte) error {
	*m = append((*m)[:0], b...)
	return nil
}

// jsonTargets makes a fresh value of every type the codec decodes.
var jsonTargets = []func() any{
	func() any { return new(varlinkCall) },
	func() any { return new(vlGetInterfaceDescriptionArgs) },
	func() any { return new(vlUnlockArgs) },
	func() any { return new(vlLockArgs) },
	func() any { return new(vlDecryptArgs) },
	func() any { return new(vlDecryptMessageArgs) },
	func() any { return new(vlDecryptReply) },
	func() any { return new(vlDecryptMessageReply) },
	func() any { return new(vlListKeysReply) },
	func() any { return new(DaemonStatus) },
	func() any { return new(vlGetInfoReply) },
	func() any { return new(vlGetInterfaceDescriptionReply) },
	func() any { return new(wireError) },
	func() any { return new(map[string]any) },
}

// checkDecodeLikeJSON decodes msg into every target with both codecs and
// fails when they disagree on success or on the values decoded (a type
// mismatch leaves the rest decoded in both).
func checkDecodeLikeJSON(t *testing.T, msg []byte) {
	t.Helper()
	for _, mk := range jsonTargets {
		ours, ref := mk(), mk()
		errOurs := unmarshalJSON(msg, ours)
		errRef := json.Unmarshal(msg, ref)
		if (errOurs == nil) != (errRef == nil) {
			t.Fatalf("%q into %T: error %v, encoding/json %v", msg, ours, errOurs, errRef)
		}
		if !reflect.DeepEqual(ours, ref) {
			t.Fatalf("%q into %T:\n got %#v\nwant %#v (errors %v, %v)", msg, ours, ours, ref, errOurs, errRef)
		}
	}
}

var jsonDecodeCases = []string{
	`{"method":"io.keyunlock.Keystore.Unlock","parameters":{"key":"ABCD","secret":"cGFzcw==","force":true}}`,
	`{"METHOD":"x","Parameters":[1,2,{"a":null}],"oneway":true,"more":false,"upgrade":null}`,
	`{"method":"x","method":"y","parameters":null}`,
	`{"method":5}`,
	`{"method":"x","oneway":"yes","more":true}`,
	` { "parameters" : { "pkesks" : [ "" , "AQ==" ] } , "method" : "io.keyunlock.Keystore.Decrypt" } `,
	`{"pkesks":["AQ==",null,"!!","AQ=="]}`,
	`{"pkesks":[1,"AQ=="]}`,
	`{"pkesks":42}`,
	`{"pkesks":null}`,
	`{"pkesks":[]}`,
	`{"secret":"cGFz\ncw==","key":"\u0041\ud83d\ude00\ud800x\udc00\u00e9"}`,
	`{"secret":"cGFzcw","key":"a\"b\\c\/d\b\f\n\r\t"}`,
	`{"ſecret":"AA==","\u212aey":"k"}`,
	`{"index":1,"algorithm":9.0,"fingerprint":"F","source":"s","session_key":"AAAA"}`,
	`{"index":-0,"algorithm":1e2,"session_key":null}`,
	`{"index":9223372036854775807,"algorithm":-9223372036854775809}`,
	`{"pid":12,"uptime_seconds":3000000000,"keys":2,"unlocked":1,"connections":0,"cache_ttl_seconds":-1,"key_provider":true,"initrd":false,"version":"v1"}`,
	`{"keys":[{"fingerprint":"F","keyid":"K","algorithm":"cv25519","capabilities":["encrypt"],"source":"file /k","lock":"passphrase","locked":true,"available":true,"reason":"","tries_left":-1,"primary":"P","uid":"Alice <a@example.org>"}],"problem":"card gone"}`,
	`{"keys":[{"capabilities":null,"tries_left":"3"},5],"problem":null}`,
	`{"message":"no key","recipients":["A","B"],"candidates":[{"key":{"fingerprint":"F"},"reason":"locked"}],"last_try":true,"parameter":"p"}`,
	`{"message":"x","candidates":{"key":1}}`,
	`{"a":1.5e300,"b":[true,false,null,"s",{"c":[]}],"d":{},"e":-0.0,"a":2}`,
	`{"big":1e400}`,
	`{"vendor":"keyunlock","product":"p","version":"v","url":"u","interfaces":["a","b"]}`,
	`{"description":"d\u2028"}`,
	`{"plaintext":"AAEC","filename":"f.txt","index":0,"fingerprint":"F","source":"S"}`,
	`{"interface":"org.varlink.service"}`,
	`[]`, `null`, `"s"`, `12`, `true`, `{}`, ``, ` `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `{} {}`, `{}x`,
	`{"a":"\x01"}`, `{"a":"\u12"}`, `{"a":"\q"}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":tru}`, `{"a":nul}`,
	"{\"a\":\"\xff\xfe\xc3(\"}", "{\"s\xffx\":1}",
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func TestJSONDecodeLikeEncodingJSON(t *testing.T) {
	for _, c := range jsonDecodeCases {
		checkDecodeLikeJSON(t, []byte(c))
	}
}

// FuzzJSONDecode holds the codec's decoding to encoding/json.
func FuzzJSONDecode(f *testing.F) {
	for _, c := range jsonDecodeCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkDecodeLikeJSON(t, msg)
	})
}

// refEncode is the encoding writeMessage had with encoding/json: no HTML
// escapes, NUL-terminated.
func refEncode(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[len(b)-1] = 0
	return b
}

func checkEncodeLikeJSON(t *testing.T, v any) {
	t.Helper()
	var buf bytes.Buffer
	if err := writeMessage(&buf, v); err != nil {
		t.Fatalf("%#v: %v", v, err)
	}
	if want := refEncode(t, v); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("%#v:\n got %q\nwant %q", v, buf.Bytes(), want)
	}
}

func TestJSONEncodeLikeEncodingJSON(t *testing.T) {
	key := KeyInfo{Fingerprint: "0123", KeyID: "4567", Algorithm: "rsa3072", Capabilities: []string{"encrypt", "sign"},
		Source: "card D276 (Yubico <YubiKey> & co)", Lock: "pin", Locked: true, Available: true, Reason: "r\n", TriesLeft: 3,
		PrimaryFpr: "89AB", UserID: "Zoë \"z\" <z@example.org>\u2029"}
	cand := []Candidate{{Key: key, Reason: "locked"}, {Key: KeyInfo{Source: "card x"}, Reason: "unreadable"}}
	weird := "\x00\x01\x1f\x7f\b\f\t<>&\xff\xc3(\u2028é😀\\/"
	for _, v := range []any{
		varlinkReply{Parameters: nil},
		&varlinkReply{Parameters: struct{}{}, Continues: true, Error: ErrNameFailed},
		&varlinkReply{Parameters: map[string]any{"message": weird, "last_try": true, "candidates": cand, "recipients": []string{"A"},
			"nums": []any{1.5, 1e21, 1e-7, 123456789.0, -0.0, 0.000001, 5e-324, nil, map[string]any{}}, "n": 42, "z": []string(nil), "m": map[string]any(nil)},
			Error: ErrNameNoKey},
		varlinkReply{Parameters: vlListKeysReply{Keys: []KeyInfo{key, {}}, Problem: "p"}},
		varlinkReply{Parameters: vlListKeysReply{}},
		varlinkReply{Parameters: &vlDecryptReply{Index: 2, Fingerprint: weird, Source: "s", Algorithm: 9, SessionKey: []byte{1, 2, 3}}},
		varlinkReply{Parameters: vlDecryptReply{}},
		varlinkReply{Parameters: vlDecryptMessageReply{Plaintext: []byte{}, FileName: "f", Index: 1, Fingerprint: "F", Source: "S"}},
		varlinkReply{Parameters: vlDecryptMessageReply{}},
		varlinkReply{Parameters: DaemonStatus{Version: "v", PID: 1, UptimeSeconds: 1 << 40, Keys: 2, Unlocked: 1, Connections: 3, CacheTTLSeconds: -1, KeyProvider: true, Initrd: true}},
		varlinkReply{Parameters: &DaemonStatus{}},
		varlinkReply{Parameters: vlGetInfoReply{Vendor: "a", Product: "b", Version: "c", URL: "https://x/y?a=1&b=2", Interfaces: []string{"i"}}},
		varlinkReply{Parameters: vlGetInfoReply{}},
		varlinkReply{Parameters: vlGetInterfaceDescriptionReply{Description: keystoreDescription}},
		varlinkReply{Parameters: cand},
		varlinkCall2{Method: "m", Parameters: vlUnlockArgs{Key: "k", Secret: []byte("pw"), Force: true}},
		varlinkCall2{Method: "m", Parameters: vlUnlockArgs{}},
		varlinkCall2{Method: "m", Parameters: vlLockArgs{Key: weird}},
		varlinkCall2{Method: "m", Parameters: vlLockArgs{}},
		varlinkCall2{Method: "m", Parameters: vlDecryptArgs{PKESKs: [][]byte{{1}, nil, {}}}},
		varlinkCall2{Method: "m", Parameters: vlDecryptArgs{}},
		varlinkCall2{Method: "m", Parameters: vlDecryptMessageArgs{Message: bytes.Repeat([]byte{0xfe}, 100)}},
		varlinkCall2{Method: "m", Parameters: vlGetInterfaceDescriptionArgs{Interface: "i"}},
		varlinkCall2{Method: "m", Parameters: struct{}{}},
	} {
		checkEncodeLikeJSON(t, v)
	}
	var buf bytes.Buffer
	if err := writeMessage(&buf, varlinkReply{Parameters: map[string]any{"x": math.NaN()}}); err == nil {
		t.Fatal("NaN encoded")
	}
	if err := writeMessage(&buf, varlinkReply{Parameters: 1 + 2i}); err == nil {
		t.Fatal("a type outside the protocol encoded")
	}
}

// FuzzJSONEncode holds the codec's string and number output to
// encoding/json's, and checks that it reads back what it wrote.
func FuzzJSONEncode(f *testing.F) {
	f.Add("plain", 1.5, int64(-3))
	f.Add("\x00\u2028\xff<&>\"\\é", 1e21, int64(1)<<62)
	f.Add("", 1e-7, int64(0))
	f.Fuzz(func(t *testing.T, s string, x float64, n int64) {
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return
		}
		v := map[string]any{s: s, "x": x, "n": n, "l": []any{s, x}}
		checkEncodeLikeJSON(t, varlinkReply{Parameters: v, Error: s})
		b, _ := marshalJSON(v)
		checkDecodeLikeJSON(t, b)
	})
}
