package softkeys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
)

var ctx = context.Background()

// load loads one fixture key file and returns the file and its encryption subkey.
func load(t testing.TB, k *fixtures.Key) (*File, *Key) {
	t.Helper()
	b, err := New([]string{k.KeyFile})
	if err != nil {
		t.Fatalf("%s: New: %v", k.Name, err)
	}
	if len(b.Files()) != 1 {
		t.Fatalf("%s: %d files", k.Name, len(b.Files()))
	}
	f := b.Files()[0]
	for _, sk := range f.SoftKeys() {
		if fmt.Sprintf("%X", sk.Fingerprint()) == k.EncryptFpr {
			return f, sk
		}
	}
	t.Fatalf("%s: encryption subkey %s not found", k.Name, k.EncryptFpr)
	return nil, nil
}

var _ core.Backend = (*Backend)(nil)
var _ core.Device = (*File)(nil)
var _ core.Key = (*Key)(nil)
var _ core.KeyDescriber = (*Key)(nil)

// TestFixtures loads every fixture key, checks the lock state, unlocks with
// a wrong and the right passphrase, and decrypts every message made for it
// by gpg, sq and go-crypto through DecryptPKESK.
func TestFixtures(t *testing.T) {
	set := fixtures.Load(t)
	for _, fk := range set.Keys {
		t.Run(fk.Name, func(t *testing.T) {
			f, k := load(t, &fk)
			if !k.CanDecrypt() {
				t.Fatalf("encryption subkey cannot decrypt; caps %v", k.Capabilities())
			}
			if got := k.PublicKey().Version; got != fk.KeyVersion {
				t.Errorf("key version %d, want %d", got, fk.KeyVersion)
			}
			if fk.OnCard {
				err := k.Available(ctx)
				if err == nil || !strings.Contains(err.Error(), "key is on a card, serial 0006:12345678") {
					t.Fatalf("Available = %v, want a card stub", err)
				}
				if k.LockKind() != core.LockPIN || !k.Locked() {
					t.Errorf("card stub: LockKind %v Locked %v", k.LockKind(), k.Locked())
				}
				if on, aid := k.OnCard(); !on || aid != fixtures.CardAID {
					t.Errorf("OnCard = %v, %s", on, aid)
				}
				if err := k.Unlock(ctx, []byte("x")); err == nil {
					t.Error("Unlock of a card stub succeeded")
				}
				return
			}
			if err := k.Available(ctx); err != nil {
				t.Fatalf("Available: %v", err)
			}
			if fk.Passphrase == "" {
				if k.LockKind() != core.LockNone || k.Locked() {
					t.Fatalf("unprotected key: LockKind %v Locked %v", k.LockKind(), k.Locked())
				}
			} else {
				if !k.prot.cipher.IsAES() {
					t.Errorf("%s is protected with %s, the fixtures use AES", fk.Name, k.prot.cipher)
				}
				if k.LockKind() != core.LockPassword || !k.Locked() {
					t.Fatalf("protected key: LockKind %v Locked %v", k.LockKind(), k.Locked())
				}
				err := k.Unlock(ctx, []byte("wrong "+fk.Passphrase))
				if !errors.Is(err, core.ErrBadSecret) {
					t.Fatalf("Unlock(wrong) = %v, want ErrBadSecret", err)
				}
				if !strings.Contains(err.Error(), fk.EncryptFpr) || !strings.Contains(err.Error(), fk.KeyFile) {
					t.Errorf("wrong-passphrase error does not name key and file: %v", err)
				}
				if _, err := k.DecryptPKESK(ctx, pkesks(t, readMessage(t, fk.Messages[0]))[0]); err == nil {
					t.Fatal("locked key decrypted")
				}
				if err := k.Unlock(ctx, []byte(fk.Passphrase)); err != nil {
					t.Fatalf("Unlock: %v", err)
				}
				if k.Locked() {
					t.Fatal("still locked after Unlock")
				}
				// Unlocking one subkey leaves the others locked.
				for _, o := range f.SoftKeys() {
					if o != k && o.LockKind() == core.LockPassword && !o.Locked() {
						t.Errorf("key %X was unlocked too", o.Fingerprint())
					}
				}
			}
			for _, m := range fk.Messages {
				msg := readMessage(t, m)
				var sk *core.SessionKey
				for _, p := range pkesks(t, msg) {
					if p.Matches(k.Fingerprint(), k.KeyID()) {
						var err error
						if sk, err = k.DecryptPKESK(ctx, p); err != nil {
							t.Fatalf("%s: DecryptPKESK: %v", filepath.Base(m.File), err)
						}
						break
					}
				}
				if sk == nil {
					t.Fatalf("%s: no PKESK for the key", filepath.Base(m.File))
				}
				got := decryptData(t, msg, sk)
				if !bytes.Equal(got, fixtures.ReadFile(t, m.Plaintext)) {
					t.Errorf("%s (%s, %s): wrong plaintext", filepath.Base(m.File), m.Tool, m.Format)
				}
				sk.Wipe()
			}
			if fk.Passphrase != "" {
				k.Lock()
				if !k.Locked() {
					t.Fatal("Lock did not lock")
				}
				if _, err := k.DecryptPKESK(ctx, pkesks(t, readMessage(t, fk.Messages[0]))[0]); err == nil {
					t.Fatal("DecryptPKESK after Lock succeeded")
				}
			}
		})
	}
}

