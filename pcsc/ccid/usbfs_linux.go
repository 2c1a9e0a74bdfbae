package ccid

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrInUse means another program (pcscd with libccid, GnuPG's scdaemon)
// has claimed the reader's CCID interface.
var ErrInUse = errors.New("reader in use by another program")

// usbDevice is a claimed CCID interface on a usbfs node: the Transport of
// a real reader.
type usbDevice struct {
	f     *os.File
	iface uint32
	in    uint32
	out   uint32
}

// openUSB opens the usbfs node path and claims interface d.Interface.
func openUSB(path, name string, d Descriptor) (*usbDevice, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	u := &usbDevice{f: f, iface: uint32(d.Interface), in: uint32(d.BulkIn), out: uint32(d.BulkOut)}
	if err := u.ioctlPtr(ioctlClaimInterface, unsafe.Pointer(&u.iface)); err != nil {
		f.Close()
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("%w: reader %s is in use by pcscd or scdaemon; stop it (or 'gpgconf --kill scdaemon'), or use --card-reader pcsc:", ErrInUse, name)
		}
		return nil, fmt.Errorf("%s: claiming its CCID interface on %s: %w", name, path, err)
	}
	return u, nil
}

// ioctlPtr runs one usbfs ioctl whose argument is a pointer.
func (u *usbDevice) ioctlPtr(req uintptr, arg unsafe.Pointer) error {
	conn, err := u.f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	cerr := conn.Control(func(fd uintptr) {
		for {
			_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
			if errno != unix.EINTR {
				return
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// bulk runs one synchronous bulk transfer and returns the byte count.
func (u *usbDevice) bulk(ep uint32, p []byte, timeout time.Duration) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	ms := timeout.Milliseconds()
	if ms <= 0 {
		ms = 1
	}
	b := usbBulk{ep: ep, len: uint32(len(p)), timeout: uint32(ms), data: unsafe.Pointer(&p[0])}
	conn, err := u.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n uintptr
	var errno unix.Errno
	cerr := conn.Control(func(fd uintptr) {
		n, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, ioctlBulk, uintptr(unsafe.Pointer(&b)))
	})
	runtime.KeepAlive(p)
	if cerr != nil {
		return 0, cerr
	}
	switch errno {
	case 0:
		return int(n), nil
	case unix.ETIMEDOUT:
		return 0, fmt.Errorf("%w: endpoint %#02x", ErrTimeout, ep)
	case unix.ENODEV, unix.ESHUTDOWN:
		return 0, fmt.Errorf("the reader was unplugged: %w", errno)
	case unix.EPIPE: // stalled: clear the halt so that the next transfer works
		e := ep
		u.ioctlPtr(ioctlClearHalt, unsafe.Pointer(&e))
	}
	return 0, fmt.Errorf("bulk transfer on endpoint %#02x: %w", ep, errno)
}

// Send writes msg to the bulk-OUT endpoint.
func (u *usbDevice) Send(msg []byte, timeout time.Duration) error {
	n, err := u.bulk(u.out, msg, timeout)
	if err == nil && n != len(msg) {
		err = fmt.Errorf("short bulk write (%d of %d bytes)", n, len(msg))
	}
	return err
}

// Recv reads from the bulk-IN endpoint.
func (u *usbDevice) Recv(buf []byte, timeout time.Duration) (int, error) {
	return u.bulk(u.in, buf, timeout)
}

// Close releases the interface and closes the node.
func (u *usbDevice) Close() error {
	u.ioctlPtr(ioctlReleaseInterface, unsafe.Pointer(&u.iface))
	return u.f.Close()
}
