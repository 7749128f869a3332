"""Plans on Keras 3 models (TensorFlow backend in this process; JAX and torch backends in a
subprocess): the walker (paths, kinds, roles, layouts, blocks), the writer (validation first,
per-row seeds, transactional restore under fault injection at every step), the table against
the drawn weights, ``base: keras-defaults`` against Keras' own fresh layers (two-sample at
n >= 65,536 per parameter), strictness, seeding, manifest and saving.  Seeds come from crc32
of a case id (``INITSPEC_SEED_SALT`` re-rolls them)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("scipy")

import initspec  # noqa: E402
from initspec import SpecError  # noqa: E402
from initspec.adapters.keras.model import walk, write  # noqa: E402
from initspec.plans import PlanWarning  # noqa: E402
from initspec.writer import fail_at  # noqa: E402
from initspec.testing import N_SAMPLES, check_samples, check_two_sample  # noqa: E402

import _shared  # noqa: E402
from _shared import assert_passes, assert_refused_before_any_draw  # noqa: E402
from _shared import assert_failing_store_restores, block_of, lstm_manifest_rows, seed_of  # noqa: E402

L = keras.layers
ops = keras.ops
#: Pooling small tensors over applies: at most this many applies per parameter (a guard on the
#: test models' sizes, so every random parameter reaches N_SAMPLES draws).
MAX_APPLIES = 64
applies_needed = partial(_shared.applies_needed, max_applies=MAX_APPLIES)

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="in-process Keras plan tests run on the TensorFlow backend")


@contextlib.contextmanager
def keras_seeded(seed: int):
    """Keras' own initializers draw their default seeds from Python ``random``:
    seed it (and NumPy, TF) for a reproducible fresh model, then put the
    Python and NumPy states back."""
    py, npst = random.getstate(), np.random.get_state()
    keras.utils.set_random_seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npst)


class TwoDense(keras.Model):
    """A subclassed model that calls Dense ``first`` then ``second`` (``(name, units)`` each,
    also its attribute); they are created (and tracked) in that order, or the other one with
    ``created_reversed``."""

    def __init__(self, name: str, first: tuple[str, int], second: tuple[str, int], *, created_reversed=False):
        super().__init__(name=name)
        self.order = (first[0], second[0])
        for layer, units in (second, first) if created_reversed else (first, second):
            setattr(self, layer, L.Dense(units, name=layer))

    def call(self, x):
        for layer in self.order:
            x = getattr(self, layer)(x)
        return x


def built(factory, case_id: str, count: int = 1) -> list:
    with keras_seeded(seed_of(case_id)):
        return [factory() for _ in range(count)]


def state_bytes(model) -> dict[str, bytes]:
    """Every variable (trainable or not, seed states included), as raw bytes."""
    out = {}
    for i, v in enumerate(model.variables):
        out[f"{i}:{v.path}"] = np.ascontiguousarray(ops.convert_to_numpy(v)).tobytes()
    return out


def row_value(row) -> np.ndarray:
    return block_of(ops.convert_to_numpy(row.param.handle.variable).copy(), row.block)


# ============================================================================ test models


def mlp():
    return keras.Sequential([keras.Input((64,)), L.Dense(1024, name="fc1"), L.Dense(256, name="fc2"),
                             L.Dense(256, name="head")], name="mlp")


def cnn():
    return keras.Sequential([keras.Input((8, 8, 8)), L.Conv2D(1024, 3, name="conv"), L.BatchNormalization(name="bn"),
                             L.DepthwiseConv2D(3, name="dw"), L.Conv2DTranspose(16, 4, name="up")], name="cnn")


def block(d=256, heads=8):
    """A pre-norm transformer block (functional)."""
    x = inp = keras.Input((16, d))
    h = L.LayerNormalization(name="ln1")(x)
    x = x + L.MultiHeadAttention(heads, d // heads, name="attn")(h, h)
    h = L.LayerNormalization(name="ln2")(x)
    h = L.Dense(4 * d, activation="gelu", name="fc1")(h)
    x = x + L.Dense(d, name="fc2")(h)
    return keras.Model(inp, x, name="block")


def lstm_model():
    return keras.Sequential([keras.Input((5,), dtype="int32"), L.Embedding(1024, 64, name="emb"),
                             L.LSTM(256, return_sequences=True, name="lstm"), L.GRU(256, name="gru"),
                             L.Dense(256, name="head")], name="rnn")


PLANS = _shared.named_layer_plans("keras-defaults", "LSTM")
MLP_PLAN, CNN_PLAN, BLOCK_PLAN, LSTM_PLAN = (PLANS[a] for a in ("mlp", "cnn", "block", "lstm"))
MODELS = {"mlp": (mlp, MLP_PLAN), "cnn": (cnn, CNN_PLAN), "block": (block, BLOCK_PLAN),
          "lstm": (lstm_model, LSTM_PLAN)}


# ============================================================================ walker


def test_walker_reports_layers_roles_and_layouts():
    model = keras.Sequential([
        keras.Input((6, 6, 8)), L.Conv2D(12, 3, groups=2, name="conv"), L.Conv2D(24, 1, groups=12, name="gdw"),
        L.DepthwiseConv2D(3, depth_multiplier=2, name="dw"), L.SeparableConv2D(5, 1, depth_multiplier=3, name="sep"),
        L.Conv2DTranspose(4, 2, name="up"), L.BatchNormalization(name="bn"), L.GroupNormalization(2, name="gn"),
        L.Flatten(), L.Dense(16, name="fc"), L.Reshape((4, 4)), L.RMSNormalization(name="rms"),
        L.LayerNormalization(name="ln"), L.PReLU(name="act")], name="zoo")
    infos = {p.native_path: p for p in walk(model)}
    assert not any("moving" in k for k in infos)  # BatchNorm statistics are not parameters
    conv = infos["zoo/conv/kernel"]
    assert (conv.path, conv.kind, conv.role, conv.type, conv.shape) == ("conv.weight", "conv", "weight", "Conv2D",
                                                                        (3, 3, 4, 12))
    assert infos["zoo/conv/bias"].layer_fans.fan_in == 36 and infos["zoo/conv/bias"].layer_native_fans.fan_in == 36
    assert infos["zoo/gdw/kernel"].kind == "depthwise_conv"  # groups == input channels, as torch's Conv2d
    dw = infos["zoo/dw/kernel"]  # (3, 3, 24, 2): real fans per channel, Keras' conv heuristic natively
    assert dw.kind == "depthwise_conv" and dw.shape == (3, 3, 24, 2)
    assert (dw.layer_fans.fan_in, dw.layer_fans.fan_out) == (9, 9 * 24 * 2)
    assert (dw.layer_native_fans.fan_in, dw.layer_native_fans.fan_out) == (9 * 24, 18)
    sep = {k.rsplit("/", 1)[-1]: v for k, v in infos.items() if k.startswith("zoo/sep/")}
    assert (sep["depthwise_kernel"].path, sep["depthwise_kernel"].kind) == ("sep.depthwise_kernel", "depthwise_conv")
    assert (sep["pointwise_kernel"].path, sep["pointwise_kernel"].kind) == ("sep.pointwise_kernel", "conv")
    assert sep["bias"].layer_fans.fan_in == 144  # the pointwise kernel (1, 1, 48 * 3, 5)
    up = infos["zoo/up/kernel"]  # (2, 2, filters=4, in=5)
    assert up.kind == "conv_transpose" and up.shape == (2, 2, 4, 5)
    assert (up.layer_fans.fan_in, up.layer_native_fans.fan_in) == (4 * 5, 4 * 4)
    for name in ("bn", "gn", "ln"):
        assert (infos[f"zoo/{name}/gamma"].path, infos[f"zoo/{name}/gamma"].role) == (f"{name}.scale", "scale")
        assert (infos[f"zoo/{name}/beta"].path, infos[f"zoo/{name}/beta"].role) == (f"{name}.offset", "offset")
    assert (infos["zoo/rms/scale"].kind, infos["zoo/rms/scale"].role) == ("norm", "scale")
    assert (infos["zoo/act/alpha"].kind, infos["zoo/act/alpha"].role, infos["zoo/act/alpha"].type) == (
        "other", "other", "PReLU")
    assert infos["zoo/fc/kernel"].layout == "keras" and infos["zoo/fc/bias"].layout == "jax"  # no real 1-D fans


def test_walker_recurrent_and_attention_blocks():
    x = inp = keras.Input((7, 12))
    x = L.MultiHeadAttention(3, 4, name="attn")(x, x)
    x = L.Bidirectional(L.LSTM(8, return_sequences=True), name="bi")(x)
    x = L.GRU(5, return_sequences=True, name="gru")(x)
    x = L.GRU(6, reset_after=False, return_sequences=True, name="gru_v1")(x)
    x = L.RNN(L.LSTMCell(4), name="cells")(x)
    model = keras.Model(inp, x, name="m")
    infos = {p.path: p for p in walk(model)}
    q, o = infos["attn.query.weight"], infos["attn.attention_output.weight"]
    assert (q.kind, q.shape, q.layer_fans.fan_in, q.layer_fans.fan_out) == ("attention", (12, 3, 4), 12, 12)
    assert (o.shape, o.layer_fans.fan_in, o.layer_fans.fan_out) == ((3, 4, 12), 12, 12)
    assert q.native_layout == q.layout  # Keras >= 3.15 hands the einsum's axes to VarianceScaling
    assert infos["attn.query.bias"].shape == (3, 4) and infos["attn.query.bias"].role == "bias"
    w = infos["bi.forward_lstm.recurrent_weight"]  # the cell is not a path component
    assert (w.role, w.shape, w.hidden_size, w.type) == ("recurrent_weight", (8, 32), 8, "LSTM")
    assert [(b.name, b.axis, b.start, b.stop) for b in w.blocks] == [
        ("i", 1, 0, 8), ("f", 1, 8, 16), ("g", 1, 16, 24), ("o", 1, 24, 32)]
    assert infos["bi.backward_lstm.weight"].shape == (12, 32)
    gb = infos["gru.bias"]  # reset_after: (2, 3U), gates along axis 1
    assert gb.shape == (2, 15) and [(b.name, b.axis, b.stop - b.start) for b in gb.blocks] == [
        ("z", 1, 5), ("r", 1, 5), ("n", 1, 5)]
    assert infos["gru_v1.bias"].shape == (18,) and [b.name for b in infos["gru_v1.bias"].blocks] == ["z", "r", "n"]
    assert infos["cells.weight"].type == "LSTMCell"  # generic RNN: the cell's type
    assert infos["attn.query.weight"].native_path == "attn/query/kernel"


def test_paths_do_not_depend_on_how_the_model_is_written():
    seq = keras.Sequential([keras.Input((8,)), L.Dense(4, name="fc1"), L.Dense(2, name="head")], name="a")
    inp = keras.Input((8,))
    func = keras.Model(inp, L.Dense(2, name="head")(L.Dense(4, name="fc1")(inp)), name="b")
    sub = TwoDense("c", ("fc1", 4), ("head", 2))
    sub(np.zeros((1, 8), np.float32))
    paths = [[p.path for p in walk(m)] for m in (seq, func, sub)]
    assert paths[0] == paths[1] == paths[2] == ["fc1.weight", "fc1.bias", "head.weight", "head.bias"]
    # variable.path holds the model's name in Sequential/subclassed models, not in functional ones
    assert [p.native_path for p in walk(seq)][0] == "a/fc1/kernel"
    assert [p.native_path for p in walk(func)][0] == "fc1/kernel"


def test_shared_and_frozen_layers_and_nesting():
    shared = L.Dense(8, name="shared")
    enc = keras.Sequential([keras.Input((8,)), shared, L.Dense(8, name="proj")], name="enc")
    dec = keras.Sequential([keras.Input((8,)), shared], name="dec")
    inp = keras.Input((8,))
    model = keras.Model(inp, dec(enc(inp)), name="ae")
    enc.get_layer("proj").trainable = False  # frozen: still a parameter to initialize
    infos = walk(model)
    paths = [p.path for p in infos]
    assert paths == ["enc.shared.weight", "enc.shared.bias", "enc.proj.weight", "enc.proj.bias"]
    assert infos[0].aliases == ("dec.shared.weight",)
    t = initspec.plan({"base": "keras-defaults"}, model)
    assert len(t.rows) == 4


def test_unbuilt_and_unsupported_models_are_errors():
    with pytest.raises(SpecError) as e:
        walk(keras.Sequential([L.Dense(3, name="fc")]))
    assert e.value.errors[0].code == "uninitialized_parameter" and "keras.Input" in str(e.value)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="s")
            self.fc, self.spare, self.flat = L.Dense(3, name="fc"), L.Dense(3, name="spare"), L.Flatten(name="flat")

        def call(self, x):
            return self.fc(x)  # spare and flat are never called, so never built

    sub = Sub()
    with pytest.warns(UserWarning, match="unbuilt state"):  # Keras marks the model built anyway
        sub(np.zeros((1, 4), np.float32))
    with pytest.raises(SpecError) as e:
        walk(sub)
    assert "spare" in str(e.value) and "flat" not in str(e.value)  # an unbuilt Flatten owns no weights
    with pytest.raises(SpecError) as e:
        walk({"fc": np.zeros(3)})
    assert e.value.errors[0].code == "unsupported_model"


# ============================================================================ table vs drawn weights


@pytest.mark.parametrize("name", list(MODELS))
def test_applied_weights_follow_the_table(name):
    _shared.assert_model_draws_follow_the_table(MODELS, name, built, row_value, max_applies=MAX_APPLIES)


def test_table_reads_real_and_native_fans():
    t = initspec.plan(CNN_PLAN, built(cnn, "fans")[0])
    assert t.row("conv.weight").distribution.std == pytest.approx(math.sqrt(2 / (1024 * 9)))  # he fan_out
    up = t.row("up.weight")  # (4, 4, 16, 1024): real fan_in counts the 1024 input channels
    assert up.fans.fan_in == 1024 * 16 and up.fans_from == "layer"
    dw = t.row("dw.weight")  # (3, 3, 1024, 1): real fan_in = 9
    assert dw.distribution.high == pytest.approx(math.sqrt(6 / 9))
    native = initspec.plan({"base": "keras-defaults", "rules": [
        {"match": {"path": "up.weight"}, "init": {"scheme": "he", "distribution": "normal"}, "fans": "native"}]},
        built(cnn, "fans")[0])
    assert native.row("up.weight").fans.fan_in == 16 * 16  # Keras' reading: (*k, filters, in) as (*k, in, out)
    t = initspec.plan(BLOCK_PLAN, built(block, "fans")[0])
    q = t.row("attn.query.weight")
    assert q.shape == (256, 8, 32) and q.distribution.high == pytest.approx(math.sqrt(6 / 512))
    assert t.row("attn.value.weight").distribution.std == 0.02


def test_lstm_gate_blocks_get_their_own_rules():
    model = built(lstm_model, "gates")[0]
    initspec.apply(LSTM_PLAN, model)
    cell = model.get_layer("lstm").cell
    b = ops.convert_to_numpy(cell.bias)
    assert np.all(b[256:512] == 1) and np.all(b[:256] == 0) and np.all(b[512:] == 0)
    w = ops.convert_to_numpy(cell.recurrent_kernel).astype(np.float64)
    for g in range(4):  # one orthogonal matrix per gate (the plan does not fuse them)
        q = w[:, g * 256:(g + 1) * 256]
        assert np.allclose(q.T @ q, np.eye(256), atol=1e-4)
    gb = ops.convert_to_numpy(model.get_layer("gru").cell.bias)
    assert gb.shape == (2, 768) and np.all(gb == 0)


# ============================================================================ keras-defaults vs Keras


def _defaults_cases():
    seq = keras.Sequential
    return {
        "Dense": lambda: seq([keras.Input((64,)), L.Dense(1024)]),
        "Conv2D": lambda: seq([keras.Input((5, 5, 8)), L.Conv2D(1024, 3)]),
        "Conv2DTranspose": lambda: seq([keras.Input((5, 5, 8)), L.Conv2DTranspose(1024, 3)]),
        "DepthwiseConv2D": lambda: seq([keras.Input((5, 5, 1024)), L.DepthwiseConv2D(3, depth_multiplier=8)]),
        "SeparableConv2D": lambda: seq([keras.Input((5, 5, 128)), L.SeparableConv2D(64, 3, depth_multiplier=8)]),
        "Embedding": lambda: seq([keras.Input((3,), dtype="int32"), L.Embedding(1024, 64)]),
        "LayerNormalization": lambda: seq([keras.Input((64,)), L.LayerNormalization()]),
        "BatchNormalization": lambda: seq([keras.Input((64,)), L.BatchNormalization()]),
        "LSTM": lambda: seq([keras.Input((3, 16)), L.LSTM(256)]),
        "GRU": lambda: seq([keras.Input((3, 16)), L.GRU(256)]),
        "SimpleRNN": lambda: seq([keras.Input((3, 32)), L.SimpleRNN(512)]),
        "MultiHeadAttention": lambda: _mha(),
        "Conv1D": lambda: seq([keras.Input((5, 24)), L.Conv1D(1024, 3)]),
        "GroupNormalization": lambda: seq([keras.Input((64,)), L.GroupNormalization(8)]),
        "RMSNormalization": lambda: seq([keras.Input((64,)), L.RMSNormalization()]),
        "PReLU": lambda: seq([keras.Input((64,)), L.PReLU()]),
        "GRU_reset_before": lambda: seq([keras.Input((3, 32)), L.GRU(256, reset_after=False)]),
        "Bidirectional_LSTM": lambda: seq([keras.Input((3, 16)), L.Bidirectional(L.LSTM(256))]),
        "ConvLSTM2D": lambda: seq([keras.Input((2, 5, 5, 8)), L.ConvLSTM2D(64, 3)]),
    }


def _mha():
    x = keras.Input((4, 256))
    return keras.Model(x, L.MultiHeadAttention(8, 32)(x, x))


def _values(row) -> np.ndarray:
    return ops.convert_to_numpy(row.param.handle.variable).copy()


@pytest.mark.parametrize("case", list(_defaults_cases()))
def test_keras_defaults_reproduce_keras(case):
    """``base: keras-defaults`` on fresh Keras layers draws what Keras itself draws:
    per parameter, Keras' own values (pooled over fresh models) against ours (pooled over
    seeds), two-sample at n >= 65,536; constants exactly; and Keras' values follow the
    table's law (check_samples)."""
    factory = _defaults_cases()[case]
    probe = factory()
    table = initspec.plan({"base": "keras-defaults"}, probe)
    assert {r.param.native_path for r in table} == {v.path for v in probe.trainable_variables}
    k = [applies_needed(math.prod(r.param.shape)) if r.distribution.random else 1 for r in table]
    models = built(factory, f"defaults-{case}", max(k))
    # rows by position: each fresh model has its own auto-generated layer names
    rows = [initspec.plan({"base": "keras-defaults"}, m).rows for m in models]
    theirs = [[row_value(rows[i][j]) for i in range(k[j])] for j in range(len(table))]
    for i, m in enumerate(models):
        initspec.apply({"base": "keras-defaults"}, m, seed=seed_of(f"defaults-{case}") + i)
    ours = [[row_value(rows[i][j]) for i in range(k[j])] for j in range(len(table))]
    for j, r in enumerate(table):
        t, o = theirs[j], ours[j]
        where = f"{case}: {r.param.native_path} ({r.rule}, {r.distribution.describe()})"
        if not r.distribution.random:
            assert all(np.array_equal(a, b) for a, b in zip(t, o)), where
            continue
        assert sum(a.size for a in t) >= N_SAMPLES
        assert_passes(check_two_sample(o, t, context=where))
        assert_passes(check_samples(t, r.distribution, context="Keras' own " + where))


