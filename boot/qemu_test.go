package boot

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// vm is one QEMU guest whose serial console is the process's stdin/stdout.
type vm struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	more  chan struct{} // signalled on new output
	done  chan struct{}
	err   error
	start time.Time
	log   string
	pos   int // search position: waitFor looks at output after it
}

// bootVM starts QEMU (TCG) with the kernel, initrd and disks (opened as
// snapshots, so the cached images stay pristine).
func bootVM(t testing.TB, name string, tc *toolchain, initrd, cmdline string, disks ...string) *vm {
	t.Helper()
	return bootVMWith(t, name, tc, initrd, cmdline, nil, disks...)
}

// bootVMWith is bootVM with extra QEMU arguments (devices).
func bootVMWith(t testing.TB, name string, tc *toolchain, initrd, cmdline string, extra []string, disks ...string) *vm {
	t.Helper()
	args := []string{"-accel", "tcg", "-machine", "q35", "-cpu", "max", "-smp", "2", "-m", "1024",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-nic", "none", "-no-reboot",
		"-kernel", tc.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 rd.shell=0 rd.emergency=poweroff " + cmdline}
	for _, d := range disks {
		args = append(args, "-drive", "file="+d+",if=virtio,format=raw,snapshot=on")
	}
	args = append(args, extra...)
	v := &vm{t: t, name: name, more: make(chan struct{}, 1), done: make(chan struct{}), start: time.Now()}
	v.cmd = exec.Command("qemu-system-x86_64", args...)
	var err error
	if v.in, err = v.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	v.cmd.Stdout = pw
	v.cmd.Stderr = pw
	logDir := filepath.Join(cacheDir(t), "logs")
	os.MkdirAll(logDir, 0o755)
	v.log = filepath.Join(logDir, name+".log")
	logf, err := os.Create(v.log)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				v.mu.Lock()
				v.out.Write(buf[:n])
				v.mu.Unlock()
				logf.Write(buf[:n])
				select {
				case v.more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				logf.Close()
				return
			}
		}
	}()
	go func() {
		v.err = v.cmd.Wait()
		pw.Close()
		close(v.done)
	}()
	t.Cleanup(func() {
		select {
		case <-v.done:
		default:
			v.cmd.Process.Kill()
			<-v.done
		}
	})
	t.Logf("%s: booting (serial log %s)", name, v.log)
	return v
}

// output returns the serial output so far.
func (v *vm) output() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.out.String()
}

// waitFor waits until re matches the output after the last match (or the
// start), fails the test with the log tail if it does not within timeout or
// if bad matches first, and returns the match.
func (v *vm) waitFor(what string, re *regexp.Regexp, timeout time.Duration, bad ...*regexp.Regexp) string {
	v.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		out := v.output()
		rest := out[v.pos:]
		if loc := re.FindStringIndex(rest); loc != nil {
			for _, b := range bad {
				if bl := b.FindStringIndex(rest[:loc[0]]); bl != nil {
					v.fail("before %s, unexpected %q", what, rest[bl[0]:bl[1]])
				}
			}
			v.pos += loc[1]
			v.t.Logf("%s: %s after %s", v.name, what, since(v.start))
			return rest[loc[0]:loc[1]]
		}
		for _, b := range bad {
			if bl := b.FindStringIndex(rest); bl != nil {
				v.fail("waiting for %s, unexpected %q", what, rest[bl[0]:bl[1]])
			}
		}
		select {
		case <-v.more:
		case <-v.done:
			// Drain what the reader still has.
			time.Sleep(200 * time.Millisecond)
			if re.MatchString(v.output()[v.pos:]) {
				continue
			}
			v.fail("QEMU exited (%v) before %s", v.err, what)
		case <-deadline.C:
			v.fail("no %s within %s", what, timeout)
		}
	}
}

// typeLine types s and Enter on the serial console.
func (v *vm) typeLine(s string) {
	v.t.Helper()
	time.Sleep(time.Second) // let the prompt switch the terminal mode
	if _, err := io.WriteString(v.in, s+"\r"); err != nil {
		v.fail("typing on the serial console: %v", err)
	}
}

// waitExit waits for the guest to power off.
func (v *vm) waitExit(timeout time.Duration) {
	v.t.Helper()
	select {
	case <-v.done:
		v.t.Logf("%s: powered off after %s", v.name, since(v.start))
	case <-time.After(timeout):
		v.fail("guest did not power off within %s", timeout)
	}
}

// fail stops the test with the tail of the serial log.
func (v *vm) fail(format string, args ...any) {
	v.t.Helper()
	v.t.Fatalf("%s: %s (after %s)\n--- serial log tail (%s) ---\n%s", v.name, fmt.Sprintf(format, args...),
		since(v.start), v.log, tail(v.output(), 50))
}
