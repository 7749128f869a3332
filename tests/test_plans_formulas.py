"""Formulas in plans: numeric spec fields as expressions over vars, path captures and count()
(framework-free: NumPy mappings named like the real architectures, docs/architectures.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from initspec.adapters.numpy import Params

import initspec
from initspec import SpecError
from initspec.plans import SpecTemplate

from _shared import cli_in

ROOT = Path(__file__).resolve().parents[1]


def _architectures():
    """docs/architectures.py (the NumPy stand-ins the docs use), loaded by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_architectures", ROOT / "docs" / "architectures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_arch = _architectures()
gpt2, llama, beit, encoder, mlp = _arch.gpt2, _arch.llama, _arch.beit, _arch.encoder, _arch.mlp

GPT2_RESIDUAL = {"match": {"path": "transformer.h.{i}.*.c_proj.weight"},
                 "init": {"scheme": "normal", "std": "0.02 / sqrt(2 * count(i))"}}
GPT2 = {"defaults": {"weight": {"scheme": "normal", "std": 0.02}, "embedding": {"scheme": "normal", "std": 0.02},
                     "bias": {"scheme": "zeros"}, "scale": {"scheme": "ones"}, "offset": {"scheme": "zeros"}},
        "rules": [GPT2_RESIDUAL]}


def error(fn) -> SpecError:
    with pytest.raises(SpecError) as info:
        fn()
    return info.value


def stacked(n: int) -> Params:
    return Params({"layers": {str(i): {"proj": {"weight": np.zeros((4, 4), np.float32)}} for i in range(n)}})


# ----------------------------------------------------------------------------- values


def test_gpt2_count_is_the_depth_on_every_residual_row() -> None:
    table = initspec.plan(GPT2, gpt2(n_layer=12))
    residual = [r for r in table if r.rule == "rules[0]"]
    assert len(residual) == 24  # attn.c_proj and mlp.c_proj of 12 layers
    for r in residual:
        assert r.distribution.std == pytest.approx(0.02 / math.sqrt(2 * 12))
        assert r.formulas[0].field == "std" and r.formulas[0].expression == "0.02 / sqrt(2 * count(i))"
    assert table.row("transformer.h.0.mlp.c_fc.weight").distribution.std == 0.02  # the default
    # a deeper model, the same plan: the value follows the model
    assert initspec.plan(GPT2, gpt2(n_layer=48)).row("transformer.h.3.attn.c_proj.weight").distribution.std \
        == pytest.approx(0.02 / math.sqrt(96))


def test_per_layer_values_from_captures() -> None:
    plan = {"defaults": {"weight": {"scheme": "normal", "std": 0.02}, "embedding": {"scheme": "normal", "std": 1.0},
                         "scale": {"scheme": "ones"}},
            "rules": [{"match": {"path": ["layers.{i}.attention.wo.weight", "layers.{i}.feed_forward.w2.weight"]},
                       "init": {"scheme": "truncated_normal", "std": "0.02 / sqrt(2 * (i + 1))", "low": -3,
                                "high": 3, "bounds": "std"}}]}
    table = initspec.plan(plan, llama(n_layers=8))
    for i in range(8):
        row = table.row(f"layers.{i}.attention.wo.weight")
        assert row.captures == {"i": i}
        assert row.spec.std == pytest.approx(0.02 / math.sqrt(2 * (i + 1)))
        assert table.row(f"layers.{i}.feed_forward.w2.weight").spec.std == row.spec.std
    assert table.row("layers.5.attention.wq.weight").spec.std == 0.02


