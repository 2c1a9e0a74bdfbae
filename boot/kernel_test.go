package boot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// toolchain is Debian's kernel and dracut, unpacked from their .debs.
type toolchain struct {
	KVer       string // e.g. 6.1.0-56-amd64
	Vmlinuz    string
	KernelRoot string // dpkg -x of the kernel package (lib/modules/KVER)
	DracutBase string // dracutbasedir
	Dracut     string // the dracut script
	Lsinitrd   string
	Key        string // versions, for cache keys
}

// requireHostTools stops the test unless every host tool the boot tests use
// is installed (scripts/test-packages.txt lists their packages).
func requireHostTools(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "apt-get", "dpkg", "dpkg-deb", "depmod", "cpio", "cryptsetup", "mkfs.ext4",
		"qemu-system-x86_64", "busybox", "gpg", "setsid", "dmsetup", "udevadm", "go")
	for _, p := range []string{"/lib/systemd/systemd-cryptsetup", "/lib/systemd/systemd-udevd", "/bin/busybox"} {
		if !exists(p) {
			testenv.Unavailable(t, "%s (packages systemd, udev, busybox-static)", p)
		}
	}
}

// getToolchain downloads (once) and unpacks Debian's linux-image-amd64 and
// dracut-core into the cache.
func getToolchain(t testing.TB) *toolchain {
	t.Helper()
	requireHostTools(t)
	unlock := lockCache(t)
	defer unlock()
	debs := filepath.Join(cacheDir(t), "debs")
	os.MkdirAll(debs, 0o755)
	find := func(pattern string) string {
		m, _ := filepath.Glob(filepath.Join(debs, pattern))
		if len(m) == 0 {
			return ""
		}
		return m[len(m)-1]
	}
	start := time.Now()
	if find("linux-image-amd64_*.deb") == "" || find("dracut-core_*.deb") == "" {
		run(t, debs, nil, "apt-get", "download", "linux-image-amd64", "dracut-core")
	}
	meta := find("linux-image-amd64_*.deb")
	// The metapackage depends on the versioned image: "linux-image-6.1.0-56-amd64 (= 6.1.192-2)".
	dep := strings.TrimSpace(run(t, "", nil, "dpkg-deb", "-f", meta, "Depends"))
	pkg, ver, ok := strings.Cut(dep, " (= ")
	if !ok || !strings.HasPrefix(pkg, "linux-image-") {
		t.Fatalf("%s: unexpected Depends %q", meta, dep)
	}
	ver = strings.TrimSuffix(ver, ")")
	kdeb := find(pkg + "_*.deb")
	if kdeb == "" {
		run(t, debs, nil, "apt-get", "download", pkg+"="+ver)
		kdeb = find(pkg + "_*.deb")
	}
	ddeb := find("dracut-core_*.deb")
	kver := strings.TrimPrefix(pkg, "linux-image-")
	key := filepath.Base(kdeb) + "+" + filepath.Base(ddeb)
	x := filepath.Join(cacheDir(t), "x", strings.TrimSuffix(key, ".deb"))
	tc := &toolchain{
		KVer:       kver,
		Vmlinuz:    filepath.Join(x, "kernel", "boot", "vmlinuz-"+kver),
		KernelRoot: filepath.Join(x, "kernel"),
		DracutBase: filepath.Join(x, "dracut", "usr", "lib", "dracut"),
		Dracut:     filepath.Join(x, "dracut", "usr", "bin", "dracut"),
		Lsinitrd:   filepath.Join(x, "dracut", "usr", "bin", "lsinitrd"),
		Key:        key,
	}
	if exists(filepath.Join(x, ".ok")) {
		return tc
	}
	os.RemoveAll(x)
	if err := os.MkdirAll(x, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "", nil, "dpkg", "-x", kdeb, filepath.Join(x, "kernel"))
	run(t, "", nil, "dpkg", "-x", ddeb, filepath.Join(x, "dracut"))
	run(t, "", nil, "depmod", "-b", tc.KernelRoot, kver)
	if err := os.WriteFile(filepath.Join(x, ".ok"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s and dracut unpacked in %s", kver, since(start))
	return tc
}
