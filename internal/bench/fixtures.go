package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/keyunlock/keyunlock/internal/fixtures"
)

// tb lets the bench program use the test fixtures outside "go test": the
// few testing.TB methods fixtures and testenv call are implemented here;
// a failure panics with its message.
type tb struct {
	testing.TB
	dirs     []string
	cleanups []func()
}

// finish runs the cleanups, last first, and removes the temp dirs.
func (t *tb) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	for _, d := range t.dirs {
		os.RemoveAll(d)
	}
}

func (t *tb) Helper()                   {}
func (t *tb) Name() string              { return "bench" }
func (t *tb) Logf(f string, a ...any)   { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (t *tb) Log(a ...any)              { fmt.Fprintln(os.Stderr, a...) }
func (t *tb) Errorf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *tb) Error(a ...any)            { panic(fmt.Sprint(a...)) }
func (t *tb) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *tb) Fatal(a ...any)            { panic(fmt.Sprint(a...)) }
func (t *tb) Skipf(f string, a ...any)  { panic("unavailable: " + fmt.Sprintf(f, a...)) }
func (t *tb) Skip(a ...any)             { panic("unavailable: " + fmt.Sprint(a...)) }
func (t *tb) Failed() bool              { return false }
func (t *tb) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *tb) Setenv(k, v string)        { os.Setenv(k, v) }
func (t *tb) TempDir() string {
	d, err := os.MkdirTemp("", "keyunlock-bench-")
	if err != nil {
		panic(err)
	}
	t.dirs = append(t.dirs, d)
	return d
}

// loadFixtures returns the shared fixture set (generated on first use).
func loadFixtures() *fixtures.Set {
	return fixtures.Load(&tb{})
}
