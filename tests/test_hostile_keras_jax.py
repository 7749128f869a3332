"""Hostile input (issue 13), the Keras, JAX and plan-level half: every finding as a regression
test.  Bad input raises a :class:`~initspec.SpecError` naming the field, the value and the fix,
and changes nothing.  The core/NumPy half is tests/test_hostile.py, torch's
tests/test_hostile_torch.py.

JAX runs with ``jax_enable_x64`` off here (the test processes' default; the x64 cases switch
it on with ``jax.enable_x64``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import initspec
from initspec import SpecError
from initspec.native import native_calls

from _shared import codes


BAD_SEEDS = (-1, 2**64, 2**70, 10**5000, np.int64(-3), True, np.bool_(True), 1.0, "1")
GOOD_SEEDS = (0, 7, 2**64 - 1, np.int64(5), np.uint64(2**64 - 1))
SPEC = {"scheme": "he", "distribution": "uniform"}


def _keras():
    return pytest.importorskip("keras")


def _jax():
    return pytest.importorskip("jax")


# ----------------------------------------------------------------------------- seeds


def test_keras_seeds_follow_the_seed_rule():
    """Keras took -1 (its own "fresh seed"), 2**64 and more; now the one rule (sampling.check_seed)."""
    keras = _keras()
    from initspec.adapters import keras as ik

    law = initspec.resolve(SPEC, (3, 2), "keras")
    cls = type(ik.initializer(SPEC))
    for bad in BAD_SEEDS:
        assert codes(lambda: ik.initializer(SPEC, seed=bad)) == ["bad_seed"], bad
        assert codes(lambda: ik.sample(law, (3, 2), None, bad)) == ["bad_seed"], bad
        assert codes(lambda: cls.from_config({**initspec.parse(SPEC).to_dict(), "seed": bad})) == ["bad_seed"], bad
    with pytest.raises(SpecError) as info:
        ik.initializer(SPEC, seed=10**5000)
    assert "integer of" in str(info.value) and "2**64 - 1" in str(info.value) and info.value.errors[0].loc == ("seed",)
    for ok in GOOD_SEEDS:
        init = ik.initializer(SPEC, seed=ok)
        assert init.seed == int(ok) and type(init.seed) is int
        a, b = np.asarray(init((3, 2))), np.asarray(init((3, 2)))
        assert a.shape == (3, 2) and np.array_equal(a, b)
    assert ik.initializer(SPEC, seed=keras.random.SeedGenerator(1))((3, 2)).shape == (3, 2)  # still accepted


def test_plan_seeds_follow_the_seed_rule_at_parse():
    """A plan seed beyond 4,300 digits parsed and failed at apply (ValueError in derive_seed);
    2**64 and more parsed and drew.  The file's seed: and the seed= override now take 0 to
    2**64 - 1, NumPy integers included."""
    plan = {"defaults": {"weight": {"scheme": "normal", "std": 1.0}}}
    model = {"fc": {"weight": np.zeros((2, 2), np.float32)}}
    for bad in (2**64, 10**5000, -1):
        with pytest.raises(SpecError) as info:
            initspec.parse_plan({**plan, "seed": bad})
        assert info.value.codes == ["out_of_range"] and info.value.errors[0].loc == ("seed",)
    assert initspec.parse_plan({**plan, "seed": 2**64 - 1}).seed == 2**64 - 1
    assert initspec.parse_plan({**plan, "seed": np.int64(3)}).seed == 3
    for bad in BAD_SEEDS:
        assert codes(lambda: initspec.plan(plan, model, seed=bad)) == ["bad_seed"], bad
        assert codes(lambda: initspec.apply(plan, model, seed=bad)) == ["bad_seed"], bad
        assert not model["fc"]["weight"].any()  # nothing changed
    table = initspec.plan(plan, model, seed=np.int64(3))
    assert table.seed == 3 and type(table.seed) is int
    table = initspec.plan({**plan, "seed": 2**64 - 1}, model)
    json.dumps(table.to_json(), allow_nan=False)
    json.loads(initspec.apply(plan, model, seed=2**64 - 1).dumps())


def test_manifest_dumps_refuses_non_finite_numbers(monkeypatch):
    """Manifest.dumps wrote Infinity/NaN (not JSON) for a non-finite number; now it raises."""
    model = {"fc": {"weight": np.zeros((2, 2), np.float32)}}
    manifest = initspec.apply({"defaults": {"weight": {"scheme": "zeros"}}}, model)
    json.loads(manifest.dumps())
    monkeypatch.setattr(type(manifest.table), "to_json", lambda self: {"parameters": [{"std": float("inf")}]})
    with pytest.raises(ValueError, match="JSON"):
        manifest.dumps()


# ----------------------------------------------------------------------------- native calls


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (4, 0)])
def test_keras_native_call_on_an_empty_kernel_with_fan_geo_avg(shape):
    """fuzz case 20f4b5bfbc45: ZeroDivisionError (sqrt(fan_in * fan_out) = 0).  An empty
    tensor's fan counts as 1, in initspec's resolution and in Keras' max(1, fan_in)."""
    import re

    spec = {"scheme": "he", "mode": "fan_geo_avg", "distribution": "truncated_normal"}
    for shape_ in (shape, (4, 9)):
        call = native_calls(initspec.resolve(spec, shape_, "keras"))["keras"]
        scale = float(re.search(r'VarianceScaling\(scale=([0-9.e+-]+), mode="fan_in"', call.code).group(1))
        variance = 2.0 / (max(1, shape_[0] * shape_[1]) ** 0.5)  # He's 2 / geo-mean fan (1 when empty)
        assert scale / max(1, shape_[0]) == pytest.approx(variance), call.code  # Keras: scale / max(1, fan_in)
