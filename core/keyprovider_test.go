package core

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// cryptsetupRead behaves exactly like systemd-cryptsetup reading a key file
// that is an AF_UNIX socket (src/basic/fileio.c): bind the abstract address
// "\0<random hex>/cryptsetup/<volume>", connect, shutdown(SHUT_WR), read
// until EOF.
func cryptsetupRead(t *testing.T, path, volume string) ([]byte, error) {
	t.Helper()
	return cryptsetupConnect(path, volume)
}

func cryptsetupConnect(path, volume string) ([]byte, error) {
	return cryptsetupReadCtx(context.Background(), path, volume)
}

// cryptsetupReadCtx is cryptsetupConnect that closes its socket when ctx ends.
func cryptsetupReadCtx(ctx context.Context, path, volume string) ([]byte, error) {
	return testenv.CryptsetupRead(ctx, path, volume, 10*time.Second)
}

func startKeyProvider(t *testing.T, kp *KeyProvider) string {
	path := filepath.Join(t.TempDir(), "key.sock")
	l, err := Listen(path, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- kp.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		kp.Shutdown(ctx)
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

func TestKeyProvider(t *testing.T) {
	dir := t.TempDir()
	// The "encryption" here is a byte flip: the provider's job is finding
	// the keyfile and delivering the result; real decryption is tested
	// with the keystore in cmd/keyunlock.
	key := []byte("binary\x00key\nwith every byte \xff")
	flip := func(b []byte) []byte {
		out := make([]byte, len(b))
		for i := range b {
			out[i] = ^b[i]
		}
		return out
	}
	if err := os.WriteFile(filepath.Join(dir, "cryptroot.pgp"), flip(key), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "broken.pgp"), []byte("x"), 0o600)
	for _, preload := range []bool{false, true} {
		t.Run(fmt.Sprintf("preload=%v", preload), func(t *testing.T) {
			store, err := NewKeyfileStore(dir, preload)
			if err != nil {
				t.Fatal(err)
			}
			lg := &testLog{}
			kp := &KeyProvider{Keyfiles: store, Logger: log.New(lg, "", 0), Timeout: 5 * time.Second,
				Decrypt: func(ctx context.Context, volume string, enc []byte) ([]byte, error) {
					if volume == "broken" {
						return nil, errors.New("not an OpenPGP message")
					}
					return flip(enc), nil
				}}
			path := startKeyProvider(t, kp)
			got, err := cryptsetupRead(t, path, "cryptroot")
			if err != nil || string(got) != string(key) {
				t.Fatalf("key = %q, %v; want %q", got, err, key)
			}
			if !strings.Contains(lg.String(), `sent the key of volume "cryptroot"`) {
				t.Fatalf("log: %s", lg)
			}
			for _, vol := range []string{"unknown", "broken"} {
				got, err = cryptsetupRead(t, path, vol)
				if err != nil || len(got) != 0 {
					t.Fatalf("volume %s: got %q, %v; want no key and EOF", vol, got, err)
				}
			}
			if !strings.Contains(lg.String(), `volume "unknown"`) || !strings.Contains(lg.String(), "unknown volume") ||
				!strings.Contains(lg.String(), `volume "broken": not an OpenPGP message`) {
				t.Fatalf("no log line for the refused volumes:\n%s", lg)
			}
		})
	}
}

func TestKeyProviderTimeout(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "slow.pgp"), []byte("x"), 0o600)
	store, _ := NewKeyfileStore(dir, true)
	lg := &testLog{}
	kp := &KeyProvider{Keyfiles: store, Logger: log.New(lg, "", 0), Timeout: 200 * time.Millisecond,
		Decrypt: func(ctx context.Context, volume string, enc []byte) ([]byte, error) {
			<-ctx.Done() // a prompt nobody answers
			return nil, ctx.Err()
		}}
	path := startKeyProvider(t, kp)
	start := time.Now()
	got, err := cryptsetupRead(t, path, "slow")
	if err != nil || len(got) != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("got %q, %v after %v", got, err, time.Since(start))
	}
	if !strings.Contains(lg.String(), "deadline exceeded") {
		t.Fatalf("log: %s", lg)
	}
}

func TestParseCryptsetupPeer(t *testing.T) {
	good := map[string]string{
		"\x00" + "1a2b3c4d5e6f7a8b/cryptsetup/cryptroot": "cryptroot",
		"@f/cryptsetup/luks-1234-abcd":                   "luks-1234-abcd",
		"@0123456789ABCDEF/cryptsetup/vol with space":    "vol with space",
	}
	for in, want := range good {
		if got, err := ParseCryptsetupPeer(in); err != nil || got != want {
			t.Errorf("ParseCryptsetupPeer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "@", "/run/x.sock", "@/cryptsetup/x", "@12345678901234567/cryptsetup/x", "@xyz/cryptsetup/x",
		"@1a/cryptsetup/", "@1a/cryptsetup/..", "@1a/cryptsetup/.", "@1a/cryptsetup/a/b", "@1a/cryptsetup/a\nb",
		"@1a/cryptsetup-pkcs11/x", "@1a/other/x", "@1a/cryptsetup"}
	for _, in := range bad {
		if got, err := ParseCryptsetupPeer(in); err == nil {
			t.Errorf("ParseCryptsetupPeer(%q) = %q, want an error", in, got)
		}
	}
	if _, err := ParseCryptsetupPeer("@1a/cryptsetup-fido2/x"); err == nil || !strings.Contains(err.Error(), "fido2 token material") {
		t.Errorf("token request: %v", err)
	}
}

func FuzzParseCryptsetupPeer(f *testing.F) {
	f.Add("\x001a2b/cryptsetup/cryptroot")
	f.Add("@ffffffffffffffff/cryptsetup/x")
	f.Add("@1/cryptsetup-tpm2/x")
	f.Add("@1/cryptsetup/../etc/shadow")
	f.Fuzz(func(t *testing.T, in string) {
		vol, err := ParseCryptsetupPeer(in)
		if err != nil {
			return
		}
		// Whatever is accepted names one file inside the keyfile directory.
		if vol == "" || vol == "." || vol == ".." || strings.ContainsAny(vol, "/\x00\n") {
			t.Fatalf("accepted unsafe volume %q from %q", vol, in)
		}
		if filepath.Dir(filepath.Join("/k", vol+".pgp")) != "/k" {
			t.Fatalf("volume %q escapes the directory", vol)
		}
		if !strings.HasSuffix(in, "/cryptsetup/"+vol) {
			t.Fatalf("volume %q is not the address's tail %q", vol, in)
		}
	})
}
