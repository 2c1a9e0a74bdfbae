package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// checkStatic fails unless path is an ELF executable with no interpreter
// and no shared library dependency.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: it is dynamically linked", path)
		}
		if p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a dynamic section", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}

func TestBinaryIsStatic(t *testing.T) {
	checkStatic(t, keyunlockBin)
	// bin/keyunlock, as built by "make" (make test builds it first).
	bin := filepath.Join("..", "..", "bin", "keyunlock")
	if _, err := os.Stat(bin); err != nil {
		testenv.Unavailable(t, "%s (run make build)", bin)
	}
	checkStatic(t, bin)
}

func TestNoCgoDependency(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		n++
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		if f[0] == "runtime/cgo" || f[0] == "C" || f[1] != "0" {
			t.Errorf("cgo dependency: %s", l)
		}
	}
	if n < 10 {
		t.Fatalf("go list returned only %d packages", n)
	}
}

// TestNoNetPackage checks that the binary does without package net even
// when cgo is enabled: net (its resolver, DNS parser and initialisation)
// costs size and start-up time, and would pull in runtime/cgo. Sockets go
// through internal/unixsock. go list needs no C compiler for this.
func TestNoNetPackage(t *testing.T) {
	tools := testenv.RequireTool(t, "go")
	cmd := exec.Command(tools["go"], "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 10 || pkgs[len(pkgs)-1] != "github.com/keyunlock/keyunlock/cmd/keyunlock" {
		t.Fatalf("go list -deps returned an unexpected list: %q", pkgs)
	}
	for _, p := range pkgs {
		switch {
		case p == "net" || strings.HasPrefix(p, "net/"):
			t.Errorf("keyunlock imports %s (use internal/unixsock for sockets)", p)
		case p == "runtime/cgo":
			t.Errorf("keyunlock imports runtime/cgo with CGO_ENABLED=1")
		}
	}
}
