"""Plans on PyTorch: ``initspec.apply`` against a hand-written init loop, and ``initspec.plan`` at scale.

    python benchmarks/bench_plans.py [--quick] [--threads 1] [--repeats N]

(a) A GPT-2-small-sized ``nn.Module`` (124.4M parameters: wte 50257x768, wpe 1024x768, 12
    blocks of Linear 768->2304 (qkv), 768->768, 768->3072, 3072->768 with biases and two
    LayerNorms, a final LayerNorm), built on the meta device and materialised with
    ``to_empty`` (torch's own init is never paid).  "native" is the loop people write by
    hand - ``normal_(w, 0, 0.02)`` for Linear weights and embeddings, ``zeros_`` for biases,
    ``ones_``/``zeros_`` for LayerNorm - with one seeded ``torch.Generator``; initspec applies
    the plan that says the same (:data:`GPT2_PLAN`), walk and resolution included, one
    generator per parameter.  Rows: default mode, ``transactional=True`` (copy every
    parameter first, copy back on failure - what initspec does), and the alternative that
    was measured and not taken: draw into fresh buffers and swap ``param.data`` (no copy,
    but the parameters change storage: views, cuDNN's flattened RNN weights and captured
    CUDA graphs would silently point at the old memory).
(b) ``initspec.plan`` alone (walk + match + resolve, nothing drawn) on meta-device models
    of 1,000 / 10,000 / 50,000 parameters (``nn.ModuleList`` of Linear(8, 8)), with the
    time per parameter - it should stay flat (linear scaling).

The fastest of the repeats after one warm-up, native and initspec alternating, with the
ratio of the medians beside (``benchmarks/_timing.py``); ``plan()`` alone reports its median.
ratio = initspec / native.  Prints a table; asserts nothing.  ``run(quick)`` returns the rows.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from _timing import time_one, time_pair, torch_table

import initspec

#: The hand loop's laws, as a plan.
GPT2_PLAN = {"seed": 0, "rules": [
    {"name": "Linear weights and embeddings", "match": {"kind": ["dense", "embedding"], "role": ["weight", "embedding"]},
     "init": {"scheme": "normal", "std": 0.02}},
    {"name": "biases", "match": {"role": "bias"}, "init": {"scheme": "zeros"}},
    {"name": "LayerNorm scale", "match": {"kind": "norm", "role": "scale"}, "init": {"scheme": "ones"}},
    {"name": "LayerNorm offset", "match": {"kind": "norm", "role": "offset"}, "init": {"scheme": "zeros"}},
]}
#: Per-block widths of GPT-2 small.
D_MODEL, VOCAB, CONTEXT, LAYERS = 768, 50257, 1024, 12


def gpt2_small(device: str = "cpu") -> Any:
    """A GPT-2-small-sized module with uninitialised storage (meta, then ``to_empty``)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(d)
            self.c_attn = nn.Linear(d, 3 * d)
            self.c_proj = nn.Linear(d, d)
            self.ln_2 = nn.LayerNorm(d)
            self.c_fc = nn.Linear(d, 4 * d)
            self.mlp_proj = nn.Linear(4 * d, d)

    class GPT2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(VOCAB, D_MODEL)
            self.wpe = nn.Embedding(CONTEXT, D_MODEL)
            self.h = nn.ModuleList(Block(D_MODEL) for _ in range(LAYERS))
            self.ln_f = nn.LayerNorm(D_MODEL)

    with torch.device("meta"):
        model = GPT2()
    return model.to_empty(device=device)


def hand_init(model: Any, generator: Any) -> None:
    """The loop a person writes for GPT-2 (normal 0.02, zero biases, LayerNorm 1/0)."""
    import torch
    from torch import nn

    init = nn.init
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                init.normal_(m.weight, 0.0, 0.02, generator=generator)
                init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                init.normal_(m.weight, 0.0, 0.02, generator=generator)
            elif isinstance(m, nn.LayerNorm):
                init.ones_(m.weight)
                init.zeros_(m.bias)


