"""initspec's PyTorch initializers against the native ``torch.nn.init`` calls for the same law.

    python benchmarks/bench_torch.py [--quick]

Cases: one 4096x4096 float32 weight, and the parameter set of a GPT-2-small-sized model
(124M parameters: wte 50257x768, wpe 1024x768, 12 blocks of c_attn 2304x768, c_proj
768x768, mlp 3072x768 and 768x3072 with their biases and layernorms).  Fan-based laws are
applied to the matrices only; fan-free laws to every parameter.  The truncated normals are
timed twice: against ``trunc_normal_`` with the same bounds (the native call for the law) and
against ``normal_`` with the parent's std (the speed limit: an exact truncated normal costs
at least one normal draw; target <= 1.5x).  Both sides get a seeded
``torch.Generator`` (same RNG work), initializers are compiled once outside the timing
(as a plan does), native and initspec calls alternate within each repeat, and the fastest
of the repeats is reported after one warm-up, with the ratio of the medians beside
(``benchmarks/_timing.py``).  ``torch.set_num_threads`` is left at its
default unless ``--threads`` is given.  ratio = initspec / native (below 1: initspec is
faster).  Prints a table; asserts nothing.  ``run(quick)`` returns the rows for a combined report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from _timing import time_pair, torch_table

from initspec.adapters import torch as ist

C = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]


def gpt2_small_shapes() -> list[tuple[int, ...]]:
    """Parameter shapes of GPT-2 small in torch's (out, in) layout (124.4M parameters)."""
    d, vocab, ctx, layers = 768, 50257, 1024, 12
    shapes: list[tuple[int, ...]] = [(vocab, d), (ctx, d)]
    for _ in range(layers):
        shapes += [(d,), (d,)]                       # ln_1
        shapes += [(3 * d, d), (3 * d,)]             # attn.c_attn
        shapes += [(d, d), (d,)]                     # attn.c_proj
        shapes += [(d,), (d,)]                       # ln_2
        shapes += [(4 * d, d), (4 * d,)]             # mlp.c_fc
        shapes += [(d, 4 * d), (d,)]                 # mlp.c_proj
    shapes += [(d,), (d,)]                           # ln_f
    return shapes


def _fans(w: Any) -> tuple[int, int]:
    import torch

    return torch.nn.init._calculate_fan_in_and_fan_out(w)


def _he_parent_std(w: Any) -> float:
    return math.sqrt(2.0 / _fans(w)[0]) / C  # parent std of the corrected He truncated normal


def _trunc_he(w: Any, g: Any) -> Any:
    import torch

    s = _he_parent_std(w)
    return torch.nn.init.trunc_normal_(w, 0.0, s, -2 * s, 2 * s, generator=g)


def _normal_he(w: Any, g: Any) -> Any:
    import torch

    return torch.nn.init.normal_(w, 0.0, _he_parent_std(w), generator=g)


