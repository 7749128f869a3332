"""Helpers the per-backend tests share (imported as ``_shared``: ``conftest.py`` puts this
folder on ``sys.path``).  What a backend test checks is the same for every backend; only how
it builds a model and reads its bytes differs, and that stays in the backend's test file."""

from __future__ import annotations

import math
import os
import zlib

import pytest

import initspec
from initspec import SpecError
from initspec.plans import PlanWarning
from initspec.testing import N_SAMPLES

#: ``INITSPEC_SEED_SALT`` re-rolls every seed that comes from :func:`seed_of`.
SALT = int(os.environ.get("INITSPEC_SEED_SALT", "0") or "0", 0)


def seed_of(case_id: str) -> int:
    """A test case's seed: crc32 of its id, xor the salt."""
    return zlib.crc32(case_id.encode()) ^ SALT


def assert_passes(result):
    assert result.passed, result.report()


def applies_needed(numel: int, max_applies: int) -> int:
    """How many applies pool a ``numel``-element tensor to ``N_SAMPLES`` draws (at most
    ``max_applies``: a guard on the test models' sizes)."""
    k = max(1, math.ceil(N_SAMPLES / numel))
    assert k <= max_applies, f"a {numel}-element tensor needs {k} applies; make the test model wider"
    return k


def block_of(v, block):
    """The part of the array ``v`` that a plan row's ``block`` names (all of it for ``None``), as a copy."""
    if block is None:
        return v
    idx = [slice(None)] * v.ndim
    idx[block.axis] = slice(block.start, block.stop)
    return v[tuple(idx)].copy()


def named_layer_plans(base: str, lstm_types) -> dict[str, dict]:
    """The plans of the Keras and Flax test models, whose layers have the same names
    (fc1/fc2/head, conv..., attention query/key, an LSTM ``lstm_types``): one per architecture."""
    return {
        "mlp": {"seed": 1, "base": base, "rules": [
            {"match": {"path": "fc1.weight"}, "init": {"scheme": "he", "distribution": "truncated_normal"}},
            {"match": {"path": "fc2.weight"}, "init": {"scheme": "glorot", "distribution": "uniform"}},
            {"match": {"path": "head.*", "role": "weight"}, "init": {"scheme": "lecun", "distribution": "normal"}},
            {"match": {"path": "fc1.bias"}, "init": {"scheme": "uniform", "low": -0.1, "high": 0.2}},
        ]},
        "cnn": {"seed": 2, "base": base, "rules": [
            {"match": {"kind": "conv", "role": "weight"},
             "init": {"scheme": "he", "distribution": "normal", "mode": "fan_out"}},
            {"match": {"kind": "depthwise_conv", "role": "weight"}, "init": {"scheme": "he", "distribution": "uniform"}},
            {"match": {"kind": "conv_transpose", "role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
            {"match": {"kind": "norm", "role": "scale"}, "init": {"scheme": "normal", "mean": 1.0, "std": 0.02}},
        ]},
        "block": {"seed": 3, "defaults": {"bias": {"scheme": "zeros"}, "scale": {"scheme": "ones"},
                                          "offset": {"scheme": "zeros"}}, "rules": [
            {"match": {"role": "weight"}, "init": {"scheme": "normal", "std": 0.02}},
            {"match": {"kind": "attention", "role": "weight", "path": ["*query*", "*key*"]},
             "init": {"scheme": "glorot", "distribution": "uniform"}},
            {"match": {"path": "fc1.bias"}, "init": {"scheme": "uniform", "low": -0.1, "high": 0.1}},
        ]},
        "lstm": {"seed": 4, "defaults": {"bias": {"scheme": "zeros"}}, "rules": [
            {"match": {"kind": "embedding"}, "init": {"scheme": "normal", "std": 0.1}},
            {"match": {"role": "weight"}, "init": {"scheme": "glorot", "distribution": "uniform"}},
            {"match": {"role": "recurrent_weight"}, "init": {"scheme": "orthogonal"}},
            {"match": {"type": lstm_types, "role": "bias", "block": "f"}, "init": {"scheme": "ones"}},
        ]},
    }


def assert_strict_errors_name_what_to_fix(model, state, *, conv: str, fc: str, typo: str | None = None):
    """Apply to ``model`` (a conv layer at ``conv``, a dense one at ``fc``) a plan with one
    mistake of each kind strict mode rejects: the SpecError names each mistake and how to fix
    it, and ``state()`` (the model's bytes) is what it was."""
    bad = {"rules": [
        {"match": {"kind": "conv", "role": "weight"}, "init": {"scheme": "identity"}},  # 4-D: no identity
        {"match": {"path": f"{fc}.weight"}, "init": {"scheme": "he", "distribution": "normal"}},
        {"match": {"path": f"{fc}.bias"}, "init": {"scheme": "he", "distribution": "normal"}},  # 1-D: no real fans
        {"match": {"path": typo or f"{fc}.weigth"}, "init": {"scheme": "zeros"}},  # matches nothing
    ]}
    before = state()
    with pytest.raises(SpecError) as e:
        initspec.apply(bad, model)
    by_code: dict[str, list[str]] = {}
    for d in e.value.errors:
        by_code.setdefault(d.code, []).append(d.message)
    assert set(by_code) == {"uncovered_parameter", "unused_rule", "incompatible_spec"}
    text = str(e.value)
    assert "nothing was changed" in text
    assert f"{conv}.bias" in text and "default for role 'bias'" in text
    assert "rules[3]" in text and f"did you mean '{fc}.weight'" in text
    assert any(f"rules[0] gives identity to {conv}.weight" in m for m in by_code["incompatible_spec"])
    assert any(f"rules[2] gives he to {fc}.bias" in m for m in by_code["incompatible_spec"])
    assert state() == before


def apply_weights_only_non_strict(model):
    """Apply to an MLP test model (fc1/fc2/head) a plan that covers its weights only and has
    a rule that matches nothing, with ``strict=False``: it warns of both and applies the
    rest.  Returns what ``initspec.apply`` returns."""
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "lecun", "distribution": "normal"}},
                      {"match": {"path": "nope.*"}, "init": {"scheme": "zeros"}}]}
    with pytest.warns(PlanWarning) as rec:
        m = initspec.apply(plan, model, strict=False)
    msgs = " ".join(str(w.message) for w in rec)
    assert "nope" in msgs and "fc1.bias" in msgs
    return m