// TestMultiRecipient decrypts a message to keys A and B with only B loaded.
func TestMultiRecipient(t *testing.T) {
	set := fixtures.Load(t)
	for _, m := range set.Multi {
		b := set.Key(t, m.Recipients[len(m.Recipients)-1])
		_, k := load(t, b)
		if err := k.Unlock(ctx, []byte(b.Passphrase)); err != nil {
			t.Fatal(err)
		}
		msg := readMessage(t, m)
		ps := pkesks(t, msg)
		if len(ps) < 2 {
			t.Fatalf("%d PKESKs", len(ps))
		}
		used := -1
		var sk *core.SessionKey
		for i, p := range ps {
			if p.Matches(k.Fingerprint(), k.KeyID()) {
				var err error
				if sk, err = k.DecryptPKESK(ctx, p); err != nil {
					t.Fatal(err)
				}
				used = i
			}
		}
		if used < 0 {
			t.Fatal("no PKESK for B")
		}
		if !bytes.Equal(decryptData(t, msg, sk), fixtures.ReadFile(t, m.Plaintext)) {
			t.Error("wrong plaintext")
		}
	}
}

// TestCapabilities checks the capabilities read from the key flags.
func TestCapabilities(t *testing.T) {
	set := fixtures.Load(t)
	fk := set.Key(t, "gpg-cv25519")
	f, sub := load(t, fk)
	var primary *Key
	for _, k := range f.SoftKeys() {
		if fmt.Sprintf("%X", k.Fingerprint()) == fk.Fingerprint {
			primary = k
		}
	}
	if primary == nil || primary.CanDecrypt() {
		t.Fatalf("primary %v can decrypt", primary)
	}
	var info core.KeyInfo
	primary.Describe(&info)
	if strings.Join(info.Capabilities, ",") != "sign,certify" || !strings.Contains(info.UserID, "gpg-cv25519@keyunlock.test") {
		t.Errorf("primary: %+v", info)
	}
	info = core.KeyInfo{}
	sub.Describe(&info)
	if strings.Join(info.Capabilities, ",") != "encrypt" || info.PrimaryFpr != fk.Fingerprint {
		t.Errorf("subkey: %+v", info)
	}
}

// TestDummyPrimary loads gpg's --export-secret-subkeys output: the primary
// is a gnu-dummy stub, the subkey still unlocks.
func TestDummyPrimary(t *testing.T) {
	set := fixtures.Load(t)
	fk := set.Key(t, "gpg-cv25519-dummy-primary")
	f, sub := load(t, fk)
	for _, k := range f.SoftKeys() {
		if k == sub {
			continue
		}
		if err := k.Available(ctx); err == nil || !strings.Contains(err.Error(), "gnu-dummy") {
			t.Errorf("primary Available = %v", err)
		}
	}
	if err := sub.Unlock(ctx, []byte(fk.Passphrase)); err != nil {
		t.Fatal(err)
	}
}

