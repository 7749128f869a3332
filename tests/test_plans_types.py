"""Reading every layer right, framework-free: declared native types, no fan-based law on a guessed
layout, errors by root cause, kind/role synonyms, inspect, PlanTable.row, and plan() speed.

The walker records here are what a torch walker reports for Hugging Face GPT-2 and Llama today
(``Conv1D`` and ``LlamaRMSNorm`` read as kind ``other`` with the torch layout); the declarations
are applied by the core, the same for every backend."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from initspec.adapters.numpy import Params

import initspec
from initspec import SpecError
from initspec.layout import compute_fans
from initspec.params import ParamInfo
from initspec.plans import (
    KIND_ALIASES,
    KINDS,
    ROLE_ALIASES,
    ROLES,
    PlanWarning,
    build_table,
    parse_plan,
)

from _shared import cli_in, python_calls


def info(path: str, shape: tuple[int, ...], kind: str, role: str, type_: str, layout: str = "torch") -> ParamInfo:
    fans = compute_fans(shape, layout) if len(shape) >= 2 else None
    return ParamInfo(path=path, native_path=path, shape=shape, dtype="float32", kind=kind, role=role, type=type_,
                     layout=layout, native_layout=layout, layer_fans=fans, layer_native_fans=fans)


def hf_gpt2(n_layer: int = 2, d: int = 768) -> list[ParamInfo]:
    """GPT-2's walker records before declarations: Conv1D weights (in, out) read with the torch layout."""
    out = [info("transformer.wte.weight", (50257, d), "embedding", "embedding", "Embedding")]
    for i in range(n_layer):
        h = f"transformer.h.{i}"
        out += [info(f"{h}.ln_1.scale", (d,), "norm", "scale", "LayerNorm"),
                info(f"{h}.ln_1.offset", (d,), "norm", "offset", "LayerNorm"),
                info(f"{h}.attn.c_attn.weight", (d, 3 * d), "other", "weight", "Conv1D"),
                info(f"{h}.attn.c_attn.bias", (3 * d,), "other", "bias", "Conv1D"),
                info(f"{h}.attn.c_proj.weight", (d, d), "other", "weight", "Conv1D"),
                info(f"{h}.attn.c_proj.bias", (d,), "other", "bias", "Conv1D"),
                info(f"{h}.mlp.c_fc.weight", (d, 4 * d), "other", "weight", "Conv1D"),
                info(f"{h}.mlp.c_fc.bias", (4 * d,), "other", "bias", "Conv1D"),
                info(f"{h}.mlp.c_proj.weight", (4 * d, d), "other", "weight", "Conv1D"),
                info(f"{h}.mlp.c_proj.bias", (d,), "other", "bias", "Conv1D")]
    return out


def llama(n_layers: int = 2, d: int = 64) -> list[ParamInfo]:
    out = [info("model.embed_tokens.weight", (100, d), "embedding", "embedding", "Embedding")]
    for i in range(n_layers):
        out += [info(f"model.layers.{i}.self_attn.o_proj.weight", (d, d), "dense", "weight", "Linear"),
                info(f"model.layers.{i}.input_layernorm.weight", (d,), "other", "weight", "LlamaRMSNorm")]
    return out + [info("model.norm.weight", (d,), "other", "weight", "LlamaRMSNorm"),
                  info("lm_head.weight", (100, d), "dense", "weight", "Linear")]


