package pcsctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/card/vpcd"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// VPCDDriver is where Debian's vsmartcard-vpcd installs the pcscd driver.
const VPCDDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"

// Slots is the number of readers one vpcd instance provides (Debian builds
// vpcd with two slots).
const Slots = 2

// Server is a running, isolated pcscd with one vpcd instance.
type Server struct {
	// Dir is the private directory holding the socket, the reader
	// configuration and the log.
	Dir string
	// Socket is the path of pcscd's client socket.
	Socket string
	// Ports are the TCP ports of the vpcd slots, one per reader.
	Ports [Slots]int
	// Readers are the PC/SC reader names of the slots, in slot order.
	Readers [Slots]string

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	mu      sync.Mutex
	closed  bool
}

// Available reports why an isolated pcscd cannot be started here, or nil.
func Available() error {
	for _, tool := range []string{"pcscd", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found in PATH (make test installs it)", tool)
		}
	}
	if _, err := os.Stat(VPCDDriver); err != nil {
		return fmt.Errorf("vpcd driver %s missing (Debian package vsmartcard-vpcd)", VPCDDriver)
	}
	nsOnce.Do(func() {
		out, err := exec.Command("unshare", append(unshareArgs(), "true")...).CombinedOutput()
		if err != nil {
			nsErr = fmt.Errorf("cannot create a private mount namespace for pcscd (unshare %s true: %v: %s): run the tests as root with CAP_SYS_ADMIN, or allow unprivileged user namespaces",
				strings.Join(unshareArgs(), " "), err, bytes.TrimSpace(out))
		}
	})
	return nsErr
}

var (
	nsOnce sync.Once
	nsErr  error
)

// unshareArgs are the unshare flags for a private mount namespace.
func unshareArgs() []string {
	args := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append(args, "--map-root-user")
	}
	return args
}

// Start starts an isolated pcscd for the test and stops it when the test
// ends. When the test fails, the tail of pcscd's log is logged. A missing
// pcscd, vpcd or unshare goes through testenv.Unavailable.
func Start(t testing.TB) *Server {
	t.Helper()
	if err := Available(); err != nil {
		testenv.Unavailable(t, "%v", err)
	}
	s, err := StartServer()
	if err != nil {
		t.Fatalf("starting an isolated pcscd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pcscd log (%s), last lines:\n%s", s.logFile.Name(), s.LogTail(60))
		}
		if err := s.Close(); err != nil {
			t.Errorf("stopping pcscd: %v", err)
		}
	})
	return s
}

// StartServer starts an isolated pcscd and waits until its vpcd readers are
// listed. It is meant for TestMain; the caller must call Close. Tests should
// use Start.
func StartServer() (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := startOnce()
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOnce() (*Server, error) {
	// A short directory: the socket path must fit in sun_path (108 bytes).
	dir, err := os.MkdirTemp("", "pcscd")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Socket: filepath.Join(dir, "run", "pcscd.comm"), exited: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		s.Close()
		return nil, err
	}
	base, err := pickPorts(Slots)
	if err != nil {
		return fail(err)
	}
	for i := range s.Ports {
		s.Ports[i] = base + i
		s.Readers[i] = fmt.Sprintf("Virtual PCD 00 %02X", i)
	}
	conf := filepath.Join(dir, "reader.conf.d")
	for _, d := range []string{conf, filepath.Join(dir, "run")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fail(err)
		}
	}
	rc := fmt.Sprintf("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n", base, VPCDDriver, base)
	if err := os.WriteFile(filepath.Join(conf, "vpcd"), []byte(rc), 0o644); err != nil {
		return fail(err)
	}
	s.logFile, err = os.Create(filepath.Join(dir, "pcscd.log"))
	if err != nil {
		return fail(err)
	}

	// pcscd 1.9.9 has /run/pcscd compiled in for its socket and pid file.
	// A private mount namespace with our directory bind-mounted there gives
	// it its own. unshare execs sh, which execs pcscd: the child pid is
	// pcscd's.
	args := unshareArgs()
	script := `mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd --foreground --debug --config "$2"`
	args = append(args, "sh", "-c", script, "sh", filepath.Join(dir, "run"), conf)
	s.cmd = exec.Command("unshare", args...)
	s.cmd.Stdout = s.logFile
	s.cmd.Stderr = s.logFile
	s.cmd.Env = append(os.Environ(), "LC_ALL=C")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("starting pcscd: %w", err))
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		states, err := ReaderStates(s.Socket)
		if err == nil && countReaders(states, s.Readers[:]) == Slots {
			return s, nil
		}
		if err == nil && strings.Contains(s.Log(), "daemon ready.") {
			// pcscd set up its readers before answering: a missing vpcd
			// reader means vpcd could not listen on its port (taken
			// meanwhile by someone else). The caller retries.
			return fail(fmt.Errorf("vpcd readers %q missing (ports %d/%d taken?); log:\n%s", s.Readers, s.Ports[0], s.Ports[1], s.LogTail(30)))
		}
		select {
		case <-s.exited:
			return fail(fmt.Errorf("pcscd exited at start (%v); log:\n%s", s.cmd.ProcessState, s.LogTail(30)))
		case <-ctx.Done():
			return fail(fmt.Errorf("pcscd did not list readers %q within 10s (last error: %v); log:\n%s", s.Readers, err, s.LogTail(30)))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func countReaders(states []ReaderState, names []string) int {
	n := 0
	for _, st := range states {
		for _, want := range names {
			if st.Name == want {
				n++
			}
		}
	}
	return n
}

// pickPorts chooses the vpcd ports; tests replace it.
var pickPorts = freePorts

// freePorts returns a base port such that base … base+n-1 are free on all
// interfaces (vpcd listens on INADDR_ANY).
func freePorts(n int) (int, error) {
	for try := 0; try < 50; try++ {
		first, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, err
		}
		base := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		ok := base+n-1 <= 0xFFFF
		for i := 1; ok && i < n; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", base+i))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no free pair of TCP ports for vpcd")
}

