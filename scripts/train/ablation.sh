#!/usr/bin/env bash
# The recipe's ablation at equal optimiser steps. Every arm branches from a finished main run
# (2,400 steps) and trains 120 more steps at the final learning rate; only those steps differ:
#   stage1    — the stage-1-only run, continued with mask diffusion alone;
#   edit      — the default run, continued with its mask + edit-corruption mixture;
#   order     — the default run, + constrained-order distillation (stage 3);
#   on-policy — the default run, + 60 steps of stage 3, then 60 of on-policy (stage 4).
# The order and on-policy arms also spend forward passes sampling trajectories; the wall time
# of each arm is in its metrics.jsonl. Then every arm is measured the same way: masked-token
# accuracy and block fill (the last line of metrics.jsonl) and held-out repair.
# Needs runs/default and runs/stage1-only at step 2400 (anneal train models/train/default.json,
# then the stage-1-only run: models/train/stage1-only.json branched at the stage boundary).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${ANNEAL_BIN:-target/debug/anneal}
base_step=step-0002400
final=step-0002520

arm() {
  local name=$1 base=$2 config=$3 post=$4 out=runs/arm-$1
  [ -d "runs/$base/$base_step" ] || { echo "missing runs/$base/$base_step" >&2; exit 1; }
  if [ ! -f "$out/latest" ]; then
    mkdir -p "$out"
    cp -r "runs/$base/$base_step" "$out/"
    cp "runs/$base/tokenizer.json" runs/"$base"/*.tokens "$out/"
    echo "$base_step" > "$out/latest"
  fi
  python3 - "$config" "$out" "$post" <<'PY'
import json, sys
config, out, post = sys.argv[1:]
c = json.load(open(config))
c["out"], c["post"] = out, json.loads(post)
json.dump(c, open(f"{out}/arm.json", "w"), indent=2)
PY
  "$bin" train "$out/arm.json"
}

arms=${ARMS:-"order on-policy edit stage1"}
for a in $arms; do
  case $a in
    stage1)    arm stage1 stage1-only models/train/stage1-only.json '[{"kind":"mask","steps":120}]' ;;
    edit)      arm edit default models/train/default.json '[{"kind":"edit","steps":120}]' ;;
    order)     arm order default models/train/default.json '[{"kind":"order","steps":120}]' ;;
    on-policy) arm on-policy default models/train/default.json '[{"kind":"order","steps":60},{"kind":"on_policy","steps":60}]' ;;
  esac
done
for a in $arms; do
  echo "== $a"
  "$bin" eval repair --model "runs/arm-$a/$final" --limit "${LIMIT:-400}" --mode edit --out "runs/arm-$a/repair-edit.jsonl"
  tail -n 1 "runs/arm-$a/metrics.jsonl"
done
