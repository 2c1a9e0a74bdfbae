package boot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestMakeInstall installs into a DESTDIR and checks that every generator's
// files land where it looks, then that uninstall removes them.
func TestMakeInstall(t *testing.T) {
	testenv.RequireTool(t, "make", "install")
	dest := t.TempDir()
	run(t, repoRoot(t), nil, "make", "install", "DESTDIR="+dest, "PREFIX=/usr")
	want := []string{
		"usr/bin/keyunlock",
		"usr/lib/dracut/modules.d/91keyunlock/module-setup.sh",
		"usr/lib/dracut/modules.d/91keyunlock/keyunlock-unlock.sh",
		"usr/lib/dracut/modules.d/91keyunlock/69-keyunlock.rules",
		"usr/lib/initcpio/install/keyunlock",
		"usr/lib/initcpio/install/sd-keyunlock",
		"usr/lib/initcpio/hooks/keyunlock",
		"usr/lib/initcpio/keyunlock-usb",
		"usr/share/initramfs-tools/hooks/keyunlock",
		"usr/lib/cryptsetup/scripts/keyunlock",
	}
	units, _ := filepath.Glob(filepath.Join(repoRoot(t), "systemd", "*.s*"))
	for _, u := range units {
		want = append(want, filepath.Join("usr/lib/systemd/system", filepath.Base(u)))
	}
	for _, w := range want {
		fi, err := os.Stat(filepath.Join(dest, w))
		if err != nil {
			t.Errorf("make install did not install %s", w)
			continue
		}
		if fi.Mode()&0o111 == 0 && (filepath.Base(w) == "keyunlock" && filepath.Dir(w) != "usr/lib/initcpio/install" && filepath.Dir(w) != "usr/lib/initcpio/hooks") {
			t.Errorf("%s is not executable (%v)", w, fi.Mode())
		}
	}
	// The install hooks source keyunlock-usb from beside install/, as in
	// the repository, where the hook tests run them.
	usb := filepath.Join(dest, "usr/lib/initcpio/keyunlock-usb")
	if out := run(t, "", []string{"LIB=" + usb, "KEYUNLOCK_USB=yes"}, "bash", "-c", `add_module() { echo "$1"; }; . "$LIB" && keyunlock_usb_modules ""`); !strings.Contains(out, "xhci_pci?") {
		t.Errorf("the installed keyunlock-usb added no USB host modules: %q", out)
	}
	run(t, repoRoot(t), nil, "make", "uninstall", "DESTDIR="+dest, "PREFIX=/usr")
	for _, w := range want {
		if exists(filepath.Join(dest, w)) {
			t.Errorf("make uninstall left %s", w)
		}
	}
}
