package hostile

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/internal/testenv"
	"github.com/keyunlock/keyunlock/softkeys"
)

// corpusKeystore returns a Keystore over the corpus's unprotected v4
// message key and that key's public part.
func corpusKeystore(t *testing.T) (*core.Keystore, *pgp.PublicKey) {
	t.Helper()
	b, err := softkeys.New([]string{filepath.Join(corpusDir, "keys", "message-key-v4.pgp")})
	if err != nil {
		t.Fatal(err)
	}
	var pub *pgp.PublicKey
	for _, f := range b.Files() {
		for _, k := range f.SoftKeys() {
			if k.CanDecrypt() {
				pub = k.PublicKey()
			}
		}
	}
	if pub == nil {
		t.Fatal("no decryption key in the corpus key")
	}
	return core.NewKeystore(b), pub
}

// pkesksOf encrypts a message to pub and returns its PKESKs' bodies.
func pkesksOf(t *testing.T, pub *pgp.PublicKey) [][]byte {
	t.Helper()
	var msg bytes.Buffer
	if err := core.Encrypt(&msg, []*pgp.PublicKey{pub}, []byte("x")); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	// The first packet is the PKESK, with a one-octet length.
	data := msg.Bytes()
	if data[0] != 0xC1 || data[1] >= 192 {
		t.Fatalf("unexpected PKESK header % x", data[:2])
	}
	out = append(out, data[2:2+int(data[1])])
	return out
}

// slowService delays DecryptPKESKs like a card waiting for a touch, and
// counts the calls in progress.
type slowService struct {
	core.Service
	delay   time.Duration
	running atomic.Int32
}

func (s *slowService) DecryptPKESKs(ctx context.Context, p []*core.PKESK) (*core.Result, error) {
	s.running.Add(1)
	defer s.running.Add(-1)
	time.Sleep(s.delay)
	return s.Service.DecryptPKESKs(ctx, p)
}

// startServer serves svc on a fresh socket and returns its path and a
// function that shuts it down.
func startServer(t *testing.T, svc core.Service, logw io.Writer) (string, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k.sock")
	l, err := core.Listen(path, core.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &core.Server{Service: svc, Logger: log.New(logw, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	return path, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	}
}

// noLeak waits for the goroutine count to come back to before.
func noLeak(t *testing.T, before int) {
	t.Helper()
	testenv.NoGoroutineLeak(t, before, 10*time.Second)
}

// TestDaemonClientVanishes has clients disappear in the middle of their
// request (half a message) and while their request is being served (the
// reply has nowhere to go). The daemon must keep serving the others, answer
// correctly, and leave no goroutine behind.
func TestDaemonClientVanishes(t *testing.T) {
	ks, pub := corpusKeystore(t)
	bodies := pkesksOf(t, pub)
	before := runtime.NumGoroutine()
	svc := &slowService{Service: ks, delay: 30 * time.Millisecond}
	var logb syncBuffer
	path, stop := startServer(t, svc, &logb)

	call := []byte(fmt.Sprintf(`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["%s"]}}`, base64.StdEncoding.EncodeToString(bodies[0])) + "\x00")
	for i := 0; i < 60; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0: // half a request, then gone
			c.Write(call[:len(call)/2])
		case 1: // a whole request, gone before the reply
			c.Write(call)
		case 2: // a whole request, reading half-closed, then gone
			c.Write(call)
			c.(*net.UnixConn).CloseWrite()
		}
		c.Close()
	}
	// Meanwhile and afterwards, a well-behaved client is served correctly.
	cl, err := core.Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := core.ParsePKESK(bodies[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		res, err := cl.DecryptPKESKs(context.Background(), []*core.PKESK{pk})
		if err != nil {
			t.Fatalf("a good client after vanished ones: %v", err)
		}
		if len(res.SessionKey.Key) == 0 {
			t.Fatal("empty session key")
		}
		res.SessionKey.Wipe()
	}
	cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for svc.running.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	noLeak(t, before)
	if bytes.Contains(logb.Bytes(), []byte("panic")) {
		t.Errorf("daemon log:\n%s", logb.Bytes())
	}
}

// TestDaemonManyClients has 16 clients make 10000 calls each over the
// socket, alternating key listings and session key decryptions, then checks
// that every answer was right and no goroutine is left.
func TestDaemonManyClients(t *testing.T) {
	ks, pub := corpusKeystore(t)
	bodies := pkesksOf(t, pub)
	pk, err := core.ParsePKESK(bodies[0])
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	path, stop := startServer(t, ks, io.Discard)
	const clients = 16
	calls := 10000
	if testing.Short() {
		calls = 200
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := core.Dial(context.Background(), path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := 0; j < calls; j++ {
				if j%10 == 0 {
					res, err := c.DecryptPKESKs(context.Background(), []*core.PKESK{pk})
					if err != nil {
						errs <- err
						return
					}
					res.SessionKey.Wipe()
					continue
				}
				keys, err := c.ListKeys(context.Background())
				if err != nil {
					errs <- err
					return
				}
				if len(keys) != 2 {
					errs <- fmt.Errorf("call %d: %d keys", j, len(keys))
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
	stop()
	noLeak(t, before)
}

// TestDecryptFullDisk decrypts to -o OUT on a 64 KiB tmpfs with a 256 KiB
// plaintext: the command must fail with an error naming OUT and the cause,
// write nothing to stdout, leave an existing OUT untouched and leave no
// temporary file behind.
func TestDecryptFullDisk(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "mount", "umount")
	_, pub := corpusKeystore(t)
	plain := make([]byte, 256<<10)
	rand.Read(plain)
	dir := t.TempDir()
	msg := filepath.Join(dir, "big.pgp")
	var mb bytes.Buffer
	if err := core.Encrypt(&mb, []*pgp.PublicKey{pub}, plain); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(msg, mb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "full")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "mounting a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	key := filepath.Join(corpusDir, "keys", "message-key-v4.pgp")

	out := filepath.Join(mnt, "keyfile")
	r := runCLI(t, "decrypt", "--key", key, "-o", out, msg)
	checkFullDisk(t, r, out)
	if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
		t.Errorf("files left on the full disk: %v", ents)
	}

	// An existing OUT stays as it was.
	old := []byte("previous keyfile\n")
	if err := os.WriteFile(out, old, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "decrypt", "--key", key, "-o", out, msg)
	checkFullDisk(t, r, out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, old) {
		t.Errorf("OUT changed to %d bytes", len(got))
	}
	if ents, _ := os.ReadDir(mnt); len(ents) != 1 {
		t.Errorf("files left on the full disk: %v", ents)
	}
}

func checkFullDisk(t *testing.T, r cliResult, out string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("decrypt to a full disk succeeded")
	}
	if len(r.stdout) != 0 {
		t.Errorf("%d bytes on stdout", len(r.stdout))
	}
	if e := string(r.stderr); !strings.Contains(e, out) || !strings.Contains(e, "no space left on device") {
		t.Errorf("error does not name OUT and the cause: %s", e)
	}
}