def stage_and_swap(model: Any, plan: Any) -> None:
    """The transactional strategy initspec did not take: draw every row into a fresh buffer,
    then swap ``param.data`` (O(1) per parameter; swap back on failure)."""
    import torch

    from initspec.adapters import torch as ist

    table = initspec.plan(plan, model)
    staged = []
    with torch.no_grad():
        for row in table:
            t = row.param.handle.tensor
            buf = torch.empty_like(t)
            ist.sample_(buf, row.distribution, torch.Generator(device=t.device).manual_seed(row.seed))
            staged.append((t, buf))
        old = []
        try:
            for t, buf in staged:
                old.append((t, t.data))
                t.data = buf
        except BaseException:
            for t, data in old:
                t.data = data
            raise


def _apply_rows(repeats: int, on_row: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    import torch

    model = gpt2_small()
    n = sum(p.numel() for p in model.parameters())
    plan = initspec.parse_plan(GPT2_PLAN)
    g = torch.Generator().manual_seed(0)
    variants = [
        ("plan apply, default (in place)", lambda: initspec.apply(plan, model)),
        ("plan apply, transactional=True (backup + restore)", lambda: initspec.apply(plan, model, transactional=True)),
        ("alternative not taken: stage + swap .data", lambda: stage_and_swap(model, plan)),
    ]
    rows = []
    for law, ours in variants:
        timing = time_pair(lambda: hand_init(model, g), ours, repeats)
        rows.append(timing.row(backend="torch", law=law, case=f"GPT-2 small nn.Module ({n / 1e6:.1f}M)", n_params=n,
                               params=len(list(model.parameters()))))
        if on_row is not None:
            on_row(rows[-1])
    return rows


def _plan_rows(sizes: tuple[int, ...], repeats: int,
               on_row: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    import torch
    from torch import nn

    plan = initspec.parse_plan({"seed": 0, "base": "torch-defaults", "rules": [
        {"match": {"path": "layers.*", "role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}}]})
    rows = []
    for n in sizes:
        with torch.device("meta"):
            model = nn.ModuleDict({"layers": nn.ModuleList(nn.Linear(8, 8) for _ in range(n // 2))})
        assert len(initspec.plan(plan, model)) == n  # warm-up, and the table is whole
        t = statistics.median(time_one(lambda model=model: initspec.plan(plan, model), repeats))
        rows.append(dict(backend="torch", law="initspec.plan (walk + resolve, no draw)",
                         case=f"{n:,} params (Linear(8, 8) x {n // 2:,})", native_s=float("nan"), initspec_s=t,
                         ratio=float("nan"), median_ratio=float("nan"), n_params=n, params=n, us_per_param=1e6 * t / n))
        if on_row is not None:
            on_row(rows[-1])
    return rows


def run(quick: bool = False, *, repeats: int | None = None,
        on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Both parts; one row per measurement (``on_row`` sees each as it is measured)."""
    repeats = repeats or (3 if quick else 7)
    rows = _apply_rows(repeats, on_row)
    rows += _plan_rows((1_000, 10_000) if quick else (1_000, 10_000, 50_000), repeats, on_row)
    return rows


HEAD = (f"{'measurement':<50} {'case':<34} {'tensors':>8} {'hand loop s':>12} {'initspec s':>11} {'ratio':>7} "
        f"{'median':>7} {'us/param':>9}")


def format_row(r: dict[str, Any]) -> str:
    native = "-" if r["native_s"] != r["native_s"] else f"{r['native_s']:.4f}"  # NaN: no native counterpart
    ratio = "-" if r["ratio"] != r["ratio"] else f"{r['ratio']:.3f}"
    median = "-" if r["median_ratio"] != r["median_ratio"] else f"{r['median_ratio']:.3f}"
    per = f"{r['us_per_param']:.1f}" if "us_per_param" in r else "-"
    return (f"{r['law']:<50} {r['case']:<34} {r['params']:>8,} {native:>12} {r['initspec_s']:>11.4f} {ratio:>7} "
            f"{median:>7} {per:>9}")


def main(argv: list[str] | None = None) -> None:
    rows = torch_table(argv, __doc__, run, HEAD, format_row, quick="3 repeats, plan() up to 10,000 parameters",
                       repeats="timed repeats (default 7; 3 quick)")
    print("\nratio = initspec / hand loop (target: default mode <= 1.10); plan() time per parameter should stay flat")
    for r in rows:
        if r["law"].startswith("plan apply, default") and r["ratio"] > 1.10:
            print(f"  target missed: {r['law']} (ratio {r['ratio']:.3f})")


if __name__ == "__main__":
    main()
