"""Plans on JAX/Flax models: linen variables (inferred kinds), the precise ``Linen`` wrapper
and ``flax.nnx`` modules.  The walker (paths, kinds, roles, layouts, blocks), the writer
(validation first, per-row keys, a new tree for linen - the input never modified - and
in-place nnx writes with a transactional restore under fault injection at every step), the
table against the drawn weights, ``base: flax-defaults`` against Flax's own fresh init
(two-sample at n >= 65,536 per parameter), strictness, seeding and the manifest.  Seeds
come from crc32 of a case id (``INITSPEC_SEED_SALT`` re-rolls them)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("scipy")

import flax.linen as nn  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402
from flax.core import FrozenDict  # noqa: E402

import initspec  # noqa: E402
from initspec import SpecError  # noqa: E402
from initspec import writer  # noqa: E402
from initspec.adapters import jax as isj  # noqa: E402
from initspec.adapters.jax.model import walk, write  # noqa: E402
from initspec.testing import N_SAMPLES, check_samples, check_two_sample  # noqa: E402

import _shared  # noqa: E402
from _shared import assert_draws_follow_the_table, assert_passes, assert_refused_before_any_draw  # noqa: E402
from _shared import assert_failing_store_restores, block_of, lstm_manifest_rows, seed_of  # noqa: E402

#: Pooling small tensors over applies: at most this many applies per parameter (a guard on the
#: test models' sizes, so every random parameter reaches N_SAMPLES draws).
MAX_APPLIES = 64
applies_needed = partial(_shared.applies_needed, max_applies=MAX_APPLIES)


def _lookup(tree, keys):
    for k in keys:
        tree = tree[k]
    return tree.unbox() if hasattr(tree, "unbox") else tree


def row_value(row, result=None) -> np.ndarray:
    """The row's values: from ``result`` (a variables tree) or the live nnx Param."""
    h = row.param.handle
    return block_of(np.array(h.param.get_value() if hasattr(h, "param") else _lookup(result, h.keys)), row.block)


def tree_bytes(tree) -> dict[str, bytes]:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return {jax.tree_util.keystr(p): np.asarray(v).tobytes() + str(np.asarray(v).dtype).encode() for p, v in leaves}


def nnx_bytes(model) -> dict[str, bytes]:
    """Every variable of an nnx module (Params, BatchStats, RNG state ...) as raw bytes."""
    state = nnx.state(model)
    return {jax.tree_util.keystr(p): np.asarray(jax.random.key_data(v) if jnp.issubdtype(v.dtype, jax.dtypes.prng_key)
                                                 else v).tobytes()
            for p, v in jax.tree_util.tree_leaves_with_path(state)}


# ============================================================================ test models
# Each architecture in linen (a module and its example input) and nnx (a factory), with the
# same module names, so the same plan applies to both.


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Dense(1024, name="fc1")(x)
        x = nn.Dense(256, name="fc2")(x)
        return nn.Dense(256, name="head")(x)


class NnxMLP(nnx.Module):
    def __init__(self, rngs):
        self.fc1, self.fc2, self.head = (nnx.Linear(64, 1024, rngs=rngs), nnx.Linear(1024, 256, rngs=rngs),
                                         nnx.Linear(256, 256, rngs=rngs))


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(1024, (3, 3), name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, name="bn")(x)
        x = nn.Conv(1024, (3, 3), feature_group_count=1024, name="dw")(x)
        return nn.ConvTranspose(16, (4, 4), name="up")(x)


