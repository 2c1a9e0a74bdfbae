package openpgp

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/card/iso7816"
	"github.com/keyunlock/keyunlock/internal/hostile"
)

// cardOutcome is what the card client made of a scripted card.
type cardOutcome struct {
	err      error // the first error, nil when every operation worked
	op       string
	commands int
}

// playCard runs the client's usual sequence against the scripted card and
// stops at the first error: Open, the PIN status, the three public keys
// and a cv25519 PSO:DECIPHER.
func playCard(data []byte) cardOutcome {
	sc := &scriptedCard{script: data}
	c := New(sc, iso7816.Caps{Extended: true, Chaining: true})
	out := func(op string, err error) cardOutcome { return cardOutcome{err: err, op: op, commands: sc.calls} }
	if err := c.Open(); err != nil {
		return out("Open", err)
	}
	if _, err := c.ReadPWStatus(); err != nil {
		return out("ReadPWStatus", err)
	}
	for slot := 0; slot < 3; slot++ {
		if _, _, _, err := c.PublicKey(slot); err != nil {
			return out("PublicKey", err)
		}
	}
	b, err := c.DecipherECDH(make([]byte, 32), Curves[0])
	if err == nil && len(b) != 32 {
		err = errors.New("a shared secret of the wrong length was accepted")
	}
	return out("DecipherECDH", err)
}

func cardClass(err error) string {
	switch {
	case err == nil:
		return hostile.ClassOK
	case errors.Is(err, ErrNotOpenPGP):
		return hostile.ClassUnsupported
	case errors.Is(err, iso7816.ErrResponseTooLong):
		return hostile.ClassLimit
	}
	return hostile.ClassMalformed
}

// TestHostileCardAnswers plays every card file of the hostile corpus
// (testdata/hostile/card) as a card behind the client: no panic, no hang,
// bounded commands and memory, and the expected class of error.
func TestHostileCardAnswers(t *testing.T) {
	dir := "../../testdata/hostile"
	m, err := hostile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range m.Entries {
		if e.Kind != hostile.KindCard {
			continue
		}
		n++
		t.Run(strings.TrimPrefix(e.File, "card/"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, e.File))
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			done := make(chan cardOutcome, 1)
			go func() { done <- playCard(data) }()
			var o cardOutcome
			select {
			case o = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the card client hangs")
			}
			runtime.ReadMemStats(&after)
			if a := after.TotalAlloc - before.TotalAlloc; a > 16<<20 {
				t.Errorf("allocated %d MiB", a>>20)
			}
			if o.commands > 1100 {
				t.Errorf("%d commands sent", o.commands)
			}
			if got := cardClass(o.err); got != e.Class {
				t.Errorf("%s (%s): got %s at %s, want %s: %v", e.File, e.Note, got, o.op, e.Class, o.err)
			}
			if o.err != nil && strings.TrimSpace(o.err.Error()) == "" {
				t.Error("empty error")
			}
			t.Logf("%s after %d commands: %v", o.op, o.commands, o.err)
		})
	}
	if n < 10 {
		t.Errorf("only %d card files in the corpus", n)
	}
}