GENERIC = {"rules": [{"match": {"kind": "dense", "role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
                     {"match": {"role": "bias"}, "init": {"scheme": "zeros"}},
                     {"match": {"kind": "embedding"}, "init": {"scheme": "normal", "std": 0.02}},
                     {"match": {"kind": "norm", "role": "scale"}, "init": {"scheme": "ones"}},
                     {"match": {"kind": "norm", "role": "offset"}, "init": {"scheme": "zeros"}}]}
DECLARED = {**GENERIC, "types": {"Conv1D": {"kind": "dense", "layout": "jax"}}}
LLAMA = {"types": {"LlamaRMSNorm": {"kind": "rmsnorm"}},
         "rules": [{"match": {"kind": "dense", "role": "weight"}, "init": {"scheme": "normal", "std": 0.02}},
                   {"match": {"kind": "embedding"}, "init": {"scheme": "normal", "std": 0.02}},
                   {"match": {"kind": "norm", "role": "scale"}, "init": {"scheme": "ones"}}]}


def table(plan: dict, params: list[ParamInfo], **kw):
    return build_table(parse_plan(plan), params, backend="torch", **kw)


def error(fn) -> SpecError:
    with pytest.raises(SpecError) as got:
        fn()
    return got.value


# ----------------------------------------------------------------------------- declared types


def test_declared_conv1d_is_dense_with_its_real_fans() -> None:
    t = table(DECLARED, hf_gpt2())
    fc = t.row("transformer.h.0.mlp.c_fc.weight")
    assert (fc.kind, fc.role, fc.type) == ("dense", "weight", "Conv1D")
    assert fc.fans.fan_in == 768 and fc.distribution.std == pytest.approx(math.sqrt(2 / 768))  # not 3072
    proj = t.row("transformer.h.1.mlp.c_proj.weight")
    assert proj.fans.fan_in == 3072 and proj.param.layout == "jax" and proj.param.native_layout == "torch"
    bias = t.row("transformer.h.0.mlp.c_fc.bias")
    assert bias.kind == "dense" and bias.param.layer_fans.fan_in == 768  # the bias knows its layer's fans


def test_declared_norm_renames_weight_to_scale() -> None:
    t = table(LLAMA, llama())
    for path in ("model.layers.0.input_layernorm.scale", "model.norm.scale"):
        row = t.row(path)
        assert (row.kind, row.role) == ("norm", "scale") and row.distribution.describe() == "constant 1"
    assert t.row("model.norm.weight").path == "model.norm.scale"  # the framework's own name finds it


def test_declared_layout_as_axes_and_kind_alias() -> None:
    plan = {**GENERIC, "types": {"Conv1D": {"kind": "linear", "layout": {"in_axes": [0], "out_axes": [1]}}}}
    t = table(plan, hf_gpt2(n_layer=1))
    assert t.row("transformer.h.0.attn.c_attn.weight").fans.fan_in == 768
    assert parse_plan(plan).types["Conv1D"].kind == "dense"


def test_undeclared_fan_based_law_on_an_unknown_type_is_an_error_naming_the_fix() -> None:
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
                      {"match": {"role": ["bias", "embedding", "offset", "scale"]}, "init": {"scheme": "zeros"}}]}
    exc = error(lambda: table(plan, hf_gpt2()))
    assert exc.codes == ["unknown_layer_type"]  # one error for the rule and the type, not one per parameter
    e = exc.errors[0]
    assert e.loc == ("rules[0]",) and e.value == "Conv1D"
    assert e.message.startswith("rules[0] gives he, which reads the tensor's fans, to transformer.h.0.attn.c_attn."
                                "weight (shape (768, 2304)), but its layer type Conv1D was not recognised (kind other)")
    assert "types: {Conv1D: {kind: dense, layout: torch | keras | jax" in e.message
    assert "`fans: native`" in e.message and e.message.endswith("(and 7 more parameters alike)")
    # the norm gains: a 1-D weight of an unknown type given a fan-based law
    exc = error(lambda: table(plan, llama()))
    assert exc.codes == ["unknown_layer_type"] and "types: {LlamaRMSNorm: {kind: norm}}" in exc.errors[0].message


def test_fans_native_or_a_fan_free_law_needs_no_declaration() -> None:
    native = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"},
                         "fans": "native"},
                        {"match": {"role": ["bias", "embedding", "offset", "scale"]}, "init": {"scheme": "zeros"}}]}
    t = table(native, hf_gpt2(n_layer=1))
    assert t.row("transformer.h.0.mlp.c_fc.weight").fans.fan_in == 3072  # what torch itself would read
    free = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "normal", "std": 0.02}},
                      {"match": {"role": ["bias", "embedding", "offset", "scale"]}, "init": {"scheme": "zeros"}}]}
    assert len(table(free, hf_gpt2(n_layer=1))) == 11
    eye = {"rules": [{"match": {"type": "Conv1D", "role": "weight"}, "init": {"scheme": "identity"}}]}
    assert table(eye, [info("a.weight", (4, 4), "other", "weight", "Conv1D")]).rows[0].spec.scheme == "identity"


