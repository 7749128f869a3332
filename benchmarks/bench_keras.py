"""initspec's Keras initializers against the native ``keras.initializers`` for the same law.

    python benchmarks/bench_keras.py [--quick] [--backends tensorflow,jax,torch]

For each Keras backend (each in its own process: ``KERAS_BACKEND`` is fixed per process)
and each law - GlorotUniform, HeNormal (truncated), RandomNormal, RandomUniform,
TruncatedNormal and Orthogonal - it times one initializer call on a 4096x4096 float32
tensor (Orthogonal: 1024x1024) and one initialization of every parameter shape of a
GPT-2-small-sized model (124M parameters), alternating native and initspec calls, and
prints the fastest of the repeats (after a warmup call) and the ratio initspec / native, with
the ratio of the medians beside (``benchmarks/_timing.py``).
Both sides use int seeds.  Results are synchronised with the backend's own barrier (no
host copy is timed).  Not a test: nothing is asserted; the design target is a ratio <= 1.05.

``run(quick)`` returns the rows for the current process's backend as dicts with keys
backend, law, case, native_s, initspec_s, ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from _timing import time_pair

MARK = "BENCH_ROWS "


def gpt2_shapes(n_layer: int = 12, vocab: int = 50257, ctx: int = 1024, d: int = 768) -> list[tuple[int, ...]]:
    """Every parameter of GPT-2 small in the Keras (in, out) layout: 124,439,808 for 12 layers."""
    shapes: list[tuple[int, ...]] = [(vocab, d), (ctx, d)]  # wte, wpe
    for _ in range(n_layer):
        shapes += [(d,), (d,),                  # ln_1 scale, bias
                   (d, 3 * d), (3 * d,),        # attn.c_attn
                   (d, d), (d,),                # attn.c_proj
                   (d,), (d,),                  # ln_2
                   (d, 4 * d), (4 * d,),        # mlp.c_fc
                   (4 * d, d), (d,)]            # mlp.c_proj
    return [*shapes, (d,), (d,)]  # ln_f


def _laws(keras: Any) -> list[tuple[str, Callable[[int], Any], dict[str, Any]]]:
    """(law, native factory(seed), initspec spec) - the same law on both sides."""
    I = keras.initializers  # noqa: E741
    return [
        ("GlorotUniform", lambda s: I.GlorotUniform(seed=s), {"scheme": "keras.glorot_uniform"}),
        ("HeNormal", lambda s: I.HeNormal(seed=s), {"scheme": "keras.he_normal"}),
        ("RandomNormal", lambda s: I.RandomNormal(seed=s), {"scheme": "keras.random_normal"}),
        ("RandomUniform", lambda s: I.RandomUniform(seed=s), {"scheme": "keras.random_uniform"}),
        ("TruncatedNormal", lambda s: I.TruncatedNormal(seed=s), {"scheme": "keras.truncated_normal"}),
        ("Orthogonal", lambda s: I.Orthogonal(seed=s), {"scheme": "keras.orthogonal"}),
    ]


def _sync(keras: Any) -> Callable[[Any], None]:
    """A barrier for the backend's asynchronous execution (CPU eager TF/torch are synchronous)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.block_until_ready
    if backend == "torch":
        import torch

        return (lambda _: torch.cuda.synchronize()) if torch.cuda.is_available() else (lambda _: None)
    if backend == "tensorflow":
        import tensorflow as tf

        sync = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
        gpu = bool(tf.config.list_physical_devices("GPU"))
        return (lambda _: sync()) if (sync and gpu) else (lambda _: None)
    return lambda _: None


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time every law on this process's Keras backend; one dict per (law, case)."""
    import keras

    from initspec.adapters import keras as iskeras

    sync = _sync(keras)
    repeats = 3 if quick else 7
    side = 1024 if quick else 4096
    cases = {f"{side}x{side}": [(side, side)],
             "gpt2-small": gpt2_shapes()} if not quick else {
             f"{side}x{side}": [(side, side)], "gpt2 (2 layers, 8k vocab)": gpt2_shapes(2, vocab=8192)}
    rows = []
    for law, native_factory, spec in _laws(keras):
        native, ours = native_factory(1234), iskeras.initializer(spec, seed=1234)
        law_cases = {"1024x1024": [(1024, 1024)]} if law == "Orthogonal" else cases
        for case, shapes in law_cases.items():
            def once(init: Any, shapes: list[tuple[int, ...]] = shapes) -> None:
                sync([init(shape, dtype="float32") for shape in shapes])

            # alternate, so drift on a shared machine hits both sides (the warm-up compiles on JAX)
            timing = time_pair(lambda: once(native), lambda: once(ours), repeats)
            rows.append(timing.row(backend=keras.backend.backend(), law=law, case=case))
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = f"{'backend':<11} {'law':<16} {'case':<26} {'native s':>10} {'initspec s':>11} {'ratio':>7} {'median':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['backend']:<11} {r['law']:<16} {r['case']:<26} {r['native_s']:>10.4f} "
                     f"{r['initspec_s']:>11.4f} {r['ratio']:>7.3f} {r['median_ratio']:>7.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1024x1024 and a 2-layer GPT-2 with an 8k vocabulary, 3 repeats")
    parser.add_argument("--backends", default="tensorflow,jax,torch",
                        help="comma-separated Keras backends, each run in its own process")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(MARK + json.dumps(run(args.quick)))
        return
    rows: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        cmd = [sys.executable, __file__, "--child"] + (["--quick"] if args.quick else [])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        found = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
        if proc.returncode or not found:
            print(f"# {backend}: failed (rc={proc.returncode})\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        rows += json.loads(found[-1][len(MARK):])
    print(json.dumps(rows, indent=1) if args.json else _table(rows))


if __name__ == "__main__":
    main()
