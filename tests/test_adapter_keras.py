"""The Keras adapter on the TensorFlow backend (in process): conformance of every scheme,
power gate, determinism and seeding semantics, RNG hygiene, real layers and models with
save/load, serialization, errors, and two-sample equivalence with the native
``keras.initializers``.  Statistics follow docs/conformance.md: n >= 65,536 per case
(R draws pooled, seeds derived from a crc32 of the case id) at the suite's per-assertion
level.  The JAX and torch Keras backends run in subprocesses: test_adapter_keras_backends.py."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import zlib

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("scipy")

import initspec  # noqa: E402
from initspec import ShapeError, SpecError  # noqa: E402
from initspec import distributions as D  # noqa: E402
from initspec.adapters import keras as ik  # noqa: E402
from initspec.adapters._common import derive_seed  # noqa: E402
from initspec.testing import N_SAMPLES, check_samples, check_two_sample  # noqa: E402

from _shared import RANDOM_SPECS, layout_cases, wrong_samplers  # noqa: E402
from _shared import he as _he  # noqa: E402

BACKEND = keras.backend.backend()
ops = keras.ops

#: Re-roll every seed with INITSPEC_SEED_SALT=<anything> ("is this luck?"); a real bug fails under every salt.
SALT = os.environ.get("INITSPEC_SEED_SALT", "")
DTYPES = ["float16", "bfloat16", "float32", "float64"]


def seed_of(case_id: str) -> int:
    return zlib.crc32(f"{case_id}|{SALT}".encode())


def seeds(case_id: str, r: int) -> list[int]:
    """r seeds for one case; < 2**31 so native Keras int seeds take them on every backend."""
    base = seed_of(case_id)
    return [derive_seed(base, i) % 2**31 for i in range(r)]


def repeats_for(shape, n=N_SAMPLES):
    return max(1, math.ceil(n / max(1, math.prod(shape))))


def draws(spec, shape, case_id, *, layout="keras", dtype=None, repeats=None, n=N_SAMPLES):
    """Pool ``repeats`` draws of ``shape``, one initializer per derived seed (via the public API)."""
    r = repeats or repeats_for(shape, n)
    return [ik.initializer(spec, layout=layout, seed=s)(shape, dtype=dtype) for s in seeds(case_id, r)]


def native_draws(make, shape, case_id, *, repeats=None, n=N_SAMPLES):
    """The same for a native Keras initializer: ``make(seed)`` -> ``keras.initializers.X(..., seed=seed)``."""
    r = repeats or repeats_for(shape, n)
    return [make(s)(shape) for s in seeds(case_id, r)]


def assert_passes(result):
    assert result.passed, result.report()


def assert_rejected(result):
    assert not result.passed, "the wrong sampler was NOT caught:\n" + result.report()


def npy(x):
    return ops.convert_to_numpy(x)


def same(a, b) -> bool:
    return bool(np.array_equal(npy(a).astype(np.float64), npy(b).astype(np.float64)))


# ============================================================================ conformance table

VS = "variance_scaling"
DENSE, CONV, CONVT = (256, 512), (3, 3, 32, 64), (4, 4, 16, 32)

# (id, spec, layout, shape); orthogonal-family cases draw 64 tensors (Haar sign check).
CASES = layout_cases("keras", {"dense": DENSE, "conv": CONV, "convT": CONVT}) + [
    ("trunc_2sigma", {"scheme": "truncated_normal", "mean": 0.2, "std": 0.3}, "keras", DENSE),  # native path
    ("vs_trunc_avg_convt", {"scheme": VS, "scale": 1.5, "mode": "fan_avg", "distribution": "truncated_normal"},
     "keras", CONVT),
    ("glorot_normal", {"scheme": "glorot", "distribution": "normal"}, "keras", DENSE),
    ("glorot_trunc_tanh", {"scheme": "glorot", "distribution": "truncated_normal", "gain": "tanh"}, "keras", CONV),
    ("lecun_trunc", {"scheme": "lecun", "distribution": "truncated_normal"}, "keras", CONV),
    # torch layout on the transposed shapes: (out, in) and (out, in, kh, kw)
    ("he_trunc_torch_layout", {"scheme": "he", "distribution": "truncated_normal"}, "torch", (512, 256)),
    ("glorot_uniform_torch_conv", {"scheme": "glorot", "distribution": "uniform"}, "torch", (64, 32, 3, 3)),
    ("orthogonal_conv", {"scheme": "orthogonal", "gain": "relu"}, "keras", (3, 3, 16, 32)),
    ("orthogonal_torch_layout", {"scheme": "orthogonal"}, "torch", (32, 16, 3, 3)),
    ("identity", {"scheme": "identity", "gain": 1.5}, "keras", (96, 64)),
    ("dirac_groups", {"scheme": "dirac", "groups": 4}, "keras", (3, 3, 8, 64)),
    ("delta_orthogonal", {"scheme": "delta_orthogonal", "gain": 1.5}, "keras", (3, 3, 32, 64)),
]
HAAR = ("orthogonal", "delta_orthogonal")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case_id,spec,layout,shape", CASES, ids=[c[0] for c in CASES])
def test_conformance(case_id, spec, layout, shape, dtype):
    init = ik.initializer(spec, layout=layout)
    dist = init.resolve(shape)
    repeats = 64 if spec["scheme"] in HAAR else None
    samples = draws(spec, shape, f"conformance/{case_id}/{dtype}", layout=layout, dtype=dtype, repeats=repeats)
    assert all(keras.backend.standardize_dtype(s.dtype) == dtype and tuple(s.shape) == shape for s in samples)
    assert_passes(check_samples(samples, dist, context=f"keras[{BACKEND}] {case_id} {dtype}"))


def test_torch_layout_on_the_transposed_shape_is_the_keras_law():
    spec = {"scheme": "he", "distribution": "truncated_normal", "mode": "fan_out"}
    assert initspec.resolve(spec, (512, 256), "torch") == initspec.resolve(spec, (256, 512), "keras")


def test_dtype_none_is_keras_floatx():
    init = ik.initializer({"scheme": "normal", "std": 1.0}, seed=1)
    assert keras.backend.standardize_dtype(init((4, 4)).dtype) == keras.config.floatx()
    prev = keras.config.floatx()
    try:
        keras.config.set_floatx("float64")
        assert keras.backend.standardize_dtype(init((4, 4)).dtype) == "float64"
    finally:
        keras.config.set_floatx(prev)


def test_truncated_normal_support_is_exact_on_a_million_draws():
    """Both the native ±2σ path and the rejection path: nothing outside [low, high] (inward-rounded)."""
    for spec in ({"scheme": "truncated_normal", "mean": 0.3, "std": 0.7},
                 {"scheme": "truncated_normal", "std": 1.0, "low": -1.0, "high": 2.5, "bounds": "std"}):
        dist = initspec.resolve(spec, (1000, 1000), "keras")
        for dtype in ("float32", "bfloat16"):
            x = npy(ik.initializer(spec, seed=5)((1000, 1000), dtype)).astype(np.float64)
            assert x.min() >= dist.low and x.max() <= dist.high, (spec, dtype, x.min(), x.max())


def test_float64_keeps_float64_bounds():
    """The TF backend rounds float64 uniform minval/maxval through float32; initspec must not."""
    low, high = 0.1, 0.1 + 1e-7  # float32(0.1) = 0.10000000149 is outside [low, high)
    spec = {"scheme": "uniform", "low": low, "high": high}
    x = npy(ik.initializer(spec, seed=4)((256, 256), "float64"))
    assert x.min() >= low and x.max() <= high
    assert_passes(check_samples(x, initspec.resolve(spec, (256, 256))))
    tail = {"scheme": "truncated_normal", "std": 1.0, "low": -5.5, "high": -4.0, "bounds": "std"}  # inverse CDF
    assert_passes(check_samples(ik.initializer(tail, seed=4)((256, 256), "float64"),
                                initspec.resolve(tail, (256, 256))))


def test_tiny_std_absolute_bounds_never_clamp():
    """torch <= 2.11's inverse-CDF clamp produced ±bound outliers at std << bounds; we never touch them."""
    spec = {"scheme": "truncated_normal", "std": 0.001, "low": -2.0, "high": 2.0, "bounds": "absolute"}
    x = npy(ik.initializer(spec, seed=2)((1000, 1000)))
    assert np.abs(x).max() < 0.01


