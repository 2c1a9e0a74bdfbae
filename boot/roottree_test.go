package boot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildRootTree lays out the tiny root file system: busybox, the test init,
// systemd-cryptsetup with its libraries (to unlock the data volume through the
// daemon's socket after switch_root, exactly as a crypttab entry would), and
// the same /etc/keyunlock as the build host.
func buildRootTree(t testing.TB, dir string, f *fixture) {
	t.Helper()
	for _, d := range []string{"bin", "sbin", "etc", "dev", "proc", "sys", "run", "tmp", "mnt", "usr/lib/systemd", "etc/keyunlock"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	copyFile(t, "/bin/busybox", filepath.Join(dir, "bin", "busybox"), 0o755)
	for _, app := range []string{"sh", "mount", "umount", "cat", "tr", "grep", "awk", "ls", "mkdir", "sync", "poweroff", "tail"} {
		os.Symlink("busybox", filepath.Join(dir, "bin", app))
	}
	copyFile(t, filepath.Join(repoRoot(t), "boot", "testdata", "rootinit.sh"), filepath.Join(dir, "sbin", "init"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte("ID=keyunlock-boottest\nNAME=\"keyunlock boot test root\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc", "boottest-id"), []byte("keyunlock-boottest-root\n"), 0o644)
	// systemd-cryptsetup and its shared libraries.
	bin := "/lib/systemd/systemd-cryptsetup"
	copyFile(t, bin, filepath.Join(dir, "usr/lib/systemd/systemd-cryptsetup"), 0o755)
	for _, l := range strings.Split(run(t, "", nil, "ldd", bin), "\n") {
		fs := strings.Fields(l)
		var lib string
		switch {
		case len(fs) >= 3 && fs[1] == "=>":
			lib = fs[2]
		case len(fs) >= 1 && strings.HasPrefix(fs[0], "/"):
			lib = fs[0]
		}
		if lib == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, real, filepath.Join(dir, lib), 0o755)
	}
	// The real root carries the same keyunlock configuration as the initrd.
	run(t, "", nil, "cp", "-a", f.ConfDir+"/.", filepath.Join(dir, "etc", "keyunlock"))
}

// copyFile copies src to dst, creating parent directories.
func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
