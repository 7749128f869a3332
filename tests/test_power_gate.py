"""The power gate (docs/conformance.md): every wrong sampler is rejected by the suite's own checks,
seeds and α, on every installed backend - and the same cases pass without the bug."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest

from initspec import distributions as D
from initspec.testing import cases as C
from initspec.testing import check_independent, check_samples, check_two_sample, engine
from initspec.testing.backends import get_backend
from initspec.testing.mutants import MUTANTS, run_mutant

pytest.importorskip("scipy")

BACKENDS = [b for b, mod in (("numpy", "numpy"), ("torch", "torch"), ("keras", "keras"), ("jax", "jax"))
            if importlib.util.find_spec(mod) is not None]


def test_every_stats_md_mutant_is_in_the_gate() -> None:
    assert set(MUTANTS) == {
        "std_up", "std_down", "fans_swapped", "layout_misread", "uniform_for_normal", "truncation_missing",
        "correction_missing", "bounds_std_as_absolute", "bounds_absolute_as_std", "normal_as_truncated",
        "mean_shift", "haar_off", "seed_reuse", "complex_std_up", "complex_std_down", "complex_real_only",
        "complex_imag_is_real", "complex_full_std_each", "complex_parts_for_disk", "complex_correction_missing",
        "complex_mean_one_part"}


def _targets(backend: str, targets: tuple[str, ...]) -> tuple[str, ...]:
    """The targets ``backend`` draws: the complex cases only where it draws complex tensors."""
    if get_backend(backend).complex_dtypes:
        return targets
    return tuple(t for t in targets if not C.case_by_id(t).complex)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_law_rewrite_changes_the_law_of_each_target(backend: str) -> None:
    """A mutant 'rejected' on a case where it changes nothing would prove nothing."""
    layout = get_backend(backend).layout
    for m in MUTANTS.values():
        for cid in m.targets:
            assert cid in {c.id for c in C.all_cases()}, cid
            if m.transform is not None:
                law = C.case_by_id(cid).resolve(layout)
                assert m.transform(law) != law, (m.name, cid, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_targets_pass_without_the_bug(backend: str) -> None:
    targets = sorted({t for m in MUTANTS.values() for t in _targets(backend, m.targets)})
    sel = engine.make_selection([backend], ["cpu"], targets, coverage="full")
    items = [i for i in sel.items if i.test in ("conformance", "independence")]
    assert len(items) >= len(targets)
    results = [engine.run_item(sel, i) for i in items]
    assert all(r.status == "passed" for r in results), [(r.item.id, r.detail) for r in results if r.status != "passed"]


@pytest.mark.parametrize("mutant", list(MUTANTS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_mutant_is_rejected(backend: str, mutant: str) -> None:
    m = MUTANTS[mutant]
    targets = _targets(backend, m.targets)
    if not targets:
        pytest.skip(f"{backend} draws no complex tensors")
    results = run_mutant(m, backend)
    assert len(results) == len(targets)
    # "failed" = a check rejected the samples; an exception ("error") would not count
    assert all(r.status == "failed" for r in results), [(r.item.id, r.status, r.detail) for r in results]
    if backend in ("numpy", "torch"):  # fixed seeds: the same verdicts and p-values, every run
        again = run_mutant(m, backend)
        assert [(r.status, r.min_p) for r in again] == [(r.status, r.min_p) for r in results]


def test_a_new_salt_rerolls_the_seeds_and_the_mutant_is_still_caught() -> None:
    m = MUTANTS["std_up"]
    first, salted = run_mutant(m, "numpy"), run_mutant(m, "numpy", salt=987654321)
    assert all(r.status == "failed" for r in salted)
    assert [r.min_p for r in first] != [r.min_p for r in salted]


# ----------------------------------------------------------------------------- check_samples directly


def _rng(tag: str) -> np.random.Generator:
    return np.random.default_rng(C.draw_seeds(tag, 1)[0])


@pytest.mark.parametrize("dist", [
    D.Constant(value=0.25), D.Uniform(low=-0.3, high=0.1), D.Normal(loc=0.2, scale=0.05),
    D.TruncatedNormal(loc=0.0, scale=0.1, low=-0.05, high=0.2),
    D.Orthogonal(shape=(300, 200), gain=1.5, out_axes=(1,)), D.Identity(shape=(30, 40), gain=2.0),
    D.Dirac(shape=(3, 3, 16, 32), groups=2, out_axis=3, in_axis=2, spatial_axes=(0, 1)),
    D.DeltaOrthogonal(shape=(3, 3, 16, 32), gain=1.0, in_axis=2, out_axis=3, spatial_axes=(0, 1)),
    D.Sparse(shape=(400, 200), scale=0.02, sparsity=0.25, zeros_per_column=100, out_axis=0, in_axis=1),
], ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_check_samples_passes_correct_samples_of_every_family(dist: D.Distribution, dtype: str) -> None:
    from initspec.adapters import numpy as isnp

    shape = getattr(dist, "shape", (65_536,))
    dist = dist if hasattr(dist, "shape") else _with_shape(dist, shape)
    count = C.draw_count(dist, shape)
    rng = _rng(f"{type(dist).__name__}-{dtype}")
    res = check_samples([isnp.sample(dist, rng, dtype) for _ in range(count)], dist, dtype)
    assert res.passed, res.report()


def _with_shape(dist: D.Distribution, shape: tuple[int, ...]) -> D.Distribution:
    from initspec.distributions import Derivation
    from initspec.spec import Zeros

    zeros = Zeros(scheme="zeros")  # any spec: the sampler only reads the shape from the derivation
    return replace(dist, derivation=Derivation(spec=zeros, plain=zeros, shape=shape, layout=None))


def test_check_samples_rejects_the_wrong_scale_and_the_wrong_shape() -> None:
    rng = _rng("direct")
    target = D.Normal(loc=0.0, scale=0.1)
    assert not check_samples(rng.normal(0, 0.105, 65_536), target).passed
    assert not check_samples(rng.uniform(-0.1 * 3**0.5, 0.1 * 3**0.5, 65_536), target).passed
    assert check_samples(rng.normal(0, 0.1, 65_536), target).passed
    res = check_samples(rng.normal(0, 0.1, (2, 3)), D.Orthogonal(shape=(3, 2), gain=1.0, out_axes=(1,)))
    assert not res.passed and res["shape"].passed is False


def test_two_sample_and_independence_checks() -> None:
    rng = _rng("pairs")
    a, b = rng.normal(0, 1, 65_536), rng.normal(0, 1, 65_536)
    assert check_two_sample(a, b).passed and check_independent(a, b).passed
    assert not check_two_sample(a, rng.normal(0, 1.05, 65_536)).passed
    assert not check_independent(a, a).passed
    assert not check_independent(a, 0.1 * a + rng.normal(0, 1, 65_536)).passed


def test_too_few_random_bits_in_half_precision_are_caught() -> None:
    """A half-precision uniform built from 8 random bits (256 levels) keeps its moments and
    KS distance within bounds but shows far fewer distinct values than the law."""
    import ml_dtypes

    rng = _rng("coarse")
    law = D.Uniform(low=-0.2, high=0.5)
    fine = rng.uniform(-0.2, 0.5, 65_536).astype(np.float32).astype(ml_dtypes.bfloat16)
    coarse = (-0.2 + 0.7 * (rng.integers(0, 256, 65_536) + 0.5) / 256).astype(np.float32).astype(ml_dtypes.bfloat16)
    assert check_samples(fine, law, "bfloat16").passed
    res = check_samples(coarse, law, "bfloat16")
    assert not res["distinct"].passed, res.report()
    assert res["mean"].passed and res["second_moment"].passed and res["ks"].passed  # blind to it
