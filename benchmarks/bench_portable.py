"""Portable seeding (``initspec.portable.draw``) against torch's native ``normal_``.

    python benchmarks/bench_portable.py [--repeats N] [--quick]

Every row times ``draw`` (host NumPy, allocating its output) against
``torch.empty(shape).normal_()`` in the same process, alternating the two sides and
reporting the fastest of ``--repeats`` rounds (default 5) with the ratio of the medians
beside (``benchmarks/_timing.py``).  ratio = portable / torch (target: <= 2).

Cases: one 4096x4096 float32 tensor for N(0, 0.02²), U(-0.1, 0.1) and He's truncated normal
(±2σ, corrected parent std, fan_in 4096) - each with the default thread count and with one
thread; the same normal drawn as 8 row shards and as 2x4 block shards (every shard drawn
in turn, as 8 ranks would); and GPT-2 small's 148 parameters (124M values: N(0, 0.02²) for
the matrices, zeros for biases and layernorm offsets, ones for layernorm scales), against
torch's normal_/zero_/fill_ on freshly allocated tensors.  A control row times torch against
itself the same way (how far this machine's noise alone moves a ratio from 1.0).  A last
table splits one float32 normal into its stages (ns per element, one thread).  torch 2.13's CPU ``normal_`` runs on
one thread.  Prints tables; asserts nothing.

Large-model sections (issue 16):

* ``--write``: GPT-2 small as a torch model, written through the plan writer
  (``initspec.plans.apply.write``: portable values straight into the parameters' memory, and
  native) against torch's own ``normal_``/``zero_``/``fill_`` loop on the same parameters;
* ``--dtensor``: the same model ``fully_shard``-ed over 2 gloo ranks on CPU (FSDP2), native
  seeding through the plan writer against ``torch.nn.init`` on the same DTensors (normal
  and ±2σ truncated normal), and portable seeding (rank 0's times);
* ``--llama``: plan resolution (``initspec.plan``) for a 7B-parameter Llama built on meta
  (transformers ``LlamaConfig`` 7B sizes), with the peak RSS.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import time_pair

from initspec import distributions as D
from initspec import portable
from initspec.plans.apply import write as plan_write

TRUNC2_STD = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]
SIDE = 4096


def gpt2_small() -> list[tuple[str, tuple[int, ...], D.Distribution]]:
    """GPT-2 small's parameters in torch's (out, in) layout with their laws (124.4M values)."""
    d, vocab, ctx, layers = 768, 50257, 1024, 12
    w, zeros, ones = D.Normal(loc=0.0, scale=0.02), D.Constant(value=0.0), D.Constant(value=1.0)
    params = [("wte.weight", (vocab, d), w), ("wpe.weight", (ctx, d), w)]
    for i in range(layers):
        h = f"h.{i}."
        params += [(h + "ln_1.weight", (d,), ones), (h + "ln_1.bias", (d,), zeros),
                   (h + "attn.c_attn.weight", (3 * d, d), w), (h + "attn.c_attn.bias", (3 * d,), zeros),
                   (h + "attn.c_proj.weight", (d, d), w), (h + "attn.c_proj.bias", (d,), zeros),
                   (h + "ln_2.weight", (d,), ones), (h + "ln_2.bias", (d,), zeros),
                   (h + "mlp.c_fc.weight", (4 * d, d), w), (h + "mlp.c_fc.bias", (4 * d,), zeros),
                   (h + "mlp.c_proj.weight", (d, 4 * d), w), (h + "mlp.c_proj.bias", (d,), zeros)]
    return params + [("ln_f.weight", (d,), ones), ("ln_f.bias", (d,), zeros)]


def he_truncated(fan_in: int) -> D.TruncatedNormal:
    s = math.sqrt(2.0 / fan_in) / TRUNC2_STD
    return D.TruncatedNormal(loc=0.0, scale=s, low=-2 * s, high=2 * s)


def _shards(rows: int, cols: int, grid: tuple[int, int]) -> list[tuple[slice, slice]]:
    r, c = rows // grid[0], cols // grid[1]
    return [(slice(i * r, (i + 1) * r), slice(j * c, (j + 1) * c)) for i in range(grid[0]) for j in range(grid[1])]


def run(repeats: int, quick: bool) -> list[dict[str, Any]]:
    import torch

    shape = (SIDE, SIDE)
    normal = D.Normal(loc=0.0, scale=0.02)

    def torch_normal() -> None:
        torch.empty(shape).normal_(0.0, 0.02)

    def ours(law: D.Distribution, threads: int | None = None, index: Any = None) -> Callable[[], Any]:
        return lambda: portable.draw(law, shape, "float32", seed=0, path="w", index=index, threads=threads)

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any], int]] = [
        ("control: torch normal_ against itself", torch_normal, torch_normal, SIDE * SIDE)]
    for name, law in (("normal N(0, 0.02²)", normal), ("uniform U(-0.1, 0.1)", D.Uniform(low=-0.1, high=0.1)),
                      ("He truncated normal ±2σ", he_truncated(SIDE))):
        cases.append((f"{name}, default threads", torch_normal, ours(law), SIDE * SIDE))
        cases.append((f"{name}, 1 thread", torch_normal, ours(law, threads=1), SIDE * SIDE))
    for label, grid in (("8 row shards", (8, 1)), ("2x4 block shards", (2, 4))):
        def sharded(grid: tuple[int, int] = grid) -> None:
            for index in _shards(SIDE, SIDE, grid):
                portable.draw(normal, shape, "float32", seed=0, path="w", index=index)

        cases.append((f"normal N(0, 0.02²) as {label}", torch_normal, sharded, SIDE * SIDE))
    if not quick:
        params = gpt2_small()

        def torch_gpt2() -> None:
            for _, s, law in params:
                t = torch.empty(s)
                if isinstance(law, D.Normal):
                    t.normal_(law.loc, law.scale)
                elif law.value == 0.0:
                    t.zero_()
                else:
                    t.fill_(law.value)

        def ours_gpt2() -> None:
            for path, s, law in params:
                portable.draw(law, s, "float32", seed=0, path=path)

        cases.append(("GPT-2 small (148 tensors)", torch_gpt2, ours_gpt2, sum(math.prod(s) for _, s, _ in params)))
    rows = []
    for name, native, mine, n in cases:
        t = time_pair(native, mine, repeats)
        rows.append(t.row(case=name, n=n))
        print(_format(rows[-1]), flush=True)
    return rows


HEAD = f"{'case (float32)':<44} {'values':>12} {'torch s':>9} {'portable s':>11} {'ratio':>7} {'median':>7}"


def _format(r: dict[str, Any]) -> str:
    return (f"{r['case']:<44} {r['n']:>12,} {r['native_s']:>9.4f} {r['initspec_s']:>11.4f} {r['ratio']:>7.2f} "
            f"{r['median_ratio']:>7.2f}")


def breakdown(repeats: int) -> list[tuple[str, float]]:
    """ns per element of each stage of a float32 normal, one thread, 64 chunks."""
    sc, chunk = portable._SCRATCH, portable.CHUNK
    key, reps = portable.portable_key(0, "w"), 64
    n = chunk * reps
    bits = sc.bits(key, 0, 0, chunk, False).copy()
    f = sc.f64
    p = portable._unit(bits.copy(), False, f[0]).copy()
    dst = np.empty(chunk, np.float32)

    def best(fn: Callable[[], Any]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(reps):
                fn()
            times.append(time.perf_counter() - start)
        return min(times) / n * 1e9

    return [("Philox bits (32 per element)", best(lambda: sc.bits(key, 0, 0, chunk, False))),
            ("unit u = (k + 0.5) 2^-32", best(lambda: portable._unit(bits.copy(), False, f[0]))),
            ("ndtri (AS241, float64)", best(lambda: portable._ndtri_into(p, f[0], sc))),
            ("round to float32", best(lambda: portable._store(p, dst, sc)))]


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds per case (default 5)")
    parser.add_argument("--quick", action="store_true", help="skip the GPT-2 parameter set")
    parser.add_argument("--write", action="store_true", help="only: GPT-2 small through the torch plan writer")
    parser.add_argument("--dtensor", action="store_true", help="only: FSDP2 over 2 gloo ranks (DTensor)")
    parser.add_argument("--llama", action="store_true", help="only: plan resolution for a 7B Llama on meta")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__} (threads {torch.get_num_threads()}), numpy {np.__version__}, "
          f"portable threads {portable._threads(None)}, CPUs {os.cpu_count()}")
    print(HEAD)
    print("-" * len(HEAD))
    if args.write:
        print()
        print(HEAD.replace("portable s", "initspec s"))
        for row in write_rows(args.repeats):
            print(_format(row), flush=True)
    if args.dtensor:
        print()
        dtensor_rows(args.repeats)
    if args.llama:
        print()
        llama_plan(args.repeats)
    if args.write or args.dtensor or args.llama:
        return
    run(args.repeats, args.quick)
    print()
    print(f"{'stage (one thread)':<44} {'ns/element':>10}")
    for name, ns in breakdown(args.repeats):
        print(f"{name:<44} {ns:>10.2f}")
    t = torch.empty(SIDE, SIDE)
    best = min(_timed(lambda: t.normal_()) for _ in range(args.repeats))
    print(f"{'torch normal_ (preallocated), for scale':<44} {best / SIDE**2 * 1e9:>10.2f}")


# ----------------------------------------------------------------------------- large models (issue 16)

GPT2_PLAN = {"rules": [{"match": {"role": ["weight", "embedding"]}, "init": {"scheme": "normal", "std": 0.02}},
                       {"match": {"role": "bias"}, "init": {"scheme": "zeros"}},
                       {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
                       {"match": {"role": "offset"}, "init": {"scheme": "zeros"}}]}
TRUNC_PLAN = {"rules": [{"match": {"role": ["weight", "embedding"]},
                         "init": {"scheme": "truncated_normal", "std": 0.02, "low": -2, "high": 2, "bounds": "std"}},
                        *GPT2_PLAN["rules"][1:]]}


def gpt2_module() -> Any:
    """GPT-2 small's parameter set as a torch module (Linear weights (out, in); 124.4M values)."""
    import torch

    nn = torch.nn
    d = 768

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    class GPT2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(50257, d), nn.Embedding(1024, d)
            self.h = nn.ModuleList(Block() for _ in range(12))
            self.ln_f = nn.LayerNorm(d)

    with torch.device("meta"):
        return GPT2()


