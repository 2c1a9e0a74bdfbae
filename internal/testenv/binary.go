package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BinaryEnv names the keyunlock binary that tests run instead of building
// their own. make sets it to the binary `make build` made, so that the tests
// run what is shipped, with its build flags (the Makefile's NOINLINE list
// and linker flags), not a plain `go build` of the same source.
const BinaryEnv = "KEYUNLOCK_TEST_BIN"

// Binary returns the keyunlock binary to test: $KEYUNLOCK_TEST_BIN when it is
// set (made absolute, and it must exist), otherwise a fresh static build of
// pkg (a directory, relative to the caller's package) written to out.
func Binary(pkg, out string) (string, error) {
	if b := os.Getenv(BinaryEnv); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("$%s: %v (run make build, or unset it to build one)", BinaryEnv, err)
		}
		return abs, nil
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}
