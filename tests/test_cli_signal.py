"""``initspec propagate --model``: diagnostics on the user's model from the command line -
the JSON report, the text table, the plot and ``--check``'s exit status for CI."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

pytest.importorskip("torch")
typer_testing = pytest.importorskip("typer.testing")

from initspec.cli import app  # noqa: E402

MODULE = """
import torch.nn as nn


def tanh_mlp():
    layers = []
    for _ in range(8):
        layers += [nn.Linear(64, 64), nn.Tanh()]
    return nn.Sequential(*layers)


def broken():
    raise RuntimeError("no model today")
"""

BAD = """\
format_version: 1
rules:
  - match: {role: weight}
    init: {scheme: normal, std: 0.01}
  - match: {role: bias}
    init: {scheme: zeros}
"""
GOOD = BAD.replace("{scheme: normal, std: 0.01}", "{scheme: orthogonal, gain: {activation: tanh}}")


@pytest.fixture
def here(tmp_path, monkeypatch):
    name = f"signal_models_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "good.yaml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def run(*args: str):
    return typer_testing.CliRunner().invoke(app, list(args))


def test_json_reports_every_layer_and_the_verdict(here):
    result = run("propagate", "--model", f"{here}:tanh_mlp", "--plan", "bad.yaml", "--input-shape", "256,64",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["verdict"] == "vanishing"
    assert [layer["path"] for layer in body["layers"]] == [str(i) for i in range(16)]
    assert all(layer["forward_variance"] is not None and layer["gradient_variance"] is not None
               for layer in body["layers"])
    assert {p["direction"] for p in body["problems"]} == {"forward", "backward"}
    good = json.loads(run("propagate", "--model", f"{here}:tanh_mlp", "--plan", "good.yaml", "--input-shape",
                          "256,64", "--format", "json").stdout)
    assert good["verdict"] == "healthy" and not good["problems"]


def test_check_exits_1_unless_healthy(here, tmp_path):
    bad = run("propagate", "--model", f"{here}:tanh_mlp", "--plan", "bad.yaml", "--input-shape", "128,64",
              "--check", "--plot", "bad.png")
    assert bad.exit_code == 1 and "verdict: vanishing" in bad.stdout
    assert (tmp_path / "bad.png").stat().st_size > 1000
    good = run("propagate", "--model", f"{here}:tanh_mlp", "--plan", "good.yaml", "--input-shape", "128,64",
               "--check", "--seed", "3")
    assert good.exit_code == 0 and "verdict: healthy" in good.stdout


def test_usage_and_model_errors(here):
    assert run("propagate", "--model", f"{here}:tanh_mlp").exit_code == 2  # no --input-shape
    assert run("propagate", "spec.yaml", "--model", f"{here}:tanh_mlp", "--input-shape", "4,64").exit_code == 2
    assert run("propagate", "--input-shape", "4,64").exit_code == 2  # --input-shape without --model
    wrong = run("propagate", "--model", f"{here}:tanh_mlp", "--input-shape", "4,3")
    assert wrong.exit_code == 1 and "[model_failed]" in wrong.output and "4,3" in wrong.output
    broken = run("propagate", "--model", f"{here}:broken", "--input-shape", "4,64")
    assert broken.exit_code == 1 and "no model today" in broken.output
    typo = run("propagate", "--model", f"{here}:tanh_mlp", "--plan", "bad.yaml", "--input-shape", "4,64",
               "--format", "json", "--check")
    assert typo.exit_code == 1  # 4 samples of a vanishing stack: still not healthy


def test_the_synthetic_stack_mode_is_unchanged():
    result = run("propagate", "{scheme: he, distribution: normal}", "--depth", "3", "--width", "16", "--batch", "32")
    assert result.exit_code == 0, result.output
