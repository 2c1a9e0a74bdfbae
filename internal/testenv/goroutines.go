package testenv

import (
	"runtime"
	"testing"
	"time"
)

// NoGoroutineLeak waits up to wait for the number of goroutines to come back
// down to before (taken with runtime.NumGoroutine before the test started its
// servers and clients), and fails the test with every goroutine's stack if
// it does not.
func NoGoroutineLeak(t testing.TB, before int, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutine leak: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
