package boot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// sdShims add mkinitcpio's systemd-image helpers to mkinitcpioShims,
// recording what build() asks for in $RECORD.
const sdShims = mkinitcpioShims + `
add_systemd_unit() { echo "unit $1" >> "$RECORD"; }
add_symlink() { echo "symlink $1 $2" >> "$RECORD"; }
add_module() { echo "module $1" >> "$RECORD"; }
`

// TestMkinitcpioSystemdHook runs sd-keyunlock's build() after what
// sd-encrypt leaves (the image's /etc/crypttab copied from
// crypttab.initramfs): the volumes' crypttab lines must point at the
// daemon's socket and replace lines of the same name, other lines must stay,
// the keys, the volumes file and serve.conf must be in the image, and the USB
// host modules must be added exactly when serve.conf passes --card.
func TestMkinitcpioSystemdHook(t *testing.T) {
	testenv.RequireTool(t, "bash")
	repo := repoRoot(t)
	bin, err := os.Executable() // any executable file stands in for the binary
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, serve string
		usb         bool
	}{
		{"soft keys", "", false},
		{"serve.conf without --card", `KEYUNLOCK_SERVE_ARGS="--cache-ttl 10m"` + "\n", false},
		{"card", `KEYUNLOCK_SERVE_ARGS="--card --card-wait 1m"` + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf, root, record := filepath.Join(dir, "conf"), filepath.Join(dir, "root"), filepath.Join(dir, "record")
			write := func(p, s string) {
				t.Helper()
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write(filepath.Join(conf, "volumes"), "# comment\nroot UUID=1111 - keys.d/me.asc\nhome UUID=2222 keys/home.pgp - luks,discard\n")
			write(filepath.Join(conf, "keys", "root.pgp"), "root key")
			write(filepath.Join(conf, "keys", "home.pgp"), "home key")
			write(filepath.Join(conf, "keys.d", "me.asc"), "soft key")
			if tc.serve != "" {
				write(filepath.Join(conf, "serve.conf"), tc.serve)
			}
			// What sd-encrypt copied from /etc/crypttab.initramfs.
			write(filepath.Join(root, "etc", "crypttab"), "root UUID=1111 none luks\nswap /dev/sdb2 /dev/urandom swap\n")

			run(t, "", []string{"BUILDROOT=" + root, "HOOKDIR=" + filepath.Join(repo, "mkinitcpio"), "RECORD=" + record,
				"KEYUNLOCK_CONFDIR=" + conf, "KEYUNLOCK_BIN=" + bin}, "bash", "-c", sdShims+`. "$HOOKDIR/install/sd-keyunlock"; build`)

			crypttab, _ := os.ReadFile(filepath.Join(root, "etc", "crypttab"))
			want := "swap /dev/sdb2 /dev/urandom swap\nroot UUID=1111 /run/keyunlock/luks.sock luks\nhome UUID=2222 /run/keyunlock/luks.sock luks,discard\n"
			if string(crypttab) != want {
				t.Errorf("crypttab:\n%s\nwant:\n%s", crypttab, want)
			}
			for p, want := range map[string]string{
				"etc/keyunlock/keys/root.pgp": "root key",
				"etc/keyunlock/keys/home.pgp": "home key",
				"etc/keyunlock/keys.d/me.asc": "soft key",
				"etc/keyunlock/volumes":       "root UUID=1111 /etc/keyunlock/keys/root.pgp /etc/keyunlock/keys.d/me.asc luks\nhome UUID=2222 /etc/keyunlock/keys/home.pgp - luks,discard\n",
			} {
				if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(got) != want {
					t.Errorf("%s in the image: %q (%v), want %q", p, got, err, want)
				}
			}
			got, err := os.ReadFile(filepath.Join(root, "etc", "keyunlock", "serve.conf"))
			if tc.serve == "" && err == nil {
				t.Errorf("serve.conf in the image without one in %s", conf)
			}
			if tc.serve != "" && string(got) != tc.serve {
				t.Errorf("serve.conf in the image: %q (%v), want %q", got, err, tc.serve)
			}
			rec, _ := os.ReadFile(filepath.Join(record))
			for _, u := range []string{"unit keyunlock.socket", "unit keyunlock.service", "symlink /usr/lib/systemd/system/sockets.target.wants/keyunlock.socket"} {
				if !strings.Contains(string(rec), u) {
					t.Errorf("build() did not call %s:\n%s", u, rec)
				}
			}
			if got := strings.Contains(string(rec), "module xhci_pci?"); got != tc.usb {
				t.Errorf("USB host modules added: %v, want %v:\n%s", got, tc.usb, rec)
			}
			if !exists(filepath.Join(root, "usr", "bin", "keyunlock")) {
				t.Error("build() did not add /usr/bin/keyunlock")
			}
		})
	}
}
