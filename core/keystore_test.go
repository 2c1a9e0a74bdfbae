package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/keyunlock/keyunlock/internal/pgp"
	"strings"
	"sync"
	"testing"
)

var ctx = context.Background()

func fpr(k *testKey) string { return fmt.Sprintf("%X", k.Fingerprint()) }

func TestKeystorePrefersUnlockedKey(t *testing.T) {
	a, b := testEntity(t, "a", false), testEntity(t, "b", false)
	msg := encryptTo(t, []byte("secret"), nil, a, b)
	ka := keyOf(t, a, "file a").lockedBy(LockPassword, "pa", -1)
	kb := keyOf(t, b, "file b")
	ks := NewKeystore(backendOf(ka, kb))
	res, err := ks.DecryptPKESKs(ctx, pkesksOf(t, msg))
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint != fpr(kb) || res.Source != "file b" || res.Index != 1 {
		t.Fatalf("used %s (%s) index %d, want B at index 1", res.Fingerprint, res.Source, res.Index)
	}
	if len(res.SessionKey.Key) != res.SessionKey.Cipher.KeySize() {
		t.Fatalf("session key of %d bytes for cipher %v", len(res.SessionKey.Key), res.SessionKey.Cipher)
	}
	if ka.decrypts != 0 {
		t.Fatal("the locked key was tried")
	}
}

func TestKeystoreLockedErrorListsCandidatesInOrder(t *testing.T) {
	a, b := testEntity(t, "a", false), testEntity(t, "b", false)
	msg := encryptTo(t, []byte("secret"), nil, a, b)
	ka := keyOf(t, a, "file a").lockedBy(LockPassword, "pa", -1)
	kb := keyOf(t, b, "card 1").lockedBy(LockPIN, "123456", 3)
	ks := NewKeystore(backendOf(kb, ka))
	_, err := ks.DecryptPKESKs(ctx, pkesksOf(t, msg))
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a LockedError", err)
	}
	if len(le.Candidates) != 2 || le.Candidates[0].Key.Fingerprint != fpr(ka) || le.Candidates[1].Key.Fingerprint != fpr(kb) {
		t.Fatalf("candidates %+v, want A then B (PKESK order)", le.Candidates)
	}
	if le.Candidates[1].Key.Lock != "pin" || le.Candidates[1].Key.TriesLeft != 3 {
		t.Fatalf("card candidate %+v lacks its lock kind or tries", le.Candidates[1].Key)
	}
}

func TestKeystoreNoKeyReasons(t *testing.T) {
	a, b, c, d := testEntity(t, "a", false), testEntity(t, "b", false), testEntity(t, "c", false), testEntity(t, "d", false)
	msg := encryptTo(t, []byte("secret"), nil, a, b, c, d)
	pk := pkesksOf(t, msg)
	ka := keyOf(t, a, "card absent")
	ka.absent = errors.New("card not inserted")
	kb := keyOf(t, b, "file b")
	kb.canDec = false
	kc := keyOf(t, c, "file c")
	kc.failWith = errors.New("boom")
	// D's key ID with an RSA algorithm: a wrong-algorithm candidate.
	kd := keyOf(t, d, "file d")
	pk[3].Algo = pgp.RSA

	ks := NewKeystore(backendOf(ka, kb, kc, kd), &testBackend{devs: []Device{&testDevice{id: "file broken.asc", err: errors.New("permission denied")}}})
	_, err := ks.DecryptPKESKs(ctx, pk)
	var ne *NoKeyError
	if !errors.As(err, &ne) || !errors.Is(err, ErrNoKey) {
		t.Fatalf("got %v, want a NoKeyError", err)
	}
	if len(ne.Recipients) != 4 {
		t.Fatalf("recipients %v", ne.Recipients)
	}
	want := map[string]string{
		"card absent":     "not present: card not inserted",
		"file b":          "cannot decrypt",
		"file c":          "decryption failed: boom",
		"file d":          "wrong algorithm",
		"file broken.asc": "unreadable: permission denied",
	}
	if len(ne.Candidates) != len(want) {
		t.Fatalf("candidates %+v", ne.Candidates)
	}
	for _, c := range ne.Candidates {
		if !strings.Contains(c.Reason, want[c.Key.Source]) {
			t.Errorf("%s: reason %q, want %q", c.Key.Source, c.Reason, want[c.Key.Source])
		}
	}
	if !strings.Contains(err.Error(), "file broken.asc") {
		t.Errorf("error %q does not name the unreadable file", err)
	}
}

