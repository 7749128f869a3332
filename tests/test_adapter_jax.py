"""The JAX/Flax adapter: conformance of every scheme in every dtype, jit/vmap, determinism,
errors, Flax linen and nnx layers, the power gate, devices, and agreement with the native
``jax.nn.initializers`` for every row of docs/frameworks.md that has a JAX/Flax column.

Seeds are ``zlib.crc32`` of the case id (xor ``$INITSPEC_SEED_SALT``); statistical checks use
``initspec.testing``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import pickle
import random
import subprocess
import sys
import textwrap
import warnings
import zlib
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("scipy")
jnp = jax.numpy

import initspec  # noqa: E402
from initspec import distributions as D  # noqa: E402
from initspec.adapters import jax as isj  # noqa: E402
from initspec.errors import ShapeError, SpecError  # noqa: E402
from initspec.testing import N_SAMPLES, check_samples, check_two_sample  # noqa: E402
from initspec.testing.stats import HAAR_MIN_DIAGONAL  # noqa: E402

HALF = ("float16", "bfloat16", "float32")


#: ``INITSPEC_SEED_SALT`` re-rolls every seed (an occasional "is this luck?" run, docs/conformance.md).
SALT = int(os.environ.get("INITSPEC_SEED_SALT", "0") or "0")


def seed_of(case_id: str) -> int:
    return (zlib.crc32(case_id.encode()) ^ SALT) & 0x7FFF_FFFF


def key_of(case_id: str) -> Any:
    return jax.random.key(seed_of(case_id))


def draw_count(dist: D.Distribution, shape: tuple[int, ...]) -> int:
    """Enough tensors for N_SAMPLES elements; for orthogonal laws at least 64 matrices and
    enough diagonal entries for the Haar sign check to run."""
    if not dist.random:
        return 1
    count = max(1, math.ceil(N_SAMPLES / math.prod(shape)))
    block = dist.block if isinstance(dist, D.DeltaOrthogonal) else dist
    if isinstance(block, D.Orthogonal):
        count = max(count, math.ceil(HAAR_MIN_DIAGONAL / min(block.rows, block.cols)))
        count = max(count, 64) if isinstance(dist, D.Orthogonal) else count
    return count


def draws(init: isj.JaxInitializer, case_id: str, shape: tuple[int, ...], dtype: Any,
          count: int | None = None) -> tuple[list[Any], D.Distribution]:
    dist = init.resolve(shape)
    count = draw_count(dist, shape) if count is None else count
    keys = jax.random.split(key_of(case_id), count)
    return [init(k, shape, dtype) for k in keys], dist


# ----------------------------------------------------------------------------- the case table

#: (id, spec, shape, layout): every plain scheme at a real shape, a few presets, and the
#: torch layout on transposed shapes.
CASES: list[tuple[str, dict[str, Any], tuple[int, ...], str]] = [
    ("zeros", {"scheme": "zeros"}, (256, 256), "jax"),
    ("ones-bias", {"scheme": "ones"}, (4096,), "jax"),
    ("constant", {"scheme": "constant", "value": 0.3}, (3, 3, 32, 64), "jax"),
    ("uniform-bias", {"scheme": "uniform", "low": -0.2, "high": 0.5}, (4096,), "jax"),
    ("normal", {"scheme": "normal", "mean": 0.1, "std": 0.3}, (256, 256), "jax"),
    ("truncated_normal", {"scheme": "truncated_normal", "mean": 0.1, "std": 0.3}, (256, 256), "jax"),
    ("truncated_normal_abs", {"scheme": "truncated_normal", "std": 0.2, "low": -0.1, "high": 0.3,
                              "bounds": "absolute"}, (256, 256), "jax"),
    ("truncated_normal_result", {"scheme": "truncated_normal", "std": 0.1, "low": -1.5, "high": 1.5,
                                 "bounds": "std", "std_of": "result"}, (256, 256), "jax"),
    ("truncated_normal_right_tail", {"scheme": "truncated_normal", "std": 0.5, "low": 1.0, "high": 3.0,
                                     "bounds": "std"}, (256, 256), "jax"),
    ("truncated_normal_left_tail", {"scheme": "truncated_normal", "std": 0.5, "low": -4.5, "high": -2.5,
                                    "bounds": "std"}, (256, 256), "jax"),
    ("torch.trunc_normal", {"scheme": "torch.trunc_normal", "std": 0.02}, (256, 256), "jax"),
    ("vs_geo_uniform", {"scheme": "variance_scaling", "scale": 2.0, "mode": "fan_geo_avg",
                        "distribution": "uniform"}, (3, 3, 32, 64), "jax"),
    ("vs_fan_out_normal", {"scheme": "variance_scaling", "scale": 0.5, "mode": "fan_out",
                           "distribution": "normal"}, (5, 32, 64), "jax"),
    ("vs_fan_avg_trunc", {"scheme": "variance_scaling", "scale": 3.0, "mode": "fan_avg",
                          "distribution": "truncated_normal"}, (512, 128), "jax"),
    ("glorot_uniform", {"scheme": "glorot", "distribution": "uniform"}, (128, 512), "jax"),
    ("glorot_normal", {"scheme": "glorot", "distribution": "normal", "gain": "tanh"}, (128, 512), "jax"),
    ("he_uniform", {"scheme": "he", "distribution": "uniform"}, (3, 3, 32, 64), "jax"),
    ("he_normal", {"scheme": "he", "distribution": "normal"}, (3, 3, 32, 64), "jax"),
    ("he_truncated_normal", {"scheme": "he", "distribution": "truncated_normal"}, (512, 128), "jax"),
    ("he_fan_out_leaky", {"scheme": "he", "distribution": "normal", "mode": "fan_out",
                          "nonlinearity": "leaky_relu", "negative_slope": 0.2}, (512, 128), "jax"),
    ("lecun_truncated_normal", {"scheme": "lecun", "distribution": "truncated_normal"}, (512, 128), "jax"),
    ("torch.default_weight", {"scheme": "torch.default_weight"}, (3, 3, 32, 64), "jax"),
    ("flax.embed", {"scheme": "flax.embed"}, (1024, 64), "jax"),
    ("orthogonal-tall", {"scheme": "orthogonal"}, (64, 32), "jax"),
    ("orthogonal-wide-gain", {"scheme": "orthogonal", "gain": 2.5}, (32, 64), "jax"),
    ("orthogonal-conv", {"scheme": "orthogonal"}, (3, 3, 8, 16), "jax"),
    ("identity", {"scheme": "identity", "gain": 0.5}, (64, 32), "jax"),
    ("dirac", {"scheme": "dirac", "groups": 2}, (3, 3, 16, 32), "jax"),
    ("delta_orthogonal", {"scheme": "delta_orthogonal", "gain": 1.5}, (3, 3, 16, 32), "jax"),
    ("sparse", {"scheme": "sparse", "sparsity": 0.1, "std": 0.02}, (256, 256), "jax"),
    # torch layout on the transposed (out, in, *k) shapes
    ("torch-he_truncated_normal", {"scheme": "he", "distribution": "truncated_normal"}, (128, 512), "torch"),
    ("torch-orthogonal", {"scheme": "orthogonal"}, (32, 64), "torch"),
    ("torch-dirac", {"scheme": "dirac"}, (32, 16, 3, 3), "torch"),
    ("torch-sparse", {"scheme": "sparse", "sparsity": 0.25}, (128, 512), "torch"),
]
CASE_IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("case_id, spec, shape, layout", CASES, ids=CASE_IDS)
def test_conformance(case_id: str, spec: dict, shape: tuple, layout: str, dtype: str) -> None:
    init = isj.initializer(spec, layout=layout)
    xs, dist = draws(init, f"jax-{case_id}-{dtype}", shape, getattr(jnp, dtype))
    assert all(isinstance(x, jax.Array) and x.dtype == jnp.dtype(dtype) and x.shape == shape for x in xs)
    result = check_samples(xs, dist, dtype)
    assert result.passed, result.report()


@pytest.mark.parametrize("case_id, spec, shape, layout", CASES, ids=CASE_IDS)
def test_conformance_float64(case_id: str, spec: dict, shape: tuple, layout: str) -> None:
    init = isj.initializer(spec, layout=layout)
    with jax.enable_x64(True):
        xs, dist = draws(init, f"jax-{case_id}-float64", shape, jnp.float64)
        assert all(x.dtype == jnp.float64 for x in xs)
        xs = [np.asarray(x) for x in xs]
    result = check_samples(xs, dist, "float64")
    assert result.passed, result.report()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("case_id, spec, shape, layout", CASES, ids=CASE_IDS)
def test_jit_matches_eager(case_id: str, spec: dict, shape: tuple, layout: str, dtype: str) -> None:
    init = isj.initializer(spec, layout=layout)
    key = key_of(f"jit-{case_id}")
    eager = init(key, shape, getattr(jnp, dtype))
    jitted = jax.jit(init, static_argnums=(1, 2))(key, shape, getattr(jnp, dtype))
    assert jitted.dtype == eager.dtype
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))


@pytest.mark.parametrize("case_id, spec, shape, layout", CASES, ids=CASE_IDS)
def test_no_host_callbacks(case_id: str, spec: dict, shape: tuple, layout: str) -> None:
    """Everything is drawn by XLA on the device: no callback into Python/NumPy in the graph."""
    init = isj.initializer(spec, layout=layout)
    jaxpr = str(jax.make_jaxpr(init, static_argnums=(1, 2))(key_of(case_id), shape, jnp.float32))
    assert "callback" not in jaxpr


def test_vmap_over_keys_matches_single_draws() -> None:
    keys = jax.random.split(key_of("vmap"), 4)
    for spec in ({"scheme": "he", "distribution": "truncated_normal"}, {"scheme": "orthogonal"}):
        init = isj.initializer(spec)
        batched = jax.vmap(lambda k: init(k, (64, 32)))(keys)  # noqa: B023
        single = jnp.stack([init(k, (64, 32)) for k in keys])
        np.testing.assert_allclose(np.asarray(batched), np.asarray(single), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- the power gate


def _scaled(d: D.Distribution, f: float) -> D.Distribution:
    """The whole law stretched by f (std × f)."""
    if isinstance(d, D.TruncatedNormal):
        return dataclasses.replace(d, scale=d.scale * f, low=d.low * f, high=d.high * f)
    if isinstance(d, D.Normal):
        return dataclasses.replace(d, scale=d.scale * f)
    if isinstance(d, D.Uniform):
        return dataclasses.replace(d, low=d.low * f, high=d.high * f)
    raise AssertionError(d)


def _untruncated(d: D.Distribution) -> D.Distribution:
    assert isinstance(d, D.TruncatedNormal)
    return D.Normal(loc=d.loc, scale=d.scale)


def _uncorrected(d: D.Distribution) -> D.Distribution:
    assert isinstance(d, D.TruncatedNormal)
    s = d.scale * D.TRUNC2_STD  # the 1/0.8796 correction left out
    return D.TruncatedNormal(loc=0.0, scale=s, low=-2 * s, high=2 * s)


def _uniform_same_variance(d: D.Distribution) -> D.Distribution:
    bound = math.sqrt(3.0) * d.std
    return D.Uniform(low=d.mean - bound, high=d.mean + bound)


def _silently_truncated(d: D.Distribution) -> D.Distribution:
    assert isinstance(d, D.Normal)  # Keras' "normal" -> corrected truncated normal, same variance
    s = d.scale / D.TRUNC2_STD
    return D.TruncatedNormal(loc=d.loc, scale=s, low=d.loc - 2 * s, high=d.loc + 2 * s)


def _shifted(d: D.Distribution) -> D.Distribution:
    return dataclasses.replace(d, loc=d.loc + 0.05 * d.std)


HE_TRUNC = {"scheme": "he", "distribution": "truncated_normal"}
HE_NORMAL = {"scheme": "he", "distribution": "normal"}
GLOROT_U = {"scheme": "glorot", "distribution": "uniform"}

#: (id, spec, wrong-law transform).  Shapes are non-square so swapped fans change the law.
WRONG = [
    ("trunc_std_x1.05", HE_TRUNC, lambda d: _scaled(d, 1.05)),
    ("trunc_std_x0.95", HE_TRUNC, lambda d: _scaled(d, 0.95)),
    ("normal_std_x1.05", HE_NORMAL, lambda d: _scaled(d, 1.05)),
    ("normal_std_x0.95", HE_NORMAL, lambda d: _scaled(d, 0.95)),
    ("uniform_std_x1.05", GLOROT_U, lambda d: _scaled(d, 1.05)),
    ("uniform_std_x0.95", GLOROT_U, lambda d: _scaled(d, 0.95)),
    ("truncation_missing", HE_TRUNC, _untruncated),
    ("correction_missing", HE_TRUNC, _uncorrected),
    ("uniform_for_normal", HE_NORMAL, _uniform_same_variance),
    ("normal_silently_truncated", HE_NORMAL, _silently_truncated),
    ("mean_shift_0.05sd", HE_NORMAL, _shifted),
    ("fans_swapped_trunc", HE_TRUNC, "swap"),
    ("fans_swapped_uniform", {"scheme": "lecun", "distribution": "uniform"}, "swap"),
]


def _wrong_law(spec: dict, wrong: Any, dist: D.Distribution, shape: tuple[int, ...]) -> D.Distribution:
    if wrong == "swap":  # torch's (out, in) reading of a (in, out) kernel: fan_in <-> fan_out
        return initspec.resolve(spec, shape, "torch")
    return wrong(dist)


@pytest.mark.parametrize("case_id, spec, wrong", WRONG, ids=[w[0] for w in WRONG])
def test_power_gate_rejects_wrong_sampler(case_id: str, spec: dict, wrong: Any) -> None:
    """The wrong law, drawn through ``sample`` from the same keys, is rejected."""
    shape = (512, 128)
    init = isj.initializer(spec)
    control, dist = draws(init, f"gate-{case_id}", shape, jnp.float32)
    assert check_samples(control, dist).passed  # same seeds, correct sampler: passes
    bad = _wrong_law(spec, wrong, dist, shape)
    keys = jax.random.split(key_of(f"gate-{case_id}"), len(control))
    xs = [isj.sample(bad, k, shape, jnp.float32) for k in keys]
    result = check_samples(xs, dist)
    assert not result.passed, result.report()


def _uncorrected_draws(init: isj.JaxInitializer, case_id: str, shape: tuple[int, ...]) -> tuple[list[Any], Any]:
    """``draws`` with the Haar sign correction dropped (``sample(..., haar=False)``)."""
    dist = init.resolve(shape)
    keys = jax.random.split(key_of(case_id), draw_count(dist, shape))
    return [isj.sample(dist, k, shape, jnp.float32, haar=False) for k in keys], dist


@pytest.mark.parametrize("shape", [(32, 32), (64, 32), (3, 3, 8, 16)])
def test_power_gate_haar_sign_correction(shape: tuple) -> None:
    init = isj.initializer({"scheme": "orthogonal"})
    good, dist = draws(init, f"haar-{shape}", shape, jnp.float32)
    assert check_samples(good, dist).passed
    bad, _ = _uncorrected_draws(init, f"haar-{shape}", shape)
    result = check_samples(bad, dist)
    assert not result["haar_sign"].passed, result.report()
    assert result["orthogonality"].passed  # still orthogonal: only the Haar check sees it


def test_power_gate_haar_delta_orthogonal() -> None:
    bad, dist = _uncorrected_draws(isj.initializer({"scheme": "delta_orthogonal"}), "haar-delta", (3, 3, 16, 32))
    result = check_samples(bad, dist)
    assert not result["haar_sign"].passed, result.report()


def test_haar_is_an_argument_of_one_draw() -> None:
    """``haar=False`` changes that call only: the next default call is corrected again, and
    the two are separate compiled draws."""
    dist = initspec.resolve({"scheme": "orthogonal"}, (16, 16), "jax")
    key = key_of("haar-arg")
    good = np.asarray(isj.sample(dist, key, (16, 16), jnp.float32))
    bad = np.asarray(isj.sample(dist, key, (16, 16), jnp.float32, haar=False))
    again = np.asarray(isj.sample(dist, key, (16, 16), jnp.float32))
    np.testing.assert_array_equal(good, again)
    assert not np.array_equal(good, bad)
    np.testing.assert_allclose(np.abs(good), np.abs(bad), rtol=0, atol=0)  # only column signs differ


def _concrete(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        if sub.__module__ == D.__name__ and not sub.__name__.startswith("_") and not inspect.isabstract(sub):
            out.append(sub)
        out += _concrete(sub)
    return out


def test_every_distribution_has_a_draw() -> None:
    """The draw table covers every concrete Distribution type (and complex laws), and nothing else."""
    from initspec.adapters.jax.random import DRAW
    from initspec.complexlaw import Complex

    assert {*_concrete(D.Distribution), Complex} == set(DRAW)
    assert all(callable(fn) and list(inspect.signature(fn).parameters) == ["dist", "out", "rng", "haar"]
               for fn in DRAW.values())


# ----------------------------------------------------------------------------- determinism, state


RANDOM_CASES = [c for c in CASES if initspec.resolve(c[1], c[2], c[3]).random]


@pytest.mark.parametrize("case_id, spec, shape, layout", RANDOM_CASES, ids=[c[0] for c in RANDOM_CASES])
def test_determinism(case_id: str, spec: dict, shape: tuple, layout: str) -> None:
    init = isj.initializer(spec, layout=layout)
    a = np.asarray(init(jax.random.key(7), shape))
    init(jax.random.key(8), shape)  # an unrelated call in between changes nothing
    b = np.asarray(isj.initializer(spec, layout=layout)(jax.random.key(7), shape))
    c = np.asarray(init(jax.random.key(9), shape))
    raw = np.asarray(init(jax.random.PRNGKey(7), shape))  # raw uint32 key: the same stream
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, raw)
    assert not np.array_equal(a, c)


def test_no_global_state_touched() -> None:
    np_state = np.random.get_state()
    py_state = random.getstate()
    x64 = jax.config.jax_enable_x64
    for case_id, spec, shape, layout in CASES:
        isj.initializer(spec, layout=layout)(key_of(case_id), shape, jnp.bfloat16)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert random.getstate() == py_state
    assert jax.config.jax_enable_x64 == x64


def test_sample_draws_a_resolved_distribution() -> None:
    dist = initspec.resolve({"scheme": "glorot", "distribution": "truncated_normal"}, (512, 128), "jax")
    x = isj.sample(dist, key_of("sample"), (512, 128), jnp.float32)
    assert isinstance(x, jax.Array) and x.shape == (512, 128)
    assert check_samples(x, dist).passed
    with pytest.raises(ValueError, match="resolved for shape"):
        isj.sample(initspec.resolve({"scheme": "orthogonal"}, (4, 4), "jax"), key_of("s"), (4, 5), jnp.float32)


# ----------------------------------------------------------------------------- the initializer object


def test_matches_the_jax_initializer_protocol() -> None:
    init = isj.initializer({"scheme": "lecun", "distribution": "uniform"})
    assert isinstance(init, jax.nn.initializers.Initializer)
    ours = inspect.signature(init.__call__).parameters
    theirs = inspect.signature(jax.nn.initializers.Initializer.__call__).parameters
    assert list(ours) == [p for p in theirs if p != "self"]
    assert ours["dtype"].default is None and ours["out_sharding"].default is None
    assert init(key_of("default"), (8, 8)).dtype == jnp.float32  # None: JAX's default float
    with jax.enable_x64(True):
        assert init(key_of("default"), (8, 8)).dtype == jnp.float64


def test_attributes_repr_equality_hash_pickle() -> None:
    init = isj.initializer({"scheme": "xavier", "distribution": "uniform"}, layout="torch")
    assert init.spec == initspec.parse({"scheme": "glorot", "distribution": "uniform"})
    assert init.layout == "torch"
    assert init.resolve((128, 64)) == initspec.resolve(init.spec, (128, 64), "torch")
    text = repr(init)
    assert text == ("initspec.adapters.jax.initializer({'scheme': 'glorot', 'distribution': 'uniform', "
                    "'gain': 1.0}, layout='torch')")
    assert eval(text, {"initspec": initspec}) == init  # noqa: S307 - our own repr
    same = isj.initializer({"scheme": "glorot", "distribution": "uniform"}, layout="torch")
    other = isj.initializer({"scheme": "glorot", "distribution": "uniform"}, layout="jax")
    assert init == same and hash(init) == hash(same) and init != other
    assert pickle.loads(pickle.dumps(init)) == init
    with pytest.raises(AttributeError):
        init.layout = "jax"  # type: ignore[misc]


def test_initializer_passes_through_jit_as_a_pytree() -> None:
    init = isj.initializer({"scheme": "he", "distribution": "uniform"})
    assert jax.tree_util.tree_leaves(init) == []
    x = jax.jit(lambda i, k: i(k, (16, 8)))(init, key_of("pytree"))
    np.testing.assert_array_equal(np.asarray(x), np.asarray(init(key_of("pytree"), (16, 8))))


def test_importing_the_adapter_imports_no_framework() -> None:
    code = ("import sys, initspec.adapters.jax as m; m.initializer({'scheme': 'zeros'}) if False else None;"
            "print(sorted(k for k in ('jax', 'flax', 'torch', 'tensorflow', 'keras') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("spec, shape, code, hint", [
    ({"scheme": "identity"}, (3, 3, 4), "unsupported_shape", "dirac"),
    ({"scheme": "dirac"}, (4, 4), "unsupported_shape", "identity"),
    ({"scheme": "delta_orthogonal"}, (8, 8), "unsupported_shape", "convolution"),
    ({"scheme": "orthogonal"}, (16,), "unsupported_shape", "bias"),
    ({"scheme": "he", "distribution": "normal"}, (16,), "shape_too_small", "bias"),
    ({"scheme": "delta_orthogonal"}, (3, 3, 32, 16), "unsupported_shape", "out channels"),
    ({"scheme": "he", "distribution": "normal"}, (4, -1), "bad_shape", "non-negative"),
])
def test_shape_errors(spec: dict, shape: tuple, code: str, hint: str) -> None:
    init = isj.initializer(spec)
    with pytest.raises(ShapeError) as err:
        init(key_of("err"), shape)
    assert err.value.codes == [code] and hint in str(err.value)
    with pytest.raises(ShapeError):  # at trace time under jit, too
        jax.jit(init, static_argnums=(1, 2))(key_of("err"), shape, jnp.float32)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool"])  # complex64: tests/test_complex.py
def test_random_schemes_reject_non_float_dtypes(dtype: str) -> None:
    init = isj.initializer({"scheme": "he", "distribution": "truncated_normal"})
    for call in (init, jax.jit(init, static_argnums=(1, 2))):
        with pytest.raises(SpecError) as err:
            call(key_of("int"), (8, 8), jnp.dtype(dtype))
        assert err.value.codes == ["unsupported_dtype"]
        assert "float32" in str(err.value) and dtype in str(err.value)  # the fix, and what was received


def test_exact_schemes_accept_integer_dtypes() -> None:
    z = isj.initializer({"scheme": "zeros"})(key_of("i"), (4, 4), jnp.int32)
    eye = isj.initializer({"scheme": "identity", "gain": 2})(key_of("i"), (3, 4), jnp.int32)
    assert z.dtype == jnp.int32 and not np.any(np.asarray(z))
    np.testing.assert_array_equal(np.asarray(eye), 2 * np.eye(3, 4, dtype=np.int32))
    d = isj.initializer({"scheme": "dirac"})(key_of("i"), (3, 4, 4), jnp.int8)
    assert d.dtype == jnp.int8 and int(d.sum()) == 4
    with pytest.raises(SpecError, match="does not fit a int32 tensor"):
        isj.initializer({"scheme": "constant", "value": 0.5})(key_of("i"), (4,), jnp.int32)


@pytest.mark.parametrize("key, what", [
    (0, "int seed"),
    ("key", "string"),
    (np.zeros(2, np.float32), "float array"),
    (None, "None"),
])
def test_bad_keys(key: Any, what: str) -> None:
    with pytest.raises(SpecError) as err:
        isj.initializer({"scheme": "normal", "std": 1.0})(key, (4, 4))
    assert err.value.codes == ["bad_key"] and "jax.random.key" in str(err.value), what


def test_batched_keys_are_rejected() -> None:
    for keys in (jax.random.split(jax.random.key(0), 2), jnp.stack([jax.random.PRNGKey(0)] * 2)):
        with pytest.raises(SpecError) as err:
            isj.initializer({"scheme": "normal", "std": 1.0})(keys, (4, 4))
        assert err.value.codes == ["bad_key"]


def test_bad_spec_layout_and_dtype() -> None:
    with pytest.raises(SpecError) as err:
        isj.initializer({"scheme": "he", "distribution": "gaussian"})
    assert "distribution" in str(err.value)
    with pytest.raises(ShapeError) as err2:
        isj.initializer({"scheme": "zeros"}, layout="jaxx")
    assert err2.value.codes == ["unknown_layout"] and "did you mean 'jax'" in str(err2.value)
    with pytest.raises(SpecError) as err3:
        isj.initializer({"scheme": "zeros"})(key_of("d"), (2, 2), "float13")
    assert err3.value.codes == ["unsupported_dtype"]


def test_float64_without_x64_is_an_error() -> None:
    """Decision (issue 13): jax.nn.initializers warn and return float32; asking for float64 and
    silently getting float32 is an x64_disabled error here."""
    assert not jax.config.jax_enable_x64
    init = isj.initializer({"scheme": "he", "distribution": "truncated_normal"})
    with pytest.raises(SpecError) as err:
        init(key_of("x64"), (512, 128), jnp.float64)
    assert err.value.codes == ["x64_disabled"] and "jax_enable_x64" in str(err.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with jax.enable_x64(True):
            assert init(key_of("x64"), (8, 8), "float64").dtype == jnp.float64


def test_half_precision_orthogonal_is_computed_in_float32() -> None:
    """Native JAX has no half-precision QR; initspec computes in float32 and rounds."""
    with pytest.raises(NotImplementedError):
        jax.nn.initializers.orthogonal()(key_of("h"), (16, 16), jnp.bfloat16)
    init = isj.initializer({"scheme": "orthogonal"})
    for dtype in (jnp.float16, jnp.bfloat16):
        x = init(key_of("h"), (16, 16), dtype)
        f32 = init(key_of("h"), (16, 16), jnp.float32)
        assert x.dtype == dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(f32.astype(dtype)))


def test_support_is_exact_after_scaling() -> None:
    """A truncated normal never leaves [lower, upper] in any dtype, even at ±100σ bounds."""
    for spec in ({"scheme": "truncated_normal", "std": 0.37, "low": -0.5, "high": 0.5, "bounds": "absolute"},
                 {"scheme": "torch.trunc_normal", "std": 0.02},
                 {"scheme": "he", "distribution": "truncated_normal"}):
        init = isj.initializer(spec)
        dist = init.resolve((1024, 1024))
        for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
            x = np.asarray(init(key_of(f"support-{spec}"), (1024, 1024), dtype)).astype(np.float64)
            assert x.min() >= dist.low and x.max() <= dist.high
            if dtype == jnp.float32:
                assert x.min() > dist.low and x.max() < dist.high  # open interval
        if spec["scheme"] == "torch.trunc_normal":  # nothing piles up on the far bounds (±100σ)
            assert np.abs(x).max() < 6 * 0.02


def test_wide_truncation_has_no_outliers() -> None:
    """torch's trunc_normal_(std=0.02) cuts at ±100σ.  JAX's inverse-erf sampler rounds
    erf(-100/√2) to -1 in float32 and returns -inf, clipped onto the bound, with probability
    2^-23 per element (≈2 per 16M draws, observed); initspec keeps the uniform strictly inside."""
    init = isj.initializer({"scheme": "torch.trunc_normal", "std": 0.02})
    x = np.asarray(jax.jit(init, static_argnums=(1, 2))(key_of("wide"), (1 << 24,), jnp.float32))
    assert np.abs(x).max() < 6 * 0.02


# ----------------------------------------------------------------------------- Flax


def _flax_check(value: Any, init: isj.JaxInitializer, dtype: Any = jnp.float32) -> None:
    assert value.dtype == dtype
    result = check_samples(value, init.resolve(value.shape), dtype)
    assert result.passed, result.report()


def test_flax_linen_dense_conv_embed_under_jit() -> None:
    nn = pytest.importorskip("flax.linen")
    kernel = isj.initializer({"scheme": "he", "distribution": "truncated_normal"}, layout="flax")
    bias = isj.initializer({"scheme": "normal", "mean": 0.5, "std": 0.1})  # 512 values: no "reach" test
    embed = isj.initializer({"scheme": "flax.embed"})

    class Net(nn.Module):
        @nn.compact
        def __call__(self, tokens: Any, image: Any) -> Any:
            h = nn.Embed(1000, 128, embedding_init=embed)(tokens)
            h = nn.Dense(512, kernel_init=kernel, bias_init=bias)(h)
            c = nn.Conv(128, (3, 3), kernel_init=kernel)(image)
            return h.sum() + c.sum()

    net = Net()
    args = (jnp.zeros((1, 4), jnp.int32), jnp.zeros((1, 8, 8, 64)))
    params = jax.jit(net.init)(key_of("linen"), *args)["params"]
    assert params["Dense_0"]["kernel"].shape == (128, 512)
    assert params["Conv_0"]["kernel"].shape == (3, 3, 64, 128)
    _flax_check(params["Dense_0"]["kernel"], kernel)
    _flax_check(params["Dense_0"]["bias"], bias)
    _flax_check(params["Conv_0"]["kernel"], kernel)
    _flax_check(params["Embed_0"]["embedding"], embed)
    again = jax.jit(net.init)(key_of("linen"), *args)["params"]
    other = jax.jit(net.init)(key_of("linen-2"), *args)["params"]
    np.testing.assert_array_equal(np.asarray(again["Conv_0"]["kernel"]), np.asarray(params["Conv_0"]["kernel"]))
    assert not np.array_equal(np.asarray(other["Conv_0"]["kernel"]), np.asarray(params["Conv_0"]["kernel"]))


def test_flax_linen_param_dtype_bfloat16() -> None:
    nn = pytest.importorskip("flax.linen")
    kernel = isj.initializer({"scheme": "orthogonal"})
    layer = nn.Dense(256, kernel_init=kernel, param_dtype=jnp.bfloat16)
    params = jax.jit(layer.init)(key_of("bf16"), jnp.zeros((1, 256)))["params"]
    _flax_check(params["kernel"], kernel, jnp.bfloat16)


def test_flax_linen_module_holding_the_initializer_as_a_field() -> None:
    nn = pytest.importorskip("flax.linen")

    class Block(nn.Module):
        kernel_init: Any

        @nn.compact
        def __call__(self, x: Any) -> Any:
            return nn.Dense(512, kernel_init=self.kernel_init)(x)

    init = isj.initializer({"scheme": "lecun", "distribution": "truncated_normal"})
    block = Block(init)
    assert block == Block(isj.initializer({"scheme": "lecun", "distribution": "truncated_normal"}))
    hash(block)  # a static jit argument must be hashable
    params = jax.jit(lambda m, k, x: m.init(k, x), static_argnums=0)(block, key_of("field"), jnp.zeros((1, 256)))
    _flax_check(params["params"]["Dense_0"]["kernel"], init)
    out = jax.jit(block.apply)(params, jnp.ones((2, 256)))
    assert out.shape == (2, 512)


def test_flax_nnx_linear_conv_embed_under_jit() -> None:
    nnx = pytest.importorskip("flax.nnx")
    kernel = isj.initializer({"scheme": "glorot", "distribution": "uniform"})
    embed = isj.initializer({"scheme": "normal", "std": 1.0})

    @nnx.jit
    def make(rngs: Any) -> Any:
        return (nnx.Linear(256, 512, kernel_init=kernel, rngs=rngs),
                nnx.Conv(64, 128, kernel_size=(3, 3), kernel_init=kernel, rngs=rngs),
                nnx.Embed(1000, 128, embedding_init=embed, rngs=rngs))

    linear, conv, emb = make(nnx.Rngs(seed_of("nnx")))
    assert linear.kernel[...].shape == (256, 512) and conv.kernel[...].shape == (3, 3, 64, 128)
    _flax_check(linear.kernel[...], kernel)
    _flax_check(conv.kernel[...], kernel)
    _flax_check(emb.embedding[...], embed)
    y = nnx.jit(lambda m, x: m(x))(linear, jnp.ones((2, 256)))  # the module (and its init) as a jit argument
    assert y.shape == (2, 512)
    linear2, conv2, _ = make(nnx.Rngs(seed_of("nnx")))
    np.testing.assert_array_equal(np.asarray(linear2.kernel[...]), np.asarray(linear.kernel[...]))


# ----------------------------------------------------------------------------- devices

_DEVICE_SCRIPT = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np
    from initspec.adapters import jax as isj
    from initspec.testing import check_samples

    devices = jax.devices()
    out = {"devices": [str(d) for d in devices], "cases": []}
    for label, spec, shape, count in [("he_trunc", {"scheme": "he", "distribution": "truncated_normal"}, (512, 128), 1),
                                      ("uniform", {"scheme": "uniform", "low": -1.0, "high": 2.0}, (256, 256), 1),
                                      ("orthogonal", {"scheme": "orthogonal"}, (64, 32), 64)]:
        init = isj.initializer(spec)
        ref = None
        for d in devices:
            with jax.default_device(d):
                keys = jax.random.split(jax.random.key(SEED), count)
                xs = [init(k, shape, jnp.float32) for k in keys]
            values = np.stack([np.asarray(x) for x in xs])
            ref = values if ref is None else ref
            res = check_samples(xs, init.resolve(shape))
            out["cases"].append({"case": label, "device": str(d), "passed": res.passed, "report": res.report(),
                                 "placed": all(x.devices() == {d} for x in xs),
                                 "same_as_first": bool(np.array_equal(values, ref))})
    init = isj.initializer({"scheme": "he", "distribution": "truncated_normal"})
    plain = np.asarray(init(jax.random.key(SEED), (512, 128), jnp.float32))
    out["sharded"] = []
    for axis_type in (jax.sharding.AxisType.Explicit, jax.sharding.AxisType.Auto):
        mesh = jax.make_mesh((len(devices),), ("x",), axis_types=(axis_type,))
        spec = jax.sharding.PartitionSpec("x", None)
        sharding = jax.sharding.NamedSharding(mesh, spec)
        xs = [init(jax.random.key(SEED), (512, 128), jnp.float32, out_sharding=sharding)]
        with jax.sharding.set_mesh(mesh):  # jit with a sharded output needs the mesh (as for jax.random)
            xs.append(jax.jit(init, static_argnums=(1, 2, 3))(jax.random.key(SEED), (512, 128), jnp.float32,
                                                               sharding))
            xs.append(init(jax.random.key(SEED), (512, 128), jnp.float32, out_sharding=spec))
        out["sharded"].append({"sharding": all(x.sharding.is_equivalent_to(sharding, 2) for x in xs),
                               "shards": [len(x.addressable_shards) for x in xs],
                               "same": all(np.array_equal(np.asarray(x), plain) for x in xs)})
    print("RESULT " + json.dumps(out))
""")


