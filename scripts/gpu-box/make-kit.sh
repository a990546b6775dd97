#!/usr/bin/env bash
# Builds gpu-kit/: everything the GPU box (no Node, no npm, no network) needs to run `bench:gpu` with one command —
# Node's binary (xz), the bench bundled with the engine (esbuild), Dawn's Node binding from the `webgpu` package (xz),
# the Vulkan loader and the libraries NVIDIA's Vulkan driver links to (Debian .debs, unpacked there only where the box
# lacks them), and run.sh. Carry the folder (it ignores itself in git) and run `bash gpu-kit/run.sh` there.
# Usage: scripts/gpu-box/make-kit.sh [kit folder, default ./gpu-kit]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIT=$(realpath -m "${1:-$ROOT/gpu-kit}")
LIMIT=$((60 * 1024 * 1024)) # what a device run may carry is 64 MiB in all
DEBS="libvulkan1 libglvnd0 libglx0 libegl1 libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0"
say() { printf '[gpu-kit] %s\n' "$*" >&2; }

[ "$(uname -m)" = x86_64 ] || { say "the GPU box is linux-x64: build the kit on an x86_64 machine"; exit 1; }
[ -f "$ROOT/node_modules/webgpu/dist/linux-x64/dawn.node" ] || { say "node_modules/webgpu is missing: npm install"; exit 1; }
command -v apt-get >/dev/null || { say "apt-get is needed to download the Vulkan loader's .deb files"; exit 1; }

rm -rf "$KIT"
mkdir -p "$KIT/webgpu/dist/linux-x64" "$KIT/debs"
printf '*\n' > "$KIT/.gitignore"

say "bundling bench/gpu.ts"
(cd "$ROOT" && npx tsx bench/gpu-bundle.ts --out "$KIT/gpu.mjs" --build-only)

NODE_BIN=$(command -v node)
say "compressing $NODE_BIN ($(node --version)) with xz -6"
xz -6 -c "$NODE_BIN" > "$KIT/node.xz"

say "Dawn: webgpu@$(node -p "require('$ROOT/node_modules/webgpu/package.json').version")"
cp "$ROOT/node_modules/webgpu/package.json" "$ROOT/node_modules/webgpu/index.js" "$KIT/webgpu/"
xz -6 -c "$ROOT/node_modules/webgpu/dist/linux-x64/dawn.node" > "$KIT/webgpu/dist/linux-x64/dawn.node.xz"

say "downloading $DEBS"
(cd "$KIT/debs" && apt-get download $DEBS 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2)

cp "$ROOT/scripts/gpu-box/run.sh" "$KIT/run.sh"
{
  echo "built $(date -u +%FT%TZ) on $(uname -srm); node $(node --version); webgpu $(node -p "require('$ROOT/node_modules/webgpu/package.json').version"); repo $(cd "$ROOT" && git rev-parse --short HEAD)"
  (cd "$KIT" && find . -type f ! -name MANIFEST -printf '%s %p\n' | sort -k2)
} > "$KIT/MANIFEST"

TOTAL=$(du -sb "$KIT" | cut -f1)
say "kit: $KIT, $((TOTAL / 1024 / 1024)) MiB ($TOTAL bytes)"
[ "$TOTAL" -le "$LIMIT" ] || { say "over the $((LIMIT / 1024 / 1024)) MiB limit"; exit 1; }
