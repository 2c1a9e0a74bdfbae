package pcsc

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/hostile"
)

var updateHostile = flag.Bool("update-hostile", false, "rewrite testdata/hostile/pcsc from the fake server's replies")

const hostileDir = "../testdata/hostile"

// playReplies runs a client session (version, context, readers, connect,
// transmit, status, release) against replies played as pcscd's stream and
// returns the first error, or nil when every step worked.
func playReplies(replies []byte) error {
	cli, srv := net.Pipe()
	defer cli.Close()
	go io.Copy(io.Discard, srv)
	go func() {
		srv.Write(replies)
		srv.Close()
	}()
	ctx, err := EstablishContext(func(o *options) { o.dial = func() (conn, error) { return cli, nil } },
		WithCallTimeout(time.Second), WithTransmitTimeout(time.Second), WithSharingTimeout(0))
	if err != nil {
		return err
	}
	defer ctx.Release()
	if _, err := ctx.ReaderStatuses(); err != nil {
		return err
	}
	card, err := ctx.Connect("Reader 0", ShareShared, ProtocolAny)
	if err != nil {
		return err
	}
	if _, err := card.Transmit([]byte{0x00, 0xA4, 0x04, 0x00}); err != nil {
		return err
	}
	return nil
}

// hostileReplies makes the pcsc files of the hostile corpus: a valid
// session stream (version, context, reader states, connect, transmit) cut
// at every interesting point and with its 32-bit fields set to extreme
// values.
func hostileReplies() map[string][]byte {
	version := fields(4, 4, 0)
	establish := fields(2, hctx, 0)
	states := stateArray(16, present0)
	connect := connectReply("Reader 0", ProtocolT1, 0)
	transmit := concat(fields(hcard, 2, 16, 4, 3, 16, 2, 0), []byte{0x90, 0x00})
	session := concat(version, establish, states, connect, transmit)
	out := map[string][]byte{
		"empty.bin":                nil,
		"version-only.bin":         version,
		"version-refused.bin":      fields(4, 4, uint32(ErrServiceStopped)),
		"version-minor-huge.bin":   fields(0xFFFFFFFF, 0xFFFFFFFF, 0),
		"context-error.bin":        concat(version, fields(2, hctx, uint32(ErrNoMemory))),
		"states-short.bin":         concat(version, establish, states[:len(states)-7]),
		"states-all-ff.bin":        concat(version, establish, bytes.Repeat([]byte{0xFF}, len(states))),
		"connect-cut.bin":          concat(version, establish, states, connect[:len(connect)/2]),
		"transmit-len-huge.bin":    concat(version, establish, states, connect, fields(hcard, 2, 16, 4, 3, 16, 0xFFFFFFFF, 0)),
		"transmit-len-past.bin":    concat(version, establish, states, connect, fields(hcard, 2, 16, 4, 3, 16, 300, 0), []byte{0x90, 0x00}),
		"transmit-pci-huge.bin":    concat(version, establish, states, connect, fields(hcard, 2, 0xFFFFFFFF, 4, 3, 0xFFFFFFFF, 2, 0), []byte{0x90, 0x00}),
		"transmit-error-code.bin":  concat(version, establish, states, connect, fields(hcard, 2, 16, 4, 3, 16, 2, 0xDEADBEEF), []byte{0x90, 0x00}),
		"session-then-garbage.bin": concat(session, bytes.Repeat([]byte{0xA5}, 4096)),
	}
	for _, cut := range []int{3, 9, len(version) + 5, len(version) + len(establish) + 100, len(session) - 3} {
		out[fmt.Sprintf("session-cut-%d.bin", cut)] = session[:cut]
	}
	// Every 32-bit field of the version, context and transmit replies, and
	// the fields after the reader name in the connect reply, set to
	// 0xFFFFFFFF.
	mutate := func(part string, off, words int) {
		for w := 0; w < words; w++ {
			b := bytes.Clone(session)
			binary.LittleEndian.PutUint32(b[off+4*w:], 0xFFFFFFFF)
			out[fmt.Sprintf("%s-field-%d-ff.bin", part, w)] = b
		}
	}
	mutate("version", 0, len(version)/4)
	mutate("context", len(version), len(establish)/4)
	cOff := len(version) + len(establish) + len(states)
	mutate("connect", cOff+len(connect)-20, 5)
	mutate("transmit", cOff+len(connect), 8)
	return out
}

// TestHostilePCSCReplies plays every pcsc file of the hostile corpus as
// pcscd: the client must not panic or hang, must stay within its memory
// bound, and must end the session with an error that names pcscd's socket
// or the failing operation. With -update-hostile it first rewrites the
// files and their manifest.
func TestHostilePCSCReplies(t *testing.T) {
	atrSettle = time.Millisecond
	dir := filepath.Join(hostileDir, "pcsc")
	if *updateHostile {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m := &hostile.Manifest{}
		files := hostileReplies()
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sortStrings(names)
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), files[n], 0o644); err != nil {
				t.Fatal(err)
			}
			// The class records what the client made of the file when the
			// corpus was made: some damaged fields are ones it rightly
			// ignores (an echoed handle), and the session still works.
			class := hostile.ClassMalformed
			if playReplies(files[n]) == nil {
				class = hostile.ClassOK
			}
			m.Entries = append(m.Entries, hostile.Entry{File: "pcsc/" + n, Kind: hostile.KindPCSC, Class: class,
				Note: "pcscd replies for a client session (version, context, reader states, connect, transmit), damaged: " + strings.TrimSuffix(n, ".bin")})
		}
		if err := hostile.Write(dir, m); err != nil {
			t.Fatal(err)
		}
	}
	m, err := hostile.Load(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range m.Entries {
		if e.Kind != hostile.KindPCSC {
			continue
		}
		n++
		t.Run(strings.TrimPrefix(e.File, "pcsc/"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(hostileDir, e.File))
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() { done <- playReplies(data) }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the pcsc client hangs")
			}
			runtime.ReadMemStats(&after)
			if a := after.TotalAlloc - before.TotalAlloc; a > 16<<20 {
				t.Errorf("allocated %d MiB", a>>20)
			}
			switch {
			case e.Class == hostile.ClassOK && err != nil:
				t.Errorf("%s: %v", e.Note, err)
			case e.Class != hostile.ClassOK && err == nil:
				t.Errorf("%s: the session worked", e.Note)
			case err != nil && !strings.Contains(err.Error(), "pcscd") && !strings.Contains(err.Error(), "PC/SC"):
				t.Errorf("%s: the error names neither pcscd nor PC/SC: %v", e.Note, err)
			}
			t.Logf("%s: %v", e.Class, err)
		})
	}
	if n < 10 {
		t.Errorf("only %d pcsc files in the corpus", n)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
