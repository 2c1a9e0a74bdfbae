package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestVcardServesCard builds vcard, runs it against an isolated pcscd and
// talks to the card with opensc-tool.
func TestVcardServesCard(t *testing.T) {
	srv := pcsctest.Start(t)
	tools := testenv.RequireTool(t, "opensc-tool", "go")
	bin := filepath.Join(t.TempDir(), "vcard")
	if out, err := exec.Command(tools["go"], "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-state", t.TempDir(), "-vpcd", srv.SlotAddr(0), "-quirks", "yubikey")
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := srv.WaitPresent(wctx, 0, true); err != nil {
		t.Fatalf("%v; vcard log:\n%s", err, log.String())
	}
	sel := exec.Command(tools["opensc-tool"], "-r", "0", "-a", "-s", "00 A4 04 00 06 D2 76 00 01 24 01", "-s", "00 CA 00 4F 00")
	sel.Env = append(os.Environ(), srv.Env())
	out, err := sel.CombinedOutput()
	// The simulator's ATR carries the OpenPGP historical bytes, and the
	// AID names Yubico (0006) under the yubikey quirk.
	if err != nil || !strings.Contains(string(out), "3b:88:80:01:00:73:00:00:e0:05:90:00") ||
		!strings.Contains(string(out), "Received (SW1=0x90, SW2=0x00)") || !strings.Contains(string(out), "D2 76 00 01 24 01 03 04 00 06") {
		t.Fatalf("opensc-tool: %v\n%s", err, out)
	}
}
