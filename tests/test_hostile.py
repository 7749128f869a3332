"""Hostile input (issue 13): every finding of the attack, as a regression test.

Numbered as the issue: 1 no silent inf/NaN/all-zero, 2 only SpecError escapes, 3 integer
constants never wrap, 4 no data loss in default mode, 5 shared storage is a tie, 6 error paths
as fast as success paths, 7 exact narrow truncation, 8 CLI and files.  The framework-specific
halves (torch, Keras, JAX) live with those backends' tests.
"""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import initspec
from initspec import SpecError, sampling
from initspec import distributions as D
from initspec.adapters import numpy as isnp

pytest.importorskip("typer.testing")

from _shared import cli_runner, codes, python_calls  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli():
    return cli_runner(no_traceback=True)


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


# ----------------------------------------------------------------------------- 1. no silent inf, NaN or zeros


@pytest.mark.parametrize("spec, shape, layout", [
    ({"scheme": "glorot", "distribution": "normal", "gain": 1e300}, (4, 4), "torch"),
    ({"scheme": "normal", "std": 1e300}, (4, 4), None),
    ({"scheme": "uniform", "low": -1e300, "high": 1e300}, (4,), None),
    ({"scheme": "torch.default_bias", "fan_in": 2**1024}, (4,), None),
    ({"scheme": "he", "distribution": "uniform", "nonlinearity": "leaky_relu", "negative_slope": 1e300}, (4, 4),
     "torch"),
    ({"scheme": "identity", "gain": {"nonlinearity": "leaky_relu", "negative_slope": 1e300}}, (4, 4), None),
])
def test_finite_specs_that_overflow_are_non_finite_law(spec, shape, layout):
    assert codes(lambda: initspec.resolve(spec, shape, layout)) == ["non_finite_law"]


def test_non_finite_law_names_the_culprit():
    with pytest.raises(SpecError) as info:
        initspec.resolve({"scheme": "glorot", "distribution": "normal", "gain": 1e300}, (4, 4), "torch")
    assert info.value.errors[0].loc == ("gain",)


@pytest.mark.parametrize("spec, dtype, code", [
    ({"scheme": "normal", "std": 1e5}, "float16", "dtype_overflow"),
    ({"scheme": "normal", "std": 1e38}, "float32", "dtype_overflow"),
    ({"scheme": "normal", "std": 1e38}, "bfloat16", "dtype_overflow"),
    ({"scheme": "constant", "value": 70000}, "float16", "dtype_overflow"),
    ({"scheme": "identity", "gain": 1e39}, "float32", "dtype_overflow"),
    ({"scheme": "uniform", "low": -1e39, "high": 1e39}, "float32", "dtype_overflow"),
    ({"scheme": "uniform", "low": -3e38, "high": 3e38}, "float32", "dtype_overflow"),  # the width overflows
    ({"scheme": "truncated_normal", "std": 1.0, "low": -1e5, "high": 1e5, "bounds": "absolute"}, "float16",
     "dtype_overflow"),
    ({"scheme": "orthogonal", "gain": 1e5}, "float16", "dtype_overflow"),
    ({"scheme": "normal", "std": 1e-50}, "float32", "dtype_underflow"),
    ({"scheme": "normal", "std": 1e-6}, "float16", "dtype_underflow"),
    ({"scheme": "variance_scaling", "scale": 1e-300, "mode": "fan_in", "distribution": "normal"}, "float32",
     "dtype_underflow"),
    ({"scheme": "sparse", "sparsity": 0.5, "std": 1e-45}, "float32", "dtype_underflow"),
    ({"scheme": "orthogonal", "gain": 1e-40}, "float32", "dtype_underflow"),
    ({"scheme": "constant", "value": 1e-50}, "float32", "dtype_underflow"),
    ({"scheme": "uniform", "low": -1e-50, "high": 1e-50}, "float32", "interval_too_narrow"),
    ({"scheme": "uniform", "low": 1.0, "high": 1.0001}, "float16", "interval_too_narrow"),
    ({"scheme": "truncated_normal", "std": 1e-50, "low": -2, "high": 2, "bounds": "std"}, "float32",
     "interval_too_narrow"),
    ({"scheme": "truncated_normal", "std": 1.0, "low": 1.0, "high": 1.00000001, "bounds": "absolute"}, "float32",
     "interval_too_narrow"),
    ({"scheme": "truncated_normal", "std": 1.0, "low": 1.0, "high": 1.0005, "bounds": "absolute"}, "float16",
     "interval_too_narrow"),
])
def test_a_law_that_does_not_fit_the_dtype_is_an_error(spec, dtype, code):
    shape = (4, 4)
    dist = initspec.resolve(spec, shape, "torch")
    assert codes(lambda: sampling.check_dtype(dist, dtype)) == [code]
    if dtype != "bfloat16" or pytest.importorskip("ml_dtypes"):
        assert codes(lambda: isnp.initializer(spec, layout="torch")(shape, seed=0, dtype=dtype)) == [code]


