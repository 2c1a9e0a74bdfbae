package core

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyunlock/keyunlock/internal/unixsock"
)

// DefaultAskPasswordDir is where systemd's password agents look for questions.
const DefaultAskPasswordDir = "/run/systemd/ask-password"

// ErrPromptCanceled is returned when the user or agent cancels a prompt.
var ErrPromptCanceled = errors.New("the password prompt was canceled")

// AgentPrompter asks for passphrases and PINs through systemd's password
// agents (https://systemd.io/PASSWORD_AGENTS/): plymouth, the console agent,
// systemd-tty-ask-password-agent. It is what the daemon uses in the initrd
// and whenever there is no terminal.
//
// Each Ask creates a datagram socket sck.<random> with SO_PASSCRED in Dir,
// publishes the question as ask.<random> (written to a temporary name, then
// renamed), and accepts only answers sent by root (or by the daemon's own
// user) that start with "+" (the secret) or "-" (cancel). Both files are
// removed when the question is answered, canceled or times out.
type AgentPrompter struct {
	// Dir is the ask-password directory (default DefaultAskPasswordDir), as
	// agents see it: the Socket= of each question is in it.
	Dir string
	// FileDir, when set, is where the files are actually created: the same
	// directory reached another way. After switch_root a root storage
	// daemon still has the initrd as its root, where /run is an empty
	// directory; it works from /run as its working directory and sets
	// FileDir to "systemd/ask-password".
	FileDir string
	// Timeout bounds one question (default 90 s); it is also the NotAfter= agents honour.
	Timeout time.Duration
	// Icon is an optional icon name shown by graphical agents.
	Icon string
	// Logger receives Notify messages; nil uses the standard logger.
	Logger *log.Logger
}

var _ Prompter = (*AgentPrompter)(nil)

func (a *AgentPrompter) dir() string {
	if a.Dir != "" {
		return a.Dir
	}
	return DefaultAskPasswordDir
}

func (a *AgentPrompter) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return 90 * time.Second
}

// Notify logs msg; password agents have no channel for plain messages.
func (a *AgentPrompter) Notify(ctx context.Context, msg string) {
	if a.Logger != nil {
		a.Logger.Print("keyunlock: " + msg)
	} else {
		log.Print("keyunlock: " + msg)
	}
}

// monotonicMicros is CLOCK_MONOTONIC in microseconds, the clock of NotAfter=.
func monotonicMicros() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3
}

// oneLine makes s safe as an ini value: no line breaks or control characters.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Ask publishes the question and waits for an agent's answer.
func (a *AgentPrompter) Ask(ctx context.Context, req PromptRequest) ([]byte, error) {
	dir := a.dir()
	fsDir := dir
	if a.FileDir != "" {
		fsDir = a.FileDir
	}
	if err := os.MkdirAll(fsDir, 0o755); err != nil {
		return nil, fmt.Errorf("password agent directory: %w", err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	suffix := hex.EncodeToString(rnd[:])
	sockPath := filepath.Join(fsDir, "sck."+suffix)
	askPath := filepath.Join(fsDir, "ask."+suffix)
	sockName := filepath.Join(dir, "sck."+suffix) // as agents see it

	// SO_PASSCRED: every answer carries its sender's uid.
	conn, err := unixsock.ListenDatagram(sockPath, true)
	if err != nil {
		return nil, fmt.Errorf("password agent socket: %w", err)
	}
	defer conn.Close() // and removes sockPath

	timeout := a.timeout()
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		timeout = time.Until(d)
		deadline = d
	}
	id := req.ID
	if id == "" {
		id = "keyunlock:" + req.Key.Fingerprint
	}
	msg := req.Message
	if msg == "" {
		msg = "Enter the secret for key " + req.Key.Fingerprint
	}
	var ini strings.Builder
	fmt.Fprintf(&ini, "[Ask]\nPID=%d\nSocket=%s\nAcceptCached=0\nEcho=0\nNotAfter=%d\nMessage=%s\nId=%s\n",
		os.Getpid(), sockName, monotonicMicros()+uint64(timeout/time.Microsecond), oneLine(msg), oneLine(id))
	if a.Icon != "" {
		fmt.Fprintf(&ini, "Icon=%s\n", oneLine(a.Icon))
	}
	tmp := filepath.Join(fsDir, ".#ask."+suffix)
	if err := os.WriteFile(tmp, []byte(ini.String()), 0o644); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("writing the password question: %w", err)
	}
	if err := os.Rename(tmp, askPath); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("publishing the password question: %w", err)
	}
	defer os.Remove(askPath) // removed first: agents hide the prompt

	conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 64<<10)
	defer Wipe(buf)
	oob := make([]byte, unixsock.CredSpace)
	for {
		n, oobn, err := conn.ReadMsg(buf, oob)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("no password agent answered within %v for key %s (is plymouth or a console agent running?)",
					timeout.Round(time.Second), req.Key.Fingerprint)
			}
			return nil, fmt.Errorf("password agent socket: %w", err)
		}
		cred, ok := unixsock.SenderCred(oob[:oobn])
		uid := cred.UID
		if !ok {
			uid = -1
		}
		if !ok || (uid != 0 && uid != os.Geteuid()) {
			a.Notify(ctx, fmt.Sprintf("ignoring a password answer from uid %d (only root may answer)", uid))
			continue
		}
		data := buf[:n]
		if n == 0 {
			continue
		}
		switch data[0] {
		case '+':
			secret := data[1:]
			if i := bytes.IndexByte(secret, 0); i >= 0 {
				secret = secret[:i]
			}
			return bytes.Clone(secret), nil
		case '-':
			return nil, fmt.Errorf("%w for key %s", ErrPromptCanceled, req.Key.Fingerprint)
		}
	}
}