#: One spec per random draw path of an adapter (native and rejection truncated normal,
#: the orthogonal family, sparse), for the seeding and determinism tests of every backend.
RANDOM_SPECS = {
    "uniform": {"scheme": "uniform", "low": -1.0, "high": 1.0},
    "normal": {"scheme": "normal", "std": 1.0},
    "he_trunc": {"scheme": "he", "distribution": "truncated_normal"},  # native ±2σ path
    "trunc_far_tail": {"scheme": "truncated_normal", "std": 1.0, "low": 3.0, "high": 6.0, "bounds": "std"},  # rejection
    "orthogonal": {"scheme": "orthogonal"},
    "delta_orthogonal": {"scheme": "delta_orthogonal"},
    "sparse": {"scheme": "sparse", "sparsity": 0.3},
}

#: The LSUV tests' plans (every backend): orthogonal weights with the tanh gain, and weights
#: too small for a deep tanh net; biases zero in both.
ORTHO_TANH = [{"match": {"role": "weight"}, "init": {"scheme": "orthogonal", "gain": {"activation": "tanh"}}},
              {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}]
SMALL = [{"match": {"role": "weight"}, "init": {"scheme": "normal", "std": 0.01}},
         {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}]


def cli_runner(*, no_traceback: bool = False):
    """``run(*args, code=0)``: the ``initspec`` command in process (typer's CliRunner), the
    exit code checked against ``code`` (not checked for ``None``) and, with ``no_traceback``,
    no traceback in its output.  Returns typer's result."""
    from typer import testing as typer_testing

    from initspec.cli import app

    runner = typer_testing.CliRunner()

    def run(*args: str, code: int | None = 0):
        result = runner.invoke(app, list(args))
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        if no_traceback:
            assert "Traceback" not in result.stdout + result.stderr
        return result

    return run


def cli_in(tmp_path, monkeypatch, files: dict[str, str]):
    """``cli_runner()`` run in ``tmp_path``, with ``files`` (name -> text) written there first
    and the folder importable (``--model module:function``)."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return cli_runner()