class NnxCNN(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(8, 1024, (3, 3), rngs=rngs)
        self.bn = nnx.BatchNorm(1024, rngs=rngs)
        self.dw = nnx.Conv(1024, 1024, (3, 3), feature_group_count=1024, rngs=rngs)
        self.up = nnx.ConvTranspose(1024, 16, (4, 4), rngs=rngs)


D, HEADS = 256, 8


class Block(nn.Module):
    """A pre-norm transformer block."""

    @nn.compact
    def __call__(self, x):
        h = nn.LayerNorm(name="ln1")(x)
        x = x + nn.MultiHeadDotProductAttention(num_heads=HEADS, name="attn")(h, h)
        h = nn.LayerNorm(name="ln2")(x)
        return x + nn.Dense(D, name="fc2")(nn.gelu(nn.Dense(4 * D, name="fc1")(h)))


class NnxBlock(nnx.Module):
    def __init__(self, rngs):
        self.ln1, self.ln2 = nnx.LayerNorm(D, rngs=rngs), nnx.LayerNorm(D, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=HEADS, in_features=D, decode=False, rngs=rngs)
        self.fc1, self.fc2 = nnx.Linear(D, 4 * D, rngs=rngs), nnx.Linear(4 * D, D, rngs=rngs)


class RNNModel(nn.Module):
    """Embed -> LSTM -> GRU -> Dense; linen cells keep one Dense per gate."""

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(1024, 64, name="emb")(tokens)
        x = nn.RNN(nn.LSTMCell(256, name="lstm"))(x)
        x = nn.RNN(nn.GRUCell(256, name="gru"))(x)
        return nn.Dense(256, name="head")(x)


class NnxRNN(nnx.Module):
    """nnx: a per-gate LSTMCell, a fused GRUCell and a fused OptimizedLSTMCell."""

    def __init__(self, rngs):
        self.emb = nnx.Embed(1024, 64, rngs=rngs)
        self.lstm = nnx.LSTMCell(64, 256, rngs=rngs)
        self.gru = nnx.GRUCell(256, 256, rngs=rngs)
        self.opt = nnx.OptimizedLSTMCell(256, 256, rngs=rngs)
        self.head = nnx.Linear(256, 256, rngs=rngs)


INPUTS = {"mlp": jnp.zeros((1, 64)), "cnn": jnp.zeros((1, 8, 8, 8)), "block": jnp.zeros((1, 16, D)),
          "lstm": jnp.zeros((1, 5), jnp.int32)}
LINEN = {"mlp": MLP, "cnn": CNN, "block": Block, "lstm": RNNModel}
NNX = {"mlp": NnxMLP, "cnn": NnxCNN, "block": NnxBlock, "lstm": NnxRNN}

PLANS = _shared.named_layer_plans("flax-defaults", ["LSTMCell", "OptimizedLSTMCell"])
MLP_PLAN, CNN_PLAN, BLOCK_PLAN, LSTM_PLAN = (PLANS[a] for a in ("mlp", "cnn", "block", "lstm"))


def linen_variables(arch: str, case_id: str):
    return LINEN[arch]().init(jax.random.key(seed_of(case_id)), INPUTS[arch])


def model_of(form: str, arch: str, case_id: str):
    """One model: "variables" (a bare tree), "linen" (Linen wrapper) or "nnx"."""
    if form == "nnx":
        return NNX[arch](nnx.Rngs(seed_of(case_id)))
    v = linen_variables(arch, case_id)
    return v if form == "variables" else isj.Linen(LINEN[arch](), v, INPUTS[arch])


# ============================================================================ walker


def test_variables_are_walked_by_inferred_kinds():
    v = CNN().init(jax.random.key(0), INPUTS["cnn"])
    infos = {p.path: p for p in walk(v)}
    assert set(infos) == {"conv.weight", "conv.bias", "bn.scale", "bn.offset", "dw.weight", "dw.bias", "up.weight",
                          "up.bias"}
    assert infos["conv.weight"].native_path == "params/conv/kernel" and infos["bn.scale"].type == "BatchNorm"
    assert (infos["bn.offset"].kind, infos["bn.offset"].role) == ("norm", "offset")
    for path in ("dw.weight", "up.weight"):  # a depthwise Conv and a ConvTranspose look like any Conv
        assert infos[path].kind == "conv" and "Linen(module, variables" in infos[path].notes[0]
    assert infos["conv.bias"].layer_fans.fan_in == 72 and infos["conv.bias"].kind == "conv"
    block = walk(Block().init(jax.random.key(0), INPUTS["block"]))
    kinds = {p.path: (p.kind, p.type, p.layout) for p in block}
    assert kinds["attn.query.weight"][:2] == ("attention", "MultiHeadDotProductAttention")
    assert kinds["attn.query.weight"][2] == initspec.Axes(in_axes=(0,), out_axes=(1, 2))
    assert kinds["attn.out.weight"][2] == initspec.Axes(in_axes=(0, 1), out_axes=(2,))
    assert kinds["ln1.scale"][:2] == ("norm", "Norm") and kinds["fc1.weight"][:2] == ("dense", "Dense")
    rnn = {p.path: p for p in walk(RNNModel().init(jax.random.key(0), INPUTS["lstm"]))}
    hf = rnn["lstm.hf.recurrent_weight"]
    assert (hf.kind, hf.type, hf.hidden_size, [b.name for b in hf.blocks]) == ("recurrent", "LSTMCell", 256, ["f"])
    assert (rnn["lstm.if.weight"].role, rnn["gru.hn.bias"].blocks[0].name) == ("weight", "n")
    assert rnn["emb.embedding"].layout == initspec.Axes(in_axes=(0,), out_axes=(1,))


def test_linen_wrapper_records_exact_layer_types():
    class Zoo(nn.Module):
        @nn.compact
        def __call__(self, x, img):
            g = nn.DenseGeneral((4, 8), axis=(-2, -1), batch_dims=(0,), name="dg")(x)
            e = nn.Einsum((6, 5, 7), "bti,ihk->bthk", name="ein")(x[..., :6].reshape(3, 2, 6))
            c = nn.Conv(12, (3, 3), feature_group_count=3, name="grouped")(img)
            c = nn.Conv(12, (3, 3), feature_group_count=12, name="dw")(c)
            u = nn.ConvTranspose(4, (2, 2), transpose_kernel=True, name="upt")(c)
            layers = nn.scan(_Stacked, variable_axes={"params": 0}, split_rngs={"params": True}, length=3)
            s, _ = layers(name="stack")(x[0, 0], None)
            return g, e, u, s

    x, img = jnp.zeros((3, 2, 6)), jnp.zeros((1, 5, 5, 6))
    zoo = Zoo()
    v = zoo.init(jax.random.key(0), x, img)
    infos = {p.path: p for p in walk(isj.Linen(zoo, v, x, img))}
    dg = infos["dg.weight"]  # (batch 3, in 2x6, out 4x8): real fans exclude the batch axis, Flax's include it
    assert dg.shape == (3, 2, 6, 4, 8) and (dg.kind, dg.type) == ("dense", "DenseGeneral")
    assert dg.layer_fans.fan_in == 12 and dg.layer_native_fans.fan_in == 36 and dg.layer_fans.fan_out == 32
    ein = infos["ein.weight"]  # i,h in ... h and k kept: i is the only input axis
    assert ein.layout == initspec.Axes(in_axes=(0,), out_axes=(1, 2)) and ein.native_layout == "jax"
    assert infos["grouped.weight"].kind == "conv" and infos["dw.weight"].kind == "depthwise_conv"
    upt = infos["upt.weight"]  # transpose_kernel: (*k, out, in)
    assert upt.kind == "conv_transpose" and upt.shape == (2, 2, 4, 12)
    assert (upt.layer_fans.fan_in, upt.layer_native_fans.fan_in) == (4 * 12, 4 * 4)
    st = infos["stack.fc.weight"]  # nn.scan: (3, 6, 6), one Dense per slice
    assert st.layout == initspec.Axes(in_axes=(1,), out_axes=(2,), batch_axes=(0,)) and st.layer_fans.fan_in == 6
    assert not any(p.notes for p in infos.values())
    assert isj.Linen(zoo, v, x, img)["params"] is v["params"]  # a read-only view of the variables


class _Stacked(nn.Module):
    @nn.compact
    def __call__(self, x, _):
        return nn.Dense(6, name="fc")(x), None


def test_nnx_walker_types_blocks_aliases_and_non_params():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.fc = nnx.Linear(4, 8, rngs=rngs)
            self.tied = self.fc  # the same Linear under a second name (nnx walks names sorted)
            self.bn = nnx.BatchNorm(8, rngs=rngs)
            self.layers = nnx.List([nnx.Linear(8, 8, rngs=rngs) for _ in range(2)])
            self.cell = nnx.LSTMCell(8, 4, rngs=rngs)
            self.opt = nnx.OptimizedLSTMCell(8, 4, rngs=rngs)
            self.gru = nnx.GRUCell(8, 4, rngs=rngs)
            self.lg = nnx.LinearGeneral((2, 3), (4, 5), axis=(-2, -1), batch_axis={0: 6}, rngs=rngs)
            self.lora = nnx.LoRALinear(4, 4, lora_rank=2, rngs=rngs)
            self.drop = nnx.Dropout(0.1, rngs=rngs)

    infos = {p.path: p for p in walk(Net(nnx.Rngs(0)))}
    assert not any("mean" in k or "var" in k or "rngs" in k for k in infos)  # BatchStat/RNG state: not params
    assert infos["fc.weight"].aliases == ("tied.weight",) and infos["fc.weight"].native_path == "fc/kernel"
    assert infos["layers.1.bias"].type == "Linear"
    assert [b.name for b in infos["cell.if_.weight"].blocks] == ["f"] and infos["cell.if_.weight"].type == "LSTMCell"
    h = infos["opt.dense_h.recurrent_weight"]
    assert (h.shape, h.hidden_size) == ((4, 16), 4) and [(b.name, b.axis, b.start) for b in h.blocks] == [
        ("i", 1, 0), ("f", 1, 4), ("g", 1, 8), ("o", 1, 12)]
    assert [b.name for b in infos["gru.dense_i.bias"].blocks] == ["r", "z", "n"]
    assert infos["gru.dense_h.recurrent_weight"].role == "recurrent_weight"
    lg = infos["lg.weight"]
    assert lg.layout == initspec.Axes(in_axes=(1, 2), out_axes=(3, 4), batch_axes=(0,))
    assert lg.layer_native_fans.fan_in == 36 and lg.layer_fans.fan_in == 6
    assert (infos["lora.lora.lora_a"].type, infos["lora.lora.lora_a"].role) == ("LoRA", "other")
    t = initspec.plan({"base": "flax-defaults"}, Net(nnx.Rngs(0)))  # every parameter covered
    assert t.row("lora.lora.lora_a").distribution.kind == "uniform" and t.row("lora.lora.lora_b").distribution.std == 0


def test_unsupported_inputs_say_what_to_pass():
    with pytest.raises(SpecError) as e:
        initspec.plan({"base": "flax-defaults"}, MLP())
    assert e.value.errors[0].code == "unsupported_model" and "module.init" in str(e.value)
    with pytest.raises(SpecError) as e:
        isj.Linen(MLP(), linen_variables("mlp", "bad"), jnp.zeros((1, 3)))  # wrong input width
    assert e.value.errors[0].code == "bad_inputs"
    with pytest.raises(SpecError) as e:
        walk({"params": {"fc": {"kernel": "not an array"}}})
    assert e.value.errors[0].code == "unsupported_model"


# ============================================================================ table vs drawn weights


@pytest.mark.parametrize("arch", list(PLANS))
@pytest.mark.parametrize("form", ["linen", "nnx"])
def test_applied_weights_follow_the_table(form, arch):
    assert_draws_follow_the_table(PLANS[arch], model_of(form, arch, f"table-{form}-{arch}"), f"table-{form}-{arch}",
                                  lambda r, m: row_value(r, m.params), max_applies=MAX_APPLIES)


def test_bare_variables_get_the_same_laws_as_the_wrapper_where_names_decide():
    for arch in ("mlp", "block", "lstm"):
        v = linen_variables(arch, "bare")
        a = {r.path: r.distribution for r in initspec.plan(PLANS[arch], v)}
        b = {r.path: r.distribution for r in initspec.plan(PLANS[arch], isj.Linen(LINEN[arch](), v, INPUTS[arch]))}
        assert a == b, arch
    # the CNN's depthwise and transposed convs need the wrapper: inferred as Conv, their rules match nothing
    with pytest.raises(SpecError) as e:
        initspec.plan(CNN_PLAN, linen_variables("cnn", "bare"))
    assert {d.code for d in e.value.errors} == {"unused_rule"} and len(e.value.errors) == 2


def test_lstm_gate_blocks_follow_block_rules_in_linen_and_nnx():
    v = linen_variables("lstm", "gates")
    new = initspec.apply(LSTM_PLAN, v).params["params"]
    assert np.all(np.asarray(new["lstm"]["hf"]["bias"]) == 1) and np.all(np.asarray(new["lstm"]["hi"]["bias"]) == 0)
    assert np.all(np.asarray(new["gru"]["hn"]["bias"]) == 0)
    net = NnxRNN(nnx.Rngs(0))
    initspec.apply(LSTM_PLAN, net)
    b = np.asarray(net.opt.dense_h.bias.get_value())
    assert np.all(b[256:512] == 1) and np.all(b[:256] == 0) and np.all(b[512:] == 0)
    w = np.asarray(net.opt.dense_h.kernel.get_value(), np.float64)
    for g in range(4):  # one orthogonal matrix per gate block (the plan does not fuse them)
        q = w[:, g * 256:(g + 1) * 256]
        assert np.allclose(q.T @ q, np.eye(256), atol=1e-4)
    assert np.all(np.asarray(net.lstm.hf.bias.get_value()) == 1)


# ============================================================================ flax-defaults vs Flax


def _linen_case(module, *inputs):
    return ("linen", module, inputs)


def _nnx_case(factory):
    return ("nnx", factory, ())


def _defaults_cases():
    img, seq = jnp.zeros((1, 6, 6, 8)), jnp.zeros((1, 3, 256))
    return {
        "linen-Dense": _linen_case(nn.Dense(1024), jnp.zeros((1, 64))),
        "linen-DenseGeneral": _linen_case(nn.DenseGeneral((32, 16), axis=(-2, -1), batch_dims=(0,)),
                                          jnp.zeros((2, 8, 16))),
        "linen-Conv": _linen_case(nn.Conv(1024, (3, 3), feature_group_count=2), img),
        "linen-ConvTranspose": _linen_case(nn.ConvTranspose(1024, (3, 3)), img),
        "linen-Embed": _linen_case(nn.Embed(1024, 64), jnp.zeros((1,), jnp.int32)),
        "linen-LayerNorm": _linen_case(nn.LayerNorm(), jnp.zeros((1, 64))),
        "linen-BatchNorm": _linen_case(nn.BatchNorm(use_running_average=True), jnp.zeros((1, 64))),
        "linen-GroupNorm": _linen_case(nn.GroupNorm(num_groups=4), jnp.zeros((1, 4, 64))),
        "linen-RMSNorm": _linen_case(nn.RMSNorm(), jnp.zeros((1, 64))),
        "linen-MultiHeadDotProductAttention": _linen_case(nn.MultiHeadDotProductAttention(num_heads=8), seq),
        "linen-LSTMCell": _linen_case(nn.RNN(nn.LSTMCell(256)), seq),
        "linen-OptimizedLSTMCell": _linen_case(nn.RNN(nn.OptimizedLSTMCell(256)), seq),
        "linen-GRUCell": _linen_case(nn.RNN(nn.GRUCell(256)), seq),
        "linen-MGUCell": _linen_case(nn.RNN(nn.MGUCell(256)), seq),
        "linen-SimpleCell": _linen_case(nn.RNN(nn.SimpleCell(256)), seq),
        "nnx-Linear": _nnx_case(lambda r: nnx.Linear(64, 1024, rngs=r)),
        "nnx-LinearGeneral": _nnx_case(lambda r: nnx.LinearGeneral((8, 16), (32, 16), axis=(-2, -1),
                                                                    batch_axis={0: 2}, rngs=r)),
        "nnx-Conv": _nnx_case(lambda r: nnx.Conv(8, 1024, (3, 3), feature_group_count=2, rngs=r)),
        "nnx-ConvTranspose": _nnx_case(lambda r: nnx.ConvTranspose(8, 1024, (3, 3), rngs=r)),
        "nnx-Embed": _nnx_case(lambda r: nnx.Embed(1024, 64, rngs=r)),
        "nnx-LayerNorm": _nnx_case(lambda r: nnx.LayerNorm(64, rngs=r)),
        "nnx-BatchNorm": _nnx_case(lambda r: nnx.BatchNorm(64, rngs=r)),
        "nnx-MultiHeadAttention": _nnx_case(lambda r: nnx.MultiHeadAttention(num_heads=8, in_features=256,
                                                                              decode=False, rngs=r)),
        "nnx-LSTMCell": _nnx_case(lambda r: nnx.LSTMCell(256, 256, rngs=r)),
        "nnx-OptimizedLSTMCell": _nnx_case(lambda r: nnx.OptimizedLSTMCell(256, 256, rngs=r)),
        "nnx-GRUCell": _nnx_case(lambda r: nnx.GRUCell(256, 256, rngs=r)),
        "nnx-LoRALinear": _nnx_case(lambda r: nnx.LoRALinear(256, 256, lora_rank=256, rngs=r)),
        "nnx-SimpleCell": _nnx_case(lambda r: nnx.SimpleCell(256, 256, rngs=r)),
        # kernels with more axes than their layer makes: one layer per slice, as Flax draws them
        "linen-scan-Dense": _linen_case(_ScanDense(), jnp.zeros((256,))),
        "nnx-vmap-Linear": _nnx_case(_vmapped_linear),
        # Flax reads these through the conv heuristic on the full kernel shape
        "linen-Einsum": _linen_case(nn.Einsum((64, 8, 128), "bi,ihk->bhk"), jnp.zeros((1, 64))),
        "linen-ConvLocal": _linen_case(nn.ConvLocal(64, (3, 3)), img),
    }


class _ScanDense(nn.Module):
    @nn.compact
    def __call__(self, x):
        layers = nn.scan(_ScanLayer, variable_axes={"params": 0}, split_rngs={"params": True}, length=4)
        return layers(name="stack")(x, None)


class _ScanLayer(nn.Module):
    @nn.compact
    def __call__(self, x, _):
        return nn.Dense(256, name="fc")(x), None


def _vmapped_linear(rngs):
    @nnx.split_rngs(splits=4)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def create(r):
        return nnx.Linear(16, 1024, rngs=r)

    return create(rngs)


@pytest.mark.parametrize("case", list(_defaults_cases()))
def test_flax_defaults_reproduce_flax(case):
    """``base: flax-defaults`` draws what Flax's own init draws: per parameter, Flax's
    values (pooled over fresh inits with different keys) against ours (pooled over seeds),
    two-sample at n >= 65,536; constants exactly; and Flax's values follow the table's law."""
    form, factory, inputs = _defaults_cases()[case]
    plan = {"base": "flax-defaults"}

    def fresh(i):
        if form == "nnx":
            return factory(nnx.Rngs(seed_of(case) + i))
        return isj.Linen(factory, factory.init(jax.random.key(seed_of(case) + i), *inputs), *inputs)

    probe = fresh(0)
    table = initspec.plan(plan, probe)
    k = [applies_needed(math.prod(r.shape)) if r.distribution.random else 1 for r in table]
    theirs: list[list[np.ndarray]] = [[] for _ in table]
    ours: list[list[np.ndarray]] = [[] for _ in table]
    for i in range(max(k)):
        model = fresh(i)
        rows = initspec.plan(plan, model).rows
        for j, r in enumerate(rows):
            if i < k[j]:
                theirs[j].append(row_value(r, model))
        m = initspec.apply(plan, model, seed=seed_of(case) + 1000 + i)
        for j, r in enumerate(m.table.rows):
            if i < k[j]:
                ours[j].append(row_value(r, m.params))
    for j, r in enumerate(table):
        where = f"{case}: {r.path} ({r.rule}, {r.distribution.describe()})"
        if not r.distribution.random:
            assert all(np.array_equal(a, b) for a, b in zip(theirs[j], ours[j])), where
            continue
        assert sum(a.size for a in theirs[j]) >= N_SAMPLES
        assert_passes(check_two_sample(ours[j], theirs[j], context=where))
        assert_passes(check_samples(theirs[j], r.distribution, context="Flax's own " + where))


def test_flax_defaults_read_dense_general_fans_as_flax_does():
    """Flax flattens a DenseGeneral kernel to (prod(batch)*prod(in), prod(out)) before
    lecun_normal: the batch axis counts toward fan_in.  The real layout excludes it."""
    dg = nn.DenseGeneral((32, 16), axis=(-2, -1), batch_dims=(0,))
    x = jnp.zeros((2, 8, 16))
    row = initspec.plan({"base": "flax-defaults"}, isj.Linen(dg, dg.init(jax.random.key(0), x), x)).row("weight")
    assert row.fans.fan_in == 2 * 8 * 16 and row.distribution.std == pytest.approx(1 / 16)
    real = initspec.plan({"rules": [{"match": {"role": "weight"}, "init": {"scheme": "lecun", "distribution":
                                     "truncated_normal"}}, {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}]},
                         isj.Linen(dg, dg.init(jax.random.key(0), x), x)).row("weight")
    assert real.fans.fan_in == 8 * 16


# ============================================================================ strictness and validation


def test_strict_errors_name_what_to_fix_and_change_nothing():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(4, name="fc")(nn.Conv(8, (3, 3), name="conv")(x).reshape(1, -1))

    x = jnp.zeros((1, 6, 6, 3))
    v = Net().init(jax.random.key(0), x)
    for model in (v, isj.Linen(Net(), v, x)):
        _shared.assert_strict_errors_name_what_to_fix(model, lambda: tree_bytes(v), conv="conv", fc="fc")
    net = NnxMLP(nnx.Rngs(0))
    before = nnx_bytes(net)
    with pytest.raises(SpecError) as e:
        initspec.apply({"rules": [{"match": {"path": "fc1.weigth"}, "init": {"scheme": "zeros"}}]}, net)
    assert "did you mean 'fc1.weight'" in str(e.value) and nnx_bytes(net) == before


def test_non_strict_warns_and_keeps_uncovered_parameters():
    v = linen_variables("mlp", "nonstrict")
    m = _shared.apply_weights_only_non_strict(v)
    new = m.params["params"]
    assert new["fc1"]["bias"] is v["params"]["fc1"]["bias"]  # uncovered: the same array
    assert not np.array_equal(new["fc1"]["kernel"], v["params"]["fc1"]["kernel"])


def test_validation_happens_before_any_draw():
    class Counter(nnx.Module):
        def __init__(self, rngs):
            self.fc = nnx.Linear(4, 4, rngs=rngs)
            self.steps = nnx.Param(jnp.zeros(3, jnp.int32))  # walked last

    net = Counter(nnx.Rngs(0))
    plan = assert_refused_before_any_draw(net, nnx_bytes, "steps")
    rows = initspec.plan(plan, linen_variables("mlp", "v")).rows
    with pytest.raises(SpecError) as e:
        write(net, rows)
    assert e.value.errors[0].code == "wrong_backend"


# ============================================================================ linen: a new tree, the input untouched


def test_linen_apply_returns_a_new_tree_of_the_same_type():
    v = linen_variables("cnn", "new-tree")
    before = tree_bytes(v)
    m = initspec.apply(CNN_PLAN, isj.Linen(CNN(), v, INPUTS["cnn"]))
    assert type(m.params) is dict and m.params is not v and tree_bytes(v) == before
    assert m.params["batch_stats"] is not v["batch_stats"]  # other collections: copied mappings, same arrays
    assert m.params["batch_stats"]["bn"]["mean"] is v["batch_stats"]["bn"]["mean"]
    frozen = FrozenDict(v)
    out = initspec.apply(CNN_PLAN, isj.Linen(CNN(), frozen, INPUTS["cnn"])).params
    assert isinstance(out, FrozenDict) and tree_bytes(out) == tree_bytes(m.params)
    CNN().apply(out, INPUTS["cnn"])  # the new variables run


@pytest.mark.parametrize("transactional", [False, True])
def test_linen_inputs_are_never_modified_by_a_failure(transactional):
    v = linen_variables("lstm", "linen-faults")
    before = tree_bytes(v)
    steps = []
    m = initspec.apply(LSTM_PLAN, v, transactional=transactional, checkpoint=lambda stage, path: steps.append(stage))
    assert steps == ["draw"] * len(m.table.rows)  # one checkpoint per draw; the input is never written
    for k in range(len(steps)):
        with pytest.raises(RuntimeError, match="injected"):
            initspec.apply(LSTM_PLAN, v, seed=9, transactional=transactional, checkpoint=writer.fail_at(k))
        assert tree_bytes(v) == before, k


def test_abstract_and_boxed_variables():
    """``jax.eval_shape(module.init, ...)`` plans without allocating, and apply builds every
    parameter; ``nn.Partitioned`` boxes keep their names around the new values."""
    abstract = jax.eval_shape(MLP().init, jax.random.key(0), INPUTS["mlp"])
    t = initspec.plan(MLP_PLAN, abstract)
    assert t.row("fc1.weight").shape == (64, 1024)
    params = initspec.apply(MLP_PLAN, abstract).params
    assert isinstance(params["params"]["fc1"]["kernel"], jax.Array)
    assert_passes(check_samples(params["params"]["fc1"]["kernel"], t.row("fc1.weight").distribution))
    MLP().apply(params, INPUTS["mlp"])

    class Sharded(nn.Module):
        @nn.compact
        def __call__(self, x):
            init = nn.with_partitioning(nn.initializers.lecun_normal(), (None, "model"))
            return nn.Dense(1024, kernel_init=init, name="fc")(x)

    v = Sharded().init(jax.random.key(0), INPUTS["mlp"])
    new = initspec.apply({"base": "flax-defaults", "seed": 3}, v).params
    box = new["params"]["fc"]["kernel"]
    assert isinstance(box, nn.Partitioned) and box.names == (None, "model") and box.value.shape == (64, 1024)
    assert not np.array_equal(box.value, v["params"]["fc"]["kernel"].value)


def test_half_precision_parameters_keep_their_dtype():
    v = MLP().init(jax.random.key(0), INPUTS["mlp"])
    v = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), v)
    m = initspec.apply(MLP_PLAN, v)
    w = m.params["params"]["fc2"]["kernel"]
    assert w.dtype == jnp.bfloat16 and m.table.row("fc2.weight").param.dtype == "bfloat16"
    assert_passes(check_samples(w, m.table.row("fc2.weight").distribution))


