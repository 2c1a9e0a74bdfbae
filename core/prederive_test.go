package core

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFilePrompterPrefetch: Prefetch reads the file once; Ask returns that
// secret without reading again, then runs out; an error is kept for Ask.
func TestFilePrompterPrefetch(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pass")
	os.WriteFile(p, []byte("early\nrest\n"), 0o600)
	fp := NewFilePrompter(p)
	got, err := fp.Prefetch(ctx)
	if err != nil || string(got) != "early" {
		t.Fatalf("Prefetch: %q, %v", got, err)
	}
	Wipe(got) // the caller's copy
	os.Remove(p)
	if again, err := fp.Prefetch(ctx); err != nil || string(again) != "early" {
		t.Errorf("second Prefetch: %q, %v", again, err)
	}
	if got, err := fp.Ask(ctx, PromptRequest{}); err != nil || string(got) != "early" {
		t.Errorf("Ask after Prefetch: %q, %v", got, err)
	}
	if _, err := fp.Ask(ctx, PromptRequest{Attempt: 2}); !errors.Is(err, ErrNoMoreSecrets) {
		t.Errorf("second Ask: %v", err)
	}
	if _, err := fp.Prefetch(ctx); !errors.Is(err, ErrNoMoreSecrets) {
		t.Errorf("Prefetch after Ask: %v", err)
	}

	// A missing file is left for Ask, which says why.
	missing := NewFilePrompter(filepath.Join(dir, "missing"))
	_, perr := missing.Prefetch(ctx)
	_, aerr := missing.Ask(ctx, PromptRequest{})
	if perr == nil || aerr == nil || !strings.Contains(aerr.Error(), "no such file") {
		t.Errorf("missing file: Prefetch %v, Ask %v", perr, aerr)
	}
	// An error reading a regular file is kept for Ask.
	long := filepath.Join(dir, "long")
	os.WriteFile(long, []byte(strings.Repeat("x", maxSecret+1)), 0o600)
	lp := NewFilePrompter(long)
	_, perr = lp.Prefetch(ctx)
	_, aerr = lp.Ask(ctx, PromptRequest{})
	if perr == nil || aerr == nil || perr.Error() != aerr.Error() || !strings.Contains(aerr.Error(), "longer than") {
		t.Errorf("long line: Prefetch %v, Ask %v", perr, aerr)
	}

	// A prefetched secret nobody asked for is dropped; Ask reads anew.
	os.WriteFile(p, []byte("first\n"), 0o600)
	fp = NewFilePrompter(p)
	fp.Prefetch(ctx)
	fp.dropFetched()
	os.WriteFile(p, []byte("second\n"), 0o600)
	if got, err := fp.Ask(ctx, PromptRequest{}); err != nil || string(got) != "second" {
		t.Errorf("Ask after a dropped prefetch: %q, %v", got, err)
	}
}

// prederiveBackend records the Prederive calls made through the Keystore.
type prederiveBackend struct {
	*testBackend
	mu       sync.Mutex
	secrets  []string
	recips   [][]string
	released int
}

func (b *prederiveBackend) Prederive(ctx context.Context, pkesks []*PKESK, secret []byte) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.secrets = append(b.secrets, string(secret))
	var r []string
	for _, p := range pkesks {
		r = append(r, p.Recipient())
	}
	b.recips = append(b.recips, r)
	return func() {
		b.mu.Lock()
		b.released++
		b.mu.Unlock()
	}
}

