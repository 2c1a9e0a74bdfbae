package hostile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/internal/pgptest"
)

// TestNoPINInOutput is TestNoSecretInOutput for a card: the simulator
// behind an isolated pcscd, a wrong and the right PIN, co-located and
// through the daemon; no PIN, session key material or plaintext may appear
// in any output stream or in the daemon's log.
func TestNoPINInOutput(t *testing.T) {
	srv := pcsctest.Start(t)
	dir := t.TempDir()
	c, err := sim.New(t.TempDir(), sim.Options{Serial: 0x55AA7701})
	if err != nil {
		t.Fatal(err)
	}
	e, err := openpgp.NewEntity("Card Secret Test", "", "card@keyunlock.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportKey(sim.SlotDec, e.Subkeys[0].PrivateKey); err != nil {
		t.Fatal(err)
	}
	srv.InsertCard(t, 0, c)

	s := &secretSet{dir: dir, secrets: map[string][]byte{"the PIN": []byte("123456"), "the wrong PIN": []byte("864297")}}
	s.plaintext = []byte("CARD-KEYFILE-plaintext-never-in-logs")
	var mb, cb bytes.Buffer
	if err := core.Encrypt(&mb, pgptest.AllFromGoCrypto(t, e.Subkeys[0].PublicKey), s.plaintext); err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(&cb); err != nil {
		t.Fatal(err)
	}
	s.msg = filepath.Join(dir, "msg.pgp")
	cert := filepath.Join(dir, "cert.pgp")
	pin, wrong := filepath.Join(dir, "pin"), filepath.Join(dir, "wrong")
	for p, b := range map[string][]byte{s.msg: mb.Bytes(), cert: cb.Bytes(), pin: []byte("123456\n"), wrong: []byte("864297\n")} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{srv.Env()}
	check := s.checker(t)
	check(runCLIEnv(t, env, "decrypt", "--card", "--card-cert", cert, "--passphrase-file", wrong, s.msg), false, false)
	check(runCLIEnv(t, env, "decrypt", "--card", "--card-cert", cert, "--passphrase-file", pin, s.msg), true, true)
	check(runCLIEnv(t, env, "list", "--card"), true, false)

	sock := s.serve(t, append([]string{"KEYUNLOCK_KEYS=/nonexistent/keyunlock-hostile"}, env...), "--card")
	check(runCLIEnv(t, env, "unlock", "--socket", sock, "--passphrase-file", wrong), false, false)
	check(runCLIEnv(t, env, "unlock", "--socket", sock, "--passphrase-file", pin), true, false)
	check(runCLIEnv(t, env, "decrypt", "--socket", sock, s.msg), true, true)
	check(runCLIEnv(t, env, "lock", "--socket", sock), true, false)
}