// TestDirectory loads a directory of keys with non-key files in it.
func TestDirectory(t *testing.T) {
	set := fixtures.Load(t)
	dir := t.TempDir()
	a, b := set.Key(t, "gpg-cv25519"), set.Key(t, "sq-cv25519")
	copyFile(t, a.KeyFile, filepath.Join(dir, "a.key"))
	copyFile(t, b.KeyFile, filepath.Join(dir, "b.asc"))
	copyFile(t, a.CertFile, filepath.Join(dir, "a.cert"))
	os.WriteFile(filepath.Join(dir, "README"), []byte("keys for the root disk\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	be, err := New([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(be.Files()) != 2 {
		t.Fatalf("%d files loaded", len(be.Files()))
	}
	sk := be.Skipped()
	if len(sk) != 3 {
		t.Fatalf("skipped %+v", sk)
	}
	for _, s := range sk {
		switch filepath.Base(s.Path) {
		case "a.cert":
			if !strings.Contains(s.Reason, "public certificate") {
				t.Errorf("a.cert: %s", s.Reason)
			}
		case "README":
			if !strings.Contains(s.Reason, "not an OpenPGP key file") {
				t.Errorf("README: %s", s.Reason)
			}
		}
	}
	devs, _ := be.Devices(ctx)
	if len(devs) != 2 || devs[0].ID() != filepath.Join(dir, "a.key") {
		t.Fatalf("devices %v", devs)
	}

	// A damaged key file is an error naming it.
	raw := fixtures.ReadFile(t, a.KeyFile)
	os.WriteFile(filepath.Join(dir, "c.key"), raw[:len(raw)/2], 0o600)
	if _, err := New([]string{dir}); err == nil || !strings.Contains(err.Error(), "c.key") || !strings.Contains(err.Error(), "export the key again") {
		t.Errorf("damaged file: %v", err)
	}
	os.Remove(filepath.Join(dir, "c.key"))

	// An unreadable entry (a dangling link, since root reads anything) too.
	os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "d.key"))
	if _, err := New([]string{dir}); err == nil || !strings.Contains(err.Error(), "d.key") {
		t.Errorf("unreadable file: %v", err)
	}

	// A missing path, an empty directory, a certificate given as a key file.
	if _, err := New([]string{filepath.Join(dir, "nope")}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing path: %v", err)
	}
	empty := t.TempDir()
	if be, err := New([]string{empty}); err != nil || len(be.Files()) != 0 || len(be.Skipped()) != 1 ||
		be.Skipped()[0].Path != empty || !strings.Contains(be.Skipped()[0].Reason, "no OpenPGP secret key") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := New([]string{a.CertFile}); err == nil || !strings.Contains(err.Error(), "public certificate") {
		t.Errorf("cert as key: %v", err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, fixtures.ReadFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUnlockAllSharedS2K: go-crypto protects all keys of an entity with one
// S2K specifier, so UnlockAll derives once; gpg salts each key separately.
func TestUnlockAllSharedS2K(t *testing.T) {
	set := fixtures.Load(t)
	for _, c := range []struct {
		name string
		runs int64
	}{{"gocrypto-v4-cv25519-cfb", 1}, {"gpg-cv25519", 2}} {
		fk := set.Key(t, c.name)
		f, _ := load(t, fk)
		before := derivations.Load()
		if err := f.UnlockAll(ctx, []byte(fk.Passphrase)); err != nil {
			t.Fatal(err)
		}
		if n := derivations.Load() - before; n != c.runs {
			t.Errorf("%s: %d S2K runs for %d keys, want %d", c.name, n, len(f.SoftKeys()), c.runs)
		}
		for _, k := range f.SoftKeys() {
			if k.Locked() {
				t.Errorf("%s: key %X still locked", c.name, k.Fingerprint())
			}
		}
	}
}

// TestConcurrentLock decrypts from several goroutines while another one
// locks the key again and again: no decryption may see a wiped key.
func TestConcurrentLock(t *testing.T) {
	set := fixtures.Load(t)
	fk := set.Key(t, "gpg-cv25519-clear")
	_, k := load(t, fk)
	m := fk.Messages[0]
	msg := readMessage(t, m)
	p := pkesks(t, msg)[0]
	want := fixtures.ReadFile(t, m.Plaintext)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			k.Lock()
		}
	}()
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				sk, err := k.DecryptPKESK(ctx, p)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(decryptData(t, msg, sk), want) {
					errs <- errors.New("wrong plaintext")
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-done
}
