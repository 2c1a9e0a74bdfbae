package main

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // the S2K hashes compared
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/internal/pgppacket"
	"github.com/keyunlock/keyunlock/internal/s2k"
	"golang.org/x/sys/unix"
)

// s2kSpeedMin is the iterated S2K's least throughput as a fraction of the
// raw hash's for "at the hash's hardware speed": both hash the same number
// of bytes with the same implementation, so anything the S2K loses is its
// own overhead (feeding the hash, the salt‖passphrase buffer).
const s2kSpeedMin = 0.95

// argon2ScaleMin is the least fraction of min(lanes, CPUs) that the
// process's CPU time over wall time must reach while Argon2 runs with the
// key's lanes, for "uses every core the parameters allow": a KDF running its
// lanes one after the other gets 1. (The speed-up over one lane is reported
// too, but it also measures the memory system: Argon2 is bound by memory
// bandwidth and shared cache, which two lanes contend for.)
const argon2ScaleMin = 0.8

// s2kPropertyTests are internal/s2k's tests that compare its iterated S2K
// with go-crypto's: random hashes, salts, passphrases, counts and output
// lengths, and the largest count.
const s2kPropertyTests = "^(TestIteratedMatchesGoCrypto|TestMaxCount)$"

// writeKDF measures, in this process, the iterated S2K against the raw
// hash and Argon2 with the v6 key's lanes against one lane, and checks
// both targets.
func writeKDF(r *report, set *fixtures.Set, soft []*softResult, smoke bool) error {
	rounds, count := 11, s2k.MaxCount
	if smoke {
		rounds, count = 1, 1<<20
	}
	r.printf("### Key derivation against the hardware\n\n")
	r.printf("In the bench process, interleaved, best of %d in the thread's CPU time (a busy machine only ever makes a run slower): internal/s2k's iterated S2K (count %d, one output block, "+
		"`s2k.IteratedKey`) against the same hash from the standard library writing the same number of bytes from one buffer "+
		"(the hash's speed on this CPU, with its SHA extensions where Go uses them). Met when the S2K reaches %.0f %% of the raw hash for every hash "+
		"and internal/s2k's property tests against go-crypto (`go test -run '%s' ./internal/s2k`: 300 random hashes, salts, passphrases, counts "+
		"and output lengths, and the largest count) pass.\n\n", rounds, count, 100*s2kSpeedMin, s2kPropertyTests)
	r.printf("| hash | raw hash MB/s | iterated S2K MB/s | S2K ÷ raw |\n|---|---|---|---|\n")
	buf := bytes.Repeat([]byte("12345678correct horse battery staple"), count/36+1)[:count]
	salt, pass := []byte("12345678"), []byte("correct horse battery staple")
	worst, worstName := 2.0, ""
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		var bestS2K, bestRaw time.Duration
		out := make([]byte, h.Size())
		// One output block: IteratedKey hashes in the calling goroutine,
		// locked to this thread, whose CPU clock other processes on a busy
		// machine do not advance.
		runtime.LockOSThread()
		for i := 0; i < rounds; i++ {
			t0 := threadCPU()
			s2k.IteratedKey(out, h.New, pass, salt, count)
			d := threadCPU() - t0
			if i == 0 || d < bestS2K {
				bestS2K = d
			}
			t0 = threadCPU()
			hh := h.New()
			hh.Write(buf)
			hh.Sum(out[:0])
			d = threadCPU() - t0
			if i == 0 || d < bestRaw {
				bestRaw = d
			}
		}
		runtime.UnlockOSThread()
		frac := float64(bestRaw) / float64(bestS2K)
		r.printf("| %v | %.0f | %.0f | %.3f |\n", h, float64(count)/bestRaw.Seconds()/1e6, float64(count)/bestS2K.Seconds()/1e6, frac)
		if frac < worst {
			worst, worstName = frac, h.String()
		}
	}
	r.printf("\n")
	propOK, propOut := true, "skipped in the smoke run"
	if !smoke {
		cmd := exec.Command("go", "test", "-count=1", "-run", s2kPropertyTests, "-v", "./internal/s2k")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		passed := strings.Count(string(out), "--- PASS: ")
		propOK = err == nil && passed == 2
		propOut = fmt.Sprintf("%d of 2 passed", passed)
		if !propOK {
			propOut += ": " + strings.TrimSpace(tailLines(string(out), 10))
		}
		r.printf("Property tests against go-crypto: %s.\n\n", propOut)
		why := fmt.Sprintf("%s reaches %.1f %% of its raw hash (the S2K's own overhead per block of bytes)", worstName, 100*worst)
		if !propOK {
			why = "the property tests against go-crypto failed (" + propOut + ")"
		}
		r.check(fmt.Sprintf("iterated S2K at the hash's speed (≥ %.0f %% of the raw hash, SHA-1/256/512) and bit-identical to go-crypto (property tests)", 100*s2kSpeedMin),
			propOK && worst >= s2kSpeedMin, fmt.Sprintf("worst %s %.1f %%; property tests %s", worstName, 100*worst, propOut), why)
	}
	return writeArgon2(r, set, soft, smoke)
}

