#!/bin/sh
# Runs the carried bench:gpu (scripts/gpu/carry.ts wrote this folder): unpacks Node and dawn.node if
# they came xz-compressed, puts the carried Vulkan loader on the library path when the machine has
# none, finds the NVIDIA Vulkan driver (writing an ICD manifest for libGLX_nvidia.so.0 when the
# container has the library but no manifest), then starts bench.mjs with the arguments given.
# TABGRID_DAWN=opengles uses Dawn's OpenGL ES backend instead; a preset VK_DRIVER_FILES is kept.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"

unxz_to() { # $1.xz → $1, with xz or with Python's lzma where xz is missing
  [ -f "$1" ] && return 0
  if command -v xz >/dev/null 2>&1; then xz -dc "$1.xz" > "$1.part"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1.xz" "$1.part"
  fi
  mv "$1.part" "$1"
}

if [ -n "${NODE:-}" ]; then :
elif [ -f node.xz ] || [ -f node ]; then unxz_to node; chmod +x node; NODE="$HERE/node"
elif command -v node >/dev/null 2>&1 && node -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)'; then NODE=node
else echo "run.sh: no Node >= 22 here; carry one with: npm run bench:gpu -- --carry DIR --node" >&2; exit 2
fi
[ -f dawn.node.xz ] && unxz_to dawn.node
export TABGRID_DAWN_NODE="$HERE/dawn.node"

if [ "${TABGRID_DAWN:-vulkan}" = opengles ]; then
  export EGL_PLATFORM=surfaceless TABGRID_DAWN_FLAGS=backend=opengles TABGRID_DAWN_FEATURE_LEVEL=compatibility
else
  export TABGRID_DAWN_FLAGS=backend=vulkan TABGRID_DAWN_FEATURE_LEVEL=core
  if ! (ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '); then
    export LD_LIBRARY_PATH="$HERE/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  if [ -z "${VK_DRIVER_FILES:-}" ]; then
    for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
      for f in "$d"/nvidia*.json; do [ -f "$f" ] && VK_DRIVER_FILES="${VK_DRIVER_FILES:+$VK_DRIVER_FILES:}$f"; done
    done
    if [ -z "${VK_DRIVER_FILES:-}" ]; then
      lib=$( (ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0 /{print $NF; exit}') || true)
      [ -z "$lib" ] && lib=$(find /usr/lib /usr/lib64 /usr/local/nvidia -name 'libGLX_nvidia.so.0' 2>/dev/null | head -n1 || true)
      if [ -n "$lib" ]; then
        printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$lib" > "$HERE/nvidia_icd.json"
        VK_DRIVER_FILES="$HERE/nvidia_icd.json"
      else
        echo "run.sh: no NVIDIA Vulkan driver found (no nvidia*.json ICD, no libGLX_nvidia.so.0); the Vulkan loader's defaults remain" >&2
      fi
    fi
    [ -n "${VK_DRIVER_FILES:-}" ] && export VK_DRIVER_FILES
  fi
  echo "run.sh: VK_DRIVER_FILES=${VK_DRIVER_FILES:-(default)}" >&2
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >&2 || true
exec "$NODE" "$HERE/bench.mjs" "$@"
