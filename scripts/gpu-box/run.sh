#!/usr/bin/env bash
# On the GPU box: unpacks the kit built by make-kit.sh (Node, Dawn, the Vulkan loader where the box lacks it), points
# Vulkan at NVIDIA's driver (its ICD file, or one written for the driver library it finds) and runs bench:gpu on webgpu.
# stdout: the bench's one JSON line (with a "kit" record of what was found); stderr: progress and diagnostics.
# Usage: bash gpu-kit/run.sh [bench/gpu.ts options]   (or scripts/gpu-box/run.sh with ./gpu-kit beside it)
# GPU_KIT_ICD=<icd.json> uses that Vulkan driver instead (tested here with Chromium's SwiftShader ICD);
# GPU_KIT_UNPACK=python unpacks the .debs with Python instead of dpkg-deb.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -n "${GPU_KIT:-}" ]; then KIT=$GPU_KIT
elif [ -f "$HERE/node.xz" ]; then KIT=$HERE
else KIT=$(cd "$HERE/../.." && pwd)/gpu-kit
fi
say() { printf '[gpu-kit] %s\n' "$*" >&2; }
fail() { # the one JSON line, also when nothing could run
  printf '{"bench":"gpu","error":"%s","kit":{"icd":"%s","libs_added":"%s","driver":"%s"}}\n' "$1" "${ICD:-}" "${ADDED:-}" "${DRIVER:-}"
  exit 2
}
[ -f "$KIT/node.xz" ] || fail "no kit at $KIT (build it with scripts/gpu-box/make-kit.sh and carry the folder)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-kit.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

say "unpacking Node and Dawn into $WORK"
xz -dc "$KIT/node.xz" > "$WORK/node" && chmod +x "$WORK/node" || fail "xz could not unpack node.xz"
"$WORK/node" --version >/dev/null 2>&1 || fail "the carried Node binary does not run here (glibc too old?)"
mkdir -p "$WORK/webgpu/dist/linux-x64"
cp "$KIT/webgpu/package.json" "$KIT/webgpu/index.js" "$WORK/webgpu/"
xz -dc "$KIT/webgpu/dist/linux-x64/dawn.node.xz" > "$WORK/webgpu/dist/linux-x64/dawn.node" || fail "xz could not unpack dawn.node.xz"

# ---------------------------------------------------------------- libraries the box lacks
has_lib() { ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$1 " || ls /usr/lib/x86_64-linux-gnu/"$1" /usr/lib64/"$1" /lib/x86_64-linux-gnu/"$1" >/dev/null 2>&1; }
unpack_deb() { # $1 .deb → $2 folder
  if [ "${GPU_KIT_UNPACK:-}" != python ] && command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$2"; return; fi
  python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'!<arch>\n', 'not a .deb'
pos = 8
while pos < len(data):  # ar members: 60-byte header (name 16, ..., size at 48:58), data padded to even
    name, size = data[pos:pos + 16].decode().strip().rstrip('/'), int(data[pos + 48:pos + 58])
    body = data[pos + 60:pos + 60 + size]
    if name.startswith('data.tar'):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
    pos += 60 + size + (size & 1)
PY
}
mkdir -p "$WORK/sys" "$WORK/lib"
for deb in "$KIT"/debs/*.deb; do unpack_deb "$deb" "$WORK/sys" || fail "could not unpack $(basename "$deb")"; done
ADDED=""
for so in libvulkan.so.1 libGLdispatch.so.0 libGLX.so.0 libEGL.so.1 libX11.so.6 libXext.so.6 libxcb.so.1 libXau.so.6 libXdmcp.so.6 libbsd.so.0 libmd.so.0; do
  has_lib "$so" && continue
  src=$(find "$WORK/sys" -name "$so" | head -1)
  [ -n "$src" ] && cp -L "$src" "$WORK/lib/$so" && ADDED="$ADDED $so"
done
ADDED=${ADDED# }
export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
say "libraries added (the box lacked them): ${ADDED:-none}"

# ---------------------------------------------------------------- NVIDIA's Vulkan driver
DRIVER=$(head -1 /proc/driver/nvidia/version 2>/dev/null | sed 's/  */ /g')
command -v nvidia-smi >/dev/null && say "$(nvidia-smi -L 2>&1 | head -2)"
say "NVIDIA driver: ${DRIVER:-not found}; NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-unset}"
find_lib() { # prints the first path of a library by name
  ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n { print $NF; exit }' | grep . && return
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/nvidia /lib/x86_64-linux-gnu; do
    [ -e "$d/$1" ] && { echo "$d/$1"; return; }
  done
}
ICD=${GPU_KIT_ICD:-}
ICD_SOURCE=given
if [ -z "$ICD" ]; then
  ICD_SOURCE=found
  ICD=$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json /usr/local/share/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
fi
if [ -z "$ICD" ]; then # no ICD file (a compute-only container mount): write one for the driver library, if present
  for lib in libGLX_nvidia.so.0 libEGL_nvidia.so.0; do
    path=$(find_lib "$lib")
    if [ -n "$path" ]; then
      ICD="$WORK/nvidia_icd.json" ICD_SOURCE="written for $path"
      printf '{"file_format_version":"1.0.1","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$path" > "$ICD"
      break
    fi
  done
fi
for lib in libnvidia-glvkspirv.so libnvidia-gpucomp.so libnvidia-glcore.so libnvidia-eglcore.so libcuda.so.1; do
  p=$(ldconfig -p 2>/dev/null | grep -m1 "$lib" | awk '{print $NF}'); say "  $lib: ${p:-missing}"
done
if [ -n "$ICD" ]; then
  export VK_ICD_FILENAMES="$ICD" VK_DRIVER_FILES="$ICD"
  say "Vulkan ICD ($ICD_SOURCE): $ICD"
else
  say "no NVIDIA Vulkan driver found (no ICD file, no libGLX_nvidia / libEGL_nvidia): the container needs the 'graphics' driver capability; trying Dawn anyway"
fi

export GPU_KIT_ICD_USED="${ICD:-none} (${ICD_SOURCE})" GPU_KIT_LIBS="${ADDED:-none}" GPU_KIT_DRIVER="${DRIVER:-none}"
say "running bench:gpu"
"$WORK/node" "$KIT/gpu.mjs" --backend webgpu --webgpu-module "$WORK/webgpu/index.js" "$@"
