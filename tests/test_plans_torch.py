"""Plans on PyTorch modules: the walker (paths, kinds, roles, layouts, blocks), the writer
(validation first, per-row generators, transactional restore under fault injection at every
step), the table against the drawn weights, ``base: torch-defaults`` against torch's own
fresh modules (two-sample at n >= 65,536 per parameter), strictness, seeding, manifest and
the CLI.  Seeds come from crc32 of a case id (``INITSPEC_SEED_SALT`` re-rolls them)."""

from __future__ import annotations

import json
import math
import sys
import warnings
from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

import initspec  # noqa: E402
from initspec import SpecError  # noqa: E402
from initspec.adapters.torch.model import walk  # noqa: E402
from initspec.testing import N_SAMPLES, check_samples, check_two_sample  # noqa: E402

import _shared  # noqa: E402
from _shared import assert_passes, assert_refused_before_any_draw  # noqa: E402
from _shared import lstm_manifest_rows, seed_of  # noqa: E402

nn = torch.nn
#: Pooling small tensors over applies: at most this many applies per parameter (a guard on the
#: test models' sizes, so every random parameter reaches N_SAMPLES draws).
MAX_APPLIES = 256
applies_needed = partial(_shared.applies_needed, max_applies=MAX_APPLIES)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread while these tests run: the values do not depend on it, and on a
    busy machine OpenMP's spinning makes the many small ops here ~100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def built(factory, case_id: str, count: int = 1) -> list[nn.Module]:
    """``count`` modules built by torch under a fixed seed, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_of(case_id))
        return [factory() for _ in range(count)]


def state_bytes(model: nn.Module) -> dict[str, bytes]:
    """Every parameter and buffer (with storage: meta tensors are skipped), as raw bytes."""
    out = {}
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if not t.is_meta:
            out[name] = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    return out


def row_value(row) -> torch.Tensor:
    t = row.param.handle.tensor
    if row.block is not None:
        t = t.narrow(row.block.axis, row.block.start, row.block.stop - row.block.start)
    return t.detach().clone()


# ============================================================================ test models


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 1024)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(1024, 1024)
        self.head = nn.Linear(1024, 1024)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 1024, 3, padding=1)
        self.bn = nn.BatchNorm2d(1024)
        self.up = nn.ConvTranspose2d(1024, 16, 4, stride=2)


class Block(nn.Module):
    """A pre-norm transformer block."""

    def __init__(self, d=256, heads=8):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))


class LSTMModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1024, 64)
        self.lstm = nn.LSTM(64, 256, num_layers=2)
        self.head = nn.Linear(256, 1024)


MLP_PLAN = {"seed": 1, "base": "torch-defaults", "rules": [
    {"match": {"path": "fc1.weight"}, "init": {"scheme": "he", "distribution": "truncated_normal"}},
    {"match": {"path": "fc2.weight"}, "init": {"scheme": "glorot", "distribution": "uniform"}},
    {"match": {"path": "head.*", "role": "weight"}, "init": {"scheme": "lecun", "distribution": "normal"}},
]}
CNN_PLAN = {"seed": 2, "base": "torch-defaults", "rules": [
    {"match": {"kind": "conv", "role": "weight"}, "init": {"scheme": "he", "distribution": "normal",
                                                          "mode": "fan_out"}},
    {"match": {"kind": "conv_transpose", "role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
    {"match": {"kind": "conv_transpose", "role": "bias"}, "init": {"scheme": "zeros"}},
]}
BLOCK_PLAN = {"seed": 3, "defaults": {"bias": {"scheme": "zeros"}, "scale": {"scheme": "ones"},
                                      "offset": {"scheme": "zeros"}}, "rules": [
    {"match": {"role": "weight"}, "init": {"scheme": "normal", "std": 0.02}},
    {"match": {"kind": "attention", "role": "weight", "block": ["q", "k"]}, "init": {"scheme": "glorot", "distribution": "uniform"}},
    {"match": {"path": "mlp.0.bias"}, "init": {"scheme": "uniform", "low": -0.1, "high": 0.1}},
]}
LSTM_PLAN = {"seed": 4, "defaults": {"bias": {"scheme": "zeros"}}, "rules": [
    {"match": {"kind": "embedding"}, "init": {"scheme": "normal", "std": 0.1}},
    {"match": {"role": "weight"}, "init": {"scheme": "glorot", "distribution": "uniform"}},
    {"match": {"role": "recurrent_weight"}, "init": {"scheme": "orthogonal"}},
    {"match": {"kind": "recurrent", "role": "bias", "block": "f", "path": "*bias_ih*"}, "init": {"scheme": "ones"}},
]}
MODELS = {"mlp": (MLP, MLP_PLAN), "cnn": (CNN, CNN_PLAN), "block": (Block, BLOCK_PLAN),
          "lstm": (LSTMModel, LSTM_PLAN)}


# ============================================================================ walker


def test_walker_reports_layers_roles_and_layouts():
    class Zoo(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 8, padding_idx=0)
            self.fc = nn.Linear(8, 16)
            self.bil = nn.Bilinear(4, 5, 6)
            self.conv = nn.Conv2d(6, 12, 3, groups=3)
            self.dw = nn.Conv2d(8, 16, 3, groups=8)
            self.up = nn.ConvTranspose2d(8, 4, 3, groups=2)
            self.bn = nn.BatchNorm2d(8)
            self.gn = nn.GroupNorm(2, 8)
            self.rms = nn.RMSNorm(8)
            self.act = nn.PReLU()
            self.cls = nn.Parameter(torch.zeros(1, 8))

    infos = {p.native_path: p for p in walk(Zoo())}
    assert "bn.running_mean" not in infos and "bn.num_batches_tracked" not in infos  # buffers are not parameters
    emb = infos["emb.weight"]
    assert (emb.path, emb.kind, emb.role, emb.type) == ("emb.embedding", "embedding", "embedding", "Embedding")
    assert emb.notes and "padding_idx" in emb.notes[0]
    fc_b = infos["fc.bias"]
    assert (fc_b.kind, fc_b.role) == ("dense", "bias") and fc_b.layer_fans.fan_in == 8
    # Bilinear: torch bounds by 1/sqrt(in1) (weight.size(1)); the layer really sums in1*in2 products
    assert infos["bil.bias"].layer_native_fans.fan_in == 4 and infos["bil.bias"].layer_fans.fan_in == 20
    conv = infos["conv.weight"]
    assert conv.kind == "conv" and conv.shape == (12, 2, 3, 3) and infos["conv.bias"].layer_fans.fan_in == 18
    assert infos["dw.weight"].kind == "depthwise_conv" and infos["dw.bias"].layer_native_fans.fan_in == 9
    up = infos["up.weight"]  # stored (in, out/groups, k, k) = (8, 2, 3, 3)
    assert up.kind == "conv_transpose" and up.shape == (8, 2, 3, 3)
    assert infos["up.bias"].layer_fans.fan_in == 8 * 9  # real: input channels (as Flax)
    assert infos["up.bias"].layer_native_fans.fan_in == 2 * 9  # torch reads dim 1
    for name in ("bn", "gn"):
        assert (infos[f"{name}.weight"].path, infos[f"{name}.weight"].role) == (f"{name}.scale", "scale")
        assert (infos[f"{name}.bias"].path, infos[f"{name}.bias"].role) == (f"{name}.offset", "offset")
    assert infos["rms.weight"].kind == "norm" and infos["rms.weight"].role == "scale"
    assert (infos["act.weight"].kind, infos["act.weight"].type) == ("other", "PReLU")
    assert (infos["cls"].path, infos["cls"].kind, infos["cls"].role) == ("cls", "other", "other")


def test_walker_recurrent_and_attention_blocks():
    lstm = nn.LSTM(6, 8, num_layers=2, bidirectional=True, proj_size=3)
    infos = {p.native_path: p for p in walk(lstm)}
    assert len(infos) == 2 * 2 * 5
    w = infos["weight_hh_l1_reverse"]
    assert (w.path, w.role, w.shape, w.hidden_size) == ("weight_hh_l1_reverse", "recurrent_weight", (32, 3), 8)
    assert [(b.name, b.start, b.stop) for b in w.blocks] == [("i", 0, 8), ("f", 8, 16), ("g", 16, 24), ("o", 24, 32)]
    assert infos["weight_hr_l0"].blocks == () and infos["weight_hr_l0"].role == "weight"
    assert infos["weight_ih_l1"].shape == (32, 6)  # layer 1 reads both directions' projected outputs
    gru = {p.native_path: p for p in walk(nn.GRUCell(4, 5))}
    assert [b.name for b in gru["bias_hh"].blocks] == ["r", "z", "n"] and gru["bias_hh"].role == "bias"
    assert walk(nn.RNN(3, 4))[0].blocks == ()
    mha = {p.native_path: p for p in walk(nn.MultiheadAttention(12, 3))}
    assert [(b.name, b.stop - b.start) for b in mha["in_proj_weight"].blocks] == [("q", 12), ("k", 12), ("v", 12)]
    assert mha["in_proj_bias"].role == "bias" and len(mha["in_proj_bias"].blocks) == 3
    assert (mha["out_proj.weight"].kind, mha["out_proj.weight"].type) == ("dense", "NonDynamicallyQuantizableLinear")
    sep = {p.native_path: p for p in walk(nn.MultiheadAttention(12, 3, kdim=5, vdim=7, add_bias_kv=True))}
    assert sep["k_proj_weight"].shape == (12, 5) and sep["v_proj_weight"].role == "weight"
    assert sep["bias_k"].role == "other" and sep["bias_k"].shape == (1, 1, 12)


def test_tied_parameters_are_planned_once_and_named():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(100, 16)
            self.lm_head = nn.Linear(16, 100, bias=False)
            self.lm_head.weight = self.wte.weight

    infos = walk(Tied())
    assert [p.path for p in infos] == ["wte.embedding"] and infos[0].aliases == ("lm_head.weight",)
    with pytest.raises(SpecError) as e:
        initspec.plan({"rules": [{"match": {"kind": "embedding"}, "init": {"scheme": "normal", "std": 0.02}},
                                 {"match": {"path": "lm_head.weight"}, "init": {"scheme": "zeros"}}]}, Tied())
    assert "'lm_head.weight' is tied to 'wte.embedding'" in str(e.value)


# ============================================================================ table vs drawn weights


@pytest.mark.parametrize("name", list(MODELS))
def test_applied_weights_follow_the_table(name):
    _shared.assert_model_draws_follow_the_table(MODELS, name, built, row_value, max_applies=MAX_APPLIES)


def test_table_reads_real_and_native_fans():
    cnn = built(CNN, "fans")[0]
    t = initspec.plan(CNN_PLAN, cnn)
    conv = t.row("conv.weight")  # he fan_out: (1024 * 9)
    assert conv.distribution.std == pytest.approx(math.sqrt(2 / (1024 * 9)))
    up = t.row("up.weight")  # he fan_in, real: input channels 1024 * 16
    assert up.fans.fan_in == 1024 * 16 and up.fans_from == "layer"
    native = initspec.plan({"base": "torch-defaults", "rules": [
        {"match": {"path": "up.weight"}, "init": {"scheme": "he", "distribution": "normal"}, "fans": "native"}]}, cnn)
    assert native.row("up.weight").fans.fan_in == 16 * 16  # torch's reading: dim 1 (out) * rf
    block = built(Block, "fans")[0]
    t = initspec.plan(BLOCK_PLAN, block)
    q = t.row("attn.in_proj_weight[q]")
    assert q.shape == (256, 256) and q.distribution.high == pytest.approx(math.sqrt(6 / 512))
    assert t.row("attn.in_proj_weight[v]").distribution.std == 0.02


def test_lstm_gate_blocks_get_their_own_rules():
    model = built(LSTMModel, "gates")[0]
    initspec.apply(LSTM_PLAN, model)
    b = model.lstm.bias_ih_l1.detach()
    assert torch.all(b[256:512] == 1) and torch.all(b[:256] == 0) and torch.all(b[512:] == 0)
    w = model.lstm.weight_hh_l0.detach()
    for g in range(4):  # one orthogonal matrix per gate
        q = w[g * 256:(g + 1) * 256]
        assert torch.allclose(q @ q.T, torch.eye(256), atol=1e-4)


def test_embedding_padding_row_is_zeroed_and_noted():
    emb = built(lambda: nn.Embedding(2048, 32, padding_idx=5), "padding")[0]
    m = initspec.apply({"rules": [{"match": {"kind": "embedding"}, "init": {"scheme": "normal", "std": 0.5}}]}, emb)
    w = emb.weight.detach()
    assert torch.all(w[5] == 0)
    rest = torch.cat([w[:5], w[6:]])
    row = m.table.row("weight")
    assert row.path == "embedding" and row.distribution.std == 0.5
    assert_passes(check_samples(rest, row.distribution))
    assert "padding_idx" in json.loads(m.dumps())["parameters"][0]["notes"][0]


# ============================================================================ torch-defaults vs torch


def _defaults_cases():
    return {
        "Linear": lambda: nn.Linear(64, 4096),
        "Bilinear": lambda: nn.Bilinear(16, 8, 1024),
        "Conv1d": lambda: nn.Conv1d(8, 2048, 3),
        "Conv2d": lambda: nn.Conv2d(8, 2048, 3),
        "Conv3d": lambda: nn.Conv3d(4, 2048, 2),
        "Conv2d_grouped": lambda: nn.Conv2d(64, 2048, 3, groups=4),
        "Conv2d_depthwise": lambda: nn.Conv2d(512, 2048, 3, groups=512),
        "ConvTranspose2d": lambda: nn.ConvTranspose2d(16, 2048, 3),
        "ConvTranspose2d_grouped": lambda: nn.ConvTranspose2d(64, 2048, 3, groups=4),
        "Embedding": lambda: nn.Embedding(1024, 64),
        "Embedding_padding": lambda: nn.Embedding(1025, 64, padding_idx=3),  # 1024 rows besides padding
        "LayerNorm": lambda: nn.LayerNorm(64),
        "BatchNorm2d": lambda: nn.BatchNorm2d(64),
        "LSTM": lambda: nn.LSTM(16, 256),
        "GRU": lambda: nn.GRU(16, 256),
        "RNN": lambda: nn.RNN(16, 512),
        "MultiheadAttention": lambda: nn.MultiheadAttention(256, 8),
        "MultiheadAttention_kdim": lambda: nn.MultiheadAttention(256, 4, kdim=64, vdim=32, add_bias_kv=True),
    }


def _values(module, name):
    return module.get_parameter(name).detach().numpy().copy()


def defaults_comparison(case: str):
    """Per parameter: torch's own fresh values and base: torch-defaults' values (pooled over
    instances and seeds to N_SAMPLES), and the table row."""
    factory = _defaults_cases()[case]
    probe = factory()
    table = initspec.plan({"base": "torch-defaults"}, probe)
    assert {r.param.native_path for r in table} == {n for n, _ in probe.named_parameters()}
    k = {r.param.native_path: applies_needed(math.prod(r.shape)) if r.distribution.random else 1 for r in table}
    mods = built(factory, f"defaults-{case}", max(k.values()))
    theirs = {n: [_values(m, n) for m in mods[:k[n]]] for n in k}
    for i, m in enumerate(mods):
        initspec.apply({"base": "torch-defaults"}, m, seed=seed_of(f"defaults-{case}") + i)
    ours = {n: [_values(m, n) for m in mods[:k[n]]] for n in k}
    return [(table.row(n), theirs[n], ours[n]) for n in k]


@pytest.mark.parametrize("case", list(_defaults_cases()))
def test_torch_defaults_reproduce_torch(case):
    for row, theirs, ours in defaults_comparison(case):
        where = f"{case}: {row.param.native_path} ({row.rule}, {row.distribution})"
        if case == "Embedding_padding":  # torch and initspec both zero the padding row
            assert all(np.all(t[3] == 0) for t in theirs) and all(np.all(o[3] == 0) for o in ours)
            theirs = [np.delete(t, 3, axis=0) for t in theirs]
            ours = [np.delete(o, 3, axis=0) for o in ours]
        if not row.distribution.random:
            assert all(np.array_equal(t, o) for t, o in zip(theirs, ours)), where
            continue
        assert sum(t.size for t in theirs) >= N_SAMPLES
        assert_passes(check_two_sample(ours, theirs, context=where))
        if case != "Embedding_padding":  # torch's own draws follow the row's law, too
            assert_passes(check_samples(theirs, row.distribution, context="torch's own " + where))


# ============================================================================ strictness


def test_strict_errors_name_what_to_fix_and_change_nothing():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 4))
    _shared.assert_strict_errors_name_what_to_fix(model, lambda: state_bytes(model), conv="0", fc="2",
                                                  typo="3.weigth")


def test_non_strict_warns_and_leaves_uncovered_parameters_alone():
    model = built(MLP, "nonstrict")[0]
    before = state_bytes(model)
    _shared.apply_weights_only_non_strict(model)
    after = state_bytes(model)
    assert after["fc1.bias"] == before["fc1.bias"] and after["fc1.weight"] != before["fc1.weight"]


def test_meta_models_plan_but_do_not_apply():
    with torch.device("meta"):
        meta = Block()
    t = initspec.plan(BLOCK_PLAN, meta)
    assert t.row("attn.in_proj_weight[q]").shape == (256, 256)
    with pytest.raises(SpecError) as e:
        initspec.apply(BLOCK_PLAN, meta)
    assert e.value.errors[0].code == "meta_tensor" and "to_empty" in str(e.value)
    half = built(Block, "meta")[0]
    half.mlp.to("meta")  # part of the model on meta: nothing else is touched either
    before = state_bytes(half)
    assert not any(k.startswith("mlp.") for k in before) and before
    with pytest.raises(SpecError, match="meta"):
        initspec.apply(BLOCK_PLAN, half, transactional=False)
    assert state_bytes(half) == before
    meta.to_empty(device="cpu")
    initspec.apply(BLOCK_PLAN, meta)
    assert torch.all(meta.ln1.weight == 1)


def test_validation_happens_before_any_draw():
    model = built(MLP, "validate")[0]
    model.steps = nn.Parameter(torch.zeros(3, dtype=torch.int64), requires_grad=False)  # last in order
    assert_refused_before_any_draw(model, state_bytes, "steps")


def test_lazy_modules_and_foreign_objects_are_refused():
    lazy = nn.Sequential(nn.LazyLinear(4))
    with pytest.raises(SpecError) as e:
        initspec.plan({"rules": [{"match": {}, "init": {"scheme": "zeros"}}]}, lazy)
    assert e.value.errors[0].code == "uninitialized_parameter" and "forward pass" in str(e.value)
    with pytest.raises(SpecError, match="torch.nn.Module"):
        walk({"w": torch.zeros(2, 2)})


def test_memory_format_and_dtype_do_not_change_the_law_or_the_values():
    plan = {"seed": 7, "base": "torch-defaults"}
    a, b = built(CNN, "format", 2)
    b.to(memory_format=torch.channels_last)
    assert not b.conv.weight.is_contiguous()
    initspec.apply(plan, a)
    initspec.apply(plan, b)
    assert torch.equal(a.conv.weight, b.conv.weight) and torch.equal(a.up.weight, b.up.weight)
    half = built(MLP, "bf16")[0].to(torch.bfloat16)
    m = initspec.apply(MLP_PLAN, half, transactional=True)
    assert m.table.row("fc2.weight").param.dtype == "bfloat16" and half.fc2.weight.dtype == torch.bfloat16
    assert_passes(check_samples(half.fc2.weight.detach(), m.table.row("fc2.weight").distribution))


# ============================================================================ transactions


def _fault_model():
    return built(Block, "faults")[0]


def _row_values(model):
    return {r.path: row_value(r) for r in initspec.plan(BLOCK_PLAN, model)}


@pytest.mark.parametrize("transactional", [False, True])
def test_fault_at_every_checkpoint(transactional, fault_sweep):
    steps = fault_sweep(BLOCK_PLAN, _fault_model, state_bytes=state_bytes, row_values=_row_values, equal=torch.equal,
                        transactional=transactional)
    # torch backs the parameters up instead of staging them: one checkpoint per draw, no commits
    assert len(steps) == len(initspec.plan(BLOCK_PLAN, _fault_model()).rows)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_half_written_row_at_every_step_restores_everything(exc):
    """A draw that fails half way (the row's tensor already changed) at each row in turn:
    ``transactional=True`` puts every byte back, for an exception and for Ctrl-C."""
    model = _fault_model()
    table = initspec.plan(BLOCK_PLAN, model)
    views = {r.path: r for r in table.rows}

    def failing(k):
        calls = iter(range(len(table.rows)))

        def half_write(stage, path):
            if next(calls) == k:
                row = views[path]
                t = row.param.handle.tensor
                if row.block is not None:
                    t = t.narrow(row.block.axis, row.block.start, row.block.stop - row.block.start)
                with torch.no_grad():
                    t.add_(1.0)  # a half-finished write, then the failure
                raise exc(f"sampler failed at {k}")

        with pytest.raises(exc, match="sampler failed"):
            initspec.apply(BLOCK_PLAN, model, seed=5, transactional=True, checkpoint=half_write)

    _shared.assert_every_failure_restores(model, state_bytes, len(table.rows), failing,
                                          lambda: initspec.apply(BLOCK_PLAN, model, seed=5, transactional=True))


# ============================================================================ seeding


class BlockReversed(Block):
    """The same architecture, submodules registered in another order (same names)."""

    def __init__(self, d=256, heads=8):
        nn.Module.__init__(self)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.ln2 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln1 = nn.LayerNorm(d)


def test_seeding_is_per_path_not_order_and_reapply_is_identical():
    a, b = built(Block, "seed-a")[0], built(BlockReversed, "seed-b")[0]
    assert [n for n, _ in a.named_parameters()] != [n for n, _ in b.named_parameters()]
    initspec.apply(BLOCK_PLAN, a)
    initspec.apply(BLOCK_PLAN, b)
    sa, sb = state_bytes(a), state_bytes(b)
    assert sa == {k: sb[k] for k in sa}
    initspec.apply(BLOCK_PLAN, a)
    assert state_bytes(a) == sa  # re-apply: bit-identical
    initspec.apply(BLOCK_PLAN, a, seed=99)
    assert state_bytes(a)["mlp.0.weight"] != sa["mlp.0.weight"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state = torch.get_rng_state()
        initspec.apply(BLOCK_PLAN, a)
        assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched


# ============================================================================ manifest and CLI


def test_manifest_json(tmp_path):
    lstm_manifest_rows(LSTM_PLAN, built(LSTMModel, "manifest")[0], tmp_path, "torch", forget_bias="lstm.bias_ih_l0",
                       recurrent=("lstm.weight_hh_l0", "g"), embedding="emb.weight")


FACTORY_MODULE = """
import torch


def block():
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.LayerNorm(32), torch.nn.Linear(32, 4))
"""


def test_cli_plan_on_a_torch_factory(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from initspec.cli import app

    (tmp_path / "torch_factories.py").write_text(FACTORY_MODULE, encoding="utf-8")
    (tmp_path / "plan.yaml").write_text("format_version: 1\nseed: 0\nbase: torch-defaults\nrules:\n"
                                        "  - match: {path: '2.weight'}\n    init: {scheme: zeros}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "torch_factories", raising=False)
    runner = CliRunner()
    res = runner.invoke(app, ["plan", "plan.yaml", "--model", "torch_factories:block"])
    assert res.exit_code == 0, res.output
    rows = {line.split()[0]: line for line in res.stdout.splitlines()[2:]}
    assert "U(-0.25, 0.25)" in rows["0.weight"] and "constant 1" in rows["1.scale"] and "constant 0" in rows["2.weight"]
    res = runner.invoke(app, ["plan", "plan.yaml", "--model", "torch_factories:block", "--apply", "--manifest",
                              "m.json", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["backend"] == "torch" and {p["path"] for p in data["parameters"]} == {
        "0.weight", "0.bias", "1.scale", "1.offset", "2.weight", "2.bias"}


def test_importing_the_backend_imports_no_torch():
    import subprocess

    code = ("import sys, initspec.adapters.torch, initspec.adapters.torch.model, initspec.adapters.torch.random, "
            "initspec.adapters.torch.conformance, initspec.adapters.torch.native; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "False"


def test_no_warnings_on_a_clean_apply():
    model = built(MLP, "clean")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        initspec.apply(MLP_PLAN, model)
