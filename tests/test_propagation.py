"""initspec.propagation: variance through a deep dense stack, against the classic results.

Numbers checked (50 layers of width 256 unless said; per-layer factors from the laws):
He + ReLU keeps the variance (factor 2·var(w)·n/2 = 1), U(-1, 1) + ReLU multiplies it by
n/3/2 = 42.7 per layer, Glorot + ReLU by 1/2 per layer, an orthogonal linear stack by
exactly 1; SELU with LeCun weights keeps the forward variance at its fixed point while the
gradient grows by chi = E[selu'(h)²] = 1.0716 per layer (Klambauer et al. 2017's
constants); a constant weight keeps every unit identical.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from initspec import SpecError
from initspec.propagation import (
    ACTIVATIONS,
    SELU_ALPHA,
    SELU_SCALE,
    forward_backward,
    label_of,
    propagate,
    tutorial_specs,
)
from initspec import parse

HE = {"scheme": "he", "distribution": "normal"}
GLOROT = {"scheme": "glorot", "distribution": "normal"}
LECUN = {"scheme": "lecun", "distribution": "normal"}
U11 = {"scheme": "uniform", "low": -1.0, "high": 1.0}
ORTHO = {"scheme": "orthogonal"}


@pytest.fixture(scope="module")
def relu_report():
    # 8 trials: one finite-width stack's log-variance spreads ~ 5·depth/width (Hanin & Rolnick
    # 2018); the geometric mean of 8 is within a factor ~3 of 1 for He on any seed tried (0-9).
    return propagate({"He": HE, "U(-1,1)": U11, "Glorot": GLOROT}, depth=50, width=256, activation="relu",
                     batch=64, seed=0, trials=8)


def test_he_relu_keeps_the_variance(relu_report):
    he = relu_report.run("He")
    assert 0.2 < he.growth < 5, he.growth
    assert 0.2 < he.grad_growth < 5, he.grad_growth
    assert he.verdict == "stable" and not he.symmetric
    # first layer: E[relu(h)²] = var(h)/2 = 1 for N(0,1) inputs; Var = 1 - 1/π
    assert he.act_var[1] == pytest.approx(1 - 1 / math.pi, rel=0.1)


def test_uniform_minus1_1_relu_explodes(relu_report):
    u = relu_report.run("U(-1,1)")
    per_layer = 256 / 3 / 2  # n · Var(U(-1,1)) · E[relu²]/Var = 42.7
    assert 1e-3 < u.growth / per_layer**49 < 1e3
    assert u.growth > 1e70 and u.grad_growth > 1e70
    assert u.verdict == "explodes"


def test_glorot_relu_vanishes(relu_report):
    g = relu_report.run("Glorot")
    assert 1e-3 < g.growth / 0.5**49 < 1e3  # Glorot on square layers is variance 1/n: ReLU halves it
    assert g.growth < 1e-10 and g.grad_growth < 1e-10
    assert g.verdict == "vanishes"


def test_constant_weights_keep_units_identical():
    r = propagate({"constant": {"scheme": "constant", "value": 0.01}, "He": HE}, depth=10, width=32,
                  activation="tanh", batch=16)
    assert r.run("constant").symmetric and r.run("constant").verdict == "symmetric"
    assert not r.run("He").symmetric


def test_orthogonal_linear_stack_is_an_isometry():
    r = propagate({"orthogonal": ORTHO, "LeCun": LECUN}, depth=50, width=64, activation="linear", batch=128,
                  trials=2)
    o = r.run("orthogonal")
    # the variance moves only through the global mean (the second moment is exact, below)
    assert np.allclose(o.act_var, 1.0, rtol=0.02) and np.allclose(o.grad_var, 1.0, rtol=0.02)
    lecun = r.run("LeCun")  # variance 1/n: right on average, but not an isometry
    assert np.ptp(np.log(lecun.act_var)) > 5 * np.ptp(np.log(o.act_var))
    from initspec.adapters import numpy as isnp

    rng = np.random.default_rng(0)
    weights = [isnp.initializer(ORTHO)((64, 64), seed=rng, dtype=np.float64) for _ in range(50)]
    x0, up = rng.standard_normal((8, 64)), rng.standard_normal((8, 64))
    xs, deltas = forward_backward(x0, up, weights, "linear")
    for x in xs:  # ||x Q|| = ||x|| for every input row
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.linalg.norm(x0, axis=1), rtol=1e-10)
    for d in deltas:
        np.testing.assert_allclose(np.linalg.norm(d, axis=1), np.linalg.norm(up, axis=1), rtol=1e-10)


def test_selu_lecun_forward_fixed_point_backward_growth():
    r = propagate({"LeCun": LECUN}, depth=30, width=256, activation="selu", batch=256, trials=2)
    lecun = r.run("LeCun")
    assert np.all(np.abs(np.log(lecun.act_var[1:])) < math.log(1.3))  # variance stays near 1
    # chi = E[selu'(h)²] for h ~ N(0, 1): λ²(1/2 + α² e² Φ(-2)) (Klambauer et al. 2017)
    phi_m2 = 0.5 * math.erfc(2 / math.sqrt(2))
    chi = SELU_SCALE**2 * (0.5 + SELU_ALPHA**2 * math.exp(2) * phi_m2)
    assert chi == pytest.approx(1.0716, abs=1e-4)
    assert lecun.grad_growth == pytest.approx(chi**29, rel=0.5)


def test_manual_backprop_matches_finite_differences():
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((3, 4))
    up = rng.standard_normal((3, 4))
    weights = [rng.standard_normal((4, 4)) * 0.6 for _ in range(3)]
    for activation, (act, _) in ACTIVATIONS.items():
        _, deltas = forward_backward(x0, up, weights, activation)

        def loss(h1: np.ndarray) -> float:
            x = act(h1)
            for w in weights[1:]:
                x = act(x @ w)
            return float(np.sum(up * x))

        h1 = x0 @ weights[0]
        eps = 1e-6
        for idx in [(0, 0), (1, 2), (2, 3)]:
            hp, hm = h1.copy(), h1.copy()
            hp[idx] += eps
            hm[idx] -= eps
            if activation == "relu" and abs(h1[idx]) < 1e-3:
                continue  # the kink
            numeric = (loss(hp) - loss(hm)) / (2 * eps)
            assert deltas[0][idx] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (activation, idx)


def test_same_streams_for_every_spec_and_determinism():
    a = propagate({"x": HE, "y": HE}, depth=5, width=16, batch=8, seed=3)
    assert np.array_equal(a.run("x").act_var_trials, a.run("y").act_var_trials)
    b = propagate({"x": HE}, depth=5, width=16, batch=8, seed=3)
    assert np.array_equal(a.run("x").grad_var_trials, b.run("x").grad_var_trials)
    c = propagate({"x": HE}, depth=5, width=16, batch=8, seed=4)
    assert not np.array_equal(b.run("x").act_var_trials, c.run("x").act_var_trials)


def test_overflow_is_reported_not_raised():
    r = propagate({"huge": {"scheme": "uniform", "low": -10.0, "high": 10.0}}, depth=150, width=64,
                  activation="relu", batch=4)
    run = r.run("huge")
    assert not run.finite and run.verdict == "overflow"
    assert math.isinf(run.act_var[-1])
    assert "inf" in r.to_text()
    assert r.to_json()["runs"][0]["act_var"][-1] is None


def test_inputs_forms_and_labels():
    assert propagate(HE, depth=2, width=8, batch=4).runs[0].label == "he(distribution=normal)"
    labels = [r.label for r in propagate([HE, U11], depth=2, width=8, batch=4).runs]
    assert labels == ["he(distribution=normal)", "uniform(low=-1, high=1)"]
    assert label_of(parse({"scheme": "orthogonal", "gain": "relu"})) == "orthogonal(gain=relu)"
    assert label_of(parse({"scheme": "zeros"})) == "zeros"


@pytest.mark.parametrize("kwargs, code", [
    (dict(activation="gelu"), "invalid_choice"),
    (dict(depth=0), "out_of_range"),
    (dict(width=True), "out_of_range"),
    (dict(trials=-1), "out_of_range"),
    (dict(seed=-1), "bad_seed"),
])
def test_bad_arguments(kwargs, code):
    with pytest.raises(SpecError) as exc:
        propagate(HE, **{"depth": 2, "width": 8, "batch": 4, **kwargs})
    assert exc.value.codes == [code]


def test_bad_specs():
    with pytest.raises(SpecError) as exc:
        propagate({"a": {"scheme": "hee", "distribution": "normal"}}, depth=2, width=8, batch=4)
    assert exc.value.codes == ["unknown_scheme"] and exc.value.errors[0].loc[0] == "a"
    with pytest.raises(SpecError):
        propagate([HE, HE], depth=2, width=8, batch=4)  # two identical labels
    with pytest.raises(SpecError):
        propagate([], depth=2, width=8, batch=4)
    with pytest.raises(SpecError) as exc:
        propagate({"x": {"scheme": "dirac"}}, depth=2, width=8, batch=4)  # needs a conv kernel
    assert exc.value.codes == ["unsupported_shape"]


def test_text_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    r = propagate({"He": HE, "const": {"scheme": "zeros"}}, depth=6, width=16, batch=8, trials=2)
    text = r.to_text()
    assert "He" in text and "symmetric" in text and "geometric mean of 2 trials" in text
    assert text.count("\n") > 8
    path = r.plot(tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_tutorial_specs_parse():
    for activation in ("tanh", "relu", "selu", "linear"):
        for spec in tutorial_specs(activation).values():
            parse(spec)


def test_module_docstring_example():
    import doctest

    import initspec.propagation as module

    assert doctest.testmod(module).failed == 0


def test_import_pulls_no_plotting_and_no_framework():
    code = ("import sys, initspec.propagation; "
            "bad = [m for m in ('matplotlib', 'torch', 'tensorflow', 'jax', 'keras') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
