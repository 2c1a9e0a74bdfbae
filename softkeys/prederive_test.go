package softkeys

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
)

// prederiveFixture loads gpg-cv25519 anew and returns its backend, its
// encryption subkey and the PKESKs of a message to it.
func prederiveFixture(t *testing.T) (*fixtures.Key, *Backend, *Key, []*core.PKESK) {
	t.Helper()
	fk := fixtures.Load(t).Key(t, "gpg-cv25519")
	b, err := New([]string{fk.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	_, k := load(t, fk)
	for _, sk := range b.Files()[0].SoftKeys() {
		if string(sk.Fingerprint()) == string(k.Fingerprint()) {
			k = sk
		}
	}
	return fk, b, k, pkesks(t, readMessage(t, fk.Messages[0]))
}

// TestPrederiveTaken: Unlock with the secret given to Prederive takes the
// derived key (one S2K run in all) even though the caller wiped its copy,
// and the key then decrypts.
func TestPrederiveTaken(t *testing.T) {
	fk, b, k, ps := prederiveFixture(t)
	before := derivations.Load()
	secret := []byte(fk.Passphrase)
	release := b.Prederive(ctx, ps, secret)
	defer release()
	core.Wipe(secret)
	if k.pre == nil {
		t.Fatal("no derivation started for the message's recipient")
	}
	if err := k.Unlock(ctx, []byte(fk.Passphrase)); err != nil {
		t.Fatal(err)
	}
	if n := derivations.Load() - before; n != 1 {
		t.Errorf("%d S2K runs, want 1", n)
	}
	if k.pre != nil {
		t.Error("the derivation was not used up")
	}
	if _, err := k.DecryptPKESK(ctx, ps[0]); err != nil {
		t.Fatal(err)
	}
	// The primary (a signing key) was not derived for.
	for _, o := range b.Files()[0].SoftKeys() {
		if o != k && o.pre != nil {
			t.Errorf("derivation started for key %X, which the message does not name", o.Fingerprint())
		}
	}
}

// TestPrederiveOtherSecret: Unlock with another secret than Prederive's
// derives from that secret (a wrong passphrase stays wrong) and drops the
// derived key; the right passphrase then derives again.
func TestPrederiveOtherSecret(t *testing.T) {
	fk, b, k, ps := prederiveFixture(t)
	before := derivations.Load()
	release := b.Prederive(ctx, ps, []byte(fk.Passphrase))
	defer release()
	if err := k.Unlock(ctx, []byte("not the passphrase")); !errors.Is(err, core.ErrBadSecret) {
		t.Fatalf("wrong passphrase after Prederive with the right one: %v, want ErrBadSecret", err)
	}
	if k.pre != nil {
		t.Error("the derivation was kept after an Unlock with another secret")
	}
	if err := k.Unlock(ctx, []byte(fk.Passphrase)); err != nil {
		t.Fatal(err)
	}
	if n := derivations.Load() - before; n != 3 {
		t.Errorf("%d S2K runs, want 3 (Prederive's, the wrong secret's, the right one's)", n)
	}

	// And the other way round: Prederive with a wrong secret.
	_, b, k, ps = prederiveFixture(t)
	release2 := b.Prederive(ctx, ps, []byte("wrong"))
	defer release2()
	if err := k.Unlock(ctx, []byte(fk.Passphrase)); err != nil {
		t.Fatalf("right passphrase after Prederive with a wrong one: %v", err)
	}
}

// TestPrederiveRelease: release drops a derivation that was not taken (its
// key is wiped when it ends), and Lock drops one too.
func TestPrederiveRelease(t *testing.T) {
	fk, b, k, ps := prederiveFixture(t)
	b.Prederive(ctx, ps, []byte(fk.Passphrase))()
	if k.pre != nil {
		t.Fatal("release kept the derivation")
	}
	if err := k.Unlock(ctx, []byte(fk.Passphrase)); err != nil {
		t.Fatal(err)
	}

	_, b, k, ps = prederiveFixture(t)
	release := b.Prederive(ctx, ps, []byte(fk.Passphrase))
	defer release()
	pd := k.pre
	b.Lock()
	if k.pre != nil {
		t.Fatal("Lock kept the derivation")
	}
	<-pd.done
	k.preMu.Lock()
	defer k.preMu.Unlock()
	if !pd.dropped || pd.key != nil {
		t.Errorf("dropped derivation: dropped %v, key kept %v", pd.dropped, pd.key != nil)
	}
}

// TestPrederiveOnlyRecipients: a message to another key starts nothing,
// nor does a clear key.
func TestPrederiveOnlyRecipients(t *testing.T) {
	set := fixtures.Load(t)
	fk, b, k, _ := prederiveFixture(t)
	other := pkesks(t, readMessage(t, set.Key(t, "gpg-rsa3072").Messages[0]))
	b.Prederive(ctx, other, []byte(fk.Passphrase))()
	if k.pre != nil {
		t.Error("derivation started for a key the message does not name")
	}
	clear := set.Key(t, "gpg-cv25519-clear")
	cb, err := New([]string{clear.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	release := cb.Prederive(ctx, pkesks(t, readMessage(t, clear.Messages[0])), []byte("x"))
	defer release()
	for _, ck := range cb.Files()[0].SoftKeys() {
		if ck.pre != nil {
			t.Errorf("derivation started for the clear key %X", ck.Fingerprint())
		}
	}
}

// TestPrewarm: Prewarm's verification succeeds, so it has gone through the
// base-point multiplication (a key that failed to decode would stop first).
func TestPrewarm(t *testing.T) {
	if !prewarm() {
		t.Fatal("the RFC 8032 test vector does not verify")
	}
}

// TestPrederiveNotWhenReady: an anonymous PKESK names both RSA keys of a
// gpg RSA file (its primary may encrypt too). Both locked: both derive (at
// most maxPrederive). With the subkey unlocked, nothing is derived: the
// keystore decrypts with that key first.
func TestPrederiveNotWhenReady(t *testing.T) {
	fk := fixtures.Load(t).Key(t, "gpg-rsa3072")
	anon := []*core.PKESK{{Algo: pkesks(t, readMessage(t, fk.Messages[0]))[0].Algo}}
	for _, unlockSub := range []bool{false, true} {
		b, err := New([]string{fk.KeyFile})
		if err != nil {
			t.Fatal(err)
		}
		keys := b.Files()[0].SoftKeys()
		if len(keys) != 2 || !keys[0].pub.Algo.CanEncrypt() {
			t.Fatalf("want an RSA primary and subkey, got %d keys", len(keys))
		}
		if unlockSub {
			if err := keys[1].Unlock(ctx, []byte(fk.Passphrase)); err != nil {
				t.Fatal(err)
			}
		}
		release := b.Prederive(ctx, anon, []byte(fk.Passphrase))
		started := 0
		for _, k := range keys {
			if k.pre != nil {
				started++
			}
		}
		release()
		if want := map[bool]int{false: 2, true: 0}[unlockSub]; started != want {
			t.Errorf("subkey unlocked %v: %d derivations started, want %d", unlockSub, started, want)
		}
	}
}

// TestPrederiveOneArgon2: two files with the same Argon2-protected key, an
// anonymous PKESK naming both: only one derivation is started, so that
// Argon2's memory is never held twice at once.
func TestPrederiveOneArgon2(t *testing.T) {
	fk := fixtures.Load(t).Key(t, "gocrypto-v6-x25519")
	dir := t.TempDir()
	var paths []string
	for _, n := range []string{"a.key", "b.key"} {
		p := filepath.Join(dir, n)
		copyFile(t, fk.KeyFile, p)
		paths = append(paths, p)
	}
	b, err := New(paths)
	if err != nil {
		t.Fatal(err)
	}
	anon := []*core.PKESK{{Algo: pkesks(t, readMessage(t, fk.Messages[0]))[0].Algo}}
	release := b.Prederive(ctx, anon, []byte(fk.Passphrase))
	defer release()
	started := 0
	for _, f := range b.Files() {
		for _, k := range f.SoftKeys() {
			if k.pre != nil {
				started++
			}
		}
	}
	if started != 1 {
		t.Errorf("%d Argon2 derivations started, want 1", started)
	}
}
