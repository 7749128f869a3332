"""Plans and initializers on sharded PyTorch parameters: FSDP2 (``fully_shard``) and
tensor-parallel DTensors (``distribute_tensor`` with ``Shard(0)``, ``Shard(1)``,
``Replicate``), in real multi-process gloo runs on CPU (2 and 4 ranks, a free port each).

Each world size is spawned once (``torch.multiprocessing.spawn``) and runs every scenario;
rank 0 saves the gathered tensors and the tests compare them here with a single-process
run of the same plan:

* ``seeding: portable``: the gathered weights are byte-identical to a single-process apply,
  for a meta-built, ``fully_shard``-ed, ``to_empty``-ed model and for TP placements;
* native seeding: every law is correct; elementwise laws are drawn shard by shard with the
  shard's offset folded into the seed (independent shards, equal replicas); orthogonal,
  delta-orthogonal and sparse are drawn whole on every rank and sliced (equal to a
  single-process draw with the same seed); identity and dirac are exact.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():  # pragma: no cover
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import initspec  # noqa: E402
from initspec.adapters import torch as ist  # noqa: E402

nn = torch.nn
WORKER = os.path.join(os.path.dirname(__file__), "_sharded_torch_worker.py")


def _load_worker():
    """The worker script's constants and model (it is a script, not an importable module)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_sharded_torch_worker", WORKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


W = _load_worker()
PLAN, TP_PLAN, LAWS, SHAPE, GEN_SEED, Net, _placements = (W.PLAN, W.TP_PLAN, W.LAWS, W.SHAPE, W.GEN_SEED, W.Net,
                                                          W._placements)


def _run(world: int, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    out = str(tmp_path_factory.mktemp(f"world{world}") / "out.npz")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, WORKER, str(world), str(_free_port()), out], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with np.load(out) as f:
        res = dict(f)
    return res, torch.load(out + ".flags", weights_only=False)


