package core

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/keyunlock/keyunlock/internal/pgp"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// testKeyService is a Service over one real go-crypto key pair whose
// private key is "locked" behind the passphrase "secret". It stands in for
// the Keystore in protocol tests; daemon tests over real backends live in
// cmd/keyunlock.
type testKeyService struct {
	ent *openpgp.Entity

	mu      sync.Mutex
	locked  bool
	unlocks int
}

func newTestKeyService(t testing.TB) *testKeyService {
	ent, err := openpgp.NewEntity("Test", "", "test@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return &testKeyService{ent: ent, locked: true}
}

func (s *testKeyService) sub() *openpgp.Subkey { return &s.ent.Subkeys[0] }

func (s *testKeyService) info() KeyInfo {
	sk := s.sub()
	s.mu.Lock()
	defer s.mu.Unlock()
	return KeyInfo{Fingerprint: fmt.Sprintf("%X", sk.PublicKey.Fingerprint), KeyID: fmt.Sprintf("%016X", sk.PublicKey.KeyId),
		Algorithm: "cv25519", Capabilities: []string{"encrypt"}, Source: "file test.key", Lock: "password",
		Locked: s.locked, Available: true, TriesLeft: -1}
}

func (s *testKeyService) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	return []KeyInfo{s.info()}, nil
}

func (s *testKeyService) Unlock(ctx context.Context, sel string, secret []byte, opts UnlockOptions) error {
	if sel != "" && !strings.EqualFold(sel, s.info().Fingerprint) && !strings.EqualFold(sel, s.info().KeyID) {
		return fmt.Errorf("no key %s: run 'keyunlock list' to see the keys", sel)
	}
	if string(secret) != "secret" {
		return fmt.Errorf("key %s (file test.key): %w", s.info().Fingerprint, ErrBadSecret)
	}
	s.mu.Lock()
	s.locked = false
	s.unlocks++
	s.mu.Unlock()
	return nil
}

func (s *testKeyService) Lock(ctx context.Context, sel string) error {
	s.mu.Lock()
	s.locked = true
	s.mu.Unlock()
	return nil
}

func (s *testKeyService) DecryptPKESKs(ctx context.Context, pkesks []*PKESK) (*Result, error) {
	info := s.info()
	for i, p := range pkesks {
		if !p.Matches(s.sub().PublicKey.Fingerprint, s.sub().PublicKey.KeyId) {
			continue
		}
		if info.Locked {
			return nil, &LockedError{Candidates: []Candidate{{Key: info, Reason: "locked: passphrase needed"}}}
		}
		ek, err := goEncryptedKey(p)
		if err != nil {
			return nil, err
		}
		if err := ek.Decrypt(s.sub().PrivateKey, nil); err != nil {
			return nil, err
		}
		return &Result{Index: i, Fingerprint: info.Fingerprint, Source: info.Source,
			SessionKey: SessionKey{Cipher: pgp.CipherFunction(ek.CipherFunc), Key: ek.Key}}, nil
	}
	return nil, &NoKeyError{Recipients: []string{pkesks[0].Recipient()}}
}

// testPKESK encrypts a fresh session key to the service's key and returns
// the PKESK and the session key.
func (s *testKeyService) testPKESK(t testing.TB) (*PKESK, []byte) {
	key := bytes.Repeat([]byte{0x42}, 32)
	var buf bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&buf, s.sub().PublicKey, packet.CipherAES256, false, key, nil); err != nil {
		t.Fatal(err)
	}
	p, err := packet.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ek := p.(*packet.EncryptedKey)
	var body bytes.Buffer
	if err := ek.Serialize(&body); err != nil {
		t.Fatal(err)
	}
	// Strip the packet header written by Serialize.
	raw := body.Bytes()
	pk, err := ParsePKESK(stripHeader(t, raw))
	if err != nil {
		t.Fatal(err)
	}
	return pk, key
}

