package openpgp

import (
	"encoding/hex"
	"testing"
)

func TestParseAlgoAttr(t *testing.T) {
	for _, tc := range []struct{ hex, want string }{
		{"010800001100", "rsa2048"},
		{"0110000020", "rsa4096"},
		{"122b060104019755010501", "cv25519"},
		{"122b060104019755010501ff", "cv25519"},     // import format with public key
		{"162b06010401da470f0100", "ed25519"},       // YubiKey 5.2: a bogus byte after the OID
		{"122a8648ce3d03010700", "nistp256"},        // the same on an ECDH key
		{"132b81040023", "nistp521"},                //
		{"122b2403030208010107", "brainpoolP256r1"}, //
		{"", "none"},
	} {
		b, _ := hex.DecodeString(tc.hex)
		a, err := ParseAlgoAttr(b)
		if err != nil || a.String() != tc.want {
			t.Errorf("%s: %q %v, want %s", tc.hex, a, err, tc.want)
		}
	}
	for _, bad := range []string{"01", "0100100011", "01ffff0011"} {
		b, _ := hex.DecodeString(bad)
		if _, err := ParseAlgoAttr(b); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if a, _ := ParseAlgoAttr([]byte{0x12, 1, 2, 3}); a.IsECC() || a.String() == "" {
		t.Errorf("unknown OID: %s", a)
	}
}

func TestNormaliseShared(t *testing.T) {
	p256, _ := CurveByOID([]byte{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07})
	x := make([]byte, 32)
	x[0], x[31] = 0xAA, 0xBB
	gnuk := append(append([]byte{0x04}, x...), make([]byte, 32)...)
	for _, in := range [][]byte{x, gnuk} {
		out, err := normaliseShared(in, p256)
		if err != nil || hex.EncodeToString(out) != hex.EncodeToString(x) {
			t.Errorf("%x: %x %v", in, out, err)
		}
	}
	if _, err := normaliseShared(make([]byte, 40), p256); err == nil {
		t.Error("40-byte secret accepted")
	}
}
