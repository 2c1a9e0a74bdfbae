package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// encodeJSON is writeMessage into a buffer: the reference encoding.
func encodeJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeMessage(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAppendDecryptCallMatchesJSON(t *testing.T) {
	for _, bodies := range [][][]byte{
		nil,
		{},
		{{}},
		{{3, 0x12, 0x34}},
		{bytes.Repeat([]byte{0xff}, 300), {1}, {0, 1, 2, 3, 4}},
	} {
		want := encodeJSON(t, varlinkCall2{Method: decryptMethod, Parameters: vlDecryptArgs{PKESKs: bodies}})
		got := appendDecryptCall([]byte("junk"), bodies)
		if !bytes.Equal(got[4:], want) {
			t.Errorf("%d PKESKs:\n got %q\nwant %q", len(bodies), got[4:], want)
		}
	}
}

func TestAppendDecryptReplyMatchesJSON(t *testing.T) {
	plain := []vlDecryptReply{
		{},
		{Index: 3, Fingerprint: "0123ABCD", Source: "file /etc/keyunlock/keys.d/a key.pgp", Algorithm: 9, SessionKey: bytes.Repeat([]byte{0xa5}, 32)},
		{Index: -1, Algorithm: 0, SessionKey: []byte{}},
		{Source: "card D2760001240103040006123456780000 (Yubico YubiKey 00 00)", SessionKey: []byte{1}},
	}
	for _, r := range plain {
		want := encodeJSON(t, &varlinkReply{Parameters: &r})
		got, ok := appendDecryptReply([]byte("junk"), &r)
		if !ok {
			t.Errorf("%+v: not encoded", r)
			continue
		}
		if !bytes.Equal(got[4:], want) {
			t.Errorf("\n got %q\nwant %q", got[4:], want)
		}
	}
	// Strings that encoding/json escapes are left to it.
	for _, src := range []string{`file /a"b`, `file C:\x`, "file /tmp/é", "file \x01", "file <&>", "file \x7f"} {
		r := vlDecryptReply{Source: src}
		if out, ok := appendDecryptReply(nil, &r); ok {
			if want := encodeJSON(t, &varlinkReply{Parameters: &r}); !bytes.Equal(out, want) {
				t.Errorf("source %q encoded as %q, encoding/json gives %q", src, out, want)
			}
		}
	}
}

func TestParseDecryptCall(t *testing.T) {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	one := []byte{3, 1, 2, 3}
	two := bytes.Repeat([]byte{6}, 40)
	accept := map[string][][]byte{
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["` + b64(one) + `"]}}`:                                                 {one},
		" {\n\t\"parameters\" : { \"pkesks\" : [ \"" + b64(one) + "\" , \"" + b64(two) + "\" ] } , \"method\" : \"" + decryptMethod + "\" } \r\n": {one, two},
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":[""]}}`:                                                                 {{}},
	}
	for in, want := range accept {
		got, ok := parseDecryptCall([]byte(in))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v %v, want %v", in, got, ok, want)
		}
	}
	reject := []string{
		``,
		`{}`,
		`{"method":"io.keyunlock.Keystore.Decrypt"}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":[]}}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":null}}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":null}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="]},"oneway":true}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="]},"more":false}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="],"x":1}}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="]},"method":"io.keyunlock.Keystore.Decrypt"}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="],"pkesks":["AQ=="]}}`,
		`{"Method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="]}}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"PKESKs":["AQ=="]}}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ"]}}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["A\u0051=="]}}`,
		`{"method":"io.keyunlock.Keystore.Decryp\u0074","parameters":{"pkesks":["AQ=="]}}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="]}}x`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="]}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ==",]}}`,
		`{"method":"io.keyunlock.Keystore.Lock","parameters":{"pkesks":["AQ=="]}}`,
		`[{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="]}}]`,
		// Raw line breaks, which the base64 decoder would skip, a control
		// byte, a non-ASCII byte and an escape inside a base64 string.
		"{\"method\":\"io.keyunlock.Keystore.Decrypt\",\"parameters\":{\"pkesks\":[\"AQ\n==\"]}}",
		"{\"method\":\"io.keyunlock.Keystore.Decrypt\",\"parameters\":{\"pkesks\":[\"AQ\r==\"]}}",
		"{\"method\":\"io.keyunlock.Keystore.Decrypt\",\"parameters\":{\"pkesks\":[\"AQ\x01==\"]}}",
		"{\"method\":\"io.keyunlock.Keystore.Decrypt\",\"parameters\":{\"pkesks\":[\"AQ\xc3\xa9==\"]}}",
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ\/=="]}}`,
	}
	for _, in := range reject {
		if got, ok := parseDecryptCall([]byte(in)); ok {
			t.Errorf("%q accepted as %v", in, got)
		}
	}
}

