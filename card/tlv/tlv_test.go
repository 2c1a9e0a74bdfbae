package tlv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestParseNested(t *testing.T) {
	// 6E { 4F 02 D276, 73 { 7F66 08 0202 0BFE 0202 0BFE, C0 01 7D }, 5F52 03 007300 }
	b, _ := hex.DecodeString("6e1a4f02d276730e7f660802020bfe02020bfec0017d5f5203007300")
	v, ok := Find(b, 0x7F66)
	if !ok || hex.EncodeToString(v) != "02020bfe02020bfe" {
		t.Fatalf("7F66 = %x, %v", v, ok)
	}
	if v, ok := Find(b, 0x5F52); !ok || hex.EncodeToString(v) != "007300" {
		t.Fatalf("5F52 = %x, %v", v, ok)
	}
	if v, ok := Find(b, 0xC0); !ok || !bytes.Equal(v, []byte{0x7D}) {
		t.Fatalf("C0 = %x, %v", v, ok)
	}
	items, err := Parse(b)
	if err != nil || len(items) != 1 || items[0].Tag != 0x6E {
		t.Fatalf("Parse: %v %v", items, err)
	}
}

func TestLongFormLengths(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 3000, 70000} {
		v := bytes.Repeat([]byte{0xAB}, n)
		enc := Encode(0x7F49, v)
		got, rest, err := Next(enc)
		if err != nil || len(rest) != 0 || got.Tag != 0x7F49 || !bytes.Equal(got.Value, v) {
			t.Fatalf("n=%d: %v %x", n, err, enc[:8])
		}
	}
	// The P-521 PSO data framing from the transcripts: A6 81 8C 7F49 81 88 86 81 85.
	enc := Encode(0xA6, Encode(0x7F49, Encode(0x86, make([]byte, 133))))
	if hex.EncodeToString(enc[:9]) != "a6818c7f4981888681" || enc[9] != 0x85 {
		t.Fatalf("framing %x", enc[:10])
	}
}

func TestMalformed(t *testing.T) {
	for _, h := range []string{
		"",           // nothing
		"5f",         // truncated tag
		"5f8181",     // truncated 3-byte tag
		"5f81818101", // 4-byte tag
		"c0",         // missing length
		"c080",       // indefinite
		"c08401000000",
		"c082",   // truncated length
		"c00501", // value shorter than length
		"c0820100",
	} {
		b, _ := hex.DecodeString(h)
		if _, _, err := Next(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v", h, err)
		}
	}
}

func TestDepthBound(t *testing.T) {
	b := []byte{0x04, 0x01, 0x00}
	for i := 0; i < 50; i++ {
		b = Encode(0x30, b)
	}
	if _, ok := Find(b, 0x04); ok {
		t.Fatal("Find descended deeper than MaxDepth")
	}
}

func FuzzParse(f *testing.F) {
	for _, h := range []string{
		"6e1a4f02d276730e7f660802020bfe02020bfec0017d5f5203007300",
		"a6818c7f4981888681850400",
		"7f4922862020",
		"8101038201088304000186a08408abababababababab",
	} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := Parse(b)
		if err != nil {
			return
		}
		// Re-encoding the parsed objects in canonical form parses to the same objects.
		var enc []byte
		for _, it := range items {
			enc = Append(enc, it.Tag, it.Value)
		}
		again, err := Parse(enc)
		if err != nil || len(again) != len(items) {
			t.Fatalf("re-parse: %v", err)
		}
		for i := range items {
			if again[i].Tag != items[i].Tag || !bytes.Equal(again[i].Value, items[i].Value) {
				t.Fatalf("object %d changed", i)
			}
		}
		for _, it := range items {
			Find(it.Value, 0x86)
		}
	})
}
