package core

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestMain lets the test binary double as a client helper running under
// another uid (see TestDaemonRefusesOtherUsers).
func TestMain(m *testing.M) {
	if path := os.Getenv("KEYUNLOCK_TEST_PEER_CLIENT"); path != "" {
		c, err := Dial(context.Background(), path)
		if err == nil {
			_, err = c.ListKeys(context.Background())
		}
		fmt.Printf("uid=%d err=%v\n", os.Getuid(), err)
		os.Exit(0)
	}
	if path := os.Getenv("KEYUNLOCK_TEST_CRYPTSETUP_CLIENT"); path != "" {
		key, err := cryptsetupConnect(path, "cryptroot")
		fmt.Printf("uid=%d key=%q err=%v\n", os.Getuid(), key, err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// publicCopyOfTestBinary copies the test binary into a world-readable
// directory so that a process running as nobody can execute it.
func publicCopyOfTestBinary(t *testing.T) (bin, dir string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin = filepath.Join(dir, "peer-helper")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	return bin, dir
}

func TestDaemonRefusesOtherUsers(t *testing.T) {
	testenv.RequireRoot(t)
	bin, dir := publicCopyOfTestBinary(t)
	svc := newTestKeyService(t)
	path, _, lg := startServerAt(t, svc, filepath.Join(dir, "keyunlock.sock"), nil)
	// Open the file system path so that only SO_PEERCRED stands in the way.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	run := func(uid, gid uint32, groups []uint32) string {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), "KEYUNLOCK_TEST_PEER_CLIENT="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	out := run(65534, 65534, nil)
	if !strings.Contains(out, "uid=65534") || !strings.Contains(out, "refused this user") || !strings.Contains(out, ErrNamePermissionDenied) {
		t.Fatalf("a client running as nobody was not refused: %s", out)
	}
	if !strings.Contains(lg.String(), "refusing a connection: peer pid") || !strings.Contains(lg.String(), "uid 65534") {
		t.Fatalf("no log line for the refused peer:\n%s", lg)
	}
	// Root is admitted.
	if out := run(0, 0, nil); !strings.Contains(out, "err=<nil>") {
		t.Fatalf("root was refused: %s", out)
	}
}

func TestDaemonAllowGroup(t *testing.T) {
	testenv.RequireRoot(t)
	bin, dir := publicCopyOfTestBinary(t)
	svc := newTestKeyService(t)
	path, _, _ := startServerAt(t, svc, filepath.Join(dir, "keyunlock.sock"), func(s *Server) {
		s.Access = AccessPolicy{AllowGroup: true, GID: 4242}
	})
	os.Chmod(path, 0o666)
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "KEYUNLOCK_TEST_PEER_CLIENT="+path)
	// A supplementary group is enough.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{4242}}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "err=<nil>") {
		t.Fatalf("a member of the allowed group was refused: %v %s", err, out)
	}
}

func TestKeyProviderRefusesOtherUsers(t *testing.T) {
	testenv.RequireRoot(t)
	bin, dir := publicCopyOfTestBinary(t)
	os.WriteFile(filepath.Join(dir, "cryptroot.pgp"), []byte("k"), 0o600)
	store, _ := NewKeyfileStore(dir, true)
	lg := &testLog{}
	kp := &KeyProvider{Keyfiles: store, Logger: log.New(lg, "", 0),
		Decrypt: func(ctx context.Context, volume string, enc []byte) ([]byte, error) { return []byte("the key"), nil }}
	path := filepath.Join(dir, "key.sock")
	l, err := Listen(path, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go kp.Serve(l)
	defer kp.Shutdown(context.Background())
	os.Chmod(path, 0o666)
	run := func(uid uint32) string {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), "KEYUNLOCK_TEST_CRYPTSETUP_CLIENT="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v %s", err, out)
		}
		return string(out)
	}
	if out := run(65534); !strings.Contains(out, `key="" err=<nil>`) {
		t.Fatalf("nobody got: %s", out)
	}
	if !strings.Contains(lg.String(), "refusing peer pid") || !strings.Contains(lg.String(), "uid 65534") {
		t.Fatalf("log: %s", lg)
	}
	if out := run(0); !strings.Contains(out, `key="the key"`) {
		t.Fatalf("root got: %s", out)
	}
}
