package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// report collects the sections of BENCHMARKS.md and the targets.
type report struct {
	buf     bytes.Buffer
	targets []target
	binSize int64
}

// target is one goal of the project, checked against a measured figure.
type target struct {
	name, figure string
	met          bool
	why          string // when missed: by how much and why
}

func (r *report) printf(f string, a ...any) { fmt.Fprintf(&r.buf, f, a...) }

func (r *report) check(name string, met bool, figure, why string) {
	if met {
		why = ""
	}
	r.targets = append(r.targets, target{name, figure, met, why})
}

// smokeMode is set by -smoke: tiny sizes, fewest tools.
var smokeMode bool

// sections are the headings every report must have (checked in -smoke).
var sections = []string{
	"## 1. Soft-key unlock",
	"## 2. Peak memory",
	"## 3. Footprint",
	"## 4. Cards",
	"## 5. Daemon",
	"## 6. Go micro-benchmarks",
	"## 7. Chart",
}

func run(out, chart, bin string, runs int, smoke bool) error {
	if err := becomeSubreaper(); err != nil {
		return fmt.Errorf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	smokeMode = smoke
	if smoke {
		runs = 1
		d, err := os.MkdirTemp("", "keyunlock-bench-smoke-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		out = filepath.Join(d, "BENCHMARKS.md")
	}
	if chart == "" {
		chart = filepath.Join(filepath.Dir(out), "benchmarks.svg")
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%v (run make build first)", err)
	}
	set := loadFixtures()
	r := &report{}

	start := time.Now()

	soft, err := benchSoft(set, bin, runs, smoke)
	if err != nil {
		return fmt.Errorf("soft keys: %v", err)
	}
	fmt.Fprintf(os.Stderr, "bench: soft keys done at %s\n", time.Since(start).Round(time.Millisecond))
	base, err := baseline(bin, runs)
	if err != nil {
		return err
	}
	if st, err := os.Stat(bin); err == nil {
		r.binSize = st.Size()
	}
	writeSoft(r, soft, base, runs)
	if err := writeKDF(r, set, soft, smoke); err != nil {
		return fmt.Errorf("key derivation: %v", err)
	}
	writeRSS(r, soft, base)
	fmt.Fprintf(os.Stderr, "bench: %s\n", time.Since(start).Round(time.Millisecond))
	if err := writeFootprint(r, bin, smoke); err != nil {
		return fmt.Errorf("footprint: %v", err)
	}
	fmt.Fprintf(os.Stderr, "bench: %s\n", time.Since(start).Round(time.Millisecond))
	if err := writeCards(r, bin, runs, smoke); err != nil {
		return fmt.Errorf("cards: %v", err)
	}
	fmt.Fprintf(os.Stderr, "bench: %s\n", time.Since(start).Round(time.Millisecond))
	if err := writeDaemon(r, set, bin, smoke); err != nil {
		return fmt.Errorf("daemon: %v", err)
	}
	fmt.Fprintf(os.Stderr, "bench: %s\n", time.Since(start).Round(time.Millisecond))
	if err := writeMicro(r, smoke); err != nil {
		return fmt.Errorf("micro-benchmarks: %v", err)
	}
	fmt.Fprintf(os.Stderr, "bench: %s\n", time.Since(start).Round(time.Millisecond))
	svg := chartSVG(soft)
	if err := os.WriteFile(chart, []byte(svg), 0o644); err != nil {
		return err
	}
	r.printf("## 7. Chart\n\n![Cold soft-key unlock, median wall time](%s)\n\n", filepath.Base(chart))

	var doc bytes.Buffer
	fmt.Fprintf(&doc, "# keyunlock benchmarks\n\nWritten by `make bench` (internal/bench) on %s; %d runs per tool and case, the tools interleaved run by run; the whole suite took %s.\n\n", machine(), runs, time.Since(start).Round(time.Second))
	doc.WriteString("## Targets\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range r.targets {
		m := "met"
		if !t.met {
			m = "**missed**"
		}
		fmt.Fprintf(&doc, "| %s | %s | %s |\n", t.name, t.figure, m)
	}
	doc.WriteString("\n")
	for _, t := range r.targets {
		if !t.met && t.why != "" {
			fmt.Fprintf(&doc, "- **%s** missed: %s\n", t.name, t.why)
		}
	}
	doc.WriteString("\n")
	doc.Write(r.buf.Bytes())
	if err := os.WriteFile(out, doc.Bytes(), 0o644); err != nil {
		return err
	}
	if smoke {
		for _, s := range sections {
			if !strings.Contains(doc.String(), s) {
				return fmt.Errorf("smoke: the report lacks %q", s)
			}
		}
		if !strings.Contains(svg, "<svg") {
			return fmt.Errorf("smoke: the chart is not SVG")
		}
		fmt.Fprintf(os.Stderr, "bench smoke: report complete (%d bytes, %d targets) in %s\n", doc.Len(), len(r.targets), time.Since(start).Round(time.Millisecond))
		return nil
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s and %s\n", out, chart)
	return nil
}

// onlyParts are the parts -only runs alone.
var onlyParts = map[string]func(r *report, bin string, smoke bool) error{
	"daemon": func(r *report, bin string, smoke bool) error { return writeDaemon(r, loadFixtures(), bin, smoke) },
	"footprint": func(r *report, bin string, smoke bool) error {
		return writeFootprint(r, bin, smoke)
	},
	"kdf": func(r *report, bin string, smoke bool) error { return writeKDF(r, loadFixtures(), nil, smoke) },
}

// runOnly runs one part alone and prints it with its targets.
func runOnly(part, bin string, smoke bool) error {
	write, ok := onlyParts[part]
	if !ok {
		var names []string
		for n := range onlyParts {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("-only %q: the parts that run alone are: %s", part, strings.Join(names, ", "))
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%v (run make build first)", err)
	}
	smokeMode = smoke
	r := &report{}
	if err := write(r, bin, smoke); err != nil {
		return fmt.Errorf("%s: %v", part, err)
	}
	for _, t := range r.targets {
		m := "met"
		if !t.met {
			m = "missed: " + t.why
		}
		fmt.Printf("- %s: %s, %s\n", t.name, t.figure, m)
	}
	fmt.Printf("\n%s", r.buf.Bytes())
	return nil
}

// machine describes the CPU and kernel for the report header.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				break
			}
		}
	}
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "processor\t:")
	}
	kern, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d × %s, Linux %s, %s", n, cpu, strings.TrimSpace(string(kern)), toolVersions())
}
