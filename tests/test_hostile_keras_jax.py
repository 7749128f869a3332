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

from _shared import cli_runner, codes


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


# ----------------------------------------------------------------------------- JAX: 64 bits, keys, shardings


def test_jax_float64_without_x64_is_an_error():
    """float64 with jax_enable_x64 off silently gave float32 (with a UserWarning); now the
    x64_disabled error saying how to turn x64 on - in the initializer, sample and under jit."""
    jax = _jax()
    from initspec.adapters import jax as ij

    init, key = ij.initializer(SPEC), jax.random.key(0)
    law = init.resolve((3, 2))
    with jax.enable_x64(False):
        for call in (lambda: init(key, (3, 2), "float64"), lambda: init(key, (3, 2), jax.numpy.float64),
                     lambda: ij.sample(law, key, (3, 2), "float64"),
                     lambda: jax.jit(lambda k: init(k, (3, 2), "float64"))(key),
                     lambda: ij.initializer({"scheme": "ones"})(key, (3, 2), "int64"),
                     lambda: ij.initializer({"scheme": "zeros"})(key, (3, 2), "complex128")):
            with pytest.raises(SpecError) as info:
                call()
            assert info.value.codes == ["x64_disabled"] and info.value.errors[0].loc == ("dtype",)
            assert "jax.config.update('jax_enable_x64', True)" in str(info.value)
        assert init(key, (3, 2)).dtype == np.float32  # dtype=None: JAX's default float, no error
    with jax.enable_x64(True):
        assert init(key, (3, 2), "float64").dtype == np.float64


def test_flax_plans_on_float64_parameters_without_x64():
    """A Flax parameter JAX cannot hold without x64 (a float64 ShapeDtypeStruct or NumPy value)
    is x64_disabled, naming the parameter, before anything is drawn."""
    jax = _jax()
    nnx = pytest.importorskip("flax.nnx")
    plan = {"defaults": {"weight": {"scheme": "he", "distribution": "normal"}, "bias": {"scheme": "zeros"}}}
    with jax.enable_x64(False):
        variables = {"params": {"fc": {"kernel": jax.ShapeDtypeStruct((2, 3), np.float64),
                                       "bias": jax.numpy.zeros(3)}}}
        with pytest.raises(SpecError) as info:
            initspec.apply(plan, variables)
        assert info.value.codes == ["x64_disabled"] and info.value.errors[0].loc == ("fc.weight",)
        model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
        model.kernel.set_value(np.ones((2, 3), np.float64))
        with pytest.raises(SpecError) as info:
            initspec.apply(plan, model, transactional=True)
        assert info.value.codes == ["x64_disabled"] and "jax_enable_x64" in str(info.value)
        assert np.all(np.asarray(model.kernel.get_value()) == 1)  # nothing changed


def test_flax_plan_seeds_follow_the_seed_rule():
    """The seed= override on a Flax model took 2**70 (a JAX key holds 64 bits); now bad_seed,
    and 2**64 - 1 gives a key from every bit."""
    jax = _jax()
    plan = {"defaults": {"weight": {"scheme": "normal", "std": 1.0}}}
    variables = {"params": {"fc": {"kernel": jax.numpy.zeros((2, 3))}}}
    for bad in (2**70, 2**64, -1):
        assert codes(lambda: initspec.apply(plan, variables, seed=bad)) == ["bad_seed"]
    a = initspec.apply(plan, variables, seed=2**64 - 1).params["params"]["fc"]["kernel"]
    b = initspec.apply(plan, variables, seed=2**63 - 1).params["params"]["fc"]["kernel"]
    assert np.asarray(a).std() > 0 and not np.array_equal(np.asarray(a), np.asarray(b))


