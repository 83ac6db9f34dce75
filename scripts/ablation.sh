#!/usr/bin/env bash
# The edit-stage ablation at equal compute: the default run (mask stage, then mask + edit
# corruption for the last 20% of steps) against the same run continued with the mask stage
# alone from the same checkpoint at the stage boundary. Then both are measured on held-out
# repair. Assumes runs/default has finished (anneal train models/train/default.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ANNEAL_BIN:-target/debug/anneal}
steps=$(python3 -c "import json;c=json.load(open('models/train/default.json'));print(c['steps'])")
boundary=$(python3 -c "import json;c=json.load(open('models/train/default.json'));print(int((1-c['edit_fraction'])*c['steps']))")
from=$(printf "runs/default/step-%07d" "$boundary")
[ -d "$from" ] || { echo "missing $from: the default run must have passed the stage boundary" >&2; exit 1; }
if [ ! -d runs/stage1-only ]; then
  mkdir -p runs/stage1-only
  cp -r "$from" runs/stage1-only/
  cp runs/default/tokenizer.json runs/default/*.tokens runs/stage1-only/
  basename "$from" > runs/stage1-only/latest
fi
"$bin" train models/train/stage1-only.json
final=$(printf "step-%07d" "$steps")
for arm in stage1-only default; do
  echo "== $arm"
  "$bin" eval repair --model "runs/$arm/$final" --limit "${LIMIT:-400}" --mode edit --out "runs/$arm/repair-edit.jsonl"
  tail -n 1 "runs/$arm/metrics.jsonl"
done
python3 scripts/plot_training.py runs/default runs/stage1-only --out docs/training.png
