package ccid

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// descriptors builds a device's descriptors as usbfs returns them: a
// device descriptor, then one configuration with an unrelated interface
// (HID, as on a YubiKey) and a CCID interface with the given features.
func descriptors(features, protocols, maxMsg uint32) []byte {
	dev := []byte{18, 1, 0x00, 0x02, 0, 0, 0, 64, 0xe6, 0x08, 0x33, 0x44, 0, 1, 1, 2, 3, 1}
	hid := []byte{9, 4, 0, 0, 1, 3, 0, 0, 0}
	hidEP := []byte{7, 5, 0x84, 0x03, 8, 0, 10}
	iface := []byte{9, 4, 1, 0, 3, 0x0B, 0, 0, 0}
	class := make([]byte, 54)
	class[0], class[1] = 54, 0x21
	class[4] = 0 // bMaxSlotIndex
	binary.LittleEndian.PutUint32(class[6:], protocols)
	binary.LittleEndian.PutUint32(class[28:], 0xFE)
	binary.LittleEndian.PutUint32(class[40:], features)
	binary.LittleEndian.PutUint32(class[44:], maxMsg)
	class[52] = 1
	out := []byte{7, 5, 0x01, 0x02, 64, 0, 0}
	in := []byte{7, 5, 0x82, 0x02, 64, 0, 0}
	intr := []byte{7, 5, 0x83, 0x03, 2, 0, 0xFF}
	var body []byte
	for _, d := range [][]byte{hid, hidEP, iface, class, out, in, intr} {
		body = append(body, d...)
	}
	cfg := []byte{9, 2, 0, 0, 2, 1, 0, 0x80, 50}
	binary.LittleEndian.PutUint16(cfg[2:], uint16(9+len(body)))
	return append(append(dev, cfg...), body...)
}

func TestParseDescriptorsQEMU(t *testing.T) {
	d, err := ParseDescriptors(descriptors(0x000104FE, 1, 0x10012))
	if err != nil {
		t.Fatal(err)
	}
	want := Descriptor{Interface: 1, BulkIn: 0x82, BulkOut: 0x01, Protocols: 1, MaxIFSD: 0xFE, Features: 0x000104FE, MaxMessage: 0x10012, PINSupport: 1}
	if d != want {
		t.Fatalf("got %+v\nwant %+v", d, want)
	}
	if d.Level() != LevelTPDU {
		t.Errorf("level %v, want TPDU", d.Level())
	}
	for f, l := range map[uint32]Level{0x000400FE: LevelExtendedAPDU, 0x00040840: LevelExtendedAPDU, 0x00020842: LevelShortAPDU, 0x000100BA: LevelTPDU, 0x3E: LevelCharacter} {
		if got := (Descriptor{Features: f}).Level(); got != l {
			t.Errorf("dwFeatures %#08x: level %v, want %v", f, got, l)
		}
	}
}

func TestParseDescriptorsBroken(t *testing.T) {
	good := descriptors(0x000400FE, 3, 3072)
	if _, err := ParseDescriptors(good[:18+9+9]); !errors.Is(err, ErrNoCCIDInterface) {
		t.Errorf("no CCID interface: %v", err)
	}
	if _, err := ParseDescriptors(good[:len(good)-20]); err == nil {
		t.Error("truncated descriptors accepted")
	}
	bad := append([]byte(nil), good...)
	bad[18] = 0 // a zero-length descriptor would loop forever
	if _, err := ParseDescriptors(bad); err == nil {
		t.Error("zero-length descriptor accepted")
	}
}

// fakeSysfs writes a /sys/bus/usb/devices tree with one CCID reader at
// port 1-2 (bus 1, address 5) and a hub at 1-0:1.0.
func fakeSysfs(t *testing.T, features, protocols uint32) string {
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("usb1/busnum", "1\n")
	write("1-0:1.0/bInterfaceClass", "09\n")
	write("1-2/busnum", "1\n")
	write("1-2/devnum", "5\n")
	write("1-2/idVendor", "08e6\n")
	write("1-2/idProduct", "4433\n")
	write("1-2/manufacturer", "QEMU\n")
	write("1-2/product", "QEMU USB CCID\n")
	write("1-2/descriptors", string(descriptors(features, protocols, 0x10012)))
	write("1-2:1.0/bInterfaceClass", "03\n")
	write("1-2:1.1/bInterfaceClass", "0b\n")
	return root
}

func TestListSysfs(t *testing.T) {
	infos, err := List(fakeSysfs(t, 0x000104FE, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 {
		t.Fatalf("found %d readers, want 1: %+v", len(infos), infos)
	}
	i := infos[0]
	if i.Err != nil || i.Port != "1-2" || i.Node != "/dev/bus/usb/001/005" || i.Vendor != 0x08e6 || i.Product != 0x4433 || i.Desc.Level() != LevelTPDU {
		t.Fatalf("info %+v", i)
	}
	if i.Name() != "QEMU QEMU USB CCID (ccid:1-2)" {
		t.Errorf("name %q", i.Name())
	}
	// A T=1-only TPDU reader is listed, with the reason it cannot be used.
	infos, err = List(fakeSysfs(t, 0x000104BA, 2))
	if err != nil || len(infos) != 1 {
		t.Fatalf("List: %v, %d readers", err, len(infos))
	}
	if !errors.Is(infos[0].Err, ErrUnsupported) || !strings.Contains(infos[0].Err.Error(), "(ccid:1-2)") {
		t.Errorf("T=1 reader: Err = %v", infos[0].Err)
	}
	if _, err := Open(infos[0]); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Open of an unsupported reader: %v", err)
	}
	// No USB at all is not an error.
	if infos, err := List(filepath.Join(t.TempDir(), "none")); err != nil || len(infos) != 0 {
		t.Errorf("List without sysfs: %v, %v", infos, err)
	}
}

func TestIoctlNumbers(t *testing.T) {
	// The values of include/uapi/linux/usbdevice_fs.h on 64-bit generic
	// ABIs (REFERENCE §4.2); 32-bit ABIs differ in the BULK size.
	want := map[string][2]uintptr{
		"BULK":             {ioctlBulk, 0xC0185502},
		"CLAIMINTERFACE":   {ioctlClaimInterface, 0x8004550F},
		"RELEASEINTERFACE": {ioctlReleaseInterface, 0x80045510},
		"CLEAR_HALT":       {ioctlClearHalt, 0x80045515},
	}
	if iocDirShift != 30 {
		t.Skip("not a generic _IOC layout")
	}
	for name, v := range want {
		w := v[1]
		if name == "BULK" && ptrSize == 4 {
			w = 0xC0105502
		}
		if v[0] != w {
			t.Errorf("USBDEVFS_%s = %#x, want %#x", name, v[0], w)
		}
	}
}
