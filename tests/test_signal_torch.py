"""LSUV as data and diagnostics on real PyTorch models (adapters/torch/signal.py): tanh MLPs,
a convolution net, residual blocks, a model torch.fx cannot trace, Hugging Face GPT-2.
Every variance LSUV claims is measured again here with the model's own forward pass."""

from __future__ import annotations

import json
import math
import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initspec  # noqa: E402
from initspec.plans import PlanWarning  # noqa: E402
from initspec.writer import fail_at  # noqa: E402

from _shared import ORTHO_TANH, SMALL  # noqa: E402


def tanh_mlp(depth: int = 8, width: int = 64) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers)


def batch(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def state_bytes(model: nn.Module) -> dict[str, bytes]:
    return {k: v.detach().numpy().tobytes() for k, v in model.state_dict().items()}


def linear_output_variances(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Each Linear/Conv output's variance, measured with a plain forward pass."""
    out: list[float] = []
    hooks = [m.register_forward_hook(lambda m, a, y: out.append(float(y.double().var(unbiased=False))))
             for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return out


# ----------------------------------------------------------------------------- LSUV


def test_lsuv_brings_every_layer_of_an_orthogonal_tanh_mlp_to_unit_variance():
    model, x = tanh_mlp(), batch(256, 64)
    manifest = initspec.apply({"rules": ORTHO_TANH, "lsuv": {"target": 1.0, "tol": 0.05}}, model, data=x)
    variances = linear_output_variances(model, x)
    assert len(variances) == 8 and all(abs(v - 1.0) <= 0.05 for v in variances), variances
    res = manifest.lsuv
    assert res.converged and [r.path for r in res.layers] == [str(2 * i) for i in range(8)]
    assert res.passes == 2  # one sweep fits every layer, one verifies: the scale is solved, not searched
    for r, v in zip(res.layers, variances):
        assert r.variance == pytest.approx(v, rel=1e-5) and r.iterations >= 1 and r.scale > 0
    # orthogonal with the tanh gain: the first layer is too wide (2.5), the rest nearly right
    assert res.layers[0].scale == pytest.approx(1 / math.sqrt(res.layers[0].initial_variance), rel=1e-6)
    body = json.loads(manifest.dumps())["lsuv"]
    assert body["converged"] and body["target"] == 1.0 and body["tol"] == 0.05 and body["max_iter"] == 10
    assert [set(layer) for layer in body["layers"]] == [
        {"path", "scale", "iterations", "variance", "initial_variance", "converged"}] * 8


def test_lsuv_honours_target_tolerance_and_a_path_selection():
    model, x = tanh_mlp(depth=4), batch(128, 64, seed=1)
    plan = {"rules": SMALL, "lsuv": {"match": {"path": ["0.*", "4.*"]}, "target": 0.5, "tol": 0.01}}
    res = initspec.apply(plan, model, data=x).lsuv
    assert [r.path for r in res.layers] == ["0", "4"]
    v = linear_output_variances(model, x)
    assert abs(v[0] - 0.5) <= 0.005 and abs(v[2] - 0.5) <= 0.005
    assert v[1] < 0.01 and v[3] < 0.01  # 2 and 6 were left as drawn


def test_lsuv_without_data_is_an_error_and_writes_nothing():
    model = tanh_mlp()
    before = state_bytes(model)
    with pytest.raises(initspec.SpecError, match="data") as err:
        initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, model)
    assert err.value.errors[0].code == "lsuv_needs_data"
    assert state_bytes(model) == before


def test_lsuv_is_read_from_a_plan_file(tmp_path):
    path = tmp_path / "init.yaml"
    path.write_text("format_version: 1\nrules:\n  - match: {role: weight}\n    init: {scheme: orthogonal}\n"
                    "  - match: {role: bias}\n    init: {scheme: zeros}\nlsuv: {tol: 0.02}\n")
    model, x = tanh_mlp(depth=3), batch(64, 64)
    res = initspec.apply(str(path), model, data=x).lsuv
    assert res.tol == 0.02 and all(abs(v - 1) <= 0.02 for v in linear_output_variances(model, x))


def _sweep_plan() -> dict:
    return {"seed": 3, "rules": SMALL, "lsuv": {"tol": 0.05}}


def test_a_transactional_failure_at_any_step_restores_every_weight():
    """Fail at every checkpoint - each draw, then each LSUV rescale - : byte-identical."""
    x = batch(64, 32)
    steps: list[tuple[str, str]] = []
    initspec.apply(_sweep_plan(), tanh_mlp(depth=4, width=32), data=x,
                   checkpoint=lambda stage, path: steps.append((stage, path)))
    assert {s for s, _ in steps} == {"draw", "lsuv"} and steps[-1][0] == "lsuv"
    model = tanh_mlp(depth=4, width=32)
    before = state_bytes(model)
    for k in range(len(steps)):
        with pytest.raises(RuntimeError, match="injected"):
            initspec.apply(_sweep_plan(), model, data=x, transactional=True, checkpoint=fail_at(k))
        assert state_bytes(model) == before, steps[k]


class Bomb(nn.Module):
    """Raises on its ``at``-th call: a model whose forward fails midway through LSUV."""

    def __init__(self, at: int):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.at:
            raise ValueError("the forward pass failed")
        return x


def test_a_forward_pass_that_raises_midway_restores_every_weight():
    model = tanh_mlp(depth=4, width=32)
    model.insert(4, Bomb(at=1))  # the first sweep fails halfway, after rescaling layers 0 and 2
    x = batch(64, 32)
    before = state_bytes(model)
    with pytest.raises(ValueError, match="failed"):
        initspec.apply(_sweep_plan(), model, data=x, transactional=True)
    assert state_bytes(model) == before
    assert model.training and all(m.training for m in model.modules())  # the mode came back
    assert not any(m._forward_hooks for m in model.modules())  # and the hooks went


def test_without_transactional_a_failure_leaves_what_was_done():
    model = tanh_mlp(depth=4, width=32)
    model.insert(4, Bomb(at=2))  # the verifying sweep fails
    before = state_bytes(model)
    with pytest.raises(ValueError):
        initspec.apply(_sweep_plan(), model, data=batch(64, 32))
    assert state_bytes(model) != before


def test_a_layer_that_cannot_converge_is_a_warning_or_a_strict_error():
    model = tanh_mlp(depth=3, width=32)
    plan = {"rules": ORTHO_TANH + [{"match": {"path": "2.bias"}, "init": {"scheme": "uniform", "low": -9, "high": 9}}],
            "lsuv": {"max_iter": 3}}
    x = batch(64, 32)
    with pytest.warns(PlanWarning, match="2.*not within"):
        res = initspec.apply(plan, model, data=x, strict=False).lsuv
    assert not res.converged and [r.path for r in res.failures] == ["2"]
    assert res.failures[0].iterations <= 3 and res.failures[0].variance > 1.05
    before = state_bytes(model)
    with pytest.raises(initspec.SpecError) as err:
        initspec.apply(plan, model, data=x, seed=5, transactional=True)
    assert {e.code for e in err.value.errors} == {"lsuv_not_converged"}
    assert state_bytes(model) == before  # strict + transactional: every weight restored


def test_selection_errors_come_before_anything_is_drawn():
    model = tanh_mlp(depth=2, width=8)
    before = state_bytes(model)
    with pytest.raises(initspec.SpecError) as err:
        initspec.apply({"rules": ORTHO_TANH, "lsuv": {"match": {"path": "nothing.*"}}}, model, data=batch(4, 8))
    assert err.value.errors[0].code == "lsuv_no_layers"
    with pytest.raises(initspec.SpecError) as err:
        initspec.apply({"rules": ORTHO_TANH, "lsuv": {"match": {"role": "bias"}}}, model, data=batch(4, 8))
    assert err.value.errors[0].code == "lsuv_unsupported"
    assert state_bytes(model) == before


def test_a_layer_the_forward_pass_never_calls_is_reported():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(initspec.SpecError) as err:
        initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, Unused(), data=batch(16, 8))
    assert err.value.errors[0].code == "lsuv_not_reached" and "spare" in str(err.value)
    with pytest.warns(PlanWarning, match="spare"):
        res = initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, Unused(), data=batch(16, 8), strict=False).lsuv
    assert [r.path for r in res.layers] == ["used"]


