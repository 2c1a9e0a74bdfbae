//go:build linux && (mips || mipsle || mips64 || mips64le || ppc || ppc64 || ppc64le || sparc64)

package ccid

// The _IOC layout of MIPS, PowerPC and SPARC: 13 size bits, 3 direction
// bits, and "read" and "write" swapped relative to the generic layout.
const (
	iocWrite     = 4
	iocRead      = 2
	iocDirShift  = 29
	iocSizeShift = 16
)
