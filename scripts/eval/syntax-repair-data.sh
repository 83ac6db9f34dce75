#!/usr/bin/env bash
# Held-out files for `anneal eval syntax-repair` in the languages HumanEvalPack lacks: C, Ruby
# and Bash. Evaluation data only (never trained on), gathered from pinned sources so that two
# machines get the same files:
#
# - C: the hand-written C sources of crates this workspace's Cargo.lock pins (tree-sitter's
#   runtime, MIT; Oniguruma, BSD-2-Clause; mimalloc, MIT), from cargo's registry;
# - Ruby: Ruby 3.1's standard library (BSD-2-Clause / Ruby licence), from Debian's libruby3.1;
# - Bash: bash-completion's completion scripts (GPL-2.0+), from Debian's bash-completion.
#
# Debian packages are downloaded and unpacked, not installed. Nothing here is copied into the
# repository. Usage: scripts/eval/syntax-repair-data.sh [OUT] (default target/syntax-repair-data),
# then `anneal eval syntax-repair --extra OUT`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/syntax-repair-data}
rm -rf "$out"
mkdir -p "$out/c" "$out/ruby" "$out/bash"
out=$(cd "$out" && pwd)

cargo fetch --locked >/dev/null
registry=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ | head -1)
version() { sed -n "/^name = \"$1\"$/{n;s/^version = \"\(.*\)\"$/\1/p;}" Cargo.lock | head -1; }
copy_c() { # crate, folder inside it
    local v dir
    v=$(version "$1")
    [ -n "$v" ] || { echo "syntax-repair-data: $1 is not in Cargo.lock" >&2; exit 1; }
    dir="$registry/$1-$v/$2"
    [ -d "$dir" ] || { echo "syntax-repair-data: $dir is missing (cargo fetch?)" >&2; exit 1; }
    find "$dir" -maxdepth 1 -name '*.c' ! -name parser.c ! -name scanner.c | sort | while read -r f; do
        cp "$f" "$out/c/$1-$(basename "$f")"
    done
}
copy_c tree-sitter src
copy_c onig_sys oniguruma/src
copy_c libmimalloc-sys c_src/mimalloc/v2/src

tmp=$(mktemp -d)
chmod 755 "$tmp" # apt downloads as its own user
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download libruby3.1 bash-completion >/dev/null)
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
find "$tmp/root/usr/lib/ruby" -name '*.rb' | sort | while read -r f; do
    rel=${f#"$tmp/root/usr/lib/ruby/"}
    cp "$f" "$out/ruby/${rel//\//-}"
done
find "$tmp/root/usr/share/bash-completion/completions" -type f | sort | while read -r f; do
    cp "$f" "$out/bash/$(basename "$f").bash"
done
for lang in c ruby bash; do
    echo "syntax-repair-data: $(ls "$out/$lang" | wc -l) $lang files in $out/$lang"
done