# ============================================================================ power gate

SHAPE = (128, 256)  # non-square: fan_in (128) != fan_out (256) in the keras layout


def wrong_draws(spec, shape, case_id, *, transform=None, haar=True, repeats=None):
    """What ``draws`` gives, with the law rewritten by ``transform`` or the Haar sign
    correction dropped: the same seeds through ``sample``, as the initializer calls it."""
    dist = ik.initializer(spec).resolve(shape)
    dist = transform(dist) if transform is not None else dist
    return [ik.sample(dist, shape, None, s, haar=haar) for s in seeds(case_id, repeats or repeats_for(shape))]


WRONG_SAMPLERS = wrong_samplers("torch") + [
    ("truncation_missing_keras_tn", {"scheme": "keras.truncated_normal", "stddev": 0.05},
     lambda d: D.Normal(loc=d.loc, scale=d.scale)),
]


@pytest.mark.parametrize("name,spec,transform", WRONG_SAMPLERS, ids=[w[0] for w in WRONG_SAMPLERS])
def test_power_gate_rejects_wrong_sampler(name, spec, transform):
    dist = ik.initializer(spec).resolve(SHAPE)
    assert_passes(check_samples(draws(spec, SHAPE, f"gate/{name}"), dist))  # same seeds, real sampler
    assert same(wrong_draws(spec, SHAPE, f"gate/{name}")[0], draws(spec, SHAPE, f"gate/{name}")[0])
    assert_rejected(check_samples(wrong_draws(spec, SHAPE, f"gate/{name}", transform=transform), dist))


