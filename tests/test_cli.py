"""The ``initspec`` command line, run for real: typer's CliRunner on the app, plus the installed
console script in a subprocess.  Outputs and exit codes (0 ok, 1 invalid input or failed
check, 2 usage) for every command, including the error cases."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("typer.testing")

import initspec  # noqa: E402
from initspec import schema as schema_mod  # noqa: E402

from _shared import cli_runner  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "schemas" / "examples" / "valid"
INVALID = ROOT / "schemas" / "examples" / "invalid"
HE = "{scheme: he, distribution: normal}"


@pytest.fixture
def cli():
    return cli_runner()


def _script() -> str:
    """The venv's console script (the one `pip install` created for [project.scripts])."""
    path = Path(sys.executable).parent / "initspec"
    found = str(path) if path.exists() else shutil.which("initspec")
    if found is None:
        pytest.skip("the initspec console script is not installed")
    return found


# ----------------------------------------------------------------------------- global


def test_version_and_help(cli) -> None:
    assert cli("--version").stdout.strip() == f"initspec {initspec.__version__}"
    out = cli("--help").stdout
    for command in ("validate", "explain", "schema", "sample", "plan", "conformance", "convert"):
        assert command in out
    assert cli(code=2).exit_code == 2  # no command: help, usage exit status


def test_unknown_command_is_usage_error(cli) -> None:
    res = cli("valdiate", "x.yaml", code=2)
    assert "No such command" in res.stderr


