"""LSUV as data and diagnostics on real Flax models (adapters/jax/signal.py): linen through
``Linen(module, variables, x)`` (a new variables tree comes back) and nnx modules (written
in place), tanh MLPs and a residual block.  Variances LSUV claims are measured again here."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")
jnp = jax.numpy

import initspec  # noqa: E402
from initspec.adapters.jax import Linen  # noqa: E402

from _shared import ORTHO_TANH, SMALL  # noqa: E402


class LinenMLP(nn.Module):
    depth: int = 8
    width: int = 64

    @nn.compact
    def __call__(self, x):
        for i in range(self.depth):
            x = nn.tanh(nn.Dense(self.width, name=f"fc{i}")(x))
        return x


class NnxMLP(nnx.Module):
    def __init__(self, depth: int = 8, width: int = 64, seed: int = 0):
        rngs = nnx.Rngs(seed)
        self.layers = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(depth)])

    def __call__(self, x):
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return x


class NnxResidual(nnx.Module):
    def __init__(self, width: int = 32, blocks: int = 3):
        rngs = nnx.Rngs(1)
        self.inner = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(blocks)])
        self.outer = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(blocks)])

    def __call__(self, x):
        for a, b in zip(self.inner, self.outer):
            x = x + b(jnp.tanh(a(x)))
        return x


def batch(*shape: int, seed: int = 0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def tree_variances(params, x, depth):
    h, out = np.asarray(x, np.float64), []
    for i in range(depth):
        y = h @ np.asarray(params[f"fc{i}"]["kernel"], np.float64) + np.asarray(params[f"fc{i}"]["bias"])
        out.append(float(y.var()))
        h = np.tanh(y)
    return out


def nnx_variances(model, x):
    h, out = np.asarray(x, np.float64), []
    for layer in model.layers:
        y = h @ np.asarray(layer.kernel.get_value(), np.float64) + np.asarray(layer.bias.get_value())
        out.append(float(y.var()))
        h = np.tanh(y)
    return out


def test_linen_lsuv_returns_a_new_tree_with_every_layer_at_unit_variance():
    x = batch(256, 64)
    module = LinenMLP()
    variables = module.init(jax.random.key(0), x)
    original = jax.tree_util.tree_map(np.asarray, variables)
    manifest = initspec.apply({"rules": ORTHO_TANH, "lsuv": {"tol": 0.05}}, Linen(module, variables, x), data=x)
    new = manifest.params
    assert all(abs(v - 1) <= 0.05 for v in tree_variances(new["params"], x, 8))
    assert [r.path for r in manifest.lsuv.layers] == [f"fc{i}" for i in range(8)] and manifest.lsuv.passes == 2
    same = jax.tree_util.tree_map(lambda a, b: np.array_equal(np.asarray(a), b), variables, original)
    assert all(jax.tree_util.tree_leaves(same))  # the input tree is untouched
    module.apply(new, x)  # and the new one is a valid variables tree


def test_bare_variables_have_no_forward_pass():
    x = batch(8, 16)
    variables = LinenMLP(depth=2, width=16).init(jax.random.key(0), x)
    with pytest.raises(initspec.SpecError) as err:
        initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, variables, data=x)
    assert err.value.errors[0].code == "lsuv_unsupported" and "Linen(" in str(err.value)
    with pytest.raises(initspec.SpecError) as err:
        initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, Linen(LinenMLP(depth=2, width=16), variables, x))
    assert err.value.errors[0].code == "lsuv_needs_data"


def test_nnx_lsuv_writes_in_place():
    model, x = NnxMLP(), batch(256, 64, seed=1)
    original_call = nnx.Linear.__dict__["__call__"]
    res = initspec.apply({"rules": ORTHO_TANH, "lsuv": {"tol": 0.05}}, model, data=x).lsuv
    assert [r.path for r in res.layers] == [f"layers.{i}" for i in range(8)]
    assert all(abs(v - 1) <= 0.05 for v in nnx_variances(model, x))
    assert nnx.Linear.__dict__["__call__"] is original_call  # the class got its own __call__ back


def test_nnx_without_data_and_a_failure_midway_leave_the_weights():
    model, x = NnxMLP(depth=3, width=16), batch(32, 16)
    before = [np.asarray(layer.kernel.get_value()).tobytes() for layer in model.layers]
    with pytest.raises(initspec.SpecError):
        initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, model)
    from initspec.writer import fail_at

    steps = []
    initspec.apply({"rules": SMALL, "lsuv": {}}, NnxMLP(depth=3, width=16), data=x,
                   checkpoint=lambda stage, path: steps.append(stage))
    for k in range(len(steps)):
        with pytest.raises(RuntimeError, match="injected"):
            initspec.apply({"rules": SMALL, "lsuv": {}}, model, data=x, transactional=True, checkpoint=fail_at(k))
        assert [np.asarray(layer.kernel.get_value()).tobytes() for layer in model.layers] == before, k


@pytest.mark.parametrize("form", ["linen", "nnx"])
def test_diagnose_tells_a_vanishing_tanh_mlp_from_a_healthy_one(form):
    x = batch(256, 64)

    def make():
        if form == "nnx":
            return NnxMLP()
        module = LinenMLP()
        return Linen(module, module.init(jax.random.key(0), x), x)

    bad = initspec.diagnose(make(), x, plan={"rules": SMALL})
    good = initspec.diagnose(make(), x, plan={"rules": ORTHO_TANH})
    assert bad.verdict == "vanishing" and good.verdict == "healthy", good.to_text()
    prefix = "fc" if form == "linen" else "layers."
    assert [s.path for s in good.layers] == [f"{prefix}{i}" for i in range(8)]
    assert all(s.backward is not None and s.backward > 0 for s in good.layers)


def test_diagnose_gradients_match_jax_grad_on_a_residual_nnx_model():
    model, x = NnxResidual(), batch(64, 32)
    original_call = nnx.Linear.__dict__["__call__"]
    d = initspec.diagnose(model, x, seed=4)
    assert nnx.Linear.__dict__["__call__"] is original_call
    assert [s.path for s in d.layers] == ["inner.0", "outer.0", "inner.1", "outer.1", "inner.2", "outer.2"]
    g = jnp.asarray(np.random.default_rng([4, 1]).standard_normal((64, 32)).astype(np.float32))
    a0, b0 = model.inner[0], model.outer[0]
    y0 = a0(x)

    def rest(y):  # the model from inner.0's output on
        h = x + b0(jnp.tanh(y))
        for a, b in zip(list(model.inner)[1:], list(model.outer)[1:]):
            h = h + b(jnp.tanh(a(h)))
        return jnp.sum(h * g)

    expected = float(np.var(np.asarray(jax.grad(rest)(y0), np.float64)))
    assert d.layers[0].backward == pytest.approx(expected, rel=1e-4)
    assert d.layers[0].forward == pytest.approx(float(np.var(np.asarray(y0, np.float64))), rel=1e-5)