def _torch_own(model: Any, trunc: bool = False) -> None:
    """torch's own init of the plan's laws, parameter by parameter (what a user's _init_weights does)."""
    import torch

    nn = torch.nn
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                if trunc:
                    nn.init.trunc_normal_(mod.weight, std=0.02, a=-0.04, b=0.04)
                else:
                    nn.init.normal_(mod.weight, 0.0, 0.02)
                if getattr(mod, "bias", None) is not None:
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.LayerNorm):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)


def write_rows(repeats: int) -> list[dict[str, Any]]:
    import initspec

    model = gpt2_module()
    model.to_empty(device="cpu")
    n = sum(p.numel() for p in model.parameters())
    table = initspec.plan(GPT2_PLAN, model)
    rows = []
    for label, seeding in (("native", "native"), ("portable", "portable")):
        t = time_pair(lambda: _torch_own(model), lambda s=seeding: plan_write(table, model, seeding=s),
                      repeats)
        rows.append(t.row(case=f"GPT-2 small model, plan writer {label}", n=n))
    return rows


def _dtensor_worker(rank: int, world: int, port: int, repeats: int) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    import initspec

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)  # one core per rank
    dist.init_process_group("gloo", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    model = gpt2_module()
    for block in model.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    n = sum(p.to_local().numel() for p in model.parameters())
    tables = {"normal": initspec.plan(GPT2_PLAN, model), "trunc": initspec.plan(TRUNC_PLAN, model)}

    def synced(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> None:
            dist.barrier()
            fn()
            dist.barrier()
        return run

    cases = [
        ("normal, plan writer native", lambda: _torch_own(model), lambda: plan_write(tables["normal"], model)),
        ("normal, initspec.apply native", lambda: _torch_own(model), lambda: initspec.apply(GPT2_PLAN, model)),
        ("trunc. normal ±2σ, plan writer native", lambda: _torch_own(model, True),
         lambda: plan_write(tables["trunc"], model)),
        ("normal, plan writer portable", lambda: _torch_own(model),
         lambda: plan_write(tables["normal"], model, seeding="portable")),
    ]
    for name, theirs, ours in cases:
        t = time_pair(synced(theirs), synced(ours), repeats)
        if rank == 0:
            print(_format(t.row(case=f"FSDP2 x{world}: {name}", n=n)).replace("torch s", "nn.init"), flush=True)
    dist.destroy_process_group()


def dtensor_rows(repeats: int, world: int = 2) -> None:
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    print(f"GPT-2 small fully_shard-ed over {world} gloo ranks (CPU, 1 thread each); values = rank 0's shard; "
          "torch s = torch.nn.init on the same DTensors")
    print(HEAD.replace("portable s", "initspec s"))
    mp.spawn(_dtensor_worker, args=(world, port, repeats), nprocs=world, join=True)


def llama_plan(repeats: int) -> None:
    import resource

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    import initspec

    config = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=32, vocab_size=32000)
    start = time.perf_counter()
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    built = time.perf_counter() - start
    n = sum(p.numel() for p in model.parameters())
    plan = {"rules": [{"match": {"role": ["weight", "embedding"]}, "init": {"scheme": "normal", "std": 0.02}},
                      {"match": {"kind": "norm"}, "init": {"scheme": "ones"}}]}
    times = [_timed(lambda: initspec.plan(plan, model)) for _ in range(repeats)]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Llama 7B shapes on meta: {n / 1e9:.2f}B parameters, {len(initspec.plan(plan, model))} rows; built in "
          f"{built:.1f} s; initspec.plan first {times[0]:.3f} s, fastest {min(times):.3f} s (target < 2 s); "
          f"peak RSS {rss:.0f} MiB")


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
