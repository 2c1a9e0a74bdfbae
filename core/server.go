package core

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/internal/unixsock"
)

// Server serves a Service over varlink on UNIX stream sockets: the
// keyunlock daemon. Every connection's peer is checked with SO_PEERCRED;
// each connection has its own goroutine, read deadline and request size
// cap, and the number of connections is bounded, so a slow or vanished
// client never blocks the others.
type Server struct {
	// Service answers the calls, usually a Keystore wrapped in a CacheTTL.
	Service Service
	// Access decides which peers may connect. The zero value admits root
	// and the daemon's own user.
	Access AccessPolicy
	// Logger receives one line per refused peer or protocol error; nil logs
	// to the standard logger. Secrets are never logged.
	Logger *log.Logger
	// MaxRequest caps one message in bytes (default 1 MiB).
	MaxRequest int
	// MaxConns caps concurrent connections (default 64).
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for that long (default 60 s).
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one reply (default 10 s).
	WriteTimeout time.Duration
	// DecryptMessage implements io.keyunlock.Keystore.DecryptMessage; nil
	// answers Failed. It must authenticate the message before returning.
	DecryptMessage func(ctx context.Context, svc Service, msg []byte) (*RemoteMessage, error)
	// Status fills in what the server does not know (version, TTL, key provider...).
	Status func(ctx context.Context, st *DaemonStatus)

	mu        sync.Mutex
	listeners map[*unixsock.Listener]struct{}
	conns     map[*serverConn]struct{}
	closing   bool
	wg        sync.WaitGroup
	started   time.Time
	ctx       context.Context
	cancel    context.CancelFunc
	once      sync.Once
}

