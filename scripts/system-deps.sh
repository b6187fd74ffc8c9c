#!/usr/bin/env bash
# Installs the Debian packages Atelier's tests and benchmarks use, when they are missing.
# Usage: scripts/system-deps.sh [test|bench]   (default: test)
# Needs root (CI and the dev machines run as root); without it, prints what to install and exits 0
# so that the tests which need a package skip themselves with a message instead.
set -euo pipefail
profile="${1:-test}"

# Packages the default test suite uses. Each line: package — why.
test_packages=(
)
# Extra packages only the benchmarks need (peers to compare against).
bench_packages=(
  python3-opencv   # NPR peers: cv2.stylization, pencilSketch, edgePreservingFilter, xphoto (bench/npr.mjs)
  imagemagick      # NPR peers: convert -paint, -kuwahara, -sketch (bench/npr.mjs)
)

packages=("${test_packages[@]}")
[ "$profile" = bench ] && packages+=("${bench_packages[@]}")
[ "${#packages[@]}" -eq 0 ] && exit 0

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: not root; please install: ${missing[*]}" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