def test_keras_defaults_lstm_forget_bias_is_ones_in_keras_too():
    model = built(_defaults_cases()["LSTM"], "forget")[0]
    b = ops.convert_to_numpy(model.layers[-1].cell.bias)  # Keras' own: i 0, f 1, c 0, o 0
    assert np.all(b[256:512] == 1) and np.all(b[:256] == 0) and np.all(b[512:] == 0)
    t = initspec.plan({"base": "keras-defaults"}, model)
    name = model.layers[-1].name
    laws = {r.block.name: r.distribution.describe() for r in t if r.param.role == "bias"}
    assert laws == {"i": "constant 0", "f": "constant 1", "g": "constant 0", "o": "constant 0"}
    assert t.row(f"{name}.bias[f]").rule.endswith("(LSTM forget-gate bias (unit_forget_bias=True))")


# ============================================================================ strictness


def test_strict_errors_name_what_to_fix_and_change_nothing():
    model = keras.Sequential([keras.Input((6, 6, 3)), L.Conv2D(8, 3, name="conv"), L.Flatten(),
                              L.Dense(4, name="fc")], name="net")
    _shared.assert_strict_errors_name_what_to_fix(model, lambda: state_bytes(model), conv="conv", fc="fc")
    # with Keras' reading of a bias (fans (n, n)) the same spec resolves
    with pytest.warns(PlanWarning, match="not covered"):
        ok = initspec.plan({"rules": [{"match": {"path": "fc.bias"}, "init": {"scheme": "he", "distribution": "normal"},
                                       "fans": "native"}]}, model, strict=False)
    assert ok.row("fc.bias").distribution.std == pytest.approx(math.sqrt(2 / 4))


