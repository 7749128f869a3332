"""How the NumPy backend draws each resolved law - the reference every backend is held to.

``DRAW`` maps every :class:`~initspec.distributions.Distribution` type to a function
``fn(dist, out, rng, haar) -> ndarray`` (the same names and signature in every backend's
``random.py``): ``out`` is an empty array of the tensor's shape in the work dtype (float32,
or float64 for float64 tensors), filled and returned; ``rng`` is a
``numpy.random.Generator``; ``haar`` keeps the Haar sign correction of orthogonal draws.
The methods and their parameters come from :mod:`initspec.sampling`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import complexlaw
from ... import distributions as D
from ... import sampling
from .._common import draw_table

__all__ = ["DRAW", "sample", "truncated_standard_normal"]


def constant(dist: D.Constant, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    out.fill(dist.value)
    return out


def fixed(dist: D.ConstantArray | D.STFTKernel, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    """A given array (constant array, STFT kernel): its values, computed once in the core."""
    out[...] = dist.values(out.dtype)
    return out


def uniform(dist: D.Uniform, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    rng.random(out=out, dtype=out.dtype)
    out *= dist.high - dist.low
    out += dist.low
    return out


def normal(dist: D.Normal, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    rng.standard_normal(out=out, dtype=out.dtype)
    if dist.scale != 1.0:
        out *= dist.scale
    if dist.loc != 0.0:
        out += dist.loc
    return out


def truncated_standard_normal(rng: np.random.Generator, n: int, a: float, b: float,
                              dtype: Any = np.float64) -> np.ndarray:
    """``n`` draws of N(0, 1) restricted to [a, b], exactly, by rejection (the method and its
    parameters from :func:`initspec.sampling.truncation`).  The amount of randomness
    consumed depends on the data."""
    dist = D.TruncatedNormal(loc=0.0, scale=1.0, low=a, high=b)
    wd = np.dtype(dtype)
    plan = sampling.truncation(dist, wd.name, n, inverse_cdf=False)
    out = np.empty(n, dtype=wd)
    filled = 0
    while filled < n:
        need = n - filled
        m = sampling.candidates(need, plan.rate)
        if plan.method == "normal":
            x = rng.standard_normal(m, dtype=wd)
            keep = x[(x > plan.lo) & (x < plan.hi)]
        else:
            if plan.method == "uniform":
                z = plan.a + (plan.b - plan.a) * rng.random(m)
                logp = (plan.nearest * plan.nearest - z * z) / 2.0  # exp(-(z² - nearest²)/2) <= 1
            else:
                z = plan.a + rng.standard_exponential(m) / plan.lam
                logp = -((z - plan.lam) ** 2) / 2.0
                logp[z > plan.b] = -math.inf
            x = (plan.sign * z).astype(wd)
            keep = x[(np.log1p(-rng.random(m)) <= logp) & (x > plan.lo) & (x < plan.hi)]
        keep = keep[:need]
        out[filled:filled + keep.size] = keep
        filled += keep.size
    return out


def truncated_normal(dist: D.TruncatedNormal, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    plan = sampling.truncation(dist, out.dtype.name, out.size, inverse_cdf=False)  # checks the interval
    z = truncated_standard_normal(rng, out.size, dist.alpha, dist.beta, out.dtype)
    out[...] = z.reshape(out.shape)
    out *= dist.scale
    out += dist.loc
    # the scaling can round a value onto or just past a bound: clip into the open interval
    np.clip(out, plan.lo, plan.hi, out=out)
    return out


def _haar(rng: np.random.Generator, rows: int, cols: int, wd: np.dtype, haar: bool) -> np.ndarray:
    z = rng.standard_normal((max(rows, cols), min(rows, cols)), dtype=wd)
    return sampling.haar(z, rows, cols, qr=np.linalg.qr, transpose=np.transpose, correct=haar,
                         signs=lambda r: np.where(np.diagonal(r) < 0, -1, 1).astype(wd))


def orthogonal(dist: D.Orthogonal, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    m = _haar(rng, dist.rows, dist.cols, out.dtype, haar)
    out[...] = m.reshape(dist.matrix_dims).transpose(dist.inverse_perm)
    out *= dist.gain
    return out


def identity(dist: D.Identity, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    out[...] = dist.gain * np.eye(*out.shape)
    return out


def dirac(dist: D.Dirac, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    out.fill(0)
    pos = dist.one_positions()
    if pos:
        out[tuple(np.array(pos).T)] = 1
    return out


def delta_orthogonal(dist: D.DeltaOrthogonal, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    out.fill(0)
    block = dist.block
    m = _haar(rng, block.rows, block.cols, out.dtype, haar) * dist.gain
    idx: list[Any] = [slice(None)] * out.ndim
    for axis, c in zip(dist.spatial_axes, dist.centre):
        idx[axis] = c
    out[tuple(idx)] = m if dist.in_axis < dist.out_axis else m.T
    return out


def sparse(dist: D.Sparse, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    rng.standard_normal(out=out, dtype=out.dtype)
    out *= dist.scale
    z = dist.zeros_per_column
    if z:
        n_out, n_in = out.shape[dist.out_axis], out.shape[dist.in_axis]
        rows = np.argsort(rng.random((n_in, n_out)), axis=1)[:, :z]  # z distinct rows per column
        cols = np.broadcast_to(np.arange(n_in)[:, None], rows.shape)
        idx: list[Any] = [None, None]
        idx[dist.out_axis], idx[dist.in_axis] = rows, cols
        out[tuple(idx)] = 0
    return out


def complex_(dist: complexlaw.Complex, out: np.ndarray, rng: np.random.Generator, haar: bool) -> np.ndarray:
    """A complex law ``dist`` (:mod:`initspec.complexlaw`) into the complex array ``out``: the real part
    then the imaginary part, each drawn as its real law in the part dtype; or a modulus and
    an angle (the disks, as JAX's ``_complex_uniform``/``_complex_truncated_normal``)."""
    part = out.real.dtype
    if dist.form == "parts":
        re_law, im_law = dist.parts
        out.real = DRAW[type(re_law)](re_law, np.empty(out.shape, part), rng, haar)
        out.imag = out.real if dist.tied else DRAW[type(im_law)](im_law, np.empty(out.shape, part), rng, haar)
        return out
    u = rng.random(out.shape, dtype=part).astype(np.float64)
    theta = (2.0 * math.pi) * rng.random(out.shape, dtype=part).astype(np.float64)
    if dist.form == "disk":
        r = np.sqrt(2.0 * u) * dist.scale
    else:  # |w|² ~ Exp(1) cut at upper²: w² = -log(1 - (1 - e^-upper²)·u)
        r = np.sqrt(-np.log1p(math.expm1(-dist.upper * dist.upper) * u)) * (dist.scale / dist.correction)
    out[...] = r * np.exp(1j * theta)
    return out


#: How each law is drawn: this module's function of the shared name (``_common.DRAW_NAMES``) for
#: each law type (tests check that every Distribution type has a row).
DRAW = draw_table(globals())


def _shape_of(dist: D.Distribution) -> tuple[int, ...]:
    shape = getattr(dist, "shape", None)
    if shape is None and dist.derivation is not None:
        shape = dist.derivation.shape
    if shape is None:
        raise ValueError("distribution has no shape; resolve it with a shape first")
    return tuple(shape)


def sample(dist: D.Distribution, rng: np.random.Generator, dtype: Any = np.float32, *, haar: bool = True) -> np.ndarray:
    """Draw one tensor of the resolved ``dist`` (its shape comes from the derivation or the
    structure) in ``dtype``.  ``haar=False`` drops the Haar sign correction (the conformance
    suite's power gate uses it to prove it notices)."""
    shape = _shape_of(dist)
    dt = sampling.np_dtype(dtype)
    sampling.check_dtype(dist, dt)
    if dt.kind == "c" and dist.random:  # a complex form (initspec.complexlaw), drawn in dt itself
        out = np.zeros(shape, dtype=dt)
        return complex_(complexlaw.complex_law(dist), out, rng, haar) if out.size else out
    wd = np.dtype(sampling.work_dtype(dt)) if sampling.dtype_name(dt) in sampling.FLOAT_DTYPES else np.dtype(np.float64)
    if isinstance(dist, D._Fixed):  # a given array: written in the tensor's dtype, rounded once
        wd = dt
    out = np.empty(shape, dtype=wd)
    if out.size == 0 and not isinstance(dist, D.Constant):
        out.fill(0)
    else:
        out = DRAW[type(dist)](dist, out, rng, haar)
    if out.dtype != dt:
        out = out.astype(dt)
        if isinstance(dist, (D.Uniform, D.TruncatedNormal)) and out.size:
            # rounding to a narrower dtype can land beyond a bound: keep the support (the
            # uniform's rounded values may reach a bound the dtype holds, as rounding to
            # nearest does in every backend; the truncated normal stays strictly inside)
            name = sampling.dtype_name(dt)
            strict = isinstance(dist, D.TruncatedNormal)
            lo = sampling.inward(dist.low, name, +1, strict=strict)
            hi = sampling.inward(dist.high, name, -1, strict=strict)
            np.clip(out, np.array(lo, dtype=dt), np.array(hi, dtype=dt), out=out)
    return out
