package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// microPkgs are the packages whose Go benchmarks the report includes.
var microPkgs = []struct{ pkg, bench string }{
	{"./internal/s2k", "."},
	{"./softkeys", "."},
	{"./core", "BenchmarkDecryptMessage"},
	{"./card/tlv", "."},
	{"./card/iso7816", "."},
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+(.*)$`)

// goBench runs one package's benchmarks and returns the result lines.
func goBench(pkg, bench string, smoke bool) ([]string, error) {
	bt := "1s"
	if smoke {
		bt = "1x"
	}
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", bench, "-benchtime", bt, "-count", "1", pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %v\n%s", bench, pkg, err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if benchLine.MatchString(l) {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("go test -bench %s %s: no benchmark ran\n%s", bench, pkg, out)
	}
	return lines, nil
}

// metric returns the value of the unit ("ns/op", "apdus/op"…) in a line.
func metric(line, unit string) (float64, bool) {
	f := strings.Fields(line)
	for i := 1; i < len(f); i++ {
		if f[i] == unit {
			v, err := strconv.ParseFloat(f[i-1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func writeMicro(r *report, smoke bool) error {
	r.printf("## 6. Go micro-benchmarks\n\n`go test -run '^$' -bench B -benchtime 1s` in each package (S2K, soft-key unlock and PKESK decryption per algorithm, message decryption, BER-TLV and APDU parsing):\n\n```\n")
	for _, p := range microPkgs {
		if smoke && p.pkg != "./card/tlv" {
			continue
		}
		lines, err := goBench(p.pkg, p.bench, smoke)
		if err != nil {
			return err
		}
		r.printf("# %s\n%s\n", p.pkg, strings.Join(lines, "\n"))
	}
	r.printf("```\n\n")
	return nil
}

// writeCardsCCID reports BenchmarkColdUnlockCCID: cold unlocks through the
// direct CCID driver against emulated readers, with the CCID messages each
// puts on the bus.
func writeCardsCCID(r *report, lines []string) {
	if len(lines) == 0 {
		return
	}
	r.printf("`go test -bench BenchmarkColdUnlockCCID ./card`: the same cold unlock (cv25519, with the certificate) through the direct CCID driver (pcsc/ccid) " +
		"against emulated readers (pcsc/ccid/ccidtest) holding the simulator, without delay: QEMU's usb-ccid (TPDU level, T=0: PSO:DECIPHER's response comes with GET RESPONSE) " +
		"and a YubiKey-like extended-APDU reader. On USB every CCID message is a bus round trip (about 1 ms with a YubiKey). " +
		"Besides one XfrBlock per APDU (or TPDU) and the power-on, a cold unlock makes one presence check (GetSlotStatus) when the reader is first listed; " +
		"while the card keeps answering it is not asked again.\n\n")
	r.printf("| emulated reader | APDUs (TPDUs) per unlock | CCID messages per unlock | of which presence checks |\n|---|---|---|---|\n")
	for _, l := range lines {
		name := strings.TrimPrefix(strings.Fields(l)[0], "BenchmarkColdUnlockCCID/")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		a, _ := metric(l, "apdus/op")
		m, _ := metric(l, "ccid-msgs/op")
		st, _ := metric(l, "status-msgs/op")
		r.printf("| %s | %.0f | %.0f | %.0f |\n", name, a, m, st)
	}
	r.printf("\n")
}

func writeCards(r *report, bin string, runs int, smoke bool) error {
	pat := "BenchmarkColdUnlock"
	if smoke {
		pat = "BenchmarkColdUnlock/cv25519/apdudelay=5ms$"
	}
	lines, err := goBench("./card", pat, smoke)
	if err != nil {
		return err
	}
	r.printf("## 4. Cards\n\n`go test -bench BenchmarkColdUnlock ./card`: one cold unlock (open the card, read its data, VERIFY, PSO:DECIPHER, decrypt the message) " +
		"against the card simulator (card/sim) in process, the simulator sleeping the given delay per APDU and counting the APDUs. " +
		"Rows ending in /nocert run without the certificate, with a key that has GnuPG's KDF parameters; the others are given the certificate.\n\n")
	r.printf("| key / simulator quirks | ms per unlock | APDUs per unlock |\n|---|---|---|\n")
	apdus := -1.0
	var ccidLines []string
	for _, l := range lines {
		name := strings.Fields(l)[0]
		if strings.HasPrefix(name, "BenchmarkColdUnlockCCID/") {
			ccidLines = append(ccidLines, l)
			continue
		}
		name = strings.TrimPrefix(name, "BenchmarkColdUnlock/")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		ns, _ := metric(l, "ns/op")
		a, _ := metric(l, "apdus/op")
		r.printf("| %s | %.1f | %.0f |\n", name, ns/1e6, a)
		if name == "cv25519/apdudelay=5ms" {
			apdus = a
		}
	}
	r.printf("\n")
	writeCardsCCID(r, ccidLines)
	if smoke {
		r.printf("(smoke run: the comparison with gpg/scdaemon through pcscd is skipped; its card fixture takes 5–30 s.)\n\n")
	} else {
		fromCard, withCert, err := writeCardPCSC(r, bin, runs)
		if err != nil {
			return fmt.Errorf("through pcscd: %v", err)
		}
		worst := max(fromCard, withCert)
		r.check("≤ 5 APDUs per cold card unlock without KDF (cv25519, through pcscd)", worst <= 5,
			fmt.Sprintf("%d without --card-cert, %d with it", fromCard, withCert),
			fmt.Sprintf("%d over: besides SELECT, GET DATA 6E and F9 (KDF-DO), VERIFY and PSO:DECIPHER, keyunlock reads what it needs", worst-5))
		r.printf("Without `--card-cert` keyunlock does not read the public key (GET PUBLIC KEY, 00 47 81 00): it derives the ECDH key-encryption key with the curve's default KDF parameters (GnuPG's) and the fingerprint from the card, " +
			"and reads the public key only when the key unwrap says the key has other parameters (one more APDU, the same PSO:DECIPHER result). " +
			"GET DATA F9 is read only when the card's extended capabilities (C0) announce the KDF-DO; a card without it unlocks in 4 APDUs.\n\n")
		return nil
	}
	r.check("≤ 5 APDUs per cold card unlock without KDF (cv25519, in process)", apdus >= 0 && apdus <= 5, fmt.Sprintf("%.0f", apdus),
		fmt.Sprintf("%.0f APDUs over", apdus-5))
	return nil
}
