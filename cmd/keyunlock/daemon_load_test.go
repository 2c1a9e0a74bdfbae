package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/testenv"
	"github.com/keyunlock/keyunlock/softkeys"
)

// TestDaemonConcurrentDecrypts serves the real Keystore over softkeys with
// the gpg cv25519 fixture key and has 16 clients decrypt the fixture
// message 1000 times each through the socket; then it checks that no
// goroutine is left over.
func TestDaemonConcurrentDecrypts(t *testing.T) {
	set := fixtures.Load(t)
	k := set.Key(t, "gpg-cv25519")
	msg := fixtures.ReadFile(t, k.Messages[0].File)
	want := fixtures.ReadFile(t, k.Messages[0].Plaintext)

	before := runtime.NumGoroutine()
	soft, err := softkeys.New([]string{k.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	ks := core.NewKeystore(soft)
	path := filepath.Join(t.TempDir(), "k.sock")
	l, err := core.Listen(path, core.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &core.Server{Service: ks, Logger: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	ctx := context.Background()
	c0, err := core.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c0.Unlock(ctx, k.EncryptFpr, []byte(k.Passphrase), core.UnlockOptions{}); err != nil {
		t.Fatal(err)
	}
	c0.Close()

	const clients = 16
	calls := 1000
	if testing.Short() {
		calls = 50
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := core.Dial(ctx, path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := 0; j < calls; j++ {
				m, err := core.DecryptMessage(ctx, c, bytes.NewReader(msg), core.DecryptOptions{})
				if err != nil {
					errs <- fmt.Errorf("call %d: %w", j, err)
					return
				}
				ok := bytes.Equal(m.Plaintext, want)
				m.Wipe()
				if !ok {
					errs <- fmt.Errorf("call %d: wrong plaintext", j)
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
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	<-served
	testenv.NoGoroutineLeak(t, before, 5*time.Second)
}
