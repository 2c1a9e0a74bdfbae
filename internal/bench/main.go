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
	only := flag.String("only", "", "run one `PART` and print it instead of writing the report: daemon (part 5), footprint (part 3), kdf (the S2K and Argon2 rows of part 1)")
	flag.Parse()
	var err error
	if *only == "" {
		err = run(*out, *chart, *bin, *runs, *smoke)
	} else {
		err = runOnly(*only, *bin, *smoke)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
