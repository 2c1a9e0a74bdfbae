package hostile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"github.com/keyunlock/keyunlock/softkeys"
)

// corpusDir is the corpus, relative to this package.
const corpusDir = "../../testdata/hostile"

// Bounds for one corpus file. They detect hangs and unbounded allocation;
// they say nothing about speed.
const (
	hangBound = 60 * time.Second
	// allocBound caps the bytes allocated while handling one file. The
	// default message limit is 16 MiB; decryption and decompression may
	// each hold a copy, buffers double as they grow, and softkeys may run
	// Argon2 with the 64 KiB the valid corpus keys ask for.
	allocBound = 256 << 20
)

func load(t *testing.T) *Manifest {
	t.Helper()
	m, err := Load(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestManifestCoversCorpus(t *testing.T) {
	m := load(t)
	listed := map[string]bool{}
	hostile := 0
	for _, e := range m.Entries {
		if listed[e.File] {
			t.Errorf("%s listed twice", e.File)
		}
		listed[e.File] = true
		if _, err := os.Stat(filepath.Join(corpusDir, e.File)); err != nil {
			t.Errorf("%s: %v", e.File, err)
		}
		if e.Class != ClassOK {
			hostile++
		}
		if e.Note == "" {
			t.Errorf("%s has no note", e.File)
		}
	}
	err := filepath.Walk(corpusDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || fi.Name() == ManifestName || fi.Name() == "README" {
			return err
		}
		rel, _ := filepath.Rel(corpusDir, p)
		if !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s is not in %s", rel, ManifestName)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if hostile < 40 {
		t.Errorf("only %d hostile files, want at least 40", hostile)
	}
}

// outcome is what handling one corpus file produced.
type outcome struct {
	plaintext []byte
	err       error
	alloc     uint64
}

// bounded runs fn with a deadline, failing the test when fn does not return
// within hangBound or allocates more than allocBound, and recovering panics
// as test failures.
func bounded(t *testing.T, fn func(ctx context.Context) ([]byte, error)) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangBound/2)
	defer cancel()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if r := recover(); r != nil {
				o.err = fmt.Errorf("PANIC: %v", r)
				o.plaintext = nil
				done <- o
			}
		}()
		o.plaintext, o.err = fn(ctx)
		done <- o
	}()
	select {
	case o := <-done:
		runtime.ReadMemStats(&after)
		o.alloc = after.TotalAlloc - before.TotalAlloc
		if o.err != nil && strings.HasPrefix(o.err.Error(), "PANIC") {
			t.Fatal(o.err)
		}
		if o.alloc > allocBound {
			t.Errorf("allocated %d MiB, above the %d MiB bound", o.alloc>>20, allocBound>>20)
		}
		return o
	case <-time.After(hangBound):
		t.Fatalf("no answer within %v: hang", hangBound)
	}
	return outcome{}
}

// passphrase answers every prompt with the corpus passphrase, once per key.
type passphrase struct{ secret string }

func (p passphrase) Ask(ctx context.Context, req core.PromptRequest) ([]byte, error) {
	if req.Attempt > 1 {
		return nil, core.ErrNoMoreSecrets
	}
	return []byte(p.secret), nil
}
func (passphrase) Notify(context.Context, string) {}

// classOf names the class of an error by the sentinels and wording of
// core and softkeys. The wording checks are deliberately loose: they tell
// the classes apart, they do not pin messages.
func classOf(kind string, err error) string {
	if err == nil {
		return ClassOK
	}
	msg := err.Error()
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(msg, w) {
				return true
			}
		}
		return false
	}
	var nk *core.NoKeyError
	switch {
	case kind == KindKey && has("not a secret key", "no secret key"):
		return ClassNoSecret
	case errors.Is(err, core.ErrIntegrity):
		return ClassIntegrity
	case errors.Is(err, core.ErrBadSecret):
		return ClassBadSecret
	case errors.As(err, &nk) || errors.Is(err, core.ErrNoKey):
		return ClassNoKey
	case has("limit", "too large", "larger than", "nested too deeply", "compression bomb"):
		return ClassLimit
	case has("unsupported", "not supported", "unknown", "password only"):
		return ClassUnsupported
	case has("starts with a literal", "starts with a compressed"):
		return ClassNotEncrypted
	}
	return ClassMalformed
}

