package core

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFilePrompter(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"secret\n":          "secret",
		"secret\r\n":        "secret",
		"secret":            "secret",
		"two words\nnext\n": "two words",
		" spaced \n":        " spaced ",
	} {
		p := filepath.Join(dir, "pass")
		os.WriteFile(p, []byte(content), 0o600)
		fp := NewFilePrompter(p)
		got, err := fp.Ask(ctx, PromptRequest{})
		if err != nil || string(got) != want {
			t.Errorf("%q: got %q, %v; want %q", content, got, err, want)
		}
		if _, err := fp.Ask(ctx, PromptRequest{Attempt: 2}); !errors.Is(err, ErrNoMoreSecrets) || !strings.Contains(err.Error(), p) {
			t.Errorf("second Ask: %v", err)
		}
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := NewFilePrompter(empty).Ask(ctx, PromptRequest{}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := NewFilePrompter(filepath.Join(dir, "missing")).Ask(ctx, PromptRequest{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
	long := filepath.Join(dir, "long")
	os.WriteFile(long, []byte(strings.Repeat("x", maxSecret+1)), 0o600)
	if _, err := NewFilePrompter(long).Ask(ctx, PromptRequest{}); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long line: %v", err)
	}
}

func TestFDPrompterReadsOnlyTheFirstLine(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("pin123\nrest of the stream\n"))
	w.Close()
	// The prompter closes the descriptor it reads: give it its own.
	fd, err := syscall.Dup(int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	got, err := NewFDPrompter(fd).Ask(ctx, PromptRequest{})
	if err != nil || string(got) != "pin123" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestScriptedPrompterRecords(t *testing.T) {
	p := NewScriptedPrompter("a")
	p.Notify(ctx, "touch your card")
	if got, err := p.Ask(ctx, PromptRequest{Message: "m"}); err != nil || string(got) != "a" {
		t.Fatal(got, err)
	}
	if _, err := p.Ask(ctx, PromptRequest{}); !errors.Is(err, ErrNoMoreSecrets) {
		t.Fatal(err)
	}
	if len(p.Asked()) != 2 || p.Asked()[0].Message != "m" || p.Notes[0] != "touch your card" {
		t.Fatalf("%+v %v", p.Asked(), p.Notes)
	}
}
