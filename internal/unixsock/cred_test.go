package unixsock

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

func TestPeerCredSelf(t *testing.T) {
	noFDLeak(t)
	c, s := pair(t)
	for _, conn := range []*Conn{c, s} {
		cred, err := conn.PeerCred()
		if err != nil {
			t.Fatal(err)
		}
		if cred.PID != os.Getpid() || cred.UID != os.Geteuid() || cred.GID != os.Getegid() {
			t.Fatalf("PeerCred() = %+v, want pid %d uid %d gid %d", cred, os.Getpid(), os.Geteuid(), os.Getegid())
		}
	}
	c.Close()
	if _, err := c.PeerCred(); err == nil {
		t.Fatal("PeerCred on a closed Conn succeeded")
	}
}

// TestPeerCredOtherUser: a client process running as nobody is seen as
// nobody, with its own pid.
func TestPeerCredOtherUser(t *testing.T) {
	testenv.RequireRoot(t)
	noFDLeak(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "helper")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.sock")
	l, err := Listen(path, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "UNIXSOCK_TEST_DIAL="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l.SetDeadline(time.Now().Add(10 * time.Second))
	s, err := l.Accept()
	if err != nil {
		cmd.Process.Kill()
		msg, _ := io.ReadAll(out)
		cmd.Wait()
		t.Fatalf("no connection from the helper: %v %s", err, msg)
	}
	cred, err := s.PeerCred()
	s.Close() // the helper exits on EOF
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if cred.UID != 65534 || cred.GID != 65534 || cred.PID != cmd.Process.Pid {
		t.Fatalf("PeerCred() = %+v, want pid %d uid 65534 gid 65534", cred, cmd.Process.Pid)
	}
}