def laws() -> list[dict[str, Any]]:
    """(law, initspec spec, native call, which tensors) for every compared law.  ``trunc``:
    the native call is ``trunc_normal_`` (target: initspec >= 5x faster); ``limit``: the
    native call is ``normal_`` with the parent's std (target: initspec <= 1.5x)."""
    import torch

    init = torch.nn.init
    he_trunc = {"scheme": "he", "distribution": "truncated_normal"}
    return [
        dict(law="normal N(0, 0.02²)", spec={"scheme": "normal", "std": 0.02},
             native=lambda w, g: init.normal_(w, 0.0, 0.02, generator=g), fan_free=True),
        dict(law="uniform U(-0.1, 0.1)", spec={"scheme": "uniform", "low": -0.1, "high": 0.1},
             native=lambda w, g: init.uniform_(w, -0.1, 0.1, generator=g), fan_free=True),
        dict(law="glorot uniform", spec={"scheme": "glorot", "distribution": "uniform"},
             native=lambda w, g: init.xavier_uniform_(w, generator=g)),
        dict(law="he normal (untruncated)", spec={"scheme": "he", "distribution": "normal"},
             native=lambda w, g: init.kaiming_normal_(w, nonlinearity="relu", generator=g)),
        dict(law="torch.default_weight U(±1/√fan_in)", spec={"scheme": "torch.default_weight"},
             native=lambda w, g: init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)),
        dict(law="he truncated normal (±2σ', corrected)", spec=he_trunc, native=_trunc_he, trunc=True),
        dict(law="he truncated normal vs normal_ (the limit)", spec=he_trunc, native=_normal_he, limit=True),
        dict(law="truncated normal std 0.02 at ±2σ", spec={"scheme": "truncated_normal", "std": 0.02},
             native=lambda w, g: init.trunc_normal_(w, 0.0, 0.02, -0.04, 0.04, generator=g), fan_free=True, trunc=True),
        dict(law="std 0.02 ±2σ truncated vs normal_ (the limit)", spec={"scheme": "truncated_normal", "std": 0.02},
             native=lambda w, g: init.normal_(w, 0.0, 0.02, generator=g), fan_free=True, limit=True),
        dict(law="trunc_normal_(std=0.02) absolute ±2 (never cuts)",
             spec={"scheme": "torch.trunc_normal", "std": 0.02},
             native=lambda w, g: init.trunc_normal_(w, std=0.02, generator=g), fan_free=True),
        dict(law="std=0.02 ±2 (never cuts) vs normal_ (the limit)", spec={"scheme": "torch.trunc_normal", "std": 0.02},
             native=lambda w, g: init.normal_(w, 0.0, 0.02, generator=g), fan_free=True, limit=True),
        dict(law="orthogonal", spec={"scheme": "orthogonal"},
             native=lambda w, g: init.orthogonal_(w, generator=g), orthogonal=True),
    ]