SHARDED_SCRIPT = r'''
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import json, sys
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from flax import nnx
import initspec
from initspec.testing import check_samples

plan = json.loads(sys.argv[1])
mesh = jax.make_mesh((2,), ("model",))
cols, rows = NamedSharding(mesh, P(None, "model")), NamedSharding(mesh, P("model"))
v = {"params": {"fc": {"kernel": jax.device_put(jnp.zeros((256, 512)), cols),
                       "bias": jax.device_put(jnp.zeros((512,)), rows)}}}
m = initspec.apply(plan, v)
new = m.params["params"]["fc"]
single = initspec.apply(plan, {"params": {"fc": {"kernel": jnp.zeros((256, 512)), "bias": jnp.zeros(512)}}}).params


class Net(nnx.Module):
    def __init__(self):
        self.fc = nnx.Linear(256, 512, rngs=nnx.Rngs(0))


net = Net()
net.fc.kernel.set_value(jax.device_put(net.fc.kernel.get_value(), cols))
initspec.apply(plan, net, transactional=True)
kernel = net.fc.kernel.get_value()
out = {"devices": len(jax.devices()),
       "linen_sharding_kept": new["kernel"].sharding == cols and new["bias"].sharding == rows,
       "nnx_sharding_kept": kernel.sharding == cols,
       "law": bool(check_samples(new["kernel"], m.table.row("fc.weight").distribution).passed),
       "same_values_as_one_device": bool(np.array_equal(new["kernel"], single["params"]["fc"]["kernel"])
                                         and np.array_equal(kernel, new["kernel"]))}
print("INITSPEC_RESULT " + json.dumps(out))
'''