def test_non_strict_warns_and_leaves_uncovered_parameters_alone():
    model = built(mlp, "nonstrict")[0]
    before = state_bytes(model)
    _shared.apply_weights_only_non_strict(model)
    after = state_bytes(model)
    bias = next(k for k in after if k.endswith("fc1/bias"))
    kernel = next(k for k in after if k.endswith("fc1/kernel"))
    assert after[bias] == before[bias] and after[kernel] != before[kernel]


def test_validation_happens_before_any_draw():
    class WithCounter(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(4, 4), name="kernel")
            self.steps = self.add_weight(shape=(3,), name="steps", dtype="int32", initializer="zeros")

        def call(self, x):
            return x

    inp = keras.Input((4,))
    model = keras.Model(inp, WithCounter(name="z")(L.Dense(4, name="fc")(inp)), name="v")
    plan = assert_refused_before_any_draw(model, state_bytes, "z.steps")
    with pytest.raises(SpecError) as e:  # the dry run shows it too (issue 13: the table checks dtypes)
        initspec.plan(plan, model)
    assert e.value.errors[0].code == "unsupported_dtype" and "z.steps" in str(e.value)
    rows = initspec.plan({"rules": [{"match": {}, "init": {"scheme": "zeros"}}]}, model).rows
    with pytest.raises(SpecError) as e:
        write(model, [initspec.plan(plan, {"w": np.zeros((2, 2))}).rows[0]])
    assert e.value.errors[0].code == "wrong_backend"
    assert len(rows) == 4