def run(quick: bool = False, *, repeats: int | None = None,
        on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Time every law on each case; one row per (law, case).  ``on_row`` sees each row as it is measured."""
    import torch

    repeats = repeats or (3 if quick else 7)
    cases: dict[str, list[tuple[int, ...]]] = {"4096x4096 float32": [(4096, 4096)]}
    if not quick:
        cases["GPT-2 small params (124M)"] = gpt2_small_shapes()
    rows = []
    for case, shapes in cases.items():
        tensors = [torch.empty(s) for s in shapes]
        for law in laws():
            if law.get("orthogonal"):
                if case.startswith("GPT"):
                    continue  # a 50257x768 QR per repeat is not a useful benchmark
                targets = [torch.empty(512, 512) if quick else torch.empty(1024, 1024)]
                case_name = f"{targets[0].shape[0]}x{targets[0].shape[1]} float32"
            else:
                targets = tensors if law.get("fan_free") else [t for t in tensors if t.dim() >= 2]
                case_name = case
            fill = ist.initializer(law["spec"])  # compiled once, as a plan does
            g = torch.Generator().manual_seed(0)
            native_fn, ours_fn = law["native"], fill

            def native(native_fn: Any = native_fn, targets: Any = targets, g: Any = g) -> None:
                for t in targets:
                    native_fn(t, g)

            def ours(ours_fn: Any = ours_fn, targets: Any = targets, g: Any = g) -> None:
                for t in targets:
                    ours_fn(t, g)

            timing = time_pair(native, ours, repeats)
            rows.append(timing.row(backend="torch", law=law["law"], case=case_name,
                                   n_params=sum(t.numel() for t in targets), trunc=bool(law.get("trunc")),
                                   limit=bool(law.get("limit"))))
            if on_row is not None:
                on_row(rows[-1])
        rows.append(_control_row(tensors, case, repeats))
        if on_row is not None:
            on_row(rows[-1])
    return rows


def _control_row(tensors: list[Any], case: str, repeats: int) -> dict[str, Any]:
    """The native call timed against itself the same way: how far from 1.0 this machine's
    noise alone moves a ratio in this run (an A/A test)."""
    import torch

    g = torch.Generator().manual_seed(0)

    def native() -> None:
        for t in tensors:
            torch.nn.init.normal_(t, 0.0, 0.02, generator=g)

    return time_pair(native, native, repeats).row(backend="torch", law=CONTROL, case=case,
                                                  n_params=sum(t.numel() for t in tensors), trunc=False, limit=False)


#: The A/A row's label: a ratio that should be 1.0 but for noise.
CONTROL = "control: normal_ timed against itself"


def call_overhead(calls: int = 20_000) -> list[dict[str, Any]]:
    """initspec's fixed cost per tensor: µs per call on an 8x8 tensor (drawing costs almost
    nothing there), native and initspec, fastest of three rounds.  Multiplied by a model's
    tensor count it bounds what initspec can add to a whole-model init, whatever the noise."""
    import time

    import torch

    t = torch.empty(8, 8)
    out = []
    for law in laws():
        if law.get("orthogonal") or law.get("trunc") or law.get("limit"):
            continue
        g = torch.Generator().manual_seed(0)
        fill = ist.initializer(law["spec"])
        sides = {"native": lambda native=law["native"]: native(t, g), "initspec": lambda fill=fill: fill(t, g)}
        best = dict.fromkeys(sides, math.inf)
        for _ in range(3):
            for name, fn in sides.items():
                fn()
                start = time.perf_counter()
                for _ in range(calls):
                    fn()
                best[name] = min(best[name], (time.perf_counter() - start) / calls * 1e6)
        out.append({"law": law["law"], "native_us": best["native"], "initspec_us": best["initspec"],
                    "extra_us": best["initspec"] - best["native"]})
    return out


HEAD = (f"{'law':<50} {'case':<28} {'params':>11} {'native s':>10} {'initspec s':>11} {'ratio':>7} {'median':>7} "
        f"{'speed-up':>9}")


def format_row(r: dict[str, Any]) -> str:
    return (f"{r['law']:<50} {r['case']:<28} {r['n_params']:>11,} {r['native_s']:>10.4f} {r['initspec_s']:>11.4f} "
            f"{r['ratio']:>7.3f} {r['median_ratio']:>7.3f} {1 / r['ratio']:>8.2f}x")


def format_rows(rows: list[dict[str, Any]]) -> str:
    return "\n".join([HEAD, "-" * len(HEAD), *map(format_row, rows)])


def main(argv: list[str] | None = None) -> None:
    rows = torch_table(argv, __doc__, run, HEAD, format_row, quick="4096x4096 only, 3 repeats, 512x512 orthogonal",
                       repeats="timed repeats per law and case (default 7; 3 quick)")
    print("\nratio = initspec / native (targets: <= 1.05 for every law; truncated normal >= 5x faster "
          "than trunc_normal_ with the same bounds and <= 1.5x normal_, the limit)")
    for r in rows:
        target_ok = (1 / r["ratio"] >= 5.0) if r["trunc"] else r["ratio"] <= (1.5 if r["limit"] else 1.05)
        if not target_ok and r["law"] != CONTROL:
            print(f"  target missed: {r['law']} on {r['case']} (ratio {r['ratio']:.3f})")
    print("\ntruncated normal, initspec / native call and initspec / normal_ (fastest; median):")
    for r in rows:
        if r["trunc"] or r["limit"]:
            print(f"  {r['law']:<50} {r['case']:<28} {r['ratio']:6.3f}  ({r['median_ratio']:.3f})")
    n_gpt2 = len(gpt2_small_shapes())
    print(f"\nfixed cost per tensor (8x8 float32, us per call); x {n_gpt2} tensors of GPT-2 small:")
    for o in call_overhead():
        print(f"  {o['law']:<40} native {o['native_us']:6.2f}  initspec {o['initspec_us']:6.2f}  "
              f"extra {o['extra_us']:+6.2f} us/tensor = {o['extra_us'] * n_gpt2 / 1e3:+.2f} ms per GPT-2 init")


if __name__ == "__main__":
    main()
