package softkeys

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
)

// TestDecryptMessage runs every fixture message through core's Keystore and
// DecryptMessage with this backend, answering the passphrase prompt (a wrong
// passphrase first), and checks the plaintext and the key that was used.
func TestDecryptMessage(t *testing.T) {
	set := fixtures.Load(t)
	for _, fk := range set.Keys {
		if fk.OnCard {
			continue
		}
		for _, m := range fk.Messages {
			t.Run(fk.Name+"/"+m.Tool+"-"+m.Format, func(t *testing.T) {
				b, err := New([]string{fk.KeyFile})
				if err != nil {
					t.Fatal(err)
				}
				var answers []string
				if fk.Passphrase != "" {
					answers = []string{"wrong", fk.Passphrase}
				}
				pr := core.NewScriptedPrompter(answers...)
				msg, err := core.DecryptMessage(ctx, core.NewKeystore(b), bytes.NewReader(fixtures.ReadFile(t, m.File)), core.DecryptOptions{Prompter: pr})
				if err != nil {
					t.Fatal(err)
				}
				defer msg.Wipe()
				if !bytes.Equal(msg.Plaintext, fixtures.ReadFile(t, m.Plaintext)) {
					t.Fatal("wrong plaintext")
				}
				if msg.Result.Fingerprint != fk.EncryptFpr {
					t.Errorf("used key %s, want %s", msg.Result.Fingerprint, fk.EncryptFpr)
				}
				if len(pr.Asked()) != len(answers) {
					t.Errorf("asked %d times for %d answers", len(pr.Asked()), len(answers))
				}
			})
		}
	}
}

// TestDecryptMessageCardStub: with only the card stub file, the message
// cannot be decrypted and the error says the key is on a card.
func TestDecryptMessageCardStub(t *testing.T) {
	set := fixtures.Load(t)
	fk := set.Key(t, "gpg-cv25519-card")
	b, err := New([]string{fk.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	_, err = core.DecryptMessage(ctx, core.NewKeystore(b), bytes.NewReader(fixtures.ReadFile(t, fk.Messages[0].File)), core.DecryptOptions{Prompter: core.NewScriptedPrompter()})
	if err == nil || !strings.Contains(err.Error(), "on a card, serial 0006:12345678") {
		t.Fatalf("err = %v", err)
	}
}

// TestDecryptMultiOnlyB decrypts a message to A and B with only B's key.
func TestDecryptMultiOnlyB(t *testing.T) {
	set := fixtures.Load(t)
	for _, m := range set.Multi {
		kb := set.Key(t, m.Recipients[1])
		b, err := New([]string{kb.KeyFile})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := core.DecryptMessage(ctx, core.NewKeystore(b), bytes.NewReader(fixtures.ReadFile(t, m.File)),
			core.DecryptOptions{Prompter: core.NewScriptedPrompter(kb.Passphrase)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(msg.Plaintext, fixtures.ReadFile(t, m.Plaintext)) || msg.Result.Fingerprint != kb.EncryptFpr {
			t.Fatalf("plaintext or key wrong: %+v", msg.Result)
		}
	}
}

// TestListKeys checks what core reports for a soft key file.
func TestListKeys(t *testing.T) {
	set := fixtures.Load(t)
	fk := set.Key(t, "gpg-nistp384")
	b, err := New([]string{fk.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	infos, err := core.NewKeystore(b).ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]core.KeyInfo{}
	for _, i := range infos {
		got[i.Fingerprint] = i
	}
	sub, ok := got[fk.EncryptFpr]
	if !ok {
		t.Fatalf("subkey missing from %+v", infos)
	}
	want := fmt.Sprintf("%s encrypt password locked file %s primary %s", "nistp384", fk.KeyFile, fk.Fingerprint)
	have := fmt.Sprintf("%s %s %s %v file %s primary %s", sub.Algorithm, strings.Join(sub.Capabilities, ","), sub.Lock, map[bool]string{true: "locked", false: "unlocked"}[sub.Locked], strings.TrimPrefix(sub.Source, "file "), sub.PrimaryFpr)
	if have != want {
		t.Errorf("subkey info %q, want %q", have, want)
	}
	if !strings.Contains(sub.UserID, "gpg-nistp384@keyunlock.test") {
		t.Errorf("uid %q", sub.UserID)
	}
}
