"""Keras on real models (issue 14): initspec's fan-based initializers inside ``EinsumDense`` and
``MultiHeadAttention`` get the einsum's axes as Keras' own ``VarianceScaling`` does (against
Keras' GlorotUniform and HeNormal), and survive ``model.save``/``load_model``; a Keras
application (MobileNetV3Small, weights=None) and a hand-built transformer block - with norms
of the user's, one of them ``1 + scale`` like keras-hub's Gemma - are planned by generic
kind/role rules in strict mode."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from initspec.adapters import keras as ik
from initspec.adapters.keras import _layers
from initspec.adapters.keras.model import walk

import initspec
from initspec import SpecError

L = keras.layers
ops = keras.ops
pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="in-process Keras tests run on the TensorFlow backend")
E, H, D = 64, 8, 16
GLOROT = {"scheme": "glorot", "distribution": "uniform"}
HE = {"scheme": "he", "distribution": "normal"}


def _keras_fans(shape, input_axes, output_axes):
    from keras.src.initializers.random_initializers import compute_fans

    return compute_fans(shape, input_axes=input_axes, output_axes=output_axes)


def mha(init, e=E):
    layer = L.MultiHeadAttention(num_heads=H, key_dim=D, kernel_initializer=init)
    x = np.ones((1, 3, e), "float32")
    layer(x, x)
    return {n: np.asarray(ops.convert_to_numpy(getattr(layer, f"{n}_dense").kernel)) for n in
            ("query", "key", "value", "output")}


#: (input axes, output axes) EinsumDense hands to VarianceScaling for each projection.
AXES = {"query": ([0], [1, 2]), "key": ([0], [1, 2]), "value": ([0], [1, 2]), "output": ([0, 1], [2])}


def test_the_initializer_is_what_einsum_dense_hands_axes_to():
    init = ik.initializer(HE)
    assert isinstance(init, keras.initializers.VarianceScaling)
    assert init.input_axes is None and init.output_axes is None  # a named layout: take the layer's axes
    fixed = ik.initializer(HE, layout=initspec.Axes(in_axes=(0, 1), out_axes=(2,)))
    assert (fixed.input_axes, fixed.output_axes) == ([0, 1], [2])  # explicit axes: used as given
    clone = type(init).from_config({**init.get_config(), "seed": init.seed, "input_axes": [0], "output_axes": [1, 2]})
    assert clone.layout == initspec.Axes(in_axes=(0,), out_axes=(1, 2))
    assert type(init).from_config(clone.get_config()).layout == clone.layout  # the clone's config round-trips


@pytest.mark.parametrize("name", sorted(AXES))
def test_attention_kernels_get_keras_fans(name):
    """Each projection's law equals the one VarianceScaling computes from the same axes."""
    kernels = mha(ik.initializer(HE, seed=7))
    shape = kernels[name].shape
    fan_in, fan_out = _keras_fans(shape, *AXES[name])
    want = ik.initializer(HE, layout=initspec.Axes(in_axes=tuple(AXES[name][0]), out_axes=tuple(AXES[name][1])),
                          seed=7)
    assert want.resolve(shape).std == pytest.approx(math.sqrt(2 / fan_in))
    fans = want.resolve(shape).derivation.fans
    assert (fans.fan_in, fans.fan_out) == (fan_in, fan_out)
    np.testing.assert_array_equal(kernels[name], np.asarray(ops.convert_to_numpy(want(shape))))


@pytest.mark.parametrize("native,spec", [(keras.initializers.HeNormal, HE), (keras.initializers.GlorotUniform, GLOROT)],
                         ids=["he_normal", "glorot_uniform"])
def test_attention_kernel_std_matches_keras_own(native, spec):
    """The issue's case: He on a query kernel (64, 8, 16) has std sqrt(2/64) = 0.1768 (the
    convolution reading gave 0.0625)."""
    ours, theirs = mha(ik.initializer(spec)), mha(native())
    for name, axes in AXES.items():
        fan_in, fan_out = _keras_fans(ours[name].shape, *axes)
        expect = math.sqrt(2 / fan_in) if spec is HE else math.sqrt(2 / (fan_in + fan_out))
        assert ours[name].std() == pytest.approx(expect, rel=0.04), name
        assert ours[name].std() == pytest.approx(theirs[name].std(), rel=0.06), name
    if spec is HE:
        assert ours["query"].std() == pytest.approx(0.1768, abs=0.007)
    else:
        bound = math.sqrt(6 / (E + H * D))
        assert bound * 0.97 < np.abs(ours["query"]).max() <= bound


def test_attention_initializer_survives_save_and_load(tmp_path):
    init = ik.initializer(HE)
    x = keras.Input((5, E))
    model = keras.Model(x, L.MultiHeadAttention(num_heads=H, key_dim=D, kernel_initializer=init)(x, x))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    attn = next(layer for layer in loaded.layers if isinstance(layer, L.MultiHeadAttention))
    got = attn.query_dense.kernel_initializer
    assert type(got) is type(init) and got.get_config() == init.get_config()
    fresh = L.MultiHeadAttention.from_config(attn.get_config())
    fresh(np.ones((1, 3, E), "float32"), np.ones((1, 3, E), "float32"))
    assert np.asarray(ops.convert_to_numpy(fresh.query_dense.kernel)).std() == pytest.approx(math.sqrt(2 / E), rel=0.05)


