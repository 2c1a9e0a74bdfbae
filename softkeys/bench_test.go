package softkeys

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
)

// benchUnlock measures Unlock+Lock of a fixture's encryption subkey.
func benchUnlock(b *testing.B, name string) {
	set := fixtures.Load(b)
	fk := set.Key(b, name)
	_, k := load(b, fk)
	pass := []byte(fk.Passphrase)
	defer reportCPU(b)()
	for b.Loop() {
		if err := k.Unlock(ctx, pass); err != nil {
			b.Fatal(err)
		}
		k.Lock()
	}
}

// reportCPU adds the process CPU time per operation (user+system) to the
// benchmark: on a shared, loaded machine it is steadier than wall time.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkUnlockCV25519 unlocks gpg's cv25519 subkey (iterated SHA-1,
// count 65011712, AES-128): the soft-key unlock time users wait for.
func BenchmarkUnlockCV25519(b *testing.B) { benchUnlock(b, "gpg-cv25519") }

// BenchmarkUnlockRSA3072 unlocks gpg's RSA-3072 subkey at the same count.
func BenchmarkUnlockRSA3072(b *testing.B) { benchUnlock(b, "gpg-rsa3072") }

// BenchmarkUnlockSqCV25519 unlocks sq's cv25519 subkey (iterated SHA-256, AES-256).
func BenchmarkUnlockSqCV25519(b *testing.B) { benchUnlock(b, "sq-cv25519") }

// BenchmarkUnlockArgon2X25519 unlocks a v6 key protected with Argon2 (64 MiB, p=2) and OCB.
func BenchmarkUnlockArgon2X25519(b *testing.B) { benchUnlock(b, "gocrypto-v6-x25519") }

// BenchmarkUnlockCV25519GoCrypto is the same unlock through go-crypto's own
// PrivateKey.Decrypt, for comparison.
func BenchmarkUnlockCV25519GoCrypto(b *testing.B) {
	set := fixtures.Load(b)
	fk := set.Key(b, "gpg-cv25519")
	_, k := load(b, fk)
	pkt := pgppacket.Append(nil, k.tag, k.body)
	pass := []byte(fk.Passphrase)
	defer reportCPU(b)()
	for b.Loop() {
		p, err := packet.Read(bytes.NewReader(pkt))
		if err != nil {
			b.Fatal(err)
		}
		if err := p.(*packet.PrivateKey).Decrypt(pass); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptPKESK measures session-key decryption per algorithm with
// an unlocked key.
func BenchmarkDecryptPKESK(b *testing.B) {
	set := fixtures.Load(b)
	for _, name := range []string{"gpg-cv25519", "gpg-rsa3072", "gpg-nistp256", "gpg-nistp521", "gpg-brainpoolP256r1", "gocrypto-v6-x25519", "gocrypto-v6-x448"} {
		b.Run(name, func(b *testing.B) {
			fk := set.Key(b, name)
			_, k := load(b, fk)
			if fk.Passphrase != "" {
				if err := k.Unlock(ctx, []byte(fk.Passphrase)); err != nil {
					b.Fatal(err)
				}
			}
			var p = pkesks(b, readMessage(b, fk.Messages[0]))[0]
			for b.Loop() {
				sk, err := k.DecryptPKESK(ctx, p)
				if err != nil {
					b.Fatal(err)
				}
				sk.Wipe()
			}
		})
	}
}

// BenchmarkLoad measures parsing a key file and checking its
// self-signatures, which happens on first need (no S2K).
func BenchmarkLoad(b *testing.B) {
	set := fixtures.Load(b)
	fk := set.Key(b, "gpg-cv25519")
	for b.Loop() {
		be, err := New([]string{fk.KeyFile})
		if err != nil {
			b.Fatal(err)
		}
		be.Files()[0].SoftKeys()[0].CanDecrypt()
	}
}

// BenchmarkColdDecrypt is the whole in-process path of one boot unlock: load
// the key file, read the passphrase file, unlock (S2K count 65011712) and
// decrypt a 64-byte keyfile through core's Keystore, as keyunlock decrypt
// --passphrase-file does (the S2K runs while the self-signatures are
// checked). Only the process start is missing.
func BenchmarkColdDecrypt(b *testing.B) {
	set := fixtures.Load(b)
	for _, name := range []string{"gpg-cv25519", "gpg-rsa3072", "gpg-cv25519-clear", "gocrypto-v6-x25519"} {
		b.Run(name, func(b *testing.B) {
			fk := set.Key(b, name)
			msg := fixtures.ReadFile(b, fk.Messages[0].File)
			defer reportCPU(b)()
			for b.Loop() {
				be, err := New([]string{fk.KeyFile})
				if err != nil {
					b.Fatal(err)
				}
				var p core.Prompter = core.NewScriptedPrompter()
				if fk.PassFile != "" {
					p = core.NewFilePrompter(fk.PassFile)
				}
				m, err := core.DecryptMessage(ctx, core.NewKeystore(be), bytes.NewReader(msg), core.DecryptOptions{Prompter: p})
				if err != nil {
					b.Fatal(err)
				}
				m.Wipe()
			}
		})
	}
}