func TestParseDecryptReply(t *testing.T) {
	r := vlDecryptReply{Index: 2, Fingerprint: "AB12", Source: "file /k.pgp", Algorithm: 7, SessionKey: []byte{9, 8, 7}}
	msg, _ := appendDecryptReply(nil, &r)
	var got vlDecryptReply
	if !parseDecryptReply(msg[:len(msg)-1], &got) || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: %+v", got)
	}
	for _, in := range []string{
		`{"parameters":{"index":2,"fingerprint":"AB","source":"s","algorithm":7}}`,
		`{"parameters":{"index":2,"fingerprint":"AB","source":"s","algorithm":7,"session_key":"AQ==","x":1}}`,
		`{"parameters":{"index":2.0,"fingerprint":"AB","source":"s","algorithm":7,"session_key":"AQ=="}}`,
		`{"parameters":{"index":02,"fingerprint":"AB","source":"s","algorithm":7,"session_key":"AQ=="}}`,
		`{"parameters":{"index":1e1,"fingerprint":"AB","source":"s","algorithm":7,"session_key":"AQ=="}}`,
		`{"parameters":{"index":2,"fingerprint":"AB","source":"s","algorithm":7,"session_key":null}}`,
		"{\"parameters\":{\"index\":2,\"fingerprint\":\"AB\",\"source\":\"s\",\"algorithm\":7,\"session_key\":\"AQ\n==\"}}",
		`{"parameters":{"index":2,"fingerprint":"A\"B","source":"s","algorithm":7,"session_key":"AQ=="}}`,
		`{"parameters":{"index":-,"fingerprint":"AB","source":"s","algorithm":7,"session_key":"AQ=="}}`,
		`{"parameters":{"index":2,"fingerprint":"AB","source":"s","algorithm":7,"session_key":"AQ=="},"continues":true}`,
		`{"parameters":{"message":"no"},"error":"io.keyunlock.Keystore.NoKey"}`,
		`{"error":"io.keyunlock.Keystore.NoKey","parameters":{"index":2,"fingerprint":"AB","source":"s","algorithm":7,"session_key":"AQ=="}}`,
	} {
		if parseDecryptReply([]byte(in), &got) {
			t.Errorf("%q accepted", in)
		}
	}
}

// fastTestServer is a Server over a keystore with one unprotected key, and
// a Decrypt call that it can answer.
func fastTestServer(t testing.TB) (*Server, []byte) {
	e := testEntity(t, "fast", false)
	s := &Server{Service: NewKeystore(backendOf(keyOf(t, e, "file fast.pgp"))), Logger: log.New(io.Discard, "", 0)}
	s.init()
	msg := encryptTo(t, []byte("hello"), nil, e)
	p := pkesksOf(t, msg)[0]
	return s, appendDecryptCall(nil, [][]byte{p.Body})
}

