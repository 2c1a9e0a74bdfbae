package softkeys

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	gos2k "github.com/ProtonMail/go-crypto/openpgp/s2k"
)

// FuzzParseKeys feeds damaged key files to the parser and, when they load,
// tries to unlock every key: nothing may panic, and the limits must hold.
func FuzzParseKeys(f *testing.F) {
	for _, cfg := range []*packet.Config{
		{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, S2KConfig: &gos2k.Config{S2KMode: gos2k.IteratedSaltedS2K, S2KCount: 1024}},
		{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519, AEADConfig: &packet.AEADConfig{},
			S2KConfig: &gos2k.Config{S2KMode: gos2k.Argon2S2K, Argon2Config: &gos2k.Argon2Config{NumberOfPasses: 1, DegreeOfParallelism: 1, Memory: 64}}},
	} {
		e, err := openpgp.NewEntity("f", "", "f@keyunlock.test", cfg)
		if err != nil {
			f.Fatal(err)
		}
		var clear, prot bytes.Buffer
		e.SerializePrivate(&clear, nil)
		f.Add(clear.Bytes())
		if err := e.EncryptPrivateKeys([]byte("pw"), cfg); err != nil {
			f.Fatal(err)
		}
		e.SerializePrivateWithoutSigning(&prot, nil)
		f.Add(prot.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := parseKeys("fuzz", bytes.Clone(data))
		if err != nil {
			return
		}
		for _, k := range fl.keys {
			// Valid but costly S2K parameters are not what fuzzing is for.
			if p := k.prot.s2k; p != nil && (p.Mode == 4 && (p.MemoryExp > 10 || p.Passes > 2) || p.Count > 1<<16) {
				continue
			}
			k.Unlock(ctx, []byte("pw"))
			k.Lock()
		}
	})
}
