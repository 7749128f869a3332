"""Plans on real Hugging Face models (issue 14), built from small configs with random weights -
nothing is downloaded: GPT-2's Conv1D read as a dense layer stored (in, out), every
RMSNorm-style class read as a norm (the registry and the structural test with its probe),
Gemma's 1 + weight norms (``offset_norm_ones``), depth formulas on real paths, tied
parameters planned once, and generic kind/role plans covering GPT-2, Llama, Gemma, BERT, ViT
and ResNet in strict mode without a guessed layout."""

from __future__ import annotations

import importlib
import json
import math
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")

from initspec.adapters.torch import _layers
from initspec.adapters.torch.model import walk

import initspec
from initspec import SpecError
from initspec.plans import PlanWarning

nn = torch.nn
N_LAYER, N_EMBD = 2, 64

#: The transformers 5.23 model folder of each class of the registry (for the registry's check):
#: the class lives in ``transformers.models.<folder>.modeling_<folder>``.
HF_NORM_FOLDERS: dict[str, str] = json.loads((Path(__file__).parent / "hf_norm_folders.json").read_text())


@pytest.fixture(autouse=True, scope="module")
def _quiet_and_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    T.logging.set_verbosity_error()
    yield
    torch.set_num_threads(threads)


def _built(factory):
    """A model built under a fixed seed, the global RNG left as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return factory()


def gpt2(n_layer: int = N_LAYER):
    cfg = T.GPT2Config(n_layer=n_layer, n_embd=N_EMBD, n_head=4, vocab_size=128, n_positions=32,
                       bos_token_id=0, eos_token_id=0)
    return _built(lambda: T.GPT2LMHeadModel(cfg))


def llama(n_layer: int = 3):
    cfg = T.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=n_layer, num_attention_heads=4,
                        num_key_value_heads=2, vocab_size=128, max_position_embeddings=32)
    return _built(lambda: T.LlamaForCausalLM(cfg))


def gemma():
    cfg = T.GemmaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=1, head_dim=16, vocab_size=128, max_position_embeddings=32)
    return _built(lambda: T.GemmaForCausalLM(cfg))


def bert():
    cfg = T.BertConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       vocab_size=128, max_position_embeddings=32)
    return _built(lambda: T.BertForMaskedLM(cfg))


def vit():
    cfg = T.ViTConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      image_size=32, patch_size=8, num_labels=10)
    return _built(lambda: T.ViTForImageClassification(cfg))


def resnet():
    cfg = T.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="bottleneck",
                         num_labels=10)
    return _built(lambda: T.ResNetForImageClassification(cfg))


MODELS = {"gpt2": gpt2, "llama": llama, "gemma": gemma, "bert": bert, "vit": vit, "resnet": resnet}

#: One spec per role - no path, no type: what a user writes first.
GENERIC = {"weight": {"scheme": "he", "distribution": "normal"}, "bias": {"scheme": "zeros"},
           "offset": {"scheme": "zeros"}, "scale": {"scheme": "ones"},
           "embedding": {"scheme": "normal", "std": 0.02}}


def generic_plan(model, scale: dict | None = None) -> dict:
    """Rules by role only, for the roles the model has (a rule that matches nothing is an error)."""
    roles = {p.role for p in walk(model)}
    specs = {**GENERIC, **({"scale": scale} if scale else {})}
    return {"rules": [{"match": {"role": r}, "init": s} for r, s in specs.items() if r in roles]}


# ============================================================================ GPT-2


def test_gpt2_conv1d_is_dense_stored_in_out():
    m = gpt2()
    info = {p.path: p for p in walk(m)}
    w, b = info["transformer.h.0.mlp.c_fc.weight"], info["transformer.h.0.mlp.c_fc.bias"]
    assert (w.kind, w.role, w.type, w.shape) == ("dense", "weight", "Conv1D", (N_EMBD, 4 * N_EMBD))
    assert w.layout == w.native_layout == initspec.Axes(in_axes=(0,), out_axes=(1,))
    assert (w.layer_fans.fan_in, w.layer_fans.fan_out) == (N_EMBD, 4 * N_EMBD)
    assert b.kind == "dense" and b.layer_fans == w.layer_fans == b.layer_native_fans
    # torch's own fan helper reads this tensor transposed (the trap the walker avoids)
    assert nn.init._calculate_fan_in_and_fan_out(m.transformer.h[0].mlp.c_fc.weight) == (4 * N_EMBD, N_EMBD)
    assert all(p.kind != "other" for p in info.values())


@pytest.mark.parametrize("fans", ["layer", "native"])
def test_gpt2_he_normal_on_dense_weights_reads_n_embd(fans):
    m = gpt2()
    plan = {"rules": [{"match": {"kind": "dense", "role": "weight"}, "init": {"scheme": "he", "distribution": "normal"},
                       "fans": fans}]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlanWarning)  # biases, norms, embeddings left as they are
        table = initspec.plan(plan, m, strict=False)
        initspec.apply(plan, m, strict=False)
    row = table.row("transformer.h.0.mlp.c_fc.weight")
    assert row.kind == "dense" and row.distribution.std == pytest.approx(math.sqrt(2 / N_EMBD))
    assert table.row("transformer.h.0.mlp.c_proj.weight").distribution.std == pytest.approx(math.sqrt(2 / (4 * N_EMBD)))
    w = m.transformer.h[0].mlp.c_fc.weight.detach()
    assert float(w.std()) == pytest.approx(math.sqrt(2 / N_EMBD), rel=0.05)


def test_gpt2_residual_scaling_by_count_of_layers():
    m = gpt2(n_layer=3)
    plan = {"rules": [
        {"match": {"kind": "dense", "role": "weight"}, "init": {"scheme": "normal", "std": 0.02}},
        {"match": {"path": "transformer.h.{i}.*.c_proj.weight"}, "init": {"scheme": "normal",
                                                                          "std": "0.02 / sqrt(2 * count(i))"}},
        {"match": {"role": ["bias", "offset"]}, "init": {"scheme": "zeros"}},
        {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
        {"match": {"role": "embedding"}, "init": {"scheme": "normal", "std": 0.02}}]}
    table = initspec.plan(plan, m)
    rows = [r for r in table if r.path.endswith("c_proj.weight")]
    assert len(rows) == 2 * 3  # attention and MLP c_proj of every block
    for r in rows:
        assert r.distribution.std == pytest.approx(0.02 / math.sqrt(2 * 3))
        assert r.formulas[0].expression == "0.02 / sqrt(2 * count(i))"
    assert table.row("transformer.h.0.attn.c_attn.weight").distribution.std == 0.02


def test_gpt2_tied_lm_head_is_planned_once():
    m = gpt2()
    assert m.lm_head.weight is m.transformer.wte.weight
    table = initspec.plan(generic_plan(m), m)
    hits = [r for r in table if r.param.native_path in ("transformer.wte.weight", "lm_head.weight")]
    assert len(hits) == 1 and hits[0].param.aliases == ("lm_head.weight",)
    assert table.row("lm_head.weight") is hits[0]
    with pytest.raises(SpecError) as exc:  # a rule on the alias: matches nothing, and says why
        initspec.plan({**generic_plan(m), "rules": [*generic_plan(m)["rules"],
                                                    {"match": {"path": "lm_head.weight"}, "init": {"scheme": "zeros"}}]}, m)
    assert "tied to 'transformer.wte.embedding'" in str(exc.value)


# ============================================================================ Llama, Gemma


def test_llama_depth_formula_per_layer():
    m = llama(n_layer=3)
    plan = {"rules": [*generic_plan(m)["rules"],
                      {"match": {"path": "model.layers.{i}.self_attn.o_proj.weight"},
                       "init": {"scheme": "normal", "std": "0.02 / sqrt(2 * (i + 1))"}}]}
    table = initspec.plan(plan, m)
    for i in range(3):
        row = table.row(f"model.layers.{i}.self_attn.o_proj.weight")
        assert row.captures == {"i": i}
        assert row.distribution.std == pytest.approx(0.02 / math.sqrt(2 * (i + 1)))
    with pytest.raises(SpecError) as exc:
        initspec.plan({"rules": [*generic_plan(m)["rules"],
                                 {"match": {"path": "model.layers.{i}.self_attn.o_proj.weight"},
                                  "init": {"scheme": "normal", "std": "0.02 / sqrt(2 * (j + 1))"}}]}, m)
    assert "unknown_variable" in exc.value.codes and "'j'" in str(exc.value)


def test_llama_every_rmsnorm_is_a_norm_scale():
    m = llama()
    norms = [p for p in walk(m) if p.type == "LlamaRMSNorm"]
    assert len(norms) == 2 * 3 + 1
    assert all((p.kind, p.role, p.scale_offset, p.path.endswith(".scale")) == ("norm", "scale", 0, True)
               for p in norms)
    # the trap of issue 14: a broad role-weight rule no longer reaches the gains
    table = initspec.plan(generic_plan(m), m)
    assert all(table.row(p.path).distribution.mean == 1 for p in norms)


def test_gemma_norms_scale_by_one_plus_weight():
    m = gemma()
    norms = [p for p in walk(m) if p.type == "GemmaRMSNorm"]
    assert norms and all((p.kind, p.role, p.scale_offset) == ("norm", "scale", 1) for p in norms)
    assert all(p.notes == (_layers.OFFSET_NOTE,) for p in norms)
    assert all(float(m.get_submodule(p.native_path.rsplit(".", 1)[0]).weight.detach().abs().max()) == 0 for p in norms)
    with pytest.raises(SpecError) as exc:  # ones doubles the gain
        initspec.plan(generic_plan(m), m)
    assert exc.value.codes == ["offset_norm_ones"]
    text = str(exc.value)
    assert "GemmaRMSNorm" in text and "{scheme: zeros}" in text and f"{len(norms) - 1} more" in text
    with pytest.raises(SpecError):  # any law of mean near one
        initspec.plan(generic_plan(m, scale={"scheme": "normal", "mean": 1.0, "std": 0.02}), m)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = initspec.plan(generic_plan(m), m, strict=False)
    assert any("offset_norm_ones" in str(w.message) for w in caught if issubclass(w.category, PlanWarning))
    assert len(table) == len(walk(m))
    initspec.apply(generic_plan(m, scale={"scheme": "zeros"}), m)  # the neutral init
    assert all(float(m.get_submodule(p.native_path.rsplit(".", 1)[0]).weight.detach().abs().max()) == 0 for p in norms)


# ============================================================================ every model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_generic_plan_covers_every_real_model_in_strict_mode(name):
    m = MODELS[name]()
    params = walk(m)
    assert [p for p in params if p.kind == "other"] == []  # nothing read from a guessed layout
    scale = {"scheme": "zeros"} if name == "gemma" else None
    table = initspec.plan(generic_plan(m, scale), m)
    assert len(table) == len(params) == len({id(p.handle.tensor) for p in params})
    assert {id(p) for p in m.parameters()} == {id(p.handle.tensor) for p in params}
    for r in table:
        if r.role == "weight":
            assert r.fans is not None and r.kind in ("dense", "conv", "depthwise_conv")
    initspec.apply(generic_plan(m, scale), m)


SMALL = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "vocab_size": 128, "max_position_embeddings": 64}
MORE = {
    "t5": lambda: T.T5ForConditionalGeneration(T.T5Config(d_model=64, d_ff=128, num_layers=2, num_heads=4, d_kv=16,
                                                          vocab_size=128)),
    "qwen2": lambda: T.Qwen2ForCausalLM(T.Qwen2Config(**SMALL, num_key_value_heads=2)),
    "gemma2": lambda: T.Gemma2ForCausalLM(T.Gemma2Config(**SMALL, num_key_value_heads=1, head_dim=16)),
    "nemotron": lambda: T.NemotronForCausalLM(T.NemotronConfig(**SMALL, num_key_value_heads=2)),
    "openai-gpt": lambda: T.OpenAIGPTLMHeadModel(T.OpenAIGPTConfig(n_embd=64, n_layer=2, n_head=4, vocab_size=128,
                                                                   n_positions=64)),
    "swin": lambda: T.SwinForImageClassification(T.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1],
                                                              num_heads=[2, 2], window_size=2)),
}
#: The norms of each that scale by 1 + weight.
OFFSET_NORMS = {"gemma2": {"Gemma2RMSNorm"}, "nemotron": {"NemotronLayerNorm1P"}}


@pytest.mark.parametrize("name", sorted(MORE))
def test_more_architectures_have_no_unrecognised_parameter(name):
    params = walk(_built(MORE[name]))
    assert [p.path for p in params if p.kind == "other"] == []
    assert {p.type for p in params if p.scale_offset} == OFFSET_NORMS.get(name, set())


def test_bert_head_bias_takes_the_decoder_kind():
    m = bert()
    assert m.cls.predictions.bias is m.cls.predictions.decoder.bias
    p = {p.path: p for p in walk(m)}["cls.predictions.bias"]
    assert (p.kind, p.role, p.type, p.aliases) == ("dense", "bias", "Linear", ("cls.predictions.decoder.bias",))
    assert p.layer_fans.fan_in == 64


def test_vit_tokens_are_embedding_tables():
    info = {p.path: p for p in walk(vit())}
    cls, pos = info["vit.embeddings.cls_token"], info["vit.embeddings.position_embeddings"]
    assert (cls.kind, cls.role, cls.shape) == ("embedding", "embedding", (1, 1, 64))
    assert (pos.kind, pos.role, pos.shape) == ("embedding", "embedding", (1, 17, 64))
    assert pos.layout == initspec.Axes(in_axes=(1,), out_axes=(2,), batch_axes=(0,))


def test_meta_llama_is_read_the_same():
    with torch.device("meta"):
        m = llama()
    on_meta = [(p.path, p.kind, p.role, p.scale_offset) for p in walk(m)]
    assert on_meta == [(p.path, p.kind, p.role, p.scale_offset) for p in walk(llama())]


# ============================================================================ norms: registry and probe


class PlainRMS(nn.Module):
    """An RMSNorm of the user's, unknown to every registry."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class OffsetRMS(PlainRMS):
    def __init__(self, d, eps=1e-6):
        super().__init__(d, eps)
        nn.init.zeros_(self.weight)

    def forward(self, x):
        return (1 + self.weight) * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class CenteredLN(nn.Module):
    """A LayerNorm with a bias and its gain stored as 1 + gamma."""

    def __init__(self, d):
        super().__init__()
        self.gamma, self.beta, self.variance_epsilon = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d)), 1e-5

    def forward(self, x):
        return nn.functional.layer_norm(x, x.shape[-1:], 1 + self.gamma, self.beta, self.variance_epsilon)