def test_several_formulas_in_one_spec_and_their_table_column() -> None:
    plan = {"defaults": {"weight": {"scheme": "normal", "std": 0.02}, "bias": {"scheme": "zeros"},
                         "scale": {"scheme": "ones"}, "offset": {"scheme": "zeros"}},
            "rules": [{"name": "beit rescale", "match": {"path": ["blocks.{l}.attn.proj.weight", "blocks.{l}.mlp.fc2.weight"]},
                       "init": {"scheme": "torch.trunc_normal", "std": "0.02 / sqrt(2 * (l + 1))",
                                "a": "-2 / sqrt(2 * (l + 1))", "b": "2 / sqrt(2 * (l + 1))"}}]}
    table = initspec.plan(plan, beit(depth=4))
    row = table.row("blocks.3.mlp.fc2.weight")
    assert [f.field for f in row.formulas] == ["std", "a", "b"]
    assert row.spec.b == pytest.approx(2 / math.sqrt(8)) and row.distribution.high == pytest.approx(2 / math.sqrt(8))
    text = table.to_text()
    assert text.splitlines()[0].split()[-1] == "formulas"
    assert "std = 0.02 / sqrt(2 * (l + 1)) = 0.00707107; a = -2 / sqrt(2 * (l + 1)) = -0.707107" in text
    data = table.to_json()["parameters"]
    fc2 = next(p for p in data if p["path"] == "blocks.3.mlp.fc2.weight")
    assert fc2["captures"] == {"l": 3} and fc2["formulas"][0] == {"field": "std", "expression":
                                                                 "0.02 / sqrt(2 * (l + 1))", "value": fc2["std"]}
    json.dumps(table.to_json())
    # a table without formulas keeps its columns
    assert "formulas" not in initspec.plan({"defaults": plan["defaults"]}, beit(depth=1)).to_text()


def test_vars_gain_and_integer_fields() -> None:
    plan = {"vars": {"N": 18, "width": 1024, "base_width": 256},
            "defaults": {"bias": {"scheme": "zeros"}, "scale": {"scheme": "ones"}, "offset": {"scheme": "zeros"}},
            "rules": [{"match": {"role": "weight"}, "init": {"scheme": "glorot", "distribution": "normal",
                                                              "gain": "(8 * N) ** -0.25"}},
                      {"match": {"path": "layers.{i}.self_attn.q_proj.weight"},
                       "init": {"scheme": "glorot", "distribution": "normal", "gain": "tanh"}},  # a name, not a var
                      {"match": {"path": "layers.0.fc1.weight"},
                       "init": {"scheme": "sparse", "sparsity": "base_width / width", "std": "+base_width / 1e4"}}]}
    table = initspec.plan(plan, encoder(n_layers=2))
    assert table.row("layers.1.fc2.weight").spec.gain == pytest.approx(144 ** -0.25)
    assert table.row("layers.1.self_attn.q_proj.weight").spec.gain == "tanh"
    assert table.row("layers.0.fc1.weight").spec.sparsity == 0.25
    dirac = {"rules": [{"match": {"path": "layers.{i}.proj.weight"}, "init": {"scheme": "constant", "value": "i"}}]}
    assert [r.spec.value for r in initspec.plan(dirac, stacked(3))] == [0.0, 1.0, 2.0]


def test_integer_field_takes_a_whole_number() -> None:
    conv = Params({"layers": {str(i): {"conv": {"weight": np.zeros((3, 3, 4, 4), np.float32)}} for i in range(2)}})
    ok = {"rules": [{"match": {"path": "layers.{i}.conv.weight"}, "init": {"scheme": "dirac", "groups": "2 ** i"}}]}
    table = initspec.plan(ok, conv)
    assert [r.spec.groups for r in table] == [1, 2] and isinstance(table.rows[1].spec.groups, int)
    bad = {"rules": [{"match": {"path": "layers.{i}.conv.weight"}, "init": {"scheme": "dirac", "groups": "i + 0.5"}}]}
    exc = error(lambda: initspec.plan(bad, conv))
    assert exc.codes == ["wrong_type"]
    assert exc.errors[0].loc == ("rules[0]", "init", "groups")
    assert "groups = i + 0.5 = 0.5 to layers.0.conv.weight (i=0), but groups takes an integer" in exc.errors[0].message


def test_specs_are_validated_once_per_distinct_values(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[float, ...]] = []
    original = SpecTemplate.spec

    def counting(self, values):
        calls.append(tuple(values))
        return original(self, values)

    monkeypatch.setattr(SpecTemplate, "spec", counting)
    model = Params({"h": {str(i): {n: {"weight": np.zeros((2, 2), np.float32)} for n in ("a", "b", "c")}
                          for i in range(1300)}})  # 3,900 tensors
    plan = {"rules": [{"match": {"path": "h.{i}.*.weight"}, "init": {"scheme": "normal", "std": "0.02 / sqrt(count(i))"}}]}
    assert len(initspec.plan(plan, model)) == 3900 and len(calls) == 1
    calls.clear()
    per_layer = {"rules": [{"match": {"path": "h.{i}.*.weight"}, "init": {"scheme": "normal", "std": "0.02 / (i + 1)"}}]}
    assert len(initspec.plan(per_layer, model)) == 3900 and len(calls) == 1300


