package core

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// hostileDir is the hostile-input corpus (see internal/hostile).
const hostileDir = "../testdata/hostile"

// corpusKeys returns a Keystore holding the unprotected keys the hostile
// corpus messages are encrypted to, so that fuzzed messages reach the
// decryption and decompression code, not only the packet scanner.
func corpusKeys(f *testing.F) *Keystore {
	f.Helper()
	var keys []*testKey
	for _, name := range []string{"message-key-v4.pgp", "message-key-v6.pgp"} {
		data, err := os.ReadFile(filepath.Join(hostileDir, "keys", name))
		if err != nil {
			f.Fatal(err)
		}
		el, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		keys = append(keys, keyOf(f, el[0], "file "+name))
	}
	return NewKeystore(backendOf(keys...))
}

// addFiles adds every file matching pattern as a seed, up to 8 KiB each:
// the fuzzer slows to a crawl on large inputs (the big hostile files are
// run by the hostile corpus test instead).
func addFiles(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files match %s", pattern)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 8<<10 {
			f.Add(b)
		}
	}
}

// FuzzDecryptMessage feeds arbitrary bytes to DecryptMessage with the keys
// of the hostile corpus. It must never panic, never return plaintext along
// with an error, and stay within its size limit.
func FuzzDecryptMessage(f *testing.F) {
	ks := corpusKeys(f)
	addFiles(f, filepath.Join(hostileDir, "messages", "*.pgp"))
	const max = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A hang kills the worker, so the fuzzer records the input.
		wd := time.AfterFunc(20*time.Second, func() { panic("DecryptMessage hangs on this input") })
		defer wd.Stop()
		m, err := DecryptMessage(ctx, ks, bytes.NewReader(data), DecryptOptions{MaxSize: max})
		if err != nil {
			if m != nil {
				t.Fatalf("DecryptMessage returned a message with the error %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if m.Result == nil {
			t.Fatal("a decrypted message without a Result")
		}
		if len(m.Plaintext) > max {
			t.Fatalf("plaintext of %d bytes above the %d limit", len(m.Plaintext), max)
		}
	})
}

// FuzzParsePKESK parses arbitrary PKESK bodies; what parses must survive a
// serialize/parse round trip unchanged.
func FuzzParsePKESK(f *testing.F) {
	for _, name := range []string{"ok-v4.pgp", "ok-v6.pgp", "pkesk-ecdh-cut.pgp", "pkesk6-x25519-cut.pgp"} {
		data, err := os.ReadFile(filepath.Join(hostileDir, "messages", name))
		if err != nil {
			f.Fatal(err)
		}
		s := &packetScanner{data: data, max: DefaultMaxSize}
		if p, ok, err := s.next(); ok && err == nil {
			f.Add(p.body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePKESK(body)
		if err != nil {
			return
		}
		q, err := ParsePKESK(p.Body)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if q.KeyID != p.KeyID || q.Version != p.Version || q.Algo != p.Algo || !bytes.Equal(q.Fingerprint, p.Fingerprint) {
			t.Fatalf("round trip changed the PKESK: %+v vs %+v", p, q)
		}
		p.Recipient()
		p.Anonymous()
	})
}

// FuzzVarlinkReadMessage splits arbitrary byte streams into varlink
// messages with a small buffer and cap.
func FuzzVarlinkReadMessage(f *testing.F) {
	f.Add([]byte("{\"method\":\"io.keyunlock.Keystore.ListKeys\"}\x00"))
	f.Add([]byte("{}\x00{}\x00\x00"))
	f.Add(bytes.Repeat([]byte("x"), 100))
	const max = 64
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		total := 0
		for {
			msg, err := readMessage(r, max)
			if err != nil {
				return
			}
			if len(msg) > max {
				t.Fatalf("message of %d bytes above the cap %d", len(msg), max)
			}
			if bytes.IndexByte(msg, 0) >= 0 {
				t.Fatal("message contains its NUL terminator")
			}
			total += len(msg) + 1
			if total > len(data) {
				t.Fatal("read more than the input")
			}
		}
	})
}

// FuzzVarlinkCall dispatches arbitrary calls to a server over a keystore
// with an unprotected and a passphrase-locked key.
func FuzzVarlinkCall(f *testing.F) {
	e4 := testEntity(f, "fuzz", false)
	e6 := testEntity(f, "fuzz6", true)
	ks := NewKeystore(backendOf(keyOf(f, e4, "file a"), keyOf(f, e6, "file b").lockedBy(LockPassword, "pw", -1)))
	s := &Server{Service: ks, Logger: log.New(io.Discard, "", 0),
		DecryptMessage: func(ctx context.Context, svc Service, msg []byte) (*RemoteMessage, error) {
			m, err := DecryptMessage(ctx, svc, bytes.NewReader(msg), DecryptOptions{MaxSize: 1 << 20})
			if err != nil {
				return nil, err
			}
			return &RemoteMessage{Plaintext: m.Plaintext, FileName: m.FileName, Result: *m.Result}, nil
		}}
	s.init()
	for _, c := range []string{
		`{"method":"org.varlink.service.GetInfo"}`,
		`{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.keyunlock.Keystore"}}`,
		`{"method":"io.keyunlock.Keystore.ListKeys"}`,
		`{"method":"io.keyunlock.Keystore.Unlock","parameters":{"key":"","secret":"cHc="}}`,
		`{"method":"io.keyunlock.Keystore.Lock","parameters":{"key":""}}`,
		`{"method":"io.keyunlock.Keystore.Decrypt","parameters":{"pkesks":["AwAAAAAAAAAAEg=="]}}`,
		`{"method":"io.keyunlock.Keystore.DecryptMessage","parameters":{"message":"wcBMA0eUQ5eC"}}`,
		`{"method":"io.keyunlock.Keystore.Status","oneway":true}`,
		`{"method":"x","parameters":null,"more":true,"upgrade":true}`,
		`[1,2,3]`,
	} {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rep, _ := s.handle(ctx, PeerCred{PID: 1, UID: 0, GID: 0}, msg)
		if rep == nil {
			t.Fatal("nil reply")
		}
		var buf bytes.Buffer
		if err := writeMessage(&buf, rep); err != nil {
			t.Fatalf("reply cannot be encoded: %v", err)
		}
		// Put the locked key back in its state for the next input.
		ks.Lock(ctx, "")
	})
}
