package pcsctest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/card/vpcd"
	"github.com/keyunlock/keyunlock/internal/testenv"
)

func TestServerLifecycle(t *testing.T) {
	srv := Start(t)
	states, err := ReaderStates(srv.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != Slots {
		t.Fatalf("got readers %+v, want %q", states, srv.Readers)
	}
	for i, st := range states {
		if st.Name != srv.Readers[i] || st.State&StatePresent != 0 {
			t.Fatalf("reader %d: %+v, want empty %q", i, st, srv.Readers[i])
		}
	}

	card := &vpcd.BasicCard{}
	fe := srv.InsertCard(t, 1, card)
	st, err := srv.WaitReader(context.Background(), 1, func(ReaderState) bool { return true })
	if err != nil || !bytes.Equal(st.ATR, vpcd.BasicATR) || st.State&StatePowered == 0 {
		t.Fatalf("slot 1 after insert: %+v, %v", st, err)
	}

	// opensc-tool, a libpcsclite client, finds the server through the
	// environment and talks to the card.
	tools := testenv.RequireTool(t, "opensc-tool")
	cmd := exec.Command(tools["opensc-tool"], "-r", "1", "-s", "00 A4 04 00 06 D2 76 00 01 24 01")
	cmd.Env = append(os.Environ(), srv.Env())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Received (SW1=0x90, SW2=0x00)") {
		t.Fatalf("opensc-tool via %s: %v\n%s", srv.Socket, err, out)
	}
	if card.Commands() == 0 {
		t.Fatal("the card saw no APDU")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fe.Remove()
	if err := srv.WaitPresent(ctx, 1, false); err != nil {
		t.Fatal(err)
	}
	fe.Insert()
	if err := srv.WaitPresent(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
}

func TestServersAreIsolated(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Socket == b.Socket || a.Ports == b.Ports {
		t.Fatalf("servers share socket or ports: %s %v / %s %v", a.Socket, a.Ports, b.Socket, b.Ports)
	}
	a.InsertCard(t, 0, &vpcd.BasicCard{})
	st, err := b.WaitReader(context.Background(), 0, func(ReaderState) bool { return true })
	if err != nil || st.State&StatePresent != 0 {
		t.Fatalf("a card inserted into server a shows up in server b: %+v %v", st, err)
	}
	pid := a.Pid()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.Dir); !os.IsNotExist(err) {
		t.Fatalf("%s left behind after Close", a.Dir)
	}
	if p, _ := os.FindProcess(pid); p != nil {
		if err := p.Signal(syscall.Signal(0)); err == nil {
			t.Fatalf("pcscd %d still running after Close", pid)
		}
	}
}

// TestStartRetriesTakenPorts: when another process grabs a vpcd port between
// the choice and pcscd's start, StartServer notices at once and retries.
func TestStartRetriesTakenPorts(t *testing.T) {
	if err := Available(); err != nil {
		testenv.Unavailable(t, "%v", err)
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPorts = func(n int) (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return freePorts(n)
	}
	defer func() { pickPorts = freePorts }()
	start := time.Now()
	srv, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if calls != 2 || srv.Ports[0] == taken {
		t.Fatalf("ports %v after %d choices; port %d was taken", srv.Ports, calls, taken)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("recovering from a taken port took %v", d)
	}
}