def test_sharded_parameters_keep_their_sharding():
    """Two (forced) CPU devices: a parameter sharded over a mesh is drawn into its sharding,
    with the same values as on one device, for linen trees and nnx modules."""
    plan = {"seed": 1, "rules": [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
                                 {"match": {"role": "bias"}, "init": {"scheme": "uniform", "low": -1, "high": 1}}]}
    res = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT, json.dumps(plan)], capture_output=True, text=True,
                         timeout=600)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("INITSPEC_RESULT ")), None)
    assert line is not None, res.stdout[-2000:] + res.stderr[-4000:]
    assert json.loads(line.split(" ", 1)[1]) == {"devices": 2, "linen_sharding_kept": True, "nnx_sharding_kept": True,
                                                 "law": True, "same_values_as_one_device": True}


# ============================================================================ nnx: in place, transactions


def _fault_model():
    return NnxRNN(nnx.Rngs(seed_of("faults")))


def _values(model):
    return {r.path: row_value(r) for r in initspec.plan(LSTM_PLAN, model)}


@pytest.mark.parametrize("transactional", [False, True])
def test_nnx_fault_at_every_checkpoint(transactional, fault_sweep):
    """A failure at any draw: with transactional=True every variable is byte-identical
    afterwards; by default exactly the rows before the failure changed."""
    steps = fault_sweep(LSTM_PLAN, _fault_model, state_bytes=nnx_bytes, row_values=_values, equal=np.array_equal,
                        transactional=transactional)
    table = initspec.plan(LSTM_PLAN, _fault_model())
    assert [stage for stage, _ in steps] == ["draw"] * len(table.rows)  # one checkpoint per draw, nothing else
    assert [path for _, path in steps] == [r.path for r in table.rows]