@pytest.mark.parametrize("spec, dtype", [
    ({"scheme": "normal", "std": 6000.0}, "float16"),
    ({"scheme": "normal", "std": 1e-4}, "float16"),
    ({"scheme": "normal", "std": 1e30}, "float32"),
    ({"scheme": "normal", "std": 1e-30}, "float32"),
    ({"scheme": "uniform", "low": 0.0, "high": 1e-40}, "float32"),  # subnormals, but many of them
    ({"scheme": "truncated_normal", "std": 1.0, "low": 0.0, "high": 1e-9, "bounds": "absolute"}, "float32"),
    ({"scheme": "constant", "value": 65504.0}, "float16"),
    ({"scheme": "keras.he_normal"}, "bfloat16"),
])
def test_laws_that_fit_draw_finite_random_tensors(spec, dtype):
    dist = initspec.resolve(spec, (16, 16), "torch")
    sampling.check_dtype(dist, dtype)
    if dtype == "bfloat16":
        pytest.importorskip("ml_dtypes")
    x = isnp.initializer(spec, layout="torch")((16, 16), seed=1, dtype=dtype).astype(np.float64)
    assert np.all(np.isfinite(x))
    if dist.random:
        assert len(np.unique(x)) > 1
    if isinstance(dist, (D.Uniform, D.TruncatedNormal)):
        assert x.min() >= dist.low and x.max() <= dist.high


def test_narrow_dtype_draws_stay_inside_the_bounds():
    """Drawn in float32 and rounded to float16, a value must not round onto or past a bound."""
    spec = {"scheme": "truncated_normal", "std": 1.0, "low": 0.0, "high": 1.0003, "bounds": "absolute"}
    x = isnp.initializer(spec)((4096,), seed=0, dtype="float16").astype(np.float64)
    assert x.min() > 0.0 and x.max() < 1.0003
    u = isnp.initializer({"scheme": "uniform", "low": 0.0, "high": 1.0003})((4096,), seed=0, dtype="float16")
    assert float(u.max()) < 1.0003


def test_sparsity_that_empties_every_column_is_refused():
    assert codes(lambda: initspec.resolve({"scheme": "sparse", "sparsity": 0.95}, (10, 4), "torch")) == \
        ["sparsity_too_high"]
    assert codes(lambda: initspec.resolve({"scheme": "torch.sparse", "sparsity": 0.5}, (1, 4), "torch")) == \
        ["sparsity_too_high"]
    dist = initspec.resolve({"scheme": "sparse", "sparsity": 0.9}, (10, 4), "torch")
    assert dist.zeros_per_column == 9
    x = isnp.initializer({"scheme": "sparse", "sparsity": 0.9}, layout="torch")((10, 4), seed=0)
    assert np.all((x != 0).sum(axis=0) == 1)


def test_no_resolved_law_has_a_non_finite_number():
    """Every scheme on a few shapes: mean, std and the finite-by-nature bounds are finite."""
    from initspec.schemes import SCHEMES

    for name, model in SCHEMES.items():
        for spec in ({"scheme": name},):
            try:
                dist = initspec.resolve(spec, (8, 4, 3, 3), "torch")
            except SpecError:
                continue
            assert math.isfinite(dist.mean) and math.isfinite(dist.std), name


def test_apply_never_writes_inf_and_the_manifest_is_strict_json():
    model = {"fc": {"weight": np.ones((4, 4), np.float32)}}
    plan = {"defaults": {"weight": {"scheme": "glorot", "distribution": "normal", "gain": 1e300}}}
    assert codes(lambda: initspec.apply(plan, model)) == ["incompatible_spec"]
    assert np.all(model["fc"]["weight"] == 1)
    ok = initspec.apply({"defaults": {"weight": {"scheme": "normal", "std": 0.02}}}, model)
    body = strict_json(ok.dumps())
    assert body["parameters"][0]["low"] is None and body["parameters"][0]["high"] is None


