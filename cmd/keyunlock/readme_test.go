package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// readmeSocatLines returns the socat examples of README.md's "Running the
// daemon" section, so that the documented commands are the tested ones.
func readmeSocatLines(t *testing.T) []string {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(data), "## Running the daemon")
	if !ok {
		t.Fatal("README.md has no \"Running the daemon\" section")
	}
	var lines []string
	for _, l := range strings.Split(sec, "\n") {
		if strings.HasPrefix(l, "printf ") && strings.Contains(l, "socat - UNIX-CONNECT:$S") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 7 {
		t.Fatalf("README.md has %d socat examples, want 7", len(lines))
	}
	return lines
}

// TestReadmeSocatExamples runs the README's raw varlink examples with socat
// against a daemon serving the demo key.
func TestReadmeSocatExamples(t *testing.T) {
	testenv.RequireTool(t, "socat", "base64", "bash")
	lines := readmeSocatLines(t)
	demo, _ := filepath.Abs("../../testdata/demo")
	d := startDaemon(t, "--key", filepath.Join(demo, "key.asc"))
	c, err := core.Dial(context.Background(), d.socket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.ListKeys(context.Background())
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	var fpr string
	for _, k := range keys {
		if canDecrypt(k) {
			fpr = k.Fingerprint
		}
	}
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "passphrase-file"), fixtureBytes(t, filepath.Join(demo, "passphrase")), 0o600)
	os.WriteFile(filepath.Join(work, "keyfile.pgp"), fixtureBytes(t, filepath.Join(demo, "keyfile.pgp")), 0o600)
	wantSum := strings.Fields(string(fixtureBytes(t, filepath.Join(demo, "keyfile.sha256"))))[0]
	for _, l := range lines {
		cmd := exec.Command("bash", "-c", l)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "S="+d.socket, "FPR="+fpr)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		var rep struct {
			Parameters map[string]any `json:"parameters"`
			Error      string         `json:"error"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(out), &rep); err != nil || rep.Error != "" {
			t.Fatalf("%s\n→ %s (%v)", l, out, err)
		}
		if strings.Contains(l, "DecryptMessage") {
			plain, _ := base64.StdEncoding.DecodeString(rep.Parameters["plaintext"].(string))
			sum := sha256.Sum256(plain)
			if hex.EncodeToString(sum[:]) != wantSum {
				t.Fatalf("DecryptMessage plaintext has SHA-256 %x, want %s", sum, wantSum)
			}
		}
	}
}

func fixtureBytes(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