// writeArgon2 times the v6 key's Argon2 with its lanes and with one lane.
func writeArgon2(r *report, set *fixtures.Set, soft []*softResult, smoke bool) error {
	fk := set.Key(&tb{}, "gocrypto-v6-x25519")
	p, err := argon2Params(fk.KeyFile)
	if err != nil {
		return fmt.Errorf("%s: %v", fk.KeyFile, err)
	}
	rounds := 9
	if smoke {
		rounds = 1
	}
	cpus := runtime.NumCPU()
	want := min(int(p.Parallelism), cpus, runtime.GOMAXPROCS(0))
	one := *p
	one.Parallelism = 1
	derive := func(q *s2k.Params) (timing, error) {
		out := make([]byte, 32)
		runtime.GC()
		c0, t0 := cpuTime(), time.Now()
		err := q.Derive(out, []byte(fk.Passphrase))
		return timing{time.Since(t0), cpuTime() - c0}, err
	}
	// The machine's own parallelism in the same moments: the same hashing
	// on want goroutines and on one, interleaved with the KDF runs.
	calBuf := bytes.Repeat([]byte{0x5a}, 16<<20)
	hashOn := func(workers int, each int) time.Duration {
		t0 := time.Now()
		done := make(chan struct{}, workers)
		for w := 0; w < workers; w++ {
			go func() {
				for j := 0; j < each; j++ {
					h := crypto.SHA256.New()
					h.Write(calBuf)
					h.Sum(nil)
				}
				done <- struct{}{}
			}()
		}
		for w := 0; w < workers; w++ {
			<-done
		}
		return time.Since(t0)
	}
	var bestN, bestOne timing
	var bestPar, bestSer time.Duration
	for i := 0; i < rounds; i++ {
		if d := hashOn(want, 1); i == 0 || d < bestPar {
			bestPar = d
		}
		if d := hashOn(1, want); i == 0 || d < bestSer {
			bestSer = d
		}
		n, err := derive(p)
		if err != nil {
			return err
		}
		o, err := derive(&one)
		if err != nil {
			return err
		}
		if i == 0 || n.wall < bestN.wall {
			bestN = n
		}
		if i == 0 || o.wall < bestOne.wall {
			bestOne = o
		}
	}
	speedup := float64(bestOne.wall) / float64(bestN.wall)
	machine := float64(bestSer) / float64(bestPar)
	r.printf("Argon2 of the v6 key (%d pass, %d MiB, %d lanes) in the bench process on %d CPUs, interleaved with the same passes and memory in one lane, best of %d: "+
		"%s ms wall (%s ms CPU) with %d lanes, %s ms wall (%s ms CPU) in one lane: %.2f× faster, CPU ÷ wall %.2f. ",
		p.Passes, 1<<p.MemoryExp>>10, p.Parallelism, cpus, rounds, ms(bestN.wall), ms(bestN.cpu), p.Parallelism, ms(bestOne.wall), ms(bestOne.cpu), speedup,
		float64(bestN.cpu)/float64(bestN.wall))
	if res := findSoft(soft, fk.Name); res != nil {
		if k := find(res, toolKeyunlock); k != nil && len(k.samples) > 0 {
			w, c := k.walls(), k.cpus()
			r.printf("In part 1 the whole `keyunlock decrypt` on this key (process start, Argon2, decryption) took %s ms wall and %s ms CPU (medians): CPU ÷ wall %.2f. ",
				ms(w.med), ms(c.med), float64(c.med)/float64(w.med))
		}
	}
	r.printf("For the machine's own parallelism in the same moments: SHA-256 over 16 MiB on %d goroutines at once ran %.2f× faster than the same hashing on one. "+
		"Met when CPU ÷ wall with the key's lanes reaches %.0f %% of min(lanes, CPUs) = %d, i.e. that many cores busy for the whole derivation; "+
		"the speed-up over one lane also depends on the memory system, which the lanes share.\n\n", want, machine, 100*argon2ScaleMin, want)
	if smoke {
		return nil
	}
	busy := float64(bestN.cpu) / float64(bestN.wall)
	r.check(fmt.Sprintf("Argon2 uses every core the parameters allow (CPU ÷ wall ≥ %.0f %% of min(lanes, CPUs))", 100*argon2ScaleMin),
		busy >= argon2ScaleMin*float64(want), fmt.Sprintf("%.2f cores busy with %d lanes on %d CPUs (%.2f× faster than one lane)", busy, p.Parallelism, cpus, speedup),
		argon2Why(busy, want, machine))
	return nil
}