# ============================================================================ transactions


def _fault_model():
    return built(lstm_model, "faults")[0]


def _row_values(model, plan=LSTM_PLAN):
    return {r.path: row_value(r) for r in initspec.plan(plan, model)}


@pytest.mark.parametrize("transactional", [False, True])
def test_fault_at_every_checkpoint(transactional, fault_sweep):
    """A failure before any draw: with transactional=True every variable is byte-identical
    afterwards; by default exactly the rows before the failure changed."""
    steps = fault_sweep(LSTM_PLAN, _fault_model, state_bytes=state_bytes, row_values=_row_values,
                        equal=np.array_equal, transactional=transactional)
    table = initspec.plan(LSTM_PLAN, _fault_model())
    assert steps == [("draw", r.path) for r in table.rows]  # one checkpoint per row, in plan order


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_at_every_draw_changes_nothing(exc):
    """transactional=True: an exception or a Ctrl-C before any row's draw restores every
    variable already drawn into (gate blocks of one variable included)."""
    model = _fault_model()

    def failing(k):
        with pytest.raises(exc):
            initspec.apply(LSTM_PLAN, model, seed=5, transactional=True, checkpoint=fail_at(k, exc))

    _shared.assert_every_failure_restores(model, state_bytes, len(initspec.plan(LSTM_PLAN, model).rows), failing,
                                          lambda: initspec.apply(LSTM_PLAN, model, seed=5, transactional=True))