// RemoteMessage is a decrypted message as DecryptMessage returns it over the wire.
type RemoteMessage struct {
	Plaintext []byte
	FileName  string
	Result    Result
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("keyunlock server closed")

func (s *Server) init() {
	s.once.Do(func() {
		s.listeners = map[*unixsock.Listener]struct{}{}
		s.conns = map[*serverConn]struct{}{}
		s.started = time.Now()
		s.ctx, s.cancel = context.WithCancel(context.Background())
	})
}

func (s *Server) logf(format string, args ...any) {
	if s.Logger != nil {
		s.Logger.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

func (s *Server) maxRequest() int {
	if s.MaxRequest > 0 {
		return s.MaxRequest
	}
	return 1 << 20
}

func (s *Server) maxConns() int {
	if s.MaxConns > 0 {
		return s.MaxConns
	}
	return 64
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return 60 * time.Second
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout > 0 {
		return s.WriteTimeout
	}
	return 10 * time.Second
}

// Serve accepts connections on l until Shutdown is called or l fails.
func (s *Server) Serve(l *unixsock.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if errors.Is(err, os.ErrDeadlineExceeded) || isTemporaryAccept(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		sc := &serverConn{s: s, c: c}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		busy := len(s.conns) >= s.maxConns()
		if !busy {
			s.conns[sc] = struct{}{}
			s.wg.Add(1)
		}
		s.mu.Unlock()
		if busy {
			s.logf("keyunlock: refusing a connection: %d connections already open", s.maxConns())
			go s.refuse(c, &VarlinkError{Name: ErrNameBusy, Parameters: map[string]any{
				"message": fmt.Sprintf("the keyunlock daemon already serves %d connections; retry later", s.maxConns())}})
			continue
		}
		go sc.serve()
	}
}

func isTemporaryAccept(err error) bool {
	type temporary interface{ Temporary() bool }
	var t temporary
	return errors.As(err, &t) && t.Temporary()
}

// refuse sends one error reply without waiting for a call, then closes.
func (s *Server) refuse(c *unixsock.Conn, e *VarlinkError) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	writeMessage(c, varlinkReply{Parameters: nonNilParams(e.Parameters), Error: e.Name})
	c.Close()
}

func nonNilParams(p map[string]any) map[string]any {
	if p == nil {
		return map[string]any{}
	}
	return p
}

// Shutdown stops accepting, lets every connection finish the call it is
// serving, closes idle connections, and waits. When ctx ends first, the
// remaining calls are canceled and their connections closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.c.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Connections returns the number of open connections.
func (s *Server) Connections() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// serverConn is one client connection.
type serverConn struct {
	s    *Server
	c    *unixsock.Conn
	peer PeerCred

	// rbuf assembles a call longer than the read buffer; wbuf holds the
	// encoding of a Decrypt reply. Both are reused from call to call and
	// wiped after each.
	rbuf, wbuf []byte
	// readArmed and writeArmed are when the idle and the write deadline
	// were last set (see rearm).
	readArmed, writeArmed time.Time

	mu      sync.Mutex
	busy    bool // a call is being served
	stopped bool
}

// stop asks the connection to end after the call in progress.
func (sc *serverConn) stop() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.stopped = true
	if !sc.busy {
		sc.c.SetReadDeadline(time.Now())
	}
}

func (sc *serverConn) serve() {
	s := sc.s
	defer func() {
		sc.c.Close()
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	peer, err := PeerCredOf(sc.c)
	if err != nil {
		s.logf("keyunlock: refusing a connection: %v", err)
		s.refuse(sc.c, &VarlinkError{Name: ErrNamePermissionDenied})
		return
	}
	sc.peer = peer
	if err := s.Access.Check(peer); err != nil {
		s.logf("keyunlock: refusing a connection: %v", err)
		// Varlink clients speak first: wait briefly for the call so that the
		// error is its reply, then close.
		sc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		readMessage(bufio.NewReaderSize(sc.c, 4096), 64<<10)
		s.refuse(sc.c, &VarlinkError{Name: ErrNamePermissionDenied})
		return
	}
	r := bufio.NewReaderSize(sc.c, 4096)
	for {
		sc.mu.Lock()
		if sc.stopped {
			sc.mu.Unlock()
			return
		}
		if now, ok := rearm(sc.readArmed, s.idleTimeout()); ok {
			sc.c.SetReadDeadline(now.Add(s.idleTimeout()))
			sc.readArmed = now
		}
		sc.mu.Unlock()
		msg, err := readMessageInto(r, &sc.rbuf, s.maxRequest())
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, os.ErrClosed):
			case errors.Is(err, os.ErrDeadlineExceeded):
				sc.mu.Lock()
				stopped := sc.stopped
				sc.mu.Unlock()
				if !stopped {
					s.logf("keyunlock: closing idle connection from %s", peer)
				}
			case errors.Is(err, errMessageTooLarge):
				s.logf("keyunlock: closing connection from %s: message larger than %d bytes", peer, s.maxRequest())
				sc.reply(&varlinkReply{Parameters: map[string]any{"parameter": "message",
					"message": fmt.Sprintf("message larger than %d bytes", s.maxRequest())}, Error: ErrNameInvalidParameter})
			case errors.Is(err, errUnterminated):
				s.logf("keyunlock: closing connection from %s: %v", peer, err)
				sc.reply(&varlinkReply{Parameters: map[string]any{"parameter": "message",
					"message": err.Error()}, Error: ErrNameInvalidParameter})
			default:
				s.logf("keyunlock: connection from %s: %v", peer, err)
			}
			return
		}
		sc.mu.Lock()
		// The idle deadline stays: nothing reads until the loop sets the
		// next one.
		sc.busy = true
		sc.mu.Unlock()
		rep, oneway := s.handle(s.ctx, peer, msg)
		Wipe(msg) // an Unlock call carries the secret
		ok := true
		if !oneway {
			ok = sc.reply(rep)
		}
		if rep.wipe != nil {
			rep.wipe()
		}
		sc.mu.Lock()
		sc.busy = false
		sc.mu.Unlock()
		if !ok {
			return
		}
	}
}

// rearm reports whether a deadline of timeout set at armed must be set
// again, and the time now. A busy connection would otherwise reset its
// deadlines on every call, each time modifying a runtime timer, while the
// deadlines only need to catch a connection that has been idle or stuck
// for about timeout: one set less than an eighth of timeout (at most a
// second) ago is kept.
func rearm(armed time.Time, timeout time.Duration) (time.Time, bool) {
	now := time.Now()
	return now, armed.IsZero() || now.Sub(armed) >= min(timeout/8, time.Second)
}

func (sc *serverConn) reply(rep *varlinkReply) bool {
	if now, ok := rearm(sc.writeArmed, sc.s.writeTimeout()); ok {
		sc.c.SetWriteDeadline(now.Add(sc.s.writeTimeout()))
		sc.writeArmed = now
	}
	if err := sc.writeReply(sc.c, rep); err != nil {
		sc.s.logf("keyunlock: writing reply to %s: %v", sc.peer, err)
		return false
	}
	return true
}

// writeReply encodes rep and writes it to w in one write: a Decrypt reply
// with the fast encoder into the connection's buffer, which is wiped after,
// anything else with writeMessage.
func (sc *serverConn) writeReply(w io.Writer, rep *varlinkReply) error {
	if p, ok := rep.Parameters.(*vlDecryptReply); ok && rep.Error == "" && !rep.Continues {
		if b, ok := appendDecryptReply(sc.wbuf[:0], p); ok {
			return writeWiped(w, b, &sc.wbuf) // the session key
		}
	}
	return writeMessage(w, rep)
}