def test_count_is_over_the_paths_the_rule_path_matches() -> None:
    """count(i) counts distinct values among the model's parameters whose path one of the rule's
    globs matches - whatever the rule's other criteria, and whichever rule wins them."""
    model = Params({"h": {str(i): {"w": {"weight": np.zeros((2, 2), np.float32), "bias": np.zeros(2, np.float32)}}
                          for i in (0, 1, 2, 7)}})
    plan = {"defaults": {"bias": {"scheme": "zeros"}},
            "rules": [{"match": {"path": "h.{i}.*", "role": "weight"}, "init": {"scheme": "constant", "value": "count(i)"}},
                      {"match": {"path": "h.7.w.weight"}, "init": {"scheme": "zeros"}}]}
    table = initspec.plan(plan, model)
    assert table.row("h.0.w.weight").spec.value == 4  # 0, 1, 2, 7: gaps do not matter, the shadowed h.7 counts
    assert table.row("h.7.w.weight").rule == "rules[1]"


# ----------------------------------------------------------------------------- file round trip and schema


def test_round_trip_keeps_the_formulas(tmp_path: Path) -> None:
    plan = initspec.parse_plan({"vars": {"n": 4}, **GPT2})
    assert plan.rules[0].init.to_dict() == {"scheme": "normal", "std": "0.02 / sqrt(2 * count(i))"}
    path = tmp_path / "p.yaml"
    initspec.dump(plan, path)
    text = path.read_text()
    assert "0.02 / sqrt(2 * count(i))" in text and "vars:" in text
    again = initspec.load(path)
    assert again.to_dict() == plan.to_dict() and again == plan
    assert initspec.load(path).rules[0].init == plan.rules[0].init


def test_schema_takes_expressions_in_plans_not_in_spec_files() -> None:
    plan_schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    spec_schema = json.loads((ROOT / "schemas" / "spec.schema.json").read_text())
    good = {"format_version": 1, "vars": {"width": 1024},
            "rules": [{"match": {"path": "h.{i}.*"}, "init": {"scheme": "normal", "std": "0.02 / sqrt(i + 1)"}},
                      {"init": {"scheme": "glorot", "distribution": "normal", "gain": "width / 1024"}},
                      {"init": {"scheme": "dirac", "groups": "2"}}]}
    jsonschema.Draft202012Validator(plan_schema).validate(good)
    assert list(jsonschema.Draft202012Validator(plan_schema).iter_errors(
        {**good, "vars": {"width": "1024"}}))  # vars are numbers
    assert list(jsonschema.Draft202012Validator(plan_schema).iter_errors(
        {"format_version": 1, "rules": [{"init": {"scheme": "normal", "std": "0.02; import os"}}]}))
    assert list(jsonschema.Draft202012Validator(spec_schema).iter_errors(
        {"format_version": 1, "scheme": "normal", "std": "0.02 / 2"}))
    assert "Expression" in plan_schema["$defs"] and "Expression" not in spec_schema["$defs"]


def test_plain_specs_take_numbers_only() -> None:
    exc = error(lambda: initspec.parse({"scheme": "normal", "std": "0.02 / 2"}))
    assert exc.codes == ["wrong_type"] and exc.errors[0].loc == ("std",)


# ----------------------------------------------------------------------------- errors at parse time


