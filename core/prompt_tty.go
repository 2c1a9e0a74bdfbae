package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// TerminalPrompter asks on the controlling terminal with echo turned off.
// It opens /dev/tty, so it works when stdin carries the message; without a
// controlling terminal it falls back to stdin if stdin is a terminal.
//
// Other prompters (the systemd password agent, plymouth) implement the same
// Prompter interface; the CLI picks one.
type TerminalPrompter struct {
	mu sync.Mutex // one question at a time
}

// NewTerminalPrompter returns a prompter on the controlling terminal, or an
// error when there is no terminal to ask on.
func NewTerminalPrompter() (*TerminalPrompter, error) {
	f, err := openTerminal()
	if err != nil {
		return nil, err
	}
	f.Close()
	return &TerminalPrompter{}, nil
}

// openTerminal opens /dev/tty, or stdin's terminal (read-write) when stdin is one.
func openTerminal() (*os.File, error) {
	if f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		return f, nil
	}
	if isTerminal(int(os.Stdin.Fd())) {
		// No controlling terminal (an initrd hook run with < /dev/console):
		// reopen stdin's terminal read-write, since stdin itself may be
		// read-only and the prompt would then be lost.
		if f, err := os.OpenFile("/proc/self/fd/0", os.O_RDWR, 0); err == nil {
			return f, nil
		}
		fd, err := unix.Dup(int(os.Stdin.Fd()))
		if err != nil {
			return nil, fmt.Errorf("terminal: %w", err)
		}
		return os.NewFile(uintptr(fd), "/dev/stdin"), nil
	}
	return nil, errors.New("no terminal to ask for the secret on")
}

// termios runs fn on the terminal's descriptor without changing its
// blocking mode.
func termios(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// Ask shows req.Message on the terminal and reads one line without echo.
func (p *TerminalPrompter) Ask(ctx context.Context, req PromptRequest) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Done is taken before echo is turned off: a context that installs its
	// signal handlers on first use (cmd/keyunlock's) then catches Ctrl-C in
	// time to restore the terminal.
	cancelled := ctx.Done()
	tty, err := openTerminal()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	// Not tty.Fd(): it would put the file in blocking mode, and the read
	// below could then not be interrupted when ctx is cancelled (Ctrl-C).
	var old *unix.Termios
	if err := termios(tty, func(fd int) (err error) {
		old, err = unix.IoctlGetTermios(fd, unix.TCGETS)
		return err
	}); err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := termios(tty, func(fd int) error { return unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho) }); err != nil {
		return nil, fmt.Errorf("terminal: cannot turn echo off: %w", err)
	}
	defer termios(tty, func(fd int) error { return unix.IoctlSetTermios(fd, unix.TCSETS, old) })

	fmt.Fprintf(tty, "%s ", req.Message)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-cancelled:
			// Unblock the read; the deferred restore still runs.
			tty.SetReadDeadline(aLongTimeAgo)
		case <-done:
		}
	}()
	secret, err := readLine(tty, maxSecret)
	fmt.Fprintln(tty)
	if ctx.Err() != nil {
		Wipe(secret)
		return nil, ctx.Err()
	}
	if err != nil && !(errors.Is(err, io.EOF) && len(secret) > 0) {
		Wipe(secret)
		if errors.Is(err, io.EOF) {
			return nil, errors.New("terminal closed before a secret was typed")
		}
		return nil, fmt.Errorf("terminal: %w", err)
	}
	return secret, nil
}

// Notify prints msg on the terminal, or on stderr when there is none.
func (p *TerminalPrompter) Notify(ctx context.Context, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tty, err := openTerminal(); err == nil {
		fmt.Fprintln(tty, msg)
		tty.Close()
		return
	}
	fmt.Fprintln(os.Stderr, msg)
}
