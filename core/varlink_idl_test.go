package core

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestVarlinkDescriptionsParse has a third-party varlink IDL parser (the
// Go varlink project's interface generator) read the interface
// descriptions the daemon serves. varlink-go 0.4 (Debian 12) predates
// upper-case letters in interface names, which the current grammar and
// systemd's varlinkctl accept, so the name is lower-cased for it.
func TestVarlinkDescriptionsParse(t *testing.T) {
	tools := testenv.RequireTool(t, "varlink-go-interface-generator")
	for name, desc := range map[string]string{
		VarlinkInterface:        keystoreDescription,
		VarlinkServiceInterface: serviceDescription,
	} {
		if !strings.Contains(desc, "\ninterface "+name+"\n") {
			t.Fatalf("the description of %s does not declare it", name)
		}
		dir := t.TempDir()
		file := filepath.Join(dir, strings.ToLower(name)+".varlink")
		desc = strings.Replace(desc, "\ninterface "+name+"\n", "\ninterface "+strings.ToLower(name)+"\n", 1)
		if err := os.WriteFile(file, []byte(desc), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(tools["varlink-go-interface-generator"], file)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
}
