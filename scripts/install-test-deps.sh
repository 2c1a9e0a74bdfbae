#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/test-packages.txt that are
# missing. As root it runs apt-get; otherwise it fails loudly and names them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list=${1:-$here/test-packages.txt}
mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing packages: ${missing[*]}" >&2
  echo "install-test-deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