@pytest.fixture(scope="module", params=[2, 4], ids=["world2", "world4"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    return request.param, *_run(request.param, tmp_path_factory)


def _same(a: np.ndarray, b: torch.Tensor | np.ndarray) -> bool:
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _single(seeding: str) -> dict[str, torch.Tensor]:
    m = Net()
    initspec.apply(PLAN, m, seeding=seeding)
    return dict(m.named_parameters())


# ----------------------------------------------------------------------------- FSDP2 on meta


def test_a_meta_model_is_planned_and_apply_says_to_materialise(run) -> None:
    world, res, flags = run
    assert flags["meta_rows"] == 7
    assert flags["meta_error"] == "meta_tensor"


def test_fsdp_portable_equals_a_single_process_apply_byte_for_byte(run) -> None:
    world, res, flags = run
    for k, p in _single("portable").items():
        assert _same(res[f"fsdp:portable:{k}"], p), (world, k)


def test_fsdp_native_draws_every_law_correctly(run) -> None:
    world, res, flags = run
    single = _single("native")
    # whole-matrix law: drawn whole on every rank with the row's seed = the single-process draw
    # (to LAPACK's last bits, which vary with the thread count: the ranks run one thread each)
    assert np.allclose(res["fsdp:native:fc2.weight"], single["fc2.weight"].detach().numpy(), rtol=0, atol=1e-6)
    w = res["fsdp:native:fc2.weight"].astype(np.float64)
    assert np.allclose(w @ w.T, np.eye(22), atol=1e-5)
    for k in ("fc1.bias", "fc2.bias", "ln.bias"):
        assert not res[f"fsdp:native:{k}"].any()
    assert (res["fsdp:native:ln.weight"] == 1).all()
    # elementwise laws: shard by shard, each shard its own stream
    t = res["fsdp:native:fc1.weight"]
    parent = math.sqrt(2 / 16) / 0.87962566103423978
    assert np.abs(t).max() < 2 * parent and abs(t.std() / math.sqrt(2 / 16) - 1) < 0.12
    e = res["fsdp:native:emb.weight"]
    assert abs(e.std() / 0.02 - 1) < 0.1
    c = math.ceil(50 / world)  # FSDP2 shards dim 0 as torch.chunk: rank 1's rows start at c
    assert not _same(e[: c - 2], e[c: 2 * c - 2])
    assert not _same(res["fsdp:native:emb.weight"], single["emb.weight"])  # the world size shows, by design


def test_fused_blocks_and_padding_rows_on_shards(run) -> None:
    """q/k/v blocks of a packed projection cut across FSDP2's row shards; the padding row
    sits on a later rank: portable equals one process, native keeps each law."""
    world, res, flags = run
    single = W.Fused()
    initspec.apply(W.FUSED_PLAN, single, seeding="portable")
    for k, p in single.named_parameters():
        assert _same(res[f"fused:portable:{k}"], p), (world, k)
    emb = res["fused:native:emb.weight"]
    assert not emb[20].any() and emb[:20].all()
    w = res["fused:native:attn.in_proj_weight"].astype(np.float64)
    k = w[8:16]  # the k block: orthogonal, drawn whole on every rank
    assert np.allclose(k @ k.T, np.eye(8), atol=1e-5)
    assert abs(np.concatenate([w[:8], w[16:]]).std() - 1.0) < 0.25


def test_a_failed_transactional_write_restores_every_shard(run) -> None:
    assert run[2]["restored"]


# ----------------------------------------------------------------------------- tensor parallel


def _law(name: str) -> tuple[object, tuple[int, ...]]:
    spec, shape = next((s, sh) for n, s, sh in LAWS if n == name)
    return ist.initializer(spec).resolve(shape), shape


def _whole(name: str) -> np.ndarray:
    """What a single process draws for the law with the seed sample_ takes from the generator."""
    law, shape = _law(name)
    seed = int(torch.randint(0, 2**63 - 1, (1,), generator=torch.Generator().manual_seed(GEN_SEED)))
    return ist.sample_(torch.zeros(shape), law, torch.Generator().manual_seed(seed)).numpy()


@pytest.mark.parametrize("name", ["orthogonal", "sparse", "delta_orthogonal", "identity", "dirac", "zeros"])
def test_whole_matrix_and_fixed_laws_equal_the_single_process_draw(run, name: str) -> None:
    world, res, flags = run
    want = _whole(name)
    for pname in _placements(world):
        got = res[f"tp:{pname}:{name}"]
        if name in ("orthogonal", "delta_orthogonal"):  # LAPACK's QR: last bits vary with the thread count
            assert np.allclose(got, want, rtol=0, atol=1e-6), (pname, name)
        else:
            assert _same(got, want), (pname, name)


def test_the_whole_matrix_laws_hold_on_every_placement(run) -> None:
    world, res, flags = run
    for pname in _placements(world):
        w = res[f"tp:{pname}:orthogonal"].astype(np.float64) / 2.0
        assert np.allclose(w.T @ w, np.eye(46), atol=1e-5)
        s = res[f"tp:{pname}:sparse"]
        assert ((s == 0).sum(axis=0) == math.ceil(0.25 * 62)).all()
        assert (res[f"tp:{pname}:identity"] == np.eye(*SHAPE, dtype=np.float32)).all()


@pytest.mark.parametrize("name", ["truncated_normal", "normal", "uniform"])
def test_elementwise_laws_are_drawn_shard_by_shard(run, name: str) -> None:
    world, res, flags = run
    law, shape = _law(name)
    for pname in _placements(world):
        x = res[f"tp:{pname}:{name}"].astype(np.float64)
        assert (x > law.low).all() and (x < law.high).all(), pname
        assert abs(x.mean() - law.mean) < 4 * law.std / math.sqrt(x.size) + 1e-12, pname
        assert abs(x.std() / law.std - 1) < 0.06, pname
    # the shards of one tensor are independent: no two equal-shaped shards share values
    locals_ = flags[f"locals:S0:{name}"]
    assert locals_[0][1] != locals_[1][1]
    # a replicated tensor is held whole by every rank: the same bytes everywhere, = a single draw
    assert len({b for _, b in flags[f"locals:R:{name}"]}) == 1
    assert _same(res[f"tp:R:{name}"], _whole(name))


def test_replicas_along_a_mesh_dimension_hold_the_same_shard(run) -> None:
    world, res, flags = run
    if world != 4:
        pytest.skip("a 2x2 mesh needs 4 ranks")
    for name in ("truncated_normal", "normal", "uniform"):
        locals_ = flags[f"locals:RS0:{name}"]  # mesh [[0, 1], [2, 3]]: ranks 0 and 2 hold the same shard
        assert locals_[0] == locals_[2] and locals_[1] == locals_[3] and locals_[0] != locals_[1]
        s0s1 = {b for _, b in flags[f"locals:S0S1:{name}"]}
        assert len(s0s1) == 4


def test_tp_plan_portable_equals_a_single_process_apply(run) -> None:
    world, res, flags = run
    lin = nn.Linear(46, 62)
    initspec.apply(TP_PLAN, lin, seeding="portable")
    for pname in _placements(world):
        assert _same(res[f"plan:{pname}:portable"], lin.weight), pname
        assert _same(res[f"planbias:{pname}:portable"], lin.bias), pname
        native = res[f"plan:{pname}:native"]
        assert not _same(native, lin.weight)
        assert np.abs(native).max() < 2 * math.sqrt(2 / 46) / 0.87962566103423978


# ----------------------------------------------------------------------------- single process


def test_unsupported_placements_are_a_spec_error(tmp_path) -> None:
    """Partial (a pending sum) is not a tensor one can fill: SpecError, nothing written."""
    script = textwrap.dedent(f"""
        import os, torch, torch.distributed as dist
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="{_free_port()}")
        dist.init_process_group("gloo", rank=0, world_size=1)
        from torch.distributed.tensor import DTensor, Partial, init_device_mesh
        import initspec
        from initspec.adapters import torch as ist
        mesh = init_device_mesh("cpu", (1,))
        t = DTensor.from_local(torch.zeros(4, 3), mesh, [Partial()])
        try:
            ist.initializer({{"scheme": "normal", "std": 0.02}})(t)
        except initspec.SpecError as e:
            print("CODE", e.errors[0].code)
        dist.destroy_process_group()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert "CODE unsupported_placement" in out.stdout, out.stderr[-2000:]


def test_planning_a_meta_model_allocates_nothing_and_to_empty_needs_no_second_copy(tmp_path) -> None:
    """A 4 GiB model on meta is planned with a few MB; after to_empty, native and portable
    applies write in place (peak RSS grows by far less than the model's 64 MiB)."""
    script = textwrap.dedent("""
        import resource, torch, initspec
        def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB
        plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "truncated_normal"}},
                          {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}]}
        with torch.device("meta"):
            big = torch.nn.Sequential(*[torch.nn.Linear(16384, 16384) for _ in range(4)])  # 4 GiB of float32
        base = rss()
        table = initspec.plan(plan, big)
        print("PLAN", len(table), rss() - base)
        with torch.device("meta"):
            m = torch.nn.Sequential(*[torch.nn.Linear(2048, 2048) for _ in range(4)])  # 64 MiB
        m.to_empty(device="cpu")
        for p in m.parameters():
            p.detach().zero_()
        base = rss()
        initspec.apply(plan, m, seeding="native")
        print("NATIVE", rss() - base)
        initspec.apply(plan, m, seeding="portable")
        print("PORTABLE", rss() - base)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    got = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in out.stdout.splitlines()}
    assert set(got) == {"PLAN", "NATIVE", "PORTABLE"}, out.stderr[-2000:]
    assert got["PLAN"][0] == 8 and got["PLAN"][1] < 64
    assert got["NATIVE"][0] < 24 and got["PORTABLE"][0] < 24, got


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_cuda_portable_values_equal_the_cpu_ones() -> None:  # pragma: no cover - GPU only
    cpu, gpu = Net(), Net().cuda()
    initspec.apply(PLAN, cpu, seeding="portable")
    initspec.apply(PLAN, gpu, seeding="portable")
    for (k, a), (_, b) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert _same(a.detach().numpy(), b.detach().cpu().numpy()), k


def test_the_fsdp_script_of_the_docs(tmp_path) -> None:
    """docs/large-models.md's 2-rank FSDP2 script, run as its comment says (torchrun)."""
    import re

    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "large-models.md").read_text(encoding="utf-8")
    script = re.search(r"```python\n(# fsdp_init\.py.*?)```", text, re.S).group(1)
    path = tmp_path / "fsdp_init.py"
    path.write_text(script, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(path)], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert "gathered == single process: True" in out.stdout, out.stderr[-3000:]
