#!/usr/bin/env bash
# The GPU check: the first minutes on a lent GPU machine, prepared so that they count.
#
#   scripts/gpu/device-check.sh pack          here: builds the CUDA binaries, strips and packs them
#                                             with the corpus into .device/ (carried, ≤ 60 MiB)
#   scripts/gpu/device-check.sh run OUT       on the GPU machine, from the repository root, with
#                                             .device/ carried: every step below on `cuda`
#   scripts/gpu/device-check.sh dry-run OUT   here, on the CPU, with tiny sizes: the same steps, so
#                                             that the GPU run does not fail on a typo (CI runs it)
#
# Steps (each with its own time limit; the whole run stays inside DEVICE_CHECK_SECONDS, 540 by
# default, because a command there may run 10 minutes and the session has 15):
#   1. parity on the device in f32 (every parity test) and bf16 (the logit tests, against a
#      tolerance derived in models/tests/parity.rs), and the default model's logits there
#      against the CPU's;
#   2. `anneal bench --device DEV --torch python3` on the default model, the 0.5B shape and
#      the 7B shape (random weights), with the GPU's memory sampled while each runs;
#   3. `anneal train models/train/gpu.json` for the minutes left, then its curves.
# Results go to OUT (at most 8 files, each well under 16 MiB); a summary table is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."

mode="${1:-}"
pack_dir=.device

# The parity test binary cargo builds with these options (its path has a hash in it).
parity_binary() {
  cargo test "$@" -p anneal-models --test parity --no-run --message-format=json | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "parity":
        print(m["executable"])'
}

