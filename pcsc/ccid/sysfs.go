package ccid

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// SysfsRoot is where Linux lists USB devices and interfaces.
const SysfsRoot = "/sys/bus/usb/devices"

// Info describes one CCID reader found in sysfs.
type Info struct {
	Port         string // bus and port path, "1-2" or "3-1.4": what ccid:PORT names
	Bus, Addr    int    // busnum and devnum
	Vendor       uint16 // idVendor
	Product      uint16 // idProduct
	Manufacturer string
	ProductName  string
	Node         string // the usbfs node, /dev/bus/usb/BBB/DDD
	Desc         Descriptor
	// Err is set when the reader cannot be used (broken descriptors, an
	// unsupported exchange level); the other fields are still filled in.
	Err error
}

// Name is how keyunlock names the reader: its product string and its
// ccid:PORT address.
func (i Info) Name() string {
	prod := strings.TrimSpace(i.Manufacturer + " " + i.ProductName)
	if prod == "" {
		prod = fmt.Sprintf("USB reader %04x:%04x", i.Vendor, i.Product)
	}
	return fmt.Sprintf("%s (ccid:%s)", prod, i.Port)
}

// List finds the USB devices with a CCID interface under root (SysfsRoot
// when empty), sorted by port.
func List(root string) ([]Info, error) {
	if root == "" {
		root = SysfsRoot
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil // no USB support in this kernel
		}
		return nil, err
	}
	seen := map[string]bool{}
	var out []Info
	for _, e := range ents {
		// Interfaces are "<port>:<config>.<interface>".
		port, _, ok := strings.Cut(e.Name(), ":")
		if !ok || seen[port] {
			continue
		}
		class := readAttr(filepath.Join(root, e.Name(), "bInterfaceClass"))
		if class != "0b" {
			continue
		}
		seen[port] = true
		out = append(out, readInfo(filepath.Join(root, port), port))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Port < out[b].Port })
	return out, nil
}

// readInfo fills an Info from the device directory dir.
func readInfo(dir, port string) Info {
	i := Info{Port: port}
	i.Bus, _ = strconv.Atoi(readAttr(filepath.Join(dir, "busnum")))
	i.Addr, _ = strconv.Atoi(readAttr(filepath.Join(dir, "devnum")))
	v, _ := strconv.ParseUint(readAttr(filepath.Join(dir, "idVendor")), 16, 16)
	p, _ := strconv.ParseUint(readAttr(filepath.Join(dir, "idProduct")), 16, 16)
	i.Vendor, i.Product = uint16(v), uint16(p)
	i.Manufacturer = readAttr(filepath.Join(dir, "manufacturer"))
	i.ProductName = readAttr(filepath.Join(dir, "product"))
	i.Node = fmt.Sprintf("/dev/bus/usb/%03d/%03d", i.Bus, i.Addr)
	raw, err := os.ReadFile(filepath.Join(dir, "descriptors"))
	if err != nil {
		i.Err = fmt.Errorf("%s: reading its USB descriptors: %w", i.Name(), err)
		return i
	}
	if i.Desc, err = ParseDescriptors(raw); err != nil {
		i.Err = fmt.Errorf("%s: %w", i.Name(), err)
		return i
	}
	i.Err = i.Desc.supported(i.Name())
	return i
}

// readAttr reads a one-line sysfs attribute, "" if missing.
func readAttr(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