def test_data_without_an_lsuv_section_is_a_warning():
    with pytest.warns(PlanWarning, match="lsuv"):
        initspec.apply({"rules": ORTHO_TANH}, tanh_mlp(depth=1, width=4), data=batch(2, 4))


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = torch.tanh(self.c2(torch.tanh(self.c1(x))))
        return self.head(x.mean((2, 3)))


def test_lsuv_on_convolutions_splits_the_bias_on_the_channel_axis():
    model, x = ConvNet(), batch(16, 3, 8, 8)
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
                      {"match": {"role": "bias"}, "init": {"scheme": "uniform", "low": -0.5, "high": 0.5}}],
            "lsuv": {"tol": 0.01}}
    res = initspec.apply(plan, model, data=x).lsuv
    assert [r.path for r in res.layers] == ["c1", "c2", "head"]
    assert all(abs(v - 1) <= 0.01 for v in linear_output_variances(model, x))
    assert all(r.iterations == 1 or r.iterations == 2 for r in res.layers)  # exact solve with a bias


class Branchy(nn.Module):
    """A data-dependent Python branch and a residual sum: torch.fx cannot trace it."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)
        self.act = nn.Tanh()

    def forward(self, x):
        h = self.act(self.a(x))
        if h.sum() > -1e9:  # depends on the data: fx cannot turn it into a graph
            h = h + self.act(self.c(h))  # residual: c runs before b
        return self.b(h)


def test_hooks_follow_the_forward_order_in_a_model_fx_cannot_trace():
    with pytest.raises(Exception):  # noqa: B017 - whatever fx raises, it cannot trace this model
        torch.fx.symbolic_trace(Branchy())
    model, x = Branchy(), batch(64, 32)
    res = initspec.apply({"rules": ORTHO_TANH, "lsuv": {}}, model, data=x).lsuv
    assert [r.path for r in res.layers] == ["a", "c", "b"]  # the order of the calls, not of the modules
    outs: dict[str, float] = {}

    def keep(name):
        def hook(module, args, y):
            outs.setdefault(name, float(y.detach().var(unbiased=False)))
        return hook

    for name in "acb":
        getattr(model, name).register_forward_hook(keep(name))
    with torch.no_grad():
        model(x)
    assert all(abs(v - 1) <= 0.05 for v in outs.values()), outs
    d = initspec.diagnose(model, x)
    assert [s.path for s in d.layers] == ["a", "act", "c", "b"]  # act's first call is recorded once
    assert all(s.backward is not None and s.backward > 0 for s in d.layers)


# ----------------------------------------------------------------------------- diagnostics


def test_diagnose_tells_a_vanishing_tanh_mlp_from_a_healthy_one():
    bad = initspec.diagnose(tanh_mlp(), input_shape=(256, 64), plan={"rules": SMALL})
    good = initspec.diagnose(tanh_mlp(), input_shape=(256, 64), plan={"rules": ORTHO_TANH})
    assert bad.verdict == "vanishing" and good.verdict == "healthy"
    assert {p.direction for p in bad.problems} == {"forward", "backward"}
    assert bad.problems[0].layer == "0"  # the first layer already shrinks the signal 150-fold
    paths = [s.path for s in good.layers]
    assert paths == [str(i) for i in range(16)] and [s.type for s in good.layers[:2]] == ["Linear", "Tanh"]
    assert all(s.saturated is not None for s in good.layers[1::2])  # Tanh: bounded


def test_diagnose_measures_the_same_variances_as_a_plain_forward_pass():
    model, x = tanh_mlp(depth=3, width=16), batch(128, 16)
    d = initspec.diagnose(model, x)
    assert [s.forward for s in d.layers[0::2]] == pytest.approx(linear_output_variances(model, x), rel=1e-6)
    # gradients checked against autograd with an explicit leaf at one layer's output
    g = torch.randn(128, 16, generator=torch.Generator().manual_seed(1))
    h = model[0](x).detach().requires_grad_(True)
    out = model[2:](model[1](h))
    (grad,) = torch.autograd.grad((out * g).sum(), [h])
    assert d.layers[0].backward == pytest.approx(float(grad.double().var(unbiased=False)), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())  # the parameters' .grad untouched


class ZeroInitResidual(nn.Module):
    """Fixup / zero_init_last: each branch's last layer starts at exactly zero."""

    def __init__(self, width: int = 32, blocks: int = 3):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
                                    for _ in range(blocks))
        self.head = nn.Linear(width, width)
        for b in self.blocks:
            nn.init.zeros_(b[2].weight)
            nn.init.zeros_(b[2].bias)

    def forward(self, x):
        for b in self.blocks:
            x = x + b(x)
        return self.head(x)


