package vscard

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestQEMUPassthru runs the handshake against a real QEMU (stopped with
// -S: no guest runs) whose ccid-card-passthru chardev connects to our
// unix socket, then checks with QEMU's monitor that the usb-ccid reader
// exists.
func TestQEMUPassthru(t *testing.T) {
	tools := testenv.RequireTool(t, "qemu-system-x86_64")
	dir := t.TempDir()
	sock := filepath.Join(dir, "card.sock")
	mon := filepath.Join(dir, "mon.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fe := NewFrontend(&echoCard{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- fe.ListenAndServe(ctx, l) }()

	cmd := exec.Command(tools["qemu-system-x86_64"], "-M", "q35", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
		"-chardev", "socket,id=card,path="+sock,
		"-device", "qemu-xhci,id=xhci", "-device", "usb-ccid,id=ccid0", "-device", "ccid-card-passthru,chardev=card,id=card0",
		"-monitor", "unix:"+mon+",server=on,wait=off", "-serial", "none")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	select {
	case <-fe.Ready():
	case err := <-served:
		t.Fatalf("the front end stopped before the card was inserted: %v\nQEMU: %s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("QEMU did not acknowledge the card within 60s\nQEMU: %s", stderr.String())
	}

	// The monitor lists the reader on the guest's USB bus.
	var conn net.Conn
	for i := 0; i < 100; i++ {
		if conn, err = net.Dial("unix", mon); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("QEMU monitor: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	conn.Write([]byte("info usb\n"))
	var seen strings.Builder
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "QEMU USB CCID") {
			break
		}
	}
	if !strings.Contains(seen.String(), "QEMU USB CCID") {
		t.Fatalf("info usb does not list the CCID reader:\n%s", seen.String())
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
