"""LSUV as data and diagnostics on real Keras 3 models (adapters/keras/signal.py), with the
TensorFlow backend: functional and Sequential tanh MLPs (fused and separate activations), a
subclassed residual model with a Python branch.  Variances LSUV claims are measured again
here with the layers' own weights."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import initspec  # noqa: E402

from _shared import ORTHO_TANH, SMALL  # noqa: E402


def tanh_mlp(depth: int = 8, width: int = 64, fused: bool = True) -> keras.Model:
    inputs = keras.Input((width,))
    h = inputs
    for i in range(depth):
        if fused:
            h = keras.layers.Dense(width, activation="tanh", name=f"fc{i}")(h)
        else:
            h = keras.layers.Activation("tanh", name=f"act{i}")(keras.layers.Dense(width, name=f"fc{i}")(h))
    return keras.Model(inputs, h)


def batch(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def dense_output_variances(model: keras.Model, x: np.ndarray) -> list[float]:
    """Each Dense layer's pre-activation output variance, computed here in NumPy."""
    out, h = [], x.astype(np.float64)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            y = h @ layer.kernel.numpy() + layer.bias.numpy()
            out.append(float(y.var()))
            h = np.tanh(y)
    return out


def weights(model: keras.Model) -> list[bytes]:
    return [v.numpy().tobytes() for v in model.weights]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "activation-layers"])
def test_lsuv_brings_every_dense_layer_to_unit_variance(fused):
    model, x = tanh_mlp(fused=fused), batch(256, 64)
    manifest = initspec.apply({"rules": ORTHO_TANH, "lsuv": {"tol": 0.05}}, model, data=x)
    variances = dense_output_variances(model, x)
    assert len(variances) == 8 and all(abs(v - 1) <= 0.05 for v in variances), variances
    assert [r.path for r in manifest.lsuv.layers] == [f"fc{i}" for i in range(8)]
    assert manifest.lsuv.passes == 2 and manifest.to_json()["lsuv"]["converged"]
    assert all("call" not in vars(layer) for layer in model.layers)  # the wrappers are gone
    h = x.astype(np.float64)
    for layer in model.layers[1:]:  # and the model computes what its weights say
        h = np.tanh(h @ layer.kernel.numpy() + layer.bias.numpy()) if fused else (
            h @ layer.kernel.numpy() + layer.bias.numpy() if isinstance(layer, keras.layers.Dense) else np.tanh(h))
    np.testing.assert_allclose(model(x).numpy(), h, rtol=1e-4, atol=1e-5)


def test_lsuv_without_data_is_an_error_and_writes_nothing():
    model = tanh_mlp(depth=2, width=8)
    before = weights(model)
    with pytest.raises(initspec.SpecError) as err:
        initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, model)
    assert err.value.errors[0].code == "lsuv_needs_data" and weights(model) == before


class Residual(keras.Model):
    """A subclassed model: a residual block and a Python branch on the data."""

    def __init__(self, width: int = 32, fail_at: int | None = None):
        super().__init__()
        self.a = keras.layers.Dense(width, activation="tanh", name="a")
        self.b = keras.layers.Dense(width, name="b")
        self.c = keras.layers.Dense(width, activation="tanh", name="c")
        self.fail_at, self.calls = fail_at, 0

    def call(self, x):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise ValueError("the forward pass failed")
        h = self.a(x)
        if float(keras.ops.convert_to_numpy(keras.ops.sum(h))) > -1e9:  # eager Python control flow
            h = h + self.c(h)
        return self.b(h)


def test_a_subclassed_residual_model_is_fitted_in_call_order():
    model, x = Residual(), batch(64, 32)
    model(x)
    res = initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, model, data=x).lsuv
    assert [r.path for r in res.layers] == ["a", "c", "b"]
    h = np.tanh(x @ model.a.kernel.numpy() + model.a.bias.numpy())
    pre_c = h @ model.c.kernel.numpy() + model.c.bias.numpy()
    y = (h + np.tanh(pre_c)) @ model.b.kernel.numpy() + model.b.bias.numpy()
    assert abs(pre_c.var() - 1) <= 0.05 and abs(y.var() - 1) <= 0.05
    assert abs((x @ model.a.kernel.numpy() + model.a.bias.numpy()).var() - 1) <= 0.05


def test_a_failure_midway_restores_every_weight_when_transactional():
    model, x = Residual(), batch(64, 32)
    model(x)
    model.fail_at = model.calls + 2  # LSUV's first sweep fits every layer, the verifying one fails
    before = weights(model)
    with pytest.raises(ValueError, match="failed"):
        initspec.apply({"rules": SMALL, "lsuv": {}}, model, data=x, transactional=True)
    assert weights(model) == before
    assert all("call" not in vars(layer) for layer in (model.a, model.b, model.c))


def test_diagnose_tells_a_vanishing_tanh_mlp_from_a_healthy_one():
    bad = initspec.diagnose(tanh_mlp(), input_shape=(256, 64), plan={"rules": SMALL})
    good = initspec.diagnose(tanh_mlp(), input_shape=(256, 64), plan={"rules": ORTHO_TANH})
    assert bad.verdict == "vanishing" and good.verdict == "healthy", good.to_text()
    paths = [s.path for s in good.layers]
    assert paths[:4] == ["fc0", "fc0.activation", "fc1", "fc1.activation"] and len(paths) == 16
    assert [s.type for s in good.layers[:2]] == ["Dense", "tanh"]
    assert good.layers[1].saturated is not None
    assert all(s.backward is not None and s.backward > 0 for s in good.layers)


def test_diagnose_gradients_match_a_tape_at_one_layer():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow backend")
    model, x = tanh_mlp(depth=3, width=16, fused=False), batch(64, 16)
    d = initspec.diagnose(model, x, seed=2)
    assert [s.forward for s in d.layers[0::2]] == pytest.approx(dense_output_variances(model, x), rel=1e-5)
    g = np.random.default_rng([2, 1]).standard_normal((64, 16)).astype(np.float32)
    h = tf.constant(x @ model.layers[1].kernel.numpy() + model.layers[1].bias.numpy())
    with tf.GradientTape() as tape:
        tape.watch(h)
        out = h
        for layer in model.layers[2:]:
            out = layer(out)
        loss = tf.reduce_sum(out * g)
    expected = float(np.var(tape.gradient(loss, h).numpy().astype(np.float64)))
    assert d.layers[0].backward == pytest.approx(expected, rel=1e-4)