// timing is one run's wall and CPU time.
type timing struct{ wall, cpu time.Duration }

// argon2Why explains a missed Argon2 target from the cores it kept busy and
// the parallelism plain hashing got in the same moments.
func argon2Why(busy float64, want int, machine float64) string {
	why := fmt.Sprintf("%.2f cores busy where %d are allowed", busy, want)
	if machine < argon2ScaleMin*float64(want) {
		return why + fmt.Sprintf(", but plain hashing on %d goroutines in the same moments was only %.2f× faster than on one: the machine's cores were busy, rerun on a quiet one", want, machine)
	}
	return why + fmt.Sprintf(" while plain hashing on %d goroutines ran %.2f× faster than on one: the lanes did not run side by side", want, machine)
}

// argon2Params reads the Argon2 S2K specifier of the first v6 secret key
// packet in a key file protected with AEAD (RFC 9580 §5.5.3).
func argon2Params(path string) (*s2k.Params, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if blk, err := armor.Decode(bytes.NewReader(b)); err == nil {
		var raw bytes.Buffer
		if _, err := raw.ReadFrom(blk.Body); err != nil {
			return nil, err
		}
		b = raw.Bytes()
	}
	pkts, err := pgppacket.Split(b)
	if err != nil {
		return nil, err
	}
	for _, pk := range pkts {
		body := pk.Body
		if (pk.Tag != pgppacket.TagSecretKey && pk.Tag != pgppacket.TagSecretSubkey) || len(body) < 10 || body[0] != 6 {
			continue
		}
		// version, creation time, algorithm, key material length, material
		i := 6
		n := int(body[i])<<24 | int(body[i+1])<<16 | int(body[i+2])<<8 | int(body[i+3])
		i += 4 + n
		// usage 253 (AEAD), parameter count, cipher, AEAD mode, S2K length
		if len(body) < i+5 || body[i] != 253 {
			continue
		}
		p, _, err := s2k.Parse(body[i+5:])
		if err != nil {
			return nil, err
		}
		if p.Mode != s2k.Argon2 {
			continue
		}
		return p, p.Check()
	}
	return nil, fmt.Errorf("no v6 secret key protected with Argon2")
}

// threadCPU is the calling thread's CPU time so far.
func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// cpuTime is this process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// findSoft returns part 1's result for a fixture key, or nil.
func findSoft(soft []*softResult, key string) *softResult {
	for _, res := range soft {
		if res.c.key == key {
			return res
		}
	}
	return nil
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