def test_jax_raw_keys_and_shardings_are_checked():
    """A raw uint32 key of the wrong length and an out_sharding that is not a sharding were raw
    TypeErrors from inside JAX."""
    jax = _jax()
    from initspec.adapters import jax as ij

    init = ij.initializer(SPEC)
    for key in (np.zeros(3, np.uint32), jax.numpy.zeros(4, jax.numpy.uint32), np.zeros(1, np.uint32)):
        assert codes(lambda: init(key, (3, 2))) == ["bad_key"]
    assert init(np.zeros(2, np.uint32), (3, 2)).shape == (3, 2)  # a raw threefry key
    assert codes(lambda: init(jax.random.key(0), (3, 2), out_sharding="x")) == ["wrong_type"]


# ----------------------------------------------------------------------------- the low-level sample


def test_keras_and_jax_sample_check_the_law_and_the_shape():
    """Keras' sample truncated a 2.5 dimension to 2, drew an orthogonal law resolved for (4, 4)
    into (4, 4) when asked for (4, 5), and raised raw errors for -1, a string or a non-law;
    JAX's raised a raw AttributeError for a non-law."""
    jax = _jax()
    _keras()
    from initspec.adapters import jax as ij
    from initspec.adapters import keras as ik

    law = initspec.resolve(SPEC, (3, 2), "keras")
    orth = initspec.resolve({"scheme": "orthogonal"}, (4, 4), "keras")
    key = jax.random.key(0)
    draws = {"keras": lambda d, s: ik.sample(d, s, None, 0), "jax": lambda d, s: ij.sample(d, key, s)}
    for name, draw in draws.items():
        for shape in ((3, 2.5), (-1, 2), "ab", (2**40, 2**40)):
            assert codes(lambda: draw(law, shape)) == ["bad_shape"], (name, shape)
        assert codes(lambda: draw(orth, (4, 5))) == ["shape_mismatch"], name
        assert codes(lambda: draw("he", (3, 2))) == ["wrong_type"], name
        assert tuple(draw(orth, (4, 4)).shape) == (4, 4)
    assert tuple(ik.sample(orth).shape) == (4, 4)  # Keras: the law's own shape by default


# ----------------------------------------------------------------------------- plan walkers


@pytest.mark.parametrize("value", [None, 3.0, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
def test_an_nnx_param_holding_no_array(value):
    """An nnx.Param holding a list was a raw AttributeError at apply (a float or None became a
    0-D float64 parameter); now unsupported_model, naming it."""
    _jax()
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    model.kernel.set_value(value)
    with pytest.raises(SpecError) as info:
        initspec.plan({"defaults": {"weight": {"scheme": "zeros"}, "bias": {"scheme": "zeros"}}}, model)
    assert info.value.codes == ["unsupported_model"] and info.value.errors[0].loc == ("kernel",)


def test_integer_and_frozen_parameters_in_plans():
    """Already SpecErrors (kept so): an int8 Flax kernel given a random law; a Keras int32
    variable; a Keras variable created with trainable=False is not a parameter, one frozen
    after building still is."""
    jax = _jax()
    keras = _keras()
    plan = {"defaults": {"weight": {"scheme": "he", "distribution": "normal"}, "bias": {"scheme": "zeros"}}}
    variables = {"params": {"fc": {"kernel": jax.numpy.zeros((2, 3), jax.numpy.int8), "bias": jax.numpy.zeros(3)}}}
    assert codes(lambda: initspec.apply(plan, variables)) == ["unsupported_dtype"]
    ones = {"defaults": {"weight": {"scheme": "ones"}, "bias": {"scheme": "zeros"}}}
    kernel = initspec.apply(ones, variables).params["params"]["fc"]["kernel"]
    assert kernel.dtype == np.int8 and np.all(np.asarray(kernel) == 1)

    class Layer(keras.layers.Layer):
        def build(self, shape):
            self.kernel = self.add_weight(shape=(2, 3), initializer="zeros", name="kernel", dtype="int32")
            self.frozen = self.add_weight(shape=(2, 3), initializer="zeros", name="frozen", trainable=False)

        def call(self, x):
            return x

    model = keras.Sequential([keras.Input((2,)), Layer(name="custom")])
    weights = {"defaults": {"weight": {"scheme": "normal", "std": 1.0}}}
    assert [r.path for r in initspec.plan({"defaults": {"weight": {"scheme": "ones"}}}, model)] == ["custom.weight"]
    assert codes(lambda: initspec.apply(weights, model)) == ["unsupported_dtype"]
    dense = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="fc")])
    dense.layers[0].trainable = False
    assert [r.path for r in initspec.plan(plan, dense)] == ["fc.weight", "fc.bias"]