def test_failing_assign_restores_the_variables_already_assigned(monkeypatch):
    """A failure inside the commit (an assign that raises half-way through the variables)."""
    model = _fault_model()
    variables = [r.param.handle.variable for r in initspec.plan(LSTM_PLAN, model)]
    assert_failing_store_restores(monkeypatch, LSTM_PLAN, model, state_bytes, variables, "assign")


# ============================================================================ seeding


def test_seeding_is_per_path_not_order_and_reapply_is_identical():
    a = TwoDense("f", ("fc1", 64), ("fc2", 32))
    b = TwoDense("r", ("fc1", 64), ("fc2", 32), created_reversed=True)  # the same architecture, other creation order
    for m in (a, b):
        m(np.zeros((1, 16), np.float32))
    assert [p.path for p in walk(a)] != [p.path for p in walk(b)]  # other walk order
    plan = {"seed": 7, "base": "keras-defaults"}
    py, npst = random.getstate(), np.random.get_state()
    initspec.apply(plan, a)
    initspec.apply(plan, b)
    assert random.getstate() == py and np.array_equal(np.random.get_state()[1], npst[1])  # no global RNG read

    def by_path(m):
        return {r.path: row_value(r).tobytes() for r in initspec.plan(plan, m)}

    sa = by_path(a)
    assert sa == by_path(b)
    initspec.apply(plan, a)
    assert by_path(a) == sa  # re-apply: bit-identical
    initspec.apply(plan, a, seed=99)
    assert by_path(a)["fc1.weight"] != sa["fc1.weight"]