@pytest.mark.parametrize("shape", [(64, 128), (128, 64), (3, 3, 16, 32)])
def test_power_gate_catches_missing_haar_sign_correction(shape):
    spec = {"scheme": "orthogonal"}
    dist = ik.initializer(spec).resolve(shape)
    assert_passes(check_samples(draws(spec, shape, f"gate/haar/{shape}", repeats=64), dist))
    result = check_samples(wrong_draws(spec, shape, f"gate/haar/{shape}", haar=False, repeats=64), dist)
    assert_rejected(result)
    assert not result["haar_sign"].passed and result["orthogonality"].passed


def test_power_gate_two_sample_tells_untruncated_from_native_he_normal():
    """Keras ``HeNormal`` is truncated; initspec's plain ``he normal`` is not."""
    ours = draws(_he("normal"), SHAPE, "gate/2s/ours", n=4 * N_SAMPLES)
    native = native_draws(lambda s: keras.initializers.HeNormal(seed=s), SHAPE, "gate/2s/native", n=4 * N_SAMPLES)
    assert_rejected(check_two_sample(ours, native))


# ============================================================================ seeding semantics and determinism

def _shape_for(name):
    return (3, 3, 16, 32) if name == "delta_orthogonal" else (128, 64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(RANDOM_SPECS))
def test_int_seed_identical_every_call_and_different_seeds_differ(name, dtype):
    shape = _shape_for(name)
    init = ik.initializer(RANDOM_SPECS[name], seed=7)
    a, b = init(shape, dtype), init(shape, dtype)
    again = ik.initializer(RANDOM_SPECS[name], seed=7)(shape, dtype)
    other = ik.initializer(RANDOM_SPECS[name], seed=8)(shape, dtype)
    assert same(a, b) and same(a, again)
    assert not same(a, other)


@pytest.mark.parametrize("name", list(RANDOM_SPECS))
def test_unseeded_gives_fresh_values_on_every_call(name):
    shape = _shape_for(name)
    init = ik.initializer(RANDOM_SPECS[name])
    assert init.seed is None
    a, b = init(shape), init(shape)
    c = ik.initializer(RANDOM_SPECS[name])(shape)
    assert not same(a, b) and not same(a, c)


@pytest.mark.parametrize("name", list(RANDOM_SPECS))
def test_seed_generator_differs_per_call_with_a_reproducible_sequence(name):
    shape = _shape_for(name)
    run1 = ik.initializer(RANDOM_SPECS[name], seed=keras.random.SeedGenerator(11))
    run2 = ik.initializer(RANDOM_SPECS[name], seed=keras.random.SeedGenerator(11))
    a1, a2 = run1(shape), run1(shape)
    b1, b2 = run2(shape), run2(shape)
    assert not same(a1, a2)
    assert same(a1, b1) and same(a2, b2)


def test_huge_int_seeds_are_distinct_streams():
    """Keras folds int seeds to 32 bits (and TF to 31); initspec hashes the whole int."""
    init = ik.initializer({"scheme": "normal", "std": 1.0}, seed=5)
    big = ik.initializer({"scheme": "normal", "std": 1.0}, seed=5 + 2**32)
    huge = ik.initializer({"scheme": "normal", "std": 1.0}, seed=2**63 - 1)
    assert not same(init((64,)), big((64,))) and huge((64,)).shape == (64,)
    assert same(ik.initializer({"scheme": "normal", "std": 1.0}, seed=np.int64(5))((64,)), init((64,)))


def _global_states():
    import tensorflow as tf

    from keras.src.backend.common import global_state

    gen = global_state.get_global_attribute("global_seed_generator")
    return (random.getstate(), pickle.dumps(np.random.get_state()),
            tf.random.get_global_generator().state.numpy().tobytes(),
            None if gen is None else npy(gen.state).tobytes())


@pytest.mark.skipif(BACKEND != "tensorflow", reason="checks TensorFlow's global generator")
@pytest.mark.parametrize("seed_kind", ["none", "int", "seed_generator"])
def test_global_rng_state_untouched(seed_kind):
    before = _global_states()
    for name, spec in RANDOM_SPECS.items():
        seed = {"none": None, "int": 3, "seed_generator": keras.random.SeedGenerator(3)}[seed_kind]
        ik.initializer(spec, seed=seed)(_shape_for(name))
        ik.initializer(spec, seed=seed)(_shape_for(name), "bfloat16")
    after = _global_states()
    assert after[0] == before[0], "Python random state changed"
    assert after[1] == before[1], "NumPy global state changed"
    assert after[2] == before[2], "TensorFlow global generator changed"
    assert after[3] == before[3], "Keras global SeedGenerator changed"


# ============================================================================ low-level sample()