class Affine(nn.Module):
    """Not a norm, though it has an eps and a 1-D weight: x * w + 1."""

    def __init__(self, d):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), 1e-6

    def forward(self, x):
        return x * self.weight + 1


class Net(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.plain, self.offset, self.centered, self.affine = PlainRMS(d), OffsetRMS(d), CenteredLN(d), Affine(d)


def test_structural_test_and_probe_on_classes_nobody_registered():
    net = Net()
    info = {p.path: p for p in walk(net)}
    assert (info["plain.scale"].kind, info["plain.scale"].scale_offset) == ("norm", 0)
    assert (info["offset.scale"].kind, info["offset.scale"].scale_offset) == ("norm", 1)
    assert (info["centered.scale"].role, info["centered.offset"].role, info["centered.scale"].scale_offset) == (
        "scale", "offset", 1)
    assert (info["affine.weight"].kind, info["affine.weight"].role) == ("other", "weight")


def test_probe_changes_nothing():
    net = Net()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    hook_calls = []
    net.plain.register_forward_hook(lambda *a: hook_calls.append(1))
    rng = torch.get_rng_state()
    walk(net)
    assert torch.equal(rng, torch.get_rng_state())  # the global RNG is not advanced
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.plain.calls == 0 and hook_calls == []  # the copy ran, not the module
    assert all(p.grad is None for p in net.parameters())


def test_registry_matches_the_probe_on_every_buildable_class():
    assert set(HF_NORM_FOLDERS) == set(_layers.HF_NORMS)
    checked = 0
    for name, folder in HF_NORM_FOLDERS.items():
        cls = getattr(importlib.import_module(f"transformers.models.{folder}.modeling_{folder}"), name)
        module = None
        for args, kwargs in (((16,), {}), ((16,), {"group_size": 16}), ((), {"hidden_size": 16})):
            try:
                module = cls(*args, **kwargs)
                break
            except Exception:  # noqa: BLE001, S112 - another constructor signature
                continue
        if module is None:
            continue
        found = _layers._structure(module)
        assert found is not None, name
        offset = _layers.probe(module, found[0], found[1], torch)
        if offset is None:
            assert "Gated" in name, name  # gated norms need their gate input
            continue
        assert offset == _layers.HF_NORMS[name], name
        checked += 1
    assert checked >= 50


# ============================================================================ unknown layers


class MyProj(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.w = nn.Parameter(torch.randn(d_out, d_in))


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = MyProj(16, 8)
        self.head = nn.Linear(8, 4)


def test_fan_based_law_on_an_unknown_layer_is_an_error_until_declared():
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
                      {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}]}
    with pytest.raises(SpecError) as exc:
        initspec.plan(plan, Custom())
    assert exc.value.codes == ["unknown_layer_type"]
    assert "MyProj" in str(exc.value) and "types: {MyProj: {kind: dense" in str(exc.value)
    table = initspec.plan({**plan, "types": {"MyProj": {"kind": "dense", "layout": "torch"}}}, Custom())
    assert table.row("proj.weight").fans.fan_in == 16
    assert table.row("proj.weight").distribution.std == pytest.approx(math.sqrt(2 / 16))


def test_the_gpt2_example_plan_fits_the_real_model_at_any_depth():
    """examples/gpt2.yaml (docs/formulas.md) on Hugging Face's GPT-2, strict."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "gpt2.yaml"
    for n_layer in (2, 4):
        m = gpt2(n_layer)
        table = initspec.plan(str(path), m)
        assert len(table) == len(walk(m))
        assert table.row("transformer.h.1.mlp.c_proj.weight").distribution.std == pytest.approx(
            0.02 / math.sqrt(2 * n_layer))
        assert table.row("transformer.h.1.mlp.c_fc.weight").distribution.std == 0.02
