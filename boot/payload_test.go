package boot

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// payloadJSONEnv names the file TestDracutPayload writes its figures to
// (internal/bench, part 3, reads it).
const payloadJSONEnv = "KEYUNLOCK_PAYLOAD_JSON"

// payloadTop is how many of the biggest added files the figures name.
const payloadTop = 12

// payload is what TestDracutPayload writes to $KEYUNLOCK_PAYLOAD_JSON; the
// bench has its own copy of this layout.
type payload struct {
	Binary    string          `json:"binary"`
	BinaryRaw int64           `json:"binary_raw"`
	BinaryZ   int64           `json:"binary_zstd19"` // the binary alone, zstd -19
	KVer      string          `json:"kernel"`
	Dracut    string          `json:"dracut"`
	Flavours  []payloadFlavor `json:"flavours"`
}

// payloadFlavor is one initrd flavour built with and without the module.
type payloadFlavor struct {
	Name       string         `json:"name"`
	Modules    string         `json:"modules"` // the dracut module list with keyunlock
	Drivers    string         `json:"drivers"` // --add-drivers of both images
	WithRaw    int64          `json:"with_raw"`
	WithZ      int64          `json:"with_zstd19"`
	WithoutRaw int64          `json:"without_raw"`
	WithoutZ   int64          `json:"without_zstd19"`
	Files      int            `json:"files_added"`     // members only in the image with the module
	Changed    int            `json:"files_changed"`   // members in both whose size differs
	Groups     map[string]int `json:"groups_raw"`      // raw bytes added, by kind
	GroupsZ    map[string]int `json:"groups_zstd19"`   // each kind's added files together, zstd -19
	Top        []payloadFile  `json:"top"`             // the biggest additions, biggest first
	Listing    []string       `json:"added_listing"`   // every added member's path
	ChangedRaw int64          `json:"changed_raw"`     // net raw growth of the changed members
	Extra      []string       `json:"notes,omitempty"` // observations worth reporting
}

// payloadFile is one file the module adds (or makes bigger).
type payloadFile struct {
	Path  string `json:"path"`
	Raw   int64  `json:"raw"`    // added bytes (the whole file, or its growth)
	Z     int64  `json:"zstd19"` // the added file alone, zstd -19 (0 for a grown file)
	Group string `json:"group"`  // see payloadGroup
	Grown bool   `json:"grown,omitempty"`
}

