package iso7816

import "testing"

// psoDecipher is a PSO:DECIPHER command for a cv25519 key, as keyunlock
// sends it: 00 2A 80 86, the A6/7F49/86 wrapped ephemeral point, Le 00.
func psoDecipher() Command {
	data := append([]byte{0xA6, 0x25, 0x7F, 0x49, 0x22, 0x86, 0x20}, make([]byte, 32)...)
	return Command{CLA: 0x00, INS: 0x2A, P1: 0x80, P2: 0x86, Data: data, Ne: 256}
}

// BenchmarkEncodeCommand measures encoding a command APDU.
func BenchmarkEncodeCommand(b *testing.B) {
	c := psoDecipher()
	for b.Loop() {
		if _, err := c.Encode(false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCommand measures parsing a command APDU.
func BenchmarkParseCommand(b *testing.B) {
	raw, err := psoDecipher().Encode(true)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := ParseCommand(raw); err != nil {
			b.Fatal(err)
		}
	}
}