#: A law resolved for another shape: every check before the write passes (the parameter's
#: shape and dtype are right), and the sampler itself raises when it reaches the row.
WRONG_SHAPE_LAW = initspec.distributions.Orthogonal(shape=(2, 2), gain=1.0, out_axes=(1,))


@pytest.mark.parametrize("failure", ["sampler", "interrupt"])
def test_nnx_failure_inside_a_draw_at_every_step_changes_nothing(failure):
    """The sampler raising at row k, or Ctrl-C at row k: a transactional write leaves every
    variable as it was."""
    from dataclasses import replace

    model = _fault_model()
    rows = initspec.plan(LSTM_PLAN, model, seed=5).rows

    def failing(k):
        if failure == "sampler":
            bad = [replace(r, distribution=WRONG_SHAPE_LAW) if j == k else r for j, r in enumerate(rows)]
            with pytest.raises(ValueError, match="resolved for shape"):
                write(model, bad, transactional=True)
        else:
            with pytest.raises(KeyboardInterrupt, match="injected"):
                write(model, rows, transactional=True, checkpoint=writer.fail_at(k, KeyboardInterrupt))

    _shared.assert_every_failure_restores(model, nnx_bytes, len(rows), failing,
                                          lambda: write(model, rows, transactional=True))


def test_nnx_failing_assignment_restores_the_params_already_assigned(monkeypatch):
    model = _fault_model()
    params = [r.param.handle.param for r in initspec.plan(LSTM_PLAN, model)]
    assert_failing_store_restores(monkeypatch, LSTM_PLAN, model, nnx_bytes, params, "set_value")


