package boot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository's top directory (tests run in boot/).
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// cacheDir is .cache/boot in the repository, created on demand.
func cacheDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(repoRoot(t), ".cache", "boot")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// lockCache serialises cache updates between concurrent test processes.
func lockCache(t testing.TB) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(cacheDir(t), ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
}

// run runs a command and fails the test with its output on error.
func run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out, 60))
	}
	return out
}

// runErr runs a command and returns its combined output.
func runErr(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var b bytes.Buffer
	cmd.Stdout = &b
	cmd.Stderr = &b
	err := cmd.Run()
	return b.String(), err
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// hashInputs hashes strings and the contents of files and directory trees,
// for cache keys.
func hashInputs(t testing.TB, items ...string) string {
	t.Helper()
	h := sha256.New()
	for _, it := range items {
		fmt.Fprintf(h, "item %q\n", it)
		fi, err := os.Stat(it)
		if err != nil {
			continue // a plain string
		}
		var files []string
		if fi.IsDir() {
			filepath.Walk(it, func(p string, info os.FileInfo, err error) error {
				if err == nil && info.Mode().IsRegular() {
					files = append(files, p)
				}
				return nil
			})
			sort.Strings(files)
		} else {
			files = []string{it}
		}
		for _, p := range files {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "file %q\n", p)
			io.Copy(h, f)
			f.Close()
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// since formats a duration since start for logs.
func since(start time.Time) string { return time.Since(start).Round(100 * time.Millisecond).String() }