// SlotAddr returns the host:port a virtual card dials to sit in the slot.
func (s *Server) SlotAddr(slot int) string {
	return fmt.Sprintf("127.0.0.1:%d", s.Ports[slot])
}

// Env returns the environment entry that points PC/SC clients (libpcsclite,
// opensc-tool, pcsc_scan, package pcsc) at this server.
func (s *Server) Env() string { return "PCSCLITE_CSOCK_NAME=" + s.Socket }

// Pid returns pcscd's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Kill kills pcscd with SIGKILL, as a crash would, and waits for it to exit.
// Close may still be called afterwards.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// Exited is closed when pcscd has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Log returns pcscd's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "pcscd.log"))
	return string(b)
}

// LogTail returns the last n lines of pcscd's log.
func (s *Server) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(s.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Close stops pcscd (SIGTERM, then SIGKILL after 5 s) and removes its
// directory. It reports an error if pcscd had to be killed.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				s.cmd.Process.Kill()
				<-s.exited
				err = errors.New("pcscd ignored SIGTERM for 5s and was killed")
			}
		}
	}
	if s.logFile != nil {
		s.logFile.Close()
	}
	os.RemoveAll(s.Dir)
	return err
}

// WaitReader polls pcscd until the reader of the slot satisfies cond, or ctx
// ends.
func (s *Server) WaitReader(ctx context.Context, slot int, cond func(ReaderState) bool) (ReaderState, error) {
	name := s.Readers[slot]
	var last ReaderState
	var lastErr error
	for {
		states, err := ReaderStates(s.Socket)
		lastErr = err
		for _, st := range states {
			if st.Name == name {
				last = st
				if cond(st) {
					return st, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("reader %q: condition not met (last state %#x, error %v): %w", name, last.State, lastErr, ctx.Err())
		case <-s.exited:
			return last, fmt.Errorf("reader %q: pcscd exited", name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Attach plugs c into the slot through a vpcd front end and waits (up to
// 10 s) until pcscd reports a card with c's ATR in the reader. The front end
// runs until ctx ends or stop is called; stop also waits for it to finish.
func (s *Server) Attach(ctx context.Context, slot int, c vpcd.Card) (fe *vpcd.Frontend, stop func(), err error) {
	fe = vpcd.NewFrontend(s.SlotAddr(slot), c)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		fe.Run(rctx)
		close(done)
	}()
	stop = func() {
		cancel()
		<-done
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	atr := c.ATR()
	if _, err := s.WaitReader(wctx, slot, func(st ReaderState) bool {
		return st.State&StatePresent != 0 && bytes.Equal(st.ATR, atr)
	}); err != nil {
		stop()
		return nil, nil, fmt.Errorf("card not seen by pcscd: %w", err)
	}
	return fe, stop, nil
}

// InsertCard plugs c into the slot (see Attach) for the rest of the test.
func (s *Server) InsertCard(t testing.TB, slot int, c vpcd.Card) *vpcd.Frontend {
	t.Helper()
	fe, stop, err := s.Attach(context.Background(), slot, c)
	if err != nil {
		t.Fatalf("inserting a virtual card in %q: %v", s.Readers[slot], err)
	}
	t.Cleanup(stop)
	return fe
}

// WaitPresent waits until pcscd reports the slot's card present (true) or
// absent (false).
func (s *Server) WaitPresent(ctx context.Context, slot int, present bool) error {
	_, err := s.WaitReader(ctx, slot, func(st ReaderState) bool {
		return (st.State&StatePresent != 0) == present
	})
	return err
}
