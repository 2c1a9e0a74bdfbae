// Package testenv lets tests demand the external tools they need (gpg, sq,
// pcscd, qemu…). Under "make test" (KEYUNLOCK_TEST_STRICT=1) a missing tool
// fails the test loudly; in a bare "go test" run it skips with the reason.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether missing tools must fail tests instead of skipping them.
func Strict() bool { return os.Getenv("KEYUNLOCK_TEST_STRICT") == "1" }

// Unavailable fails (strict) or skips (otherwise) the test with the reason.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("required for this test but unavailable: "+format, args...)
	}
	t.Skipf("skipping, unavailable: "+format, args...)
}

// RequireTool returns the path of each named executable, or stops the test
// through Unavailable when one is missing.
func RequireTool(t testing.TB, names ...string) map[string]string {
	t.Helper()
	paths := make(map[string]string, len(names))
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			Unavailable(t, "%s not found in PATH (make test installs it)", n)
		}
		paths[n] = p
	}
	return paths
}

// RequireRoot stops the test through Unavailable unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "root privileges")
	}
}
