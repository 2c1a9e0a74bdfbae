package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/card/sim/simtest"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
)

// tracingCard records the header (CLA INS P1 P2) of every command the
// simulated card receives, to say which APDUs an unlock sends.
type tracingCard struct {
	*sim.Card
	mu   sync.Mutex
	cmds []string
}

func (t *tracingCard) Transmit(cmd []byte) []byte {
	if len(cmd) >= 4 {
		t.mu.Lock()
		t.cmds = append(t.cmds, fmt.Sprintf("%X", cmd[:4]))
		t.mu.Unlock()
	}
	return t.Card.Transmit(cmd)
}

func (t *tracingCard) take() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.cmds
	t.cmds = nil
	return c
}

// cardSeries is one tool's cold unlocks of the simulated card.
type cardSeries struct {
	tool  string
	walls []time.Duration
	apdus []int
	cmds  []string // the command headers of the last run
}

// benchCardPCSC times cold unlocks by keyunlock and by gpg/scdaemon of the
// same card GnuPG personalised (simtest.GPGCardFixture), the simulator
// adding 5 ms per APDU, behind the same isolated pcscd, interleaved.
func benchCardPCSC(bin string, runs int) (ks, kc, gs *cardSeries, err error) {
	t := &tb{}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
		t.finish()
	}()
	f := simtest.GPGCardFixture(t, simtest.KindCv25519)
	q, err := sim.ParseQuirks("apdudelay=5ms")
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := sim.New(f.StateDir, sim.Options{Quirks: q})
	if err != nil {
		return nil, nil, nil, err
	}
	srv := pcsctest.Start(t)
	tc := &tracingCard{Card: c}
	srv.InsertCard(t, 0, tc)
	g := simtest.StartGPG(t, srv)
	g.SetPINs(f.PIN, f.AdminPIN)
	if _, _, err := g.Run("", "--import", f.CertFile); err != nil {
		return nil, nil, nil, err
	}
	if _, _, err := g.Run("", "--card-status"); err != nil {
		return nil, nil, nil, err
	}
	g.Stop()
	dir := t.TempDir()
	pin := filepath.Join(dir, "pin")
	if err := os.WriteFile(pin, []byte(f.PIN+"\n"), 0o600); err != nil {
		return nil, nil, nil, err
	}
	const withCert = "keyunlock --card-cert"
	ks, kc, gs = &cardSeries{tool: toolKeyunlock}, &cardSeries{tool: withCert}, &cardSeries{tool: "gpg + scdaemon"}
	one := func(tool string) error {
		c.Reset()
		c.ResetCount()
		tc.take()
		start := time.Now()
		var out []byte
		var err error
		if tool != "gpg" {
			args := []string{"decrypt", "-q", "--card", "--passphrase-file", pin}
			if tool == withCert {
				args = append(args, "--card-cert", f.CertFile)
			}
			cmd := exec.Command(bin, append(args, f.MsgFile)...)
			cmd.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+srv.Socket, "KEYUNLOCK_KEYS=/nonexistent/keyunlock-bench", "KEYUNLOCK_SOCKET=")
			var eb bytes.Buffer
			cmd.Stderr = &eb
			out, err = cmd.Output()
			if err != nil {
				err = fmt.Errorf("keyunlock decrypt --card: %v: %s", err, eb.String())
			}
		} else {
			var s string
			s, _, err = g.Run("", "--decrypt", f.MsgFile)
			out = []byte(s)
		}
		wall := time.Since(start)
		if tool == "gpg" {
			g.Stop() // cold: scdaemon and gpg-agent go, the card is released
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(out, f.Plaintext) {
			return fmt.Errorf("%s: wrong plaintext from the card", tool)
		}
		s := map[string]*cardSeries{toolKeyunlock: ks, withCert: kc, "gpg": gs}[tool]
		s.walls = append(s.walls, wall)
		s.apdus = append(s.apdus, c.APDUCount())
		s.cmds = tc.take()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.WaitPresent(ctx, 0, true)
	}
	// One warm-up each (page cache), then the interleaved runs.
	for _, tool := range []string{toolKeyunlock, withCert, "gpg"} {
		if err := one(tool); err != nil {
			return nil, nil, nil, err
		}
	}
	for _, s := range []*cardSeries{ks, kc, gs} {
		s.walls, s.apdus = nil, nil
	}
	for i := 0; i < runs; i++ {
		for _, tool := range []string{toolKeyunlock, withCert, "gpg"} {
			if err := one(tool); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	return ks, kc, gs, nil
}

func (s *cardSeries) apduRange() string {
	lo, hi := s.apdus[0], s.apdus[0]
	for _, a := range s.apdus {
		lo, hi = min(lo, a), max(hi, a)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

func writeCardPCSC(r *report, bin string, runs int) (fromCard, withCert int, err error) {
	ks, kc, gs, err := benchCardPCSC(bin, runs)
	if err != nil {
		return 0, 0, err
	}
	r.printf("Through pcscd: a cv25519 card that gpg --card-edit generated (card/sim/simtest), the simulator adding 5 ms per APDU, "+
		"behind one isolated pcscd and vpcd. keyunlock: `keyunlock decrypt --card --passphrase-file PIN` (a fresh process), without the certificate, or given it with `--card-cert`. "+
		"gpg: `gpg --decrypt` in a home that knows the card's key, scdaemon and gpg-agent killed after every run (`gpgconf --kill all`). "+
		"The simulated card is reset before each run; APDUs are counted by the simulator. Wall ms, median [min–max] over %d interleaved runs.\n\n", runs)
	r.printf("| tool | wall ms | APDUs per unlock |\n|---|---|---|\n")
	for _, s := range []*cardSeries{ks, kc, gs} {
		r.printf("| %s | %s | %s |\n", s.tool, durStat(s.walls), s.apduRange())
	}
	r.printf("\nCommand headers (CLA INS P1 P2) of one cold unlock — keyunlock: %s; with --card-cert: %s; gpg/scdaemon: %s.\n", strings.Join(ks.cmds, " "), strings.Join(kc.cmds, " "), strings.Join(gs.cmds, " "))
	r.printf("\nkeyunlock ÷ gpg: %.2f× in wall time, %.2f× in APDUs.\n\n",
		float64(durStat(ks.walls).med)/float64(durStat(gs.walls).med), float64(ks.apdus[0])/float64(gs.apdus[0]))
	return ks.apdus[len(ks.apdus)-1], kc.apdus[len(kc.apdus)-1], nil
}
