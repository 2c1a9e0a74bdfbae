// Package replay loads recorded APDU transcripts (the go-iso7816 "mockfile"
// format of ../shared/vectors) and replays them as an iso7816.Transport, so
// that the APDU, TLV and OpenPGP layers can be checked against a real card's
// answers. It is for tests only.
package replay

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyunlock/keyunlock/card/iso7816"
)

// Exchange is one recorded Transmit.
type Exchange struct {
	Cmd, Resp []byte
}

// Transcript is one recorded test run.
type Transcript struct {
	Path      string
	Meta      map[string]string
	Exchanges []Exchange
}

// Load parses a transcript file (both the v3 format with times and the
// older one without).
func Load(path string) (*Transcript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &Transcript{Path: path, Meta: map[string]string{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "meta":
			if len(fields) >= 3 {
				t.Meta[fields[1]] = strings.Join(fields[2:], " ")
			}
		case "on":
			i := 1
			for i < len(fields) && fields[i] != "Transmit" {
				i++
			}
			if i >= len(fields) {
				continue // BeginTransaction, EndTransaction
			}
			if i+2 >= len(fields) {
				return nil, fmt.Errorf("%s: Transmit without a response: %q", path, sc.Text())
			}
			cmd, err1 := hex.DecodeString(fields[i+1])
			resp, err2 := hex.DecodeString(fields[i+2])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s: bad hex in %q", path, sc.Text())
			}
			t.Exchanges = append(t.Exchanges, Exchange{cmd, resp})
		}
	}
	return t, sc.Err()
}

// Dir finds the shared transcript directory: $REPO/../shared (REPO found
// by walking up to go.mod), then /work/shared.
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	const rel = "vectors/yubikey-5.4.3/mockdata"
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, "..", "shared", rel)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	p := filepath.Join("/work/shared", rel)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("YubiKey transcripts not found beside the repository or in /work/shared")
	}
	return p, nil
}

// All loads every transcript under dir.
func All(dir string) ([]*Transcript, error) {
	var out []*Transcript
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Name() != "yk-5.4.3" {
			return err
		}
		t, err := Load(p)
		if err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// Transport replays a transcript. A command is answered with the response
// of the next recorded command that is equivalent to it (same header and
// data; Le may differ, since a client may ask for an extended Le where the
// recording used a short one). Commands the client does not send are
// skipped. A SELECT may match any recorded SELECT of the same AID.
type Transport struct {
	ex  []Exchange
	pos int
	// Sent counts the APDUs transmitted.
	Sent int
	// Log records every command sent.
	Log [][]byte
}

// NewTransport replays t from its first exchange.
func NewTransport(t *Transcript) *Transport {
	return &Transport{ex: t.Exchanges}
}

// SeekLast moves the replay position to the last recorded command for
// which match is true, so that a client starts in the card's final state.
func (r *Transport) SeekLast(match func(cmd []byte) bool) bool {
	for i := len(r.ex) - 1; i >= 0; i-- {
		if match(r.ex[i].Cmd) {
			r.pos = i
			return true
		}
	}
	return false
}

func equivalent(a, b []byte) bool {
	ca, _, err1 := iso7816.ParseCommand(a)
	cb, _, err2 := iso7816.ParseCommand(b)
	if err1 != nil || err2 != nil {
		return bytes.Equal(a, b)
	}
	return ca.CLA == cb.CLA && ca.INS == cb.INS && ca.P1 == cb.P1 && ca.P2 == cb.P2 && bytes.Equal(ca.Data, cb.Data)
}

// Transmit implements iso7816.Transport.
func (r *Transport) Transmit(cmd []byte) ([]byte, error) {
	r.Sent++
	r.Log = append(r.Log, bytes.Clone(cmd))
	for i := r.pos; i < len(r.ex); i++ {
		if equivalent(cmd, r.ex[i].Cmd) {
			r.pos = i + 1
			return bytes.Clone(r.ex[i].Resp), nil
		}
	}
	if len(cmd) > 1 && cmd[1] == 0xA4 {
		for i := 0; i < r.pos; i++ {
			if equivalent(cmd, r.ex[i].Cmd) {
				return bytes.Clone(r.ex[i].Resp), nil
			}
		}
	}
	return nil, fmt.Errorf("replay: command %X not in the transcript after exchange %d", cmd, r.pos)
}