# ============================================================================ seeding


def test_seeding_is_per_path_and_the_same_in_linen_and_nnx():
    class Forward(nnx.Module):
        def __init__(self, rngs):
            self.fc1, self.fc2 = nnx.Linear(16, 64, rngs=rngs), nnx.Linear(64, 32, rngs=rngs)

    class Reversed(nnx.Module):  # the same architecture, created in the other order
        def __init__(self, rngs):
            self.fc2, self.fc1 = nnx.Linear(64, 32, rngs=rngs), nnx.Linear(16, 64, rngs=rngs)

    class LinenMLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(32, name="fc2")(nn.Dense(64, name="fc1")(x))

    plan = {"seed": 7, "base": "flax-defaults", "rules": [{"match": {"role": "bias"}, "init": {
        "scheme": "uniform", "low": -1, "high": 1}}]}
    a, b = Forward(nnx.Rngs(0)), Reversed(nnx.Rngs(1))
    ta, tb = initspec.apply(plan, a).table, initspec.apply(plan, b).table
    v = LinenMLP().init(jax.random.key(2), jnp.zeros((1, 16)))
    m = initspec.apply(plan, v)
    sa = {r.path: row_value(r).tobytes() for r in ta}
    assert sa == {r.path: row_value(r).tobytes() for r in tb}
    assert sa == {r.path: row_value(r, m.params).tobytes() for r in m.table}  # linen: the same values
    assert {r.path: r.seed for r in ta} == {r.path: r.seed for r in m.table}
    initspec.apply(plan, a)
    assert {r.path: row_value(r).tobytes() for r in ta} == sa  # re-apply: bit-identical
    initspec.apply(plan, a, seed=99)
    assert row_value(ta.row("fc1.weight")).tobytes() != sa["fc1.weight"]


