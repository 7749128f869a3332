"""Hostile input (issue 13), the PyTorch half: every finding as a regression test.

Seeds follow the one seed rule (:func:`initspec.sampling.check_seed`); parameters that share
storage are a tie (the same elements) or a ``shared_storage`` error (any other overlap); and
tensors torch cannot write in place (expanded, sparse, inference-mode) or cannot draw into
(meta) are a :class:`~initspec.SpecError` raised before anything is written - by the
single-tensor API and by plans alike.  Real torch modules, no mocks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import initspec  # noqa: E402
from initspec import SpecError  # noqa: E402
from initspec.adapters import torch as ist  # noqa: E402
from initspec.adapters.torch.random import fill_region  # noqa: E402

from _shared import python_calls  # noqa: E402

nn = torch.nn
NORMAL = {"scheme": "normal", "std": 1.0}


def codes(fn) -> list[str]:
    with pytest.raises(SpecError) as info:
        fn()
    str(info.value)  # rendering never raises
    json.dumps([e.to_dict() for e in info.value.errors], allow_nan=False)  # and is strict JSON
    return info.value.codes


def plan_of(weight: dict, bias: dict | None = None) -> dict:
    return {"defaults": {"weight": weight, "bias": bias or {"scheme": "zeros"}}}


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v.detach(), before[k]) for k, v in model.named_parameters())


# ----------------------------------------------------------------------------- 1. seeds


def test_a_diagnose_seed_follows_the_seed_rule():
    """diagnose's batch and upstream gradient are seeded with 2*seed and 2*seed + 1: from seed
    2**63 on, torch's manual_seed raised a raw ValueError; 2**64 and more were not refused."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))
    for ok in (2**63, 2**64 - 1, np.uint64(2**64 - 1), np.int64(3)):
        assert initspec.diagnose(model, input_shape=(8, 4), seed=ok).layers
    for bad in (-1, 2**64, True, 1.5):
        assert codes(lambda: initspec.diagnose(model, input_shape=(8, 4), seed=bad)) == ["bad_seed"]


def test_fill_region_seed_follows_the_seed_rule():
    dist = initspec.resolve(NORMAL, (4,))
    x = torch.zeros(4)
    for bad in (-1, 2**64, True):
        assert codes(lambda: fill_region(x, dist, (4,), (0,), seed=bad)) == ["bad_seed"]
    assert torch.all(x == 0)
    fill_region(x, dist, (4,), (0,), seed=np.uint64(2**64 - 1))
    assert torch.equal(x, torch.empty(4).normal_(0.0, 1.0, generator=torch.Generator().manual_seed(2**64 - 1)))


# ----------------------------------------------------------------------------- 2. shared storage


def test_two_parameters_on_the_same_elements_are_a_tie():
    a, b, c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
    b.weight = nn.Parameter(a.weight.data)  # another Parameter object, the same memory
    model = nn.ModuleDict({"a": a, "b": b, "c": c})
    infos = initspec.plan(plan_of(NORMAL), model).params
    weights = [(p.path, p.aliases) for p in infos if p.role == "weight"]
    assert weights == [("a.weight", ("b.weight",)), ("c.weight", ())]
    initspec.apply(plan_of({"scheme": "constant", "value": 0.5}), model)
    assert torch.all(a.weight == 0.5) and torch.all(b.weight == 0.5)
    with pytest.raises(SpecError) as info:  # a rule for the alias names the tie
        initspec.plan({"rules": [{"match": {"path": "b.weight"}, "init": {"scheme": "zeros"}}], **plan_of(NORMAL)},
                      model)
    assert "tied to 'a.weight'" in str(info.value)


@pytest.mark.parametrize("other", [lambda w: w[1:], lambda w: w.t(), lambda w: w.reshape(-1)[2:6].view(1, 4),
                                   lambda w: w[:, :2]])
def test_overlapping_parameters_are_an_error_naming_both(other):
    a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    b.weight = nn.Parameter(other(a.weight.data))
    model = nn.ModuleDict({"a": a, "b": b})
    before = snapshot(model)
    for call in (initspec.plan, initspec.apply):
        with pytest.raises(SpecError) as info:
            call(plan_of(NORMAL), model)
        assert info.value.codes == ["shared_storage"] and "a.weight and b.weight" in str(info.value)
    assert unchanged(model, before)


def test_disjoint_and_interleaved_views_of_one_buffer_are_fine():
    buf = torch.zeros(8, 4)
    a, b, c, d = (nn.Linear(4, 4) for _ in range(4))
    a.weight, b.weight = nn.Parameter(buf[:4]), nn.Parameter(buf[4:])
    inter = torch.zeros(4, 8)
    c.weight, d.weight = nn.Parameter(inter[:, ::2]), nn.Parameter(inter[:, 1::2])  # byte ranges overlap, elements not
    model = nn.ModuleDict({"a": a, "b": b, "c": c, "d": d})
    initspec.apply(plan_of({"scheme": "ones"}), model)
    assert torch.all(buf == 1) and torch.all(inter == 1)


def test_the_storage_sweep_is_fast_on_many_parameters():
    """Work in function calls, not wall time: about 49 per parameter today; a pairwise
    overlap check of these 4,000 parameters would be millions."""
    model = nn.Sequential(*(nn.Linear(8, 8) for _ in range(2000)))
    from initspec.adapters.torch.model import walk

    walk(model)
    rows, calls = python_calls(lambda: walk(model))
    assert len(rows) == 4000 and calls < 100 * 4000, calls


