#!/usr/bin/env bash
# Builds llama.cpp's diffusion runner (`llama-diffusion-cli`), the peer `anneal bench` is
# compared with on the same GGUF (docs/benchmarks.md#against-llamacpp). Its source comes from
# the llama-cpp-python sdist on PyPI, which vendors llama.cpp with examples/diffusion; cmake
# comes from PyPI too. Everything lands in target/llama.cpp (ignored): the sdist, its source,
# a virtual environment with cmake, and the build. About 6 minutes on 2 cores.
#
#   scripts/bench/llama-cpp.sh            # prints the path of llama-diffusion-cli
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
root=target/llama.cpp
mkdir -p "$root"
sdist="$root/llama_cpp_python-$VERSION.tar.gz"
if [ ! -f "$sdist" ]; then
  # The sdist's address, from PyPI's simple index (PEP 503: every registry mirror serves it;
  # the JSON API is not always there).
  index=https://pypi.org/simple/llama-cpp-python/
  url=$(curl -fsSL "$index" | python3 -c '
import re, sys, urllib.parse
name = "llama_cpp_python-'"$VERSION"'.tar.gz"
href = next(h for h in re.findall(r"href=\"([^\"]+)\"", sys.stdin.read()) if h.split("#")[0].endswith("/" + name) or h.split("#")[0] == name)
print(urllib.parse.urljoin("'"$index"'", href.split("#")[0]))')
  curl -fsSL -o "$sdist.partial" "$url"
  echo "$SHA256  $sdist.partial" | sha256sum -c --quiet
  mv "$sdist.partial" "$sdist"
fi
src="$root/llama_cpp_python-$VERSION/vendor/llama.cpp"
[ -d "$src" ] || tar -xzf "$sdist" -C "$root"
venv="$root/venv"
[ -x "$venv/bin/cmake" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check cmake==3.31.6; }
build="$root/build"
if [ ! -x "$build/bin/llama-diffusion-cli" ]; then
  # Native CPU kernels (AVX2 here), no network client, only the one tool.
  "$venv/bin/cmake" -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >&2
  "$venv/bin/cmake" --build "$build" --target llama-diffusion-cli -j "$(nproc)" >&2
fi
echo "$PWD/$build/bin/llama-diffusion-cli"
