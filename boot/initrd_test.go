package boot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Initrd flavours.
const (
	systemdInitrd = "systemd" // dracut with systemd: the daemon serves crypttab's key socket
	shellInitrd   = "shell"   // dracut without systemd: keyunlock-unlock before cryptroot-ask
	// systemdCardInitrd is the systemd flavour with a card configuration
	// (its own cache entry, so that the two images do not evict each other).
	systemdCardInitrd = "systemd-card"
	// shellCardInitrd is the shell flavour with a card configuration.
	shellCardInitrd = "shell-card"
	// systemdCardBare and shellCardBare are the card flavours' module
	// lists without keyunlock: the baselines of TestDracutPayload.
	systemdCardBare = "systemd-card-without-keyunlock"
	shellCardBare   = "shell-card-without-keyunlock"
	// systemdCardKbd and systemdCardKbdBare are the systemd card flavour
	// with and without keyunlock on an image that supports USB keyboards
	// (usbKeyboardDrivers), as dracut's default images do.
	systemdCardKbd     = "systemd-card-usbkbd"
	systemdCardKbdBare = "systemd-card-usbkbd-without-keyunlock"
)

// usbKeyboardDrivers are the USB host controller and HID drivers that
// dracut's kernel-modules module (part of its default module set) puts in
// every image that is not host-only, and in host-only ones on machines with
// a USB keyboard: the baseline a real initrd already has.
const usbKeyboardDrivers = "ehci-hcd ehci-pci ohci-hcd ohci-pci uhci-hcd xhci-hcd xhci-pci usbhid hid_generic"

// dracutDrivers returns the drivers every boot image gets, plus the USB
// keyboard set for the flavours that model a default image.
func dracutDrivers(kind string) string {
	d := "virtio_blk virtio_pci ext4 dm_crypt"
	if kind == systemdCardKbd || kind == systemdCardKbdBare {
		d += " " + usbKeyboardDrivers
	}
	return d
}

var dracutModules = map[string]string{
	systemdInitrd:      "bash systemd systemd-initrd systemd-udevd systemd-ask-password dracut-systemd base fs-lib udev-rules rootfs-block dm crypt keyunlock",
	shellInitrd:        "bash base fs-lib udev-rules rootfs-block dm crypt keyunlock",
	shellCardInitrd:    "bash base fs-lib udev-rules rootfs-block dm crypt keyunlock",
	systemdCardInitrd:  "bash systemd systemd-initrd systemd-udevd systemd-ask-password dracut-systemd base fs-lib udev-rules rootfs-block dm crypt keyunlock",
	systemdCardBare:    "bash systemd systemd-initrd systemd-udevd systemd-ask-password dracut-systemd base fs-lib udev-rules rootfs-block dm crypt",
	systemdCardKbd:     "bash systemd systemd-initrd systemd-udevd systemd-ask-password dracut-systemd base fs-lib udev-rules rootfs-block dm crypt keyunlock",
	systemdCardKbdBare: "bash systemd systemd-initrd systemd-udevd systemd-ask-password dracut-systemd base fs-lib udev-rules rootfs-block dm crypt",
	shellCardBare:      "bash base fs-lib udev-rules rootfs-block dm crypt",
}

