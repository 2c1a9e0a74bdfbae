package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sample is one run of one tool: wall time, CPU time (the process and any
// detached helper it left behind) and peak RSS (process + helper).
type sample struct {
	wall, cpu time.Duration
	rssKiB    int64
}

// becomeSubreaper makes this process adopt orphaned descendants, so that a
// daemon a tool starts (gpg-agent) is reaped here with its rusage.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// reapOrphans waits for every remaining child (adopted daemons) and returns
// their summed CPU time and largest peak RSS. It must only be called when
// no exec.Cmd of this process is running.
func reapOrphans(timeout time.Duration) (cpu time.Duration, rss int64) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		var ru unix.Rusage
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, &ru)
		if err == unix.ECHILD {
			return
		}
		if err == nil && pid > 0 {
			cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			if ru.Maxrss > rss {
				rss = ru.Maxrss
			}
			continue
		}
		time.Sleep(2 * time.Millisecond)
	}
	return
}

// runTimed runs cmd to completion and returns its sample and stdout. A
// non-zero exit is an error carrying stderr.
func runTimed(cmd *exec.Cmd) (sample, []byte, error) {
	var out, errb bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &errb
	}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, nil, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, errb.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return sample{
		wall:   wall,
		cpu:    cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		rssKiB: ru.Maxrss,
	}, out.Bytes(), nil
}

// openPTY opens a pseudo-terminal pair: the master side, and the slave
// side to give a child as its controlling terminal.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// runOnPTY runs cmd with a new session whose controlling terminal is a
// fresh pty; when the terminal shows a prompt containing "assword", it
// types password and Enter. stdout stays a pipe, for the plaintext.
func runOnPTY(cmd *exec.Cmd, password string) (sample, []byte, error) {
	m, s, err := openPTY()
	if err != nil {
		return sample{}, nil, err
	}
	defer m.Close()
	cmd.Stdin, cmd.Stderr = s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	var out bytes.Buffer
	cmd.Stdout = &out
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		typed := password == ""
		for {
			n, err := m.Read(buf)
			screen.Write(buf[:n])
			if !typed && bytes.Contains(bytes.ToLower(screen.Bytes()), []byte("assword")) && bytes.HasSuffix(bytes.TrimRight(screen.Bytes(), " "), []byte(":")) {
				m.Write([]byte(password + "\r"))
				typed = true
			}
			if err != nil {
				return
			}
		}
	}()
	start := time.Now()
	err = cmd.Start()
	s.Close()
	if err != nil {
		return sample{}, nil, err
	}
	err = cmd.Wait()
	wall := time.Since(start)
	m.Close()
	<-done
	if err != nil {
		return sample{}, nil, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, screen.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return sample{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rssKiB: ru.Maxrss}, out.Bytes(), nil
}
