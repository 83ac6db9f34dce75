#!/usr/bin/env bash
# Installs the CUDA 13.0 compiler, headers and link libraries from PyPI into one folder, so that
# `cargo build --features cuda` works on a machine with no CUDA toolkit and no GPU (CI, this
# project's build machine). Prints the environment a build needs; use it as
#
#     eval "$(scripts/gpu/cuda-toolkit.sh)"
#     cargo build --release --features cuda
#
# Why the pieces:
# - NVIDIA publishes the toolkit as wheels. The 13.0.x ones are pinned because the GPU machines
#   this project is checked on run driver 580 (CUDA 13.0): PTX from a newer nvcc does not load
#   on an older driver. The -cu12 nvcc wheel holds ptxas but no nvcc, so 12.x is no option here.
# - candle enables cudarc's `dynamic-linking`, so the link step asks for libcuda.so, which only
#   a driver installs. A stub with the driver's soname (libcuda.so.1) and every driver entry point
#   cudarc can call satisfies the linker; at run time the real driver's libcuda.so.1 is loaded.
#   The names come from cudarc's own bindings, so the stub follows the cudarc in Cargo.lock.
# - The wheels ship versioned libraries only (libcublas.so.13); the linker wants libcublas.so.
#
# The folder is a cache: a second run with the same versions does nothing but print.
set -euo pipefail

root="${ANNEAL_CUDA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/anneal-cuda/13.0}"
wheels=(
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88
  nvidia-cublas==13.0.2.14 nvidia-curand==10.4.5.25
)
cu="$root/nvidia/cu13"
stamp="$root/.installed"

if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${wheels[*]}" ]]; then
  echo "cuda-toolkit: installing ${#wheels[@]} wheels into $root" >&2
  rm -rf "$root"
  mkdir -p "$root"
  # --target installs nothing into the system's Python, so a Debian Python's PEP 668 guard
  # does not apply.
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --no-deps --disable-pip-version-check --target "$root" "${wheels[@]}" >&2

  # Unversioned names for the linker.
  for lib in "$cu"/lib/lib*.so.*; do
    base="${lib%%.so.*}.so"
    [[ -e "$base" ]] || ln -s "$(basename "$lib")" "$base"
  done

  # The driver stub (see above). cudarc's bindings are in the cargo registry once `cargo fetch`
  # has run; the build fails loudly here rather than at the link step if they are not.
  registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
  version="$(awk '/^name = "cudarc"/{getline; gsub(/[^0-9.]/, ""); print; exit}' "$(dirname "$0")/../../Cargo.lock")"
  bindings="$(ls -d "$registry"/*/cudarc-"$version"/src/driver/sys/mod.rs | head -1)"
  [[ -f "$bindings" ]] || { echo "cuda-toolkit: cudarc $version not fetched; run cargo fetch first" >&2; exit 1; }
  # Only the unversioned name exists, so the dynamic loader (which asks for libcuda.so.1) can
  # never pick the stub instead of a real driver, even with this folder on LD_LIBRARY_PATH.
  grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$bindings" | sed -E 's/^pub unsafe fn (.*)/int \1(void) { return 999; }/' \
    | sort -u >"$root/cuda_stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$cu/lib/libcuda.so" "$root/cuda_stub.c"
  echo "${wheels[*]}" >"$stamp"
  echo "cuda-toolkit: $(grep -c . "$root/cuda_stub.c") driver entry points in the libcuda stub" >&2
fi

# CUDA_ROOT is read by cudarc (link search), CUDA_HOME by cudaforge (nvcc, headers).
cat <<EOF
export CUDA_ROOT="$cu"
export CUDA_HOME="$cu"
export PATH="$cu/bin:\$PATH"
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-90}"
EOF