def test_a_dry_run_shows_what_apply_would_refuse():
    """The plan table checks every row's law against its parameter's dtype, before anything is drawn."""
    model = {"a": {"weight": np.ones((4, 4), np.float32)}, "b": {"weight": np.ones((4, 4), np.float16)},
             "c": {"weight": np.ones((4, 4), np.int8)}}
    with pytest.raises(SpecError) as info:
        initspec.plan({"defaults": {"weight": {"scheme": "normal", "std": 1e5}}}, model)
    assert sorted(info.value.codes) == ["dtype_overflow", "unsupported_dtype"]
    assert "b.weight" in str(info.value) and "c.weight" in str(info.value)
    with pytest.raises(SpecError) as info:
        initspec.plan({"defaults": {"weight": {"scheme": "constant", "value": 300}}}, model)
    assert info.value.codes == ["lossy_cast"] and "c.weight" in str(info.value)


def test_error_values_are_strict_json():
    from initspec.errors import ErrorDetail

    for value in (math.inf, -math.inf, math.nan, 10**5000, object(), [1, math.inf]):
        d = ErrorDetail("x_y", "m", value=value).to_dict()
        json.dumps(d, allow_nan=False)
        assert len(ErrorDetail("x_y", "m", value=value).render()) < 200


def test_sample_never_says_pass_for_non_finite_values(cli, monkeypatch):
    res = cli("sample", "{scheme: constant, value: 70000}", "--shape", "4,4", "--dtype", "float16", code=1)
    assert "PASS" not in res.stdout and "[dtype_overflow]" in res.stderr
    from initspec import cli as cli_mod

    monkeypatch.setattr(cli_mod, "_draw", lambda *a, **k: np.array([1.0, np.inf, 0.5, np.nan], np.float32))
    res = cli("sample", "{scheme: normal, std: 1}", "--shape", "4", code=1)
    assert "PASS" not in res.stdout and "verdict: FAIL - 2 of 4 values are inf or NaN" in res.stdout


# ----------------------------------------------------------------------------- 2. only SpecError escapes


def test_inverted_preset_bounds_fail_validation(cli, tmp_path):
    assert codes(lambda: initspec.parse({"scheme": "torch.uniform", "a": 2})) == ["bad_interval"]
    assert codes(lambda: initspec.parse({"scheme": "keras.random_uniform", "minval": 1, "maxval": 0})) == \
        ["bad_interval"]
    assert codes(lambda: initspec.parse({"scheme": "jax.truncated_normal", "lower": 3, "upper": 1})) == \
        ["bad_interval"]
    (tmp_path / "u.yaml").write_text("format_version: 1\nscheme: torch.uniform\na: 2\n")
    res = cli("validate", str(tmp_path / "u.yaml"), code=1)
    assert "a (" in res.stdout and "[bad_interval]" in res.stdout and "u.yaml:3:1" in res.stdout
    # a preset that needs its layer's numbers is still fine until a plan fills them in
    initspec.parse({"scheme": "torch.default_bias"})
    # in a plan, validation reports it before anything is drawn
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "torch.uniform", "a": 2}}]}
    model = {"fc": {"weight": np.ones((2, 2), np.float32)}}
    assert codes(lambda: initspec.apply(plan, model)) == ["bad_interval"]
    assert np.all(model["fc"]["weight"] == 1)


def test_inverted_preset_bounds_in_a_plan_fail_validation():
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "torch.uniform", "a": 2}}]}
    with pytest.raises(SpecError) as info:
        initspec.parse_plan(plan)
    assert info.value.codes == ["bad_interval"] and info.value.errors[0].loc == ("rules", 0, "init", "a")


def test_empty_orthogonal_and_delta_orthogonal_resolve():
    for spec, shape in (({"scheme": "orthogonal"}, (0, 0)), ({"scheme": "jax.delta_orthogonal"}, (0, 0, 0)),
                        ({"scheme": "orthogonal"}, (0, 5)), ({"scheme": "dirac"}, (0, 0, 3))):
        dist = initspec.resolve(spec, shape, "jax")
        assert math.isfinite(dist.std)
        assert isnp.initializer(spec)(shape, seed=0).size == 0