def test_non_strict_guesses_with_a_warning() -> None:
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}}]}
    with pytest.warns(PlanWarning, match="unknown_layer_type"):
        t = table(plan, [info("a.weight", (8, 4), "other", "weight", "Mystery")], strict=False)
    assert t.rows[0].fans.fan_in == 4 and "unknown_layer_type" in t.warnings[0]


def test_numpy_arrays_of_unknown_layers_too() -> None:
    model = {"router": {"gate": np.zeros((8, 4), np.float32)}}  # leaf 'gate': role other, kind other
    exc = error(lambda: initspec.plan({"rules": [{"init": {"scheme": "glorot", "distribution": "uniform"}}]}, model))
    assert exc.codes == ["unknown_layer_type"] and "type ndarray" in exc.errors[0].message
    ok = {"types": {"ndarray": {"kind": "dense"}}, "rules": [{"init": {"scheme": "glorot", "distribution": "uniform"}}]}
    assert initspec.plan(ok, model).rows[0].kind == "dense"


def test_unused_type_declaration() -> None:
    exc = error(lambda: table({**DECLARED, "types": {"Conv1d": {"kind": "dense"}}}, hf_gpt2(n_layer=1)))
    assert exc.codes[0] == "unused_type"
    assert exc.errors[0].loc == ("types", "Conv1d") and "(did you mean 'Conv1D'?)" in exc.errors[0].message


# ----------------------------------------------------------------------------- errors by root cause