func errReply(e *VarlinkError) *varlinkReply {
	return &varlinkReply{Parameters: nonNilParams(e.Parameters), Error: e.Name}
}

func invalidParam(name, msg string) *varlinkReply {
	return &varlinkReply{Parameters: map[string]any{"parameter": name, "message": msg}, Error: ErrNameInvalidParameter}
}

// handle decodes and dispatches one call. It returns the reply and whether
// the call was oneway. A Decrypt call of the plain shape keyunlock's client
// sends is decoded by parseDecryptCall; every other message by handleJSON.
func (s *Server) handle(ctx context.Context, peer PeerCred, msg []byte) (*varlinkReply, bool) {
	if pkesks, ok := parseDecryptCall(msg); ok {
		return s.decrypt(ctx, pkesks), false
	}
	return s.handleJSON(ctx, peer, msg)
}

// handleJSON is handle with the general JSON codec (json.go): the
// reference decoding of any call.
func (s *Server) handleJSON(ctx context.Context, peer PeerCred, msg []byte) (*varlinkReply, bool) {
	var call varlinkCall
	if err := unmarshalJSON(msg, &call); err != nil {
		s.logf("keyunlock: malformed call from %s: not a JSON object", peer)
		// org.varlink.service.InvalidParameter has only "parameter".
		return &varlinkReply{Parameters: map[string]any{"parameter": "method"}, Error: ErrNameServiceInvalid}, false
	}
	if call.Method == "" {
		return &varlinkReply{Parameters: map[string]any{"parameter": "method"}, Error: ErrNameServiceInvalid}, call.Oneway
	}
	if call.Upgrade {
		return &varlinkReply{Parameters: map[string]any{"parameter": "upgrade"}, Error: ErrNameServiceInvalid}, call.Oneway
	}
	params := call.Parameters
	if len(params) == 0 || string(params) == "null" {
		params = rawJSON("{}")
	}
	// The call was valid JSON, so params is a valid JSON value: it is an
	// object exactly when it starts with a brace.
	if t := bytes.TrimLeft(params, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return &varlinkReply{Parameters: map[string]any{"parameter": "parameters"}, Error: ErrNameServiceInvalid}, call.Oneway
	}
	rep := s.dispatch(ctx, peer, call.Method, params)
	return rep, call.Oneway
}

// decodeParams decodes params, a JSON object, into v after checking
// required fields exist.
func decodeParams(params rawJSON, v any, required ...string) *varlinkReply {
	obj, err := parseJSON(params)
	if err != nil || obj.kind != jsonObject {
		return &varlinkReply{Parameters: map[string]any{"parameter": "parameters"}, Error: ErrNameServiceInvalid}
	}
	defer wipeJSON(&obj)
	for _, r := range required {
		if m, ok := obj.member(r); !ok || m.kind == jsonNull {
			return &varlinkReply{Parameters: map[string]any{"parameter": r}, Error: ErrNameServiceInvalid}
		}
	}
	if err := obj.decode(v); err != nil {
		name := "parameters"
		if f := fieldOf(err); f != "" {
			name = f
		}
		return &varlinkReply{Parameters: map[string]any{"parameter": name}, Error: ErrNameServiceInvalid}
	}
	return nil
}