def test_dirac_on_a_huge_shape_resolves_without_listing_positions():
    (count, std), calls = python_calls(
        lambda: (lambda d: (d.count, d.std))(initspec.resolve({"scheme": "dirac"}, (2**30, 2**30, 3), "torch")))
    assert count == 2**30 and std > 0
    assert calls < 10_000, calls  # closed forms: listing 2**30 positions would be billions of calls


def test_escape_beyond_unicode_is_a_yaml_error():
    with pytest.raises(SpecError) as info:
        initspec.loads('format_version: 1\nscheme: "\\U0011FFFF"\n')
    assert info.value.codes == ["yaml_syntax"] and info.value.errors[0].line == 2


@pytest.mark.parametrize("text", [
    "format_version: 1\nscheme: normal\nstd: " + "9" * 5000 + "\n",
    "format_version: " + "9" * 5000 + "\nscheme: zeros\n",
])
def test_integers_beyond_the_digit_limit_are_located(text):
    with pytest.raises(SpecError) as info:
        initspec.loads(text)
    assert info.value.errors[0].line is not None
    with pytest.raises(SpecError):
        initspec.loads(json.dumps({"format_version": 1, "scheme": "zeros"}).replace("1", "1" + "0" * 5000, 1),
                       fmt="json")


def test_huge_python_integers_are_spec_errors():
    assert codes(lambda: initspec.parse({"scheme": "normal", "std": 10**5000})) == ["wrong_type"]
    assert codes(lambda: initspec.parse({"scheme": "he", "distribution": 10**5000})) == ["invalid_choice"]
    assert codes(lambda: initspec.resolve({"scheme": "dirac", "groups": 10**5000}, (4, 4, 3), "torch")) == \
        ["unsupported_shape"]
    assert codes(lambda: initspec.resolve({"scheme": "torch.recurrent_default", "hidden_size": 10**5000}, (4,))) \
        == ["non_finite_law"]


def test_a_huge_plan_seed_is_refused_at_parse():
    with pytest.raises(SpecError):
        initspec.plan({"seed": 10**5000, "defaults": {"weight": {"scheme": "zeros"}}},
                      {"fc": {"weight": np.zeros((2, 2), np.float32)}})


@pytest.mark.parametrize("call", [
    lambda: initspec.loads(None),
    lambda: initspec.loads(3),
    lambda: initspec.loads("format_version: 1\nscheme: zeros\n", fmt=3),
    lambda: initspec.loads("format_version: 1\nscheme: zeros\n", kind="nope"),
    lambda: initspec.loads("format_version: 1\nscheme: zeros\n", filename=3),
    lambda: initspec.load(None),
    lambda: initspec.load(3.5),
    lambda: initspec.load("x.yaml", kind=["spec"]),
    lambda: initspec.dump(initspec.parse({"scheme": "zeros"}), None),
    lambda: initspec.resolve({"scheme": "zeros"}, "44"),
    lambda: initspec.resolve({"scheme": "zeros"}, 4),
    lambda: initspec.resolve({"scheme": "zeros"}, (True, 2)),
    lambda: initspec.resolve({"scheme": "zeros"}, (2**64,)),
    lambda: initspec.resolve({"scheme": "zeros"}, (2**40, 2**40)),
    lambda: initspec.resolve({"scheme": "zeros"}, (1,) * 65),
    lambda: isnp.initializer({"scheme": "zeros"})((2,), dtype="nope"),
    lambda: isnp.initializer({"scheme": "zeros"})((2,), dtype=3),
])
def test_wrong_argument_types_are_spec_errors(call):
    codes(call)


def test_numpy_integer_dimensions_are_accepted():
    dist = initspec.resolve({"scheme": "he", "distribution": "normal"}, (np.int64(8), np.int32(4)), "torch")
    assert dist.derivation.shape == (8, 4) and all(type(d) is int for d in dist.derivation.shape)
    assert codes(lambda: initspec.resolve({"scheme": "zeros"}, (np.bool_(True),))) == ["bad_shape"]


def test_a_deep_numpy_mapping_does_not_recurse():
    tree: dict = {}
    node = tree
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    node["weight"] = np.zeros((2, 2), np.float32)
    table = initspec.plan({"defaults": {"weight": {"scheme": "zeros"}}}, tree)
    assert len(table.rows) == 1
    loop: dict = {"weight": np.zeros((2, 2), np.float32)}
    loop["self"] = loop
    assert codes(lambda: initspec.plan({"defaults": {"weight": {"scheme": "zeros"}}}, loop)) == ["unsupported_model"]


