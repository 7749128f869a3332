"""LSUV and the diagnostics verdict, framework-free: the algorithm against a real NumPy
MLP (its forward pass computed here), the quadratic solve, and the verdict rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initspec.diagnose import DRIFT, EXPLODE, VANISH, LayerStats, verdict
from initspec.lsuv import Moments, run, solve_scale


class TanhMLP:
    """A tanh MLP on NumPy arrays that measures its dense layers' outputs (a Probe)."""

    def __init__(self, depth: int = 8, width: int = 64, std: float = 0.3, bias: float = 0.1, seed: int = 0,
                 stop_early: bool = True):
        rng = np.random.default_rng(seed)
        self.W = [rng.normal(0.0, std, (width, width)) for _ in range(depth)]
        self.b = [np.full(width, bias) for _ in range(depth)]
        self.x = rng.normal(0.0, 1.0, (128, width))
        self.layers = [f"fc{i}.weight" for i in range(depth)]
        self.stop_early = stop_early
        self.passes = 0

    def measure(self, upto: int) -> dict[int, Moments]:
        self.passes += 1
        out, h = {}, self.x
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            z = h @ w
            out[i] = Moments.of(z, b)
            if self.stop_early and i >= upto:
                break
            h = np.tanh(z + b)
        return out

    def scale(self, index: int, factor: float) -> None:
        self.W[index] *= factor

    def output_variances(self) -> list[float]:
        h, out = self.x, []
        for w, b in zip(self.W, self.b):
            y = h @ w + b
            out.append(float(y.var()))
            h = np.tanh(y)
        return out


@pytest.mark.parametrize("stop_early", [True, False])
@pytest.mark.parametrize("std", [0.01, 0.3, 3.0])
def test_lsuv_reaches_the_target_on_every_layer_in_about_one_pass_per_layer(std, stop_early):
    model = TanhMLP(std=std, stop_early=stop_early)
    res = run(model, target=1.0, tol=0.05)
    assert res.converged
    assert all(abs(v - 1.0) <= 0.05 for v in model.output_variances())  # measured independently
    assert res.passes == model.passes <= len(model.layers) + 1
    for r in res.layers:
        assert r.iterations >= 1 and abs(r.variance - 1.0) <= 0.05 and r.scale > 0
        assert math.isfinite(r.initial_variance)


def test_the_target_and_tolerance_are_honoured():
    model = TanhMLP(std=0.3)
    res = run(model, target=0.25, tol=0.01)
    assert res.converged and all(abs(v - 0.25) <= 0.0025 for v in model.output_variances())


def test_a_layer_that_cannot_reach_the_target_is_reported_not_hidden():
    model = TanhMLP(depth=3, bias=5.0)  # the bias alone has variance 0 but mean 5: reachable...
    model.b[1] = np.linspace(-10, 10, 64)  # ...this one varies more than the target across channels
    res = run(model, target=1.0, tol=0.05, max_iter=4)
    assert not res.converged
    (bad,) = res.failures
    assert bad.path == "fc1.weight" and bad.iterations <= 4 and bad.variance > 1.05


def test_solve_scale_is_exact_for_the_affine_output():
    rng = np.random.default_rng(3)
    z, b = rng.normal(0.5, 2.0, (64, 16)), rng.normal(0.0, 0.3, 16)
    m = Moments.of(z, b)
    assert m.variance == pytest.approx(float((z + b).var()), rel=1e-12)
    c = solve_scale(m, 1.7)
    assert c is not None and float((c * z + b).var()) == pytest.approx(1.7, rel=1e-10)
    assert solve_scale(Moments.of(np.zeros((4, 4))), 1.0) is None  # a zero weight part
    assert solve_scale(Moments.of(z * 0 + 1e-9, np.linspace(-5, 5, 16)), 1.0) is None  # the bias alone is too wide


# ----------------------------------------------------------------------------- verdict


def _stats(forward, backward=None, saturated=None):
    n = len(forward)
    backward = backward or [1.0] * n
    return [LayerStats(f"l{i}", "Linear", f, g, saturated[i] if saturated else None)
            for i, (f, g) in enumerate(zip(forward, backward))]


def test_a_flat_network_is_healthy():
    d = verdict(_stats([1.0, 0.9, 1.1, 0.8]), 1.0, 1.0)
    assert d.verdict == "healthy" and d.healthy and not d.problems


def test_vanishing_and_exploding_name_where_they_start_and_where_they_are_worst():
    d = verdict(_stats([0.5, 0.05, 0.004, 0.0003]), 1.0, 1.0)
    assert d.verdict == "vanishing"
    (p,) = d.problems
    assert p.direction == "forward" and p.layer == "l1" and p.worst == "l3"
    d = verdict(_stats([1.0] * 4, backward=[4e5, 3e3, 20.0, 1.0]), 1.0, 1.0)
    (p,) = d.problems
    assert d.verdict == "exploding" and p.direction == "backward"
    assert p.layer == "l2" and p.worst == "l0"  # the gradient travels from l3 toward l0


def test_both_directions_are_judged_and_exploding_wins():
    d = verdict(_stats([1e-3] * 3, backward=[1e3, 30.0, 1.0]), 1.0, 1.0)
    assert {p.kind for p in d.problems} == {"vanishing", "exploding"} and d.verdict == "exploding"


