package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/card"
	"github.com/keyunlock/keyunlock/card/vpcd"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

func runCLI(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(ctx, &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestReadersMatchesOpensc checks that keyunlock readers shows the same
// readers, in the same order, with the same card presence and ATR as
// opensc-tool -l and -a (libpcsclite clients of the same pcscd).
func TestReadersMatchesOpensc(t *testing.T) {
	srv := pcsctest.Start(t)
	tools := testenv.RequireTool(t, "opensc-tool")
	srv.InsertCard(t, 1, &vpcd.BasicCard{})
	t.Setenv("PCSCLITE_CSOCK_NAME", srv.Socket)

	code, out, errOut := runCLI(t, context.Background(), "readers")
	if code != 0 {
		t.Fatalf("keyunlock readers: exit %d: %s", code, errOut)
	}
	t.Logf("keyunlock readers:\n%s", out)

	opensc := func(args ...string) string {
		cmd := exec.Command(tools["opensc-tool"], args...)
		cmd.Env = append(os.Environ(), srv.Env())
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("opensc-tool %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	list := opensc("-l")
	line := regexp.MustCompile(`(?m)^(\d+)\s+(Yes|No)\s+(.*\S)\s*$`)
	matches := line.FindAllStringSubmatch(list, -1)
	if len(matches) != 2 {
		t.Fatalf("opensc-tool -l listed %d readers:\n%s", len(matches), list)
	}
	blocks := regexp.MustCompile(`(?m)^\d+: `).Split(out, -1)[1:]
	if len(blocks) != len(matches) {
		t.Fatalf("keyunlock lists %d readers, opensc-tool %d", len(blocks), len(matches))
	}
	for i, m := range matches {
		name, present := m[3], m[2] == "Yes"
		header := m[1] + ": " + name + "\n"
		if !strings.Contains(out, header) {
			t.Errorf("reader %s %q missing from keyunlock's output", m[1], name)
		}
		if got := strings.Contains(blocks[i], "card present"); got != present {
			t.Errorf("reader %s: keyunlock says card present=%v, opensc-tool %v", m[1], got, present)
		}
		if present {
			atr := strings.TrimSpace(opensc("-r", m[1], "-a"))
			if !strings.Contains(blocks[i], "ATR: "+atr+"\n") {
				t.Errorf("reader %s: opensc-tool ATR %q not in keyunlock's %q", m[1], atr, blocks[i])
			}
		}
	}
	if !strings.Contains(out, "ATR: 3b:80:80:01:01\n") {
		t.Errorf("virtual card ATR missing:\n%s", out)
	}
}

func TestReadersWait(t *testing.T) {
	srv := pcsctest.Start(t)
	t.Setenv("PCSCLITE_CSOCK_NAME", srv.Socket)

	code, _, errOut := runCLI(t, context.Background(), "readers", "--wait", "--timeout", "300ms")
	if code != 1 || !strings.Contains(errOut, "no card was inserted within 300ms") {
		t.Fatalf("--wait with no card: exit %d, %q", code, errOut)
	}

	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		c, o, e := runCLI(t, context.Background(), "readers", "--wait", "--timeout", "20s")
		done <- result{c, o, e}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("--wait returned before a card was inserted: %+v", r)
	default:
	}
	srv.InsertCard(t, 0, &vpcd.BasicCard{})
	select {
	case r := <-done:
		if r.code != 0 || !strings.Contains(r.out, "0: Virtual PCD 00 00\n   card present") || !strings.Contains(r.out, "ATR: 3b:80:80:01:01") {
			t.Fatalf("--wait after insertion: exit %d\n%s%s", r.code, r.out, r.errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--wait did not notice the card")
	}
}

func TestReadersNoPcscd(t *testing.T) {
	sock := t.TempDir() + "/none.comm"
	code, _, errOut := runCLI(t, context.Background(), "readers", "--socket", sock)
	if code != 1 || !strings.Contains(errOut, "pcscd is not running at "+sock) {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// TestPrintCCIDReaders checks the listing of USB readers used directly:
// the ccid:PORT to pass to --card-reader, and why a reader is not usable.
func TestPrintCCIDReaders(t *testing.T) {
	var b bytes.Buffer
	printCCIDReaders(&b, []card.CCIDReader{
		{Name: "Yubico YubiKey OTP+FIDO+CCID (ccid:1-2)", Port: "1-2", Level: "extended APDU", Card: true},
		{Name: "QEMU QEMU USB CCID (ccid:3-1.4)", Port: "3-1.4", Level: "TPDU"},
		{Name: "Nitrokey Nitrokey Pro (ccid:1-3)", Port: "1-3", Level: "TPDU", Problem: errors.New("Nitrokey Pro (ccid:1-3) exchanges T=1 TPDUs; use pcscd")},
		{Name: "Yubico YubiKey (ccid:1-4)", Port: "1-4", Level: "extended APDU", InUse: true},
	})
	want := `ccid:1-2: Yubico YubiKey OTP+FIDO+CCID (ccid:1-2)
   card present, direct USB, extended APDU level
ccid:3-1.4: QEMU QEMU USB CCID (ccid:3-1.4)
   no card, direct USB, TPDU level
ccid:1-3: Nitrokey Nitrokey Pro (ccid:1-3)
   not usable directly: Nitrokey Pro (ccid:1-3) exchanges T=1 TPDUs; use pcscd, direct USB, TPDU level
ccid:1-4: Yubico YubiKey (ccid:1-4)
   in use by pcscd or another program, direct USB, extended APDU level
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
