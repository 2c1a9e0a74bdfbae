package card

import (
	"context"
	"errors"
	"io"
	"log"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/card/vpcd"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/pcsc"
)

// Faults a faultyCard injects when it receives PSO:DECIPHER.
const (
	faultNone    = iota
	faultGarbage // answer random bytes
	faultSilent  // answer nothing until released
	faultRemove  // the card is pulled out while it computes
	faultKill    // pcscd dies while the card computes
)

// faultyCard is the simulator behind vpcd with a switchable fault on
// PSO:DECIPHER (INS 2A).
type faultyCard struct {
	vpcd.Card
	fault   atomic.Int32
	release chan struct{}
	onFault func(kind int32) // runs in the card's goroutine when the fault fires
}

func (c *faultyCard) Transmit(cmd []byte) []byte {
	if len(cmd) > 2 && cmd[1] == 0x2A {
		switch k := c.fault.Load(); k {
		case faultGarbage:
			return []byte{0x13, 0x37, 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x42, 0x61}
		case faultSilent:
			select {
			case <-c.release:
			case <-time.After(time.Minute):
			}
			return []byte{0x6F, 0x00}
		case faultRemove, faultKill:
			c.onFault(k)
			time.Sleep(300 * time.Millisecond)
			return []byte{0x6F, 0x00}
		}
	}
	return c.Card.Transmit(cmd)
}

// TestDaemonSurvivesCardFaults serves a card key through the daemon (core
// Server over the card backend, pcscd and vpcd with the simulator) and
// injects faults in the middle of PSO:DECIPHER: garbage answers, a silent
// card (the transmit deadline must end the call), the card pulled out, and
// pcscd killed. Each failing call must end with a clear error in bounded
// time while the daemon keeps answering other clients, and decryption must
// work again once the fault is gone (pcscd excepted).
func TestDaemonSurvivesCardFaults(t *testing.T) {
	srv := pcsctest.Start(t)
	f := newFixture(t, "cv25519", "")
	fc := &faultyCard{Card: f.card, release: make(chan struct{})}
	fe := srv.InsertCard(t, 0, fc)
	fc.onFault = func(kind int32) {
		if kind == faultRemove {
			fe.Remove()
		} else {
			srv.Kill()
		}
	}
	conn, err := NewPCSCConnector(pcsc.WithSocket(srv.Socket), pcsc.WithTransmitTimeout(2*time.Second), pcsc.WithCallTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b := NewBackend(Options{Connector: conn, Certs: f.cert(t)})
	defer b.Close()
	ks := core.NewKeystore(b)
	path := filepath.Join(t.TempDir(), "k.sock")
	l, err := core.Listen(path, core.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	server := &core.Server{Service: ks, Logger: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- server.Serve(l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			t.Errorf("daemon shutdown: %v", err)
		}
		<-served
	}()

	ctx := context.Background()
	cl, err := core.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	other, err := core.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	pk, _ := pkeskOf(t, f.msg)

	// decrypt unlocks the card key when needed and returns the session
	// key's length or the error.
	decrypt := func() error {
		for i := 0; i < 2; i++ {
			res, err := cl.DecryptPKESKs(ctx, []*core.PKESK{pk})
			var le *core.LockedError
			if errors.As(err, &le) {
				if err := cl.Unlock(ctx, le.Candidates[0].Key.Fingerprint, []byte("123456"), core.UnlockOptions{}); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if len(res.SessionKey.Key) == 0 {
				return errors.New("empty session key")
			}
			res.SessionKey.Wipe()
			return nil
		}
		return errors.New("the key stays locked")
	}
	// stillServing checks that another client is answered while the card is broken.
	stillServing := func(what string) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if _, err := other.ListKeys(c); err != nil && !strings.Contains(err.Error(), "card") {
			t.Errorf("%s: the daemon does not answer other clients: %v", what, err)
		}
	}
	failClearly := func(what string, kind int32, words ...string) {
		t.Helper()
		fc.fault.Store(kind)
		start := time.Now()
		err := decrypt()
		fc.fault.Store(faultNone)
		if err == nil {
			t.Fatalf("%s: decryption succeeded", what)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: the error took %v", what, d)
		}
		msg := err.Error()
		ok := false
		for _, w := range words {
			ok = ok || strings.Contains(msg, w)
		}
		if !ok || !strings.Contains(msg, "12345678") {
			t.Errorf("%s: unclear error (want the card's serial and one of %q): %v", what, words, err)
		}
		t.Logf("%s: %v (after %v)", what, err, time.Since(start).Round(time.Millisecond))
		stillServing(what)
	}

	if err := decrypt(); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	failClearly("garbage answer", faultGarbage, "card")
	if err := decrypt(); err != nil {
		t.Fatalf("after garbage: %v", err)
	}

	go func() { time.Sleep(5 * time.Second); close(fc.release) }()
	failClearly("silent card", faultSilent, "stopped answering", "did not answer")
	// vpcd is busy until the card answers; then the card works again.
	time.Sleep(5 * time.Second)
	if err := decrypt(); err != nil {
		t.Fatalf("after a silent card: %v", err)
	}

	failClearly("card removed mid-PSO", faultRemove, "removed", "insert")
	fe.Insert()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.WaitPresent(wctx, 0, true); err != nil {
		t.Fatal(err)
	}
	// A user runs the command again once the card is back; pcscd may
	// need a moment to power it.
	err = decrypt()
	for i := 0; err != nil && i < 10; i++ {
		t.Logf("after reinsertion, attempt %d: %v", i+1, err)
		time.Sleep(500 * time.Millisecond)
		err = decrypt()
	}
	if err != nil {
		t.Fatalf("after reinsertion: %v", err)
	}

	failClearly("pcscd killed mid-PSO", faultKill, "pcscd", "smart-card service")
	if _, err := other.ListKeys(ctx); err != nil && !strings.Contains(err.Error(), "pcscd") {
		t.Errorf("after pcscd died, ListKeys: %v", err)
	}
}
