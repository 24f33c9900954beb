#!/usr/bin/env bash
# Everything a fresh Debian machine needs for vctrain: the X11/GL headers that `gl` (headless-gl)
# compiles against, Xvfb to give it a display, PyTorch and Chromium for the benchmark peer and the
# report test, qemu-user for running the bundle on ARM Node.js, Fashion-MNIST IDX files for the --data
# tests, then the npm packages exactly as package-lock.json pins them.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(xvfb xauth libxi-dev libx11-dev libxext-dev libgl1-mesa-dev pkg-config python3-torch chromium iproute2 qemu-user dataset-fashion-mnist)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # onnxruntime-node (dev: the ONNX export test) carries its CPU binaries; its postinstall would fetch
  # CUDA libraries from nuget.org on linux/x64. npm 11 skips it (allowScripts: false in package.json);
  # the variable makes an older npm skip it too.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
# The bundle a Pi runs (dist/); in this checkout, boards start their gossip threads from it while it
# is newer than every source file (src/cluster/thread-entry.ts), as a Pi does, instead of loading the
# sources again through tsx on each thread. About 3 s.
node scripts/bundle.mjs --quiet
