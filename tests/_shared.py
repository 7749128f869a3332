"""Helpers the per-backend tests share (imported as ``_shared``: ``conftest.py`` puts this
folder on ``sys.path``).  What a backend test checks is the same for every backend; only how
it builds a model and reads its bytes differs, and that stays in the backend's test file."""

from __future__ import annotations

import json
import math
import os
import zlib

import pytest

import initspec
from initspec import SpecError
from initspec import distributions as D
from initspec.plans import PlanWarning
from initspec.testing import N_SAMPLES

#: ``INITSPEC_SEED_SALT`` re-rolls every seed that comes from :func:`seed_of`.
SALT = int(os.environ.get("INITSPEC_SEED_SALT", "0") or "0", 0)


def seed_of(case_id: str) -> int:
    """A test case's seed: crc32 of its id, xor the salt."""
    return zlib.crc32(case_id.encode()) ^ SALT


def codes(fn) -> list[str]:
    """The error codes of the SpecError that ``fn()`` raises, its text and its JSON checked on
    the way: rendering never raises, and the details are strict JSON."""
    with pytest.raises(SpecError) as info:
        fn()
    str(info.value)
    json.dumps([e.to_dict() for e in info.value.errors], allow_nan=False)
    return info.value.codes


def assert_refused_before_any_draw(model, state_bytes, name: str) -> dict:
    """A plan that draws floats into every parameter, applied to ``model`` whose parameter
    ``name`` (walked last) holds integers: refused for that one, nothing drawn
    (``state_bytes(model)`` as it was).  Returns the plan."""
    before = state_bytes(model)
    plan = {"rules": [{"match": {}, "init": {"scheme": "normal", "std": 1.0}}]}
    with pytest.raises(SpecError) as e:
        initspec.apply(plan, model)
    assert e.value.errors[0].code == "unsupported_dtype" and name in str(e.value)
    assert state_bytes(model) == before
    return plan


