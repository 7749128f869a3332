"""``initspec propagate``: the CLI face of initspec.propagation, run for real with CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

typer_testing = pytest.importorskip("typer.testing")

from initspec.cli import Activation, app  # noqa: E402
from initspec.propagation import ACTIVATIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--depth", "20", "--width", "64", "--batch", "32"]


def run(*args: str, code: int = 0):
    result = typer_testing.CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def test_activation_choices_match_the_module() -> None:
    assert [a.value for a in Activation] == list(ACTIVATIONS)


def test_text_table_names_each_spec_and_verdict() -> None:
    out = run("propagate", str(ROOT / "examples" / "he_normal.yaml"), "{scheme: glorot, distribution: normal}",
              *SMALL).stdout
    assert "20 dense layers of width 64, activation relu" in out
    assert "he_normal.yaml" in out and "glorot(distribution=normal)" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines[str(ROOT / "examples" / "he_normal.yaml")].rstrip().endswith("stable")
    assert lines["glorot(distribution=normal)"].rstrip().endswith("vanishes")  # 2^-19 over 20 ReLU layers


def test_json_output_and_options() -> None:
    out = run("propagate", "{scheme: constant, value: 0.01}", "{scheme: lecun, distribution: normal}",
              "--activation", "tanh", "--trials", "2", "--seed", "5", "--format", "json", *SMALL).stdout
    data = json.loads(out)
    assert (data["depth"], data["width"], data["activation"], data["trials"], data["seed"]) == (20, 64, "tanh", 2, 5)
    verdicts = {r["label"]: r["verdict"] for r in data["runs"]}
    assert verdicts["constant(value=0.01)"] == "symmetric"
    assert len(data["runs"][1]["act_var"]) == 21 and len(data["runs"][1]["grad_var"]) == 20


def test_duplicate_labels_are_kept_apart() -> None:
    data = json.loads(run("propagate", "{scheme: he, distribution: normal}", "{scheme: he, distribution: normal}",
                          "--format", "json", *SMALL).stdout)
    assert [r["label"] for r in data["runs"]] == ["he(distribution=normal)", "he(distribution=normal)'"]


def test_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    result = run("propagate", "{scheme: he, distribution: normal}", "--plot", str(png), *SMALL)
    assert png.read_bytes()[:4] == b"\x89PNG" and f"wrote {png}" in result.stderr


def test_errors() -> None:
    bad = run("propagate", "{scheme: hee, distribution: normal}", *SMALL, code=1)
    assert "[unknown_scheme]" in bad.stderr and "did you mean" in bad.stderr
    conv = run("propagate", "{scheme: dirac}", *SMALL, code=1)
    assert "[unsupported_shape]" in conv.stderr
    assert run("propagate", "{scheme: he, distribution: normal}", "--activation", "gelu", code=2).exit_code == 2
    assert run("propagate", "{scheme: he, distribution: normal}", "--depth", "0", code=2).exit_code == 2
    assert run("propagate", code=2).exit_code == 2
