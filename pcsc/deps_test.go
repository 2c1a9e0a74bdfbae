package pcsc_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestNoCgoNoScard checks that keyunlock and this package never pull in
// github.com/ebfe/scard (a test-only dependency behind the scard tag) or
// cgo.
func TestNoCgoNoScard(t *testing.T) {
	tools := testenv.RequireTool(t, "go")
	for _, env := range [][]string{{"CGO_ENABLED=0"}, nil} {
		for _, args := range [][]string{{"list", "-deps", "../cmd/keyunlock"}, {"list", "-deps", "-test", "."}} {
			cmd := exec.Command(tools["go"], args...)
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go %v: %v\n%s", args, err, out)
			}
			for _, pkg := range strings.Fields(string(out)) {
				if strings.HasPrefix(pkg, "github.com/ebfe/scard") {
					t.Errorf("%v go %v includes %s", env, args, pkg)
				}
				if env != nil && pkg == "runtime/cgo" {
					t.Errorf("%v go %v includes runtime/cgo", env, args)
				}
			}
		}
	}
	imports, err := exec.Command(tools["go"], "list", "-f", "{{.CgoFiles}} {{.Imports}}", ".").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(imports), "[] ") || strings.Contains(string(imports), " C ") {
		t.Fatalf("package pcsc uses cgo: %s", imports)
	}
}
