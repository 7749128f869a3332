"""The multi-process part of tests/test_sharded_torch.py, run as a script:

    python tests/_sharded_torch_worker.py WORLD PORT OUT

spawns WORLD gloo ranks on CPU (``torch.multiprocessing.spawn``); every rank runs every
scenario and rank 0 saves the gathered tensors to OUT (``.npz``) and the flags to
``OUT.flags``.  A script (not a test module) so the spawned ranks can import it.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import initspec
from initspec.adapters import torch as ist
from initspec.errors import SpecError
from initspec.writer import fail_at

nn = torch.nn

PLAN = {"seed": 5, "rules": [
    {"match": {"kind": "embedding"}, "init": {"scheme": "normal", "std": 0.02}},
    {"match": {"path": "fc1.weight"}, "init": {"scheme": "he", "distribution": "truncated_normal"}},
    {"match": {"path": "fc2.weight"}, "init": {"scheme": "orthogonal"}},
    {"match": {"role": "bias"}, "init": {"scheme": "zeros"}},
    {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
    {"match": {"role": "offset"}, "init": {"scheme": "zeros"}},
]}


class Net(nn.Module):
    """Embedding, Linear, LayerNorm, Linear - dims that do not divide by 2 or 4 (uneven shards)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.fc1 = nn.Linear(16, 33)
        self.ln = nn.LayerNorm(33)
        self.fc2 = nn.Linear(33, 22)


class Fused(nn.Module):
    """A packed q/k/v projection (three blocks along dim 0) and an embedding with a padding row."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(30, 8, padding_idx=20)
        self.attn = nn.MultiheadAttention(8, 2)


FUSED_PLAN = {"seed": 8, "rules": [
    {"match": {"role": ["weight", "embedding"]}, "init": {"scheme": "normal", "std": 1.0}},
    {"match": {"block": "k", "role": "weight"}, "init": {"scheme": "orthogonal"}},
    {"match": {"role": "bias"}, "init": {"scheme": "uniform", "low": -1.0, "high": 1.0}},
]}


#: Single-tensor laws on TP placements: (name, spec, shape, layout).
SHAPE = (62, 46)  # chunks of 16,16,16,14 / 12,12,12,10 on 4 ranks
LAWS = [
    ("truncated_normal", {"scheme": "he", "distribution": "truncated_normal"}, SHAPE),
    ("normal", {"scheme": "normal", "std": 0.5}, SHAPE),
    ("uniform", {"scheme": "uniform", "low": -1.0, "high": 2.0}, SHAPE),
    ("zeros", {"scheme": "zeros"}, SHAPE),
    ("orthogonal", {"scheme": "orthogonal", "gain": 2.0}, SHAPE),
    ("sparse", {"scheme": "sparse", "sparsity": 0.25}, SHAPE),
    ("identity", {"scheme": "identity"}, SHAPE),
    ("dirac", {"scheme": "dirac"}, (8, 6, 3, 3)),
    ("delta_orthogonal", {"scheme": "delta_orthogonal"}, (8, 6, 3, 3)),
]
GEN_SEED = 11


def _placements(world: int) -> dict[str, tuple[tuple[int, ...], list[str]]]:
    """name -> (mesh shape, placements as text)."""
    out = {"S0": ((world,), ["Shard(0)"]), "S1": ((world,), ["Shard(1)"]), "R": ((world,), ["Replicate()"])}
    if world == 4:
        out["S0S1"] = ((2, 2), ["Shard(0)", "Shard(1)"])
        out["RS0"] = ((2, 2), ["Replicate()", "Shard(0)"])
    return out


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        _scenarios(rank, world, out)
    finally:
        dist.destroy_process_group()


def _scenarios(rank: int, world: int, out: str) -> None:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor, init_device_mesh

    res: dict[str, np.ndarray] = {}
    flags: dict[str, object] = {}
    mesh = init_device_mesh("cpu", (world,))
    # --- FSDP2: built on meta, planned there, sharded, materialised, applied
    with torch.device("meta"):
        m = Net()
    for sub in (m.emb, m.fc1, m.ln, m.fc2):
        fully_shard(sub, mesh=mesh)
    fully_shard(m, mesh=mesh)
    flags["meta_rows"] = len(initspec.plan(PLAN, m))
    try:
        initspec.apply(PLAN, m)
        flags["meta_error"] = None
    except SpecError as exc:
        flags["meta_error"] = exc.errors[0].code
    m.to_empty(device="cpu")
    for mode in ("native", "portable"):
        initspec.apply(PLAN, m, seeding=mode)
        for k, p in m.named_parameters():
            res[f"fsdp:{mode}:{k}"] = p.full_tensor().detach().numpy().copy()
    # fused blocks (MultiheadAttention's q/k/v) and a padding row, on FSDP2 shards
    with torch.device("meta"):
        fused = Fused()
    fully_shard(fused, mesh=mesh)
    fused.to_empty(device="cpu")
    for mode in ("native", "portable"):
        initspec.apply(FUSED_PLAN, fused, seeding=mode)
        for k, p in fused.named_parameters():
            res[f"fused:{mode}:{k}"] = p.full_tensor().detach().numpy().copy()
    # a failure mid-write puts every shard back (transactional)
    before = {k: p.to_local().detach().clone() for k, p in m.named_parameters()}
    try:
        initspec.apply(PLAN, m, seeding="portable", seed=99, transactional=True, checkpoint=fail_at(3))
    except RuntimeError:
        pass
    flags["restored"] = all(torch.equal(before[k], p.to_local()) for k, p in m.named_parameters())
    # --- tensor parallel: single-tensor initializers on every placement
    meshes: dict[tuple[int, ...], object] = {(world,): mesh}
    for pname, (mshape, texts) in _placements(world).items():
        if mshape not in meshes:
            meshes[mshape] = init_device_mesh("cpu", mshape)
        placements = [{"Shard(0)": Shard(0), "Shard(1)": Shard(1), "Replicate()": Replicate()}[t] for t in texts]
        for name, spec, shape in LAWS:
            t = distribute_tensor(torch.zeros(shape), meshes[mshape], placements)
            ist.initializer(spec)(t, generator=torch.Generator().manual_seed(GEN_SEED))
            res[f"tp:{pname}:{name}"] = t.full_tensor().numpy().copy()
            locals_ = [None] * world
            dist.all_gather_object(locals_, (tuple(t.to_local().shape), t.to_local().numpy().tobytes()))
            flags[f"locals:{pname}:{name}"] = locals_
        # a plan on a module whose weight is placed so, portable and native
        lin = nn.Linear(46, 62)
        lin.weight = nn.Parameter(distribute_tensor(lin.weight.detach(), meshes[mshape], placements))
        lin.bias = nn.Parameter(distribute_tensor(lin.bias.detach(), meshes[mshape], [Replicate()] * len(mshape)))
        for mode in ("native", "portable"):
            initspec.apply(TP_PLAN, lin, seeding=mode)
            res[f"plan:{pname}:{mode}"] = lin.weight.full_tensor().detach().numpy().copy()
            res[f"planbias:{pname}:{mode}"] = lin.bias.full_tensor().detach().numpy().copy()
    if rank == 0:
        np.savez(out, **res)
        torch.save(flags, out + ".flags")


TP_PLAN = {"seed": 2, "rules": [
    {"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "truncated_normal"}},
    {"match": {"role": "bias"}, "init": {"scheme": "uniform", "low": -0.1, "high": 0.1}},
]}



if __name__ == "__main__":
    world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    mp.spawn(_worker, args=(world, port, out), nprocs=world, join=True)
