"""Experiment design: the configured sample size and significance level resolve the errors
docs/conformance.md promises to catch, for every law in the case table - so nobody can quietly weaken
the suite (fewer draws, a bigger budget, a lower α) without this file failing."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from initspec import distributions as D
from initspec.testing import cases as C
from initspec.testing.mutants import scale_std, shift_mean
from initspec.testing.stats import (
    ALPHA_EACH,
    ALPHA_FAMILY,
    HAAR_MIN_DIAGONAL,
    MAX_ASSERTIONS,
    N_SAMPLES,
    Z_CRIT,
    moment_test_power,
)

scipy_stats = pytest.importorskip("scipy.stats")

#: Required probability of catching each error in one case (docs/conformance.md: 1 - 1e-6).
POWER = 1 - 1e-6


def test_significance_constants() -> None:
    assert ALPHA_FAMILY == 1e-3
    assert ALPHA_EACH == pytest.approx(ALPHA_FAMILY / MAX_ASSERTIONS, rel=1e-12)
    assert Z_CRIT == pytest.approx(scipy_stats.norm.isf(ALPHA_EACH / 2), rel=1e-9)
    assert N_SAMPLES >= 65_536


def _laws() -> dict[str, D.Distribution]:
    """Every distinct random law of the table (each case in each native layout), keyed by a
    readable origin; sparse laws are represented by their non-zero normal."""
    out: dict[str, D.Distribution] = {}
    for case in C.all_cases():
        if case.dtype != "float32":
            continue
        for layout in ("torch", "keras", "jax"):
            d = case.resolve(layout)
            if isinstance(d, D.Sparse):
                d = d.nonzero
            if isinstance(d, (D.Uniform, D.Normal, D.TruncatedNormal, D.Orthogonal)):
                out.setdefault(repr(replace(d, derivation=None)) if not isinstance(d, D.Orthogonal)
                               else f"orthogonal n={d.sphere_dim} g={d.gain}", d)
    return out


LAWS = _laws()


def test_every_random_family_is_represented() -> None:
    kinds = {type(d).__name__ for d in LAWS.values()}
    assert kinds == {"Uniform", "Normal", "TruncatedNormal", "Orthogonal"}
    assert len(LAWS) > 50


@pytest.mark.parametrize("factor", [1.05, 0.95], ids=["std+5%", "std-5%"])
def test_a_five_percent_std_error_is_resolved_for_every_law(factor: float) -> None:
    """The second-moment z-test alone catches a 5% std error with probability >= 1 - 1e-6
    at n = N_SAMPLES and α = ALPHA_EACH, for every law (orthogonal entries treated as
    independent: their real statistic varies less, so this is conservative)."""
    weakest = min((moment_test_power(d, scale_std(factor)(d))["second_moment"], key)
                  for key, d in LAWS.items())
    assert weakest[0] >= POWER, weakest


def test_a_mean_shift_of_five_hundredths_sigma_is_resolved_for_every_law() -> None:
    weakest = min((moment_test_power(d, shift_mean(0.05)(d))["mean"], key)
                  for key, d in LAWS.items() if not isinstance(d, D.Orthogonal))
    assert weakest[0] >= POWER, weakest
    # orthogonal entries have no location parameter: a shift of their mean is the same test
    for key, d in LAWS.items():
        if isinstance(d, D.Orthogonal):
            shifted = D.Normal(loc=0.05 * d.std, scale=d.std)
            assert moment_test_power(D.Normal(loc=0.0, scale=d.std), shifted)["mean"] >= POWER, key


@pytest.mark.parametrize("wrong, required", [
    (D.Uniform(low=-math.sqrt(3), high=math.sqrt(3)), POWER),
    # Keras' rewrite of "normal": same mean and variance, only the tails differ.  KS alone
    # catches it with probability > 0.999 per case (measured p-values 1e-17..1e-25), and the
    # power gate requires it on every one of its targets.
    (D.TruncatedNormal(loc=0.0, scale=1 / D.TRUNC2_STD, low=-2 / D.TRUNC2_STD, high=2 / D.TRUNC2_STD), 0.999),
], ids=["uniform", "variance-kept-truncated"])
def test_the_shape_test_resolves_a_wrong_law_with_the_right_moments(wrong: D.Distribution, required: float) -> None:
    """A lower bound on the KS test's power against a normal: the statistic is at least
    |F_n(x*) - F_0(x*)| at the point x* of the largest gap, and F_n(x*) is Binomial(n, F_1(x*))/n."""
    x = np.linspace(-4, 4, 20001)
    normal = D.Normal(loc=0.0, scale=1.0)
    gap = np.abs(normal.cdf(x) - wrong.cdf(x))
    at = int(np.argmax(gap))
    f1 = float(wrong.cdf(x[at]))
    critical = scipy_stats.kstwo.isf(ALPHA_EACH, N_SAMPLES)
    power = scipy_stats.norm.cdf((float(gap[at]) - critical) / math.sqrt(f1 * (1 - f1) / N_SAMPLES))
    assert power >= required


def test_the_haar_sign_test_resolves_a_missing_sign_correction() -> None:
    """Measure the bias of the diagonal of Q from an uncorrected Householder QR (in units of
    the entry's standard deviation) on square matrices, the least biased shape, and check
    that HAAR_MIN_DIAGONAL pooled diagonal entries push |z| past Z_CRIT with power 1 - 1e-6."""
    rng = np.random.default_rng(20240611)
    n, m = 64, 400
    diag = np.array([np.diagonal(np.linalg.qr(rng.standard_normal((n, n)))[0]) for _ in range(m)]) * math.sqrt(n)
    bias = abs(float(diag.mean()))
    se = float(diag.mean(axis=1).std()) / math.sqrt(m)
    assert bias - 5 * se > 0.4  # measured ≈ 0.56
    z = (bias - 5 * se) * math.sqrt(HAAR_MIN_DIAGONAL)
    assert z >= Z_CRIT + scipy_stats.norm.isf(1 - POWER)


def test_every_case_pools_n_samples() -> None:
    for case in C.all_cases():
        if case.dtype == "float32":
            d = case.resolve("torch")
            if d.random:
                assert C.draw_count(d, case.shape("torch")) * math.prod(case.shape("torch")) >= N_SAMPLES