// buildInitrd builds (or reuses) a dracut initrd of the given flavour with
// the keyunlock module, the binary bin and the fixture's configuration.
func buildInitrd(t testing.TB, tc *toolchain, kind, bin string, f *fixture) string {
	t.Helper()
	repo := repoRoot(t)
	unitDir := filepath.Join(repo, "systemd")
	key := hashInputs(t, tc.Key, kind, dracutModules[kind], dracutDrivers(kind), bin, filepath.Join(repo, "dracut"), unitDir, f.ConfDir)
	dir := filepath.Join(cacheDir(t), "initrd")
	os.MkdirAll(dir, 0o755)
	img := filepath.Join(dir, kind+"-"+key+".img")
	if exists(img) {
		t.Logf("reusing %s initrd %s", kind, img)
		return img
	}
	unlock := lockCache(t)
	defer unlock()
	// dracut finds modules only in its own modules.d.
	link := filepath.Join(tc.DracutBase, "modules.d", "91keyunlock")
	os.Remove(link)
	if err := os.Symlink(filepath.Join(repo, "dracut"), link); err != nil {
		t.Fatal(err)
	}
	w := t.TempDir()
	os.MkdirAll(filepath.Join(w, "confdir"), 0o755)
	os.MkdirAll(filepath.Join(w, "tmp"), 0o755)
	conf := fmt.Sprintf("keyunlock_confdir=%q\nkeyunlock_bin=%q\nkeyunlock_unitdir=%q\n", f.ConfDir, bin, unitDir)
	os.WriteFile(filepath.Join(w, "dracut.conf"), []byte(conf), 0o644)
	start := time.Now()
	tmp := img + ".tmp"
	out, err := runErr("", []string{"dracutbasedir=" + tc.DracutBase}, tc.Dracut,
		"--conf", filepath.Join(w, "dracut.conf"), "--confdir", filepath.Join(w, "confdir"),
		"--no-hostonly", "--no-compress", "--kver", tc.KVer,
		"--kmoddir", filepath.Join(tc.KernelRoot, "lib", "modules", tc.KVer),
		"-m", dracutModules[kind],
		"--add-drivers", dracutDrivers(kind),
		"--tmpdir", filepath.Join(w, "tmp"), "--force", tmp)
	os.WriteFile(img+".log", []byte(out), 0o644)
	if err != nil {
		os.Remove(tmp)
		t.Fatalf("dracut (%s) failed: %v\n%s", kind, err, tail(out, 40))
	}
	if err := os.Rename(tmp, img); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(img)
	t.Logf("built %s initrd in %s (%d MB)", kind, since(start), fi.Size()>>20)
	// Old images of this flavour are stale now.
	old, _ := filepath.Glob(filepath.Join(dir, kind+"-*.img"))
	for _, o := range old {
		// Only this flavour's: "systemd-*" also matches "systemd-card-*".
		h := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(o), kind+"-"), ".img")
		if o != img && len(h) == len(key) && !strings.Contains(h, "-") {
			os.Remove(o)
			os.Remove(o + ".log")
			os.Remove(o + zstdSizeSuffix)
		}
	}
	return img
}

// buildInitrdExpectFailure runs dracut for a shell initrd that must fail and
// returns its output.
func buildInitrdExpectFailure(t testing.TB, tc *toolchain, bin string, f *fixture) string {
	t.Helper()
	repo := repoRoot(t)
	unlock := lockCache(t)
	defer unlock()
	link := filepath.Join(tc.DracutBase, "modules.d", "91keyunlock")
	os.Remove(link)
	if err := os.Symlink(filepath.Join(repo, "dracut"), link); err != nil {
		t.Fatal(err)
	}
	w := t.TempDir()
	os.MkdirAll(filepath.Join(w, "confdir"), 0o755)
	os.MkdirAll(filepath.Join(w, "tmp"), 0o755)
	conf := fmt.Sprintf("keyunlock_confdir=%q\nkeyunlock_bin=%q\n", f.ConfDir, bin)
	os.WriteFile(filepath.Join(w, "dracut.conf"), []byte(conf), 0o644)
	out, err := runErr("", []string{"dracutbasedir=" + tc.DracutBase}, tc.Dracut,
		"--conf", filepath.Join(w, "dracut.conf"), "--confdir", filepath.Join(w, "confdir"),
		"--no-hostonly", "--no-compress", "--kver", tc.KVer,
		"--kmoddir", filepath.Join(tc.KernelRoot, "lib", "modules", tc.KVer),
		"-m", dracutModules[shellInitrd], "--tmpdir", filepath.Join(w, "tmp"), "--force", filepath.Join(w, "initrd.img"))
	if err == nil {
		t.Fatalf("dracut built an image that could not unlock:\n%s", tail(out, 20))
	}
	if exists(filepath.Join(w, "initrd.img")) {
		t.Fatalf("dracut failed but left an image behind")
	}
	return out
}
