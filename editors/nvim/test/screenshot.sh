#!/usr/bin/env bash
# Render a PNG screenshot of the Anneal Neovim plugin's diff preview, for the README.
#
#   editors/nvim/test/screenshot.sh [OUT.png]     (default: docs/nvim-diff-preview.png)
#
# Assumes tmux, aha (Debian package `aha`) and a headless-capable chromium are installed.
# Environment (optional):
#   NVIM        Neovim 0.10+ (default: .venv-nvim/bin/nvim, else `nvim` on PATH)
#   ANNEAL_BIN  the anneal binary (default: /tmp/anneal-nvim-bin, else target/debug/anneal)
#   CHROMIUM    chromium binary (default: chromium)
#   WAIT_S      how long to wait for the preview (default 120)
#
# How: Neovim runs (not headless) in a detached tmux session of a fixed size, with a tiny
# init.lua that loads the plugin and starts the server with the embedded default model in
# mask mode. It opens a copy of test/fixtures/sample.py, selects the body of `mean` and runs
# `:'<,'>AnnealRewrite simplify`. Once the preview window (filetype `diff`) is up, the pane
# is captured with its colours, turned into HTML by aha, and screenshotted by chromium.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:-$root/docs/nvim-diff-preview.png}
nvim=${NVIM:-$root/.venv-nvim/bin/nvim}
[ -x "$nvim" ] || nvim=$(command -v nvim)
bin=${ANNEAL_BIN:-/tmp/anneal-nvim-bin}
[ -x "$bin" ] || bin=$root/target/debug/anneal
chromium=${CHROMIUM:-chromium}
wait_s=${WAIT_S:-120}
cols=140 rows=40
sess=anneal-shot-$$

tmp=$(mktemp -d)
cleanup() { tmux kill-session -t "$sess" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# Fresh, isolated config/data/state/cache so no user config leaks into the picture.
for d in config data state cache; do mkdir -p "$tmp/$d"; done
mkdir -p "$tmp/work"
# The fixture's emoji has no glyph in the usual monospace fonts (it would show as a box): drop it.
sed 's/ 🧮//' "$here/fixtures/sample.py" >"$tmp/work/averages.py"

cat >"$tmp/init.lua" <<LUA
vim.opt.runtimepath:prepend('$root/editors/nvim')
vim.o.termguicolors = true
vim.o.number = true
vim.o.signcolumn = 'no'
vim.o.laststatus = 2
vim.o.swapfile = false
vim.o.shortmess = vim.o.shortmess .. 'I'
vim.cmd.colorscheme('default')
vim.o.background = 'dark'
require('anneal').setup({
  cmd = { '$bin', 'serve' },
  init_options = { edit = { mode = 'mask', acceptSyntaxErrors = true, mask = { maxSteps = 8 } } },
})
-- Marker for the script: the preview (a 'diff' window) is on show.
vim.api.nvim_create_autocmd('FileType', {
  pattern = 'diff',
  callback = function()
    vim.defer_fn(function() io.open('$tmp/preview-shown', 'w'):close() end, 300)
  end,
})
-- Marker for the script: the server is attached to the Python buffer.
vim.api.nvim_create_autocmd('LspAttach', {
  callback = function() io.open('$tmp/attached', 'w'):close() end,
})
LUA

wait_for() { # wait_for FILE SECONDS
  for _ in $(seq 1 $(( $2 * 5 ))); do [ -e "$1" ] && return 0; sleep 0.2; done
  echo "screenshot.sh: timed out waiting for $1" >&2
  tmux capture-pane -p -t "$sess" >&2 || true
  exit 1
}

# Started in the work folder, so the file (and the diff headers) show a short relative name.
tmux -f /dev/null new-session -d -s "$sess" -x "$cols" -y "$rows" -c "$tmp/work" \
  "env XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_STATE_HOME=$tmp/state \
   XDG_CACHE_HOME=$tmp/cache TERM=tmux-256color COLORTERM=truecolor \
   $nvim -u $tmp/init.lua averages.py"
tmux set-option -t "$sess" default-terminal tmux-256color >/dev/null
tmux set-option -t "$sess" status off >/dev/null
wait_for "$tmp/attached" 30
sleep 1
# Select the body of mean() (lines 5-8) linewise and ask for a rewrite.
tmux send-keys -t "$sess" '5G' 'V' '3j' ':'
sleep 0.3
tmux send-keys -t "$sess" 'AnnealRewrite simplify' Enter
wait_for "$tmp/preview-shown" "$wait_s"
# Clear the progress/echo line so the picture shows just the editor.
tmux send-keys -t "$sess" ':echo ""' Enter
sleep 0.5

tmux capture-pane -e -p -t "$sess" >"$tmp/screen.ansi"
[ -n "${DEBUG_DIR:-}" ] && cp "$tmp/screen.ansi" "$DEBUG_DIR/"
aha --black --title 'Anneal: diff preview' <"$tmp/screen.ansi" >"$tmp/screen.html"
# Monospace font, small padding, and the page painted with Neovim's default dark background
# (NvimDarkGrey2, #14161b): tmux trims trailing blanks, so aha only colours cells with text.
sed -i 's#</head>#<style>body{margin:0;padding:12px;background:\#14161b !important;}pre{margin:0;font-family:"DejaVu Sans Mono",monospace;font-size:14px;line-height:1.25;}</style></head>#' "$tmp/screen.html"

# 140 columns x 40 rows of 14px DejaVu Sans Mono (~8.43 x 17.5 px) plus padding.
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1210,725 --screenshot="$tmp/shot.png" "file://$tmp/screen.html" >/dev/null 2>&1
mkdir -p "$(dirname "$out")"
cp "$tmp/shot.png" "$out"
echo "wrote $out"
