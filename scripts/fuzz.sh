#!/bin/bash
# Runs every fuzz target of the module for FUZZTIME each (default 60s).
# Targets are discovered with "go test -list '^Fuzz'"; new crashers land in
# the package's testdata/fuzz/FuzzXxx/ and must be committed as regression
# tests. Usage: scripts/fuzz.sh [package pattern...]   (default ./...)
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-60s}
GO=${GO:-go}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

# fuzz_one runs one target. With a duration -fuzztime, Go 1.26's fuzz
# coordinator can end a run with a bare "context deadline exceeded" (no input
# failed, no crasher written): its deadline races the workers' shutdown
# (golang/go#75804, fixed in Go 1.27). A count budget such as FUZZTIME=3000x,
# which make fuzz-short uses, has no deadline and so cannot hit it. For
# duration runs such a result is retried (twice at most); any other failure
# counts at once.
fuzz_one() {
	local out rc tries=0
	out=$(mktemp)
	while :; do
		rc=0
		CGO_ENABLED=0 $GO test -run '^$' -fuzz "^${2}\$" -fuzztime "$FUZZTIME" -parallel 2 "$1" 2>&1 | tee "$out" || rc=$?
		if [ "$rc" -eq 0 ]; then
			rm -f "$out"
			return 0
		fi
		if grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out" && [ "$tries" -lt 2 ]; then
			tries=$((tries + 1))
			echo "== $1 $2: the fuzz coordinator timed out without a failing input; running it again"
			continue
		fi
		rm -f "$out"
		return 1
	done
}

failed=()
count=0
# "go test -list" prints each package's matching names, then a line
# "ok  <package> <time>" (or "?  <package> [no test files]").
list=$(CGO_ENABLED=0 $GO test -list '^Fuzz' "${pkgs[@]}")
names=()
while read -r first second _; do
	case "$first" in
	Fuzz*) names+=("$first") ;;
	ok)
		for t in "${names[@]}"; do
			count=$((count + 1))
			echo "== $second $t ($FUZZTIME)"
			if ! fuzz_one "$second" "$t"; then
				failed+=("$second $t")
			fi
		done
		names=()
		;;
	esac
done <<<"$list"

echo "== $count fuzz targets run for $FUZZTIME each"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
