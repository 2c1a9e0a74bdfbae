// Command bench is keyunlock's benchmark suite ("make bench"): it times
// cold soft-key unlocks against gpg and sq on the same key files, measures
// peak memory, the initrd footprint, card APDUs and wall time against
// gpg/scdaemon on the same simulated card, the daemon's throughput and
// latency, and runs the Go micro-benchmarks; it writes the figures, each
// target met or missed, to BENCHMARKS.md and a chart to an SVG file.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("o", "BENCHMARKS.md", "write the report to `FILE`")
	chart := flag.String("chart", "", "write the SVG chart to `FILE` (default: beside the report, benchmarks.svg)")
	bin := flag.String("bin", "bin/keyunlock", "the keyunlock `BINARY` to measure (make build)")
	runs := flag.Int("runs", 10, "runs per tool and case")
	smoke := flag.Bool("smoke", false, "quick check of the bench code: 1 run each, tiny sizes; checks the report has every part")
	only := flag.String("only", "", "run one part and print it instead of writing the report: `daemon` (part 5)")
	flag.Parse()
	var err error
	switch *only {
	case "":
		err = run(*out, *chart, *bin, *runs, *smoke)
	case "daemon":
		err = runDaemonOnly(*bin, *smoke)
	default:
		err = fmt.Errorf("-only %q: the parts that run alone are: daemon", *only)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