def test_root_causes_come_first_and_uncovered_parameters_are_grouped() -> None:
    plan = {"rules": [{"match": {"kind": "dense", "role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
                      {"match": {"path": "transformer.h.*.attn.c_projj.weight"}, "init": {"scheme": "zeros"}},
                      {"match": {"kind": "norm"}, "init": {"scheme": "ones"}},
                      {"match": {"path": "lm_head.weight"}, "init": {"scheme": "zeros"}}]}
    params = hf_gpt2(n_layer=12)
    exc = error(lambda: table(plan, params))
    assert exc.codes == ["unused_rule"] * 3 + ["uncovered_parameter"] * 3
    assert exc.errors[0].loc == ("rules[0]",)  # {kind: dense}: every dense layer of GPT-2 is a Conv1D
    assert ("no parameter has kind dense (kinds here: embedding, norm, other); types not recognised as layers (kind "
            "other): Conv1D - if Conv1D is a dense layer, declare it: types: {Conv1D: {kind: dense, layout: "
            "torch | keras | jax") in exc.errors[0].message
    assert "did you mean 'transformer.h.0.attn.c_proj.weight'" in exc.errors[1].message
    assert exc.errors[2].loc == ("rules[3]",)
    weights, biases, wte = exc.errors[3:]
    assert weights.message.startswith("48 parameters of type Conv1D with role weight, read as kind other, are not "
                                      "covered by any rule, e.g. transformer.h.0.attn.c_attn.weight (shape (768, 2304))")
    assert "declare it - types: {Conv1D: {kind: dense" in weights.message
    assert biases.message.startswith("48 parameters of type Conv1D with role bias")
    assert wte.message.startswith("transformer.wte.weight (embedding/embedding, type Embedding, shape (50257, 768)) "
                                  "is not covered")
    assert len(exc.errors) < 20  # what the command line shows before "and N more"


def test_unused_kind_rule_names_the_unrecognised_types() -> None:
    exc = error(lambda: table({"rules": [{"match": {"kind": "norm"}, "init": {"scheme": "ones"}},
                                         {"init": {"scheme": "zeros"}}]}, llama()))
    assert exc.codes == ["unused_rule"]
    assert ("no parameter has kind norm (kinds here: dense, embedding, other); types not recognised as layers "
            "(kind other): LlamaRMSNorm - if LlamaRMSNorm is a norm layer, declare it: types: {LlamaRMSNorm: "
            "{kind: norm}}") in exc.errors[0].message


def test_incompatible_specs_are_grouped_too() -> None:
    model = {f"l{i}": {"weight": np.zeros((3, 3), np.float32), "bias": np.zeros(3, np.float32)} for i in range(5)}
    exc = error(lambda: initspec.plan({"rules": [{"init": {"scheme": "orthogonal"}}]}, model))
    assert exc.codes == ["incompatible_spec"] and exc.errors[0].message.endswith("(and 4 more parameters alike)")


def test_cli_shows_the_root_cause_first(tmp_path, monkeypatch) -> None:
    pytest.importorskip("typer.testing")
    cli = cli_in(tmp_path, monkeypatch, {
        "rootcause.py":
            "import numpy as np\n"
            "def model():\n"
            "    return {f'h.{i}.{n}': {'kernel': np.zeros((4, 4), np.float32), 'bias': np.zeros(4, np.float32)}\n"
            "            for i in range(25) for n in ('attn', 'mlp')}\n",
        "plan.yaml": "format_version: 1\nrules:\n  - match: {role: weight}\n"
                     "    init: {scheme: he, distribution: normal}\n"
                     "  - match: {path: 'h.*.atn.bias'}\n    init: {scheme: zeros}\n"
                     "  - match: {kind: norm}\n    init: {scheme: ones}\n"})
    result = cli("plan", "plan.yaml", "--model", "rootcause:model", code=1)
    lines = result.stderr.splitlines()
    assert lines[0] == "3 problems resolving the plan against the model (nothing was changed)"
    assert lines[1].startswith("error: rules[1] (plan.yaml:5:5): rule {path=h.*.atn.bias} matches no parameter; did "
                               "you mean 'h.0.attn.bias'")
    assert lines[2].startswith("error: rules[2] (plan.yaml:7:5): rule {kind=norm} matches no parameter")
    assert lines[3].startswith("error: h.0.attn.bias: 50 parameters of type ndarray with role bias, read as kind "
                               "dense, are not covered")


# ----------------------------------------------------------------------------- synonyms


def test_kind_and_role_aliases_are_canonicalised() -> None:
    plan = parse_plan({"defaults": {"kernel": {"scheme": "zeros"}, "gamma": {"scheme": "ones"}},
                       "rules": [{"match": {"kind": ["linear", "fc", "conv2d"], "role": "beta"},
                                  "init": {"scheme": "zeros"}},
                                 {"match": {"kind": ["layernorm", "rmsnorm", "batchnorm", "lstm", "gru", "rnn"]},
                                  "init": {"scheme": "zeros"}}]})
    assert set(plan.defaults) == {"weight", "scale"}
    assert plan.rules[0].match.kind == ("dense", "dense", "conv") and plan.rules[0].match.role == ("offset",)
    assert set(plan.rules[1].match.kind) == {"norm", "recurrent"}
    assert set(KIND_ALIASES.values()) <= set(KINDS) and set(ROLE_ALIASES.values()) <= set(ROLES)
    assert plan.to_dict()["defaults"] == {"weight": {"scheme": "zeros"}, "scale": {"scheme": "ones"}}


def test_unknown_words_get_did_you_mean_and_duplicate_roles_are_refused() -> None:
    exc = error(lambda: parse_plan({"rules": [{"match": {"kind": "lineer"}, "init": {"scheme": "zeros"}}]}))
    assert exc.codes == ["invalid_choice"] and "did you mean 'linear'?" in exc.errors[0].message
    exc = error(lambda: parse_plan({"defaults": {"weight": {"scheme": "zeros"}, "kernel": {"scheme": "ones"}}}))
    assert exc.codes == ["duplicate_role"] and "'weight' and 'kernel' are the same role" in exc.errors[0].message


# ----------------------------------------------------------------------------- discoverability


def test_plan_row_kind_role_type_and_unknown_rows() -> None:
    model = Params({"enc": {"fc": {"kernel": np.zeros((4, 3), np.float32), "bias": np.zeros(3, np.float32)}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlanWarning)
        t = initspec.plan({"rules": [{"match": {"role": "weight"}, "init": {"scheme": "zeros"}}]}, model, strict=False)
    row = t.row("enc.fc.kernel")
    assert (row.kind, row.role, row.type) == ("dense", "weight", "ndarray")
    exc = error(lambda: t.row("enc.fc.wieght"))
    assert exc.codes == ["unknown_path"] and exc.errors[0].loc == ("enc.fc.wieght",)
    assert "did you mean 'enc.fc.weight'?" in exc.errors[0].message
    assert isinstance(exc, KeyError) is False and isinstance(exc, ValueError)
    exc = error(lambda: t.row("enc.fc.bias"))
    assert "a parameter of the model that this plan left uncovered" in exc.errors[0].message


def test_inspect_lists_every_parameter_without_a_plan() -> None:
    model = {"fc": {"kernel": np.zeros((4, 3), np.float32), "bias": np.zeros(3, np.float32)},
             "ln": {"scale": np.zeros(3, np.float32)}, "pos": np.zeros((5, 3), np.float32)}
    got = initspec.plans.inspect(model)
    assert [(p.path, p.kind, p.role) for p in got.params] == [
        ("fc.weight", "dense", "weight"), ("fc.bias", "dense", "bias"), ("ln.scale", "norm", "scale"),
        ("pos", "other", "other")]
    text = got.to_text()
    assert text.splitlines()[0].split() == ["path", "shape", "dtype", "kind/role", "type", "layout", "native", "path"]
    assert "fc.weight  4x3    float32  dense/weight  ndarray  jax     fc.kernel" in text
    assert "note: type ndarray (1 parameter) was not recognised as a layer (kind other)" in text
    data = got.to_json()
    json.dumps(data)
    assert data["parameters"][0]["native_path"] == "fc.kernel" and data["unrecognised_types"] == {"ndarray": 1}
    declared = initspec.plans.inspect(model, {"types": {"ndarray": {"kind": "dense"}}})
    assert declared.params[3].kind == "dense" and declared.unrecognised() == {}


def test_cli_inspect(tmp_path, monkeypatch) -> None:
    pytest.importorskip("typer.testing")
    cli = cli_in(tmp_path, monkeypatch, {
        "inspected.py":
            "import numpy as np\ndef model():\n"
            "    return {'fc': {'kernel': np.zeros((4, 3), np.float32)}, 'ln': {'scale': np.zeros(3, np.float32)}}\n"})
    result = cli("inspect", "--model", "inspected:model")
    assert result.stdout.splitlines()[2].split() == ["fc.weight", "4x3", "float32", "dense/weight", "ndarray", "jax",
                                                     "fc.kernel"]
    result = cli("inspect", "--model", "inspected:model", "--format", "json", code=None)
    assert json.loads(result.stdout)["parameters"][1]["kind"] == "norm"
    result = cli("inspect", "--model", "inspected:nope", code=1)
    assert "[model_import]" in result.stderr


# ----------------------------------------------------------------------------- speed


def _big(layers: int = 333) -> Params:
    return Params({f"h.{i}.{name}": {"kernel": np.zeros((8, 8), np.float32), "bias": np.zeros(8, np.float32)}
                   for i in range(layers) for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj",
                                                       "x.a", "x.b")})


def test_many_mistyped_rules_report_fast() -> None:
    """300 mistyped path rules on 3,996 tensors: the did-you-mean must not be quadratic (it took 111 s)."""
    model = _big()
    good = [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
            {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}]
    bad = good + [{"match": {"path": f"h.{i}.atn.c_proj.weight"}, "init": {"scheme": "zeros"}} for i in range(300)]
    exc, calls = python_calls(lambda: error(lambda: initspec.plan({"rules": bad}, model)))
    _, good_calls = python_calls(lambda: initspec.plan({"rules": good}, model))
    assert exc.codes == ["unused_rule"] * 300
    assert "did you mean 'h.7.attn.c_proj.weight'" in exc.errors[7].message
    # work in function calls, not wall time: 1.9x the good plan's today; a did-you-mean over
    # 300 rules x 4,000 paths would be hundreds of times
    assert calls < 4 * good_calls, (calls, good_calls)