def assert_failing_store_restores(monkeypatch, plan, model, state_bytes, storages: list, method: str):
    """A failure inside the commit: ``method`` (what writes a value into one of ``storages``,
    the model's variables) raises for the one half-way through; a transactional apply
    restores every one already written (``state_bytes(model)`` as it was)."""
    before = state_bytes(model)
    victim = storages[len(storages) // 2]
    cls = type(victim)
    real = getattr(cls, method)

    def store(self, value, **kw):
        if self is victim:
            raise RuntimeError(f"{method} failed")
        return real(self, value, **kw)

    monkeypatch.setattr(cls, method, store)
    with pytest.raises(RuntimeError, match=f"{method} failed"):
        initspec.apply(plan, model, seed=6, transactional=True)
    monkeypatch.setattr(cls, method, real)
    assert state_bytes(model) == before


def assert_every_failure_restores(model, state_bytes, steps: int, failing, write):
    """A transactional write that fails at step k (``failing(k)`` runs it and checks its
    exception), for every k below ``steps``, leaves ``state_bytes(model)`` as it was; then
    ``write()``, the write without a failure, changes it."""
    before = state_bytes(model)
    for k in range(steps):
        failing(k)
        assert state_bytes(model) == before, f"step {k}"
    write()
    assert state_bytes(model) != before


def written_manifest(manifest, tmp_path, backend: str) -> dict:
    """The manifest of a transactional apply on ``backend``, written to a file and read back
    (its kind, backend and mode checked, and every parameter's seed its own): its rows by
    (path, block)."""
    manifest.write(tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["kind"] == "initspec-manifest" and data["backend"] == backend and data["transactional"] is True
    assert len({p["seed"] for p in data["parameters"]}) == len(data["parameters"])
    return {(p["path"], p["block"]): p for p in data["parameters"]}


def assert_passes(result):
    assert result.passed, result.report()


def applies_needed(numel: int, max_applies: int) -> int:
    """How many applies pool a ``numel``-element tensor to ``N_SAMPLES`` draws (at most
    ``max_applies``: a guard on the test models' sizes)."""
    k = max(1, math.ceil(N_SAMPLES / numel))
    assert k <= max_applies, f"a {numel}-element tensor needs {k} applies; make the test model wider"
    return k


def lstm_manifest_rows(plan, model, tmp_path, backend: str, *, forget_bias: str, recurrent: tuple[str, str],
                       embedding: str):
    """A transactional apply of a backend's LSTM test plan (forget-gate biases 1, recurrent
    weights orthogonal, embeddings std 0.1) and its manifest, written and read back
    (:func:`written_manifest`): the forget-gate block of the bias ``forget_bias``, the
    (path, gate) block ``recurrent`` of a recurrent weight (256 x 256) and the embedding
    (stored at ``embedding``) checked.  Returns the manifest and its rows."""
    m = initspec.apply(plan, model, transactional=True)
    rows = written_manifest(m, tmp_path, backend)
    f = rows[(forget_bias, "f")]
    assert f["block_slice"] == {"axis": 0, "start": 256, "stop": 512} and f["law"] == "constant 1"
    rk = rows[recurrent]
    assert rk["spec"]["scheme"] == "orthogonal" and rk["shape"] == [256, 256]
    emb = rows[("emb.embedding", None)]
    assert emb["native_path"] == embedding and emb["std"] == pytest.approx(0.1)
    return m, rows


def assert_draws_follow_the_table(plan, model, case_id: str, read, *, max_applies: int):
    """Every row's drawn values pass check_samples against the row's resolved law, pooled over
    applies of ``plan`` to ``model`` with different seeds until ``N_SAMPLES`` draws
    (``read(row, manifest)`` reads a row of an apply's manifest)."""
    from initspec.testing import check_samples

    table = initspec.plan(plan, model)
    k = {r.path: applies_needed(math.prod(r.shape), max_applies) if r.distribution.random else 1 for r in table}
    drawn: dict[str, list] = {r.path: [] for r in table}
    for i in range(max(k.values())):
        m = initspec.apply(plan, model, seed=seed_of(case_id) + i)
        for r in m.table:
            if i < k[r.path]:
                drawn[r.path].append(read(r, m))
    for r in table:
        assert_passes(check_samples(drawn[r.path], r.distribution, context=f"{case_id}: {r.path} ({r.rule})"))


def assert_model_draws_follow_the_table(models: dict, name: str, built, row_value, *, max_applies: int):
    """:func:`assert_draws_follow_the_table` for ``models[name]`` (a factory and its plan): the
    model ``built(factory, case_id)`` for the case ``table-{name}``, each row read from the
    model by ``row_value(row)``."""
    factory, plan = models[name]
    case_id = f"table-{name}"
    assert_draws_follow_the_table(plan, built(factory, case_id)[0], case_id, lambda r, m: row_value(r),
                                  max_applies=max_applies)


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
    rest, the three weights.  Returns what ``initspec.apply`` returns."""
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "lecun", "distribution": "normal"}},
                      {"match": {"path": "nope.*"}, "init": {"scheme": "zeros"}}]}
    with pytest.warns(PlanWarning) as rec:
        m = initspec.apply(plan, model, strict=False)
    msgs = " ".join(str(w.message) for w in rec)
    assert "nope" in msgs and "fc1.bias" in msgs
    assert {r.path for r in m.table} == {"fc1.weight", "fc2.weight", "head.weight"}
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


#: The conformance cases that the torch and Keras adapter tables share: (id, spec, shape), the
#: shape a tuple (the same in every layout) or the name of one that differs by layout
#: ("dense", "conv", "convT"); :func:`layout_cases` puts them in one layout.
LAYOUT_CASES = [
    ("constant", {"scheme": "constant", "value": 0.375}, (64, 32)),
    ("zeros", {"scheme": "zeros"}, (64, 32)),
    ("ones", {"scheme": "ones"}, "conv"),
    ("uniform", {"scheme": "uniform", "low": -0.3, "high": 0.7}, "dense"),
    ("normal", {"scheme": "normal", "mean": 0.1, "std": 0.5}, "dense"),
    ("trunc_absolute", {"scheme": "truncated_normal", "std": 0.02, "low": -0.01, "high": 0.03, "bounds": "absolute"},
     "dense"),
    ("trunc_result_std", {"scheme": "truncated_normal", "std": 0.05, "low": -1.0, "high": 1.5, "bounds": "std",
                          "std_of": "result"}, "dense"),
    # low-mass intervals: uniform proposal around 0, uniform proposal in a narrow tail window
    # (values in [0, 0.2]: many bfloat16 numbers), exponential proposal in a far right tail,
    # the mirrored left tail
    ("trunc_narrow_centre", {"scheme": "truncated_normal", "std": 1.0, "low": -0.2, "high": 0.25, "bounds": "std"},
     "dense"),
    ("trunc_narrow_tail", {"scheme": "truncated_normal", "mean": -3.0, "std": 1.0, "low": 3.0, "high": 3.2,
                           "bounds": "std"}, "dense"),
    ("trunc_far_tail", {"scheme": "truncated_normal", "mean": 0.5, "std": 2.0, "low": 2.5, "high": 6.0,
                        "bounds": "std"}, "dense"),
    ("trunc_left_tail", {"scheme": "truncated_normal", "std": 1.0, "low": -7.0, "high": -4.0, "bounds": "std"},
     "dense"),
    ("trunc_tiny_std_absolute", {"scheme": "truncated_normal", "std": 0.001, "low": -2.0, "high": 2.0,
                                 "bounds": "absolute"}, "dense"),
    ("vs_uniform_fan_out", {"scheme": "variance_scaling", "scale": 2.0, "mode": "fan_out", "distribution": "uniform"},
     "conv"),
    ("vs_normal_geo", {"scheme": "variance_scaling", "scale": 0.5, "mode": "fan_geo_avg", "distribution": "normal"},
     "conv"),
    ("glorot_uniform", {"scheme": "glorot", "distribution": "uniform"}, "dense"),
    ("he_normal", {"scheme": "he", "distribution": "normal"}, "conv"),
    ("he_uniform_fan_out", {"scheme": "he", "distribution": "uniform", "mode": "fan_out"}, "convT"),
    ("he_trunc", {"scheme": "he", "distribution": "truncated_normal"}, "dense"),
    ("lecun_uniform", {"scheme": "lecun", "distribution": "uniform"}, "dense"),
    ("orthogonal_wide", {"scheme": "orthogonal"}, (64, 128)),
    ("orthogonal_tall", {"scheme": "orthogonal", "gain": 2.0}, (128, 64)),
    ("dirac", {"scheme": "dirac"}, "conv"),
    ("sparse", {"scheme": "sparse", "sparsity": 0.2, "std": 0.02}, "dense"),
]


def layout_cases(layout: str, shapes: dict[str, tuple[int, ...]]) -> list[tuple[str, dict, str, tuple[int, ...]]]:
    """:data:`LAYOUT_CASES` as (id, spec, layout, shape) rows, a named shape read from ``shapes``."""
    return [(case_id, spec, layout, shapes[shape] if isinstance(shape, str) else shape)
            for case_id, spec, shape in LAYOUT_CASES]


def he(distribution: str) -> dict:
    return {"scheme": "he", "distribution": distribution}


def scaled(dist, f: float):
    """``dist`` (normal, uniform or truncated normal) with its spread times ``f``."""
    if isinstance(dist, D.Normal):
        return D.Normal(loc=dist.loc, scale=dist.scale * f)
    if isinstance(dist, D.Uniform):
        return D.Uniform(low=dist.low * f, high=dist.high * f)
    return D.TruncatedNormal(loc=dist.loc, scale=dist.scale * f, low=dist.low * f, high=dist.high * f)


def wrong_samplers(other_layout: str) -> list:
    """The wrong samplers every backend's power gate must catch: (id, spec, law -> wrong law);
    "fans swapped" reads the fans in ``other_layout`` (the (out, in) layout read as (in, out))."""
    c = D.TRUNC2_STD  # std of N(0, 1) truncated to [-2, 2]

    def swapped(d):
        return initspec.resolve(d.derivation.spec, d.derivation.shape, other_layout)

    return [
        ("normal_std_x1.05", he("normal"), lambda d: scaled(d, 1.05)),
        ("normal_std_x0.95", he("normal"), lambda d: scaled(d, 0.95)),
        ("uniform_std_x1.05", he("uniform"), lambda d: scaled(d, 1.05)),
        ("trunc_std_x1.05", he("truncated_normal"), lambda d: scaled(d, 1.05)),
        ("mean_shift_0.05sigma", he("normal"), lambda d: D.Normal(loc=0.05 * d.scale, scale=d.scale)),
        ("uniform_instead_of_normal", he("normal"),
         lambda d: D.Uniform(low=-d.scale * math.sqrt(3), high=d.scale * math.sqrt(3))),
        ("fans_swapped", he("normal"), swapped),
        ("fans_swapped_trunc", he("truncated_normal"), swapped),
        ("truncation_missing", he("truncated_normal"), lambda d: D.Normal(loc=d.loc, scale=d.scale)),
        ("correction_missing", he("truncated_normal"),
         lambda d: D.TruncatedNormal(loc=0.0, scale=d.scale * c, low=-2 * d.scale * c, high=2 * d.scale * c)),
        ("normal_silently_truncated", he("normal"),
         lambda d: D.TruncatedNormal(loc=0.0, scale=d.scale / c, low=-2 * d.scale / c, high=2 * d.scale / c)),
        ("bounds_absolute_not_sigma",
         {"scheme": "truncated_normal", "std": 0.5, "low": -2.0, "high": 2.0, "bounds": "std"},
         lambda d: D.TruncatedNormal(loc=d.loc, scale=d.scale, low=-2.0, high=2.0)),
    ]


def python_calls(fn):
    """``(result, calls)``: ``fn()``'s result and the number of function calls (Python and
    built-in) it made, counted by cProfile.  The tests' measure of work instead of wall time:
    the same on a loaded CI machine as on a quiet one, and a quadratic path shows as calls."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    try:
        result = fn()
    finally:
        profile.disable()
    return result, pstats.Stats(profile).total_calls