// TestDracutPayload measures what the keyunlock dracut module adds to an
// initrd on the full card path (direct USB/CCID, no pcscd): for the
// systemd and the shell flavour, and for the systemd flavour on an image
// that supports USB keyboards as dracut's default images do
// (usbKeyboardDrivers), the card-configured image is built twice
// with the same kernel, drivers and configuration, once with the module
// list including keyunlock and once without it, both uncompressed; each is
// then compressed with zstd -19 (the shell flavour's only when the figures
// are asked for: a minute of CPU per image). The listings are compared
// member by member. With $KEYUNLOCK_PAYLOAD_JSON set the figures are
// written there (internal/bench, part 3).
func TestDracutPayload(t *testing.T) {
	tc := getToolchain(t)
	testenv.RequireTool(t, "zstd")
	bin := binary(t)
	requireCommands(t, bin, "serve", "decrypt", "encrypt")
	f := getFixture(t, bin)
	cf := getCardFixture(t, bin, f)
	conf := &fixture{ConfDir: cf.ConfDir}

	binData, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	res := payload{Binary: bin, BinaryRaw: int64(len(binData)), BinaryZ: zstd19(t, bytes.NewReader(binData)),
		KVer: tc.KVer, Dracut: tc.Key}
	for _, fl := range []struct{ name, with, without string }{
		{"systemd", systemdCardInitrd, systemdCardBare},
		{"shell", shellCardInitrd, shellCardBare},
		{"systemd+usb-keyboard", systemdCardKbd, systemdCardKbdBare},
	} {
		// Open each image as soon as it is built: a concurrent boot test
		// run with another binary may replace the cached images.
		withImg := openImage(t, buildInitrd(t, tc, fl.with, bin, conf))
		withoutImg := openImage(t, buildInitrd(t, tc, fl.without, bin, conf))
		with, without := readNewc(t, withImg), readNewc(t, withoutImg)
		p := comparePayload(t, fl.name, with, without, binData)
		p.Modules = dracutModules[fl.with]
		p.Drivers = dracutDrivers(fl.with)
		if fl.with == systemdCardKbd {
			// On an image that supports USB keyboards the module adds no
			// kernel module: the card path needs no driver beyond them.
			for _, path := range p.Listing {
				if strings.Contains(filepath.Base(path), ".ko") {
					t.Errorf("%s: the module adds the kernel module %s to an image with USB keyboard support", fl.name, path)
				}
			}
		}
		p.WithRaw, p.WithoutRaw = fileSize(t, withImg), fileSize(t, withoutImg)
		if p.WithRaw <= p.WithoutRaw+res.BinaryRaw {
			t.Errorf("%s: the image with the module is %d bytes, without %d: not even the binary's %d bytes more", fl.name, p.WithRaw, p.WithoutRaw, res.BinaryRaw)
		}
		if fl.name != "systemd" && os.Getenv(payloadJSONEnv) == "" {
			// zstd -19 takes about a minute of CPU per image: the shell
			// flavour's figures are for the bench only.
			t.Logf("%s: %d members added, %d changed; compressed sizes are measured when $%s is set", fl.name, p.Files, p.Changed, payloadJSONEnv)
			continue
		}
		p.WithZ, p.WithoutZ = zstd19Image(t, withImg), zstd19Image(t, withoutImg)
		// Compressed inside the whole image the binary may come out a
		// little smaller than alone (zstd finds matches in the rest), but
		// not by more than a few percent: the binary must be counted.
		if d := p.WithZ - p.WithoutZ; float64(d) < 0.95*float64(res.BinaryZ) {
			t.Errorf("%s: the module adds %d bytes under zstd -19, less than 95%% of the keyunlock binary alone (%d)", fl.name, d, res.BinaryZ)
		}
		t.Logf("%s: with keyunlock %d raw, %d zstd -19; without %d raw, %d zstd -19; difference %d raw, %d zstd -19 (binary alone %d); %d files added, %d changed",
			fl.name, p.WithRaw, p.WithZ, p.WithoutRaw, p.WithoutZ, p.WithRaw-p.WithoutRaw, p.WithZ-p.WithoutZ, res.BinaryZ, p.Files, p.Changed)
		for _, f := range p.Top {
			t.Logf("  %-60s %9d raw %9d zstd -19 (%s)", f.Path, f.Raw, f.Z, f.Group)
		}
		res.Flavours = append(res.Flavours, p)
	}
	if out := os.Getenv(payloadJSONEnv); out != "" {
		b, err := json.MarshalIndent(&res, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// comparePayload checks that the module is in one image and not in the
// other and lists what it adds.
func comparePayload(t *testing.T, name string, with, without map[string]cpioMember, bin []byte) payloadFlavor {
	t.Helper()
	// Without the module: no trace of keyunlock.
	for p := range without {
		if strings.Contains(p, "keyunlock") {
			t.Errorf("%s: the image without the module holds %s", name, p)
		}
	}
	// With it: the binary as built, its configuration, the USB host
	// controller drivers the direct CCID path needs, and no pcscd.
	got, ok := with["usr/bin/keyunlock"]
	switch {
	case !ok || !got.regular():
		t.Errorf("%s: the image with the module has no usr/bin/keyunlock", name)
	case !bytes.HasPrefix(got.Data, []byte("\x7fELF")) || math.Abs(float64(len(got.Data)-len(bin))) > 0.01*float64(len(bin)):
		// dracut runs strip over the ELF files it installs, which rewrites
		// the section headers of an already stripped Go binary (a few
		// bytes); anything more is not our binary.
		t.Errorf("%s: usr/bin/keyunlock in the image (%d bytes) is not the binary (%d bytes)", name, len(got.Data), len(bin))
	}
	for _, want := range []string{"etc/keyunlock/volumes", "etc/keyunlock/keys/root.pgp"} {
		if _, ok := with[want]; !ok {
			t.Errorf("%s: the image with the module lacks %s", name, want)
		}
	}
	for _, ko := range []string{"xhci-pci.ko", "xhci-hcd.ko", "usbcore.ko"} {
		if !hasMember(with, ko) {
			t.Errorf("%s: the card image lacks the USB host driver %s", name, ko)
		}
	}
	for _, bad := range []string{"pcscd", "libccid", "libpcsclite"} {
		if hasMember(with, bad) {
			t.Errorf("%s: the direct card path's image holds %s", name, bad)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	p := payloadFlavor{Name: name, Groups: map[string]int{}}
	var adds []payloadFile
	for path, m := range with {
		old, inBoth := without[path]
		switch {
		case !inBoth:
			p.Files++
			p.Listing = append(p.Listing, path)
			if m.regular() {
				adds = append(adds, payloadFile{Path: path, Raw: int64(len(m.Data)), Group: payloadGroup(path)})
			}
		case m.regular() && old.regular() && len(m.Data) != len(old.Data):
			p.Changed++
			d := int64(len(m.Data) - len(old.Data))
			p.ChangedRaw += d
			if d > 0 {
				adds = append(adds, payloadFile{Path: path, Raw: d, Group: payloadGroup(path), Grown: true})
			}
		}
	}
	sort.Strings(p.Listing)
	grouped := map[string][]byte{}
	for _, a := range adds {
		p.Groups[a.Group] += int(a.Raw)
		if !a.Grown {
			grouped[a.Group] = append(grouped[a.Group], with[a.Path].Data...)
		}
	}
	p.GroupsZ = map[string]int{}
	for g, data := range grouped {
		p.GroupsZ[g] = int(zstd19(t, bytes.NewReader(data)))
	}
	sort.Slice(adds, func(i, j int) bool {
		if adds[i].Raw != adds[j].Raw {
			return adds[i].Raw > adds[j].Raw
		}
		return adds[i].Path < adds[j].Path
	})
	if len(adds) > payloadTop {
		adds = adds[:payloadTop]
	}
	for i := range adds {
		if !adds[i].Grown {
			adds[i].Z = zstd19(t, bytes.NewReader(with[adds[i].Path].Data))
		}
	}
	p.Top = adds
	for _, path := range p.Listing {
		if strings.HasSuffix(path, ".rules") {
			p.Extra = append(p.Extra, "udev rule "+path)
		}
	}
	return p
}

// payloadGroup sorts an initrd member into the kind of payload it is.
func payloadGroup(path string) string {
	base := filepath.Base(path)
	switch {
	case path == "usr/bin/keyunlock":
		return "keyunlock binary"
	case strings.Contains(base, ".ko"):
		return "kernel modules"
	case strings.HasPrefix(path, "usr/lib/modules/") || strings.HasPrefix(path, "lib/modules/"):
		return "kernel module indexes"
	case strings.HasPrefix(path, "etc/keyunlock/"):
		return "keyunlock configuration and keys"
	case strings.Contains(path, "systemd/system/"), strings.HasSuffix(path, ".rules"), strings.HasPrefix(path, "sbin/"),
		strings.HasPrefix(path, "usr/sbin/"), strings.HasPrefix(path, "etc/"):
		return "units, udev rules, scripts, crypttab"
	}
	return "other"
}

// cpioMember is one member of an initrd's cpio (newc) archives.
type cpioMember struct {
	Mode uint32
	Data []byte // contents of a regular file
}

func (m cpioMember) regular() bool { return m.Mode&0o170000 == 0o100000 }

// hasMember reports whether a member's path contains sub.
func hasMember(members map[string]cpioMember, sub string) bool {
	for p := range members {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

// readNewc reads an uncompressed initrd: one or more concatenated cpio
// archives in the newc format (an early microcode archive may come first),
// separated by zero padding. Paths lose their leading "./" or "/".
func readNewc(t *testing.T, img *os.File) map[string]cpioMember {
	t.Helper()
	path := img.Name()
	b, err := io.ReadAll(io.NewSectionReader(img, 0, fileSize(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]cpioMember{}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; off < len(b); {
		if b[off] == 0 {
			off++
			continue
		}
		if off+110 > len(b) || (string(b[off:off+6]) != "070701" && string(b[off:off+6]) != "070702") {
			t.Fatalf("%s: no newc cpio header at offset %d (a compressed image?)", path, off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("%s: bad cpio header at offset %d: %v", path, off, err)
			}
			return int(v)
		}
		mode, size, nameSize := field(1), field(6), field(11)
		nameAt := off + 110
		dataAt := align(nameAt + nameSize)
		if nameSize < 1 || dataAt+size > len(b) {
			t.Fatalf("%s: truncated cpio member at offset %d", path, off)
		}
		name := strings.TrimLeft(strings.TrimPrefix(string(b[nameAt:nameAt+nameSize-1]), "."), "/")
		off = align(dataAt + size)
		if name == "TRAILER!!!" || name == "" {
			continue
		}
		members[name] = cpioMember{Mode: uint32(mode), Data: b[dataAt : dataAt+size]}
	}
	if len(members) == 0 {
		t.Fatalf("%s: no cpio members", path)
	}
	return members
}

// openImage opens a built image for the rest of the test.
func openImage(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func fileSize(t *testing.T, f *os.File) int64 {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// zstdSizeSuffix names the file beside a cached image that holds its size
// under zstd -19.
const zstdSizeSuffix = ".zstd19"

// zstd19Image returns the size of a cached initrd compressed with zstd -19,
// remembered beside it (an image's name is the hash of its inputs).
func zstd19Image(t *testing.T, f *os.File) int64 {
	t.Helper()
	img := f.Name()
	if b, err := os.ReadFile(img + zstdSizeSuffix); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	start := time.Now()
	n := zstd19(t, io.NewSectionReader(f, 0, fileSize(t, f)))
	t.Logf("%s: zstd -19 in %s", filepath.Base(img), since(start))
	unlock := lockCache(t)
	defer unlock()
	if exists(img) { // not replaced meanwhile
		if err := os.WriteFile(img+zstdSizeSuffix, []byte(strconv.FormatInt(n, 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// zstd19 returns the size of in compressed with zstd -19 (one thread, as
// the figures of the bench's other sets).
func zstd19(t *testing.T, in io.Reader) int64 {
	t.Helper()
	cmd := exec.Command("zstd", "-19", "-q", "-c")
	cmd.Stdin = in
	var n countWriter
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &n, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("zstd -19: %v %s", err, errb.String())
	}
	return int64(n)
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