@pytest.mark.parametrize("args", [
    ("explain", "{scheme: normal, std: 1e300}", "--shape", "4"),
    ("explain", "{scheme: torch.uniform, a: 2}", "--shape", "4"),
    ("explain", "{scheme: orthogonal}", "--shape", "0,0", "--layout", "torch"),
    ("sample", "{scheme: normal, std: 1e300}", "--shape", "4"),
    ("sample", "{scheme: torch.default_bias, fan_in: " + str(2**1024) + "}", "--shape", "4"),
    ("convert", "native", "{scheme: normal, std: 1e300}", "--shape", "4"),
])
def test_cli_prints_located_errors_never_tracebacks(cli, args):
    res = cli(*args, code=None)
    assert res.exit_code in (0, 1), res.exception
    if res.exit_code == 1:
        assert "error:" in res.stderr and "[" in res.stderr
    json_res = cli(*args, "--format", "json", code=None) if args[0] != "sample" else None
    if json_res is not None and json_res.exit_code == 1:
        assert isinstance(strict_json(json_res.stdout), list)


@pytest.mark.parametrize("shape", ["\u00b2,2", "9" * 5000, "1\u0661"])
def test_cli_shapes_of_odd_digits_are_usage_errors(cli, shape):
    res = cli("explain", "{scheme: zeros}", "--shape", shape, code=2)
    assert "not a shape" in res.stderr or "at most 2**63" in res.stderr


# ----------------------------------------------------------------------------- 3. integer constants never wrap


@pytest.mark.parametrize("spec, dtype", [
    ({"scheme": "constant", "value": 300}, "int8"),
    ({"scheme": "constant", "value": -1}, "uint8"),
    ({"scheme": "constant", "value": 0.5}, "int8"),
    ({"scheme": "constant", "value": 2}, "bool"),
    ({"scheme": "constant", "value": 2.0**63}, "int64"),
    ({"scheme": "identity", "gain": 300}, "int8"),
])
def test_integer_constants_never_wrap(spec, dtype):
    dist = initspec.resolve(spec, (2, 2), "torch")
    assert codes(lambda: sampling.check_dtype(dist, dtype)) == ["lossy_cast"]
    assert codes(lambda: isnp.initializer(spec)((2, 2), seed=0, dtype=dtype)) == ["lossy_cast"]


def test_integer_constants_in_range_are_exact():
    for value, dtype in ((127, "int8"), (-128, "int8"), (255, "uint8"), (1, "bool"), (-(2**31), "int32")):
        x = isnp.initializer({"scheme": "constant", "value": value})((3,), dtype=dtype)
        assert x.dtype == np.dtype(dtype) and np.all(x == value)


# ----------------------------------------------------------------------------- 4. no data loss in default mode


def test_apply_checks_every_array_before_writing_any():
    model = {"a": {"weight": np.ones((4, 4), np.float32)}, "b": {"weight": np.ones((4, 4), np.float16)}}
    before = {k: v["weight"].copy() for k, v in model.items()}
    assert codes(lambda: initspec.apply({"defaults": {"weight": {"scheme": "normal", "std": 1e5}}}, model)) == \
        ["dtype_overflow"]
    assert all(np.array_equal(model[k]["weight"], before[k]) for k in model)
    model["b"]["weight"] = np.ones((4, 4), np.int32)
    assert codes(lambda: initspec.apply({"defaults": {"weight": {"scheme": "normal", "std": 1}}}, model)) == \
        ["unsupported_dtype"]
    assert np.array_equal(model["a"]["weight"], before["a"])
    ro = np.ones((4, 4), np.float32)
    ro.flags.writeable = False
    model["b"]["weight"] = ro
    assert codes(lambda: initspec.apply({"defaults": {"weight": {"scheme": "normal", "std": 1}}}, model)) == \
        ["read_only"]
    assert np.array_equal(model["a"]["weight"], before["a"])


# ----------------------------------------------------------------------------- 5. shared storage is a tie