def test_zero_initialized_residual_branches_are_not_vanishing():
    d = initspec.diagnose(ZeroInitResidual(), input_shape=(64, 32))
    assert d.verdict == "healthy", d.to_text()
    assert {"blocks.0.2", "blocks.1.2", "blocks.2.2"} <= set(d.bypassed)
    assert {"blocks.0.0", "blocks.0.1"} <= set(d.bypassed)  # zero gradient inside the branch, before its zero
    assert "bypassed" in d.to_text() and d.to_json()["bypassed"] == list(d.bypassed)


def test_a_zero_layer_that_kills_the_signal_is_vanishing():
    model = tanh_mlp(depth=3, width=16)
    nn.init.zeros_(model[2].weight)
    nn.init.zeros_(model[2].bias)
    d = initspec.diagnose(model, input_shape=(32, 16))
    assert d.verdict == "vanishing" and d.problems[0].layer == "2"


def test_diagnose_keeps_the_model_mode_and_removes_its_hooks(tmp_path):
    model = tanh_mlp(depth=2, width=8).eval()
    d = initspec.diagnose(model, input_shape=(8, 8), seed=3)
    assert not model.training and not any(m._forward_hooks for m in model.modules())
    pytest.importorskip("matplotlib")
    assert d.plot(tmp_path / "d.png").stat().st_size > 1000


