package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keyunlock/keyunlock/internal/fixtures"
)

// softCase is one key of the soft-key comparison.
type softCase struct {
	label string // shown in the report
	key   string // fixture key name
	tools []string
}

// The tools of the soft-key comparison.
const (
	toolKeyunlock = "keyunlock"
	toolGPG       = "gpg" // gpg-agent's protection count pinned to the file's
	toolGPGUser   = "gpg (as installed)"
	toolSq        = "sq"
)

var softCases = []softCase{
	{"cv25519, S2K 65011712", "gpg-cv25519", []string{toolKeyunlock, toolGPG, toolSq, toolGPGUser}},
	{"rsa3072, S2K 65011712", "gpg-rsa3072", []string{toolKeyunlock, toolGPG, toolSq, toolGPGUser}},
	{"cv25519, no passphrase", "gpg-cv25519-clear", []string{toolKeyunlock, toolGPG, toolSq}},
	{"x25519 v6, Argon2", "gocrypto-v6-x25519", []string{toolKeyunlock}},
}

// series is every sample of one tool on one case.
type series struct {
	tool    string
	samples []sample
	rssKiB  []int64 // peak RSS in KiB, measured under GNU time
}

// softResult is the outcome of one case.
type softResult struct {
	c      softCase
	series []*series
}

// softRunner runs one tool on one key, cold.
type softRunner struct {
	bin   string
	fk    *fixtures.Key
	msg   string
	plain []byte
	homes map[string]string // tool -> GNUPGHOME or HOME
	// rssFile, when set, runs each tool under GNU time writing its peak
	// RSS there (see measureRSS).
	rssFile string
}

// wrap runs cmd under /usr/bin/time when measuring memory: a child that Go
// starts (vfork, CLONE_VM) carries the bench process's own peak RSS into
// its ru_maxrss at exec, while time's children are forked from a small C
// process and report their own peak.
func (r *softRunner) wrap(cmd *exec.Cmd) *exec.Cmd {
	if r.rssFile == "" {
		return cmd
	}
	w := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", r.rssFile, cmd.Path}, cmd.Args[1:]...)...)
	w.Env = cmd.Env
	return w
}

// wrappedRSS returns the peak RSS in KiB that time wrote.
func (r *softRunner) wrappedRSS() (int64, error) {
	b, err := os.ReadFile(r.rssFile)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s: empty", r.rssFile)
	}
	return strconv.ParseInt(f[len(f)-1], 10, 64)
}

func (r *softRunner) setup(tool string) error {
	if tool == toolKeyunlock {
		return nil
	}
	home, err := os.MkdirTemp("", "keyunlock-bench-home-")
	if err != nil {
		return err
	}
	if err := os.Chmod(home, 0o700); err != nil {
		return err
	}
	r.homes[tool] = home
	if tool == toolSq {
		return nil
	}
	conf := "allow-loopback-pinentry\n"
	if tool == toolGPG {
		conf += "s2k-count 65011712\n"
	}
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte(conf), 0o600); err != nil {
		return err
	}
	args := []string{"--homedir", home, "--batch", "--pinentry-mode", "loopback"}
	if r.fk.PassFile != "" {
		args = append(args, "--passphrase-file", r.fk.PassFile)
	}
	if _, _, err := runTimed(exec.Command("gpg", append(args, "--import", r.fk.KeyFile)...)); err != nil {
		return err
	}
	r.killAgent(home)
	return nil
}