func TestKeystoreNotARecipient(t *testing.T) {
	a, other := testEntity(t, "a", false), testEntity(t, "other", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	ks := NewKeystore(backendOf(keyOf(t, other, "file other")))
	_, err := ks.DecryptPKESKs(ctx, pkesksOf(t, msg))
	if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "none of the given keys matches") {
		t.Fatalf("got %v", err)
	}
}

func TestKeystoreFailingKeyMovesOn(t *testing.T) {
	a := testEntity(t, "a", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	bad := keyOf(t, a, "card flaky")
	bad.failWith = errors.New("card removed")
	good := keyOf(t, a, "file a")
	ks := NewKeystore(backendOf(bad, good))
	res, err := ks.DecryptPKESKs(ctx, pkesksOf(t, msg))
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "file a" || bad.decrypts != 1 {
		t.Fatalf("used %s after %d tries of the failing key", res.Source, bad.decrypts)
	}
}

func TestKeystoreAnonymousRecipient(t *testing.T) {
	a, b := testEntity(t, "a", false), testEntity(t, "b", false)
	msg := encryptTo(t, []byte("x"), nil, b)
	pk := pkesksOf(t, msg)
	body := append([]byte(nil), pk[0].Body...)
	clear(body[1:9]) // v3 PKESK: version, key ID, ...
	anon, err := ParsePKESK(body)
	if err != nil {
		t.Fatal(err)
	}
	if !anon.Anonymous() {
		t.Fatal("not anonymous")
	}
	ka, kb := keyOf(t, a, "file a"), keyOf(t, b, "file b")
	ks := NewKeystore(backendOf(ka, kb))
	res, err := ks.DecryptPKESKs(ctx, []*PKESK{anon})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint != fpr(kb) || ka.decrypts != 1 {
		t.Fatalf("used %s; A tried %d times", res.Fingerprint, ka.decrypts)
	}
}

func TestKeystoreUnlockSelectors(t *testing.T) {
	a, b := testEntity(t, "a", false), testEntity(t, "b", false)
	ka := keyOf(t, a, "file a").lockedBy(LockPassword, "pa", -1)
	kb := keyOf(t, b, "file b").lockedBy(LockPassword, "pb", -1)
	ks := NewKeystore(backendOf(ka, kb))

	if err := ks.Unlock(ctx, "", []byte("pa"), UnlockOptions{}); err == nil || !strings.Contains(err.Error(), "several keys are locked") {
		t.Fatalf("empty selector with two locked keys: %v", err)
	}
	if err := ks.Unlock(ctx, strings.ToLower(fpr(ka)), []byte("nope"), UnlockOptions{}); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := ks.Unlock(ctx, strings.ToLower(fpr(ka)), []byte("pa"), UnlockOptions{}); err != nil || ka.Locked() {
		t.Fatalf("lower-case fingerprint: %v", err)
	}
	if err := ks.Unlock(ctx, "", []byte("pb"), UnlockOptions{}); err != nil || kb.Locked() {
		t.Fatalf("the only locked key: %v", err)
	}
	if err := ks.Lock(ctx, fmt.Sprintf("0x%016x", kb.KeyID())); err != nil || !kb.Locked() || ka.Locked() {
		t.Fatalf("lock by key ID: %v", err)
	}
	if err := ks.Lock(ctx, ""); err != nil || !ka.Locked() {
		t.Fatalf("lock all: %v", err)
	}
	if err := ks.Unlock(ctx, "DEADBEEF", []byte("x"), UnlockOptions{}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("unknown selector: %v", err)
	}
}

func TestKeystoreUnlockEmptySelectorIgnoresNonDecryptionKeys(t *testing.T) {
	a := testEntity(t, "a", false)
	dec := keyOf(t, a, "file a").lockedBy(LockPassword, "pa", -1)
	// The sign-only primary of the same file, locked by the same passphrase.
	primary := &testKey{priv: a.PrivateKey, source: "file a", tries: -1}
	primary.lockedBy(LockPassword, "pa", -1)
	// The same decryption key again, from a backup file.
	backup := keyOf(t, a, "file a.bak").lockedBy(LockPassword, "pa", -1)
	ks := NewKeystore(backendOf(primary, dec, backup))
	if err := ks.Unlock(ctx, "", []byte("pa"), UnlockOptions{}); err != nil {
		t.Fatalf("empty selector with one decryption key: %v", err)
	}
	if dec.Locked() || !primary.Locked() {
		t.Fatalf("want the decryption key unlocked and the primary left alone: dec locked=%v primary locked=%v", dec.Locked(), primary.Locked())
	}
}

func TestKeystoreUnlockRefusesLastPINTry(t *testing.T) {
	a := testEntity(t, "a", false)
	k := keyOf(t, a, "card 0006:1234").lockedBy(LockPIN, "123456", 1)
	ks := NewKeystore(backendOf(k))
	err := ks.Unlock(ctx, fpr(k), []byte("123456"), UnlockOptions{})
	if !errors.Is(err, ErrLastTry) || k.unlocks != 0 {
		t.Fatalf("got %v after %d unlocks", err, k.unlocks)
	}
	if err := ks.Unlock(ctx, fpr(k), []byte("123456"), UnlockOptions{Force: true}); err != nil || k.unlocks != 1 {
		t.Fatalf("forced: %v", err)
	}
	k.lockedBy(LockPIN, "123456", 0)
	if err := ks.Unlock(ctx, fpr(k), []byte("123456"), UnlockOptions{Force: true}); !errors.Is(err, ErrPINBlocked) || k.unlocks != 1 {
		t.Fatalf("blocked: %v", err)
	}
}

func TestKeystoreListKeys(t *testing.T) {
	a, v6 := testEntity(t, "a", false), testEntity(t, "six", true)
	ka := keyOf(t, a, "file a").lockedBy(LockPassword, "pa", -1)
	k6 := keyOf(t, v6, "file six")
	ks := NewKeystore(backendOf(ka, k6), &testBackend{devs: []Device{&testDevice{id: "file bad", err: errors.New("unreadable")}}})
	infos, err := ks.ListKeys(ctx)
	if err == nil || !strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("error %v should report the bad device", err)
	}
	if len(infos) != 2 {
		t.Fatalf("infos %+v", infos)
	}
	if infos[0].Algorithm != "cv25519" || !infos[0].Locked || infos[0].Lock != "password" || infos[0].Fingerprint != fpr(ka) || len(infos[0].KeyID) != 16 {
		t.Errorf("info A %+v", infos[0])
	}
	if infos[1].Algorithm != "x25519" || infos[1].Locked || len(infos[1].Fingerprint) != 64 {
		t.Errorf("info v6 %+v", infos[1])
	}
	if infos[0].Capabilities[0] != "encrypt" {
		t.Errorf("capabilities %v", infos[0].Capabilities)
	}
}

