#!/usr/bin/env python3
"""Plots `anneal bench` output: time of one forward pass against block size, the whole canvas
against the prefix kept in the K/V cache, and each arm's throughput.

usage: scripts/bench/plot_bench.py bench-results/bench.json --out docs/bench.png
Needs matplotlib (pip install matplotlib).
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("report", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/bench.png"))
    args = ap.parse_args()
    r = json.loads(args.report.read_text())
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    blocks = [t["block"] for t in r["pass_timing"]]
    left.plot(blocks, [t["full_ms"] for t in r["pass_timing"]], "o-", label="whole canvas")
    left.plot(blocks, [t["cached_ms"] for t in r["pass_timing"]], "s-", label="prefix K/V cached")
    if all("dual_ms" in t for t in r["pass_timing"]):
        left.plot(blocks, [t["dual_ms"] for t in r["pass_timing"]], "^-", label="prefix and suffix K/V cached")
    left.set_xscale("log", base=2)
    left.set_xticks(blocks, [str(b) for b in blocks])
    left.set_xlabel(f"block size (tokens; {r['context']} tokens of context each side)")
    left.set_ylabel("ms per forward pass")
    left.set_ylim(bottom=0)
    left.legend()
    left.set_title("Inference time for different block sizes")
    arms = r["arms"]
    right.bar([a["arm"] for a in arms], [a["tokens_per_second"] for a in arms])
    for i, a in enumerate(arms):
        right.annotate(f"{a['passes_per_token']:.2f}\npasses/token", (i, a["tokens_per_second"]), ha="center", va="bottom", fontsize=7)
    right.tick_params(axis="x", labelrotation=25)
    right.set_ylim(top=max(a["tokens_per_second"] for a in arms) * 1.2)
    right.set_ylabel("tokens/s")
    right.set_title(f"{r['model']}, {r['tasks']} blocks of {r['block']}")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