def test_real_console_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format_version: 1\nscheme: he\ndistribution: normal\nmode: fan_inn\n", encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    version = subprocess.run([_script(), "--version"], capture_output=True, text=True, env=env, check=False)
    assert version.returncode == 0 and version.stdout.strip() == f"initspec {initspec.__version__}"
    res = subprocess.run([_script(), "validate", str(bad)], capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 1
    assert res.stdout.splitlines() == [
        f"mode ({bad}:4:7): unknown value 'fan_inn'; did you mean 'fan_in'?; expected one of fan_in, fan_out, "
        "fan_avg, fan_geo_avg (got 'fan_inn') [invalid_choice]"]
    ok = subprocess.run([_script(), "explain", HE, "--shape", "256,128", "--layout", "torch"], capture_output=True,
                        text=True, env=env, check=False)
    assert ok.returncode == 0 and "N(0, 0.125²)" in ok.stdout


# ----------------------------------------------------------------------------- validate


def test_validate_valid_examples(cli) -> None:
    files = sorted(str(p) for p in VALID.iterdir())
    res = cli("validate", *files)
    assert res.stdout.splitlines() == [
        f"{f}: ok, " + (f"spec (scheme {initspec.load(f).scheme})" if not Path(f).name.startswith("plan_")
                        else "plan") for f in files]
    assert cli("validate", "--quiet", *files).stdout == ""


def test_validate_error_line_format(cli, tmp_path: Path) -> None:
    bad = tmp_path / "init.yaml"
    bad.write_text("format_version: 1\nscheme: glorot\ndistribution: uniform\ngian: 2.0\n", encoding="utf-8")
    res = cli("validate", str(bad), code=1)
    assert res.stdout.splitlines() == [
        f"gian ({bad}:4:1): unknown field 'gian'; did you mean 'gain'?; allowed: scheme, axes, distribution, gain "
        "(got 2.0) [unknown_field]"]
    assert res.stderr.strip() == "1 error in 1 of 1 file"


def test_validate_every_invalid_example(cli) -> None:
    files = sorted(str(p) for p in INVALID.iterdir())
    res = cli("validate", *files, code=1)
    lines = res.stdout.splitlines()
    assert len(lines) == len(files)  # one error each, all located
    for line, f in zip(lines, files):
        assert line.split(": ", 1)[0].endswith(")") and f"({f}:" in line and line.endswith("]")


def test_validate_caps_at_20(cli, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("format_version: 1\nseed: 0\nrules:\n" + "".join(f"  - init: {{scheme: hee{i}}}\n"
                                                                      for i in range(25)), encoding="utf-8")
    res = cli("validate", str(plan), code=1)
    lines = res.stdout.splitlines()
    assert len(lines) == 21 and lines[-1] == "and 5 more"
    assert lines[0].startswith(f"rules[0].init.scheme ({plan}:4:20): unknown scheme 'hee0'; did you mean 'he'?")
    assert "25 errors" in res.stderr
    # JSON lists them all
    data = json.loads(cli("validate", "--format", "json", str(plan), code=1).stdout)
    assert len(data) == 25 and {d["code"] for d in data} == {"unknown_scheme"}


def test_validate_json(cli) -> None:
    data = json.loads(cli("validate", "--format", "json", str(INVALID / "unknown_mode.yaml"), code=1).stdout)
    assert data == [{"loc": ["mode"], "path": "mode", "file": str(INVALID / "unknown_mode.yaml"), "line": 5, "col": 7,
                     "message": "unknown value 'fan_inn'; did you mean 'fan_in'?; expected one of fan_in, fan_out, "
                                "fan_avg, fan_geo_avg", "code": "invalid_choice", "got": "fan_inn"}]
    assert json.loads(cli("validate", "--format", "json", str(VALID / "he_normal.yaml")).stdout) == []


def test_validate_missing_file_and_bad_format(cli, tmp_path: Path) -> None:
    res = cli("validate", str(tmp_path / "nope.yaml"), code=1)
    assert res.stdout.strip().endswith("no such file; check the path [file_not_found]")
    assert cli("validate", "--format", "xml", str(VALID / "he_normal.yaml"), code=2).exit_code == 2


# ----------------------------------------------------------------------------- explain / convert native


def test_explain_inline(cli) -> None:
    out = cli("explain", HE, "--shape", "256,128", "--layout", "torch").stdout
    assert "fans: fan_in=128 [axes (1)], fan_out=256 [axes (0)]" in out
    assert "variance = scale / fan_in = 2 / 128 = 0.015625" in out
    assert "law: N(0, 0.125²)" in out
    assert 'torch.nn.init.kaiming_normal_(w, nonlinearity="relu")' in out
    assert 'VarianceScaling(scale=2.0, mode="fan_in", distribution="untruncated_normal")' in out
    assert "HeNormal" not in out  # Keras' HeNormal is truncated: never offered for an untruncated law
    for fw in ("torch", "keras", "jax", "numpy"):
        assert f"--- {fw} (" in out


def test_explain_json_and_file(cli) -> None:
    data = json.loads(cli("explain", str(VALID / "torch_default_weight.yaml"), "--shape", "64,32,3,3", "--layout",
                          "torch", "--format", "json").stdout)
    bound = 1 / (32 * 9) ** 0.5
    assert data["law"]["kind"] == "uniform"
    assert data["law"]["high"] == pytest.approx(bound)
    assert data["native"]["torch"]["call"] == "kaiming_uniform_(w, a=math.sqrt(5))"
    assert data["native"]["keras"]["shape"] == [3, 3, 32, 64]
    assert data["spec"] == {"scheme": "torch.default_weight"}


def test_explain_errors(cli, tmp_path: Path) -> None:
    res = cli("explain", HE, "--shape", "256,128", code=1)
    assert res.stderr.strip() == ("error: layout: he reads the tensor's fans: add --layout torch, keras, jax or flax "
                                  "[layout_required]")
    res = cli("explain", "he", "--shape", "4,4", "--layout", "torch", code=1)
    assert "a spec is a mapping such as {scheme: he}" in res.stderr
    res = cli("explain", "{scheme: identity}", "--shape", "3,3,3", "--layout", "torch", code=1)
    assert "[unsupported_shape]" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = cli("explain", str(VALID / "plan_mlp.yaml"), "--shape", "4,4", code=1)
    assert "[not_a_spec]" in res.stderr
    res = cli("explain", str(tmp_path / "nope.yaml"), "--shape", "4,4", code=1)
    assert "[file_not_found]" in res.stderr


@pytest.mark.parametrize("shape", ["256,x", "-1,4", "a", "2.5,3", "4,,4"])
def test_bad_shape_is_usage_error(cli, shape: str) -> None:
    res = cli("explain", HE, "--shape", shape, "--layout", "torch", code=2)
    assert "is not a shape" in res.stderr


@pytest.mark.parametrize(("text", "shape"), [("256,128", (256, 128)), ("256x128", (256, 128)), ("(3,)", (3,)),
                                             ("()", ())])
def test_shape_forms(text: str, shape: tuple[int, ...]) -> None:
    from initspec.cli import _parse_shape

    assert _parse_shape(text) == shape


def test_debug_shows_traceback(cli, tmp_path: Path) -> None:
    plain = cli("explain", str(tmp_path / "nope.yaml"), "--shape", "2,2", code=1)
    assert "Traceback" not in plain.stderr
    debug = cli("--debug", "explain", str(tmp_path / "nope.yaml"), "--shape", "2,2", code=1)
    assert "Traceback" in debug.stderr and "[file_not_found]" in debug.stderr


def test_convert_native(cli) -> None:
    out = cli("convert", "native", "{scheme: lecun, distribution: truncated_normal}", "--shape", "3,3,16,32",
              "--layout", "keras").stdout
    assert "keras.initializers.LecunNormal()" in out and "jax.nn.initializers.lecun_normal()" in out
    assert "# w: a torch tensor of shape (32, 16, 3, 3)" in out
    data = json.loads(cli("convert", "native", "{scheme: dirac}", "--shape", "8,8,3,3", "--layout", "torch",
                          "--format", "json").stdout)
    assert data["torch"]["call"] == "dirac_(w)" and data["keras"]["code"] is None


# ----------------------------------------------------------------------------- convert keras


def test_convert_keras_forms(cli, tmp_path: Path) -> None:
    assert cli("convert", "keras", "glorot_normal").stdout.splitlines() == [
        "# converted from Keras GlorotNormal", "format_version: 1", "scheme: keras.glorot_normal"]
    saved = ('{"module": "keras.initializers", "class_name": "VarianceScaling", "config": {"seed": 3, "scale": 2.0, '
             '"mode": "fan_in", "distribution": "normal", "input_axes": null, "output_axes": null}, '
             '"registered_name": null}')
    out = cli("convert", "keras", saved).stdout
    assert "scheme: keras.variance_scaling" in out and "distribution: normal" in out
    assert "# Keras seed 3 dropped" in out and "truncated normal" in out
    spec = initspec.loads(out)
    assert initspec.expand(spec).to_dict()["distribution"] == "truncated_normal"
    data = json.loads(cli("convert", "keras", "he_uniform", "--format", "json").stdout)
    assert data == {"format_version": 1, "scheme": "keras.he_uniform"}
    target = tmp_path / "init.yaml"
    res = cli("convert", "keras", '{"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}}',
              "--output", str(target))
    assert res.stdout == "" and initspec.load(target).to_dict() == {"scheme": "keras.random_normal", "mean": 0.0,
                                                                    "stddev": 0.02}


def test_convert_keras_errors(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "k.json"
    cfg.write_text('{"class_name": "RandomNormal",\n "config": {"stdev": 0.1}}', encoding="utf-8")
    res = cli("convert", "keras", str(cfg), code=1)
    assert res.stderr.strip() == (f"error: config.stdev ({cfg}:2:13): Keras RandomNormal has no argument 'stdev'; "
                                  "did you mean 'stddev'?; allowed: mean, stddev, seed (got 0.1) [unknown_field]")
    res = cli("convert", "keras", "GlorotNormall", code=1)
    assert "did you mean 'GlorotNormal'" in res.stderr and "[unknown_keras_class]" in res.stderr
    res = cli("convert", "keras", '{"class_name": "Initializer", "config": {}}', code=1)
    assert "[unsupported_keras_class]" in res.stderr
    assert cli("convert", "keras", "he_uniform", "--format", "toml", code=2).exit_code == 2


def test_convert_keras_covers_every_keras_initializer() -> None:
    """Every built-in Keras initializer (from the installed keras) converts or is refused with a reason."""
    pytest.importorskip("keras")
    from keras.src.initializers import ALL_OBJECTS_DICT  # the names keras.initializers.get accepts

    from initspec.convert import convert_keras

    for name in ALL_OBJECTS_DICT:
        try:
            convert_keras(name)
        except initspec.SpecError as exc:
            assert exc.codes == ["unsupported_keras_class"], name


# ----------------------------------------------------------------------------- schema


def test_schema(cli) -> None:
    out = cli("schema").stdout
    assert json.loads(out) == schema_mod.generate("spec")
    assert out == (ROOT / "schemas" / "spec.schema.json").read_text(encoding="utf-8")
    if "plan" in schema_mod.available_kinds():
        assert cli("schema", "--kind", "plan").stdout == (ROOT / "schemas" / "plan.schema.json").read_text("utf-8")
    assert cli("schema", "--kind", "model", code=2).exit_code == 2


# ----------------------------------------------------------------------------- sample


def _have_adapter(backend: str) -> None:
    if backend != "numpy":
        pytest.importorskip({"keras": "tensorflow"}.get(backend, backend))
        if backend == "keras":
            pytest.importorskip("keras")
        module = importlib.import_module(f"initspec.adapters.{backend}")
        if not hasattr(module, "initializer"):
            pytest.skip(f"initspec.adapters.{backend} has no initializer yet")


@pytest.mark.parametrize("backend", ["numpy", "torch", "keras", "jax"])
def test_sample_each_backend(cli, backend: str) -> None:
    pytest.importorskip("scipy")
    _have_adapter(backend)
    out = cli("sample", "{scheme: he, distribution: truncated_normal}", "--shape", "256,256", "--backend", backend,
              "--seed", "3").stdout
    lines = out.splitlines()
    assert lines[0].startswith("law: N(0, ") and f"[{backend}, float32, shape (256, 256)" in lines[0]
    sample_row = next(line for line in lines if line.startswith("sample"))
    n, mean, std, lo, hi, kurt = (float(v) for v in sample_row.split()[1:])
    assert n == 65536
    assert std == pytest.approx((2 / 256) ** 0.5, rel=0.02)  # He: sqrt(2 / fan_in)
    bound = 2 * (2 / 256) ** 0.5 / 0.87962566103423978  # ±2 parent std, parent = std / c
    assert -bound <= lo < 0 < hi <= bound and kurt == pytest.approx(2.37, abs=0.05)
    assert "verdict (initspec.testing.check_samples): PASS" in out


def test_sample_dtype_and_errors(cli) -> None:
    out = cli("sample", "{scheme: uniform, low: -1, high: 1}", "--shape", "64,64", "--dtype", "float64").stdout
    assert "float64" in out.splitlines()[0]
    assert cli("sample", HE, "--shape", "4,4", "--backend", "tensorflow", code=2).exit_code == 2
    assert cli("sample", HE, "--shape", "4,4", "--dtype", "int8", code=2).exit_code == 2
    res = cli("sample", "{scheme: he}", "--shape", "4,4", code=1)
    assert "[missing_field]" in res.stderr


def test_sample_plot(cli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "he.png"
    res = cli("sample", HE, "--shape", "128,64", "--layout", "torch", "--plot", str(png))
    assert f"wrote {png}" in res.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    for spec in ("{scheme: sparse, sparsity: 0.3}", "{scheme: identity}", "{scheme: orthogonal}"):
        cli("sample", spec, "--shape", "32,16", "--layout", "torch", "--plot", str(tmp_path / "x.png"))


# ----------------------------------------------------------------------------- plan


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_test_models.py").write_text(
        "import numpy as np\n\n"
        "def mlp():\n"
        "    return {'fc1.weight': np.zeros((8, 4), np.float32), 'fc1.bias': np.zeros(4, np.float32)}\n",
        encoding="utf-8")
    (tmp_path / "plan.yaml").write_text(
        "format_version: 1\nseed: 0\nrules:\n"
        "  - match: {role: weight}\n    init: {scheme: he, distribution: normal}\n"
        "  - match: {role: bias}\n    init: {scheme: zeros}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "cli_test_models", raising=False)
    return tmp_path


def test_plan_dry_run_and_apply(cli, model_dir: Path) -> None:
    pytest.importorskip("initspec.plans")
    out = cli("plan", "plan.yaml", "--model", "cli_test_models:mlp").stdout
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "N(0, 0.5²)" in rows["fc1.weight"] and "constant 0" in rows["fc1.bias"]  # He: sqrt(2/8)
    data = json.loads(cli("plan", "plan.yaml", "--model", "cli_test_models:mlp", "--format", "json").stdout)
    assert {p["path"] for p in data["parameters"]} == {"fc1.weight", "fc1.bias"}
    res = cli("plan", "plan.yaml", "--model", "cli_test_models:mlp", "--apply", "--manifest", "m.json")
    assert "applied: 2 parameters" in res.stderr
    manifest = json.loads((model_dir / "m.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "initspec-manifest" and len(manifest["parameters"]) == 2


def test_plan_errors(cli, model_dir: Path) -> None:
    pytest.importorskip("initspec.plans")
    assert "package.module:callable" in cli("plan", "plan.yaml", "--model", "cli_test_models", code=2).stderr
    assert "has no attribute 'nope'" in cli("plan", "plan.yaml", "--model", "cli_test_models:nope", code=1).stderr
    assert "cannot import 'no_such_mod'" in cli("plan", "plan.yaml", "--model", "no_such_mod:f", code=1).stderr
    assert "--manifest needs --apply" in cli("plan", "plan.yaml", "--model", "cli_test_models:mlp", "--manifest",
                                            "m.json", code=2).stderr
    (model_dir / "bad.yaml").write_text("format_version: 1\nrules:\n  - init: {scheme: hee}\n", encoding="utf-8")
    res = cli("plan", "bad.yaml", "--model", "cli_test_models:mlp", code=1)
    assert res.stderr.startswith("error: rules[0].init.scheme (bad.yaml:3:20): unknown scheme 'hee'")


# ----------------------------------------------------------------------------- conformance


def test_conformance_delegates(cli, tmp_path: Path) -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("initspec.testing.engine")
    report = tmp_path / "report.json"
    cli("conformance", "--backend", "numpy", "--case", "he_normal-square-float32", "--format", "json", "--output",
        str(report), "--quiet")
    data = json.loads(report.read_text(encoding="utf-8"))
    assert "numpy" in json.dumps(data)
    res = cli("conformance", "--backend", "tf", code=2)
    assert "unknown backend 'tf'" in res.stderr
    assert cli("conformance", "--format", "pdf", code=2).exit_code == 2


def test_explain_validate_convert_import_no_framework(tmp_path: Path) -> None:
    """The framework-free commands never import torch, TensorFlow, Keras or JAX."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from initspec.cli import app\n"
        "r = CliRunner()\n"
        f"assert r.invoke(app, ['explain', {HE!r}, '--shape', '4,4', '--layout', 'torch']).exit_code == 0\n"
        f"assert r.invoke(app, ['validate', {str(VALID / 'he_normal.yaml')!r}]).exit_code == 0\n"
        "assert r.invoke(app, ['convert', 'keras', 'he_normal']).exit_code == 0\n"
        "assert r.invoke(app, ['schema']).exit_code == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'tensorflow', 'keras', 'jax', 'flax'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ----------------------------------------------------------------------------- what a user gets wrong


def test_shape_with_spaces_is_refused_not_joined(cli) -> None:
    res = cli("explain", "{scheme: normal, std: 0.02}", "--shape", "256 128", code=2)
    assert "'256 128' is not a shape" in res.stderr
    out = cli("explain", "{scheme: normal, std: 0.02}", "--shape", "256, 128").stdout
    assert "shape: (256, 128)" in out


def test_unknown_layout_gets_did_you_mean(cli) -> None:
    res = cli("explain", HE, "--shape", "4,4", "--layout", "pytorch", code=2)
    assert "unknown layout 'pytorch'; did you mean 'torch'?" in res.stderr
    assert "Value error" not in res.stderr


def test_paths_that_are_not_spec_files(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "he.yaml").write_text("format_version: 1\nscheme: he\ndistribution: normal\n",
                                                 encoding="utf-8")
    assert "this is a directory" in cli("explain", "specs", "--shape", "4,4", code=1).stderr
    res = cli("explain", "specs/he", "--shape", "4,4", code=1)
    assert "no such file" in res.stderr and "did you mean 'specs/he.yaml'?" in res.stderr
    assert "[file_not_found]" in cli("explain", "specs/nope.yaml", "--shape", "4,4", code=1).stderr
    # a scheme name alone is not a spec; the hint says how to write one, not "did you mean 'he'"
    res = cli("explain", "he", "--shape", "4,4", code=1)
    assert "{scheme: he}" in res.stderr and "did you mean" not in res.stderr


def test_spec_file_given_as_a_plan(cli, model_dir: Path) -> None:
    pytest.importorskip("initspec.plans")
    (model_dir / "he.yaml").write_text("format_version: 1\nscheme: he\ndistribution: normal\n", encoding="utf-8")
    res = cli("plan", "he.yaml", "--model", "cli_test_models:mlp", code=1)
    assert res.stderr.startswith("error: scheme (he.yaml:2:9): this file is a spec (it has 'scheme'), not a plan")
    assert "[not_a_plan]" in res.stderr and res.stderr.count("error:") == 1
    model = {"fc1.weight": __import__("numpy").zeros((8, 4), "float32")}
    with pytest.raises(initspec.SpecError) as err:
        initspec.plan(model_dir / "he.yaml", model)
    assert err.value.codes == ["not_a_plan"]


def test_plan_strictness_located_in_the_file(cli, model_dir: Path) -> None:
    pytest.importorskip("initspec.plans")
    (model_dir / "typo.yaml").write_text(
        "format_version: 1\nrules:\n"
        "  - match: {role: weight}\n    init: {scheme: he, distribution: normal}\n"
        "  - match: {role: bias}\n    init: {scheme: zeros}\n"
        "  - name: output\n    match: {type: Linaer}\n    init: {scheme: zeros}\n", encoding="utf-8")
    res = cli("plan", "typo.yaml", "--model", "cli_test_models:mlp", code=1)
    lines = res.stderr.splitlines()
    assert lines[0] == "1 problem resolving the plan against the model (nothing was changed)"
    assert lines[1].startswith("error: rules[2] (output) (typo.yaml:7:5): rule {type=Linaer} matches no parameter; "
                               "no parameter has type 'Linaer'")
    assert "--no-strict" in lines[1]
    # --no-strict: the same problem is a warning under the table; the JSON form keeps it too
    out = cli("plan", "typo.yaml", "--model", "cli_test_models:mlp", "--no-strict").stdout
    assert out.splitlines()[-1].startswith("warning: rules[2] (output): rule {type=Linaer} matches no parameter")
    # --format json: the errors are JSON on stdout, as validate --format json prints them
    res = cli("plan", "typo.yaml", "--model", "cli_test_models:mlp", "--format", "json", code=1)
    errors = json.loads(res.stdout)
    assert [(e["code"], e["line"], e["col"]) for e in errors] == [("unused_rule", 7, 5)]


def test_plan_seed_override_is_checked_like_the_file(cli, model_dir: Path) -> None:
    pytest.importorskip("initspec.plans")
    assert cli("plan", "plan.yaml", "--model", "cli_test_models:mlp", "--seed", "-3", code=2).exit_code == 2
    model = {"fc1.weight": __import__("numpy").zeros((8, 4), "float32")}
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "zeros"}}]}
    for bad in (-3, True, 1.5):
        with pytest.raises(initspec.SpecError) as err:
            initspec.apply(plan, model, seed=bad)
        assert err.value.codes == ["bad_seed"]


def test_factory_failures_and_output_paths_fail_early(cli, model_dir: Path) -> None:
    pytest.importorskip("initspec.plans")
    (model_dir / "cli_bad_models.py").write_text("def boom():\n    raise RuntimeError('no data here')\n\n"
                                                 "def needs_arg(width):\n    return {}\n", encoding="utf-8")
    res = cli("plan", "plan.yaml", "--model", "cli_bad_models:boom", code=1)
    assert "calling cli_bad_models:boom() failed: RuntimeError: no data here" in res.stderr
    assert "[model_import]" in res.stderr
    res = cli("plan", "plan.yaml", "--model", "cli_bad_models:needs_arg", code=1)
    assert "failed: TypeError" in res.stderr and "[model_import]" in res.stderr
    res = cli("plan", "plan.yaml", "--model", "cli_test_models:mlp", "--apply", "--manifest", "nodir/m.json",
              code=2)
    assert "the folder 'nodir' does not exist" in res.stderr and not (model_dir / "nodir").exists()
    assert "does not exist" in cli("sample", HE, "--shape", "4,4", "--plot", "nodir/x.png", code=2).stderr


def test_debug_after_the_command(tmp_path: Path) -> None:
    out = subprocess.run([_script(), "explain", "{scheme: he}", "--shape", "4,4", "--debug"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1 and "No such option" not in out.stderr
    assert "Traceback" in out.stderr and "[missing_field]" in out.stderr


# ----------------------------------------------------------------------------- convert keras: files and models


def test_convert_keras_output_file_keeps_the_notes(cli, tmp_path: Path) -> None:
    target = tmp_path / "vs.yaml"
    cfg = '{"class_name": "VarianceScaling", "config": {"scale": 2.0, "distribution": "normal", "seed": 1}}'
    res = cli("convert", "keras", cfg, "-o", str(target))
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# converted from Keras VarianceScaling\n# Keras seed 1 dropped")
    assert "truncated normal" in text and res.stdout == ""
    assert initspec.load(target).to_dict()["scheme"] == "keras.variance_scaling"
    as_json = tmp_path / "vs.json"  # the suffix decides the format
    cli("convert", "keras", cfg, "-o", str(as_json))
    assert json.loads(as_json.read_text(encoding="utf-8"))["scheme"] == "keras.variance_scaling"
    assert cli("convert", "keras", cfg, "-o", str(tmp_path / "vs.txt"), code=2).exit_code == 2


def test_convert_keras_model_config_lists_every_initializer(cli) -> None:
    out = cli("convert", "keras", str(ROOT / "examples" / "keras_mlp_config.json")).stdout.splitlines()
    assert out[0].startswith("# 6 initializers in the Keras config")
    body = dict(line.split(": ", 1) for line in out[1:])
    assert json.loads(body['"fc1.kernel_initializer"']) == {"scheme": "keras.glorot_uniform"}
    assert json.loads(body['"norm.gamma_initializer"']) == {"scheme": "ones"}
    data = json.loads(cli("convert", "keras", str(ROOT / "examples" / "keras_mlp_config.json"), "--format",
                          "json").stdout)
    assert list(data) == ["fc1.kernel_initializer", "fc1.bias_initializer", "norm.beta_initializer",
                          "norm.gamma_initializer", "head.kernel_initializer", "head.bias_initializer"]
    res = cli("convert", "keras", str(ROOT / "examples" / "keras_mlp_config.json"), "-o", "x.yaml", code=1)
    assert "--output writes one spec" in res.stderr


def test_convert_keras_model_config_errors_are_located(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "kernel_initializer": {"class_name": "GlorotNormall",
                                                                            "config": {}}}}]}}, indent=1),
                   encoding="utf-8")
    res = cli("convert", "keras", str(cfg), code=1)
    assert "config.layers[0].config.kernel_initializer.class_name (" in res.stderr
    assert "did you mean 'GlorotNormal'" in res.stderr and "[unknown_keras_class]" in res.stderr


def test_convert_keras_saved_model_file(cli, tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    from initspec.convert import convert_keras_config

    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, name="rnn"),
                              keras.layers.Dense(2, kernel_initializer="he_normal", name="out")], name="seq")
    path = tmp_path / "m.keras"
    model.save(path)
    out = cli("convert", "keras", str(path), "--format", "json")
    data = json.loads(out.stdout)
    assert data["rnn.recurrent_initializer"]["scheme"] == "keras.orthogonal"
    assert data["out.kernel_initializer"] == {"scheme": "keras.he_normal"}
    assert "unit_forget_bias=True" in out.stderr  # the LSTM's forget-gate bias of 1 is said, not lost
    assert [w for w, _ in convert_keras_config(model.get_config())] == list(data)
    bad = tmp_path / "not.keras"
    bad.write_bytes(b"not a zip")
    assert "[file_unreadable]" in cli("convert", "keras", str(bad), code=1).stderr


def test_conformance_never_passes_on_nothing(cli) -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("initspec.testing.engine")
    res = cli("conformance", "--backend", "numpy", "--case", "he_normall-*", code=2)
    assert "matches no case id" in res.stderr and "did you mean he_normal-*" in res.stderr
    res = cli("conformance", "--backend", "numpy", "--device", "cuda", "--quiet", code=1)
    assert "nothing to test" in res.stderr
    out = cli("conformance", "--backend", "numpy", "--list-cases", "--case", "he_*-square-float32").stdout
    assert out.split() == ["he_uniform-square-float32", "he_normal-square-float32",
                           "he_truncated_normal-square-float32", "he_fan_out_leaky-square-float32"]
    assert "--list-cases" in cli("conformance", "--help").stdout