func (r *softRunner) killAgent(home string) (time.Duration, int64) {
	runTimed(exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent"))
	return reapOrphans(10 * time.Second)
}

func (r *softRunner) cleanup() {
	for _, h := range r.homes {
		os.RemoveAll(h)
	}
}

// run makes one cold unlock with the tool and checks the plaintext.
func (r *softRunner) run(tool string) (sample, error) {
	var s sample
	var out []byte
	var err error
	switch tool {
	case toolKeyunlock:
		args := []string{"decrypt", "-q", "--key", r.fk.KeyFile}
		if r.fk.PassFile != "" {
			args = append(args, "--passphrase-file", r.fk.PassFile)
		}
		s, out, err = runTimed(r.wrap(exec.Command(r.bin, append(args, r.msg)...)))
	case toolGPG, toolGPGUser:
		home := r.homes[tool]
		args := []string{"--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback"}
		if r.fk.PassFile != "" {
			args = append(args, "--passphrase-file", r.fk.PassFile)
		}
		s, out, err = runTimed(r.wrap(exec.Command("gpg", append(args, "--decrypt", r.msg)...)))
		cpu, rss := r.killAgent(home)
		s.cpu += cpu
		if r.rssFile != "" && err == nil {
			var own int64
			if own, err = r.wrappedRSS(); err != nil {
				return s, err
			}
			s.rssKiB = own
		}
		s.rssKiB += rss
	case toolSq:
		cmd := exec.Command("sq", "decrypt", "--recipient-key", r.fk.KeyFile, r.msg)
		cmd.Env = append(os.Environ(), "HOME="+r.homes[tool])
		s, out, err = runOnPTY(r.wrap(cmd), r.fk.Passphrase)
	}
	if err != nil {
		return s, err
	}
	if r.rssFile != "" && tool != toolGPG && tool != toolGPGUser {
		if s.rssKiB, err = r.wrappedRSS(); err != nil {
			return s, err
		}
	}
	if !bytes.Equal(out, r.plain) {
		return s, fmt.Errorf("%s on %s: wrong plaintext (%d bytes)", tool, r.fk.Name, len(out))
	}
	return s, nil
}

// benchSoft runs every case, the tools interleaved run by run, after one
// untimed warm-up run each.
func benchSoft(set *fixtures.Set, bin string, runs int, smoke bool) ([]*softResult, error) {
	var results []*softResult
	var runners []*softRunner
	defer func() {
		for _, r := range runners {
			r.cleanup()
		}
	}()
	for _, c := range softCases {
		fk := set.Key(&tb{}, c.key)
		plain, err := os.ReadFile(fk.Plaintext)
		if err != nil {
			return nil, err
		}
		msg := fk.Messages[0].File
		r := &softRunner{bin: bin, fk: fk, msg: msg, plain: plain, homes: map[string]string{}}
		runners = append(runners, r)
		res := &softResult{c: c}
		for _, tool := range c.tools {
			if smoke && tool == toolGPGUser {
				continue // its import alone takes seconds
			}
			t0 := time.Now()
			if err := r.setup(tool); err != nil {
				return nil, fmt.Errorf("%s setup for %s: %v", tool, c.key, err)
			}
			if !smoke { // warm-up run, untimed
				if _, err := r.run(tool); err != nil {
					return nil, err
				}
			}
			fmt.Fprintf(os.Stderr, "soft keys: %s on %s ready in %s\n", tool, c.key, time.Since(t0).Round(time.Millisecond))
			res.series = append(res.series, &series{tool: tool})
		}
		results = append(results, res)
	}
	for i := 0; i < runs; i++ {
		for ci, res := range results {
			for _, ser := range res.series {
				s, err := runners[ci].run(ser.tool)
				if err != nil {
					return nil, err
				}
				ser.samples = append(ser.samples, s)
			}
		}
		fmt.Fprintf(os.Stderr, "soft keys: run %d/%d\n", i+1, runs)
	}
	// Memory: 3 more runs each under GNU time (see wrap).
	rssRuns := 3
	if smoke {
		rssRuns = 1
	}
	for ci, res := range results {
		r := runners[ci]
		f, err := os.CreateTemp("", "keyunlock-bench-rss-")
		if err != nil {
			return nil, err
		}
		f.Close()
		r.rssFile = f.Name()
		for _, ser := range res.series {
			for i := 0; i < rssRuns; i++ {
				s, err := r.run(ser.tool)
				if err != nil {
					return nil, err
				}
				ser.rssKiB = append(ser.rssKiB, s.rssKiB)
			}
		}
		os.Remove(f.Name())
		r.rssFile = ""
	}
	return results, nil
}
