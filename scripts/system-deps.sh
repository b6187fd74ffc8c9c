#!/usr/bin/env bash
# Installs the Debian packages Atelier's tests and benchmarks use, when they are missing.
# Usage: scripts/system-deps.sh [test|bench]   (default: test)
# Needs root (CI and the dev machines run as root); without it, prints what to install and exits 0
# so that the tests which need a package skip themselves with a message instead.
set -euo pipefail
profile="${1:-test}"

# Packages the default test suite uses. Each line: package — why.
test_packages=(
  redis-server      # server: BullMQ scale-out tests start a real Redis on a loopback port
  python3-skimage   # test/metrics/ssim-skimage.test.ts cross-checks SSIM against scikit-image
  chromium          # test/eval/report-browser.test.ts, test/server/studio.e2e.test.ts (playwright-core)
  ffmpeg            # test/video/*: `atelier video` decodes/encodes through ffmpeg/ffprobe; test/cli/eval.test.ts: video pairs
  python3-pyarmnn               # test/engine/import/armnn-style-predictor.test.ts: Arm NN runs the Magenta
  libarmnn-cpuref-backend22     #   style predictor TFLite as the independent reference (CpuRef backend,
  libarmnntfliteparser22        #   TFLite parser)
  python3-numpy                 # test/engine/import/*: numpy reference interpreters of the TF/TFLite graphs
  python3-torch                 # test/engine/nets/clip/*, test/engine/diffusion/*: PyTorch references written from the papers
  python3-h5py                  # test/engine/weights/keras-hdf5.test.ts and the lpips-squeeze reference read Keras HDF5 with h5py
)
# Extra packages only the benchmarks need (peers to compare against).
bench_packages=(
  python3-torch     # peer for bench/weights-read.mjs (torch.load), bench/engine.mjs and bench/capvst.mjs
  python3-numpy     # bench/color.mjs: the NumPy Reinhard peer
  python3-skimage   # bench/color.mjs (match_histograms, rgb2lab) and bench/metrics.mjs (SSIM) peers
  gmic              # G'MIC: `stylize` is the peer of patch.synthesis (bench/patch.mjs)
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
# A failed install must not hide the rest of the suite: the tests that need a package say they
# skipped, and this line says why.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "system-deps: WARNING: could not install ${missing[*]}; the tests that need them will be skipped" >&2
fi
