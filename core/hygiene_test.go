package core

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/ProtonMail/go-crypto/openpgp/s2k"
	"golang.org/x/sys/unix"

	"github.com/keyunlock/keyunlock/internal/testenv"
)

// hardenReport is what the re-executed test binary reports about itself
// after hardening.
type hardenReport struct {
	Warnings []string
	Again    []string // warnings of the public, once-only HardenProcess
	Dumpable int
	CoreCur  uint64
	CoreMax  uint64
	VmLckKiB int
	// LockedBefore and LockedAfter are the resident locked kB of
	// /proc/self/smaps_rollup before and after the Argon2 run.
	LockedBefore, LockedAfter int
	Argon2Len                 int
	// HeapLocked and DataLocked say whether the mappings holding a heap
	// buffer and a package variable written before hardening are locked
	// (VmFlags "lo" in /proc/self/smaps); TextLocked the one holding code.
	HeapLocked, DataLocked, TextLocked bool
	Error                              string
}

// hardenData is a package variable written before hardening: it lives in
// the binary's data or bss mapping.
var hardenData [64]byte

const hardenChildEnv = "KEYUNLOCK_TEST_HARDEN_CHILD"

// TestHardenChild is not a test: it is the body of the child process that
// the tests below start, so that mlockall and prctl never touch the test
// process itself.
func TestHardenChild(t *testing.T) {
	if os.Getenv(hardenChildEnv) != "1" {
		t.Skip("helper process for the HardenProcess tests")
	}
	var r hardenReport
	defer func() {
		json.NewEncoder(os.Stdout).Encode(&r)
		os.Exit(0)
	}()
	if s := os.Getenv("KEYUNLOCK_TEST_MEMLOCK"); s != "" {
		n, _ := strconv.ParseUint(s, 10, 64)
		if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			r.Error = "setrlimit: " + err.Error()
			return
		}
	}
	early := make([]byte, 256<<10)
	for i := range early {
		early[i] = byte(i)
	}
	hardenData[0] = 1
	// Report every failure so that the parent can check the wording.
	r.Warnings = hardenProcess(hardenConfig{noMlock: os.Getenv(NoMlockEnv) == "1", alwaysWarn: true})
	r.Again = HardenProcess()
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		r.Error = "prctl: " + err.Error()
		return
	}
	r.Dumpable = d
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_CORE, &lim)
	r.CoreCur, r.CoreMax = lim.Cur, lim.Max
	// An Argon2 derivation with 64 MiB of memory, as a soft key may demand:
	// it must still work with memory locked, and its pages count as locked.
	r.LockedBefore = procField(t, "/proc/self/smaps_rollup", "Locked:")
	key := make([]byte, 32)
	s2k.Argon2(key, []byte("passphrase"), []byte("saltsaltsaltsalt"), 1, 2, 16) // 2^16 KiB
	r.Argon2Len = len(key)
	r.LockedAfter = procField(t, "/proc/self/smaps_rollup", "Locked:")
	r.VmLckKiB = procField(t, "/proc/self/status", "VmLck:")
	r.HeapLocked = mappingLocked(t, uintptr(unsafe.Pointer(&early[0])))
	r.DataLocked = mappingLocked(t, uintptr(unsafe.Pointer(&hardenData[0])))
	r.TextLocked = mappingLocked(t, reflect.ValueOf(TestHardenChild).Pointer())
	runtime.KeepAlive(key)
	runtime.KeepAlive(early)
}

// mappingLocked reports whether the mapping holding addr is locked, per
// the VmFlags of /proc/self/smaps ("lo": VM_LOCKED).
func mappingLocked(t *testing.T, addr uintptr) bool {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			lo, hi, _ := strings.Cut(f[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= start && uint64(addr) < end
			continue
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return slices.Contains(strings.Fields(flags), "lo")
		}
	}
	t.Fatalf("no mapping holds %#x in /proc/self/smaps", addr)
	return false
}