def test_the_same_array_under_two_names_is_a_tie():
    w = np.zeros((3, 3), np.float32)
    model = {"enc": {"weight": w}, "dec": {"weight": w}, "out": {"weight": np.zeros((3, 3), np.float32)}}
    plan = {"rules": [{"match": {"path": "enc.weight"}, "init": {"scheme": "constant", "value": 1}},
                      {"match": {"path": "out.weight"}, "init": {"scheme": "zeros"}}]}
    manifest = initspec.apply(plan, model)
    rows = {r["path"]: r for r in manifest.to_json()["parameters"]}
    assert set(rows) == {"enc.weight", "out.weight"} and rows["enc.weight"]["aliases"] == ["dec.weight"]
    assert np.all(w == 1)  # what the manifest says the tensor got
    with pytest.raises(SpecError) as info:  # a rule for the alias names the tie
        initspec.plan({"rules": [*plan["rules"], {"match": {"path": "dec.weight"}, "init": {"scheme": "zeros"}}]},
                      model)
    assert "tied to 'enc.weight'" in str(info.value)
    view = {"enc": {"weight": w}, "dec": {"weight": w[:, :]}}  # a view of exactly the same elements: a tie too
    assert [p.aliases for p in initspec.plan({"defaults": {"weight": {"scheme": "zeros"}}}, view).params] == \
        [("dec.weight",)]


@pytest.mark.parametrize("other", [lambda w: w[1:], lambda w: w.T, lambda w: w.reshape(-1)[2:6]])
def test_overlapping_views_are_an_error_naming_both(other):
    w = np.zeros((4, 4), np.float32)
    with pytest.raises(SpecError) as info:
        initspec.plan({"defaults": {"weight": {"scheme": "zeros"}, "other": {"scheme": "zeros"}}},
                      {"enc": {"weight": w}, "dec": {"weight": other(w)}})
    assert info.value.codes == ["shared_storage"] and "enc.weight and dec.weight" in str(info.value)


def test_disjoint_views_of_one_buffer_are_fine():
    buf = np.zeros((8, 4), np.float32)
    table = initspec.plan({"defaults": {"weight": {"scheme": "ones"}}}, {"a": {"weight": buf[:4]}, "b": {"weight": buf[4:]}})
    assert len(table.rows) == 2


# ----------------------------------------------------------------------------- 6. error paths are fast


def _unknown_keys(n: int) -> dict:
    return {"scheme": "normal", "std": 0.02, **{f"x{i}": i for i in range(n)}}


def test_error_conversion_is_linear_and_fast():
    """Work counted in function calls (python_calls), not wall time: 45-61 calls per error
    today; the old path re-unwrapped the 70-scheme union for every error."""
    def cost(n: int) -> int:
        data = _unknown_keys(n)

        def parse() -> SpecError:
            with pytest.raises(SpecError) as info:
                initspec.parse(data)
            return info.value

        exc, calls = python_calls(parse)
        assert len(exc.errors) == n
        return calls

    cost(1000)  # warm up (imports, caches)
    small, big = cost(5000), cost(40000)
    assert big < 8 * small * 1.25, (small, big)  # linear: 8x the errors
    assert big / 40000 < 100, f"{big / 40000:.0f} calls per error"