func TestHostileMessages(t *testing.T) {
	m := load(t)
	for _, e := range m.Entries {
		if e.Kind != KindMessage {
			continue
		}
		t.Run(strings.TrimPrefix(e.File, "messages/"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpusDir, e.File))
			if err != nil {
				t.Fatal(err)
			}
			b, err := softkeys.New([]string{filepath.Join(corpusDir, e.Key)})
			if err != nil {
				t.Fatal(err)
			}
			ks := core.NewKeystore(b)
			o := bounded(t, func(ctx context.Context) ([]byte, error) {
				msg, err := core.DecryptMessage(ctx, ks, bytes.NewReader(data), core.DecryptOptions{Prompter: passphrase{m.Passphrase}})
				if msg != nil {
					if err != nil {
						return nil, fmt.Errorf("a message returned along with the error %w", err)
					}
					return msg.Plaintext, nil
				}
				return nil, err
			})
			checkOutcome(t, e, o)
			if e.Class == ClassOK {
				pt := []byte(m.Plaintext)
				if len(o.plaintext) == 0 || len(o.plaintext)%len(pt) != 0 || !bytes.Equal(o.plaintext, bytes.Repeat(pt, len(o.plaintext)/len(pt))) {
					t.Errorf("plaintext %q is not the corpus plaintext", trim(o.plaintext))
				}
			} else if o.plaintext != nil {
				t.Errorf("plaintext returned for a hostile message: %q", trim(o.plaintext))
			}
		})
	}
}

func TestHostileKeys(t *testing.T) {
	m := load(t)
	for _, e := range m.Entries {
		if e.Kind != KindKey {
			continue
		}
		t.Run(strings.TrimPrefix(e.File, "keys/"), func(t *testing.T) {
			path := filepath.Join(corpusDir, e.File)
			o := bounded(t, func(ctx context.Context) ([]byte, error) {
				b, err := softkeys.New([]string{path})
				if err != nil {
					return nil, err
				}
				devs, err := b.Devices(ctx)
				if err != nil {
					return nil, err
				}
				var recipients []*pgp.PublicKey
				for _, d := range devs {
					keys, err := d.Keys(ctx)
					if err != nil {
						return nil, err
					}
					for _, k := range keys {
						if err := k.Available(ctx); err != nil {
							continue
						}
						if k.Locked() {
							if err := k.Unlock(ctx, []byte(m.Passphrase)); err != nil {
								return nil, err
							}
						}
						if k.CanDecrypt() {
							recipients = append(recipients, k.PublicKey())
						}
					}
				}
				if len(recipients) == 0 {
					return nil, errors.New("no secret key material in the file")
				}
				// Prove the key works end to end: every decryption key
				// must open a message encrypted to it.
				var enc bytes.Buffer
				if err := core.Encrypt(&enc, recipients, []byte(m.Plaintext)); err != nil {
					return nil, err
				}
				msg, err := core.DecryptMessage(ctx, core.NewKeystore(b), &enc, core.DecryptOptions{})
				if err != nil {
					return nil, err
				}
				if string(msg.Plaintext) != m.Plaintext {
					return nil, fmt.Errorf("the key decrypted to %q", msg.Plaintext)
				}
				return nil, nil
			})
			checkOutcome(t, e, o)
		})
	}
}

func checkOutcome(t *testing.T, e Entry, o outcome) {
	t.Helper()
	got := classOf(e.Kind, o.err)
	if got != e.Class {
		t.Errorf("%s (%s): got class %s, want %s; error: %v", e.File, e.Note, got, e.Class, o.err)
	}
	if o.err != nil && !strings.Contains(o.err.Error(), " ") {
		t.Errorf("error %q is not a sentence", o.err)
	}
	t.Logf("%s: %v (allocated %d KiB)", got, o.err, o.alloc>>10)
}

func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
