package boot

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// TestShellcheckHooks runs shellcheck over the boot hooks (dialect from
// each script's shebang or shellcheck directive). SC2154 is left out:
// the hooks use variables their initrd generator sets (initdir, moddir,
// BUILDROOT, kernel parameters).
func TestShellcheckHooks(t *testing.T) {
	testenv.RequireTool(t, "shellcheck")
	repo := repoRoot(t)
	var files []string
	for _, g := range []string{"mkinitcpio/hooks/*", "mkinitcpio/install/*", "mkinitcpio/keyunlock-usb", "dracut/*.sh", "initramfs-tools/hooks/*", "initramfs-tools/scripts/*", "scripts/*.sh"} {
		m, err := filepath.Glob(filepath.Join(repo, g))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			t.Fatalf("no script matches %s", g)
		}
		files = append(files, m...)
	}
	args := append([]string{"--severity=warning", "--exclude=SC2154"}, files...)
	if out, err := exec.Command("shellcheck", args...).CombinedOutput(); err != nil {
		t.Fatalf("shellcheck %v: %v\n%s", files, err, out)
	}
}
