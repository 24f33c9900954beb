#!/usr/bin/env bash
# Builds Mesa's vc4 driver (the Raspberry Pi 3's GL driver) on an x86 or arm64 Debian 12 machine, with the
# no-op DRM shim that lets it load without the hardware, and vc4stats.sh, which `vctrain cost` runs to read
# the vc4 compiler's figures for each shader (QPU instructions, threads, uniforms). Nothing is rendered.
#   scripts/vc4-compiler.sh [OUT_DIR]    (default ~/.cache/vctrain/vc4-compiler; about 10 minutes on 2 cores)
# Needs deb-src for bookworm (added if missing) and root for apt-get. Mesa 22.3 is what Raspberry Pi OS
# bookworm ships, so the compiler is the one a Pi 3 runs.
set -euo pipefail
out=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/vctrain/vc4-compiler}
mkdir -p "$out" && out=$(cd "$out" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
if ! grep -rqs '^Types: deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
    $sudo tee /etc/apt/sources.list.d/vctrain-mesa-src.sources >/dev/null
  $sudo apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends meson ninja-build python3-mako bison flex \
  libdrm-dev libexpat1-dev zlib1g-dev pkg-config libudev-dev gcc >/dev/null
cd "$out"
if [ ! -d mesa-src ]; then
  apt-get source --download-only mesa >/dev/null
  mkdir mesa-src && tar xzf mesa_*.orig.tar.gz -C mesa-src --strip-components=1
fi
cd mesa-src
shim=src/broadcom/drm-shim/vc4_noop.c
# Mesa 22.3's vc4 shim answers buffer creation but not the calls a draw makes (shader buffers, job
# submission, waits); a draw is what makes the driver compile, so they are answered here.
if ! grep -q "\[DRM_VC4_CREATE_SHADER_BO\]" "$shim"; then
  python3 - "$shim" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
fn = '''static int
vctrain_create_shader_bo(int fd, unsigned long request, void *arg)
{
        struct shim_fd *shim_fd = drm_shim_fd_lookup(fd);
        struct drm_vc4_create_shader_bo *req = arg;
        struct shim_bo *bo = calloc(1, sizeof(*bo));
        drm_shim_bo_init(bo, req->size);
        req->handle = drm_shim_bo_get_handle(shim_fd, bo);
        drm_shim_bo_put(bo);
        return 0;
}

'''
anchor = 'static int\nvc4_ioctl_mmap_bo('
assert anchor in s, 'unexpected vc4_noop.c: ' + p
s = s.replace(anchor, fn + anchor, 1)
table = '        [DRM_VC4_CREATE_BO] = vc4_ioctl_create_bo,'
assert table in s
s = s.replace(table, '''        [DRM_VC4_CREATE_SHADER_BO] = vctrain_create_shader_bo,
        [DRM_VC4_SUBMIT_CL] = vc4_ioctl_noop,
        [DRM_VC4_WAIT_SEQNO] = vc4_ioctl_noop,
        [DRM_VC4_WAIT_BO] = vc4_ioctl_noop,
''' + table, 1)
open(p, 'w').write(s)
PY
fi
[ -d build ] || meson setup build -Dbuildtype=release -Dgallium-drivers=vc4 -Dvulkan-drivers= -Dplatforms= -Dglx=disabled \
  -Degl=enabled -Dgbm=disabled -Dgles1=disabled -Dgles2=enabled -Dopengl=true -Dllvm=disabled -Dshared-glapi=enabled \
  -Dtools=drm-shim -Dvalgrind=disabled -Dlibunwind=disabled -Dzstd=disabled -Dgallium-vdpau=disabled -Dgallium-va=disabled \
  -Dgallium-xa=disabled -Dgallium-nine=false -Dgallium-opencl=disabled -Dlmsensors=disabled -Dbuild-tests=false >/dev/null
ninja -C build >/dev/null
B=$out/mesa-src/build
gcc -O1 -o "$out/vc4stats" "$here/vc4stats.c" -I include -L "$B/src/egl" -L "$B/src/mapi/es2api" -lEGL -lGLESv2
cat > "$out/vc4stats.sh" <<RUN
#!/usr/bin/env bash
# vc4stats.sh VERTEX FRAGMENT...: per fragment shader, Mesa vc4's shader-db line (written by scripts/vc4-compiler.sh)
B="$B"
export LD_LIBRARY_PATH="\$B/src/egl:\$B/src/mapi/es2api:\$B/src/mapi/shared-glapi" LIBGL_DRIVERS_PATH="\$B/src/gallium/targets/dri"
export MESA_LOADER_DRIVER_OVERRIDE=vc4 VC4_DEBUG=shaderdb EGL_PLATFORM=surfaceless
LD_PRELOAD="\$B/src/broadcom/drm-shim/libvc4_noop_drm_shim.so" exec "$out/vc4stats" "\$@"
RUN
chmod +x "$out/vc4stats.sh"
echo "$out/vc4stats.sh"
