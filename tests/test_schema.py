"""The committed JSON Schemas match the models, and schema and loader agree on the examples.

Every file under ``schemas/examples/valid`` must pass both its JSON Schema (Draft 2020-12;
``spec.schema.json`` for a file with a ``scheme``, ``plan.schema.json`` otherwise, as
:func:`initspec.load` decides) and :func:`initspec.load`; every file under
``schemas/examples/invalid`` must fail both, with the loader's error code listed below (so a
new example must say why it is invalid).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

import initspec
from initspec import schema as schema_mod
from initspec._document import load_path
from initspec.parsing import scheme_names

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
VALID = sorted((SCHEMAS / "examples" / "valid").glob("*.*"))
INVALID = sorted((SCHEMAS / "examples" / "invalid").glob("*.*"))

#: Why each invalid example is invalid: the code initspec.load reports first.
INVALID_CODES = {
    "bool_as_number.yaml": "bool_as_number",
    "extra_key.yaml": "unknown_field",
    "format_version_newer.yaml": "format_version_newer",
    "format_version_string.json": "wrong_type",
    "leaky_relu_gain_without_slope.yaml": "missing_slope",
    "missing_format_version.yaml": "missing_format_version",
    "missing_required.yaml": "missing_field",
    "missing_scheme.json": "missing_scheme",
    "out_of_range_groups.yaml": "out_of_range",
    "out_of_range_sparsity.json": "out_of_range",
    "out_of_range_std.yaml": "out_of_range",
    "plan_bad_scheme_in_rule.yaml": "unknown_scheme",
    "plan_negative_seed.json": "out_of_range",
    "plan_unknown_key.yaml": "unknown_field",
    "unknown_gain_name.yaml": "unknown_nonlinearity",
    "unknown_mode.yaml": "invalid_choice",
    "unknown_scheme.yaml": "unknown_scheme",
    "wrong_type.yaml": "wrong_type",
    "wrong_type_axes.yaml": "wrong_type",
}


@functools.lru_cache(maxsize=None)
def _load_validator(kind: str) -> jsonschema.Draft202012Validator | None:
    path = SCHEMAS / f"{kind}.schema.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    validator = _load_validator(kind)
    if validator is None:
        pytest.skip(f"{kind}.schema.json is not generated in this installation")
    return validator


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return _validator("spec")


def _data(path: Path) -> object:
    return load_path(path).data


def _kind(data: object) -> str:
    return "spec" if not isinstance(data, dict) or "scheme" in data else "plan"


# ----------------------------------------------------------------------------- drift


@pytest.mark.parametrize("kind", schema_mod.available_kinds())
def test_committed_schema_matches_models(kind: str) -> None:
    committed = SCHEMAS / f"{kind}.schema.json"
    assert committed.is_file(), f"{committed} is missing: run `python -m initspec.schema --write schemas`"
    assert committed.read_text(encoding="utf-8") == schema_mod.dumps(kind), (
        f"{committed} is stale: regenerate it with `python -m initspec.schema --write schemas`")


def test_check_reports_stale_files(tmp_path: Path) -> None:
    assert schema_mod.check(SCHEMAS) == []
    (tmp_path / "spec.schema.json").write_text("{}\n", encoding="utf-8")
    assert schema_mod.check(tmp_path, ["spec"]) == [str(tmp_path / "spec.schema.json")]
    assert schema_mod.main(["--check", str(tmp_path), "--kind", "spec"]) == 1
    schema_mod.main(["--write", str(tmp_path), "--kind", "spec"])
    assert schema_mod.main(["--check", str(tmp_path), "--kind", "spec"]) == 0


def test_schema_header() -> None:
    schema = schema_mod.generate("spec")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:initspec:schema:spec:")
    assert schema["title"] and schema["description"]
    assert schema["required"] == ["format_version", "scheme"]
    # every accepted scheme (aliases included) is listed, once
    names = schema["properties"]["scheme"]["enum"]
    assert sorted(names) == sorted(scheme_names())
    assert len(names) == len(set(names))
    # every definition documents itself
    assert all(d.get("description") for d in schema["$defs"].values())


def test_presets_name_their_native_call() -> None:
    defs = schema_mod.generate("spec")["$defs"]
    assert "``torch.default_weight``: ``torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5))``" in \
        defs["NamedPreset"]["description"]
    assert "truncated_normal(stddev, lower=lower, upper=upper)" in defs["JaxTruncatedNormal"]["description"]
    assert "flax.truncated_normal" in defs["JaxTruncatedNormal"]["properties"]["scheme"]["enum"]  # an alias


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown schema kind"):
        schema_mod.generate("model")


# ----------------------------------------------------------------------------- examples


def test_examples_exist() -> None:
    assert len([p for p in VALID if not p.name.startswith("plan_")]) >= 12
    assert {p.name for p in INVALID} == set(INVALID_CODES), "register each invalid example in INVALID_CODES"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example(path: Path) -> None:
    data = _data(path)
    validator = _validator(_kind(data))
    errors = [e.message for e in validator.iter_errors(data)]
    assert errors == []
    obj = initspec.load(path)
    assert isinstance(obj, initspec.BaseSpec if _kind(data) == "spec" else initspec.Plan)
    # the canonical form (aliases resolved, defaults filled) is schema-valid too
    assert [e.message for e in validator.iter_errors({"format_version": 1, **obj.to_dict()})] == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example(path: Path) -> None:
    data = _data(path)
    errors = list(_validator(_kind(data)).iter_errors(data))
    assert errors, f"{path.name} passed the JSON Schema"
    with pytest.raises(initspec.SpecError) as info:
        initspec.load(path)
    assert info.value.codes[0] == INVALID_CODES[path.name]
    assert info.value.errors[0].line is not None  # located in the file


def test_aliases_are_schema_valid(validator: jsonschema.Draft202012Validator) -> None:
    for alias in ("xavier", "kaiming"):
        assert validator.is_valid({"format_version": 1, "scheme": alias, "distribution": "uniform"})


def test_unknown_scheme_is_one_error(validator: jsonschema.Draft202012Validator) -> None:
    errors = list(validator.iter_errors({"format_version": 1, "scheme": "hee", "distribution": "normal"}))
    assert len(errors) == 1 and "is not one of" in errors[0].message


def test_extra_key_reported_against_the_selected_branch(validator: jsonschema.Draft202012Validator) -> None:
    errors = list(validator.iter_errors({"format_version": 1, "scheme": "he", "distribution": "normal", "gian": 1}))
    assert [e.validator for e in errors] == ["additionalProperties"]
    assert "gian" in errors[0].message


def test_every_scheme_has_a_minimal_valid_instance(validator: jsonschema.Draft202012Validator) -> None:
    """Each scheme's defaults plus its required fields (filled from the model) pass both."""
    from initspec.parsing import SCHEMES

    fill = {"distribution": "uniform", "std": 0.1, "value": 0.5, "low": -1.0, "high": 1.0, "sparsity": 0.1,
            "mode": "fan_in", "scale": 1.0, "fan_in": 16, "hidden_size": 8, "val": 0.5}
    for name, cls in SCHEMES.items():
        data = {"scheme": name}
        for field, info in cls.model_fields.items():
            if field != "scheme" and info.is_required():
                data[field] = fill[field]
        assert validator.is_valid({"format_version": 1, **data}), name
        initspec.parse(data)


def test_plan_schema_accepts_the_shipped_base_plans() -> None:
    """The framework-default plans shipped in the package are schema-valid plans."""
    validator = _validator("plan")
    shipped = sorted((ROOT / "initspec" / "plans" / "defaults").glob("*.yaml"))
    assert shipped
    for path in shipped:
        assert [e.message for e in validator.iter_errors(_data(path))] == [], path.name


def test_plan_schema_one_or_many() -> None:
    """match fields take one value or a non-empty list, as the loader does."""
    validator = _validator("plan")

    def plan(match: dict) -> dict:
        return {"format_version": 1, "rules": [{"match": match, "init": {"scheme": "zeros"}}]}

    assert validator.is_valid(plan({"role": "weight"})) and validator.is_valid(plan({"role": ["weight", "bias"]}))
    assert not validator.is_valid(plan({"role": []})) and not validator.is_valid(plan({"role": "wieght"}))
    # a spec inside a rule never carries format_version
    assert not validator.is_valid({"format_version": 1, "rules": [
        {"init": {"format_version": 1, "scheme": "zeros"}}]})
