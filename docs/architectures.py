"""NumPy stand-ins for the architectures of docs/formulas.md, named as the real ones are.

Each factory returns an :class:`initspec.adapters.numpy.Params` of zeros whose paths follow the
original code (Hugging Face GPT-2, torchtitan's Llama, BEiT, a BERT-style encoder for DeepNet,
an MLP for muP), so the plans in the docs read as they would on the real models - without
installing transformers or torch.  Dense weights are stored (in, out) (``layout="jax"``, as
Hugging Face's ``Conv1D`` stores them too); norm layers name their gain ``scale`` (a NumPy
mapping has no layer types, so the leaf name tells the walker it is a norm).

``initspec inspect --model docs.architectures:gpt2`` lists one from the repository root.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from initspec.adapters.numpy import Params

__all__ = ["gpt2", "llama", "beit", "encoder", "mlp"]


def _dense(d_in: int, d_out: int, bias: bool = True) -> dict[str, np.ndarray]:
    out = {"weight": np.zeros((d_in, d_out), np.float32)}
    if bias:
        out["bias"] = np.zeros(d_out, np.float32)
    return out


def _norm(d: int, bias: bool = True) -> dict[str, np.ndarray]:
    out = {"scale": np.zeros(d, np.float32)}
    if bias:
        out["bias"] = np.zeros(d, np.float32)
    return out


def gpt2(n_layer: int = 12, n_embd: int = 64, vocab: int = 100, n_positions: int = 32) -> Params:
    """Hugging Face ``GPT2LMHeadModel`` paths: ``transformer.h.{i}.attn.c_attn`` ... (``lm_head`` is
    tied to ``wte`` in the real model, so it is left out here)."""
    h: dict[str, Any] = {}
    for i in range(n_layer):
        h[str(i)] = {"ln_1": _norm(n_embd),
                     "attn": {"c_attn": _dense(n_embd, 3 * n_embd), "c_proj": _dense(n_embd, n_embd)},
                     "ln_2": _norm(n_embd),
                     "mlp": {"c_fc": _dense(n_embd, 4 * n_embd), "c_proj": _dense(4 * n_embd, n_embd)}}
    return Params({"transformer": {"wte": {"embedding": np.zeros((vocab, n_embd), np.float32)},
                                   "wpe": {"embedding": np.zeros((n_positions, n_embd), np.float32)},
                                   "h": h, "ln_f": _norm(n_embd)}}, layout="jax")


def llama(n_layers: int = 8, dim: int = 64, hidden: int = 172, vocab: int = 100) -> Params:
    """torchtitan's Llama paths: ``layers.{i}.attention.wq`` ..., ``feed_forward.w1/w2/w3``, RMS norms
    without a bias, ``tok_embeddings`` and ``output``."""
    layers: dict[str, Any] = {}
    for i in range(n_layers):
        layers[str(i)] = {
            "attention": {w: _dense(dim, dim, bias=False) for w in ("wq", "wk", "wv", "wo")},
            "feed_forward": {"w1": _dense(dim, hidden, bias=False), "w2": _dense(hidden, dim, bias=False),
                             "w3": _dense(dim, hidden, bias=False)},
            "attention_norm": _norm(dim, bias=False), "ffn_norm": _norm(dim, bias=False)}
    return Params({"tok_embeddings": {"embedding": np.zeros((vocab, dim), np.float32)}, "layers": layers,
                   "norm": _norm(dim, bias=False), "output": _dense(dim, vocab, bias=False)}, layout="jax")


def beit(depth: int = 12, dim: int = 64) -> Params:
    """BEiT's (and timm's ``Beit``) paths: ``blocks.{i}.attn.proj``, ``blocks.{i}.mlp.fc2`` ..."""
    blocks: dict[str, Any] = {}
    for i in range(depth):
        blocks[str(i)] = {"norm1": _norm(dim), "attn": {"qkv": _dense(dim, 3 * dim), "proj": _dense(dim, dim)},
                          "norm2": _norm(dim), "mlp": {"fc1": _dense(dim, 4 * dim), "fc2": _dense(4 * dim, dim)}}
    return Params({"blocks": blocks, "head": _dense(dim, 10)}, layout="jax")


def encoder(n_layers: int = 18, dim: int = 64) -> Params:
    """A post-LN Transformer encoder (fairseq / DeepNet names): ``layers.{i}.self_attn.q_proj`` ...,
    ``fc1``/``fc2``, ``self_attn_layer_norm``, ``final_layer_norm``."""
    layers: dict[str, Any] = {}
    for i in range(n_layers):
        layers[str(i)] = {"self_attn": {p: _dense(dim, dim) for p in ("q_proj", "k_proj", "v_proj", "out_proj")},
                          "self_attn_layer_norm": _norm(dim),
                          "fc1": _dense(dim, 4 * dim), "fc2": _dense(4 * dim, dim), "final_layer_norm": _norm(dim)}
    return Params({"layers": layers}, layout="jax")


def mlp(width: int = 256, d_in: int = 32, d_out: int = 10, depth: int = 3) -> Params:
    """An MLP whose hidden width is the muP knob: ``input``, ``hidden.{i}``, ``readout``."""
    return Params({"input": _dense(d_in, width),
                   "hidden": {str(i): _dense(width, width) for i in range(depth)},
                   "readout": _dense(width, d_out)}, layout="jax")


def gpt2_small() -> Params:
    """A 2-layer GPT-2 for short command-line examples."""
    return gpt2(n_layer=2, n_embd=8, vocab=20, n_positions=4)