def test_sample_draws_a_resolved_distribution():
    dist = initspec.resolve({"scheme": "he", "distribution": "uniform"}, (512, 128), "keras")
    x = ik.sample(dist, (512, 128), "float32", 3)
    assert same(x, ik.sample(dist, (512, 128), "float32", 3))
    assert_passes(check_samples(x, dist))
    gen = keras.random.SeedGenerator(1)
    assert not same(ik.sample(dist, (512, 128), None, gen), ik.sample(dist, (512, 128), None, gen))
    ortho = initspec.resolve({"scheme": "orthogonal"}, (32, 16), "keras")
    assert tuple(ik.sample(ortho, None, "float32", 1).shape) == (32, 16)  # shape from the distribution


def _concrete(cls):
    for sub in cls.__subclasses__():
        if not sub.__name__.startswith("_"):
            yield sub
        yield from _concrete(sub)


def test_the_draw_table_covers_every_distribution():
    from initspec.adapters.keras.random import DRAW

    concrete = set(_concrete(D.Distribution))
    assert len(concrete) >= 9 and concrete <= set(DRAW), sorted(c.__name__ for c in concrete - set(DRAW))
    assert set(DRAW) <= concrete


def test_zero_element_tensors():
    for spec in RANDOM_SPECS.values():
        shape = (0, 3, 3, 4) if spec["scheme"] == "delta_orthogonal" else (0, 5)
        x = ik.initializer(spec, seed=1)(shape)
        assert tuple(x.shape) == shape


# ============================================================================ real layers, models, save/load


def test_dense_conv_embedding_layers_draw_the_resolved_law():
    dense_init = ik.initializer({"scheme": "glorot", "distribution": "uniform"}, seed=seed_of("layer/dense"))
    dense = keras.layers.Dense(256, kernel_initializer=dense_init,
                               bias_initializer=ik.initializer({"scheme": "constant", "value": 0.1}))
    dense.build((None, 784))
    assert_passes(check_samples(dense.kernel.value, dense_init.resolve((784, 256))))
    assert np.all(npy(dense.bias.value) == np.float32(0.1))

    conv_init = ik.initializer({"scheme": "he", "distribution": "truncated_normal"}, seed=seed_of("layer/conv"))
    conv = keras.layers.Conv2D(128, 3, kernel_initializer=conv_init)
    conv.build((None, 16, 16, 64))
    assert tuple(conv.kernel.shape) == (3, 3, 64, 128)
    dist = conv_init.resolve((3, 3, 64, 128))
    assert dist.derivation.fans.fan_in == 9 * 64
    assert_passes(check_samples(conv.kernel.value, dist))

    emb_init = ik.initializer({"scheme": "keras.embedding"}, seed=seed_of("layer/embedding"))
    emb = keras.layers.Embedding(2048, 32, embeddings_initializer=emb_init)
    emb.build((None, 4))
    assert_passes(check_samples(emb.embeddings.value, emb_init.resolve((2048, 32))))


def _model():
    img = keras.Input((8, 8, 3), name="img")
    tok = keras.Input((4,), dtype="int32", name="tok")
    x = keras.layers.Conv2D(4, 3, name="conv", kernel_initializer=ik.initializer(
        {"scheme": "he", "distribution": "truncated_normal"}, seed=1))(img)
    x = keras.layers.Flatten()(x)
    e = keras.layers.Embedding(10, 6, name="emb", embeddings_initializer=ik.initializer(
        {"scheme": "normal", "std": 0.02}, layout="torch", seed=keras.random.SeedGenerator(4)))(tok)
    e = keras.layers.Flatten()(e)
    x = keras.layers.Concatenate()([x, e])
    x = keras.layers.Dense(5, name="dense", kernel_initializer=ik.initializer(
        {"scheme": "variance_scaling", "scale": 0.5, "mode": "fan_avg", "distribution": "uniform",
         "axes": {"in_axes": [0], "out_axes": [1]}}),
        bias_initializer=ik.initializer({"scheme": "torch.default_bias", "fan_in": 150}, seed=2))(x)
    out = keras.layers.Dense(1, name="head", kernel_initializer=ik.initializer(
        {"scheme": "orthogonal", "gain": "relu"}, layout={"in_axes": [0], "out_axes": [1]}, seed=3))(x)
    return keras.Model([img, tok], out)


INITIALIZER_ATTRS = {"conv": ["kernel_initializer"], "emb": ["embeddings_initializer"],
                     "dense": ["kernel_initializer", "bias_initializer"], "head": ["kernel_initializer"]}