// procField returns the kB value of the line starting with field in a
// /proc file.
func procField(t *testing.T, path, field string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("VmLck line %q: %v", sc.Text(), err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %s", field, path)
	return 0
}

// runHardenChild runs TestHardenChild in a new process, prefixed by wrapper
// (a command such as setpriv) when given, and decodes its report.
func runHardenChild(t *testing.T, env []string, wrapper ...string) hardenReport {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append(wrapper, exe, "-test.run=^TestHardenChild$", "-test.count=1")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), hardenChildEnv+"=1"), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %v: %v\n%s", args, err, out)
	}
	var r hardenReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	if r.Error != "" {
		t.Fatalf("child: %s", r.Error)
	}
	return r
}

func checkNoDumps(t *testing.T, r hardenReport) {
	t.Helper()
	if r.Dumpable != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d after HardenProcess, want 0", r.Dumpable)
	}
	if r.CoreCur != 0 || r.CoreMax != 0 {
		t.Errorf("RLIMIT_CORE = %d/%d after HardenProcess, want 0/0", r.CoreCur, r.CoreMax)
	}
	if r.Argon2Len != 32 {
		t.Errorf("Argon2 derivation after HardenProcess returned %d bytes", r.Argon2Len)
	}
}

func TestHardenProcessLocksMemory(t *testing.T) {
	testenv.RequireRoot(t)
	r := runHardenChild(t, nil)
	checkNoDumps(t, r)
	if len(r.Warnings) != 0 {
		t.Errorf("warnings as root: %q", r.Warnings)
	}
	// The 64 MiB Argon2 block was touched after mlockall(MCL_FUTURE), so
	// all of it must be locked.
	t.Logf("VmLck = %d kB; locked resident memory %d kB before Argon2, %d kB after", r.VmLckKiB, r.LockedBefore, r.LockedAfter)
	if r.VmLckKiB <= 0 {
		t.Errorf("VmLck = %d kB after HardenProcess, want > 0", r.VmLckKiB)
	}
	if !r.HeapLocked || !r.DataLocked {
		t.Errorf("memory written before HardenProcess is not locked: heap %v, data %v", r.HeapLocked, r.DataLocked)
	}
	if r.TextLocked {
		t.Errorf("the code mapping is locked: only writable memory needs to be (and locking the rest is slow)")
	}
	if r.LockedAfter-r.LockedBefore < 60*1024 {
		t.Errorf("locked resident memory grew by %d kB over an Argon2 run with 64 MiB, want >= 61440 kB", r.LockedAfter-r.LockedBefore)
	}
}

func TestHardenProcessLowMemlockLimit(t *testing.T) {
	testenv.RequireRoot(t)
	tools := testenv.RequireTool(t, "setpriv")
	// Without CAP_IPC_LOCK and with a 64 KiB limit, locking all future memory
	// would make the Go heap fail to grow: HardenProcess must refuse to lock,
	// say why, and leave the process fully working.
	r := runHardenChild(t, []string{"KEYUNLOCK_TEST_MEMLOCK=65536"},
		tools["setpriv"], "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock")
	checkNoDumps(t, r)
	if r.VmLckKiB != 0 || r.LockedAfter != 0 {
		t.Errorf("VmLck = %d kB, locked resident %d kB, want 0 (memory must stay unlocked)", r.VmLckKiB, r.LockedAfter)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "RLIMIT_MEMLOCK is 64 KiB") ||
		!strings.Contains(r.Warnings[0], "CAP_IPC_LOCK") || !strings.Contains(r.Warnings[0], NoMlockEnv) {
		t.Errorf("warnings = %q, want one naming RLIMIT_MEMLOCK, CAP_IPC_LOCK and %s", r.Warnings, NoMlockEnv)
	}
}

func TestHardenProcessNoMlockEnv(t *testing.T) {
	r := runHardenChild(t, []string{NoMlockEnv + "=1"})
	checkNoDumps(t, r)
	if r.VmLckKiB != 0 || r.LockedAfter != 0 {
		t.Errorf("VmLck = %d kB, locked resident %d kB with %s=1, want 0", r.VmLckKiB, r.LockedAfter, NoMlockEnv)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings with %s=1: %q", NoMlockEnv, r.Warnings)
	}
}
