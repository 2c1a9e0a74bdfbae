package tlv

import "testing"

// appRelatedData builds a DO 6E like an OpenPGP card returns it: AID,
// historical bytes, and a discretionary-data DO with algorithm
// attributes, fingerprints and PW status.
func appRelatedData() []byte {
	var disc []byte
	disc = Append(disc, 0xC0, make([]byte, 10))
	disc = Append(disc, 0xC1, []byte{0x16, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01})
	disc = Append(disc, 0xC2, []byte{0x12, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01})
	disc = Append(disc, 0xC3, []byte{0x16, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01})
	disc = Append(disc, 0xC4, []byte{0x00, 0x7F, 0x7F, 0x7F, 0x03, 0x00, 0x03})
	disc = Append(disc, 0xC5, make([]byte, 60))
	disc = Append(disc, 0xC6, make([]byte, 60))
	disc = Append(disc, 0xCD, make([]byte, 12))
	var b []byte
	b = Append(b, 0x4F, make([]byte, 16))
	b = Append(b, 0x5F52, make([]byte, 10))
	b = Append(b, 0x73, disc)
	return Encode(0x6E, b)
}

// BenchmarkParse measures parsing an application-related-data DO (6E).
func BenchmarkParse(b *testing.B) {
	data := appRelatedData()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFind measures finding the fingerprints DO (C5) nested in 6E/73.
func BenchmarkFind(b *testing.B) {
	data := appRelatedData()
	for b.Loop() {
		if _, ok := Find(data, 0xC5); !ok {
			b.Fatal("C5 not found")
		}
	}
}