def test_functional_model_survives_save_and_load(tmp_path):
    model = _model()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for name, attrs in INITIALIZER_ATTRS.items():
        for attr in attrs:
            orig, back = getattr(model.get_layer(name), attr), getattr(loaded.get_layer(name), attr)
            assert type(back) is ik.InitSpecInitializer
            assert back.spec == orig.spec and back.layout == orig.layout
            assert back.get_config() == orig.get_config()
        for w_orig, w_back in zip(model.get_layer(name).weights, loaded.get_layer(name).weights):
            assert same(w_orig.value, w_back.value)
    emb_seed = loaded.get_layer("emb").embeddings_initializer.seed
    assert isinstance(emb_seed, keras.random.SeedGenerator) and emb_seed.get_config()["seed"] == 4
    assert loaded.get_layer("conv").kernel_initializer.seed == 1
    # a rebuilt model (from the saved config) draws the same int-seeded weights
    rebuilt = keras.Model.from_config(model.get_config())
    assert same(rebuilt.get_layer("conv").kernel.value, model.get_layer("conv").kernel.value)


def test_sequential_model_save_load_and_clone(tmp_path):
    spec = {"scheme": "lecun", "distribution": "truncated_normal"}
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, kernel_initializer=ik.initializer(spec))])
    model.save(tmp_path / "seq.keras")
    loaded = keras.models.load_model(tmp_path / "seq.keras")
    assert loaded.layers[0].kernel_initializer.spec == initspec.parse(spec)
    clone = keras.models.clone_model(model)
    assert clone.layers[0].kernel_initializer.spec == initspec.parse(spec)
    assert not same(clone.layers[0].kernel.value, model.layers[0].kernel.value)  # unseeded: fresh values


def test_config_round_trips_through_keras_serialization():
    spec = {"scheme": "truncated_normal", "std": 0.02, "low": -0.04, "high": 0.04, "bounds": "absolute"}
    init = ik.initializer(spec, layout="torch", seed=9)
    config = init.get_config()
    assert config == {**initspec.parse(spec).to_dict(), "layout": "torch", "seed": 9}
    json.dumps(config)  # plain JSON
    back = ik.InitSpecInitializer.from_config(config)
    assert back.spec == init.spec and back.layout == "torch" and back.seed == 9
    assert same(back((32, 16)), init((32, 16)))

    serialized = keras.initializers.serialize(init)
    assert serialized["registered_name"] == "initspec>InitSpecInitializer"
    for restored in (keras.initializers.deserialize(serialized), keras.initializers.get(serialized),
                     keras.initializers.get(json.loads(json.dumps(serialized))), init.clone()):
        assert type(restored) is ik.InitSpecInitializer
        assert restored.spec == init.spec and restored.get_config() == config


def test_seed_generator_and_axes_config_round_trip():
    init = ik.initializer({"scheme": "he", "distribution": "uniform"}, layout={"in_axes": [0], "out_axes": [1, 2]},
                          seed=keras.random.SeedGenerator(21))
    config = json.loads(json.dumps(init.get_config()))
    back = keras.initializers.deserialize(json.loads(json.dumps(keras.initializers.serialize(init))))
    assert back.layout == init.layout and isinstance(back.seed, keras.random.SeedGenerator)
    assert back.get_config() == config
    fresh = ik.initializer(init.spec, layout=init.layout, seed=keras.random.SeedGenerator(21))
    assert same(back((8, 2, 4)), fresh((8, 2, 4)))  # the restored generator restarts from its seed


def test_repr_and_attributes():
    init = ik.initializer({"scheme": "kaiming", "distribution": "normal"}, seed=3)
    assert init.spec == initspec.parse({"scheme": "he", "distribution": "normal"})
    assert init.layout == "keras" and init.seed == 3
    assert repr(init) == ("initspec.adapters.keras.initializer({'scheme': 'he', 'distribution': 'normal', "
                          "'mode': 'fan_in', 'nonlinearity': 'relu'}, layout='keras', seed=3)")
    assert isinstance(init, keras.initializers.Initializer)
    assert ik.register() is ik.InitSpecInitializer is type(init)
    assert init.resolve((784, 256)).std == pytest.approx(math.sqrt(2 / 784))


def test_mha_clone_pitfall_int_seed_vs_unseeded():
    """docs/frameworks.md: MHA clones the initializer config per projection.  An int seed keeps
    Keras' meaning (identical q/k/v, like native GlorotUniform(seed=1)); unseeded initspec
    initializers draw fresh entropy per call, so the projections differ."""
    def qkv(init):
        mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, kernel_initializer=init)
        x = ops.ones((1, 4, 16))
        mha(x, x)
        return [npy(d.kernel.value) for d in (mha.query_dense, mha.key_dense, mha.value_dense)]

    native = qkv(keras.initializers.GlorotUniform(seed=1))
    assert np.array_equal(native[0], native[1]) and np.array_equal(native[1], native[2])
    seeded = qkv(ik.initializer({"scheme": "glorot", "distribution": "uniform"}, seed=1))
    assert np.array_equal(seeded[0], seeded[1]) and np.array_equal(seeded[1], seeded[2])
    fresh = qkv(ik.initializer({"scheme": "glorot", "distribution": "uniform"}))
    assert not np.array_equal(fresh[0], fresh[1]) and not np.array_equal(fresh[1], fresh[2])


