#!/usr/bin/env python3
"""Times one forward pass of an Anneal checkpoint folder in PyTorch eager mode, for
`anneal bench --torch PYTHON`: the same architecture (transformers' Qwen2, made bidirectional
with an all-zero additive mask) and the same weights, on a canvas of the same length, with
the same number of threads, on the same device in the same dtype. Prints one JSON object:
{"ms": mean milliseconds per pass, ...}.

    .venv-ref/bin/python scripts/bench/torch_forward.py DIR --tokens 224 --runs 5 --threads 2
    python3 scripts/bench/torch_forward.py DIR --tokens 224 --device cuda --dtype bf16
"""
import argparse
import json
import os
import time

import torch
from safetensors.torch import load_file
from transformers import Qwen2Config, Qwen2ForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--tokens", type=int, required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    args = ap.parse_args()
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.dir, "config.json")) as f:
        c = json.load(f)
    if c.get("model_type") != "anneal" or not c.get("attention_bias", True):
        raise SystemExit("torch_forward.py times native anneal checkpoints (a Qwen2 body with q/k/v biases)")
    config = Qwen2Config(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
                         intermediate_size=c["intermediate_size"], num_hidden_layers=c["num_hidden_layers"],
                         num_attention_heads=c["num_attention_heads"], num_key_value_heads=c["num_key_value_heads"],
                         max_position_embeddings=c["max_position_embeddings"], rope_theta=c.get("rope_theta", 10000.0),
                         rms_norm_eps=c.get("rms_norm_eps", 1e-6), tie_word_embeddings=c.get("tie_word_embeddings", False),
                         attn_implementation="eager")
    # Built where it runs, in the dtype it runs in: a 7B shape initialised in float32 on the
    # CPU first would take minutes and 30 GB.
    torch.set_default_dtype(dtype)
    with torch.device(args.device):
        model = Qwen2ForCausalLM(config)
    weights = load_file(os.path.join(args.dir, "model.safetensors"), device=args.device)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if config.tie_word_embeddings:
        model.tie_weights()
        missing = [m for m in missing if m != "lm_head.weight"]
    if missing or unexpected:
        raise SystemExit(f"weights do not match the Qwen2 body: missing {missing}, unexpected {unexpected}")
    model.eval()
    del weights
    ids = torch.randint(0, 4096, (1, args.tokens), device=args.device)
    mask = torch.zeros(1, 1, args.tokens, args.tokens, device=args.device, dtype=dtype)

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)  # warm-up
        sync()
        started = time.perf_counter()
        for _ in range(args.runs):
            model(input_ids=ids, attention_mask=mask)
        sync()
        ms = (time.perf_counter() - started) * 1000 / args.runs
    peak_mib = torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else None
    print(json.dumps({"ms": ms, "tokens": args.tokens, "threads": args.threads, "torch": torch.__version__,
                      "device": args.device, "dtype": args.dtype,
                      "peak_gpu_mib": peak_mib}))


if __name__ == "__main__":
    main()
