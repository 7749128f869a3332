"""Config embedding: any Mapping (OmegaConf DictConfig too) wherever a dict is accepted, and
initspec.Plan / initspec.Spec as fields of a user's pydantic model."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

import initspec
from initspec import SpecError

omegaconf = pytest.importorskip("omegaconf")
OmegaConf = omegaconf.OmegaConf

PLAN = {"vars": {"n": 2}, "defaults": {"bias": {"scheme": "zeros"}},
        "rules": [{"match": {"path": "h.{i}.weight"}, "init": {"scheme": "normal", "std": "0.02 / sqrt(2 * n)"}}]}


def model():
    return {f"h.{i}": {"kernel": np.zeros((3, 3), np.float32), "bias": np.zeros(3, np.float32)} for i in range(2)}


class TrainConfig(BaseModel):
    lr: float = 1e-3
    init: initspec.Plan


class LayerConfig(BaseModel):
    spec: initspec.Spec


def test_dictconfig_everywhere_a_dict_is_accepted() -> None:
    cfg = OmegaConf.create({"model": {"n_layer": 2}, "init": {**PLAN, "vars": {"n": "${model.n_layer}"}},
                            "spec": {"scheme": "he", "distribution": "normal"}})
    assert initspec.parse(cfg.spec).scheme == "he"
    plan = initspec.parse_plan(cfg.init)
    assert plan.vars == {"n": 2} and plan == initspec.parse_plan(PLAN)  # the interpolation was resolved
    table = initspec.plan(cfg.init, model())
    assert table.row("h.1.weight").spec.std == pytest.approx(0.01)
    m = model()
    initspec.apply(cfg.init, m)
    assert m["h.0"]["kernel"].std() > 0
    # nested: a plain dict holding config nodes
    assert initspec.parse_plan({"rules": cfg.init.rules, "vars": {"n": 2}, "defaults": cfg.init.defaults}) == plan
    assert initspec.parse(MappingProxyType({"scheme": "zeros"})).scheme == "zeros"
    assert initspec.plan(MappingProxyType({"rules": [{"init": {"scheme": "zeros"}}]}), model()).rows


def test_a_dictconfig_with_mistakes_gets_initspec_errors() -> None:
    exc = pytest.raises(SpecError, initspec.parse, OmegaConf.create({"scheme": "hee"})).value
    assert exc.codes == ["unknown_scheme"] and "did you mean 'he'" in exc.errors[0].message
    exc = pytest.raises(SpecError, initspec.plan, OmegaConf.create({"rules": [{"init": {"scheme": "zeros"}}],
                                                                     "sed": 1}), model()).value
    assert exc.codes == ["unknown_field"] and "did you mean 'seed'" in exc.errors[0].message
    exc = pytest.raises(SpecError, initspec.plan, ["not", "a", "plan"], model()).value
    assert exc.codes == ["wrong_type"]


def test_plan_field_takes_a_file_content_with_format_version() -> None:
    cfg = TrainConfig.model_validate({"lr": 0.1, "init": {"format_version": 1, **PLAN}})
    assert cfg.init == initspec.parse_plan(PLAN)
    assert initspec.plan(cfg.init, model()).row("h.0.weight").formulas[0].value == pytest.approx(0.01)
    from_yaml = TrainConfig.model_validate({"init": OmegaConf.create({"format_version": 1, **PLAN})})
    assert from_yaml.init == cfg.init
    assert TrainConfig(init=cfg.init).init is cfg.init  # a Plan passes as it is
    assert TrainConfig.model_validate_json('{"init": {"format_version": 1, "seed": 3}}').init.seed == 3


def test_plan_field_errors_carry_initspec_codes_and_messages() -> None:
    with pytest.raises(ValidationError) as got:
        TrainConfig.model_validate({"init": {"format_version": 1, "rules": [
            {"match": {"role": "kernal"}, "init": {"scheme": "hee", "distribution": "normal"}}]}})
    errors = got.value.errors()
    assert [e["type"] for e in errors] == ["invalid_choice", "unknown_scheme"]
    assert [e["loc"] for e in errors] == [("init", "rules", 0, "match", "role"), ("init", "rules", 0, "init", "scheme")]
    assert "did you mean 'kernel'?" in errors[0]["msg"]
    assert errors[1]["msg"].startswith("unknown scheme 'hee'; did you mean 'he'?")
    assert "Unable to extract tag" not in str(got.value) and "does not match any of the expected tags" not in \
        str(got.value)
    with pytest.raises(ValidationError) as got:  # names are checked once the fields are valid
        TrainConfig.model_validate({"init": {"vars": {"width": 3}, "rules": [
            {"match": {"path": "h.{i}.weight"}, "init": {"scheme": "normal", "std": "0.02 / widht"}}]}})
    (error,) = got.value.errors()
    assert error["type"] == "unknown_variable" and error["loc"] == ("init", "rules", 0, "init", "std")
    assert error["msg"].startswith("unknown variable 'widht' at column 8; did you mean 'width'?")
    assert error["ctx"] == {"offset": 7}
    with pytest.raises(ValidationError) as got:
        TrainConfig.model_validate({"init": {"format_version": 99}})
    assert got.value.errors()[0]["type"] == "format_version_newer"
    assert got.value.errors()[0]["loc"] == ("init", "format_version")


def test_spec_field() -> None:
    cfg = LayerConfig.model_validate({"spec": {"format_version": 1, "scheme": "xavier", "distribution": "uniform"}})
    assert cfg.spec.scheme == "glorot"
    assert LayerConfig.model_validate({"spec": OmegaConf.create({"scheme": "zeros"})}).spec.scheme == "zeros"
    with pytest.raises(ValidationError) as got:
        LayerConfig.model_validate({"spec": {"scheme": "he", "distribution": "normall", "modee": "fan_in"}})
    errors = got.value.errors()
    assert [(e["type"], e["loc"]) for e in errors] == [("invalid_choice", ("spec", "distribution")),
                                                       ("unknown_field", ("spec", "modee"))]
    assert "did you mean 'normal'?" in errors[0]["msg"] and "did you mean 'mode'?" in errors[1]["msg"]


def test_parse_keeps_its_own_errors_and_locations(tmp_path) -> None:
    """initspec's own parsers are unchanged by the embedding wrapper: pydantic errors converted once, located."""
    path = tmp_path / "s.yaml"
    path.write_text("format_version: 1\nscheme: he\ndistribution: normal\nmodee: fan_in\n")
    exc = pytest.raises(SpecError, initspec.load, path).value
    assert exc.codes == ["unknown_field"] and (exc.errors[0].line, exc.errors[0].col) == (4, 1)
