package ccid

import "unsafe"

// usbfs structures (include/uapi/linux/usbdevice_fs.h). Their sizes, and
// so the ioctl numbers that encode them, depend on the pointer size.
type usbBulk struct {
	ep      uint32
	len     uint32
	timeout uint32 // milliseconds
	data    unsafe.Pointer
}

// ioctl requests, derived from the structure sizes as _IOW/_IOR/_IOWR do.
var (
	ioctlBulk             = ioc(iocRead|iocWrite, 2, unsafe.Sizeof(usbBulk{}))
	ioctlClaimInterface   = ioc(iocRead, 15, 4)
	ioctlReleaseInterface = ioc(iocRead, 16, 4)
	ioctlClearHalt        = ioc(iocRead, 21, 4)
)

// ioc encodes an ioctl number of usbfs ('U').
func ioc(dir, nr, size uintptr) uintptr {
	return dir<<iocDirShift | size<<iocSizeShift | 'U'<<8 | nr
}
