"""Plans on real Hugging Face models: ``initspec.plan`` and ``initspec.apply`` against a hand loop.

    python benchmarks/bench_real_models.py [--quick] [--threads 1] [--repeats N]

Models (random weights, built from configs - nothing is downloaded):

* GPT-2 small: ``GPT2LMHeadModel(GPT2Config())`` - 124.4M parameters, Conv1D projections,
  lm_head tied to wte.  Plan: every dense weight and embedding N(0, 0.02), both ``c_proj`` of
  each block N(0, 0.02/sqrt(2 * count(i))) (a formula), biases and LayerNorm offsets 0, scales 1
  (Hugging Face's ``_init_weights`` for GPT-2).
* Llama ~100M: ``LlamaForCausalLM`` with hidden 768, 12 layers, 12 heads, MLP
  2048, vocab 8192 - 97.5M parameters, untied head.  Plan: N(0, 0.02) everywhere, ``o_proj``
  and ``down_proj`` of layer i N(0, 0.02/sqrt(2(i + 1))) (torchtitan's depth init), RMSNorm
  scales 1.

Rows: ``walk`` (the walker alone: registry, structural test and norm probes included),
``plan`` (walk + match + formulas + resolve; nothing drawn) - medians -, and ``apply``
against the hand-written loop that draws the same laws with one seeded ``torch.Generator``
(fastest of the repeats, alternating, median ratio beside: ``benchmarks/_timing.py``).
For reference, ``plan`` on the GPT-2-small-sized ``torch.nn`` stand-in of bench_plans.py.
Prints a table; asserts nothing.  ``run(quick)`` returns the rows.
"""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

from _timing import time_one, time_pair

import initspec

GPT2_PLAN = {"seed": 0, "rules": [
    {"match": {"kind": ["dense", "embedding"], "role": ["weight", "embedding"]}, "init": {"scheme": "normal", "std": 0.02}},
    {"match": {"path": "transformer.h.{i}.*.c_proj.weight"}, "init": {"scheme": "normal",
                                                                      "std": "0.02 / sqrt(2 * count(i))"}},
    {"match": {"role": ["bias", "offset"]}, "init": {"scheme": "zeros"}},
    {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
]}
LLAMA_PLAN = {"seed": 0, "rules": [
    {"match": {"kind": ["dense", "embedding"], "role": ["weight", "embedding"]}, "init": {"scheme": "normal", "std": 0.02}},
    {"match": {"path": ["model.layers.{i}.self_attn.o_proj.weight", "model.layers.{i}.mlp.down_proj.weight"]},
     "init": {"scheme": "normal", "std": "0.02 / sqrt(2 * (i + 1))"}},
    {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
]}


def gpt2_small() -> Any:
    import transformers as T

    T.logging.set_verbosity_error()
    return T.GPT2LMHeadModel(T.GPT2Config())


def llama_100m() -> Any:
    import transformers as T

    T.logging.set_verbosity_error()
    return T.LlamaForCausalLM(T.LlamaConfig(hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                                            num_attention_heads=12, num_key_value_heads=12, vocab_size=8192,
                                            max_position_embeddings=1024))


def gpt2_loop(model: Any) -> None:
    """Hugging Face's GPT-2 init, written by hand (c_proj scaled once, not drawn twice)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    g = torch.Generator().manual_seed(0)
    n_layer = model.config.n_layer
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, (Conv1D, torch.nn.Linear)):
                if mod.weight is model.transformer.wte.weight:
                    continue  # lm_head: tied to wte
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj") else 0.02
                mod.weight.normal_(0, std, generator=g)
                if mod.bias is not None:
                    mod.bias.zero_()
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.normal_(0, 0.02, generator=g)
            elif isinstance(mod, torch.nn.LayerNorm):
                mod.weight.fill_(1)
                mod.bias.zero_()


def llama_loop(model: Any) -> None:
    import torch

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.Linear):
                std = 0.02
                if name.endswith(("o_proj", "down_proj")):
                    std = 0.02 / math.sqrt(2 * (int(name.split(".")[2]) + 1))
                mod.weight.normal_(0, std, generator=g)
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.normal_(0, 0.02, generator=g)
            elif type(mod).__name__ == "LlamaRMSNorm":
                mod.weight.fill_(1)


def _median(fn: Any, repeats: int) -> float:
    return statistics.median(time_one(fn, repeats))


def run(quick: bool = False, repeats: int | None = None) -> list[dict[str, Any]]:
    from initspec.adapters.torch.model import walk

    rows = []
    repeats = repeats or (3 if quick else 7)
    cases = [("GPT-2 small (HF)", gpt2_small, GPT2_PLAN, gpt2_loop), ("Llama ~100M (HF)", llama_100m, LLAMA_PLAN,
                                                                      llama_loop)]
    for name, build, plan, loop in cases:
        model = build()
        n = sum(p.numel() for p in model.parameters())
        tensors = len(walk(model))
        walk_s = _median(lambda m=model: walk(m), repeats * 3)
        plan_s = _median(lambda m=model, p=plan: initspec.plan(p, m), repeats * 3)
        timing = time_pair(lambda m=model, f=loop: f(m), lambda m=model, p=plan: initspec.apply(p, m), repeats)
        rows.append(timing.row(model=name, params_m=n / 1e6, tensors=tensors, walk_ms=walk_s * 1e3,
                               plan_ms=plan_s * 1e3))
    try:  # the torch.nn stand-in of bench_plans.py, for reference
        from bench_plans import GPT2_PLAN as NN_PLAN
        from bench_plans import gpt2_small as nn_gpt2

        stand_in = nn_gpt2("meta")  # planning reads shapes only
        rows.append({"model": "GPT-2-sized torch.nn (bench_plans)", "params_m": sum(p.numel() for p in stand_in.parameters()) / 1e6,
                     "tensors": len(walk(stand_in)), "walk_ms": _median(lambda: walk(stand_in), repeats * 3) * 1e3,
                     "plan_ms": _median(lambda: initspec.plan(NN_PLAN, stand_in), repeats * 3) * 1e3})
    except Exception as exc:  # noqa: BLE001 - the reference row is optional
        print(f"(reference row skipped: {exc})")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    head = f"{'model':36} {'params':>8} {'tensors':>7} {'walk ms':>8} {'plan ms':>8} {'loop s':>7} {'apply s':>8} " \
           f"{'ratio':>6} {'(median)':>8}"
    print(head)
    print("-" * len(head))
    for r in run(args.quick, args.repeats):
        tail = (f"{r['native_s']:7.3f} {r['initspec_s']:8.3f} {r['ratio']:6.2f} {r['median_ratio']:8.2f}"
                if "ratio" in r else f"{'-':>7} {'-':>8} {'-':>6} {'-':>8}")
        print(f"{r['model']:36} {r['params_m']:7.1f}M {r['tensors']:7d} {r['walk_ms']:8.1f} {r['plan_ms']:8.1f} {tail}")


if __name__ == "__main__":
    main()
