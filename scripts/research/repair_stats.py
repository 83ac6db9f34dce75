#!/usr/bin/env python3
"""Summarise `anneal eval repair --out FILE.jsonl` runs: besides exact match, how often the model
moved a corrupted snippet closer to the original (character edit distance) or further away.

Exact repair of a k-token corruption is a high bar for a 4 M-parameter model; "closer" counts
partial repairs, "further" the damage, so the two arms of an ablation can be told apart.

    python3 scripts/research/repair_stats.py runs/arm-*/repair-edit.jsonl
    python3 scripts/research/repair_stats.py --paired A.jsonl B.jsonl   # the same snippets, two models

`--paired` counts the snippets only one of two runs (same seed, so the same snippets) restores
exactly, with the exact two-sided McNemar test on them: it asks whether one model repairs what
the other cannot, which the two exact-match rates alone cannot tell at a few percent.
"""
import json
import math
import sys


def distance(a: str, b: str) -> int:
    """Levenshtein distance over characters."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def rows_of(path: str) -> list:
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def summarise(path: str) -> dict:
    rows = rows_of(path)
    n = len(rows)
    stats = {"snippets": n, "exact": 0, "changed": 0, "closer": 0, "further": 0, "parse_valid": 0, "passes": 0.0}
    for r in rows:
        target, corrupted, repaired = r["target"].rstrip(), r["corrupted"].rstrip(), r["repaired"].rstrip()
        before, after = distance(corrupted, target), distance(repaired, target)
        stats["exact"] += r["exact"]
        stats["changed"] += repaired != corrupted
        stats["closer"] += after < before
        stats["further"] += after > before
        stats["parse_valid"] += r["parse_valid"]
        stats["passes"] += r["forward_passes"]
    return {k: (v / n if k != "snippets" else v) for k, v in stats.items()}


def paired(path_a: str, path_b: str) -> None:
    load = lambda p: [(r["target"], r["corrupted"], r["exact"]) for r in rows_of(p)]
    a, b = load(path_a), load(path_b)
    if [x[:2] for x in a] != [x[:2] for x in b]:
        sys.exit("--paired needs two runs over the same snippets (the same --seed and --limit)")
    only_a = sum(x[2] and not y[2] for x, y in zip(a, b))
    only_b = sum(y[2] and not x[2] for x, y in zip(a, b))
    n = only_a + only_b
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n) if n else 1.0
    print(f"exact only in {path_a}: {only_a}; only in {path_b}: {only_b}; exact McNemar p = {p:.2g}")


def main() -> None:
    if sys.argv[1:2] == ["--paired"]:
        if len(sys.argv) != 4:
            sys.exit("usage: repair_stats.py --paired A.jsonl B.jsonl")
        return paired(sys.argv[2], sys.argv[3])
    print("| run | snippets | exact | closer | further | changed | parse-valid | passes / snippet |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        s = summarise(path)
        pct = lambda k: f"{100 * s[k]:.1f}%"
        print(f"| {path} | {s['snippets']} | {pct('exact')} | {pct('closer')} | {pct('further')} | {pct('changed')} | {pct('parse_valid')} | {s['passes']:.2f} |")


if __name__ == "__main__":
    main()