def test_a_tampered_keras_config():
    """from_config of a saved model's initializer: a seed dict Keras cannot deserialize was a raw
    TypeError/ValueError, EinsumDense axes of "a" or 0 raw errors and of 1.5 or True silently
    axis 1, a config that is not a mapping a raw TypeError."""
    _keras()
    from initspec.adapters import keras as ik

    cls = ik.InitSpecInitializer
    cfg = {**initspec.parse(SPEC).to_dict(), "layout": "keras", "seed": 0}
    for seed in ({"class_name": "Nope", "config": {}},
                 {"module": "keras.random", "class_name": "SeedGenerator", "config": {"seed": "x"}}):
        assert codes(lambda: cls.from_config({**cfg, "seed": seed})) == ["bad_seed"]
    for axes, code in ((["a"], "wrong_type"), ([1.5], "wrong_type"), ([True], "bool_as_number"), (0, "wrong_type")):
        assert codes(lambda: cls.from_config({**cfg, "input_axes": axes, "output_axes": [1]}))[0] == code, axes
    assert codes(lambda: cls.from_config(3)) == ["wrong_type"]
    init = cls.from_config({**cfg, "input_axes": (np.int64(0),), "output_axes": [1, 2]})
    assert init.input_axes == [0] and init.output_axes == [1, 2]


def test_a_deleted_fused_nnx_parameter():
    """A fused parameter whose jax.Array was deleted (donated to a jitted function) was a raw
    RuntimeError while drawing its second block; now unsupported_model before anything is
    drawn.  A deleted parameter written whole is simply replaced."""
    jax = _jax()
    nnx = pytest.importorskip("flax.nnx")
    plan = {"defaults": {"weight": {"scheme": "glorot", "distribution": "uniform"},
                         "recurrent_weight": {"scheme": "orthogonal"}, "bias": {"scheme": "zeros"}}}
    cell = nnx.OptimizedLSTMCell(2, 3, rngs=nnx.Rngs(0))
    for leaf in jax.tree_util.tree_leaves(nnx.state(cell, nnx.Param)):
        leaf.delete()
    with pytest.raises(SpecError) as info:
        initspec.apply(plan, cell, transactional=True)
    assert set(info.value.codes) == {"unsupported_model"} and "deleted jax.Array" in str(info.value)
    linear = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    linear.kernel.get_value().delete()
    initspec.apply({"defaults": {"weight": {"scheme": "ones"}, "bias": {"scheme": "zeros"}}}, linear)
    assert np.all(np.asarray(linear.kernel.get_value()) == 1)


