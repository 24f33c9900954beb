#!/usr/bin/env bash
# Runs Debian's ARM Node.js from the sysroot that scripts/arm-sysroot.sh made, under qemu
# user-mode emulation:   scripts/arm-node.sh armhf dist/vctrain.cjs probe --json
#
# qemu's -L makes absolute paths the program opens (/usr/share/nodejs/..., the dynamic loader)
# resolve inside the sysroot; the library search path is given as host paths because the ARM
# loader would otherwise consult the host's x86 ld.so.cache.
set -euo pipefail

arch="${1:?usage: arm-node.sh armhf|arm64 [node args...]}"
shift
case "$arch" in
  armhf) triplet=arm-linux-gnueabihf; qemu=qemu-arm; cpu=cortex-a7 ;;
  arm64) triplet=aarch64-linux-gnu; qemu=qemu-aarch64; cpu=cortex-a53 ;;
  *) echo "arm-node: unknown architecture '$arch'" >&2; exit 2 ;;
esac
root="${VCTRAIN_ARM_ROOT:-${VCTRAIN_ARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vctrain-arm}/$arch/root}"
if [ ! -x "$root/usr/bin/node" ]; then
  echo "arm-node: no ARM node in $root; run scripts/arm-sysroot.sh $arch first" >&2
  exit 1
fi
if ! command -v "$qemu" >/dev/null; then
  echo "arm-node: $qemu not found (Debian package qemu-user)" >&2
  exit 1
fi
# The Pi 3's Cortex-A53 runs 32-bit Raspberry Pi OS in AArch32 mode; cortex-a7 is the closest
# 32-bit model qemu-arm offers (ARMv7 with NEON and VFPv4), so no instruction newer than that
# sneaks in through qemu's default "max" CPU.
exec "$qemu" -cpu "${VCTRAIN_QEMU_CPU:-$cpu}" -L "$root" \
  -E "LD_LIBRARY_PATH=$root/lib/$triplet:$root/usr/lib/$triplet" \
  "$root/usr/bin/node" "$@"
