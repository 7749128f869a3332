"""Plans, framework-free: matching, strictness, seeding, apply and manifest (NumPy backend)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import initspec
from initspec import SpecError
from initspec.adapters.numpy import Params
from initspec.plans import PlanWarning
from initspec.writer import fail_at
from initspec.testing.stats import check_samples


def mlp(in_=64, hidden=128, out=10):
    return {
        "fc1": {"kernel": np.zeros((in_, hidden), np.float32), "bias": np.zeros(hidden, np.float32)},
        "ln": {"scale": np.zeros(hidden, np.float32), "bias": np.zeros(hidden, np.float32)},
        "fc2": {"kernel": np.zeros((hidden, out), np.float32), "bias": np.zeros(out, np.float32)},
    }


PLAN = {
    "seed": 3,
    "rules": [
        {"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
        {"match": {"path": "fc2.*", "role": "weight"}, "init": {"scheme": "glorot", "distribution": "uniform"}},
        {"match": {"role": "bias"}, "init": {"scheme": "zeros"}},
        {"match": {"kind": "norm"}, "init": {"scheme": "ones"}},
    ],
}


def snapshot(model):
    return {k: {kk: vv.copy() for kk, vv in v.items()} for k, v in model.items()}


def same(a, b):
    return all(np.array_equal(a[k][kk], b[k][kk]) and a[k][kk].tobytes() == b[k][kk].tobytes()
               for k in a for kk in a[k])


def test_table_winner_shadowed_and_laws():
    t = initspec.plan(PLAN, mlp())
    fc2 = t.row("fc2.weight")
    assert fc2.rule == "rules[1]" and fc2.shadowed == ("rules[0]",)
    assert fc2.distribution.high == pytest.approx(math.sqrt(6 / 138))
    fc1 = t.row("fc1.weight")
    assert fc1.distribution.std == pytest.approx(math.sqrt(2 / 64)) and fc1.fans.in_axes == (0,)
    # norm offset: role offset, matched by kind=norm
    assert t.row("ln.offset").distribution.mean == 1.0 and t.row("ln.offset").param.native_path == "ln.bias"
    text = t.to_text()
    assert "fc2.weight" in text and "rules[1]" in text
    json.dumps(t.to_json())


def test_plan_does_not_touch_the_model():
    model = mlp()
    before = snapshot(model)
    initspec.plan(PLAN, model)
    assert same(model, before)


def test_apply_matches_the_table_statistically():
    model = mlp(in_=256, hidden=256, out=256)
    m = initspec.apply(PLAN, model)
    for row in m.table:
        layer, leaf = row.param.native_path.split(".")
        result = check_samples(model[layer][leaf], row.distribution)
        assert result.passed, result
    assert np.all(model["fc1"]["bias"] == 0) and np.all(model["ln"]["scale"] == 1)


def test_strict_errors_name_what_to_fix_and_change_nothing():
    model = mlp()
    before = snapshot(model)
    bad = {"rules": [
        {"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
        {"match": {"path": "fc3.*"}, "init": {"scheme": "zeros"}},                          # matches nothing
        {"match": {"role": "bias"}, "init": {"scheme": "glorot", "distribution": "uniform"}},  # 1-D: no fans
    ]}
    with pytest.raises(SpecError) as e:
        initspec.apply(bad, model)
    codes = {d.code for d in e.value.errors}
    assert codes == {"uncovered_parameter", "unused_rule", "incompatible_spec"}
    text = str(e.value)
    assert "nothing was changed" in text
    assert "ln.scale" in text and "default for role 'scale'" in text
    assert "rules[1]" in text and "did you mean" in text
    assert "rules[2] gives glorot to fc1.bias" in text
    assert same(model, before)


def test_non_strict_turns_coverage_problems_into_warnings():
    model = mlp()
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "lecun", "distribution": "normal"}},
                      {"match": {"path": "nope.*"}, "init": {"scheme": "zeros"}}]}
    with pytest.warns(PlanWarning) as rec:
        t = initspec.plan(plan, model, strict=False)
    msgs = [str(w.message) for w in rec]
    assert any("nope" in m for m in msgs) and any("fc1.bias" in m for m in msgs)
    assert {r.path for r in t} == {"fc1.weight", "fc2.weight"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SpecError):  # incompatible specs stay errors
            initspec.plan({"rules": [{"match": {}, "init": {"scheme": "identity"}}]}, model, strict=False)


def test_seeds_derive_from_path_not_order_and_reapply_is_identical():
    a, b = mlp(), mlp()
    b = dict(reversed(list(b.items())))  # other construction order
    initspec.apply(PLAN, a)
    initspec.apply(PLAN, b)
    assert same(a, {k: b[k] for k in a})
    c = mlp()
    initspec.apply(PLAN, c, seed=4)
    assert not np.array_equal(a["fc1"]["kernel"], c["fc1"]["kernel"])
    t = initspec.plan(PLAN, mlp())
    assert len({r.seed for r in t}) == len(t.rows)  # one stream per parameter


@pytest.mark.parametrize("transactional", [False, True])
def test_fault_injection_at_every_step(transactional):
    """With transactional=True a failure at any draw leaves the weights byte-identical."""
    model = mlp()
    initspec.apply(PLAN, model, seed=1)
    before = snapshot(model)
    steps = []
    initspec.apply(PLAN, mlp(), seed=2, transactional=transactional,
                   checkpoint=lambda stage, path: steps.append((stage, path)))
    assert steps
    for k in range(len(steps)):
        with pytest.raises(RuntimeError, match="injected"):
            initspec.apply(PLAN, model, seed=2, transactional=transactional, checkpoint=fail_at(k))
        if transactional or k == 0:
            assert same(model, before), f"step {k} {steps[k]}"


def test_manifest_is_json_and_records_each_parameter(tmp_path):
    m = initspec.apply(PLAN, mlp())
    data = json.loads(m.dumps())
    assert data["kind"] == "initspec-manifest" and data["seed"] == 3
    row = next(p for p in data["parameters"] if p["path"] == "fc1.weight")
    assert row["spec"]["scheme"] == "he" and row["fans"]["fan_in"] == 64 and row["native_path"] == "fc1.kernel"
    m.write(tmp_path / "manifest.json")
    assert json.loads((tmp_path / "manifest.json").read_text()) == data


def test_base_plans_and_torch_default_bias_fan():
    model = Params({"fc": {"weight": np.zeros((10, 400), np.float32), "bias": np.zeros(10, np.float32)}},
                   layout="torch")
    t = initspec.plan({"base": "torch-defaults"}, model)
    assert t.row("fc.weight").distribution.high == pytest.approx(1 / 20)
    assert t.row("fc.bias").distribution.high == pytest.approx(1 / 20)  # the weight's fan_in, filled in
    assert t.row("fc.bias").spec.fan_in == 400
    t = initspec.plan({"base": "flax-defaults"}, mlp())
    assert t.row("fc1.weight").distribution.std == pytest.approx(1 / 8)
    t = initspec.plan({"base": "keras-defaults"}, mlp())
    assert t.row("fc1.weight").distribution.high == pytest.approx(math.sqrt(6 / 192))


def test_plan_files_and_located_errors(tmp_path):
    p = tmp_path / "init.yaml"
    p.write_text("format_version: 1\nseed: 0\nrules:\n  - match: {role: weigth}\n    init: {scheme: zeros}\n"
                 "  - match: {kind: dense}\n    init: {scheme: he, distribution: normall}\n")
    with pytest.raises(SpecError) as e:
        initspec.load(p)
    by_code = {d.code: d for d in e.value.errors}
    assert "did you mean 'weight'" in by_code["invalid_choice"].message or any(
        "did you mean 'weight'" in d.message for d in e.value.errors)
    locs = {d.loc: (d.line, d.col) for d in e.value.errors}
    assert locs[("rules", 1, "init", "distribution")] == (7, 38)
    good = tmp_path / "ok.yaml"
    initspec.dump(initspec.parse_plan(PLAN), good)
    assert initspec.load(good) == initspec.parse_plan(PLAN)


def test_plan_scales_linearly_and_fast():
    # 10,000 parameters resolve well under a second (measured in benchmarks/; here only correctness)
    model = {f"l{i}": {"kernel": np.zeros((8, 8), np.float32), "bias": np.zeros(8, np.float32)} for i in range(5000)}
    t = initspec.plan(PLAN | {"rules": PLAN["rules"][:1] + PLAN["rules"][2:3]}, model)
    assert len(t) == 10_000