def test_unknown_variable_names_it_with_did_you_mean_and_its_column(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("format_version: 1\nvars: {width: 1024}\nrules:\n"
                    "  - match: {path: \"h.{i}.*\"}\n"
                    "    init: {scheme: normal, std: \"0.02 / sqrt(widht * (i + j))\"}\n"
                    "  - match: {path: \"g.*\"}\n"
                    "    init:\n      scheme: normal\n      std: 2 / count(k)\n")
    exc = error(lambda: initspec.load(path))
    assert exc.codes == ["unknown_variable", "unknown_variable"]
    first, second = exc.errors
    assert first.loc == ("rules", 0, "init", "std") and first.value == "0.02 / sqrt(widht * (i + j))"
    assert (first.line, first.col) == (5, 46)  # the 'w' of widht: the string starts at column 33, after its quote
    assert first.message == ("unknown variable 'widht' at column 13; did you mean 'width'?; unknown variable 'j' at "
                             "column 26; plan vars: width; captures of rules[0]'s path: i")
    assert first.offset == 12
    assert second.loc == ("rules", 1, "init", "std") and (second.line, second.col) == (9, 16)  # a plain scalar at 12, + 4
    assert second.message.startswith("count(k) at column 5: 'k' is not a capture of rules[1]'s path")


@pytest.mark.parametrize("rule, code, loc, fragment", [
    ({"match": {"path": ["a.{i}.w", "b.w"]}, "init": {"scheme": "normal", "std": "0.1 * (i + 1)"}},
     "unknown_variable", ("rules", 0, "init", "std"),
     "capture 'i' at column 8 is not in every path glob of rules[0]: 'b.w' has none"),
    ({"match": {"path": "a.{width}.w"}, "init": {"scheme": "normal", "std": "0.1"}},
     "bad_capture", ("rules", 0, "match", "path"), "capture {width} at column 4 has the name of a plan variable"),
    ({"match": {"path": "a.{i.w"}, "init": {"scheme": "normal", "std": "0.1"}},
     "bad_capture", ("rules", 0, "match", "path"), "'{' at column 3 is never closed"),
    ({"init": {"scheme": "normal", "std": "0.02 * (2 + "}},
     "bad_expression", ("rules", 0, "init", "std"), "expected a number, a name or '(' at column 13"),
    ({"init": {"scheme": "normal", "std": "sqr(2)"}},
     "unknown_function", ("rules", 0, "init", "std"), "unknown function 'sqr' at column 1; did you mean 'sqrt'?"),
    ({"init": {"scheme": "normal", "std": "0.1", "mean": "1 / 0"}},
     "math_error", ("rules", 0, "init", "mean"), "division by zero (1 / 0) at column 3"),
])
def test_parse_time_errors(rule: dict, code: str, loc: tuple, fragment: str) -> None:
    exc = error(lambda: initspec.parse_plan({"vars": {"width": 8}, "rules": [rule]}))
    assert exc.codes == [code]
    assert exc.errors[0].loc == loc
    assert fragment in exc.errors[0].message


def test_constant_formulas_are_checked_when_parsed() -> None:
    """A formula without names has one value: computed and checked when the plan is parsed."""
    ok = initspec.parse_plan({"rules": [{"init": {"scheme": "normal", "std": "sqrt(2) / 10"}}]})
    assert isinstance(ok.rules[0].init, SpecTemplate)
    assert ok.rules[0].init.to_dict() == {"scheme": "normal", "std": "sqrt(2) / 10"}
    exc = error(lambda: initspec.parse_plan({"rules": [{"init": {"scheme": "normal", "std": "0.1 - 0.2"}}]}))
    assert exc.codes == ["out_of_range"] and exc.errors[0].loc == ("rules", 0, "init", "std")
    exc = error(lambda: initspec.parse_plan({"rules": [{"init": {"scheme": "uniform", "low": "1", "high": "1 / 2"}}]}))
    assert exc.codes == ["bad_interval"]


def test_bad_variables_and_defaults_without_captures() -> None:
    exc = error(lambda: initspec.parse_plan({"vars": {"2x": 1}}))
    assert exc.codes == ["bad_variable"] and exc.errors[0].loc == ("vars",)
    exc = error(lambda: initspec.parse_plan({"vars": {"sqrt": 1}}))
    assert "reserved" in exc.errors[0].message
    exc = error(lambda: initspec.parse_plan({"vars": {"x": True}}))
    assert exc.codes == ["bool_as_number"]
    exc = error(lambda: initspec.parse_plan({"defaults": {"weight": {"scheme": "normal", "std": "0.02 / (i + 1)"}}}))
    assert exc.codes == ["unknown_variable"] and exc.errors[0].loc == ("defaults", "weight", "std")
    assert "defaults have no path captures" in exc.errors[0].message


def test_the_rest_of_a_templated_spec_is_still_checked() -> None:
    exc = error(lambda: initspec.parse_plan({"rules": [{"init": {"scheme": "normal", "std": "0.1", "sdt": 1}}]}))
    assert exc.codes == ["unknown_field"] and exc.errors[0].loc == ("rules", 0, "init", "sdt")
    exc = error(lambda: initspec.parse_plan({"rules": [{"init": {"scheme": "truncated_normal", "std": "0.1 * x",
                                                                  "low": -2, "high": 2}}], "vars": {"x": 1}}))
    assert exc.codes == ["missing_bounds_unit"]  # a cross-field rule that needs no formula's value
    # one that compares a formula's value waits for it: checked per parameter
    plan = {"vars": {"x": 1}, "rules": [{"init": {"scheme": "uniform", "low": "x", "high": 0.5}}]}
    exc = error(lambda: initspec.plan(plan, stacked(2)))
    assert exc.codes == ["bad_interval"] and exc.errors[0].loc == ("rules[0]", "init", "high")
    assert "rules[0] gives low = x = 1 to layers.0.proj.weight, which the spec refuses" in exc.errors[0].message


# ----------------------------------------------------------------------------- errors per parameter


def test_values_the_spec_refuses_are_errors_per_rule_with_an_example() -> None:
    plan = {"rules": [{"name": "shrink", "match": {"path": "layers.{i}.proj.weight"},
                       "init": {"scheme": "normal", "std": "0.02 * (2 - i)"}}]}
    exc = error(lambda: initspec.plan(plan, stacked(5)))
    assert exc.codes == ["out_of_range"]
    e = exc.errors[0]
    assert e.loc == ("rules[0] (shrink)", "init", "std") and e.offset == 0
    assert e.message.startswith("rules[0] (shrink) gives std = 0.02 * (2 - i) = 0 to layers.2.proj.weight (i=2), "
                                "which the spec refuses:")
    assert e.message.endswith("(and 2 more parameters alike)")


def test_math_errors_per_parameter() -> None:
    plan = {"rules": [{"match": {"path": "layers.{i}.proj.weight"}, "init": {"scheme": "normal", "std": "0.02 / log(i)"}}]}
    exc = error(lambda: initspec.plan(plan, stacked(3)))
    assert exc.codes == ["math_error"]  # log(0), then 1/log(1) = 1/0: one error per rule and field, an example
    assert exc.errors[0].offset == 7 and "log of a number that is not positive (0)" in exc.errors[0].message
    assert exc.errors[0].message.endswith("(and 1 more parameter alike)")


def test_cli_locates_per_parameter_errors_in_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("typer.testing")
    cli = cli_in(tmp_path, monkeypatch, {
        "stacked_models.py":
            "import numpy as np\n"
            "def stacked():\n"
            "    return {f'layers.{i}.proj': {'weight': np.zeros((4, 4), np.float32)} for i in range(3)}\n",
        "plan.yaml": "format_version: 1\nrules:\n  - match: {path: \"layers.{i}.proj.weight\"}\n"
                     "    init: {scheme: normal, std: \"0.02 / log(i + 1)\"}\n"})
    result = cli("plan", "plan.yaml", "--model", "stacked_models:stacked", code=1)
    lines = result.stderr.splitlines()
    assert lines[1].startswith("error: rules[0].init.std (plan.yaml:4:39): rules[0] cannot compute std = 0.02 / "
                               "log(i + 1) for layers.0.proj.weight (i=0): division by zero")
    (tmp_path / "plan.yaml").write_text(
        "format_version: 1\nrules:\n  - match: {path: \"layers.{i}.proj.weight\"}\n"
        "    init: {scheme: normal, std: \"0.02 / sqrt(2 * count(i))\"}\n")
    result = cli("plan", "plan.yaml", "--model", "stacked_models:stacked")
    assert "std = 0.02 / sqrt(2 * count(i)) = 0.00816497" in result.stdout