def test_attention_kernels_need_explicit_axes_to_match_native_einsum_fans():
    """Keras >= 3.15 gives EinsumDense's VarianceScaling initializers the einsum axes; an
    initspec initializer resolved on the bare shape reads a rank-3 kernel as a convolution,
    and explicit Axes give the einsum's fans.  (Inside EinsumDense it receives the axes itself:
    tests/test_real_models_keras.py.)"""
    spec = {"scheme": "glorot", "distribution": "uniform"}
    mha = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16, kernel_initializer=I.GlorotUniform(seed=1))
    x = ops.ones((1, 3, 64))
    mha(x, x)
    q = npy(mha.query_dense.kernel.value)  # (E, H, D) = (64, 4, 16): native fans 64 / 64
    bound = math.sqrt(6 / (64 + 64))
    assert q.shape == (64, 4, 16) and bound * 0.98 < np.abs(q).max() <= bound
    qkv = ik.initializer(spec, layout=initspec.Axes(in_axes=(0,), out_axes=(1, 2))).resolve(q.shape)
    assert qkv.high == pytest.approx(bound)
    out = ik.initializer(spec, layout=initspec.Axes(in_axes=(0, 1), out_axes=(2,))).resolve((4, 16, 64))
    assert out.high == pytest.approx(bound)
    assert ik.initializer(spec).resolve(q.shape).high != pytest.approx(bound)  # the conv reading


# ============================================================================ errors


def _code(exc_info):
    return exc_info.value.errors[0].code


@pytest.mark.parametrize("spec,shape,code", [
    ({"scheme": "identity"}, (3, 4, 5), "unsupported_shape"),
    ({"scheme": "dirac"}, (4, 4), "unsupported_shape"),
    ({"scheme": "orthogonal"}, (8,), "unsupported_shape"),
    ({"scheme": "delta_orthogonal"}, (3, 3, 8, 4), "unsupported_shape"),
    ({"scheme": "sparse", "sparsity": 0.1}, (3, 3, 4), "unsupported_shape"),
    ({"scheme": "he", "distribution": "normal"}, (4, -1), "bad_shape"),
])
def test_shapes_a_scheme_cannot_take(spec, shape, code):
    with pytest.raises(ShapeError) as exc:
        ik.initializer(spec, seed=1)(shape)
    assert _code(exc) == code


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool", "complex64"])
@pytest.mark.parametrize("spec", [{"scheme": "normal", "std": 1.0}, {"scheme": "orthogonal"},
                                  {"scheme": "truncated_normal", "std": 1.0}, {"scheme": "sparse", "sparsity": 0.1}])
def test_random_schemes_reject_non_float_dtypes(spec, dtype):
    with pytest.raises(SpecError) as exc:
        ik.initializer(spec, seed=1)((8, 8), dtype)
    assert _code(exc) == "unsupported_dtype" and dtype in str(exc.value)


def test_fixed_schemes_fill_integer_tensors():
    assert np.array_equal(npy(ik.initializer({"scheme": "constant", "value": 3})((2, 3), "int32")), np.full((2, 3), 3))
    assert np.array_equal(npy(ik.initializer({"scheme": "identity", "gain": 2})((3, 2), "int64")), 2 * np.eye(3, 2))
    assert npy(ik.initializer({"scheme": "dirac"})((3, 3, 2, 2), "int32")).sum() == 2
    with pytest.raises(SpecError) as exc:
        ik.initializer({"scheme": "constant", "value": 0.5})((2,), "int32")
    assert _code(exc) == "lossy_cast"  # the dtype rules of initspec.sampling, the same in every backend


def test_bad_arguments():
    with pytest.raises(SpecError) as exc:
        ik.initializer({"scheme": "normal", "std": 1.0})((2, 2), "float7")
    assert _code(exc) == "unsupported_dtype"
    for bad in ("abc", 1.5, True, [1, 2]):
        with pytest.raises(SpecError) as exc:
            ik.initializer({"scheme": "normal", "std": 1.0}, seed=bad)
        assert _code(exc) == "bad_seed"
    with pytest.raises(ShapeError) as exc:
        ik.initializer({"scheme": "normal", "std": 1.0}, layout="kears")
    assert _code(exc) == "unknown_layout" and "keras" in str(exc.value)
    with pytest.raises(SpecError) as exc:
        ik.initializer({"scheme": "glorot", "distribution": "normall"})
    assert _code(exc) == "invalid_choice"
    with pytest.raises(SpecError) as exc:  # a typo in a saved config is an error, not ignored
        ik.InitSpecInitializer.from_config({"scheme": "normal", "stdd": 1.0, "layout": "keras", "seed": None})
    assert "unknown_field" in exc.value.codes
    with pytest.raises(SpecError):
        ik.sample(initspec.resolve({"scheme": "normal", "std": 1.0}, (2,)), (2,), "float32", "seed")


# ============================================================================ equivalence with native keras.initializers (§7)

