package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// toolVersions names the versions of the tools compared.
func toolVersions() string {
	v := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return name + " (missing)"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	return fmt.Sprintf("%s, %s, %s", v("gpg", "--version"), v("sq", "--version"), runtime.Version())
}

func mbFile(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func find(res *softResult, tool string) *series {
	for _, s := range res.series {
		if s.tool == tool {
			return s
		}
	}
	return nil
}

// baseline times "keyunlock version": a process that starts and exits,
// reading no key, the floor under every figure of a cold unlock.
func baseline(bin string, runs int) (*series, error) {
	s := &series{tool: "keyunlock version (process start only)"}
	for i := 0; i < runs; i++ {
		x, _, err := runTimed(exec.Command(bin, "version"))
		if err != nil {
			return nil, err
		}
		s.samples = append(s.samples, x)
	}
	f, err := os.CreateTemp("", "keyunlock-bench-rss-")
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(f.Name())
	r := &softRunner{rssFile: f.Name()}
	if _, _, err := runTimed(r.wrap(exec.Command(bin, "version"))); err != nil {
		return nil, err
	}
	kib, err := r.wrappedRSS()
	if err != nil {
		return nil, err
	}
	s.rssKiB = []int64{kib}
	return s, nil
}

func writeSoft(r *report, soft []*softResult, base *series, runs int) {
	r.printf("## 1. Soft-key unlock\n\n")
	r.printf("One cold process per run decrypts the same 64-byte keyfile (SEIPDv1, made by gpg) with the same key file (made by gpg; "+
		"protected with iterated+salted SHA-1 S2K, count 65011712). keyunlock: `keyunlock decrypt --key K --passphrase-file P`. "+
		"gpg: a GNUPGHOME where the key was imported beforehand, `gpg --pinentry-mode loopback --passphrase-file P --decrypt`, "+
		"gpg-agent killed (`gpgconf --kill gpg-agent`) after every run; the bench is a child subreaper, so the detached agent's CPU and RSS are reaped and counted. "+
		"\"gpg\" pins the agent's own protection to the file's count (`s2k-count 65011712` in gpg-agent.conf: equal work); "+
		"\"gpg (as installed)\" leaves the agent's calibrated count, as users get it. sq: `sq decrypt --recipient-key K`, the password typed on a pty. "+
		"Each tool's output is checked against the plaintext. Wall and CPU time in ms, median [min–max] over %d runs.\n\n", runs)
	r.printf("| key | tool | wall ms | CPU ms (incl. agent) | vs gpg | vs sq |\n|---|---|---|---|---|---|\n")
	for _, res := range soft {
		g, q := find(res, toolGPG), find(res, toolSq)
		for _, s := range res.series {
			w := s.walls()
			vg, vq := "", ""
			if g != nil && s != g {
				vg = fmt.Sprintf("%.2f×", ratio(s, g))
			}
			if q != nil && s != q {
				vq = fmt.Sprintf("%.2f×", ratio(s, q))
			}
			r.printf("| %s | %s | %s | %s | %s | %s |\n", res.c.label, s.tool, w, s.cpus(), vg, vq)
		}
	}
	r.printf("| — | %s | %s | %s | | |\n", base.tool, base.walls(), base.cpus())
	r.printf("\nRatios are medians of the per-run ratios (tool ÷ gpg or sq in the same interleaved run), so they hold when the machine's speed drifts.\n\n")

	for _, res := range soft {
		k, g := find(res, toolKeyunlock), find(res, toolGPG)
		switch res.c.key {
		case "gpg-cv25519", "gpg-rsa3072":
			med := k.walls().med
			r.check("soft-key unlock ≤ 50 ms median ("+res.c.label+")", med <= 50*time.Millisecond, ms(med)+" ms",
				fmt.Sprintf("%.0f%% over (min %s ms, CPU %s ms). A process that reads no key (`keyunlock version`) already takes %s ms; the rest is the unlock, mostly the S2K: 65 MiB of SHA-1, about 43 ms of CPU at the hash's speed (BenchmarkIterated in part 6). The S2K starts as soon as the key file, the message and the passphrase file are read (about 1 ms after main starts, once memory is locked), and the key file's self-signatures are checked beside it on the other core, so what remains on the path is process start, that reading, the S2K and what follows it%s", 100*(float64(med)/float64(50*time.Millisecond)-1), ms(k.walls().min), ms(k.cpus().med), ms(base.walls().med), publicKeyStep(res.c.key)))
			if g != nil {
				rt := ratio(k, g)
				r.check("≤ 0.25× gpg at equal work ("+res.c.label+")", rt <= 0.25, fmt.Sprintf("%.2f×", rt),
					fmt.Sprintf("%.0f%% over the ratio. gpg with its agent needed only %s ms here (libgcrypt's SHA-1 uses the SHA-NI instructions too), so 0.25× would mean %s ms, below the ~43 ms the S2K's SHA-1 alone costs: at equal work the target is out of reach on this CPU unless gpg takes over ~200 ms, as it did on the reference machine (245 ms). As users get gpg (its own calibrated count) keyunlock is %.2f×", 100*(rt/0.25-1), ms(g.walls().med), ms(g.walls().med/4), ratioOpt(k, find(res, toolGPGUser))))
			}
		case "gpg-cv25519-clear":
			med := k.walls().med
			r.check("no passphrase ≤ 3 ms", med <= 3*time.Millisecond, ms(med)+" ms",
				fmt.Sprintf("%.1f ms over: `keyunlock version`, which reads no key and locks no memory, already takes %s ms: exec and the Go runtime's start, page faults above all (about 290, where a hello-world static Go binary takes about 200: the runtime's own heap, stacks and threads, its cgroup CPU-limit lookup, package inits, the pages of the %s binary it touches). The unlock adds about %s ms: locking memory before any key is read (mlockall for future mappings and mlock2 on each current writable one, about 0.35 ms), checking the key's two ed25519 self-signatures (about 0.1 ms; the base-point table crypto/ed25519 computes on its first verification, about 0.4 ms, is built on the other core while memory is locked), the main goroutine's stack growth and the inflate window of the compressed message (about 50 page faults), checking the secret key against its public key (one X25519 base-point multiplication) and the X25519 of the session key", float64(med-3*time.Millisecond)/1e6, ms(base.walls().med), mbFile(r.binSize), ms(med-base.walls().med)))
		}
	}
}

// ratioOpt is ratio, or 0 when b is missing (smoke runs).
func ratioOpt(a, b *series) float64 {
	if b == nil {
		return 0
	}
	return ratio(a, b)
}

// ratio is the median of the per-run ratios a/b.
func ratio(a, b *series) float64 {
	var rs []time.Duration
	for i := range a.samples {
		if i < len(b.samples) && b.samples[i].wall > 0 {
			rs = append(rs, time.Duration(1e6*float64(a.samples[i].wall)/float64(b.samples[i].wall)))
		}
	}
	return float64(durStat(rs).med) / 1e6
}

func writeRSS(r *report, soft []*softResult, base *series) {
	r.printf("## 2. Peak memory\n\nPeak RSS of each tool in MiB, min–max over 3 more runs each, under GNU time (`/usr/bin/time -f %%M`): a child the Go bench starts directly would report the bench's own peak RSS, which its ru_maxrss inherits at exec. gpg's figure is gpg plus its agent (reaped by the bench as subreaper; the agent is forked by gpg, so its figure is its own).\n\n")
	r.printf("| key | tool | peak RSS MiB |\n|---|---|---|\n")
	worst := 0.0
	for _, res := range soft {
		for _, s := range res.series {
			lo, hi := s.rssRange()
			r.printf("| %s | %s | %.1f–%.1f |\n", res.c.label, s.tool, lo, hi)
			if s.tool == toolKeyunlock && res.c.key != "gocrypto-v6-x25519" && hi > worst {
				worst = hi
			}
		}
	}
	blo, bhi := base.rssRange()
	r.printf("| — | %s | %.1f–%.1f |\n\n", base.tool, blo, bhi)
	r.check("peak RSS ≤ 6 MiB (Argon2 aside)", worst <= 6, fmt.Sprintf("%.1f MiB", worst),
		fmt.Sprintf("%.1f MiB over: `keyunlock version`, which reads no key, already peaks at %.1f MiB (the Go runtime's heap, goroutine stacks and threads, and the pages of the %s binary it touches), so the unlock itself adds about %.1f MiB: the pages the key parsing, the S2K (64 KiB of repeated salt and passphrase) and the inflate window (32 KiB) touch, and the main goroutine's grown stack", worst-6, bhi, mbFile(r.binSize), worst-bhi))
}

// chartSVG draws item 1: a horizontal bar per tool and key, median wall
// time, with the min–max range as a whisker.
func chartSVG(soft []*softResult) string {
	type bar struct {
		label string
		st    stat
		tool  string
	}
	var bars []bar
	var max time.Duration
	for _, res := range soft {
		for _, s := range res.series {
			st := s.walls()
			bars = append(bars, bar{res.c.label + " — " + s.tool, st, s.tool})
			if st.max > max {
				max = st.max
			}
		}
	}
	if max <= 0 {
		max = time.Millisecond
	}
	colors := map[string]string{toolKeyunlock: "#2a7ab0", toolGPG: "#c0504d", toolGPGUser: "#e0a0a0", toolSq: "#6a9a3a"}
	const left, width, rowH, top = 300, 440, 22, 40
	h := top + rowH*len(bars) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+80, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="14" font-weight="bold">Cold soft-key unlock: median wall time, ms (whisker: min–max)</text>`+"\n")
	scale := float64(width) / float64(max)
	for i, br := range bars {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+14, xmlEscape(br.label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y+3, float64(br.st.med)*scale, rowH-6, colors[br.tool])
		x0, x1 := float64(left)+float64(br.st.min)*scale, float64(left)+float64(br.st.max)*scale
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x0, y+rowH/2, x1, y+rowH/2)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", x1+4, y+14, ms(br.st.med))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`+"\n", left, top, left, h-40)
	b.WriteString("</svg>\n")
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// publicKeyStep says what the public-key step of a soft-key case costs, for
// the explanation of a missed unlock target.
func publicKeyStep(key string) string {
	if key == "gpg-rsa3072" {
		return ": for RSA-3072, crypto/rsa's consistency check of the decrypted key (p·q = n, d against the CRT exponents, the CRT coefficient: the defence against a key file whose public part was overwritten), about 0.6 ms, and the 3072-bit private-key operation, about 4.6 ms in the standard library's constant-time crypto/rsa (BenchmarkDecryptPKESK/gpg-rsa3072 in part 6); neither can start before the S2K has decrypted the key. Start, S2K and these two already make about 51 ms on this CPU: the target needs a faster private-key operation than crypto/rsa's, whose two 1536-bit CRT exponentiations run one after the other (the key's own CRT coefficient is reused, so no inversion is computed at unlock)"
	}
	return ""
}