// TestDecryptMessagePrederives: with a passphrase file and a keystore of
// Prederivers only, DecryptMessage starts the derivation with the file's
// passphrase and the message's PKESKs before it unlocks, and releases it;
// with a card-like backend beside them, or an interactive prompter, it
// does not.
func TestDecryptMessagePrederives(t *testing.T) {
	f := newFixture(t)
	f.k4.lockedBy(LockPassword, "right", -1)
	msg := encryptTo(t, f.keyfile, nil, f.v4)
	pb := &prederiveBackend{testBackend: backendOf(f.k4)}
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("right\n"), 0o600)

	m, err := DecryptMessage(ctx, NewKeystore(pb), strings.NewReader(string(msg)), DecryptOptions{Prompter: NewFilePrompter(pass)})
	if err != nil {
		t.Fatal(err)
	}
	m.Wipe()
	if len(pb.secrets) != 1 || pb.secrets[0] != "right" || pb.released != 1 {
		t.Fatalf("Prederive calls %q, released %d; want one with the file's passphrase, released", pb.secrets, pb.released)
	}
	if want := pkesksOf(t, msg)[0].Recipient(); len(pb.recips[0]) != 1 || pb.recips[0][0] != want {
		t.Errorf("Prederive got recipients %v, want [%s]", pb.recips[0], want)
	}

	// A backend that is no Prederiver (a card) may be the one the secret
	// is for: nothing is started.
	f.k4.Lock()
	pb2 := &prederiveBackend{testBackend: backendOf(f.k4)}
	other := backendOf(keyOf(t, testEntity(t, "card", false), "card 1"))
	if _, err := DecryptMessage(ctx, NewKeystore(pb2, other), strings.NewReader(string(msg)), DecryptOptions{Prompter: NewFilePrompter(pass)}); err != nil {
		t.Fatal(err)
	}
	if len(pb2.secrets) != 0 {
		t.Errorf("Prederive called beside a backend without it")
	}

	// A prompter that must ask someone: nothing is started.
	f.k4.Lock()
	pb3 := &prederiveBackend{testBackend: backendOf(f.k4)}
	if _, err := DecryptMessage(ctx, NewKeystore(pb3), strings.NewReader(string(msg)), DecryptOptions{Prompter: NewScriptedPrompter("right")}); err != nil {
		t.Fatal(err)
	}
	if len(pb3.secrets) != 0 {
		t.Errorf("Prederive called with an interactive prompter")
	}
}

// TestFilePrompterFIFO: a passphrase file that is a pipe is read up to the
// first newline only, so a writer that keeps it open does not block Ask.
func TestFilePrompterFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	done := make(chan struct{})
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write([]byte("piped\n"))
		<-done // keep the pipe open until Ask has returned
		w.Close()
	}()
	defer close(done)
	got := make(chan string, 1)
	go func() {
		s, err := NewFilePrompter(fifo).Ask(ctx, PromptRequest{})
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(s)
	}()
	select {
	case s := <-got:
		if s != "piped" {
			t.Errorf("Ask on a FIFO: %q, want %q", s, "piped")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ask on a FIFO blocked past the first line")
	}
}

// TestPrefetchOnlyRegularFiles: a passphrase from a pipe (a FIFO path or a
// file descriptor) is not prefetched, nor consumed: Ask still reads it.
func TestPrefetchOnlyRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	fp := NewFilePrompter(fifo)
	if s, err := fp.Prefetch(ctx); err == nil || s != nil {
		t.Fatalf("Prefetch on a FIFO: %q, %v; want an error", s, err)
	}
	go func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Write([]byte("later\n"))
			w.Close()
		}
	}()
	if got, err := fp.Ask(ctx, PromptRequest{}); err != nil || string(got) != "later" {
		t.Errorf("Ask on a FIFO after Prefetch: %q, %v", got, err)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fd, err := syscall.Dup(int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	fdp := NewFDPrompter(fd)
	if s, err := fdp.Prefetch(ctx); err == nil || s != nil {
		t.Fatalf("Prefetch on a pipe fd: %q, %v; want an error", s, err)
	}
	w.Write([]byte("piped\n"))
	w.Close()
	if got, err := fdp.Ask(ctx, PromptRequest{}); err != nil || string(got) != "piped" {
		t.Errorf("Ask on a pipe fd after Prefetch: %q, %v", got, err)
	}

	// A regular file on a descriptor is prefetched.
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("onfd\n"), 0o600)
	f, err := os.Open(pass)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd2, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	fdr := NewFDPrompter(fd2)
	if s, err := fdr.Prefetch(ctx); err != nil || string(s) != "onfd" {
		t.Errorf("Prefetch on a file fd: %q, %v", s, err)
	}
	if got, err := fdr.Ask(ctx, PromptRequest{}); err != nil || string(got) != "onfd" {
		t.Errorf("Ask on a file fd after Prefetch: %q, %v", got, err)
	}
}
