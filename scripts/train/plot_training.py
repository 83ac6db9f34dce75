#!/usr/bin/env python3
"""Plots a training run's metrics.jsonl (loss and masked-token accuracy against tokens seen).

usage: scripts/train/plot_training.py runs/default [runs/stage1-only ...] --out docs/training.png
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
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/training.png"))
    args = ap.parse_args()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for run in args.runs:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        tokens = [r["tokens_seen"] / 1e6 for r in rows]
        ax_loss.plot(tokens, [r["train_loss"] for r in rows], label=f"{run.name} train")
        ax_loss.plot(tokens, [r["valid_loss"] for r in rows], "--", label=f"{run.name} valid")
        for k, rate in enumerate(["25%", "50%", "75%"]):
            ax_acc.plot(tokens, [100 * r["valid_accuracy"][k] for r in rows], label=f"{run.name} @{rate} masked")
    ax_loss.set_xlabel("training tokens (millions)")
    ax_loss.set_ylabel("weighted masked cross-entropy (nats)")
    ax_loss.set_title("loss")
    ax_acc.set_xlabel("training tokens (millions)")
    ax_acc.set_ylabel("masked-token accuracy on held-out files (%)")
    ax_acc.set_title("masked-token recovery")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
