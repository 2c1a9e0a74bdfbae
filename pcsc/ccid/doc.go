// Package ccid is a USB CCID smart-card reader driver that talks to the
// reader directly through Linux usbfs (/dev/bus/usb/BBB/DDD), without pcscd
// or libccid. It exists so that an initrd needs nothing but the static
// keyunlock binary (and the USB host controller modules) to use a USB
// OpenPGP token.
//
// The package has three layers, each in its own file:
//
//   - message.go: the CCID bulk messages (PC_to_RDR_* and RDR_to_PC_*),
//     their framing and the reply parser;
//   - reader.go: one exchange at a time with bSeq matching, time extensions
//     and a command timeout, over any Transport;
//   - level.go: APDU exchange at the reader's exchange level (short or
//     extended APDU level with CCID chaining, or TPDU level with T=0).
//
// usbfs_linux.go and sysfs_linux.go provide the Transport and the discovery
// of readers on Linux. TPDU-level T=1 and character-level readers are not
// supported: such readers are refused with an error that names them and
// says to use pcscd.
package ccid
