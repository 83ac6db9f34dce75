#!/usr/bin/env python3
"""Regenerates the GGUF fixtures in models/tests/fixtures/gguf/ with llama.cpp's own Python
package (`gguf`, from llama.cpp's gguf-py on PyPI), independently of Anneal's writer.

For each parity fixture (models/tests/fixtures/parity/{dream,llada}), the safetensors weights
are written as llama.cpp's converter (convert_hf_to_gguf.py) lays them out: tensor names from
gguf-py's own name map for the `dream` and `llada` architectures, 2-D weights quantized to Q8_0
by gguf-py's quantizer (the output layer too), the embedding and 1-D tensors in f32, LLaDA's query and key rows permuted from rotating halves to interleaved pairs
(the converter's `undo_permute`), and the config as metadata under llama.cpp's keys. No
config.json is written beside the file, so the loader must read the metadata; tokenizer.json
is copied.

    python3 -m venv .venv-gguf
    .venv-gguf/bin/pip install gguf==0.19.0 numpy safetensors
    .venv-gguf/bin/python scripts/gguf_fixtures.py

The Rust side is models/tests/gguf.rs (`llama_cpps_layout_loads_...`).
"""
import json
import os
import shutil

import gguf
import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.join(os.path.dirname(__file__), "..", "models", "tests", "fixtures")


def interleave_rows(w, heads):
    """Each head's rows reordered so that row 2i+j of the head is row j*d/2+i of the original."""
    d = w.shape[0] // heads
    return w.reshape(heads, 2, d // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def convert(family, arch):
    src = os.path.join(ROOT, "parity", family)
    out = os.path.join(ROOT, "gguf", family)
    os.makedirs(out, exist_ok=True)
    config = json.load(open(os.path.join(src, "config.json")))
    if family == "llada":
        hidden, ffn, layers = config["d_model"], config["mlp_hidden_size"], config["n_layers"]
        heads, kv_heads, context = config["n_heads"], config["n_kv_heads"], config["max_sequence_length"]
    else:
        hidden, ffn, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
        heads, kv_heads, context = config["num_attention_heads"], config["num_key_value_heads"], config["max_position_embeddings"]
    name = gguf.MODEL_ARCH_NAMES[arch]
    writer = gguf.GGUFWriter(os.path.join(out, "model.gguf"), name)
    writer.add_name(f"{family} parity fixture")
    writer.add_vocab_size(config["vocab_size"])
    writer.add_context_length(context)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_block_count(layers)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_causal_attention(False)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_mask_token_id(config["mask_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_pad_token_id(config["pad_token_id"])
    names = gguf.get_tensor_name_map(arch, layers)
    for hf_name, w in sorted(load_file(os.path.join(src, "model.safetensors")).items()):
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        assert gguf_name is not None, hf_name
        w = w.astype(np.float32)
        if family == "llada" and hf_name.endswith("q_proj.weight"):
            w = interleave_rows(w, heads)
        if family == "llada" and hf_name.endswith("k_proj.weight"):
            w = interleave_rows(w, kv_heads)
        # The embedding stays f32 (llama.cpp's q8_0 would quantize it too) so that the file
        # holds the very numbers Anneal's quantize-on-load gives and the test can be exact.
        if w.ndim == 2 and gguf_name != "token_embd.weight":
            q = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(gguf_name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(gguf_name, w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    shutil.copy(os.path.join(src, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    print(f"wrote {out}/model.gguf ({os.path.getsize(os.path.join(out, 'model.gguf'))} bytes)")


convert("dream", gguf.MODEL_ARCH.DREAM)
convert("llada", gguf.MODEL_ARCH.LLADA)