# ============================================================================ whole models


def generic_plan(model, scale=None) -> dict:
    specs = {"weight": HE, "bias": {"scheme": "zeros"}, "offset": {"scheme": "zeros"},
             "scale": scale or {"scheme": "ones"}, "embedding": {"scheme": "normal", "std": 0.02}}
    roles = {p.role for p in walk(model)}
    return {"rules": [{"match": {"role": r}, "init": s} for r, s in specs.items() if r in roles]}


def test_keras_application_is_planned_by_a_generic_plan():
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(64, 64, 3))
    params = walk(model)
    assert [p for p in params if p.kind == "other"] == []
    assert {p.kind for p in params} >= {"conv", "depthwise_conv", "norm"}
    table = initspec.plan(generic_plan(model), model)
    assert len(table) == len(params) == len(model.trainable_weights)
    dw = next(r for r in table if r.kind == "depthwise_conv")
    assert dw.fans.fan_in == math.prod(dw.shape[:2])  # one input channel per filter


class GemmaNorm(L.Layer):
    """keras-hub's Gemma RMSNormalization: gain 1 + scale, scale initialised to zeros."""

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, shape):
        self.scale = self.add_weight(name="scale", shape=(shape[-1],), initializer="zeros")

    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon) * (1 + self.scale)


class PlainNorm(GemmaNorm):
    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon) * self.scale


class Shift(L.Layer):
    """Not a norm, though it has an epsilon and a 1-D weight."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = 1e-6

    def build(self, shape):
        self.weight = self.add_weight(name="weight", shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return x + self.weight


def block(d=64, vocab=100, with_shift=False):
    inp = keras.Input((16,), dtype="int32")
    x = L.Embedding(vocab, d, name="embed")(inp)
    h = L.LayerNormalization(name="ln1")(x)
    x = x + L.MultiHeadAttention(4, d // 4, name="attn")(h, h)
    h = PlainNorm(name="ln2")(x)
    x = x + L.Dense(d, name="fc2")(L.Dense(4 * d, activation="gelu", name="fc1")(h))
    x = GemmaNorm(name="final")(x)
    if with_shift:
        x = Shift(name="shift")(x)
    return keras.Model(inp, L.Dense(vocab, name="head")(x))


def test_transformer_block_is_planned_by_a_generic_plan():
    model = block()
    info = {p.path: p for p in walk(model)}
    assert [p for p in info.values() if p.kind == "other"] == []
    assert (info["ln2.scale"].kind, info["ln2.scale"].scale_offset) == ("norm", 0)
    assert (info["final.scale"].kind, info["final.scale"].scale_offset) == ("norm", 1)
    assert info["final.scale"].notes == (_layers.OFFSET_NOTE,)
    with pytest.raises(SpecError) as exc:
        initspec.plan(generic_plan(model), model)
    assert exc.value.codes == ["offset_norm_ones"] and "GemmaNorm" in str(exc.value)
    plan = {**generic_plan(model), "rules": [*generic_plan(model)["rules"],
                                             {"match": {"type": "GemmaNorm"}, "init": {"scheme": "zeros"}}]}
    table = initspec.plan(plan, model)
    assert table.row("attn.query.weight").fans.fan_in == 64 and table.row("attn.attention_output.weight").fans.fan_in == 64
    initspec.apply(plan, model)
    q = np.asarray(ops.convert_to_numpy(model.get_layer("attn").query_dense.kernel))
    assert q.std() == pytest.approx(math.sqrt(2 / 64), rel=0.05)


def test_probe_leaves_the_variables_alone_and_rejects_non_norms():
    model = block(with_shift=True)
    for v in model.trainable_variables:
        v.assign(np.random.default_rng(1).uniform(size=tuple(v.shape)).astype("float32"))
    before = [np.array(ops.convert_to_numpy(v)) for v in model.variables]
    info = {p.path: p for p in walk(model)}
    assert all(np.array_equal(a, np.asarray(ops.convert_to_numpy(v))) for a, v in zip(before, model.variables))
    assert (info["shift.weight"].kind, info["shift.weight"].role) == ("other", "weight")


_OTHER_BACKEND = """
import math, numpy as np, keras
from initspec.adapters import keras as ik
layer = keras.layers.MultiHeadAttention(num_heads=8, key_dim=16,
                                        kernel_initializer=ik.initializer({"scheme": "he", "distribution": "normal"}))
x = np.ones((1, 3, 64), "float32")
layer(x, x)
q = np.asarray(keras.ops.convert_to_numpy(layer.query_dense.kernel))
o = np.asarray(keras.ops.convert_to_numpy(layer.output_dense.kernel))
assert abs(q.std() / math.sqrt(2 / 64) - 1) < 0.05 and abs(o.std() / math.sqrt(2 / 128) - 1) < 0.05, (q.std(), o.std())
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_attention_fans_on_the_other_keras_backends(backend):
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _OTHER_BACKEND], check=False, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and f"ok {backend}" in done.stdout, done.stderr[-2000:]
