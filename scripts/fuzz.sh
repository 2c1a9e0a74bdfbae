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
			if ! CGO_ENABLED=0 $GO test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" -parallel 2 "$second"; then
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
