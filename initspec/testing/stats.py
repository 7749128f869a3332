"""Statistical checks of samples against a resolved distribution (see docs/conformance.md).

:func:`check_samples` runs, on one or more drawn tensors of a resolved distribution:

1. **finite** - no NaN/inf;
2. **support** - min/max inside the bounds rounded outward to the dtype; a uniform must
   also *reach* both ends (within 1e-3 of the width); a truncated normal never sits
   exactly on a bound (float32/float64);
3. **mean** z-test, z = (x̄ − m1) / sqrt((m2 − m1²)/n);
4. **second moment** z-test, z = (mean(x²) − m2) / sqrt((m4 − m2²)/n) - the scale detector;
5. **shape** - one-sample Kolmogorov–Smirnov against the CDF, computed against the
   dtype-rounded law (each sample value stands for the interval of reals that round to it),
   which keeps float16/bfloat16 exact;
6. **distinct** - enough distinct values for a continuous law;
7. **bound mass** - for a bounded law whose end values hold enough mass (float16/bfloat16),
   the counts in the two end regions against their probabilities (χ²), which catches a
   sampler that moves the values rounding onto one bound to the other (a mean bias far
   below the moment tests' resolution).

Structured laws get structural checks instead of (or besides) these: exact equality for
constant/identity/dirac, orthogonality residual and Haar sign balance for orthogonal, the
exact zero count per column for sparse.

Every p-valued check uses the same per-assertion level :data:`ALPHA_EACH`, the family-wise
budget :data:`ALPHA_FAMILY` split (Bonferroni) over at most :data:`MAX_ASSERTIONS`
assertions in one suite run, so a correct sampler raises a false alarm in a whole run with
probability below 1e-3, while a 5% std error or a 0.05σ mean shift is caught with
probability above 1 − 1e-6 at n = 65,536 (asserted by ``tests/test_stats_design.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import distributions as D

__all__ = [
    "ALPHA_FAMILY", "MAX_ASSERTIONS", "ALPHA_EACH", "Z_CRIT", "N_SAMPLES", "HAAR_MIN_DIAGONAL", "BOUND_MIN_COUNT",
    "bound_regions", "Check",
    "CheckResult", "check_samples", "check_two_sample", "check_independent", "moment_test_power", "to_numpy",
]

#: Family-wise false-alarm budget of one conformance run.
ALPHA_FAMILY = 1e-3
#: The most p-valued assertions one run may make (the suite counts them when it plans a run
#: and refuses more).  The default run (NumPy and PyTorch full, Keras and JAX covering, on
#: CPU) makes about 9,100; 20,000 leaves room for a CUDA device per framework (about 14,500).
MAX_ASSERTIONS = 20_000
#: Per-assertion significance level (Bonferroni): 5e-8.
ALPHA_EACH = ALPHA_FAMILY / MAX_ASSERTIONS
#: Two-sided critical |z| for ALPHA_EACH: scipy.stats.norm.isf(ALPHA_EACH / 2) = 5.45131
#: (tests/test_stats_design.py checks it against SciPy).
Z_CRIT = 5.451310437845478
#: Draws per case.
N_SAMPLES = 65_536
#: The bound-mass test looks at a bounded law's end regions whose expected count is at least
#: this (in practice float16/bfloat16, where an end value holds ~1e-3 of the mass).
BOUND_MIN_COUNT = 20
#: The Haar sign test runs when the pooled tensors hold at least this many diagonal entries
#: (sum over matrices of min(rows, cols)).  Without the sign correction Householder QR
#: leaves each diagonal entry biased (q_11 = -|a_11|/|a_1|: -0.8 of its standard deviation,
#: less for the last columns of a square matrix), so with 512 entries the test's |z| is
#: about 12 or more (tests/test_stats_design.py measures it) - far past Z_CRIT - and the
#: mean trace is close to normal under the null.
HAAR_MIN_DIAGONAL = 512


def _z_crit(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.isf(alpha / 2.0))


@dataclass(frozen=True)
class Check:
    """One assertion: its name, outcome, statistic and (for statistical tests) p-value."""

    name: str
    passed: bool
    detail: str
    statistic: float | None = None
    p_value: float | None = None


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_samples`."""

    distribution: str
    dtype: str
    n: int
    checks: tuple[Check, ...] = field(default_factory=tuple)
    context: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def min_p(self) -> float | None:
        ps = [c.p_value for c in self.checks if c.p_value is not None]
        return min(ps) if ps else None

    @property
    def n_p_values(self) -> int:
        return sum(c.p_value is not None for c in self.checks)

    def __getitem__(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def report(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.distribution} [{self.dtype}, n={self.n}]"
        if self.context:
            head += f" {self.context}"
        lines = [head]
        for c in self.checks:
            p = f" p={c.p_value:.3g}" if c.p_value is not None else ""
            lines.append(f"  {'ok ' if c.passed else 'BAD'} {c.name}: {c.detail}{p}")
        return "\n".join(lines)

    __str__ = report


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of a tensor from any backend (host copy for device tensors)."""
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__
    if mod.startswith("torch"):
        t = x.detach()
        if t.dtype.is_floating_point and str(t.dtype) == "torch.bfloat16":
            import ml_dtypes

            return t.float().cpu().numpy().astype(ml_dtypes.bfloat16)
        return t.cpu().numpy()
    if hasattr(x, "numpy") and not mod.startswith("jax"):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _dtype_of(arrays: Sequence[np.ndarray], dtype: Any) -> np.dtype:
    if dtype is not None:
        from ..sampling import np_dtype

        return np_dtype(dtype)
    return arrays[0].dtype


def _unique(x: np.ndarray, **kw: Any) -> Any:
    """np.unique, sorting float16 as float32 (exact): NumPy 2.4's AVX-512 float16 sort leaves some
    arrays unsorted (e.g. 131072 values near -1 or -4), so np.unique repeats values."""
    if x.dtype == np.float16:
        out = np.unique(x.astype(np.float32), **kw)
        return (out[0].astype(np.float16), *out[1:]) if isinstance(out, tuple) else out.astype(np.float16)
    return np.unique(x, **kw)


def _finfo(dtype: np.dtype) -> Any:
    if dtype.name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.finfo(dtype)
    return np.finfo(dtype)


def _outward(value: float, dtype: np.dtype, direction: float) -> float:
    """``value`` rounded to ``dtype`` away from the interior (direction +1 for upper bounds)."""
    if math.isinf(value):
        return value
    v = np.array(value, dtype=np.float64).astype(dtype)
    if (float(v) - value) * direction < 0:
        v = np.nextafter(v, np.array(direction * np.inf, dtype=dtype))
    return float(v)


def _inward(value: float, dtype: np.dtype, direction: float) -> np.ndarray:
    """``value`` rounded to ``dtype`` toward the interior (direction +1 for a lower bound)."""
    v = np.array(value, dtype=np.float64).astype(dtype)
    if (float(v) - value) * direction < 0:
        v = np.nextafter(v, np.array(direction * np.inf, dtype=dtype))
    return v


def bound_regions(dist: D.Distribution, dtype: Any, n: int) -> list[tuple[str, float, float]]:
    """The end regions of a bounded law that the ``bound_mass`` test checks: ``(side, edge,
    probability)`` with ``edge`` the outermost representable value inside the bound (the
    region is ``x >= edge`` on the upper side, ``x <= edge`` on the lower) and ``probability``
    the mass of the reals that round into it.  Only regions with an expected count of at least
    :data:`BOUND_MIN_COUNT` in ``n`` draws are returned.  Values rounded past the bound and
    values clipped back onto it both land in the region, so either convention passes; a
    sampler that moves that mass elsewhere (e.g. to the other bound) does not."""
    if not isinstance(dist, (D.Uniform, D.TruncatedNormal)):
        return []
    dt = _dtype_of([], dtype)
    out = []
    for side, bound, direction in (("lower", dist.low, +1), ("upper", dist.high, -1)):
        edge = _inward(bound, dt, direction)
        inner = np.nextafter(edge, np.array(direction * np.inf, dtype=dt))  # next value inside
        mid = (float(edge) + float(inner)) / 2.0
        prob = float(dist.cdf(mid)) if direction > 0 else 1.0 - float(dist.cdf(mid))
        if n * prob >= BOUND_MIN_COUNT:
            out.append((side, float(edge), prob))
    return out


def _bound_mass(x64: np.ndarray, dist: D.Distribution, dtype: np.dtype, alpha: float) -> list[Check]:
    regions = bound_regions(dist, dtype, x64.size)
    if not regions:
        return []
    from scipy.stats import chi2

    n, stat, parts = x64.size, 0.0, []
    for side, edge, prob in regions:
        count = int(np.sum(x64 >= edge)) if side == "upper" else int(np.sum(x64 <= edge))
        stat += (count - n * prob) ** 2 / (n * prob * (1 - prob))
        parts.append(f"{side} {count} vs {n * prob:.1f} expected")
    p = float(chi2.sf(stat, len(regions)))
    return [Check("bound_mass", p >= alpha, "mass at the bounds: " + ", ".join(parts), stat, p)]


def _ks_rounded(x: np.ndarray, dist: D.Distribution, dtype: np.dtype) -> tuple[float, float]:
    """KS statistic and p-value of dtype-valued samples against ``dist`` rounded to ``dtype``."""
    from scipy.stats import kstwo

    n = x.size
    vals, counts = _unique(x, return_counts=True)  # in the sample dtype, sorted
    up = np.nextafter(vals, np.array(np.inf, dtype=dtype)).astype(np.float64)
    down = np.nextafter(vals, np.array(-np.inf, dtype=dtype)).astype(np.float64)
    v64 = vals.astype(np.float64)
    hi_mid = np.where(np.isfinite(up), (v64 + up) / 2.0, np.inf)
    lo_mid = np.where(np.isfinite(down), (v64 + down) / 2.0, -np.inf)
    if dtype.itemsize >= 8:  # float64 spacing is far below anything a test can resolve
        hi_mid = lo_mid = v64
    f_hi = dist.cdf(hi_mid)
    f_lo = dist.cdf(lo_mid)
    ecdf_after = np.cumsum(counts) / n
    ecdf_before = ecdf_after - counts / n
    stat = float(max(np.max(ecdf_after - f_hi), np.max(f_lo - ecdf_before), 0.0))
    return stat, float(kstwo.sf(stat, n))


#: A 16-bit sample must show at least this fraction of the distinct values its law is
#: expected to produce (the expectation's standard deviation is far smaller than the gap).
DISTINCT_FRACTION = 0.9


def _distinct_needed(dist: D.Distribution, dtype: np.dtype, n: int) -> int:
    """How many distinct values ``n`` draws must show.

    float16/bfloat16: every one of the 65,536 bit patterns is enumerated, each finite value
    gets the probability of the reals that round to it, and the expected number of distinct
    values, sum(1 - (1 - p)^n), is required up to :data:`DISTINCT_FRACTION` (its standard
    deviation, at most sqrt(sum q(1-q)), is a few dozen for a few thousand values).  A
    generator with too few random bits (e.g. 8 bits for a half-precision uniform: 256 levels
    where ~2,000 are expected) fails here while its moments and KS distance stay in bounds.
    Wider dtypes only need 32 (or n/2)."""
    floor = min(32, n // 2)
    if dtype.itemsize != 2:
        return floor
    bits = np.arange(1 << 16, dtype=np.uint16).view(dtype)
    vals = np.unique(bits[np.isfinite(bits.astype(np.float32))].astype(np.float64))  # -0.0 == 0.0
    mids = (vals[1:] + vals[:-1]) / 2.0
    cdf = np.concatenate([[0.0], dist.cdf(mids), [1.0]])
    p = np.clip(np.diff(cdf), 0.0, 1.0)
    expected = float(np.sum(-np.expm1(n * np.log1p(-np.minimum(p, 1 - 1e-16)))))
    return max(floor, int(DISTINCT_FRACTION * expected))


def _elementwise_checks(x: np.ndarray, dist: D.Distribution, dtype: np.dtype, alpha: float,
                        z_crit: float) -> list[Check]:
    checks: list[Check] = []
    x64 = x.astype(np.float64).ravel()
    n = x64.size
    finite = bool(np.all(np.isfinite(x64)))
    checks.append(Check("finite", finite, "all finite" if finite else f"{int(np.sum(~np.isfinite(x64)))} non-finite"))
    if not finite:
        return checks
    lo, hi = dist.low, dist.high
    xmin, xmax = float(x64.min()), float(x64.max())
    if not (math.isinf(lo) and math.isinf(hi)):
        lo_d, hi_d = _outward(lo, dtype, -1), _outward(hi, dtype, +1)
        ok = xmin >= lo_d and xmax <= hi_d
        checks.append(Check("support", ok, f"min {xmin:.6g}, max {xmax:.6g} within [{lo_d:.6g}, {hi_d:.6g}]"
                            if ok else f"min {xmin:.6g}, max {xmax:.6g} outside [{lo_d:.6g}, {hi_d:.6g}]"))
        if isinstance(dist, D.Uniform):
            width = hi - lo
            tol = 1e-3 * width + 2 * _finfo(dtype).eps * max(abs(lo), abs(hi))
            ok = xmax >= hi - tol and xmin <= lo + tol
            checks.append(Check("reach", ok, f"min {xmin:.6g}, max {xmax:.6g} reach within {tol:.3g} of the bounds"))
        if isinstance(dist, D.TruncatedNormal) and dtype.itemsize >= 4:
            touching = int(np.sum((x64 == float(np.array(lo, dtype=dtype))) | (x64 == float(np.array(hi, dtype=dtype)))))
            checks.append(Check("open_bounds", touching <= 1, f"{touching} samples exactly on a bound"))
        checks += _bound_mass(x64, dist, dtype, alpha)
    m1, m2, m4 = dist.moment(1), dist.moment(2), dist.moment(4)
    var = m2 - m1 * m1
    sd_mean = math.sqrt(max(var, 0.0) / n)
    if sd_mean > 0:
        z = (float(x64.mean()) - m1) / sd_mean
        p = math.erfc(abs(z) / math.sqrt(2))
        checks.append(Check("mean", abs(z) <= z_crit, f"mean {x64.mean():.6g} vs {m1:.6g} (z={z:+.2f})", z, p))
    sd_m2 = math.sqrt(max(m4 - m2 * m2, 0.0) / n)
    if sd_m2 > 0:
        z = (float(np.mean(x64 * x64)) - m2) / sd_m2
        p = math.erfc(abs(z) / math.sqrt(2))
        rms = math.sqrt(float(np.mean(x64 * x64)))
        checks.append(Check("second_moment", abs(z) <= z_crit,
                            f"rms {rms:.6g} vs {math.sqrt(m2):.6g} (z={z:+.2f})", z, p))
    if dist.random:
        stat, p = _ks_rounded(x.ravel(), dist, dtype)
        checks.append(Check("ks", p >= alpha, f"KS D={stat:.4g}", stat, p))
        distinct = int(_unique(x).size)
        need = _distinct_needed(dist, dtype, n)
        checks.append(Check("distinct", distinct >= need, f"{distinct} distinct values (need {need})"))
    return checks


def _orthogonal_checks(tensors: list[np.ndarray], dist: D.Orthogonal, dtype: np.dtype, alpha: float,
                       z_crit: float) -> list[Check]:
    eps = float(_finfo(dtype).eps)
    rows, cols = dist.rows, dist.cols
    perm = dist.other_axes + dist.out_axes
    worst = 0.0
    traces = []
    g2 = dist.gain**2
    for t in tensors:
        m = t.astype(np.float64).transpose(perm).reshape(rows, cols)
        gram = m.T @ m if rows >= cols else m @ m.T
        worst = max(worst, float(np.max(np.abs(gram - g2 * np.eye(min(rows, cols))))) if gram.size else 0.0)
        k = min(rows, cols)
        traces.append(float(np.trace(m[:k, :k])) / dist.gain if k else 0.0)
    tol = 10 * eps * math.sqrt(max(rows, cols)) * max(g2, 1.0)
    checks = [Check("orthogonality", worst <= tol, f"max |QᵀQ − g²I| = {worst:.3g} (tolerance {tol:.3g})")]
    k = min(rows, cols)
    if k * len(tensors) >= HAAR_MIN_DIAGONAL:
        # Haar: E[trace of the leading k x k block] = 0 and Var = k/max(rows, cols) (<= 1): the law is
        # invariant under flipping the sign of any row, so the diagonal entries are uncorrelated.
        # Without the sign correction, Householder QR leaves the diagonal biased (mean ≈ -0.8·sqrt(k)).
        sd = math.sqrt(k / max(rows, cols) / len(traces))
        z = float(np.mean(traces)) / sd
        p = math.erfc(abs(z) / math.sqrt(2))
        checks.append(Check("haar_sign", abs(z) <= z_crit, f"mean leading trace {np.mean(traces):+.3f} (z={z:+.2f})",
                            z, p))
    return checks


def check_samples(samples: Any, distribution: D.Distribution, dtype: Any = None, *,
                  alpha: float = ALPHA_EACH, context: str = "") -> CheckResult:
    """Check drawn tensors against ``distribution``.

    ``samples`` is one tensor or a sequence of tensors, each one full draw of the
    distribution's shape (pooled for the elementwise statistics).  Tensors from any backend
    are accepted.  ``dtype`` defaults to the samples' dtype.
    """
    if isinstance(samples, (list, tuple)):
        arrays = [to_numpy(s) for s in samples]
    else:
        arrays = [to_numpy(samples)]
    dt = _dtype_of(arrays, dtype)
    z_crit = Z_CRIT if alpha == ALPHA_EACH else _z_crit(alpha)
    n = sum(a.size for a in arrays)
    checks: list[Check] = []
    shape = getattr(distribution, "shape", None)
    if shape is not None:
        bad = [a.shape for a in arrays if tuple(a.shape) != tuple(shape)]
        checks.append(Check("shape", not bad, f"tensor shape {tuple(shape)}" + (f"; got {bad[0]}" if bad else "")))
        if bad:
            return CheckResult(distribution.describe(), dt.name, n, tuple(checks), context)
    pooled = np.concatenate([a.ravel() for a in arrays]) if arrays else np.empty(0, dt)

    if isinstance(distribution, (D.Constant, D.Identity, D.Dirac, D._Fixed)):
        if isinstance(distribution, D.Constant):
            expected = np.full(pooled.shape, distribution.value).astype(dt)
            got = pooled
        else:  # a given array (constant array, STFT kernel): its values in dt, as every backend writes them
            one = distribution.values(dt) if isinstance(distribution, D._Fixed) else distribution.expected().astype(dt)
            expected = np.stack([one] * len(arrays))
            got = np.stack(arrays)
        equal = bool(np.array_equal(got.astype(np.float64), expected.astype(np.float64)))
        diff = 0 if equal else int(np.sum(got.astype(np.float64) != expected.astype(np.float64)))
        checks.append(Check("exact", equal, "every element as expected" if equal else f"{diff} elements differ"))
    elif isinstance(distribution, D.Orthogonal):
        checks += _orthogonal_checks(arrays, distribution, dt, alpha, z_crit)
        # the elementwise tests need N_SAMPLES entries, not every matrix the Haar test pooled
        size = max(1, arrays[0].size) if arrays else 1
        head = np.concatenate([a.ravel() for a in arrays[:math.ceil(N_SAMPLES / size)]]) if arrays else pooled
        checks += [c for c in _elementwise_checks(head, distribution, dt, alpha, z_crit) if c.name != "distinct"]
    elif isinstance(distribution, D.DeltaOrthogonal):
        centre_blocks = []
        off_ok = True
        for a in arrays:
            idx: list[Any] = [slice(None)] * a.ndim
            for axis, c in zip(distribution.spatial_axes, distribution.centre):
                idx[axis] = c
            block = a[tuple(idx)]
            if distribution.in_axis > distribution.out_axis:
                block = block.T
            centre_blocks.append(block)
            rest = a.astype(np.float64).copy()
            rest[tuple(idx)] = 0
            off_ok &= not np.any(rest)
        checks.append(Check("zero_off_centre", off_ok, "all taps but the centre are zero"))
        checks += _orthogonal_checks(centre_blocks, distribution.block, dt, alpha, z_crit)
    elif isinstance(distribution, D.Sparse):
        zeros_ok = True
        nonzeros = []
        for a in arrays:
            z = np.sum(a.astype(np.float64) == 0, axis=distribution.out_axis)
            exact = dt.itemsize >= 4
            zeros_ok &= bool(np.all(z == distribution.zeros_per_column) if exact
                             else np.all(z >= distribution.zeros_per_column))
            nonzeros.append(a[a != 0])
        checks.append(Check("zeros_per_column", zeros_ok,
                            f"{distribution.zeros_per_column} zeros in every column along axis {distribution.out_axis}"))
        nz = np.concatenate(nonzeros) if nonzeros else np.empty(0, dt)
        checks += _elementwise_checks(nz, distribution.nonzero, dt, alpha, z_crit)
    else:
        checks += _elementwise_checks(pooled, distribution, dt, alpha, z_crit)
    return CheckResult(distribution.describe(), dt.name, n, tuple(checks), context)


def check_two_sample(a: Any, b: Any, *, alpha: float = ALPHA_EACH, context: str = "") -> CheckResult:
    """Two-sample KS and moment agreement between samples of two backends (for laws with no
    closed-form CDF, e.g. user-registered schemes), pooled over tensors."""
    from scipy.stats import ks_2samp

    xa = np.concatenate([to_numpy(t).astype(np.float64).ravel() for t in (a if isinstance(a, (list, tuple)) else [a])])
    xb = np.concatenate([to_numpy(t).astype(np.float64).ravel() for t in (b if isinstance(b, (list, tuple)) else [b])])
    z_crit = Z_CRIT if alpha == ALPHA_EACH else _z_crit(alpha)
    res = ks_2samp(xa, xb)
    checks = [Check("ks_2samp", res.pvalue >= alpha, f"KS D={res.statistic:.4g}", float(res.statistic),
                    float(res.pvalue))]
    for name, fa, fb in (("mean", xa, xb), ("second_moment", xa * xa, xb * xb)):
        se = math.sqrt(fa.var() / fa.size + fb.var() / fb.size)
        if se > 0:
            z = (fa.mean() - fb.mean()) / se
            checks.append(Check(name, abs(z) <= z_crit, f"{fa.mean():.6g} vs {fb.mean():.6g} (z={z:+.2f})", float(z),
                                math.erfc(abs(z) / math.sqrt(2))))
    return CheckResult("two-sample", "float64", xa.size + xb.size, tuple(checks), context)


def check_independent(a: Any, b: Any, *, alpha: float = ALPHA_EACH, context: str = "") -> CheckResult:
    """Whether two parameters' draws are independent (e.g. two parameters of one plan, or two
    pooled draws of one case): the Pearson correlation of paired elements, z = r·sqrt(n),
    which is N(0, 1) for independent draws.  The same seed reused gives r = 1."""
    xa = np.concatenate([to_numpy(t).astype(np.float64).ravel() for t in (a if isinstance(a, (list, tuple)) else [a])])
    xb = np.concatenate([to_numpy(t).astype(np.float64).ravel() for t in (b if isinstance(b, (list, tuple)) else [b])])
    z_crit = Z_CRIT if alpha == ALPHA_EACH else _z_crit(alpha)
    checks = [Check("paired", xa.size == xb.size, f"{xa.size} and {xb.size} elements")]
    if xa.size == xb.size and xa.size > 2:
        identical = bool(np.array_equal(xa, xb))
        sa, sb = xa.std(), xb.std()
        r = float(np.mean((xa - xa.mean()) * (xb - xb.mean())) / (sa * sb)) if sa > 0 and sb > 0 else 1.0
        z = r * math.sqrt(xa.size)
        p = math.erfc(abs(z) / math.sqrt(2))
        checks.append(Check("correlation", abs(z) <= z_crit and not identical,
                            ("identical draws" if identical else f"r = {r:+.4g} (z={z:+.2f})"), z, p))
    return CheckResult("independence", "float64", xa.size + xb.size, tuple(checks), context)


def _moment_power(shift: float, sd_null: float, sd_alt: float, z_crit: float) -> float:
    """P(|z| > z_crit) when the statistic is N(shift, sd_alt²) and z divides by sd_null."""
    from scipy.stats import norm

    if sd_alt == 0:
        return float(abs(shift) > z_crit * sd_null)
    hi = (z_crit * sd_null - shift) / sd_alt
    lo = (-z_crit * sd_null - shift) / sd_alt
    return float(norm.sf(hi) + norm.cdf(lo))


def moment_test_power(expected: D.Distribution, actual: D.Distribution, n: int = N_SAMPLES,
                      z_crit: float = Z_CRIT) -> dict[str, float]:
    """The probability that the mean and the second-moment z-tests of :func:`check_samples`
    reject ``n`` iid draws of ``actual`` when testing against ``expected`` (normal
    approximation of the sample moments, exact moments of both laws)."""
    e1, e2, e4 = expected.moment(1), expected.moment(2), expected.moment(4)
    a1, a2, a4 = actual.moment(1), actual.moment(2), actual.moment(4)
    out = {}
    sd0 = math.sqrt(max(e2 - e1 * e1, 0.0) / n)
    sd1 = math.sqrt(max(a2 - a1 * a1, 0.0) / n)
    out["mean"] = _moment_power(a1 - e1, sd0, sd1, z_crit) if sd0 > 0 else 0.0
    sd0 = math.sqrt(max(e4 - e2 * e2, 0.0) / n)
    sd1 = math.sqrt(max(a4 - a2 * a2, 0.0) / n)
    out["second_moment"] = _moment_power(a2 - e2, sd0, sd1, z_crit) if sd0 > 0 else 0.0
    return out
