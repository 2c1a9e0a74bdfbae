package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// heavyPackages must stay out of the binary: go-crypto's openpgp and
// openpgp/packet pull the post-quantum KEMs and signatures, Ed448 and
// image/jpeg (photo IDs) through their algorithm switches, which cost about
// a quarter of the compressed initrd payload. keyunlock reads keys and
// messages with internal/pgp and core instead. encoding/json (its
// reflection-driven codec and the methods it keeps alive, such as time's
// and math/big's text forms) cost about 4 % of it: the varlink protocol has
// its own codec in core (json.go). go-crypto's openpgp/x448 generates keys
// with circl's fixed-base X448 code, which internal/pgp avoids.
var heavyPackages = []string{
	"github.com/ProtonMail/go-crypto/openpgp",
	"github.com/ProtonMail/go-crypto/openpgp/packet",
	"github.com/ProtonMail/go-crypto/openpgp/x448",
	"encoding/json",
	"github.com/cloudflare/circl/sign",
	"github.com/cloudflare/circl/kem",
	"image/jpeg",
}

func TestNoHeavyDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		deps[l] = true
	}
	if !deps["github.com/keyunlock/keyunlock/core"] || !deps["crypto/rsa"] {
		t.Fatalf("go list -deps misses packages keyunlock surely uses: %d packages listed", len(deps))
	}
	for _, p := range heavyPackages {
		if deps[p] {
			t.Errorf("the keyunlock binary imports %s (find the importer with: go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/keyunlock | grep %s)", p, p)
		}
	}
	for d := range deps {
		if strings.HasPrefix(d, "github.com/cloudflare/circl/sign/") || strings.HasPrefix(d, "github.com/cloudflare/circl/kem/") {
			t.Errorf("the keyunlock binary imports %s", d)
		}
	}
}

// heavySymbols are functions that must not be linked although their
// packages are: circl's KeyGen (fixed-base tables and formulas, in X448's
// case about 60 kB of unrolled assembly) only served checks that multiply
// the base point, which softkeys and internal/pgp do with Shared.
var heavySymbols = []string{
	"github.com/cloudflare/circl/dh/x25519.KeyGen",
	"github.com/cloudflare/circl/dh/x448.KeyGen",
}

func TestNoHeavySymbols(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keyunlock")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, s := range syms {
		have[s.Name] = true
	}
	if !have["github.com/cloudflare/circl/dh/x448.Shared"] || !have["main.main"] {
		t.Fatalf("the symbol table of %s misses functions keyunlock surely links (%d symbols)", bin, len(syms))
	}
	for _, s := range heavySymbols {
		if have[s] {
			t.Errorf("the keyunlock binary links %s (find the caller with: go build -ldflags=-dumpdep ./cmd/keyunlock 2>&1 | grep '%s')", s, s)
		}
	}
}