func stripHeader(t testing.TB, pkt []byte) []byte {
	if pkt[0]&0x40 == 0 {
		t.Fatalf("expected a new-format packet header")
	}
	switch l := pkt[1]; {
	case l < 192:
		return pkt[2:]
	case l < 224:
		return pkt[3:]
	case l == 255:
		return pkt[6:]
	}
	t.Fatal("partial length")
	return nil
}

// testLog collects log lines.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func startServer(t testing.TB, svc Service, configure func(*Server)) (string, *Server, *testLog) {
	t.Helper()
	return startServerAt(t, svc, filepath.Join(t.TempDir(), "keyunlock.sock"), configure)
}

func startServerAt(t testing.TB, svc Service, path string, configure func(*Server)) (string, *Server, *testLog) {
	t.Helper()
	l, err := Listen(path, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lg := &testLog{}
	srv := &Server{Service: svc, Logger: log.New(lg, "", 0)}
	if configure != nil {
		configure(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return path, srv, lg
}

func dial(t testing.TB, path string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDaemonRoundTrip(t *testing.T) {
	svc := newTestKeyService(t)
	path, _, _ := startServer(t, svc, nil)
	c := dial(t, path)
	ctx := context.Background()

	keys, err := c.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	local, _ := svc.ListKeys(ctx)
	if fmt.Sprint(keys) != fmt.Sprint(local) {
		t.Fatalf("ListKeys over the socket = %+v, want %+v", keys, local)
	}

	pk, want := svc.testPKESK(t)
	_, err = c.DecryptPKESKs(ctx, []*PKESK{pk})
	var le *LockedError
	if !errors.As(err, &le) || len(le.Candidates) != 1 || le.Candidates[0].Key.Fingerprint != local[0].Fingerprint {
		t.Fatalf("Decrypt of a locked key: %v, want *LockedError naming the key", err)
	}
	_, lerr := svc.DecryptPKESKs(ctx, []*PKESK{pk})
	if err.Error() != lerr.Error() {
		t.Fatalf("error text differs:\n daemon %q\n local  %q", err, lerr)
	}

	err = c.Unlock(ctx, "", []byte("wrong"), UnlockOptions{})
	if !errors.Is(err, ErrBadSecret) {
		t.Fatalf("Unlock with a wrong secret: %v, want ErrBadSecret", err)
	}
	if lerr := svc.Unlock(ctx, "", []byte("wrong"), UnlockOptions{}); err.Error() != lerr.Error() {
		t.Fatalf("error text differs: %q vs %q", err, lerr)
	}
	if err := c.Unlock(ctx, local[0].KeyID, []byte("secret"), UnlockOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.DecryptPKESKs(ctx, []*PKESK{pk})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.SessionKey.Key, want) || res.SessionKey.Cipher != pgp.CipherAES256 || res.Index != 0 || res.Fingerprint != local[0].Fingerprint {
		t.Fatalf("Decrypt = %+v, want session key %x", res, want)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 1 || st.Unlocked != 1 || st.PID != os.Getpid() || st.Connections != 1 {
		t.Fatalf("Status = %+v", st)
	}
	if err := c.Lock(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecryptPKESKs(ctx, []*PKESK{pk}); !errors.As(err, &le) {
		t.Fatalf("after Lock: %v, want *LockedError", err)
	}
	if err := c.Unlock(ctx, "0123", []byte("secret"), UnlockOptions{}); err == nil || !strings.Contains(err.Error(), "no key 0123") {
		t.Fatalf("Unlock of an unknown key: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecryptMessage(ctx, []byte("x")); err == nil || !strings.Contains(err.Error(), "does not decrypt whole messages") {
		t.Fatalf("DecryptMessage without a decrypter: %v", err)
	}
}

// rawCall sends raw bytes on a fresh connection and returns the raw reply.
func rawCall(t testing.TB, path string, data []byte, closeWrite bool) string {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// A refused connection may be closed before the write; its reply is read anyway.
	conn.Write(data)
	if closeWrite {
		conn.(*net.UnixConn).CloseWrite()
	}
	msg, err := readMessage(bufio.NewReader(conn), 1<<20)
	if err != nil {
		t.Fatalf("reading the reply to %.60q: %v", data, err)
	}
	return string(msg)
}

func TestVarlinkIntrospection(t *testing.T) {
	path, _, _ := startServer(t, newTestKeyService(t), nil)
	rep := rawCall(t, path, []byte(`{"method":"org.varlink.service.GetInfo"}`+"\x00"), false)
	if !strings.Contains(rep, `"interfaces":["org.varlink.service","io.keyunlock.Keystore"]`) {
		t.Fatalf("GetInfo = %s", rep)
	}
	rep = rawCall(t, path, []byte(`{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.keyunlock.Keystore"}}`+"\x00"), false)
	if !strings.Contains(rep, `interface io.keyunlock.Keystore\n`) || !strings.Contains(rep, `method Decrypt(pkesks: []string)`) {
		t.Fatalf("GetInterfaceDescription = %s", rep)
	}
	rep = rawCall(t, path, []byte(`{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"com.example.Nope"}}`+"\x00"), false)
	if rep != `{"parameters":{"interface":"com.example.Nope"},"error":"org.varlink.service.InterfaceNotFound"}` {
		t.Fatalf("unknown interface: %s", rep)
	}
}

func TestVarlinkMalformedInput(t *testing.T) {
	svc := newTestKeyService(t)
	path, _, lg := startServer(t, svc, func(s *Server) { s.MaxRequest = 4096 })
	cases := []struct {
		name, in   string
		closeWrite bool
		want       string
	}{
		{"bad JSON", "{\"method\":\x00", false, `"error":"org.varlink.service.InvalidParameter"`},
		{"not an object", "[1,2]\x00", false, `"error":"org.varlink.service.InvalidParameter"`},
		{"two objects", "{}{}\x00", false, `"error":"org.varlink.service.InvalidParameter"`},
		{"missing NUL", `{"method":"io.keyunlock.Keystore.ListKeys"}`, true, `"error":"io.keyunlock.Keystore.InvalidParameter"`},
		{"huge", `{"method":"io.keyunlock.Keystore.ListKeys","parameters":{"x":"` + strings.Repeat("A", 8192) + `"}}` + "\x00", false, `larger than 4096 bytes`},
		{"unknown method", `{"method":"io.keyunlock.Keystore.Frobnicate"}` + "\x00", false, `{"parameters":{"method":"io.keyunlock.Keystore.Frobnicate"},"error":"org.varlink.service.MethodNotFound"}`},
		{"unknown interface", `{"method":"com.example.Frobnicate"}` + "\x00", false, `"error":"org.varlink.service.InterfaceNotFound"`},
		{"missing parameter", `{"method":"io.keyunlock.Keystore.Decrypt","parameters":{}}` + "\x00", false, `{"parameters":{"parameter":"pkesks"},"error":"org.varlink.service.InvalidParameter"}`},
		{"wrong type", `{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":42}}` + "\x00", false, `"error":"org.varlink.service.InvalidParameter"`},
		{"bad base64", `{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["!!"]}}` + "\x00", false, `"error":"org.varlink.service.InvalidParameter"`},
		{"not a PKESK", `{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AAAA"]}}` + "\x00", false, `"parameter":"pkesks"`},
		{"no method", `{"parameters":{}}` + "\x00", false, `{"parameters":{"parameter":"method"},"error":"org.varlink.service.InvalidParameter"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := rawCall(t, path, []byte(tc.in), tc.closeWrite)
			if !strings.Contains(rep, tc.want) {
				t.Fatalf("reply %s, want it to contain %s", rep, tc.want)
			}
			// The daemon keeps serving.
			if _, err := dial(t, path).ListKeys(context.Background()); err != nil {
				t.Fatalf("after %s: %v", tc.name, err)
			}
		})
	}
	if !strings.Contains(lg.String(), "malformed call") || !strings.Contains(lg.String(), "larger than 4096") {
		t.Errorf("log lacks the protocol errors:\n%s", lg)
	}
	// A oneway call gets no reply; the next call on the same connection does.
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, `{"method":"io.keyunlock.Keystore.Lock","oneway":true}`+"\x00"+`{"method":"io.keyunlock.Keystore.Status"}`+"\x00")
	msg, err := readMessage(bufio.NewReader(conn), 1<<20)
	if err != nil || !strings.Contains(string(msg), `"pid":`) {
		t.Fatalf("after a oneway call: %s, %v", msg, err)
	}
}

func TestDaemonIdleAndSlowClients(t *testing.T) {
	svc := newTestKeyService(t)
	path, _, lg := startServer(t, svc, func(s *Server) { s.IdleTimeout = 3 * time.Second; s.MaxConns = 4 })
	// Three clients that connect and say nothing, one that sends half a message.
	var idle []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	io.WriteString(idle[0], `{"method":"io.keyu`)
	// The fourth connection is served at once.
	start := time.Now()
	if _, err := dial(t, path).ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a good client waited %v behind idle ones", d)
	}
	// A fifth connection beyond MaxConns gets Busy, not a hang.
	rep := rawCall(t, path, []byte(`{"method":"io.keyunlock.Keystore.Status"}`+"\x00"), false)
	if !strings.Contains(rep, ErrNameBusy) {
		// The good client may already be gone; then the call succeeds.
		if !strings.Contains(rep, `"pid":`) {
			t.Fatalf("beyond MaxConns: %s", rep)
		}
	}
	// Idle connections are closed after IdleTimeout.
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("idle connection not closed: %v", err)
		}
	}
	if !strings.Contains(lg.String(), "closing idle connection") {
		t.Errorf("no log line for idle connections:\n%s", lg)
	}
}

func TestDaemonConcurrentClients(t *testing.T) {
	svc := newTestKeyService(t)
	svc.locked = false
	pk, want := svc.testPKESK(t)
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	path := filepath.Join(dir, "k.sock")
	l, err := Listen(path, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Service: svc, Logger: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	const clients, calls = 16, 1000
	n := calls
	if testing.Short() {
		n = 50
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(context.Background(), path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := 0; j < n; j++ {
				res, err := c.DecryptPKESKs(context.Background(), []*PKESK{pk})
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(res.SessionKey.Key, want) {
					errs <- fmt.Errorf("wrong session key %x", res.SessionKey.Key)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-served
	testenv.NoGoroutineLeak(t, before, 5*time.Second)
}

func TestCacheTTL(t *testing.T) {
	svc := newTestKeyService(t)
	ttl := NewCacheTTL(svc, 2*time.Second)
	defer ttl.Close()
	path, _, _ := startServer(t, ttl, nil)
	c := dial(t, path)
	ctx := context.Background()
	pk, _ := svc.testPKESK(t)
	if err := c.Unlock(ctx, "", []byte("secret"), UnlockOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecryptPKESKs(ctx, []*PKESK{pk}); err != nil {
		t.Fatalf("right after Unlock: %v", err)
	}
	time.Sleep(2500 * time.Millisecond)
	var le *LockedError
	if _, err := c.DecryptPKESKs(ctx, []*PKESK{pk}); !errors.As(err, &le) {
		t.Fatalf("after the TTL: %v, want *LockedError (a prompt is needed again)", err)
	}
	// Unlock by fingerprint, then lock explicitly: no stale timer fires later.
	fpr := svc.info().Fingerprint
	if err := c.Unlock(ctx, fpr, []byte("secret"), UnlockOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Lock(ctx, fpr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecryptPKESKs(ctx, []*PKESK{pk}); !errors.As(err, &le) {
		t.Fatalf("after Lock: %v, want *LockedError", err)
	}
	ttl.mu.Lock()
	n := len(ttl.timers)
	ttl.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d timers left after Lock", n)
	}
}
