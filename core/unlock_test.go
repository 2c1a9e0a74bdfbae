package core

import (
	"errors"
	"strings"
	"testing"
)

func TestDecryptSessionKeyWrongThenRight(t *testing.T) {
	a := testEntity(t, "a", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	k := keyOf(t, a, "file a.asc").lockedBy(LockPassword, "right", -1)
	p := NewScriptedPrompter("wrong", "right")
	res, err := DecryptSessionKey(ctx, NewKeystore(backendOf(k)), pkesksOf(t, msg), DecryptOptions{Prompter: p})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint != fpr(k) {
		t.Fatalf("used %s", res.Fingerprint)
	}
	reqs := p.Asked()
	if len(reqs) != 2 || reqs[0].Attempt != 1 || reqs[1].Attempt != 2 {
		t.Fatalf("requests %+v", reqs)
	}
	if !strings.Contains(reqs[0].Message, fpr(k)) || !strings.Contains(reqs[0].Message, "file a.asc") || reqs[0].Kind != LockPassword {
		t.Fatalf("prompt %q does not name the key and its file", reqs[0].Message)
	}
	if reqs[0].ID != "keyunlock:"+fpr(k) {
		t.Fatalf("ID %q", reqs[0].ID)
	}
}

func TestDecryptSessionKeyMaxAttempts(t *testing.T) {
	a := testEntity(t, "a", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	k := keyOf(t, a, "file a.asc").lockedBy(LockPassword, "right", -1)
	p := NewScriptedPrompter("w1", "w2", "w3", "right")
	_, err := DecryptSessionKey(ctx, NewKeystore(backendOf(k)), pkesksOf(t, msg), DecryptOptions{Prompter: p})
	if !errors.Is(err, ErrBadSecret) || !strings.Contains(err.Error(), "3 times") || !strings.Contains(err.Error(), fpr(k)) {
		t.Fatalf("got %v", err)
	}
	if n := len(p.Asked()); n != 3 {
		t.Fatalf("asked %d times, want 3", n)
	}
	p = NewScriptedPrompter("w1", "right")
	if _, err := DecryptSessionKey(ctx, NewKeystore(backendOf(k)), pkesksOf(t, msg), DecryptOptions{Prompter: p, MaxAttempts: 1}); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("MaxAttempts 1: %v", err)
	}
}

func TestDecryptSessionKeyOneSecretOnly(t *testing.T) {
	a := testEntity(t, "a", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	k := keyOf(t, a, "file a.asc").lockedBy(LockPassword, "right", -1)
	_, err := DecryptSessionKey(ctx, NewKeystore(backendOf(k)), pkesksOf(t, msg), DecryptOptions{Prompter: NewScriptedPrompter("wrong")})
	if !errors.Is(err, ErrBadSecret) || !strings.Contains(err.Error(), "wrong passphrase for key") {
		t.Fatalf("got %v", err)
	}
}

func TestDecryptSessionKeyPINTries(t *testing.T) {
	a := testEntity(t, "a", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	pk := pkesksOf(t, msg)

	// Two tries left: one wrong PIN leaves one, and the loop must stop
	// there instead of spending the last try.
	k := keyOf(t, a, "card 0006:12345678").lockedBy(LockPIN, "123456", 2)
	p := NewScriptedPrompter("000000", "123456")
	_, err := DecryptSessionKey(ctx, NewKeystore(backendOf(k)), pk, DecryptOptions{Prompter: p})
	if !errors.Is(err, ErrLastTry) || !strings.Contains(err.Error(), "only 1 PIN try left on card 0006:12345678") || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "admin PIN") {
		t.Fatalf("got %v", err)
	}
	if k.unlocks != 1 || k.tries != 1 {
		t.Fatalf("%d VERIFYs, %d tries left", k.unlocks, k.tries)
	}
	reqs := p.Asked()
	if len(reqs) != 1 || reqs[0].Kind != LockPIN || reqs[0].TriesLeft != 2 || !strings.Contains(reqs[0].Message, "2 tries left") {
		t.Fatalf("requests %+v", reqs)
	}

	// --force spends it.
	res, err := DecryptSessionKey(ctx, NewKeystore(backendOf(k)), pk, DecryptOptions{Prompter: NewScriptedPrompter("123456"), Force: true})
	if err != nil || res.Source != "card 0006:12345678" {
		t.Fatalf("forced: %v", err)
	}

	// Blocked: never asked.
	k.lockedBy(LockPIN, "123456", 0)
	p = NewScriptedPrompter("123456")
	_, err = DecryptSessionKey(ctx, NewKeystore(backendOf(k)), pk, DecryptOptions{Prompter: p, Force: true})
	if !errors.Is(err, ErrPINBlocked) || len(p.Asked()) != 0 {
		t.Fatalf("blocked: %v, asked %d", err, len(p.Asked()))
	}
}

func TestDecryptSessionKeySkipsCardAtLastTry(t *testing.T) {
	a := testEntity(t, "a", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	card := keyOf(t, a, "card 1").lockedBy(LockPIN, "123456", 1)
	soft := keyOf(t, a, "file a.asc").lockedBy(LockPassword, "pw", -1)
	p := NewScriptedPrompter("pw")
	res, err := DecryptSessionKey(ctx, NewKeystore(backendOf(card, soft)), pkesksOf(t, msg), DecryptOptions{Prompter: p})
	if err != nil || res.Source != "file a.asc" || card.unlocks != 0 {
		t.Fatalf("got %v, card VERIFYs %d", err, card.unlocks)
	}
}

func TestDecryptSessionKeyNoPrompter(t *testing.T) {
	a := testEntity(t, "a", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	k := keyOf(t, a, "file a.asc").lockedBy(LockPassword, "pw", -1)
	_, err := DecryptSessionKey(ctx, NewKeystore(backendOf(k)), pkesksOf(t, msg), DecryptOptions{})
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "--passphrase-file") {
		t.Fatalf("got %v", err)
	}
}