I = keras.initializers  # noqa: E741
FI, FO = 256, 512  # DENSE fans in the keras layout
CONV_FI, CONV_FO = 9 * 32, 9 * 64


def _geo(distribution):
    """fan_geo_avg has no native mode: VarianceScaling(s·fi/√(fi·fo), 'fan_in') is exact for a given shape."""
    return lambda s: I.VarianceScaling(1.3 * CONV_FI / math.sqrt(CONV_FI * CONV_FO), "fan_in", distribution, seed=s)


# (row id, initspec spec, native factory, shape)
NATIVE_ROWS = [
    ("vs_uniform", {"scheme": VS, "scale": 0.7, "mode": "fan_out", "distribution": "uniform"},
     lambda s: I.VarianceScaling(0.7, "fan_out", "uniform", seed=s), CONV),
    ("vs_untrunc", {"scheme": VS, "scale": 0.7, "mode": "fan_avg", "distribution": "normal"},
     lambda s: I.VarianceScaling(0.7, "fan_avg", "untruncated_normal", seed=s), CONV),
    ("vs_trunc", {"scheme": VS, "scale": 0.7, "mode": "fan_in", "distribution": "truncated_normal"},
     lambda s: I.VarianceScaling(0.7, "fan_in", "truncated_normal", seed=s), CONV),
    ("geo_avg_uniform", {"scheme": VS, "scale": 1.3, "mode": "fan_geo_avg", "distribution": "uniform"},
     _geo("uniform"), CONV),
    ("geo_avg_trunc", {"scheme": VS, "scale": 1.3, "mode": "fan_geo_avg", "distribution": "truncated_normal"},
     _geo("truncated_normal"), CONV),
    ("glorot_uniform", {"scheme": "glorot", "distribution": "uniform"}, lambda s: I.GlorotUniform(seed=s), DENSE),
    ("glorot_normal_untrunc", {"scheme": "glorot", "distribution": "normal"},
     lambda s: I.VarianceScaling(1.0, "fan_avg", "untruncated_normal", seed=s), DENSE),
    ("glorot_normal_trunc", {"scheme": "glorot", "distribution": "truncated_normal"},
     lambda s: I.GlorotNormal(seed=s), DENSE),
    ("he_uniform", {"scheme": "he", "distribution": "uniform"}, lambda s: I.HeUniform(seed=s), CONV),
    ("he_normal_untrunc", {"scheme": "he", "distribution": "normal"},
     lambda s: I.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=s), CONV),
    ("he_normal_untrunc_fan_out", {"scheme": "he", "distribution": "normal", "mode": "fan_out"},
     lambda s: I.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=s), CONV),
    ("he_normal_trunc", {"scheme": "he", "distribution": "truncated_normal"}, lambda s: I.HeNormal(seed=s), CONV),
    ("lecun_uniform", {"scheme": "lecun", "distribution": "uniform"}, lambda s: I.LecunUniform(seed=s), DENSE),
    ("lecun_normal_untrunc", {"scheme": "lecun", "distribution": "normal"},
     lambda s: I.VarianceScaling(1.0, "fan_in", "untruncated_normal", seed=s), DENSE),
    ("lecun_normal_trunc", {"scheme": "lecun", "distribution": "truncated_normal"},
     lambda s: I.LecunNormal(seed=s), DENSE),
    ("torch_default_weight", {"scheme": "torch.default_weight"},
     lambda s: I.VarianceScaling(1 / 3, "fan_in", "uniform", seed=s), DENSE),
    ("torch_default_bias", {"scheme": "torch.default_bias", "fan_in": FI},
     lambda s: I.RandomUniform(-1 / math.sqrt(FI), 1 / math.sqrt(FI), seed=s), (FO,)),
    ("uniform_ab", {"scheme": "uniform", "low": -0.1, "high": 0.3}, lambda s: I.RandomUniform(-0.1, 0.3, seed=s),
     DENSE),
    ("uniform_0s", {"scheme": "uniform", "low": 0.0, "high": 0.02}, lambda s: I.RandomUniform(0.0, 0.02, seed=s),
     DENSE),
    ("normal", {"scheme": "normal", "std": 0.02}, lambda s: I.RandomNormal(0.0, 0.02, seed=s), DENSE),
    ("normal_mean", {"scheme": "normal", "mean": 0.5, "std": 0.02}, lambda s: I.RandomNormal(0.5, 0.02, seed=s),
     DENSE),
    ("trunc_parent_2sigma", {"scheme": "truncated_normal", "mean": 0.1, "std": 0.02},
     lambda s: I.TruncatedNormal(0.1, 0.02, seed=s), DENSE),
    ("torch_trunc_normal_absolute", {"scheme": "torch.trunc_normal", "std": 0.02},
     lambda s: I.RandomNormal(0.0, 0.02, seed=s), DENSE),
    ("embedding_torch", {"scheme": "torch.embedding"}, lambda s: I.RandomNormal(0.0, 1.0, seed=s), (4096, 16)),
    ("embedding_flax", {"scheme": "flax.embed"}, lambda s: I.RandomNormal(0.0, 1 / math.sqrt(16), seed=s),
     (4096, 16)),
    ("embedding_keras", {"scheme": "keras.embedding"}, lambda s: I.RandomUniform(seed=s), (4096, 16)),
    ("orthogonal", {"scheme": "orthogonal", "gain": 1.5}, lambda s: I.Orthogonal(gain=1.5, seed=s), (64, 32)),
    ("orthogonal_conv", {"scheme": "orthogonal"}, lambda s: I.Orthogonal(seed=s), (3, 3, 8, 16)),
]