def test_host_platform_devices_in_a_subprocess() -> None:
    """Four virtual CPU devices (XLA_FLAGS must be set before jax is imported)."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    script = _DEVICE_SCRIPT.replace("SEED", str(seed_of("devices")))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert len(out["devices"]) == 4
    assert len(out["cases"]) == 12
    for case in out["cases"]:
        assert case["placed"], case
        assert case["passed"], case["report"]
        assert case["same_as_first"], case  # threefry: the same key gives the same values on every device
    assert out["sharded"] == [{"sharding": True, "shards": [4, 4, 4], "same": True}] * 2  # explicit, auto mesh


# ----------------------------------------------------------------------------- native agreement


def _native(name: str, *args: Any, **kw: Any) -> Any:
    return getattr(jax.nn.initializers, name)(*args, **kw)


SQ = (256, 256)
TALL = (512, 128)
ALL_AXES = {"in_axis": (0, 1), "out_axis": (0, 1)}  # fan_in = 1 for any 2-D shape: a shape-free law

#: (id, initspec spec, native initializer factory, shape, pooled draws).
NATIVE: list[tuple[str, dict[str, Any], Any, tuple[int, ...], int]] = [
    ("vs_uniform", {"scheme": "variance_scaling", "scale": 0.7, "mode": "fan_out", "distribution": "uniform"},
     lambda: _native("variance_scaling", 0.7, "fan_out", "uniform"), TALL, 1),
    ("vs_untrunc", {"scheme": "variance_scaling", "scale": 1.3, "mode": "fan_avg", "distribution": "normal"},
     lambda: _native("variance_scaling", 1.3, "fan_avg", "normal"), TALL, 1),
    ("vs_trunc", {"scheme": "variance_scaling", "scale": 0.4, "mode": "fan_in", "distribution": "truncated_normal"},
     lambda: _native("variance_scaling", 0.4, "fan_in", "truncated_normal"), TALL, 1),
    ("vs_geo_avg", {"scheme": "variance_scaling", "scale": 2.0, "mode": "fan_geo_avg", "distribution": "normal"},
     lambda: _native("variance_scaling", 2.0, "fan_geo_avg", "normal"), (3, 3, 32, 64), 1),
    ("glorot_uniform", {"scheme": "glorot", "distribution": "uniform"}, lambda: _native("glorot_uniform"), TALL, 1),
    ("glorot_untrunc", {"scheme": "glorot", "distribution": "normal"},
     lambda: _native("variance_scaling", 1.0, "fan_avg", "normal"), TALL, 1),
    ("glorot_trunc", {"scheme": "glorot", "distribution": "truncated_normal"}, lambda: _native("glorot_normal"),
     TALL, 1),
    ("he_uniform", {"scheme": "he", "distribution": "uniform"}, lambda: _native("he_uniform"), TALL, 1),
    ("he_untrunc", {"scheme": "he", "distribution": "normal"},
     lambda: _native("variance_scaling", 2.0, "fan_in", "normal"), TALL, 1),
    ("he_untrunc_fan_out", {"scheme": "he", "distribution": "normal", "mode": "fan_out"},
     lambda: _native("variance_scaling", 2.0, "fan_out", "normal"), (3, 3, 32, 64), 1),
    ("he_trunc", {"scheme": "he", "distribution": "truncated_normal"}, lambda: _native("he_normal"), TALL, 1),
    ("lecun_uniform", {"scheme": "lecun", "distribution": "uniform"}, lambda: _native("lecun_uniform"), TALL, 1),
    ("lecun_untrunc", {"scheme": "lecun", "distribution": "normal"},
     lambda: _native("variance_scaling", 1.0, "fan_in", "normal"), TALL, 1),
    ("lecun_trunc", {"scheme": "lecun", "distribution": "truncated_normal"}, lambda: _native("lecun_normal"),
     TALL, 1),
    ("torch_default_weight", {"scheme": "torch.default_weight"},
     lambda: _native("variance_scaling", 1 / 3, "fan_in", "uniform"), (3, 3, 32, 64), 1),
    ("torch_default_bias", {"scheme": "torch.default_bias", "fan_in": 300},
     lambda: _native("variance_scaling", 1 / (3 * 300), "fan_in", "uniform", in_axis=0, out_axis=0), (65536,), 1),
    ("uniform_symmetric", {"scheme": "uniform", "low": -0.3, "high": 0.3},
     lambda: _native("variance_scaling", 0.3**2 / 3, "fan_in", "uniform", **ALL_AXES), SQ, 1),
    ("uniform_0_s", {"scheme": "uniform", "low": 0.0, "high": 0.25}, lambda: _native("uniform", 0.25), SQ, 1),
    ("normal", {"scheme": "normal", "std": 0.05}, lambda: _native("normal", 0.05), SQ, 1),
    ("embedding_torch_default", {"scheme": "torch.embedding"}, lambda: _native("normal", 1.0), SQ, 1),
    ("embedding_keras_default", {"scheme": "keras.embedding"},
     lambda: _native("variance_scaling", 0.05**2 / 3, "fan_in", "uniform", **ALL_AXES), SQ, 1),
    ("embedding_flax_default_as_vs", {"scheme": "flax.embed"},
     lambda: _native("variance_scaling", 1.0, "fan_in", "normal", out_axis=0), (1024, 64), 1),
    ("truncated_normal_uncorrected", {"scheme": "truncated_normal", "std": 0.1},
     lambda: _native("truncated_normal", 0.1), SQ, 1),
    ("truncated_normal_other_bounds", {"scheme": "truncated_normal", "std": 0.1, "low": -1.0, "high": 3.0,
                                       "bounds": "std"},
     lambda: _native("truncated_normal", 0.1, lower=-1.0, upper=3.0), SQ, 1),
    ("truncated_normal_one_sided", {"scheme": "truncated_normal", "std": 0.1, "low": 0.5, "high": 2.5,
                                    "bounds": "std"},
     lambda: _native("truncated_normal", 0.1, lower=0.5, upper=2.5), SQ, 1),
    ("torch_trunc_normal_absolute", {"scheme": "torch.trunc_normal", "std": 0.02},
     lambda: _native("truncated_normal", 0.02, lower=-2 / 0.02, upper=2 / 0.02), SQ, 1),
    ("orthogonal", {"scheme": "orthogonal", "gain": 1.7}, lambda: _native("orthogonal", 1.7), (64, 64), 16),
    ("orthogonal_conv", {"scheme": "orthogonal"}, lambda: _native("orthogonal"), (3, 3, 16, 32), 16),
    ("delta_orthogonal", {"scheme": "delta_orthogonal", "gain": 1.5}, lambda: _native("delta_orthogonal", 1.5),
     (3, 3, 32, 32), 8),
]


def _pool(init: Any, case_id: str, shape: tuple[int, ...], count: int) -> list[Any]:
    keys = jax.random.split(key_of(case_id), count)
    return [init(k, shape, jnp.float32) for k in keys]


def _agree(ours: Any, native: Any, case_id: str, shape: tuple[int, ...], count: int) -> None:
    count = max(count, math.ceil(N_SAMPLES / math.prod(shape)))
    a = _pool(ours, f"initspec-{case_id}", shape, count)
    b = _pool(native, f"native-{case_id}", shape, count)
    assert sum(x.size for x in a) >= N_SAMPLES
    result = check_two_sample(a, b, context=case_id)
    assert result.passed, result.report()


@pytest.mark.parametrize("case_id, spec, native, shape, count", NATIVE, ids=[n[0] for n in NATIVE])
def test_agrees_with_native_jax(case_id: str, spec: dict, native: Any, shape: tuple, count: int) -> None:
    _agree(isj.initializer(spec), native(), case_id, shape, count)


def test_native_comparison_can_fail() -> None:
    """The two-sample check is not vacuous: He and Glorot truncated normals are told apart."""
    a = _pool(isj.initializer({"scheme": "he", "distribution": "truncated_normal"}), "neg-a", TALL, 1)
    b = _pool(_native("glorot_normal"), "neg-b", TALL, 1)
    assert not check_two_sample(a, b).passed


@pytest.mark.parametrize("value", [0.0, 1.0, 0.3, -2.5])
def test_constants_equal_native(value: float) -> None:
    spec = {0.0: {"scheme": "zeros"}, 1.0: {"scheme": "ones"}}.get(value, {"scheme": "constant", "value": value})
    native = {0.0: jax.nn.initializers.zeros, 1.0: jax.nn.initializers.ones}.get(
        value, jax.nn.initializers.constant(value))
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
        ours = isj.initializer(spec)(key_of("c"), (3, 3, 4, 8), dtype)
        theirs = native(key_of("c"), (3, 3, 4, 8), dtype)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def _preset_rows(ns: str, module: Any) -> list[tuple[str, dict[str, Any], Any, tuple[int, ...], int]]:
    rows = [(f"{ns}.{fam}_{dist}", {"scheme": f"{ns}.{fam}_{dist}"},
             (lambda f=f"{fam}_{dist}": getattr(module(), f)()), TALL, 1)
            for fam in ("glorot", "he", "lecun") for dist in ("uniform", "normal")]
    inits = module
    rows += [
        (f"{ns}.normal", {"scheme": f"{ns}.normal"}, lambda: inits().normal(), SQ, 1),
        (f"{ns}.uniform", {"scheme": f"{ns}.uniform", "scale": 0.3}, lambda: inits().uniform(0.3), SQ, 1),
        (f"{ns}.truncated_normal", {"scheme": f"{ns}.truncated_normal", "stddev": 0.2, "lower": -1.5, "upper": 2.5},
         lambda: inits().truncated_normal(0.2, lower=-1.5, upper=2.5), SQ, 1),
        (f"{ns}.variance_scaling", {"scheme": f"{ns}.variance_scaling", "scale": 0.5, "mode": "fan_geo_avg",
                                    "distribution": "truncated_normal"},
         lambda: inits().variance_scaling(0.5, "fan_geo_avg", "truncated_normal"), (3, 3, 32, 64), 1),
        (f"{ns}.variance_scaling_axes", {"scheme": f"{ns}.variance_scaling", "scale": 1.0, "mode": "fan_in",
                                         "distribution": "normal", "in_axis": [0], "out_axis": [1, 2],
                                         "batch_axis": [3]},
         lambda: inits().variance_scaling(1.0, "fan_in", "normal", in_axis=0, out_axis=(1, 2), batch_axis=3),
         (64, 8, 16, 8), 1),
        (f"{ns}.orthogonal", {"scheme": f"{ns}.orthogonal", "scale": 0.8, "column_axis": 0},
         lambda: inits().orthogonal(0.8, column_axis=0), (32, 64), 32),
        (f"{ns}.delta_orthogonal", {"scheme": f"{ns}.delta_orthogonal", "scale": 1.2},
         lambda: inits().delta_orthogonal(1.2), (3, 3, 32, 32), 8),
    ]
    return rows


def _jax_inits() -> Any:
    return jax.nn.initializers


def _flax_inits() -> Any:
    return pytest.importorskip("flax.linen").initializers


PRESETS = _preset_rows("jax", _jax_inits) + _preset_rows("flax", _flax_inits)


@pytest.mark.parametrize("case_id, spec, native, shape, count", PRESETS, ids=[p[0] for p in PRESETS])
def test_presets_agree_with_native(case_id: str, spec: dict, native: Any, shape: tuple, count: int) -> None:
    _agree(isj.initializer(spec), native(), case_id, shape, count)


def test_flax_layer_defaults_agree_with_presets() -> None:
    nn = pytest.importorskip("flax.linen")
    from flax.linen import linear

    assert nn.Embed(10, 4).embedding_init is linear.default_embed_init
    assert nn.Dense(4).kernel_init is linear.default_kernel_init
    _agree(isj.initializer({"scheme": "flax.embed"}), linear.default_embed_init, "flax_embed_default",
           (1024, 64), 1)
    _agree(isj.initializer({"scheme": "flax.default_kernel"}), linear.default_kernel_init, "flax_dense_default",
           TALL, 1)
