package s2k

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	mrand "math/rand/v2"
	"syscall"
	"testing"
	"time"

	gos2k "github.com/ProtonMail/go-crypto/openpgp/s2k"
)

// TestIteratedMatchesGoCrypto is a property test: on random hashes, salts,
// passphrases, counts and output lengths the chunked S2K equals go-crypto's.
func TestIteratedMatchesGoCrypto(t *testing.T) {
	hashes := []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512}
	r := mrand.New(mrand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 60
	}
	for i := 0; i < n; i++ {
		h := hashes[r.IntN(len(hashes))]
		salt := make([]byte, []int{0, 8, 8, 16}[r.IntN(4)])
		rand.Read(salt)
		pass := make([]byte, r.IntN(200))
		rand.Read(pass)
		var count int
		switch r.IntN(4) {
		case 0:
			count = r.IntN(64) // below len(salt‖pass): hashed once
		case 1:
			count = DecodeCount(uint8(r.IntN(256)) & 0x6f) // coded counts up to ~4 MB
		default:
			count = r.IntN(300000)
		}
		outLen := []int{16, 24, 32, 48, 64, 100}[r.IntN(6)]
		want := make([]byte, outLen)
		got := make([]byte, outLen)
		if len(salt)+len(pass) == 0 {
			continue // go-crypto loops forever on empty input with count > 0
		}
		gos2k.Iterated(want, h.New(), pass, salt, count)
		IteratedKey(got, h.New, pass, salt, count)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: %v salt %d pass %d count %d out %d: got %x want %x", i, h, len(salt), len(pass), count, outLen, got, want)
		}
	}
}

// TestMaxCount checks the largest coded count against go-crypto once.
func TestMaxCount(t *testing.T) {
	salt := []byte("12345678")
	pass := []byte("correct horse battery staple")
	for _, l := range []int{16, 32} {
		want := make([]byte, l)
		got := make([]byte, l)
		gos2k.Iterated(want, sha1.New(), pass, salt, MaxCount)
		IteratedKey(got, sha1.New, pass, salt, MaxCount)
		if !bytes.Equal(got, want) {
			t.Fatalf("len %d: got %x want %x", l, got, want)
		}
	}
}

// TestParseMatchesGoCrypto parses specifiers serialized by go-crypto and
// derives the same keys through both implementations.
func TestParseMatchesGoCrypto(t *testing.T) {
	cfgs := []*gos2k.Config{
		{S2KMode: gos2k.IteratedSaltedS2K, Hash: crypto.SHA256, S2KCount: 65536},
		{S2KMode: gos2k.IteratedSaltedS2K, Hash: crypto.SHA512, S2KCount: 1 << 20},
		{S2KMode: gos2k.Argon2S2K, Argon2Config: &gos2k.Argon2Config{NumberOfPasses: 1, DegreeOfParallelism: 2, Memory: 64}},
	}
	for _, c := range cfgs {
		var spec bytes.Buffer
		want := make([]byte, 32)
		if err := gos2k.Serialize(&spec, want, rand.Reader, []byte("pw"), c); err != nil {
			t.Fatal(err)
		}
		p, n, err := Parse(spec.Bytes())
		if err != nil || n != spec.Len() {
			t.Fatalf("Parse(%x) = %v, %d, %v", spec.Bytes(), p, n, err)
		}
		got := make([]byte, 32)
		if err := p.Derive(got, []byte("pw")); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("mode %d: got %x want %x", p.Mode, got, want)
		}
	}
}

func TestParseGNU(t *testing.T) {
	serial := []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04, 0x00, 0x06, 0x12, 0x34, 0x56, 0x78, 0, 0}
	b := append([]byte{101, 2, 'G', 'N', 'U', 2, 16}, serial...)
	p, n, err := Parse(b)
	if err != nil || n != len(b) || p.GNUMode != GNUDivertToCard || !bytes.Equal(p.Serial, serial) {
		t.Fatalf("Parse divert = %+v, %d, %v", p, n, err)
	}
	p, n, err = Parse([]byte{101, 0, 'G', 'N', 'U', 1})
	if err != nil || n != 6 || p.GNUMode != GNUDummy {
		t.Fatalf("Parse dummy = %+v, %d, %v", p, n, err)
	}
	if err := p.Check(); err == nil {
		t.Fatal("Check accepted a GNU stub")
	}
}

func TestLimits(t *testing.T) {
	bad := []*Params{
		{Mode: Argon2, Passes: 1, Parallelism: 1, MemoryExp: 22},   // 4 GiB
		{Mode: Argon2, Passes: 200, Parallelism: 1, MemoryExp: 10}, // too many passes
		{Mode: Argon2, Passes: 1, Parallelism: 0, MemoryExp: 10},   // p = 0
		{Mode: Argon2, Passes: 1, Parallelism: 4, MemoryExp: 4},    // m < 8p
		{Mode: Argon2, Passes: 64, Parallelism: 4, MemoryExp: 21},  // 2 GiB × 64 passes
		{Mode: Argon2, Passes: 5, Parallelism: 4, MemoryExp: 21},   // 2 GiB × 5 passes
		{Mode: Iterated, HashID: 2, Count: MaxCount + 1},           // count
		{Mode: Iterated, HashID: 1, Count: 1024},                   // MD5
	}
	for _, p := range bad {
		if err := p.Derive(make([]byte, 16), []byte("x")); err == nil {
			t.Errorf("Derive(%+v) accepted", p)
		}
	}
}

// BenchmarkIterated measures the S2K at the largest coded count (gpg's
// default export), the figure the unlock time depends on.
func BenchmarkIterated(b *testing.B) {
	salt := []byte("saltsalt")
	pass := []byte("a reasonable passphrase")
	out := make([]byte, 16)
	b.SetBytes(MaxCount)
	defer reportCPU(b)()
	for b.Loop() {
		IteratedKey(out, sha1.New, pass, salt, MaxCount)
	}
}

// BenchmarkRawSHA1 hashes the same number of bytes in 64 KiB writes: the
// hardware limit the iterated S2K is measured against.
func BenchmarkRawSHA1(b *testing.B) {
	buf := make([]byte, 64<<10)
	b.SetBytes(MaxCount)
	defer reportCPU(b)()
	for b.Loop() {
		h := sha1.New()
		for n := 0; n < MaxCount; n += len(buf) {
			h.Write(buf[:min(len(buf), MaxCount-n)])
		}
		h.Sum(nil)
	}
}

// BenchmarkArgon2 derives a key with Argon2id at 64 MiB, one pass, p=2.
func BenchmarkArgon2(b *testing.B) {
	p := &Params{Mode: Argon2, Salt: make([]byte, 16), Passes: 1, Parallelism: 2, MemoryExp: 16}
	out := make([]byte, 32)
	for b.Loop() {
		if err := p.Derive(out, []byte("pw")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIteratedGoCrypto is go-crypto's S2K on the same input, for comparison.
func BenchmarkIteratedGoCrypto(b *testing.B) {
	salt := []byte("saltsalt")
	pass := []byte("a reasonable passphrase")
	out := make([]byte, 16)
	b.SetBytes(MaxCount)
	defer reportCPU(b)()
	for b.Loop() {
		gos2k.Iterated(out, sha1.New(), pass, salt, MaxCount)
	}
}

// reportCPU adds the process CPU time per operation to a benchmark: on a
// shared, loaded machine it is steadier than wall time.
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
