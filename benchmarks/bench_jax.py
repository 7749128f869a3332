"""initspec's JAX initializers against the native ``jax.nn.initializers`` for the same law.

    python benchmarks/bench_jax.py [--quick]

Laws: He truncated normal (``he_normal()``), Glorot uniform, normal(σ=0.02), LeCun truncated
normal (``lecun_normal()``), each on one 4096x4096 float32 weight and on the parameter set of
a GPT-2-small-sized model (124M parameters: wte 50257x768, wpe 1024x768, 12 blocks of
c_attn 768x2304, c_proj 768x768, mlp 768x3072 and 3072x768 with their biases, layernorms,
in Flax's (in, out) layout), plus orthogonal on 1024x1024.  Fan-based laws go to the
matrices and ``zeros``/``ones`` to biases and layernorm scales on both sides; normal(σ) goes
to every parameter.  Each comparison runs eager and jitted (``jax.jit(f,
static_argnums=(1, 2))``, compiled during the warm-up, so compile time is excluded), with
``block_until_ready`` on every result.  initspec initializers are built once outside the
timing (as a plan does); native and initspec calls alternate within each repeat.  The
times are the fastest of the repeats (timeit's convention: on a shared machine the minimum
is the least disturbed estimate); the ratio of the medians is printed beside.  ratio =
initspec / native (below 1: initspec is faster).  A second table gives XLA's cost analysis (flops, transcendentals, bytes) of each
jitted call, initspec / native: a check of the work compiled that timing noise on a shared
machine cannot blur.  Prints the tables; asserts nothing.  ``run(quick)`` returns the rows.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from _timing import time_pair

import initspec
from initspec.adapters import jax as isj


def gpt2_small_shapes() -> list[tuple[tuple[int, ...], str]]:
    """(shape, role) of GPT-2 small's parameters in Flax's (in, out) layout (124.4M)."""
    d, vocab, ctx, layers = 768, 50257, 1024, 12
    out: list[tuple[tuple[int, ...], str]] = [((vocab, d), "weight"), ((ctx, d), "weight")]
    for _ in range(layers):
        out += [((d,), "scale"), ((d,), "bias")]                   # ln_1
        out += [((d, 3 * d), "weight"), ((3 * d,), "bias")]        # attn.c_attn
        out += [((d, d), "weight"), ((d,), "bias")]                # attn.c_proj
        out += [((d,), "scale"), ((d,), "bias")]                   # ln_2
        out += [((d, 4 * d), "weight"), ((4 * d,), "bias")]        # mlp.c_fc
        out += [((4 * d, d), "weight"), ((d,), "bias")]            # mlp.c_proj
    out += [((d,), "scale"), ((d,), "bias")]                       # ln_f
    return out


def laws() -> list[dict[str, Any]]:
    """(law, initspec spec, native initializer, options) for every compared law."""
    import jax

    nat = jax.nn.initializers
    return [
        dict(law="he normal (truncated, corrected)", spec={"scheme": "he", "distribution": "truncated_normal"},
             native=nat.he_normal()),
        dict(law="glorot uniform", spec={"scheme": "glorot", "distribution": "uniform"}, native=nat.glorot_uniform()),
        dict(law="normal N(0, 0.02²)", spec={"scheme": "normal", "std": 0.02}, native=nat.normal(0.02),
             fan_free=True),
        dict(law="lecun normal (truncated, corrected)", spec={"scheme": "lecun", "distribution": "truncated_normal"},
             native=nat.lecun_normal()),
        dict(law="orthogonal", spec={"scheme": "orthogonal"}, native=nat.orthogonal(), orthogonal=True),
    ]


def _runner(calls: list[tuple[Callable[..., Any], Any, tuple[int, ...]]]) -> Callable[[], None]:
    import jax
    import jax.numpy as jnp

    def go() -> None:
        jax.block_until_ready([f(k, shape, jnp.float32) for f, k, shape in calls])

    return go


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time every law on each case, eager and jitted; one row per (law, case)."""
    import jax

    repeats = 3 if quick else 7
    cases: dict[str, list[tuple[tuple[int, ...], str]]] = {"4096x4096 float32": [((4096, 4096), "weight")]}
    cases["GPT-2 small params (124M)"] = gpt2_small_shapes()
    key = jax.random.key(0)
    rows = []
    for case, params in cases.items():
        keys = list(jax.random.split(key, len(params)))
        for law in laws():
            if law.get("orthogonal"):
                if case.startswith("GPT"):
                    continue  # a 50257x768 QR per repeat is not a useful benchmark
                side = 512 if quick else 1024
                targets = [((side, side), "weight")]
                case_name = f"{side}x{side} float32"
            else:
                targets, case_name = params, case
            ours_init = isj.initializer(law["spec"])  # built once, as a plan does
            native_init = law["native"]
            side_inits = {  # what each side gives the parameters the law does not cover
                "bias": (jax.nn.initializers.zeros, isj.initializer({"scheme": "zeros"})),
                "scale": (jax.nn.initializers.ones, isj.initializer({"scheme": "ones"})),
            }
            for mode in ("eager", "jit"):
                wrap = (lambda f: f) if mode == "eager" else (lambda f: jax.jit(f, static_argnums=(1, 2)))
                n_wrap, o_wrap = wrap(native_init), wrap(ours_init)
                side_w = {role: (wrap(n), wrap(o)) for role, (n, o) in side_inits.items()}
                n_calls, o_calls = [], []
                for (shape, role), k in zip(targets, keys):
                    if role == "weight" or law.get("fan_free"):
                        n_calls.append((n_wrap, k, shape))
                        o_calls.append((o_wrap, k, shape))
                    else:
                        n_calls.append((side_w[role][0], k, shape))
                        o_calls.append((side_w[role][1], k, shape))
                timing = time_pair(_runner(n_calls), _runner(o_calls), 1 if quick and case.startswith("GPT")
                                   else repeats)
                rows.append(timing.row(backend="jax", law=law["law"], case=f"{case_name}, {mode}",
                                       n_params=sum(math.prod(s) for s, _ in targets)))
    return rows