func (s *Server) dispatch(ctx context.Context, peer PeerCred, method string, params rawJSON) *varlinkReply {
	ok := func(p any) *varlinkReply { return &varlinkReply{Parameters: p} }
	switch method {
	case VarlinkServiceInterface + ".GetInfo":
		return ok(vlGetInfoReply{
			Vendor:     "keyunlock",
			Product:    "keyunlock",
			Version:    s.version(ctx),
			URL:        "https://github.com/keyunlock/keyunlock",
			Interfaces: []string{VarlinkServiceInterface, VarlinkInterface},
		})
	case VarlinkServiceInterface + ".GetInterfaceDescription":
		var a vlGetInterfaceDescriptionArgs
		if r := decodeParams(params, &a, "interface"); r != nil {
			return r
		}
		switch a.Interface {
		case VarlinkInterface:
			return ok(vlGetInterfaceDescriptionReply{Description: keystoreDescription})
		case VarlinkServiceInterface:
			return ok(vlGetInterfaceDescriptionReply{Description: serviceDescription})
		}
		return &varlinkReply{Parameters: map[string]any{"interface": a.Interface}, Error: ErrNameInterfaceNotFound}
	case VarlinkInterface + ".ListKeys":
		keys, err := s.Service.ListKeys(ctx)
		if err != nil && len(keys) == 0 {
			return errReply(errorToVarlink(err))
		}
		if keys == nil {
			keys = []KeyInfo{}
		}
		rep := vlListKeysReply{Keys: keys}
		if err != nil {
			rep.Problem = err.Error()
		}
		return ok(rep)
	case VarlinkInterface + ".Unlock":
		var a vlUnlockArgs
		if r := decodeParams(params, &a, "secret"); r != nil {
			return r
		}
		defer Wipe(a.Secret)
		if err := s.Service.Unlock(ctx, a.Key, a.Secret, UnlockOptions{Force: a.Force}); err != nil {
			s.logf("keyunlock: unlock of %s for %s failed: %v", keyName(a.Key, "the only locked key"), peer, err)
			return errReply(errorToVarlink(err))
		}
		s.logf("keyunlock: unlocked %s for %s", keyName(a.Key, "the only locked key"), peer)
		return ok(struct{}{})
	case VarlinkInterface + ".Lock":
		var a vlLockArgs
		if r := decodeParams(params, &a); r != nil {
			return r
		}
		if err := s.Service.Lock(ctx, a.Key); err != nil {
			return errReply(errorToVarlink(err))
		}
		s.logf("keyunlock: locked %s for %s", keyName(a.Key, "every key"), peer)
		return ok(struct{}{})
	case VarlinkInterface + ".Decrypt":
		// The plain calls keyunlock's client sends never get here
		// (parseDecryptCall takes them).
		var a vlDecryptArgs
		if r := decodeParams(params, &a, "pkesks"); r != nil {
			return r
		}
		return s.decrypt(ctx, a.PKESKs)
	case VarlinkInterface + ".DecryptMessage":
		var a vlDecryptMessageArgs
		if r := decodeParams(params, &a, "message"); r != nil {
			return r
		}
		if s.DecryptMessage == nil {
			return errReply(&VarlinkError{Name: ErrNameFailed, Parameters: map[string]any{
				"message": "this daemon does not decrypt whole messages; send the PKESKs with Decrypt"}})
		}
		m, err := s.DecryptMessage(ctx, s.Service, a.Message)
		if err != nil {
			return errReply(errorToVarlink(err))
		}
		m.Result.SessionKey.Wipe()
		rep := ok(vlDecryptMessageReply{Plaintext: m.Plaintext, FileName: m.FileName,
			Index: m.Result.Index, Fingerprint: m.Result.Fingerprint, Source: m.Result.Source})
		rep.wipe = func() { Wipe(m.Plaintext) }
		return rep
	case VarlinkInterface + ".Status":
		st := DaemonStatus{PID: os.Getpid(), UptimeSeconds: int64(time.Since(s.started).Seconds()),
			Connections: s.Connections(), Version: "dev"}
		if keys, err := s.Service.ListKeys(ctx); err == nil {
			st.Keys = len(keys)
			for _, k := range keys {
				if k.Lock != LockNone.String() && !k.Locked {
					st.Unlocked++
				}
			}
		}
		if s.Status != nil {
			s.Status(ctx, &st)
		}
		return ok(st)
	}
	if iface, _, ok := cutLast(method, "."); !ok || iface != VarlinkInterface && iface != VarlinkServiceInterface {
		return &varlinkReply{Parameters: map[string]any{"interface": iface}, Error: ErrNameInterfaceNotFound}
	}
	return &varlinkReply{Parameters: map[string]any{"method": method}, Error: ErrNameMethodNotFound}
}

// decrypt answers a Decrypt call with the given PKESK bodies, which it
// keeps (they were decoded for the call).
func (s *Server) decrypt(ctx context.Context, bodies [][]byte) *varlinkReply {
	if len(bodies) == 0 {
		return invalidParam("pkesks", "no PKESK given: pass the bodies of the message's PKESK packets")
	}
	pk := make([]*PKESK, len(bodies))
	for i, b := range bodies {
		p, err := parsePKESK(b, true)
		if err != nil {
			return invalidParam("pkesks", fmt.Sprintf("PKESK %d: %v", i, err))
		}
		pk[i] = p
	}
	res, err := s.Service.DecryptPKESKs(ctx, pk)
	if err != nil {
		return errReply(errorToVarlink(err))
	}
	sk := res.SessionKey
	return &varlinkReply{
		Parameters: &vlDecryptReply{Index: res.Index, Fingerprint: res.Fingerprint, Source: res.Source,
			Algorithm: int(sk.Cipher), SessionKey: sk.Key},
		wipe: func() { Wipe(sk.Key) },
	}
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

func (s *Server) version(ctx context.Context) string {
	st := DaemonStatus{Version: "dev"}
	if s.Status != nil {
		s.Status(ctx, &st)
	}
	return st.Version
}

// keyName names a key selector in log lines.
func keyName(sel, dflt string) string {
	if sel == "" {
		return dflt
	}
	return "key " + safeName(sel)
}
