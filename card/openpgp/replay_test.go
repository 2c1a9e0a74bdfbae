package openpgp

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/card/internal/replay"
	"github.com/keyunlock/keyunlock/card/iso7816"
	"github.com/keyunlock/keyunlock/card/tlv"
)

// ykSerial is the YubiKey's serial 23852774, which Yubico stores as BCD digits.
const ykSerial = 0x23852774

func loadAll(t *testing.T) []*replay.Transcript {
	t.Helper()
	dir, err := replay.Dir()
	if err != nil {
		t.Fatal(err)
	}
	all, err := replay.All(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 57 {
		t.Fatalf("found %d transcripts in %s, want 57", len(all), dir)
	}
	return all
}

func loadOne(t *testing.T, name string) *replay.Transcript {
	t.Helper()
	dir, err := replay.Dir()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := replay.Load(filepath.Join(dir, name, "yk-5.4.3"))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func isGetData(cmd []byte, tag uint16) bool {
	return len(cmd) >= 4 && cmd[0] == 0 && cmd[1] == 0xCA && cmd[2] == byte(tag>>8) && cmd[3] == byte(tag)
}

// TestReplayEveryTranscript walks every recorded exchange of all 57
// transcripts: each command must decode and re-encode to the same bytes,
// and every ARD (joined across 61xx/GET RESPONSE), C4 and F9 answer must
// parse into the YubiKey's known values.
func TestReplayEveryTranscript(t *testing.T) {
	ards := 0
	for _, tr := range loadAll(t) {
		if tr.Meta["yubikey.serial"] != "" && tr.Meta["yubikey.serial"] != "23852774" {
			t.Errorf("%s: serial meta %q", tr.Path, tr.Meta["yubikey.serial"])
		}
		for i, ex := range tr.Exchanges {
			c, ext, err := iso7816.ParseCommand(ex.Cmd)
			if err != nil {
				t.Fatalf("%s #%d: %v", tr.Path, i, err)
			}
			enc, err := c.Encode(ext)
			if err != nil || !bytes.Equal(enc, ex.Cmd) {
				t.Fatalf("%s #%d: re-encoded %X, want %X (%v)", tr.Path, i, enc, ex.Cmd, err)
			}
			if len(ex.Resp) < 2 {
				t.Fatalf("%s #%d: response without status", tr.Path, i)
			}
			switch {
			case isGetData(ex.Cmd, 0x6E):
				// Run it through the Client to join 61xx answers.
				rt := replay.NewTransport(&replay.Transcript{Exchanges: tr.Exchanges[i:]})
				cl := &iso7816.Client{T: rt}
				data, err := cl.Do(c)
				if err != nil {
					t.Fatalf("%s #%d: GET DATA 6E: %v", tr.Path, i, err)
				}
				a, err := ParseARD(data)
				if err != nil {
					t.Fatalf("%s #%d: %v", tr.Path, i, err)
				}
				checkYubiKeyARD(t, tr.Path, a)
				ards++
			case isGetData(ex.Cmd, 0xC4):
				if _, err := ParsePWStatus(ex.Resp[:len(ex.Resp)-2]); err != nil {
					t.Errorf("%s #%d: %v", tr.Path, i, err)
				}
			case isGetData(ex.Cmd, 0xF9) && bytes.HasSuffix(ex.Resp, []byte{0x90, 0}):
				k, err := ParseKDF(ex.Resp[:len(ex.Resp)-2])
				if err != nil {
					t.Errorf("%s #%d: F9: %v", tr.Path, i, err)
				}
				if hex.EncodeToString(ex.Resp) == "8101009000" && k != nil {
					t.Errorf("%s #%d: 81 01 00 must mean KDF off", tr.Path, i)
				}
			}
		}
	}
	if ards < 57 {
		t.Errorf("parsed %d ARDs, want at least one per transcript", ards)
	}
}

func checkYubiKeyARD(t *testing.T, where string, a *ARD) {
	t.Helper()
	if a.Serial != ykSerial || a.SerialString() != "23852774" {
		t.Errorf("%s: serial %d (%s)", where, a.Serial, a.SerialString())
	}
	if a.Version != [2]byte{3, 4} || a.Manufacturer != 6 || a.ManufacturerName() != "Yubico" {
		t.Errorf("%s: version %v manufacturer %04X", where, a.Version, a.Manufacturer)
	}
	if a.AIDString() != "D2760001240103040006238527740000" {
		t.Errorf("%s: AID %s", where, a.AIDString())
	}
	if !a.HistCapsOK || !a.HistChaining || !a.HistExtended {
		t.Errorf("%s: 5F52 caps %v/%v/%v", where, a.HistCapsOK, a.HistChaining, a.HistExtended)
	}
	if a.MaxCmd != 0x0BFE || a.MaxResp != 0x0BFE {
		t.Errorf("%s: 7F66 %d/%d", where, a.MaxCmd, a.MaxResp)
	}
	if !a.ExtCaps.KDF || a.ExtCaps.MSE || a.ExtCaps.MaxSpecial != 0xFF {
		t.Errorf("%s: C0 %+v", where, a.ExtCaps)
	}
	if a.PWStatus.MaxPW1 != 0x7F || a.PWStatus.TriesPW3 == 0 && a.PWStatus.TriesPW1 == 0 {
		t.Errorf("%s: C4 %+v", where, a.PWStatus)
	}
	for i := 0; i < 3; i++ {
		if a.Attrs[i].Algo == 0 || a.Attrs[i].String() == "" || strings.HasPrefix(a.Attrs[i].String(), "algo") {
			t.Errorf("%s: attributes %d: %X", where, i, a.Attrs[i].Raw)
		}
		if !a.UIF[i].Present || a.UIF[i].Enabled() || a.UIF[i].Feature != 0x20 {
			t.Errorf("%s: UIF %d %+v", where, i, a.UIF[i])
		}
	}
}

// TestReplayFactoryARD checks the exact values of the factory-state ARD.
func TestReplayFactoryARD(t *testing.T) {
	tr := loadOne(t, "TestApplicationRelated")
	rt := replay.NewTransport(tr)
	c := New(rt, iso7816.Caps{})
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	a := c.ARD
	if got := [3]string{a.Attrs[0].String(), a.Attrs[1].String(), a.Attrs[2].String()}; got != [3]string{"rsa2048", "rsa2048", "rsa2048"} {
		t.Errorf("attributes %v", got)
	}
	if a.PWStatus != (PWStatus{PW1ValidMulti: true, MaxPW1: 127, MaxRC: 127, MaxPW3: 127, TriesPW1: 3, TriesRC: 0, TriesPW3: 3}) {
		t.Errorf("PW status %+v", a.PWStatus)
	}
	if c.KDF != nil {
		t.Errorf("KDF %+v, want off", c.KDF)
	}
	// SELECT, GET DATA 6E (short: 61 3B), GET RESPONSE, GET DATA F9 (C0 says KDF-DO supported).
	if rt.Sent != 4 {
		t.Errorf("Open sent %d APDUs: %X", rt.Sent, rt.Log)
	}
	if !c.Caps().Extended || !c.Caps().Chaining || c.Caps().MaxResp != 0x0BFE {
		t.Errorf("caps after ARD: %+v", c.Caps())
	}
}

// TestReplayECDH replays the four PSO:DECIPHER transcripts: open the card
// in its final state, VERIFY 82, then decipher the recorded ephemeral point
// and compare the secret with the card's recorded answer.
func TestReplayECDH(t *testing.T) {
	for _, tc := range []struct {
		name, curve string
		size        int
	}{
		{"X25519", "cv25519", 32},
		{"ANSIx9p256r1", "nistp256", 32},
		{"ANSIx9p384r1", "nistp384", 48},
		{"ANSIx9p521r1", "nistp521", 66},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := loadOne(t, "TestSharedKeyECDH/"+tc.name)
			var pso replay.Exchange
			for _, ex := range tr.Exchanges {
				if bytes.HasPrefix(ex.Cmd, []byte{0x00, 0x2A, 0x80, 0x86}) {
					pso = ex
				}
			}
			c0, _, err := iso7816.ParseCommand(pso.Cmd)
			if err != nil {
				t.Fatal(err)
			}
			point, ok := tlv.Find(c0.Data, 0x86)
			if !ok {
				t.Fatal("no 86 in the recorded PSO")
			}
			rt := replay.NewTransport(tr)
			rt.SeekLast(func(cmd []byte) bool { return isGetData(cmd, 0x6E) })
			// The ATR's historical bytes announce extended length.
			caps := iso7816.Caps{}
			atr, _ := hex.DecodeString(tr.Meta["status.atr"])
			h, err := iso7816.HistoricalBytes(atr)
			if err != nil {
				t.Fatal(err)
			}
			caps.Chaining, caps.Extended, _ = iso7816.CapsFromHistorical(h)
			c := New(rt, caps)
			if err := c.Select(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ReadARD(); err != nil {
				t.Fatal(err)
			}
			dec := c.ARD.Attrs[SlotDec]
			// go-openpgp-card set algo 16 (EdDSA) with the cv25519 OID for the
			// DEC slot, and the YubiKey took it: decide by the curve.
			if dec.Curve.Name != tc.curve {
				t.Fatalf("DEC attributes %X parsed as %s", dec.Raw, dec)
			}
			if c.ARD.Fingerprints[SlotDec] == nil {
				t.Fatal("no DEC fingerprint after key generation")
			}
			if err := c.Verify(PW1Decrypt, []byte("123456")); err != nil {
				t.Fatal(err)
			}
			secret, err := c.DecipherECDH(point, dec.Curve)
			if err != nil {
				t.Fatal(err)
			}
			if len(secret) != tc.size || !bytes.Equal(secret, pso.Resp[:len(pso.Resp)-2]) {
				t.Errorf("secret %X, recorded %X", secret, pso.Resp)
			}
			// The command we sent is byte-identical to the recording apart from Le.
			sent := rt.Log[len(rt.Log)-1]
			if !bytes.HasPrefix(sent, pso.Cmd) || len(sent) != len(pso.Cmd)+1 {
				t.Errorf("PSO sent %X, recorded %X", sent, pso.Cmd)
			}
			// Cold unlock: SELECT, GET DATA 6E (extended Le), VERIFY, PSO.
			if rt.Sent != 4 {
				t.Errorf("%d APDUs for a cold unlock: %X", rt.Sent, rt.Log)
			}
		})
	}
}

// TestReplayKDF checks HashPIN against the hashed PINs the YubiKey accepted
// after PUT DATA F9 (SHA-512, count 100000, salt AB×8).
func TestReplayKDF(t *testing.T) {
	tr := loadOne(t, "TestSetupKDF")
	var kdf *KDF
	var checked int
	for _, ex := range tr.Exchanges {
		c, _, err := iso7816.ParseCommand(ex.Cmd)
		if err != nil {
			t.Fatal(err)
		}
		if c.INS == 0xDA && c.P2 == 0xF9 {
			k, err := ParseKDF(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			if k != nil {
				kdf = k
			}
			continue
		}
		if kdf != nil && c.INS == 0x20 && len(c.Data) == 64 && bytes.HasSuffix(ex.Resp, []byte{0x90, 0}) {
			pin := "123456"
			if c.P2 == PW3 {
				pin = "12345678"
			}
			if got := kdf.HashPIN(c.P2, []byte(pin)); !bytes.Equal(got, c.Data) {
				t.Errorf("VERIFY %02X: hash %X, card accepted %X", c.P2, got, c.Data)
			}
			checked++
		}
	}
	if kdf == nil || kdf.HashID != 0x0A || kdf.Count != 100000 || checked < 3 {
		t.Fatalf("KDF %+v, %d VERIFYs checked", kdf, checked)
	}
}

// TestReplayRetryCounter checks the tries-left decoding across five wrong PINs.
func TestReplayRetryCounter(t *testing.T) {
	tr := loadOne(t, "TestSetRetryCounters")
	var tries []int
	wrong := 0
	for _, ex := range tr.Exchanges {
		if isGetData(ex.Cmd, 0xC4) {
			s, err := ParsePWStatus(ex.Resp[:len(ex.Resp)-2])
			if err != nil {
				t.Fatal(err)
			}
			tries = append(tries, s.TriesPW1)
		}
		if len(ex.Cmd) > 4 && ex.Cmd[1] == 0x20 && pinError(statusOf(ex.Resp)) != nil && strings.Contains(pinError(statusOf(ex.Resp)).Error(), ErrWrongPIN.Error()) {
			wrong++
		}
	}
	if wrong != 5 || len(tries) < 2 || tries[len(tries)-2] != 11 || tries[len(tries)-1] != 6 {
		t.Errorf("wrong PINs %d, tries seen %v", wrong, tries)
	}
}

func statusOf(resp []byte) error {
	sw := uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1])
	if sw == iso7816.SWOK {
		return nil
	}
	return &iso7816.StatusError{SW: sw}
}
