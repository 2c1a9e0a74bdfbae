// Package boot holds keyunlock's boot tests: they build real initrds with
// Debian's dracut and the modules in ../dracut, boot them in QEMU (TCG) with
// LUKS2 disks, type the passphrase on the serial console and check what the
// guest prints. It also runs the mkinitcpio runtime hook in a busybox chroot.
//
// The kernel, dracut and built images are cached under .cache/boot/ in the
// repository, keyed by package versions and input hashes. Run with
// "make boot-test".
package boot