def test_yaml_reads_fast_and_the_same_with_libyaml():
    from initspec import _document

    if _document._CParser is None:
        pytest.skip("PyYAML without libyaml")
    text = "format_version: 1\nscheme: normal\nstd: 0.02\n" + "".join(f"x{i}: {i}\n" for i in range(20000))
    fast, fast_calls = python_calls(lambda: _document.load_text(text, fmt="yaml"))
    pure, pure_calls = python_calls(lambda: _document._load_pure(text, None, _document.MAX_DEPTH_DEFAULT))
    assert fast.data == pure.data and fast.locate_key(("x19999",)) == pure.locate_key(("x19999",)) == (20003, 1)
    assert fast_calls < pure_calls / 3, (fast_calls, pure_calls)  # libyaml does the scanning (13x fewer today)
    for path in sorted((ROOT / "schemas" / "examples").rglob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml")):
        raw = path.read_text(encoding="utf-8")
        try:
            a = _document.load_text(raw, fmt="yaml").data
        except SpecError as exc:  # refused files are read by the pure parser: the documented messages
            with pytest.raises(SpecError) as info:
                _document._load_pure(raw, None, _document.MAX_DEPTH_DEFAULT)
            assert info.value.render() == exc.render()
            continue
        assert a == _document._load_pure(raw, None, _document.MAX_DEPTH_DEFAULT).data


def test_suggestions_are_bounded():
    from initspec.errors import did_you_mean

    assert did_you_mean("x" * 10**5, ["std", "mean"]) == ""

    def parse() -> None:
        with pytest.raises(SpecError):
            initspec.parse({"scheme": "normal", "std": 1, **{"y" * 5000 + str(i): 0 for i in range(200)}})

    _, calls = python_calls(parse)
    assert calls < 50_000, calls  # about 9,600: no similarity scoring of 5,000-character keys


# ----------------------------------------------------------------------------- 7. exact narrow truncation


@pytest.mark.parametrize("a, b", [(-1e-5, 1e-5), (0.0, 1e-9), (1.0, 1.00000001), (3.0, 3.5), (6.0, 7.0),
                                  (-0.2, 0.25), (2.0, 30.0), (-30.0, -2.0), (0.3, 0.31), (-7.0, -6.9999)])
def test_truncated_normal_moments_are_exact(a, b):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    f = lambda x: mp.exp(-x * x / 2)  # noqa: E731
    za, zb = mp.mpf(a), mp.mpf(b)
    mass = mp.quad(f, [za, zb])
    mean = mp.quad(lambda x: x * f(x), [za, zb]) / mass
    std = mp.sqrt(mp.quad(lambda x: (x - mean) ** 2 * f(x), [za, zb]) / mass)
    dist = D.TruncatedNormal(loc=0.0, scale=1.0, low=a, high=b)
    assert dist.std == pytest.approx(float(std), rel=1e-12)
    assert dist.mean == pytest.approx(float(mean), rel=1e-12, abs=1e-15 * (b - a))
    assert dist.mass == pytest.approx(float(mass / mp.sqrt(2 * mp.pi)), rel=1e-12)
    # and with a parent of another scale and location
    scaled = D.TruncatedNormal(loc=2.0, scale=3.0, low=2.0 + 3.0 * a, high=2.0 + 3.0 * b)
    assert scaled.std == pytest.approx(3.0 * float(std), rel=1e-9)


def test_the_issue_narrow_intervals_report_the_true_std():
    spec = {"scheme": "truncated_normal", "std": 1.0, "low": -1e-5, "high": 1e-5, "bounds": "absolute"}
    assert initspec.resolve(spec, (4,)).std == pytest.approx(2e-5 / math.sqrt(12), rel=1e-9)  # 5.77e-6
    spec = {**spec, "low": 0.0, "high": 1e-9}
    assert initspec.resolve(spec, (4,)).std == pytest.approx(1e-9 / math.sqrt(12), rel=1e-9)  # 2.9e-10
    x = isnp.initializer(spec)((10000,), seed=0, dtype="float64")
    assert x.std() == pytest.approx(1e-9 / math.sqrt(12), rel=0.05)
    spec = {**spec, "low": 0.0, "high": 1e-13}  # narrow near the mean: allowed, however little mass
    assert initspec.resolve(spec, (4,)).std == pytest.approx(1e-13 / math.sqrt(12), rel=1e-9)


def test_an_interval_no_float_fits_is_refused_the_same_way():
    spec = {"scheme": "truncated_normal", "std": 1.0, "low": 1.0, "high": 1.00000001, "bounds": "absolute"}
    assert codes(lambda: isnp.initializer(spec)((4,), seed=0, dtype="float32")) == ["interval_too_narrow"]
    dist = initspec.resolve(spec, (4,))
    assert codes(lambda: sampling.truncation(dist, "float32", 4)) == ["interval_too_narrow"]
    x = isnp.initializer(spec)((64,), seed=0, dtype="float64")
    assert x.min() > 1.0 and x.max() < 1.00000001


# ----------------------------------------------------------------------------- 8. CLI and files


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "hostile_models.py").write_text(
        "import sys\nimport numpy as np\n\n"
        "def exits():\n    sys.exit(0)\n\n"
        "def exits_3():\n    raise SystemExit(3)\n\n"
        "def interrupted():\n    raise KeyboardInterrupt\n\n"
        "def ok():\n    return {'fc.weight': np.zeros((4, 4), np.float32)}\n", encoding="utf-8")
    (tmp_path / "hostile_exit_on_import.py").write_text("import sys\nsys.exit(0)\n", encoding="utf-8")
    (tmp_path / "plan.yaml").write_text("format_version: 1\ndefaults:\n  weight: {scheme: zeros}\n")
    monkeypatch.chdir(tmp_path)
    for mod in ("hostile_models", "hostile_exit_on_import"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    return tmp_path


@pytest.mark.parametrize("target, says", [("hostile_models:exits", "sys.exit(0)"),
                                          ("hostile_models:exits_3", "sys.exit(3)"),
                                          ("hostile_models:interrupted", "interrupted"),
                                          ("hostile_exit_on_import:f", "sys.exit(0)")])
def test_a_factory_that_exits_is_an_error(cli, factories, target, says):
    res = cli("plan", "plan.yaml", "--model", target, code=1)
    assert "[model_import]" in res.stderr and says in res.stderr


def test_fifos_are_refused_at_once(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "x.yaml"
    os.mkfifo(fifo)
    found: list[list[str]] = []  # opening a FIFO for reading blocks: load it in a thread that may hang
    reader = threading.Thread(target=lambda: found.append(codes(lambda: initspec.load(fifo))), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert found == [["file_unreadable"]], "initspec.load blocked on a FIFO"
    script = Path(sys.executable).parent / "initspec"
    if script.exists():  # a blocked CLI is a TimeoutExpired here
        out = subprocess.run([str(script), "validate", str(fifo)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and "FIFO" in out.stdout


def test_atomic_writes_keep_modes_and_links_and_name_the_users_path(tmp_path):
    from initspec.formats import write_atomic

    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.yaml", "a: 1\n")
        assert stat.S_IMODE(os.stat(tmp_path / "new.yaml").st_mode) == 0o640  # the umask, not 0600
    finally:
        os.umask(old)
    p = tmp_path / "kept.yaml"
    p.write_text("x")
    os.chmod(p, 0o644)
    initspec.dump(initspec.parse({"scheme": "zeros"}), p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644 and "zeros" in p.read_text()
    real, link = tmp_path / "real.yaml", tmp_path / "link.yaml"
    real.write_text("x")
    link.symlink_to(real.name)
    initspec.dump(initspec.parse({"scheme": "ones"}), link)
    assert link.is_symlink() and "ones" in real.read_text()
    with pytest.raises(SpecError) as info:
        initspec.dump(initspec.parse({"scheme": "ones"}), tmp_path / "no" / "such.yaml")
    assert info.value.codes == ["file_unwritable"] and info.value.errors[0].file == str(tmp_path / "no" / "such.yaml")
    assert ".tmp" not in str(info.value)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["kept.yaml", "link.yaml", "new.yaml", "real.yaml"]


def test_write_atomic_fsyncs_before_the_rename(tmp_path, monkeypatch):
    from initspec import formats

    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(formats.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(formats.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    formats.write_atomic(tmp_path / "f.json", "{}\n")
    monkeypatch.undo()
    assert calls[:2] == ["fsync", "replace"]


def test_a_look_alike_scheme_key_is_pointed_at():
    with pytest.raises(SpecError) as info:
        initspec.loads("format_version: 1\ns\u0441heme: he\ndistribution: normal\n")
    e = info.value.errors[0]
    assert e.code == "missing_scheme" and (e.line, e.col) == (2, 1)
    assert "did you mean 'scheme'" in e.message and "U+0441" in e.message
    with pytest.raises(SpecError) as info:
        initspec.parse({"scheme": "normal", "st\u0501": 1, "std": 1})
    assert "U+0501" in info.value.errors[0].message


def test_explain_reads_an_existing_file_whatever_its_name(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "br{ace}").mkdir()
    (tmp_path / "br{ace}" / "s.yaml").write_text("format_version: 1\nscheme: zeros\n")
    assert "constant 0" in cli("explain", "br{ace}/s.yaml", "--shape", "2").stdout


def test_the_seed_rule():
    for ok in (0, 1, 2**64 - 1, np.int64(5), np.uint64(2**64 - 1)):
        assert sampling.check_seed(ok) == int(ok)
    for bad in (-1, 2**64, 2**70, True, np.bool_(True), 1.0, "1", None, 10**5000):
        assert codes(lambda: sampling.check_seed(bad)) == ["bad_seed"]
    for bad in (-1, 2**64, True, 1.5):
        assert codes(lambda: isnp.initializer({"scheme": "zeros"})((2,), seed=bad)) == ["bad_seed"]
    assert isnp.initializer({"scheme": "normal", "std": 1})((2,), seed=np.int64(3)).shape == (2,)