def cost_rows(quick: bool = False) -> list[dict[str, Any]]:
    """XLA's own cost estimate of each jitted call (flops, transcendentals, bytes), native vs
    initspec: a load-independent check that both compile to the same work."""
    import jax
    import jax.numpy as jnp

    key = jax.random.key(0)
    rows = []
    for law in laws():
        side = (512 if quick else 1024) if law.get("orthogonal") else 4096
        costs = []
        for f in (law["native"], isj.initializer(law["spec"])):
            compiled = jax.jit(f, static_argnums=(1, 2)).lower(key, (side, side), jnp.float32).compile()
            cost = compiled.cost_analysis()
            cost = (cost[0] if isinstance(cost, list) else cost) or {}
            costs.append({k: float(cost.get(k) or 0.0) for k in ("flops", "transcendentals", "bytes accessed")})
        rows.append(dict(law=law["law"], case=f"{side}x{side} float32", native=costs[0], initspec=costs[1]))
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    head = (f"{'law':<38} {'case':<34} {'params':>11} {'native s':>10} {'initspec s':>11} {'ratio':>7}"
            f" {'median ratio':>13}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['law']:<38} {r['case']:<34} {r['n_params']:>11,} {r['native_s']:>10.4f} "
                     f"{r['initspec_s']:>11.4f} {r['ratio']:>7.3f} "
                     f"{r['median_ratio']:>13.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import jax

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 repeats (1 for GPT-2), 512x512 orthogonal")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__}, initspec {initspec.__version__}, devices {jax.devices()}")
    rows = run(args.quick)
    print(format_rows(rows))
    print("\nratio = initspec / native (target: <= 1.05 for every law)")
    for r in rows:
        if r["ratio"] > 1.05:
            print(f"  target missed: {r['law']} on {r['case']} (ratio {r['ratio']:.3f})")
    print("\nXLA cost analysis of the jitted call, initspec / native (timing-noise free):")
    for c in cost_rows(args.quick):
        ratios = "  ".join(f"{k} {c['initspec'][k] / c['native'][k]:.3f}" if c["native"][k] else f"{k} -"
                           for k in ("flops", "transcendentals", "bytes accessed"))
        print(f"  {c['law']:<38} {c['case']:<18} {ratios}")


if __name__ == "__main__":
    main()