def test_diagnose_needs_a_batch_or_a_shape():
    with pytest.raises(initspec.SpecError) as err:
        initspec.diagnose(tanh_mlp(depth=1, width=4))
    assert err.value.errors[0].code == "diagnose_needs_input"


# ----------------------------------------------------------------------------- Hugging Face GPT-2


def _gpt2():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=128, n_positions=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.GPT2Model(config)


GPT2_PLAN = {"types": {"Conv1D": {"kind": "dense", "layout": "jax"}},  # HF Conv1D: a dense (in, out) layer
             "rules": [{"match": {"role": ["weight", "embedding"]}, "init": {"scheme": "normal", "std": 0.02}},
                       {"match": {"role": ["bias", "offset"]}, "init": {"scheme": "zeros"}},
                       {"match": {"role": "scale"}, "init": {"scheme": "ones"}}]}


def test_gpt2_lsuv_fits_every_conv1d_in_forward_order():
    model = _gpt2()
    ids = torch.randint(0, 128, (4, 16), generator=torch.Generator().manual_seed(0))
    res = initspec.apply({**GPT2_PLAN, "lsuv": {"tol": 0.05}}, model, data=ids).lsuv
    expected = [f"h.{i}.{m}" for i in range(2) for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]
    assert [r.path for r in res.layers] == expected and res.converged
    assert model.training  # HF models come in train mode; LSUV ran in eval and gave it back
    out: dict[str, float] = {}

    def keep(name):
        def hook(module, args, y):
            out.setdefault(name, float(y.var(unbiased=False)))
        return hook

    model.eval()
    for name, m in model.named_modules():
        if type(m).__name__ == "Conv1D":
            m.register_forward_hook(keep(name))
    with torch.no_grad():
        model(ids)
    assert all(abs(out[p] - 1) <= 0.05 for p in expected), out


def test_gpt2_diagnose_reports_every_layer_by_normalized_path():
    model = _gpt2().eval()
    ids = torch.randint(0, 128, (4, 16), generator=torch.Generator().manual_seed(0))
    d = initspec.diagnose(model, ids, plan=GPT2_PLAN)
    paths = [s.path for s in d.layers]
    assert paths[:3] == ["wte", "wpe", "h.0.ln_1"] and paths[-1] == "ln_f"
    assert "h.1.mlp.act" in paths and "h.0.attn.c_attn" in paths
    assert d.input_variance is None and d.by_kind  # token ids: layers compared with the first of their kind
    assert d.verdict == "healthy", d.to_text()
    walked = {p.path.rsplit(".", 1)[0] for p in initspec.plan(GPT2_PLAN, model).params}
    assert walked <= set(paths)  # every layer with parameters is measured
