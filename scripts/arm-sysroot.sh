#!/usr/bin/env bash
# Builds a minimal ARM user-space holding Debian's own Node.js (the one Raspberry Pi OS Bookworm
# ships), so the bundle can be run under qemu user-mode emulation on an x86 machine.
#
#   scripts/arm-sysroot.sh [armhf|arm64]      -> prints the sysroot directory on the last line
#
# Nothing on the host is installed or reconfigured: apt runs with its own package lists, status
# file and cache inside the cache directory, pretending to be the ARM architecture, and the .deb
# files are unpacked with `dpkg -x` (no maintainer scripts run). Needs apt-get, dpkg and network
# access to the Debian mirror named in the host's apt sources. Re-running is cheap: a finished
# sysroot is reused.
set -euo pipefail

arch="${1:-armhf}"
case "$arch" in
  armhf) triplet=arm-linux-gnueabihf ;;
  arm64) triplet=aarch64-linux-gnu ;;
  *) echo "arm-sysroot: unknown architecture '$arch' (armhf or arm64)" >&2; exit 2 ;;
esac

base="${VCTRAIN_ARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vctrain-arm}/$arch"
root="$base/root"
stamp="$root/.vctrain-sysroot-ok"
if [ -f "$stamp" ] && [ -x "$root/usr/bin/node" ]; then
  echo "$root"
  exit 0
fi

mkdir -p "$base/lists/partial" "$base/archives/partial" "$base/debs"
: > "$base/status"
aptopts=(
  -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
  -o "Dir::State::Lists=$base/lists" -o "Dir::State::Status=$base/status"
  -o "Dir::Cache=$base" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
  -qq
)

# A mirror that is mid-sync makes one index fail (seen with bookworm-security); the main suite is
# enough to find nodejs, so a partial update is accepted and checked below.
apt-get "${aptopts[@]}" update >&2 || echo "arm-sysroot: apt-get update reported errors; continuing with what was fetched" >&2

if ! apt-cache "${aptopts[@]}" show nodejs >/dev/null 2>&1; then
  # apt-get update exits 0 when every fetch failed (warnings only): an empty list folder is the sign
  if ! compgen -G "$base/lists/*_Packages*" >/dev/null; then
    # offline (or the mirror is down) and nothing cached: say so, not "no such package"
    echo "arm-sysroot: no $arch sysroot in $root and the Debian mirror could not be reached (offline?); run scripts/arm-sysroot.sh $arch once with network access, or point VCTRAIN_ARM_CACHE at a folder holding one" >&2
  else
    echo "arm-sysroot: no nodejs package for $arch in the configured Debian sources" >&2
  fi
  exit 1
fi

# nodejs with every library it links and the packages its externalised builtins live in
# (Debian's node loads acorn, undici, cjs-module-lexer... from /usr/share/nodejs at start-up).
mapfile -t pkgs < <(apt-cache "${aptopts[@]}" depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances nodejs | grep -v '^ ' | grep -v '^<' | sort -u)
echo "arm-sysroot: $arch packages: ${pkgs[*]}" >&2

(cd "$base/debs" && rm -f ./*.deb && apt-get "${aptopts[@]}" download "${pkgs[@]}" >&2)

rm -rf "$root"
mkdir -p "$root"
for deb in "$base/debs"/*.deb; do dpkg -x "$deb" "$root"; done

# Check that the interpreter really starts before declaring the sysroot done.
here="$(cd "$(dirname "$0")" && pwd)"
if ! out="$(VCTRAIN_ARM_ROOT="$root" "$here/arm-node.sh" "$arch" -e 'console.log(process.version + " " + process.arch)')"; then
  echo "arm-sysroot: the unpacked node does not start under qemu" >&2
  exit 1
fi
echo "arm-sysroot: $out ready in $root" >&2
printf '%s\n' "$(date -u +%FT%TZ) ${pkgs[*]}" > "$stamp"
echo "$root"
