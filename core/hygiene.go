package core

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// NoMlockEnv names the environment variable that, set to "1", stops
// HardenProcess from locking memory (core dumps stay disabled).
const NoMlockEnv = "KEYUNLOCK_NO_MLOCK"

var (
	hardenOnce     sync.Once
	hardenWarnings []string
)

// HardenProcess keeps secrets out of core dumps, debuggers and swap. It
// marks the process non-dumpable (prctl PR_SET_DUMPABLE 0, which also stops
// other processes of the same user from ptracing it or reading its memory),
// sets RLIMIT_CORE to 0, and locks current and future memory: the future
// with mlockall(MCL_FUTURE|MCL_ONFAULT), the current writable mappings with
// mlock2(MLOCK_ONFAULT) (see lockWritable), or, should that fail, all of it
// with mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT).
//
// Memory is locked only when that cannot make later allocations fail: with
// CAP_IPC_LOCK, or when RLIMIT_MEMLOCK is (or can be raised to) unlimited.
// Under a finite limit, MCL_FUTURE makes every new mapping count against the
// limit, and the Go runtime aborts when its heap cannot grow, so memory is
// left unlocked and a warning says so. MCL_ONFAULT locks pages only as they
// are touched, so Go's address-space reservations cost nothing; the memory an
// Argon2 key derivation touches is locked in full and must fit in RAM.
//
// Setting KEYUNLOCK_NO_MLOCK=1 skips the locking. HardenProcess runs once per
// process; later calls return the first call's warnings. The warnings are
// the steps that failed, worded for users; a warning about unlocked memory is
// only returned when swap is active, since without swap nothing is paged out.
func HardenProcess() []string {
	hardenOnce.Do(func() {
		hardenWarnings = hardenProcess(hardenConfig{
			noMlock:    os.Getenv(NoMlockEnv) == "1",
			swapActive: swapActive,
		})
	})
	return hardenWarnings
}

// HardenProcessNoLock is HardenProcess for commands that never read a
// secret (version, help): the process is made non-dumpable and core dumps
// are disabled, but memory is not locked, which costs a short run like
// "keyunlock version" about 0.3 ms. It returns the warnings of the steps
// that failed.
func HardenProcessNoLock() []string {
	return hardenProcess(hardenConfig{noMlock: true})
}

type hardenConfig struct {
	noMlock    bool
	swapActive func() bool
	// alwaysWarn reports a memory-locking failure even without swap (tests).
	alwaysWarn bool
}

func hardenProcess(cfg hardenConfig) []string {
	var warns []string
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		warns = append(warns, fmt.Sprintf("cannot mark the process non-dumpable (prctl PR_SET_DUMPABLE): %v; secrets could appear in a core dump", err))
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		warns = append(warns, fmt.Sprintf("cannot disable core dumps (setrlimit RLIMIT_CORE): %v", err))
	}
	if cfg.noMlock {
		return warns
	}
	if err := lockMemory(); err != nil {
		if cfg.alwaysWarn || (cfg.swapActive != nil && cfg.swapActive()) {
			warns = append(warns, fmt.Sprintf("memory is not locked, so passphrases, PINs and keys may be written to swap: %v (set %s=1 to silence this)", err, NoMlockEnv))
		}
	}
	return warns
}

// errMemlockLimit is wrapped when locking was skipped because of RLIMIT_MEMLOCK.
var errMemlockLimit = errors.New("memory lock limit too small")

func lockMemory() error {
	if !hasCapability(unix.CAP_IPC_LOCK) {
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
			return fmt.Errorf("getrlimit RLIMIT_MEMLOCK: %w", err)
		}
		if lim.Cur != lim.Max {
			raised := unix.Rlimit{Cur: lim.Max, Max: lim.Max}
			if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &raised) == nil {
				lim = raised
			}
		}
		if lim.Cur != unix.RLIM_INFINITY {
			return fmt.Errorf("%w: RLIMIT_MEMLOCK is %d KiB and the process lacks CAP_IPC_LOCK; run keyunlock as root or raise the limit (ulimit -l unlimited, LimitMEMLOCK=infinity)", errMemlockLimit, lim.Cur/1024)
		}
	}
	// Future mappings first, so that none made while the current ones are
	// listed escapes; then the current writable ones.
	err := unix.Mlockall(unix.MCL_FUTURE | unix.MCL_ONFAULT)
	if err == nil && lockWritable() == nil {
		return nil
	}
	err = unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 4.4 lack MCL_ONFAULT.
		err = unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE)
	}
	if err != nil {
		return fmt.Errorf("mlockall: %w", err)
	}
	return nil
}

// lockWritable locks (on fault) every writable mapping of the process, as
// listed in /proc/self/maps: the Go heap and stacks, the runtime's own
// memory, the binary's data and bss. Secrets only ever live in writable
// memory; the read-only mappings (the binary's code and constants) are left
// out because locking them is what made mlockall(MCL_CURRENT) cost a short
// run like an unlock without passphrase about a tenth of its time: it marks
// every page of the binary the kernel has mapped, and the kernel maps up to
// 16 pages around each page fault. Go never makes a read-only mapping
// writable: it maps new memory over its reservations, and those new
// mappings are locked by MCL_FUTURE. Any failure makes the caller lock
// everything instead.
func lockWritable() error {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(maps)) {
		// start-end perms offset dev inode [path]
		rng, rest, ok := strings.Cut(line, " ")
		if !ok || len(rest) < 4 {
			return fmt.Errorf("/proc/self/maps: bad line %q", line)
		}
		if rest[1] != 'w' {
			continue
		}
		lo, hi, ok := strings.Cut(rng, "-")
		if !ok {
			return fmt.Errorf("/proc/self/maps: bad range %q", rng)
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return fmt.Errorf("/proc/self/maps: bad range %q", rng)
		}
		if _, _, errno := unix.Syscall(unix.SYS_MLOCK2, uintptr(start), uintptr(end-start), unix.MLOCK_ONFAULT); errno != 0 {
			return fmt.Errorf("mlock2 %s: %w", rng, errno)
		}
	}
	return nil
}

// hasCapability reports whether the calling thread has capability c in its
// effective set. Go applies credential changes to all threads, so the answer
// holds for the process.
func hasCapability(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}

// swapActive reports whether any swap area is in use, per /proc/swaps.
func swapActive() bool {
	f, err := os.Open("/proc/swaps")
	if err != nil {
		return true // unknown: assume the worst
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	return n > 1 // the first line is the header
}
