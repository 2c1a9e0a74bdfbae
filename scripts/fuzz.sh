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
# "go test -list" prints the matching names and then "ok  <package> <time>".
while read -r pkg; do
	targets=$(CGO_ENABLED=0 $GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for t in $targets; do
		count=$((count + 1))
		echo "== $pkg $t ($FUZZTIME)"
		if ! CGO_ENABLED=0 $GO test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" -parallel 2 "$pkg"; then
			failed+=("$pkg $t")
		fi
	done
done < <(CGO_ENABLED=0 $GO list "${pkgs[@]}")

echo "== $count fuzz targets run for $FUZZTIME each"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
