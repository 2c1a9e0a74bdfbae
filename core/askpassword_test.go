package core

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/keyunlock/keyunlock/internal/testenv"
	"golang.org/x/sys/unix"
)

// waitAsk waits for an ask.* file in dir and returns its path and fields.
func waitAsk(t *testing.T, dir string) (string, map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m, _ := filepath.Glob(filepath.Join(dir, "ask.*"))
		if len(m) == 1 {
			data, err := os.ReadFile(m[0])
			if err != nil {
				t.Fatal(err)
			}
			fields := map[string]string{}
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "="); ok {
					fields[k] = v
				} else {
					fields["section"] = sc.Text()
				}
			}
			return m[0], fields
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no ask file appeared in %s", dir)
	return "", nil
}

func agentRequest() PromptRequest {
	return PromptRequest{
		Key:       KeyInfo{Fingerprint: "AABBCCDD", Source: "card 0006:12345678"},
		Kind:      LockPIN,
		Message:   "Enter the PIN of card 0006:12345678 for key AABBCCDD (3 tries left):",
		Attempt:   1,
		TriesLeft: 3,
		ID:        "keyunlock:AABBCCDD",
	}
}

func answer(t *testing.T, sock, reply string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(reply)); err != nil {
		t.Fatal(err)
	}
}

func TestAgentPrompterAnswer(t *testing.T) {
	dir := t.TempDir()
	a := &AgentPrompter{Dir: dir, Timeout: 30 * time.Second}
	type res struct {
		secret []byte
		err    error
	}
	done := make(chan res, 1)
	go func() {
		s, err := a.Ask(context.Background(), agentRequest())
		done <- res{s, err}
	}()
	ask, f := waitAsk(t, dir)
	if f["section"] != "[Ask]" || f["PID"] != strconv.Itoa(os.Getpid()) || f["AcceptCached"] != "0" || f["Echo"] != "0" ||
		f["Id"] != "keyunlock:AABBCCDD" || f["Message"] != agentRequest().Message {
		t.Fatalf("ask file fields: %v", f)
	}
	if !strings.HasPrefix(f["Socket"], filepath.Join(dir, "sck.")) {
		t.Fatalf("Socket=%s", f["Socket"])
	}
	notAfter, err := strconv.ParseUint(f["NotAfter"], 10, 64)
	// NotAfter is the ask's creation plus the 30 s timeout: in the future, and at most 30 s away.
	if now := monotonicMicros(); err != nil || notAfter <= now || notAfter > now+30e6 {
		t.Fatalf("NotAfter=%s, monotonic now %d", f["NotAfter"], now)
	}
	if fi, err := os.Stat(ask); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("ask file mode: %v %v", fi.Mode(), err)
	}
	// Garbage first (ignored), then the answer with a trailing NUL.
	answer(t, f["Socket"], "?what")
	answer(t, f["Socket"], "+123456\x00")
	r := <-done
	if r.err != nil || string(r.secret) != "123456" {
		t.Fatalf("Ask = %q, %v", r.secret, r.err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
}

func TestAgentPrompterCancelAndTimeout(t *testing.T) {
	dir := t.TempDir()
	a := &AgentPrompter{Dir: dir, Timeout: 30 * time.Second}
	done := make(chan error, 1)
	go func() {
		_, err := a.Ask(context.Background(), agentRequest())
		done <- err
	}()
	_, f := waitAsk(t, dir)
	answer(t, f["Socket"], "-")
	if err := <-done; !errors.Is(err, ErrPromptCanceled) {
		t.Fatalf("canceled ask: %v", err)
	}
	a.Timeout = 100 * time.Millisecond
	if _, err := a.Ask(context.Background(), agentRequest()); err == nil || !strings.Contains(err.Error(), "no password agent answered") {
		t.Fatalf("unanswered ask: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.Timeout = time.Minute
	go func() { waitAsk(t, dir); cancel() }()
	if _, err := a.Ask(ctx, agentRequest()); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
}

// openPTY returns a pseudo-terminal master and the slave's path.
func openPTY(t *testing.T) (*os.File, string) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.Unavailable(t, "pseudo-terminals: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// TestAgentPrompterWithSystemdTTYAgent answers through the real
// systemd-tty-ask-password-agent on a pseudo-terminal. That agent only
// knows /run/systemd/ask-password, so the test uses it (root only).
func TestAgentPrompterWithSystemdTTYAgent(t *testing.T) {
	tools := testenv.RequireTool(t, "systemd-tty-ask-password-agent")
	testenv.RequireRoot(t)
	a := &AgentPrompter{Dir: DefaultAskPasswordDir, Timeout: 30 * time.Second}
	req := agentRequest()
	req.ID = fmt.Sprintf("keyunlock:test-%d", os.Getpid())
	type res struct {
		secret []byte
		err    error
	}
	done := make(chan res, 1)
	go func() {
		s, err := a.Ask(context.Background(), req)
		done <- res{s, err}
	}()
	// Wait for our question to exist.
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(DefaultAskPasswordDir, "ask.*"))
		found := false
		for _, p := range m {
			if data, _ := os.ReadFile(p); strings.Contains(string(data), "Id="+req.ID) {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ask file not published")
		}
		time.Sleep(5 * time.Millisecond)
	}
	master, slavePath := openPTY(t)
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tools["systemd-tty-ask-password-agent"], "--query")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	defer cmd.Process.Kill()
	// Read the prompt, then type the PIN.
	got := make(chan string, 1)
	go func() {
		var out strings.Builder
		buf := make([]byte, 512)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if strings.Contains(out.String(), "tries left") {
				got <- out.String()
				io.Copy(io.Discard, master)
				return
			}
			if err != nil {
				got <- out.String()
				return
			}
		}
	}()
	select {
	case prompt := <-got:
		if !strings.Contains(prompt, "Enter the PIN of card 0006:12345678") {
			t.Fatalf("agent showed %q", prompt)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the agent showed no prompt")
	}
	master.Write([]byte("654321\r"))
	select {
	case r := <-done:
		if r.err != nil || string(r.secret) != "654321" {
			t.Fatalf("Ask = %q, %v", r.secret, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no answer through systemd-tty-ask-password-agent")
	}
	cmd.Wait()
}

// TestAgentPrompterFileDir creates the files in FileDir but advertises Dir
// (a root storage daemon after switch_root reaches /run relatively).
func TestAgentPrompterFileDir(t *testing.T) {
	fsDir := t.TempDir()
	a := &AgentPrompter{Dir: "/run/systemd/ask-password", FileDir: fsDir, Timeout: 30 * time.Second}
	done := make(chan error, 1)
	go func() {
		s, err := a.Ask(context.Background(), agentRequest())
		if err == nil && string(s) != "pin" {
			err = fmt.Errorf("secret %q", s)
		}
		done <- err
	}()
	_, f := waitAsk(t, fsDir)
	if !strings.HasPrefix(f["Socket"], "/run/systemd/ask-password/sck.") {
		t.Fatalf("Socket=%s, want it under the advertised directory", f["Socket"])
	}
	answer(t, filepath.Join(fsDir, filepath.Base(f["Socket"])), "+pin")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