def test_inverted_preset_bounds_in_a_users_pydantic_model():
    """A Plan or initspec.Spec field of a user's pydantic model took {scheme: torch.uniform,
    a: 2} (U(2, 1)) where parse_plan/parse refuse it; now the same bad_interval, at the field."""
    pydantic = pytest.importorskip("pydantic")
    from initspec.plans import Plan

    class Config(pydantic.BaseModel):
        init: Plan
        head: initspec.Spec = None

    bad = {"scheme": "torch.uniform", "a": 2}
    for data, loc in (({"init": {"defaults": {"weight": bad}}}, ("init", "defaults", "weight", "a")),
                      ({"init": {}, "head": bad}, ("head", "a"))):
        with pytest.raises(pydantic.ValidationError) as info:
            Config.model_validate(data)
        assert info.value.errors()[0]["type"] == "bad_interval" and info.value.errors()[0]["loc"] == loc
    # a preset that needs its layer's numbers is still fine until a plan fills them in
    Config.model_validate({"init": {"defaults": {"bias": {"scheme": "torch.default_bias"}}}})


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (0, 0), (0, 3, 3)])
def test_empty_shapes_and_integer_dtypes_on_keras_and_jax(shape):
    """Already right (kept so): an empty tensor of every scheme that takes the shape is an empty
    tensor of the dtype asked for; a random law in an integer dtype is unsupported_dtype even
    when empty, a constant fills it."""
    jax = _jax()
    _keras()
    from initspec.adapters import jax as ij
    from initspec.adapters import keras as ik

    key = jax.random.key(0)
    specs = [SPEC, {"scheme": "orthogonal"}, {"scheme": "zeros"}] + ([{"scheme": "dirac"}] if len(shape) == 3 else
                                                                      [{"scheme": "identity"}])
    for spec in specs:
        for dtype in ("float32", "bfloat16"):
            for x in (ij.initializer(spec)(key, shape, dtype), ik.initializer(spec, seed=0)(shape, dtype)):
                assert tuple(x.shape) == shape and dtype in str(x.dtype)
    for draw in (lambda s, d: ij.initializer(s)(key, shape, d), lambda s, d: ik.initializer(s, seed=0)(shape, d)):
        assert codes(lambda: draw(SPEC, "int8")) == ["unsupported_dtype"]
        assert tuple(draw({"scheme": "ones"}, "int8").shape) == shape


def test_portable_seeds_follow_the_seed_rule():
    """Portable seeding (every backend's plans with seeding: portable) took 2**64 and more, and
    a seed of over 4,300 digits was a raw ValueError in derive_seed."""
    from initspec import portable
    from initspec.propagation import propagate

    law = initspec.resolve({"scheme": "normal", "std": 1.0}, (2, 2))
    for bad in (2**64, 10**5000, -1, True, "1"):
        assert codes(lambda: portable.draw(law, (2, 2), "float32", seed=bad, path="fc.weight")) == ["bad_seed"]
        assert codes(lambda: portable.draw_stored(law, (2, 2), "float32", row_seed=bad)) == ["bad_seed"]
    a = portable.draw(law, (2, 2), "float32", seed=np.uint64(2**64 - 1), path="fc.weight")
    assert np.array_equal(a, portable.draw(law, (2, 2), "float32", seed=2**64 - 1, path="fc.weight"))
    # propagate took 2**64 and more too (the docs said it followed the rule)
    for bad in (2**64, 10**5000):
        assert codes(lambda: propagate({"scheme": "zeros"}, depth=1, width=2, batch=2, seed=bad)) == \
            ["bad_seed"]


@pytest.mark.parametrize("backend", ["numpy", "torch", "keras", "jax"])
@pytest.mark.parametrize("seed", ["-1", str(2**64), str(2**70)])
def test_cli_sample_seeds_follow_the_seed_rule(backend, seed):
    """``initspec sample --seed`` was passed through unchecked: 2**70 was an internal_error
    (OverflowError) in JAX, and -1 drew a tensor in JAX and Keras."""
    result = cli_runner(no_traceback=True)("sample", "{scheme: normal, std: 1}", "--shape", "8,8",
                                           "--backend", backend, "--seed", seed, code=1)
    assert "[bad_seed]" in result.stderr and "--seed" in result.stderr


def test_jax_sample_seeds_above_32_bits_are_distinct():
    """Without x64, ``jax.random.key`` keeps a seed's low 32 bits: --seed 4294967296 drew
    exactly what --seed 0 draws."""
    from initspec.testing.backends import get_backend

    jax_backend = get_backend("jax")
    draw = lambda seed: jax_backend.sample({"scheme": "normal", "std": 1.0}, (64,), "jax", seed, "float32")  # noqa: E731
    assert not np.array_equal(draw(2**32), draw(0))
    assert not np.array_equal(draw(2**64 - 1), draw(2**32 - 1))
    assert np.array_equal(draw(5), draw(5))
