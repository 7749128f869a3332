"""A sampler bug injected into any adapter makes the suite fail.

Each backend's low-level sampler is monkeypatched by hand (not through the power gate's
helpers) with a bug a real adapter could have - fans swapped, the truncation correction
dropped - or its ``HAAR_SIGN_CORRECTION`` flag is turned off, and the suite's own case
runner is run on a few cases: they fail with the bug and pass without it.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import replace
from typing import Any

import pytest

from initspec import distributions as D
from initspec.resolution import resolve
from initspec.spec import Axes
from initspec.testing import runner

pytest.importorskip("scipy")

BACKENDS = [b for b, mod in (("numpy", "numpy"), ("torch", "torch"), ("keras", "keras"), ("jax", "jax"))
            if importlib.util.find_spec(mod) is not None]
FANS_CASE, TRUNC_CASE, ORTHO_CASE = ("he_normal-wide-float32", "he_truncated_normal-conv2d-float16",
                                     "orthogonal-square-float32")


def fans_swapped(dist: D.Distribution) -> D.Distribution:
    der = dist.derivation
    if der is None or der.fans is None:
        return dist
    return resolve(der.spec, der.shape, Axes(in_axes=der.fans.out_axes, out_axes=der.fans.in_axes))


def correction_dropped(dist: D.Distribution) -> D.Distribution:
    if not isinstance(dist, D.TruncatedNormal):
        return dist
    c = D.TRUNC2_STD
    return replace(dist, scale=dist.scale * c, low=dist.low * c, high=dist.high * c)


def _patch(monkeypatch: pytest.MonkeyPatch, backend: str, bug: Any) -> None:
    """Replace the adapter's module-global low-level sampler with a buggy one."""
    mod = importlib.import_module(f"initspec.adapters.{backend}")
    if backend == "numpy":
        orig = mod.sample
        monkeypatch.setattr(mod, "sample", lambda dist, rng, dtype="float32": orig(bug(dist), rng, dtype))
    elif backend == "torch":
        orig = mod.sample_
        monkeypatch.setattr(mod, "sample_", lambda tensor, dist, generator=None: orig(tensor, bug(dist), generator))
    elif backend == "keras":
        orig = mod.sample
        monkeypatch.setattr(mod, "sample", lambda dist, shape=None, dtype=None, seed=None:
                            orig(bug(dist), shape, dtype, seed))
    else:
        orig = mod.sample
        monkeypatch.setattr(mod, "sample", lambda dist, key, shape, dtype=None, **kw:
                            orig(bug(dist), key, shape, dtype, **kw))


def _run(backend: str, *case_ids: str) -> dict[str, str]:
    plan = runner.make_plan([backend], ["cpu"], list(case_ids), coverage="full")
    return {i.case.id: runner.run_item(plan, i).status for i in plan.items if i.test == "conformance"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_a_bug_the_cases_pass(backend: str) -> None:
    assert _run(backend, FANS_CASE, TRUNC_CASE, ORTHO_CASE) == dict.fromkeys((FANS_CASE, TRUNC_CASE, ORTHO_CASE),
                                                                              "passed")


@pytest.mark.parametrize("backend", BACKENDS)
def test_swapped_fans_fail(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _patch(monkeypatch, backend, fans_swapped)
    assert _run(backend, FANS_CASE) == {FANS_CASE: "failed"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dropped_truncation_correction_fails(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _patch(monkeypatch, backend, correction_dropped)
    assert _run(backend, TRUNC_CASE) == {TRUNC_CASE: "failed"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_orthogonal_without_the_haar_sign_correction_fails(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = importlib.import_module(f"initspec.adapters.{backend}")
    monkeypatch.setattr(mod, "HAAR_SIGN_CORRECTION", False)
    plan = runner.make_plan([backend], ["cpu"], [ORTHO_CASE], coverage="full")
    (item,) = [i for i in plan.items if i.test == "conformance"]
    res = runner.run_item(plan, item)
    assert res.status == "failed" and "BAD haar_sign" in res.detail, res.detail
