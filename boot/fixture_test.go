package boot

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// passphrase protects the test's soft secret key.
const passphrase = "correct horse battery"

// fixtureVersion changes whenever the fixture layout below changes.
const fixtureVersion = "v5"

// fixture is the enrolled key material and the encrypted disks, made once
// and cached: a soft key made by gpg and protected by passphrase, and two
// LUKS2 volumes ("root" with a tiny busybox system, "data" with a marker
// file) enrolled with keyunlock encrypt + cryptsetup luksAddKey, their keys
// in keys/NAME.pgp; keyslot 0 holds the recovery passphrase "recovery NAME".
type fixture struct {
	Dir        string
	SecretKey  string // armored, passphrase-protected secret key
	KeyID      string // 16 hex digits of the encryption subkey
	Fpr        string // primary fingerprint
	RootImg    string
	RootUUID   string
	DataImg    string
	DataUUID   string
	ConfDir    string // an /etc/keyunlock for the build host
	DataMarker string
}

// binary returns the keyunlock binary to boot: $KEYUNLOCK_TEST_BIN (make
// boot-test sets it to the binary make build made, the one that ships), or
// a static build of the source into the cache.
func binary(t testing.TB) string {
	t.Helper()
	start := time.Now()
	bin, err := testenv.Binary(filepath.Join(repoRoot(t), "cmd", "keyunlock"), filepath.Join(cacheDir(t), "keyunlock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("keyunlock binary %s (%s)", bin, since(start))
	return bin
}

// hasCommand reports whether the keyunlock binary implements a subcommand.
func hasCommand(bin, name string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(name) + `\s`).Match(out)
}

// getFixture makes (once) the key material and disks.
func getFixture(t testing.TB, bin string) *fixture {
	t.Helper()
	unlock := lockCache(t)
	defer unlock()
	dir := filepath.Join(cacheDir(t), "fixture-"+fixtureVersion+"-"+hashInputs(t, filepath.Join(repoRoot(t), "boot", "testdata", "rootinit.sh")))
	f := &fixture{
		Dir:        dir,
		SecretKey:  filepath.Join(dir, "conf", "keys.d", "boot-test.asc"),
		RootImg:    filepath.Join(dir, "root.img"),
		DataImg:    filepath.Join(dir, "data.img"),
		ConfDir:    filepath.Join(dir, "conf"),
		DataMarker: "data volume unlocked through the daemon",
	}
	if !exists(filepath.Join(dir, ".ok")) {
		stale, _ := filepath.Glob(filepath.Join(cacheDir(t), "fixture-*"))
		for _, s := range stale {
			os.RemoveAll(s)
		}
		makeFixture(t, f, bin)
		if err := os.WriteFile(filepath.Join(dir, ".ok"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.RootUUID = strings.TrimSpace(run(t, "", nil, "cryptsetup", "luksUUID", f.RootImg))
	f.DataUUID = strings.TrimSpace(run(t, "", nil, "cryptsetup", "luksUUID", f.DataImg))
	ids, _ := os.ReadFile(filepath.Join(dir, "keyids"))
	fmt.Sscan(string(ids), &f.Fpr, &f.KeyID)
	return f
}

func makeFixture(t testing.TB, f *fixture, bin string) {
	start := time.Now()
	for _, d := range []string{f.Dir, filepath.Join(f.ConfDir, "keys"), filepath.Join(f.ConfDir, "keys.d")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The soft key: made with gpg, as a user would, exported protected.
	gh := t.TempDir()
	gpg := func(args ...string) string {
		return run(t, "", nil, "gpg", append([]string{"--homedir", gh, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", passphrase}, args...)...)
	}
	gpg("--quick-gen-key", "Boot Test <boot@keyunlock.test>", "future-default", "default", "never")
	colons := gpg("--with-colons", "--list-keys")
	var fpr, subKeyID string
	for _, l := range strings.Split(colons, "\n") {
		fs := strings.Split(l, ":")
		if len(fs) > 9 && fs[0] == "fpr" && fpr == "" {
			fpr = fs[9]
		}
		if len(fs) > 4 && fs[0] == "sub" {
			subKeyID = fs[4]
		}
	}
	if fpr == "" || subKeyID == "" {
		t.Fatalf("gpg key listing without fingerprint/subkey:\n%s", colons)
	}
	os.WriteFile(filepath.Join(f.Dir, "keyids"), []byte(fpr+" "+subKeyID+"\n"), 0o644)
	gpg("--armor", "--output", f.SecretKey, "--export-secret-keys", fpr)
	os.Chmod(f.SecretKey, 0o600)
	gpg("--armor", "--output", filepath.Join(f.ConfDir, "boot-test.pub.asc"), "--export", fpr)

	// Enrol as the README says: keyunlock encrypt makes a new random LUKS
	// key encrypted to the certificate...
	pub := filepath.Join(f.ConfDir, "boot-test.pub.asc")
	for _, name := range []string{"root", "data"} {
		run(t, "", nil, bin, "encrypt", "--recipient", pub, "-o", filepath.Join(f.ConfDir, "keys", name+".pgp"))
	}

	// Volume UUIDs are chosen up front so that the configuration can go
	// into the root file system too. Root waits for its disk without
	// systemd's 90 s device timeout: TCG on a busy machine can be slower.
	uuids := map[string]string{"root": newUUID(), "data": newUUID()}
	vol := "# name device keyfile key options\n" +
		"root UUID=" + uuids["root"] + " keys/root.pgp keys.d/boot-test.asc luks,x-systemd.device-timeout=0\n" +
		"data UUID=" + uuids["data"] + " keys/data.pgp keys.d/boot-test.asc luks,noauto\n"
	os.WriteFile(filepath.Join(f.ConfDir, "volumes"), []byte(vol), 0o644)

	// Root: a busybox system whose init reports what it sees (rootinit.sh).
	rootDir := filepath.Join(t.TempDir(), "root")
	buildRootTree(t, rootDir, f)
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o755)
	os.WriteFile(filepath.Join(dataDir, "marker"), []byte(f.DataMarker+"\n"), 0o644)

	pwFile := filepath.Join(t.TempDir(), "passphrase")
	os.WriteFile(pwFile, []byte(passphrase+"\n"), 0o600)
	for _, v := range []struct{ name, img, tree string }{{"root", f.RootImg, rootDir}, {"data", f.DataImg, dataDir}} {
		// ...the disk is made with a recovery passphrase ("recovery NAME")...
		recovery := filepath.Join(t.TempDir(), "recovery")
		os.WriteFile(recovery, []byte("recovery "+v.name), 0o600)
		makeLUKS(t, v.img, v.tree, recovery, uuids[v.name])
		// ...and the decrypted key is added to a second keyslot.
		key := filepath.Join(t.TempDir(), "key")
		run(t, "", nil, bin, "decrypt", "-q", "--key", f.SecretKey, "--passphrase-file", pwFile, "-o", key, filepath.Join(f.ConfDir, "keys", v.name+".pgp"))
		run(t, "", nil, "cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", recovery, v.img, key)
		os.Remove(key)
	}
	t.Logf("fixture (key, LUKS2 disks) made in %s", since(start))
}

// makeLUKS makes an ext4 file system from tree and encrypts it in place with
// LUKS2 (offline reencryption needs no device mapper on the host).
func makeLUKS(t testing.TB, img, tree, keyFile, uuid string) {
	t.Helper()
	run(t, "", nil, "truncate", "-s", "64M", img)
	run(t, "", nil, "mkfs.ext4", "-q", "-F", "-d", tree, img, "48M")
	run(t, "", nil, "cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "--reduce-device-size", "16M",
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--batch-mode", "--uuid", uuid, "--key-file", keyFile, img)
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