def test_saturation_and_the_thresholds():
    d = verdict(_stats([1.0, 1.0], saturated=[0.1, 0.8]), 1.0, 1.0)
    assert d.verdict == "saturating" and d.problems[0].layer == "l1"
    assert verdict(_stats([EXPLODE * 0.99]), 1.0, 1.0).healthy
    assert not verdict(_stats([EXPLODE * 1.01]), 1.0, 1.0).healthy
    assert not verdict(_stats([VANISH * 0.99]), 1.0, 1.0).healthy
    assert verdict(_stats([1.0 / DRIFT]), 1.0, 1.0).healthy


def test_the_json_has_a_verdict_and_every_layer():
    d = verdict(_stats([1.0, float("inf")]), 1.0, 1.0, model="m")
    data = d.to_json()
    assert data["verdict"] == "exploding" and len(data["layers"]) == 2
    assert data["layers"][1]["forward_variance"] is None  # JSON has no infinity
    assert "verdict: exploding" in d.to_text()


def test_gradients_are_compared_with_the_first_layer_of_their_kind():
    """A global average pool divides the per-element gradient variance by (H*W)^2: not a
    vanishing gradient.  Drift through repeated layers is."""
    layers = [LayerStats(f"stage{i}.conv", "Conv2d", 1.0, 1e-3) for i in range(4)]
    layers.append(LayerStats("head", "Linear", 1.0, 1.0))  # after the pool: 1000x the convs' gradient
    d = verdict(layers, 1.0, 1.0)
    assert d.healthy and d.layers[0].backward_ratio == 1.0 and d.layers[-1].backward_ratio is None
    drift = [LayerStats(f"blocks.{i}.fc", "Linear", 1.0, 10.0 ** (i - 3)) for i in range(4)]
    d = verdict(drift, 1.0, 1.0)
    (p,) = d.problems
    assert p.kind == "vanishing" and p.direction == "backward" and p.layer == "blocks.1.fc" and p.worst == "blocks.0.fc"
    assert "first layer of its kind, blocks.3.fc" in p.describe()


def test_token_inputs_compare_forward_variances_by_kind_too():
    layers = [LayerStats("wte", "Embedding", 4e-4, 1.0), *(LayerStats(f"h.{i}.ln", "LayerNorm", 1.0, 1.0)
                                                             for i in range(3))]
    d = verdict(layers, None, 1.0)
    assert d.healthy and d.by_kind and d.to_json()["reference"]["forward"] == "first layer of its kind"


def test_outputs_the_same_for_every_sample_are_bypassed_or_dead():
    zero = [LayerStats("b.0.fc1", "Linear", 1.0, 0.0), LayerStats("b.0.fc2", "Linear", 0.0, 1.0, constant=True),
            LayerStats("b.1.fc1", "Linear", 1.0, 0.0), LayerStats("b.1.fc2", "Linear", 0.0, 1.0, constant=True)]
    d = verdict(zero, 1.0, 1.0)  # a varying output: the residual sum carried the signal around
    assert d.healthy and set(d.bypassed) == {"b.0.fc1", "b.0.fc2", "b.1.fc1", "b.1.fc2"}
    d = verdict(zero, 1.0, 1.0, output_constant=True)  # nothing varies at the end: dead
    assert d.verdict == "vanishing" and d.problems[0].layer == "b.1.fc2"
    assert "every output is the same for every sample" in d.problems[0].describe()


class SweepMLP(TanhMLP):
    """The same MLP as a SweepProbe: each pass fits every layer as it goes."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.layers = []
        self._all = [f"fc{i}.weight" for i in range(len(self.W))]

    def sweep(self, decide):
        self.passes += 1
        h = self.x
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            if i == len(self.layers):
                self.layers.append(self._all[i])
            z = h @ w
            factor = decide(i, Moments.of(z, b))
            if factor is not None:
                self.W[i] = w * factor
                z = z * factor
            h = np.tanh(z + b)


@pytest.mark.parametrize("std", [0.01, 0.3, 3.0])
def test_a_sweep_fits_every_layer_in_one_pass_and_verifies_in_a_second(std):
    model = SweepMLP(std=std)
    calls = []
    res = run(model, target=1.0, tol=0.05, on_scale=calls.append)
    assert res.converged and res.passes == model.passes == 2
    assert all(abs(v - 1.0) <= 0.05 for v in model.output_variances())  # measured independently
    assert [r.path for r in res.layers] == [f"fc{i}.weight" for i in range(8)]
    assert calls == [r.path for r in res.layers if r.scale != 1.0]  # on_scale before every rescale
    for r, v in zip(res.layers, model.output_variances()):
        assert r.variance == pytest.approx(v, rel=1e-9) and r.iterations in (1, 2)


def test_a_sweep_gives_up_after_max_iter_and_reports_it():
    model = SweepMLP(depth=3, bias=5.0)
    model.b[1] = np.linspace(-10, 10, 64)  # the bias alone varies more than the target
    res = run(model, target=1.0, tol=0.05, max_iter=3)
    (bad,) = res.failures
    assert bad.path == "fc1.weight" and bad.iterations <= 3 and bad.variance > 1.05 and res.passes <= 3