pack() {
  set -e
  eval "$(scripts/gpu/cuda-toolkit.sh)"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/cuda}"
  # Without the embedded default model (17 MB, and the checkout carried beside has it): the
  # carried files and the checkout together must stay under the device's 64 MiB.
  cargo build --release --no-default-features --features cuda --bin anneal
  local parity
  parity="$(parity_binary --release --no-default-features --features cuda)"
  rm -rf "$pack_dir" && mkdir -p "$pack_dir"
  for pair in "anneal:$CARGO_TARGET_DIR/release/anneal" "parity:$parity"; do
    local name="${pair%%:*}" file="${pair#*:}"
    strip -o "$pack_dir/$name" "$file"
    xz -T0 -6 "$pack_dir/$name"
  done
  # The corpus for the training step, from scripts/train/corpus.py (never the evaluation set).
  local corpus="${CORPUS:-corpus}"
  [[ -f "$corpus/train.jsonl" ]] || { echo "no $corpus/train.jsonl: run scripts/train/corpus.py --out $corpus first" >&2; exit 1; }
  tar -C "$corpus" -cJf "$pack_dir/corpus.tar.xz" train.jsonl valid.jsonl
  grep -qx "/$pack_dir/" .git/info/exclude 2>/dev/null || echo "/$pack_dir/" >>.git/info/exclude
  du -ch "$pack_dir"/* | tail -n +1
  local total
  total=$(du -cb "$pack_dir"/* | tail -1 | cut -f1)
  ((total <= 60 * 1024 * 1024)) || { echo "packed $total bytes: over 60 MiB" >&2; exit 1; }
}

case "$mode" in
  pack) pack; exit ;;
  run | dry-run) ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac

out="${2:?usage: $0 $mode OUT}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log="$out/log.txt"
: >"$log"
budget="${DEVICE_CHECK_SECONDS:-540}"
started=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary=()

say() { echo "$*" | tee -a "$log"; }
left() { echo $((budget - ($(date +%s) - started))); }

# step NAME SECONDS COMMAND...: runs with a time limit, its output in the log, its status and
# time in the summary. A failed step does not stop the others: every figure that can be had is.
step() {
  local name="$1" limit="$2"
  shift 2
  local t0=$(date +%s) status
  say ""
  say "=== $name (limit ${limit}s, $(left)s left) ==="
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  status=$?
  local verdict=ok
  ((status == 124 || status == 137)) && verdict="timed out"
  ((status != 0 && status != 124 && status != 137)) && verdict="failed ($status)"
  say "--- $name: $verdict in $(($(date +%s) - t0))s"
  summary+=("| $name | $verdict | $(($(date +%s) - t0)) s |")
}

if [[ $mode == run ]]; then
  device=cuda
  for name in anneal parity; do
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$pack_dir/$name.xz" "$work/$name"
    chmod +x "$work/$name"
  done
  anneal="$work/anneal" parity="$work/parity"
  export ANNEAL_DEFAULT_MODEL_DIR="$PWD/models/default"
  mkdir -p "$work/corpus" && tar -C "$work/corpus" -xJf "$pack_dir/corpus.tar.xz"
  # candle links cuBLAS, cuRAND, NVRTC and the CUDA runtime 13; PyTorch's wheels carry them.
  site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  libs="$(find "$site/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')"
  export LD_LIBRARY_PATH="${libs}/usr/local/nvidia/lib64:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  shapes=(models/shapes/qwen2.5-coder-0.5b.json models/shapes/qwen2.5-coder-7b.json)
  bench_tasks=(8 4)
  sizes=()
  train_config=models/train/gpu.json
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$log"
  say "missing libraries: $(ldd "$anneal" | grep -c 'not found')"
  ldd "$anneal" | grep -E 'not found|cuda|cublas|curand|nvrtc' >>"$log"
else
  # The CPU stand-ins: this checkout's debug build and two tiny shapes.
  device=cpu
  cargo build --quiet --bin anneal
  anneal="$PWD/target/debug/anneal"
  parity="$(parity_binary --quiet)"
  [[ -x "$parity" ]] || { echo "dry run: no parity test binary" >&2; exit 1; }
  python3 - "$work" <<'EOF'
import json, sys
for name, layers in (("small", 2), ("large", 3)):
    c = json.load(open("models/shapes/qwen2.5-coder-0.5b.json"))
    c.update(hidden_size=64, intermediate_size=128, num_hidden_layers=layers, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=4096)
    json.dump(c, open(f"{sys.argv[1]}/{name}.json", "w"))
cfg = json.load(open("models/train/gpu.json"))
cfg.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
           batch_size=2, window=64, steps=6, warmup_steps=2, eval_every=3, eval_windows=4)
json.dump(cfg, open(f"{sys.argv[1]}/train.json", "w"))
EOF
  mkdir -p "$work/corpus"
  python3 - "$work/corpus" <<'EOF'
import json, pathlib, sys
files = sorted(pathlib.Path("models/src").rglob("*.rs"))
for name, part in (("train", files[:-3]), ("valid", files[-3:])):
    with open(f"{sys.argv[1]}/{name}.jsonl", "w") as f:
        for p in part:
            f.write(json.dumps({"lang": "rust", "path": str(p), "text": p.read_text()}) + "\n")
EOF
  shapes=("$work/small.json" "$work/large.json")
  bench_tasks=(2 2)
  sizes=(--block 8 --context 16 --sizes 8,16)
  train_config="$work/train.json"
fi
say "device-check $mode on $device, $(date -u +%FT%TZ), budget ${budget}s"

# GPU memory, sampled while a step runs (the bench reports no GPU figure of its own).
gpu_peak() {
  if [[ $device == cuda ]]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$work/mem-$1.csv" 2>/dev/null &
    echo $!
  fi
}
peak_of() { sort -n "$work/mem-$1.csv" 2>/dev/null | tail -1; }

# 1. Parity.
step "parity f32 on $device" 90 env ANNEAL_TEST_DEVICE=$device "$parity" --nocapture --test-threads 1
step "parity bf16 on $device" 60 env ANNEAL_TEST_DEVICE=$device ANNEAL_TEST_DTYPE=bf16 "$parity" logits --nocapture --test-threads 1

# 2. Bench. PyTorch on the same device unless this machine's python3 has none (said, not hidden).
torch=()
if python3 -c 'import torch, transformers' 2>/dev/null; then
  torch=(--torch python3)
else
  say "NOTE: python3 here has no torch/transformers: the PyTorch comparison is not run (the GPU machine has both)"
  summary+=("| PyTorch comparison | not run: no torch here | - |")
fi
bench() {
  local name="$1" limit="$2"
  shift 2
  local sampler
  sampler=$(gpu_peak "$name")
  step "bench $name" "$limit" "$anneal" bench --device "$device" "${torch[@]}" --out "$out/bench-$name.json" "$@"
  [[ -n "${sampler:-}" ]] && kill "$sampler" 2>/dev/null && say "peak GPU memory during bench $name: $(peak_of "$name") MiB"
}
[[ $mode == dry-run ]] && default_tasks=(--tasks 2) || default_tasks=()
bench default 90 "${default_tasks[@]}" "${sizes[@]}"
bench 0.5b 120 --shape "${shapes[0]}" --tasks "${bench_tasks[0]}" "${sizes[@]}"
bench 7b 300 --shape "${shapes[1]}" --tasks "${bench_tasks[1]}" "${sizes[@]}"

# 3. Training for the time left, less a minute for the final evaluation and the curves.
minutes=$(python3 -c "print(max(0.5, ($(left) - 75) / 60))")
[[ $mode == dry-run ]] && minutes=1
mkdir -p "$work/run"
cp models/default/tokenizer.json "$work/run/tokenizer.json" # the default model's vocabulary: no BPE to learn
sampler=$(gpu_peak train)
step "train gpu.json for ${minutes} min" $(python3 -c "print(int($minutes * 60 + 120))") \
  "$anneal" train "$train_config" --device "$device" --max-minutes "$minutes" --out "$work/run" --corpus "$work/corpus"
[[ -n "${sampler:-}" ]] && kill "$sampler" 2>/dev/null && say "peak GPU memory during training: $(peak_of train) MiB"
cp "$work/run/metrics.jsonl" "$out/metrics.jsonl" 2>/dev/null
python3 scripts/train/plot_training.py "$work/run" --out "$out/training.png" >>"$log" 2>&1 || say "no training plot"

# The summary: each step's verdict, then the figures the steps printed.
{
  echo "# device check ($mode on $device, $(date -u +%F))"
  echo
  echo "| step | verdict | time |"
  echo "|---|---|---|"
  printf '%s\n' "${summary[@]}"
  echo
  grep -E '^(parity |default model |peak GPU|model |one pass over|PyTorch|prefix reuse|speed-up|\| )' "$log"
  python3 - "$out/metrics.jsonl" <<'EOF'
import json, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1])]
except OSError:
    sys.exit()
if rows:
    last = rows[-1]
    print(f"\ntraining: {last['step']} steps, {last['tokens_seen']} tokens in {last['elapsed_secs']:.0f} s "
          f"= {last['tokens_seen'] / max(last['elapsed_secs'], 1e-9):.0f} tokens/s; "
          f"train loss {last['train_loss']:.3f}, valid loss {last.get('valid_loss') or float('nan'):.3f}")
EOF
} >"$out/summary.md"
cat "$out/summary.md"
ls -la "$out" >>"$log"
# Failed or timed-out steps fail the script, after everything else has run.
! grep -qE '\| (failed|timed out)' "$out/summary.md"
