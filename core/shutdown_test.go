package core

import (
	"context"
	"errors"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slowService delays DecryptPKESKs so that Shutdown finds a call in progress.
type slowService struct {
	*testKeyService
	started chan struct{}
}

func (s *slowService) DecryptPKESKs(ctx context.Context, p []*PKESK) (*Result, error) {
	close(s.started)
	time.Sleep(300 * time.Millisecond)
	return s.testKeyService.DecryptPKESKs(ctx, p)
}

func TestServerGracefulShutdown(t *testing.T) {
	base := newTestKeyService(t)
	base.locked = false
	svc := &slowService{testKeyService: base, started: make(chan struct{})}
	path := filepath.Join(t.TempDir(), "k.sock")
	l, err := Listen(path, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lg := &testLog{}
	srv := &Server{Service: svc, Logger: log.New(lg, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	busy := dial(t, path)
	idle := dial(t, path)
	if _, err := idle.ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	pk, want := base.testPKESK(t)
	res := make(chan error, 1)
	go func() {
		r, err := busy.DecryptPKESKs(context.Background(), []*PKESK{pk})
		if err == nil && string(r.SessionKey.Key) != string(want) {
			err = errors.New("wrong session key")
		}
		res <- err
	}()
	<-svc.started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// The call in progress got its answer; Serve has returned; the socket is gone.
	if err := <-res; err != nil {
		t.Fatalf("call in progress during Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file after Shutdown: %v", err)
	}
	if _, err := idle.ListKeys(context.Background()); err == nil {
		t.Fatal("an idle connection still works after Shutdown")
	}
}

func TestKeyProviderPeerGoesAway(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vol.pgp"), []byte("x"), 0o600)
	store, _ := NewKeyfileStore(dir, true)
	lg := &testLog{}
	canceled := make(chan struct{})
	kp := &KeyProvider{Keyfiles: store, Logger: log.New(lg, "", 0), Timeout: time.Minute,
		Decrypt: func(ctx context.Context, volume string, enc []byte) ([]byte, error) {
			<-ctx.Done() // a prompt nobody answers
			close(canceled)
			return nil, ctx.Err()
		}}
	path := startKeyProvider(t, kp)
	// systemd-cryptsetup gives up (its own timeout, or the passphrase was
	// typed at its prompt) and closes the connection.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		cryptsetupReadCtx(ctx, path, "vol")
	}()
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the pending decryption was not canceled when the peer went away")
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(lg.String(), `volume "vol": context canceled`) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(lg.String(), `volume "vol": context canceled`) {
		t.Fatalf("log: %s", lg)
	}
}
