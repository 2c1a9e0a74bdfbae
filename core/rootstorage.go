package core

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/keyunlock/keyunlock/internal/unixsock"
)

// InitrdReleaseFile exists only in an initrd (systemd's INITRD_INTERFACE).
const InitrdReleaseFile = "/etc/initrd-release"

// RootStorageArgv0 is the argv[0] that makes systemd spare the daemon when
// it kills the initrd's processes at switch_root
// (https://systemd.io/ROOT_STORAGE_DAEMONS/).
const RootStorageArgv0 = "@keyunlock"

// InInitrd reports whether the process runs in an initrd.
func InInitrd() bool {
	_, err := os.Stat(InitrdReleaseFile)
	return err == nil
}

// BecomeRootStorageDaemon re-executes the running binary with argv[0] set to
// RootStorageArgv0, unless argv[0] already starts with '@'. Go cannot change
// argv in place, so this is an exec of /proc/self/exe with the same
// arguments and environment; the process keeps its PID and the descriptors
// that are not close-on-exec (the sockets passed by systemd). It returns
// only on failure, or with nil when argv[0] is already right.
func BecomeRootStorageDaemon() error {
	if strings.HasPrefix(os.Args[0], "@") {
		return nil
	}
	argv := append([]string{RootStorageArgv0}, os.Args[1:]...)
	if err := syscall.Exec("/proc/self/exe", argv, os.Environ()); err != nil {
		return fmt.Errorf("re-executing as %s: %w", RootStorageArgv0, err)
	}
	return nil
}

// NotifyReady tells systemd that the daemon is serving (sd_notify(3)
// READY=1) when it runs under a Type=notify unit. It is a no-op otherwise.
func NotifyReady(status string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	msg := "READY=1\nMAINPID=" + fmt.Sprint(os.Getpid()) + "\n"
	if status != "" {
		msg += "STATUS=" + strings.ReplaceAll(status, "\n", " ") + "\n"
	}
	if err := unixsock.SendDatagram(addr, []byte(msg), 10*time.Second); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