func TestKeystoreConcurrent(t *testing.T) {
	a := testEntity(t, "a", false)
	msg := encryptTo(t, []byte("x"), nil, a)
	pk := pkesksOf(t, msg)
	k := keyOf(t, a, "file a").lockedBy(LockPassword, "pa", -1)
	ks := NewKeystore(backendOf(k))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := DecryptSessionKey(ctx, ks, pk, DecryptOptions{Prompter: NewScriptedPrompter("pa")})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// describedKey adds a primary fingerprint to a testKey.
type describedKey struct {
	*testKey
	primary string
}

func (d describedKey) Describe(info *KeyInfo) { info.PrimaryFpr = d.primary }

func TestKeystoreUnlockByPrimaryFingerprint(t *testing.T) {
	a := testEntity(t, "a", false)
	primary := fmt.Sprintf("%X", a.PrimaryKey.Fingerprint)
	sign := &testKey{priv: a.PrivateKey, source: "file a", kind: LockPassword, secret: "pa", locked: true, tries: -1}
	enc := keyOf(t, a, "file a").lockedBy(LockPassword, "pa", -1)
	ks := NewKeystore(&testBackend{devs: []Device{&testDevice{id: "file a", keys: []Key{describedKey{sign, primary}, describedKey{enc, primary}}}}})
	if err := ks.Unlock(ctx, strings.ToLower(primary), []byte("pa"), UnlockOptions{}); err != nil {
		t.Fatal(err)
	}
	if enc.Locked() || !sign.Locked() {
		t.Fatalf("unlocked the signing key (%v) instead of the encryption subkey (%v)", !sign.Locked(), !enc.Locked())
	}
}

func TestKeystoreAnonymousThenExplicit(t *testing.T) {
	a, b := testEntity(t, "a", false), testEntity(t, "b", false)
	pb := pkesksOf(t, encryptTo(t, []byte("x"), nil, b))[0]
	body := bytes.Clone(pb.Body)
	clear(body[1:9])
	anon, err := ParsePKESK(body)
	if err != nil {
		t.Fatal(err)
	}
	pa := pkesksOf(t, encryptTo(t, []byte("x"), nil, a))[0]
	ka := keyOf(t, a, "file a")
	res, err := NewKeystore(backendOf(ka)).DecryptPKESKs(ctx, []*PKESK{anon, pa})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index != 1 || ka.decrypts != 2 {
		t.Fatalf("index %d after %d tries", res.Index, ka.decrypts)
	}
}