# every keras.* preset against its native class (same parameters)
KERAS_PRESETS = [
    ("keras.random_normal", {"mean": 0.1, "stddev": 0.3}, lambda s: I.RandomNormal(0.1, 0.3, seed=s)),
    ("keras.random_uniform", {}, lambda s: I.RandomUniform(seed=s)),
    ("keras.truncated_normal", {"stddev": 0.2}, lambda s: I.TruncatedNormal(stddev=0.2, seed=s)),
    ("keras.variance_scaling", {}, lambda s: I.VarianceScaling(seed=s)),
    ("keras.variance_scaling", {"distribution": "normal", "mode": "fan_avg", "scale": 3.0},
     lambda s: I.VarianceScaling(3.0, "fan_avg", "normal", seed=s)),
    ("keras.variance_scaling", {"distribution": "untruncated_normal", "mode": "fan_out"},
     lambda s: I.VarianceScaling(1.0, "fan_out", "untruncated_normal", seed=s)),
    ("keras.variance_scaling", {"distribution": "uniform", "scale": 0.1},
     lambda s: I.VarianceScaling(0.1, "fan_in", "uniform", seed=s)),
    ("keras.glorot_uniform", {}, lambda s: I.GlorotUniform(seed=s)),
    ("keras.glorot_normal", {}, lambda s: I.GlorotNormal(seed=s)),
    ("keras.he_uniform", {}, lambda s: I.HeUniform(seed=s)),
    ("keras.he_normal", {}, lambda s: I.HeNormal(seed=s)),
    ("keras.lecun_uniform", {}, lambda s: I.LecunUniform(seed=s)),
    ("keras.lecun_normal", {}, lambda s: I.LecunNormal(seed=s)),
    ("keras.embedding", {}, lambda s: I.RandomUniform(seed=s)),
    ("keras.orthogonal", {"gain": 0.5}, lambda s: I.Orthogonal(gain=0.5, seed=s)),
]


def _compare_with_native(row_id, spec, native, shape):
    repeats = 64 if initspec.parse(spec).scheme.endswith("orthogonal") else None
    ours = draws(spec, shape, f"native/{row_id}/ours", repeats=repeats)
    theirs = native_draws(native, shape, f"native/{row_id}/native", repeats=repeats)
    dist = ik.initializer(spec).resolve(shape)
    assert_passes(check_samples(ours, dist, context=f"initspec {row_id}"))
    if BACKEND != "torch" or not isinstance(dist, D.TruncatedNormal):  # torch-backend TN leaks (§2.3)
        assert_passes(check_samples(theirs, dist, context=f"native {row_id}"))
    assert_passes(check_two_sample(ours, theirs, context=row_id))


@pytest.mark.parametrize("row_id,spec,native,shape", NATIVE_ROWS, ids=[r[0] for r in NATIVE_ROWS])
def test_two_sample_against_native(row_id, spec, native, shape):
    _compare_with_native(row_id, spec, native, shape)


@pytest.mark.parametrize("scheme,params,native", KERAS_PRESETS,
                         ids=[f"{p[0]}{'-' + '-'.join(map(str, p[1].values())) if p[1] else ''}" for p in KERAS_PRESETS])
def test_keras_presets_against_native(scheme, params, native):
    shape = (64, 32) if scheme == "keras.orthogonal" else CONV
    _compare_with_native(f"preset/{scheme}/{sorted(params.items())}", {"scheme": scheme, **params}, native, shape)


@pytest.mark.parametrize("spec,native,shape", [
    ({"scheme": "constant", "value": 0.25}, I.Constant(0.25), (16, 8)),
    ({"scheme": "zeros"}, I.Zeros(), CONV),
    ({"scheme": "ones"}, I.Ones(), (7,)),
    ({"scheme": "identity", "gain": 1.5}, I.Identity(gain=1.5), (48, 32)),
    ({"scheme": "keras.identity"}, I.Identity(), (32, 48)),
], ids=["constant", "zeros", "ones", "identity", "keras.identity"])
def test_fixed_schemes_equal_native_exactly(spec, native, shape):
    for dtype in ("float32", "bfloat16", "float64"):
        assert same(ik.initializer(spec)(shape, dtype), native(shape, dtype))