def test_row_keys_use_every_seed_bit_and_ignore_x64():
    """Seeds differing only above bit 32 give different values, and the key is the same with
    jax_enable_x64 on and off (``jax.random.key`` alone drops the high bits without x64)."""
    plan = _plan()
    table = initspec.plan(plan, {"w": jnp.zeros((4, 4))})
    row = table.row("w")
    low, high = dict(seed=row.seed & 0xFFFFFFFF), dict(seed=(row.seed & 0xFFFFFFFF) | (5 << 40))
    from dataclasses import replace

    def drawn(**kw):
        return np.asarray(write({"w": jnp.zeros((4, 4))}, [replace(row, **kw)])["w"])

    assert not np.array_equal(drawn(**low), drawn(**high))
    code = ("import jax, numpy as np, initspec\n"
            "from initspec.adapters.jax.model import write\n"
            "jax.config.update('jax_enable_x64', X64)\n"
            f"t = initspec.plan({plan!r}, {{'w': jax.numpy.zeros((4, 4), jax.numpy.float32)}})\n"
            "w = write({'w': jax.numpy.zeros((4, 4), jax.numpy.float32)}, t.rows)['w']\n"
            "print(np.asarray(w).tobytes().hex())")
    outs = {x64: subprocess.run([sys.executable, "-c", code.replace("X64", str(x64))], capture_output=True, text=True,
                                check=True).stdout.strip().splitlines()[-1] for x64 in (False, True)}
    assert outs[False] == outs[True]


def _plan():
    return {"seed": 2**40 + 3, "rules": [{"match": {}, "init": {"scheme": "normal", "std": 1.0}}]}


# ============================================================================ manifest


def test_manifest_json(tmp_path):
    net = NnxRNN(nnx.Rngs(0))
    m, rows = lstm_manifest_rows(LSTM_PLAN, net, tmp_path, "jax", forget_bias="opt.dense_h.bias",
                                 recurrent=("gru.dense_h.recurrent_weight", "z"), embedding="emb/embedding")
    assert m.params is net
    assert rows[("lstm.hf.bias", "f")]["native_path"] == "lstm/hf/bias"
    assert rows[("gru.dense_h.recurrent_weight", "z")]["type"] == "GRUCell"
    lin = initspec.apply(LSTM_PLAN, linen_variables("lstm", "manifest"))
    assert json.loads(lin.dumps())["parameters"][0]["native_path"].startswith("params/")


def test_importing_the_model_and_random_modules_imports_no_framework():
    code = ("import sys, initspec.adapters.jax.model, initspec.adapters.jax.random; "
            "print(sorted({'jax', 'jaxlib', 'flax'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"