# ============================================================================ manifest and saving


def test_manifest_json(tmp_path):
    _, rows = lstm_manifest_rows(LSTM_PLAN, built(lstm_model, "manifest")[0], tmp_path, "keras",
                                 forget_bias="lstm.bias", recurrent=("lstm.recurrent_weight", "g"),
                                 embedding="rnn/emb/embeddings")
    gb = rows[("gru.bias", "r")]
    assert gb["shape"] == [2, 256] and gb["block_slice"] == {"axis": 1, "start": 256, "stop": 512}


def test_saved_model_loads_back_with_the_applied_weights(tmp_path):
    model = built(block, "save")[0]
    initspec.apply(BLOCK_PLAN, model)
    path = tmp_path / "block.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    a = [ops.convert_to_numpy(v) for v in model.weights]
    b = [ops.convert_to_numpy(v) for v in loaded.weights]
    assert len(a) == len(b) and all(x.tobytes() == y.tobytes() for x, y in zip(a, b))
    t = initspec.plan(BLOCK_PLAN, loaded)  # the loaded model walks to the same paths
    assert [r.path for r in t] == [r.path for r in initspec.plan(BLOCK_PLAN, model)]


def test_importing_the_model_module_imports_no_keras():
    code = "import sys, initspec.adapters.keras.model; print(sorted({'keras', 'tensorflow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"


