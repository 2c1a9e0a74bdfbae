package unixsock

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary act as a client under another uid (see
// TestPeerCredOtherUser).
func TestMain(m *testing.M) {
	if path := os.Getenv("UNIXSOCK_TEST_DIAL"); path != "" {
		c, err := Dial(path, 5*time.Second)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		io.Copy(io.Discard, c) // until the test closes
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// countFDs returns the number of open descriptors of the process.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// noFDLeak fails the test at cleanup when it left descriptors open.
// A descriptor is closed once its last pending operation returns, so wait
// briefly. (A garbage collection could close a leaked os.File through its
// finalizer and hide the leak; tests do not force one.)
func noFDLeak(t *testing.T) {
	t.Helper()
	before := countFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			after := countFDs(t)
			if after <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("descriptor leak: %d open before, %d after", before, after)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// sockPath returns a socket path in a fresh temporary directory.
func sockPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "s.sock")
}

// abstractName returns an abstract name unique to this test process.
func abstractName(t *testing.T) string {
	return fmt.Sprintf("@keyunlock-unixsock-test/%d/%s/%d", os.Getpid(), t.Name(), time.Now().UnixNano())
}

// pair returns a connected client and server connection on a fresh socket.
func pair(t *testing.T) (client, server *Conn) {
	t.Helper()
	l, err := Listen(sockPath(t), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = Dial(l.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}