# ----------------------------------------------------------------------------- 3. tensors torch cannot write


def test_an_expanded_tensor_is_refused():
    for spec in (NORMAL, {"scheme": "uniform", "low": 0, "high": 1}, {"scheme": "zeros"}):
        x = torch.ones(4)
        assert codes(lambda: ist.initializer(spec)(x.expand(3, 4))) == ["internal_overlap"]
        assert torch.all(x == 1)
    x = torch.ones(6)
    assert codes(lambda: ist.initializer(NORMAL)(x.as_strided((3, 3), (1, 1)))) == ["internal_overlap"]
    assert codes(lambda: ist.truncated_normal_(x.expand(2, 6), initspec.resolve(
        {"scheme": "truncated_normal", "std": 1.0}, (2, 6)))) == ["internal_overlap"]
    assert torch.all(x == 1)
    lin = nn.Linear(4, 3)
    lin.weight = nn.Parameter(torch.ones(4).expand(3, 4))
    before = snapshot(lin)
    assert codes(lambda: initspec.apply(plan_of(NORMAL), lin)) == ["internal_overlap"]
    assert unchanged(lin, before)
    # strided views that do not overlap are fine
    ist.initializer(NORMAL)(torch.zeros(4, 6)[:, ::2])
    ist.initializer(NORMAL)(torch.zeros(4, 6).t())


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_a_sparse_tensor_is_refused():
    for make in (lambda: torch.zeros(3, 3).to_sparse(), lambda: torch.zeros(3, 3).to_sparse_csr()):
        for spec in (NORMAL, {"scheme": "ones"}):
            assert codes(lambda: ist.initializer(spec)(make())) == ["sparse_tensor"]
    lin = nn.Linear(3, 3)
    lin.weight = nn.Parameter(torch.zeros(3, 3).to_sparse())
    bias = lin.bias.detach().clone()
    assert codes(lambda: initspec.apply(plan_of(NORMAL), lin)) == ["sparse_tensor"]
    assert torch.equal(lin.bias.detach(), bias)


def test_an_inference_tensor_is_refused_outside_inference_mode():
    """torch wrote the values, then raised: a plan left the first parameter overwritten."""
    with torch.inference_mode():
        x = torch.ones(3, 3)
        lin = nn.Linear(3, 3)
    for spec in (NORMAL, {"scheme": "zeros"}):
        assert codes(lambda: ist.initializer(spec)(x)) == ["inference_tensor"]
    assert torch.all(x == 1)
    before = {k: v.clone() for k, v in lin.named_parameters()}
    assert codes(lambda: initspec.apply(plan_of({"scheme": "zeros"}), lin)) == ["inference_tensor"] * 2
    assert all(torch.equal(v, before[k]) for k, v in lin.named_parameters())
    with torch.inference_mode():  # inside inference mode torch allows it
        ist.initializer({"scheme": "zeros"})(x)
        initspec.apply(plan_of({"scheme": "ones"}), lin)
    assert torch.all(x == 0) and torch.all(lin.weight == 1)


def test_a_generator_for_a_meta_tensor_is_a_meta_error():
    meta = torch.empty(3, 3, device="meta")
    gen = torch.Generator()
    assert codes(lambda: ist.initializer(NORMAL)(meta, generator=gen)) == ["meta_tensor"]
    dist = initspec.resolve({"scheme": "truncated_normal", "std": 1.0}, (3, 3))
    assert codes(lambda: ist.truncated_normal_(meta, dist, gen)) == ["meta_tensor"]
    assert codes(lambda: fill_region(meta, dist, (3, 3), (0, 0), seed=0)) == ["meta_tensor"]
    assert codes(lambda: initspec.apply(plan_of(NORMAL), nn.Linear(3, 3, device="meta"))) == ["meta_tensor"]


@pytest.mark.parametrize("spec", [{"scheme": "uniform", "low": -1e39, "high": 1e39},
                                  {"scheme": "uniform", "low": -3e38, "high": 3e38}])
def test_uniform_bounds_beyond_float32_are_dtype_overflow(spec):
    x = torch.ones(4)
    assert codes(lambda: ist.initializer(spec)(x)) == ["dtype_overflow"]
    assert torch.all(x == 1)
    lin = nn.Linear(4, 4)
    before = snapshot(lin)
    assert codes(lambda: initspec.apply(plan_of(spec), lin)) == ["dtype_overflow"]
    assert unchanged(lin, before)
    ist.initializer(spec)(torch.empty(4, dtype=torch.float64))  # float64 holds them


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_a_constant_that_does_not_fit_float8_is_refused(dtype):
    dt = getattr(torch, dtype, None)
    if dt is None:
        pytest.skip(f"torch has no {dtype}")
    x = torch.zeros(4, dtype=dt)
    assert codes(lambda: ist.initializer({"scheme": "constant", "value": 1e6})(x)) == ["dtype_overflow"]
    assert codes(lambda: ist.initializer({"scheme": "constant", "value": 1e-10})(x)) == ["dtype_underflow"]
    assert codes(lambda: ist.initializer({"scheme": "identity", "gain": 1e6})(torch.zeros(2, 2, dtype=dt))) == \
        ["dtype_overflow"]
    assert torch.all(x.float() == 0)
    ist.initializer({"scheme": "constant", "value": 0.5})(x)
    assert torch.all(x.float() == 0.5)