# ============================================================================ other Keras backends

BACKEND_SCRIPT = r'''
import json, os, sys
backend = os.environ["KERAS_BACKEND"]
if backend == "torch":
    import torch
import numpy as np
import keras
import initspec
from initspec.testing import check_samples
from initspec.writer import fail_at

L, ops = keras.layers, keras.ops
out = {"backend": keras.backend.backend(), "failures": []}
plan = json.loads(sys.argv[1])


def model():
    return keras.Sequential([keras.Input((5, 64)), L.LSTM(256, return_sequences=True, name="lstm"),
                             L.Dense(256, name="head")], name="m")


def state(m):
    return [np.ascontiguousarray(ops.convert_to_numpy(v)).tobytes() for v in m.variables]


m = model()
man = initspec.apply(plan, m, seed=11)
for r in man.table:
    v = ops.convert_to_numpy(r.param.handle.variable)
    if r.block is not None:
        idx = [slice(None)] * v.ndim
        idx[r.block.axis] = slice(r.block.start, r.block.stop)
        v = v[tuple(idx)]
    if r.distribution.random and v.size >= 65536:
        res = check_samples(v, r.distribution)
        if not res.passed:
            out["failures"].append(res.report())
    elif not r.distribution.random and not np.all(v == r.distribution.mean):
        out["failures"].append(f"{r.path}: not {r.distribution.describe()}")
before = state(m)
initspec.apply(plan, m, seed=11)
if state(m) != before:
    out["failures"].append("re-apply is not bit-identical")
steps = []
initspec.apply(plan, model(), seed=12, transactional=True, checkpoint=lambda stage, path: steps.append(stage))
out["steps"] = len(steps)
for k in range(len(steps)):
    try:
        initspec.apply(plan, m, seed=12, transactional=True, checkpoint=fail_at(k))
        out["failures"].append(f"step {k}: no fault")
    except RuntimeError:
        pass
    if state(m) != before:
        out["failures"].append(f"step {k}: weights changed")
initspec.apply(plan, m, seed=12, transactional=True)
out["changed"] = state(m) != before
print("INITSPEC_RESULT " + json.dumps(out))
'''


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_plans_on_other_keras_backends(backend):
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT, json.dumps(LSTM_PLAN | {"rules": LSTM_PLAN["rules"][1:]})],
                         capture_output=True, text=True, env=env, timeout=600)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("INITSPEC_RESULT ")), None)
    assert line is not None, res.stdout[-2000:] + res.stderr[-4000:]
    out = json.loads(line.split(" ", 1)[1])
    assert out["backend"] == backend
    assert out["failures"] == []
    assert out["steps"] == 14 and out["changed"]  # one draw per row: 4 + 4 + 4 gate blocks, head weight and bias