// checkFastCall holds parseDecryptCall to encoding/json: what it accepts,
// encoding/json reads as the same plain Decrypt call, and the server's
// reply is the one it gives without the fast path.
func checkFastCall(t *testing.T, s *Server, msg []byte) {
	pkesks, ok := parseDecryptCall(msg)
	if !ok {
		return
	}
	var call varlinkCall
	if err := json.Unmarshal(msg, &call); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", msg, err)
	}
	var args vlDecryptArgs
	if err := json.Unmarshal(call.Parameters, &args); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json refuses its parameters: %v", msg, err)
	}
	if call.Method != decryptMethod || call.Oneway || call.More || call.Upgrade || !reflect.DeepEqual(args.PKESKs, pkesks) {
		t.Fatalf("%q: fast path read %v, encoding/json %+v %v", msg, pkesks, call, args.PKESKs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fast, _ := s.handle(ctx, PeerCred{}, msg)
	slow, _ := s.handleJSON(ctx, PeerCred{}, msg)
	a, b := encodeJSON(t, fast), encodeJSON(t, slow)
	if !bytes.Equal(a, b) {
		t.Fatalf("%q: fast reply %q, encoding/json path %q", msg, a, b)
	}
}

func TestFastDecryptCallSameReply(t *testing.T) {
	s, call := fastTestServer(t)
	checkFastCall(t, s, call[:len(call)-1])
	rep, _ := s.handle(context.Background(), PeerCred{}, call[:len(call)-1])
	if rep.Error != "" {
		t.Fatalf("Decrypt failed: %s %v", rep.Error, rep.Parameters)
	}
	// A PKESK that does not parse takes the same error either way.
	bad := appendDecryptCall(nil, [][]byte{{3, 1}})
	checkFastCall(t, s, bad[:len(bad)-1])
}

// FuzzFastDecryptCall checks the server's Decrypt fast path against
// encoding/json on arbitrary calls.
func FuzzFastDecryptCall(f *testing.F) {
	s, call := fastTestServer(f)
	f.Add(call[:len(call)-1])
	f.Add([]byte(`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AwAAAAAAAAAAEg==","AQ=="]}}`))
	f.Add([]byte(` { "parameters" : { "pkesks" : [ "" ] } , "method" : "io.keyunlock.Keystore.Decrypt" } `))
	f.Add([]byte(`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AQ=="]},"oneway":true}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkFastCall(t, s, msg)
	})
}

// FuzzFastDecryptReply checks the client's Decrypt reply fast path against
// encoding/json on arbitrary replies.
func FuzzFastDecryptReply(f *testing.F) {
	r := vlDecryptReply{Index: 1, Fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567", Source: "file /etc/k.pgp", Algorithm: 9, SessionKey: bytes.Repeat([]byte{7}, 32)}
	msg, _ := appendDecryptReply(nil, &r)
	f.Add(msg[:len(msg)-1])
	f.Add([]byte(`{"parameters":{"session_key":"","algorithm":-0,"source":"","fingerprint":"","index":0}}`))
	f.Add([]byte(`{"parameters":{"message":"no key"},"error":"io.keyunlock.Keystore.NoKey"}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var fast vlDecryptReply
		if !parseDecryptReply(msg, &fast) {
			return
		}
		var rep varlinkReplyIn
		if err := json.Unmarshal(msg, &rep); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", msg, err)
		}
		if rep.Error != "" || rep.Continues {
			t.Fatalf("fast path accepted %q as a plain reply", msg)
		}
		var slow vlDecryptReply
		dec := json.NewDecoder(bytes.NewReader(rep.Parameters))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses its parameters: %v", msg, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast path read %+v, encoding/json %+v", msg, fast, slow)
		}
		if strings.Contains(string(msg), `\`) {
			t.Fatalf("fast path accepted an escape in %q", msg)
		}
	})
}

// writeCounter records each Write.
type writeCounter struct{ writes [][]byte }

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestReplyOneWrite checks that a reply, Decrypt's fast encoding or
// encoding/json's, leaves in a single write with its terminator, and that
// the reused buffer is wiped after it.
func TestReplyOneWrite(t *testing.T) {
	sc := &serverConn{s: &Server{Logger: log.New(io.Discard, "", 0)}}
	for _, rep := range []*varlinkReply{
		{Parameters: &vlDecryptReply{Index: 1, Fingerprint: "AB", Source: "file /k", Algorithm: 9, SessionKey: []byte{1, 2, 3}}},
		{Parameters: &vlDecryptReply{Source: "file /é", SessionKey: []byte{1}}},
		{Parameters: map[string]any{"message": "no"}, Error: ErrNameNoKey},
	} {
		wc := &writeCounter{}
		if err := sc.writeReply(wc, rep); err != nil {
			t.Fatal(err)
		}
		want := encodeJSON(t, rep)
		if len(wc.writes) != 1 || !bytes.Equal(wc.writes[0], want) {
			t.Errorf("writes %q, want one write %q", wc.writes, want)
		}
		if b := sc.wbuf[:cap(sc.wbuf)]; len(b) > 0 && !bytes.Equal(b, make([]byte, len(b))) {
			t.Errorf("reply buffer not wiped: %q", b)
		}
	}
}

// TestClientDecryptReplyFallback has the client read Decrypt replies that
// the fast path leaves to encoding/json: members in another order with an
// escaped string, an unknown member, and an error.
func TestClientDecryptReplyFallback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fake.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	replies := []string{
		`{"parameters":{"session_key":"AQID","source":"file /k\u00e9y","algorithm":9,"fingerprint":"AB","index":0}}`,
		`{"parameters":{"index":0,"fingerprint":"AB","source":"s","algorithm":7,"session_key":"AQID","extra":true}}`,
		`{"parameters":{"message":"no key can decrypt"},"error":"io.keyunlock.Keystore.Failed"}`,
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for _, rep := range replies {
			if _, err := readMessage(r, 1<<20); err != nil {
				return
			}
			c.Write(append([]byte(rep), 0))
		}
	}()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := &PKESK{Body: []byte{3}}
	for i, want := range []Result{
		{Fingerprint: "AB", Source: "file /kéy", SessionKey: SessionKey{Cipher: 9, Key: []byte{1, 2, 3}}},
		{Fingerprint: "AB", Source: "s", SessionKey: SessionKey{Cipher: 7, Key: []byte{1, 2, 3}}},
	} {
		res, err := c.DecryptPKESKs(context.Background(), []*PKESK{p})
		if err != nil || !reflect.DeepEqual(*res, want) {
			t.Fatalf("reply %d: %+v, %v; want %+v", i, res, err, want)
		}
	}
	if _, err := c.DecryptPKESKs(context.Background(), []*PKESK{p}); err == nil || !strings.Contains(err.Error(), "no key can decrypt") {
		t.Fatalf("error reply: %v", err)
	}
}

// BenchmarkFastCodecs measures the hand-written codecs of the Decrypt call
// and reply for one X25519 PKESK, per round trip: the client encodes the
// call and parses the reply, the server parses the call and encodes the
// reply.
func BenchmarkFastCodecs(b *testing.B) {
	body := make([]byte, 90)
	for i := range body {
		body[i] = byte(i * 7)
	}
	rep := &vlDecryptReply{Index: 0, Fingerprint: strings.Repeat("AB", 32), Source: "file /etc/keyunlock/keys.d/a-long-key-file-name.pgp",
		Algorithm: 9, SessionKey: make([]byte, 32)}
	var call, reply []byte
	b.ReportAllocs()
	for b.Loop() {
		call = appendDecryptCall(call[:0], [][]byte{body})
		bodies, ok := parseDecryptCall(call[:len(call)-1])
		if !ok || len(bodies) != 1 {
			b.Fatal("call not parsed")
		}
		reply, _ = appendDecryptReply(reply[:0], rep)
		var got vlDecryptReply
		if !parseDecryptReply(reply[:len(reply)-1], &got) {
			b.Fatal("reply not parsed")
		}
	}
}
