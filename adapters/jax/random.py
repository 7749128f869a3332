"""How the JAX backend draws each resolved law, with ``jax.random``.

``DRAW`` maps every :class:`~initspec.distributions.Distribution` type to a function
``fn(dist, out, rng, haar) -> jax.Array`` (the same names and signature in every backend's
``random.py``).  JAX is functional, so nothing is filled in place: ``out`` is a
``jax.ShapeDtypeStruct`` - the tensor's shape and the dtype it is drawn in (the work dtype
of :func:`initspec.sampling.work_dtype` for random laws; the tensor's own dtype for the
exact ones, constant, identity and dirac, which take integer dtypes too) - and the function
returns the values; ``rng`` is a PRNG key; ``haar`` keeps the Haar sign correction of
orthogonal draws.  The methods and their parameters come from :mod:`initspec.sampling`.

The functions run while :func:`sample`'s draw is traced: the whole draw - the table's
function, the rounding to the tensor's dtype and the final clip - is one jitted XLA
computation per (law, shape, dtype, haar), with nothing computed on the host but the
constants.  No module here imports JAX before it is used.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any

import numpy as np

from ... import complexlaw
from ... import distributions as D
from ... import sampling
from ...errors import SpecError
from .._common import require

__all__ = ["DRAW", "sample"]


def _const(value: float, dtype: Any) -> np.ndarray:
    """A host constant in ``dtype`` (rounded once, on the host)."""
    return np.array(value, dtype=np.float64).astype(sampling.np_dtype(dtype))


# ----------------------------------------------------------------------------- the draw table (traced)


def constant(dist: D.Constant, out: Any, rng: Any, haar: bool) -> Any:
    import jax.numpy as jnp

    return jnp.full(out.shape, np.array(dist.value).astype(out.dtype), out.dtype)


def fixed(dist: D.ConstantArray | D.STFTKernel, out: Any, rng: Any, haar: bool) -> Any:
    """A given array (constant array, STFT kernel): its values, computed once in the core in
    the tensor's dtype, as a constant of the computation."""
    import jax.numpy as jnp

    return jnp.asarray(dist.values(out.dtype))


def uniform(dist: D.Uniform, out: Any, rng: Any, haar: bool) -> Any:
    import jax
    import jax.numpy as jnp

    lo = _const(sampling.inward(dist.low, out.dtype, +1), out.dtype)
    hi = _const(sampling.inward(dist.high, out.dtype, -1), out.dtype)
    x = jax.random.uniform(rng, out.shape, out.dtype, minval=lo, maxval=hi)
    return jnp.minimum(x, hi)  # floats·(hi-lo)+lo can round up onto hi


def normal(dist: D.Normal, out: Any, rng: Any, haar: bool) -> Any:
    import jax

    x = jax.random.normal(rng, out.shape, out.dtype)
    if dist.scale != 1.0:
        x = x * _const(dist.scale, out.dtype)
    if dist.loc != 0.0:
        x = x + _const(dist.loc, out.dtype)
    return x


def truncated_normal(dist: D.TruncatedNormal, out: Any, rng: Any, haar: bool) -> Any:
    """N(loc, scale²) on [low, high] by the inverse CDF (no data-dependent loop under jit):
    :func:`initspec.sampling.truncation` with ``rejection=False`` gives the method and its
    constants.

    ``inverse_cdf`` (an interval around the mean) is JAX's own transform
    (``jax.random.truncated_normal``): U[v_lo, v_hi) -> √2·erf⁻¹, with v_lo/v_hi strictly
    inside (-1, 1), so bounds beyond the dtype's reach (torch's ±2 at std 0.02 is ±100σ)
    cannot produce -inf clipped onto a bound.  ``ndtri`` (a one-sided interval) is mirrored
    into the lower tail and mapped through Φ⁻¹, where Φ keeps full relative precision.
    Scaling can round a value past a bound, so the result is clipped to the open interval
    rounded inward: the support is exact in the work dtype.
    """
    import jax
    import jax.numpy as jnp

    wd = out.dtype
    how = sampling.truncation(dist, wd, math.prod(out.shape), rejection=False)
    if how.method == "inverse_cdf":
        u = jax.random.uniform(rng, out.shape, wd, minval=_const(how.v_lo, wd), maxval=_const(how.v_hi, wd))
        x = jax.lax.erf_inv(u) * _const(math.sqrt(2.0) * dist.scale, wd)
    else:  # ndtri: v_lo/v_hi are Φ of the (mirrored) interval's ends
        u = jax.random.uniform(rng, out.shape, wd)
        z = jax.scipy.special.ndtri(_const(how.v_lo, wd) + u * _const(how.v_hi - how.v_lo, wd))
        x = z * _const(how.sign * dist.scale, wd)
    if dist.loc != 0.0:
        x = x + _const(dist.loc, wd)
    return jnp.clip(x, _const(how.lo, wd), _const(how.hi, wd))


def _haar(rng: Any, rows: int, cols: int, wd: Any, haar: bool) -> Any:
    """A Haar-random (rows, cols) matrix (:func:`initspec.sampling.haar`) - the same steps
    as ``jax.random.orthogonal``."""
    import jax
    import jax.numpy as jnp

    def signs(r: Any) -> Any:
        d = jnp.sign(jnp.diagonal(r))
        return jnp.where(d == 0, 1, d).astype(wd)[None, :]

    z = jax.random.normal(rng, (max(rows, cols), min(rows, cols)), wd)
    return sampling.haar(z, rows, cols, qr=jnp.linalg.qr, signs=signs, transpose=jnp.transpose, correct=haar)


def orthogonal(dist: D.Orthogonal, out: Any, rng: Any, haar: bool) -> Any:
    x = _haar(rng, dist.rows, dist.cols, out.dtype, haar).reshape(dist.matrix_dims)
    if dist.inverse_perm != tuple(range(len(out.shape))):
        x = x.transpose(dist.inverse_perm)
    return x * _const(dist.gain, out.dtype)


def identity(dist: D.Identity, out: Any, rng: Any, haar: bool) -> Any:
    import jax.numpy as jnp

    return jnp.eye(*out.shape, dtype=out.dtype) * np.array(dist.gain).astype(out.dtype)


def dirac(dist: D.Dirac, out: Any, rng: Any, haar: bool) -> Any:
    import jax.numpy as jnp

    x = jnp.zeros(out.shape, out.dtype)
    positions = dist.one_positions()
    if positions:
        x = x.at[tuple(np.array(positions).T)].set(np.array(1, out.dtype))
    return x


def delta_orthogonal(dist: D.DeltaOrthogonal, out: Any, rng: Any, haar: bool) -> Any:
    import jax.numpy as jnp

    block = dist.block
    m = _haar(rng, block.rows, block.cols, out.dtype, haar) * _const(dist.gain, out.dtype)
    idx: list[Any] = [slice(None)] * len(out.shape)
    for axis, c in zip(dist.spatial_axes, dist.centre):
        idx[axis] = c
    return jnp.zeros(out.shape, out.dtype).at[tuple(idx)].set(m if dist.in_axis < dist.out_axis else m.T)


def sparse(dist: D.Sparse, out: Any, rng: Any, haar: bool) -> Any:
    import jax
    import jax.numpy as jnp

    k_values, k_zeros = jax.random.split(rng)
    x = jax.random.normal(k_values, out.shape, out.dtype) * _const(dist.scale, out.dtype)
    z = dist.zeros_per_column
    if z:
        n_out, n_in = out.shape[dist.out_axis], out.shape[dist.in_axis]
        # z distinct rows per column: the first z of a random permutation of each column
        rows = jnp.argsort(jax.random.uniform(k_zeros, (n_in, n_out)), axis=1)[:, :z]
        mask = jnp.zeros((n_in, n_out), bool).at[jnp.arange(n_in)[:, None], rows].set(True)
        x = jnp.where(mask if dist.in_axis == 0 else mask.T, np.array(0, out.dtype), x)
    return x


def complex_(dist: complexlaw.Complex, out: Any, rng: Any, haar: bool) -> Any:
    """A complex law ``dist`` (:mod:`initspec.complexlaw`) in ``out.dtype`` (complex64/complex128): the
    real and imaginary parts drawn as their real laws from two split keys; or a modulus and
    an angle from two split keys, as ``jax.nn.initializers``' ``_complex_uniform`` and
    ``_complex_truncated_normal`` do."""
    import jax
    import jax.numpy as jnp

    part = np.dtype(sampling.np_dtype(complexlaw.PART_DTYPES[np.dtype(out.dtype).name]))
    k_re, k_im = jax.random.split(rng)
    if dist.form == "parts":
        re_law, im_law = dist.parts
        re = DRAW[type(re_law)](re_law, jax.ShapeDtypeStruct(out.shape, part), k_re, haar)
        im = re if dist.tied else DRAW[type(im_law)](im_law, jax.ShapeDtypeStruct(out.shape, part), k_im, haar)
        return jax.lax.complex(re, im)
    u = jax.random.uniform(k_re, out.shape, part)
    theta = jax.random.uniform(k_im, out.shape, part) * _const(2.0 * math.pi, part)
    if dist.form == "disk":
        r = jnp.sqrt(u * _const(2.0, part)) * _const(dist.scale, part)
    else:  # |w|² ~ Exp(1) cut at upper²: w² = -log(1 - (1 - e^-upper²)·u)
        r = jnp.sqrt(-jnp.log1p(u * _const(math.expm1(-dist.upper * dist.upper), part)))
        r = r * _const(dist.scale / dist.correction, part)
    return jax.lax.complex(r * jnp.cos(theta), r * jnp.sin(theta))


#: How each law is drawn (tests check that every Distribution type has a row).
DRAW = {
    D.ConstantArray: fixed, D.STFTKernel: fixed,
    D.Constant: constant, D.Uniform: uniform, D.Normal: normal, D.TruncatedNormal: truncated_normal,
    D.Orthogonal: orthogonal, D.Identity: identity, D.Dirac: dirac, D.DeltaOrthogonal: delta_orthogonal,
    D.Sparse: sparse, complexlaw.Complex: complex_,
}


def _draw(key: Any, *, dist: D.Distribution, shape: tuple[int, ...], dt: np.dtype, haar: bool) -> Any:
    """The whole draw, traced once per (law, shape, dtype, haar): the table's function in the
    work dtype, then rounded to ``dt`` - clipped again to the bounds rounded inward in
    ``dt``, as rounding may land past one."""
    import jax
    import jax.numpy as jnp

    if dist.random and math.prod(shape) == 0:
        return jnp.zeros(shape, dt)
    wd = sampling.np_dtype(sampling.work_dtype(dt)) if dist.random and dt.kind != "c" else dt
    x = DRAW[type(dist)](dist, jax.ShapeDtypeStruct(shape, wd), key, haar)
    if wd != dt:
        x = x.astype(dt)
        if isinstance(dist, (D.Uniform, D.TruncatedNormal)):
            lo, hi = sampling.inward(dist.low, dt, +1), sampling.inward(dist.high, dt, -1)
            x = jnp.clip(x, _const(lo, dt), _const(hi, dt))
    return x


@functools.cache
def _jitted() -> Any:
    """``jax.jit(_draw)`` with everything but the key static (built on first use: JAX is
    imported lazily)."""
    return require("jax").jit(_draw, static_argnames=("dist", "shape", "dt", "haar"))


# ----------------------------------------------------------------------------- arguments


def _static_shape(shape: Any) -> Any:
    """A tuple of Python ints (JAX shapes may hold NumPy ints); anything else is left for
    :func:`initspec.resolve` to reject with a ShapeError."""
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        return shape


def x64_disabled(dtype: Any, canonical: Any, loc: tuple[Any, ...] = ("dtype",),
                 instead: str = "ask for") -> SpecError:
    """The ``x64_disabled`` error: ``dtype`` (float64, complex128, int64 ...) needs
    ``jax_enable_x64``, without which JAX silently computes ``canonical`` instead."""
    dtype, canonical = np.dtype(dtype), np.dtype(canonical)
    return SpecError.single(
        "x64_disabled", f"{dtype.name} needs 64-bit JAX, and jax_enable_x64 is off (JAX would silently give "
        f"{canonical.name}): call jax.config.update('jax_enable_x64', True) first (or draw inside "
        f"`with jax.enable_x64(True):`), or {instead} {canonical.name}", loc=loc, value=dtype.name)


def _output_dtype(dtype: Any) -> np.dtype:
    """The dtype to return: ``None`` -> JAX's default float; a 64-bit dtype while x64 is off
    is an ``x64_disabled`` error (``jax.nn.initializers`` warn and return 32 bits)."""
    jax = require("jax")
    if dtype is None:
        return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    try:
        dt = np.dtype(jax.numpy.dtype(dtype))
    except (TypeError, ValueError):
        raise SpecError.single("unsupported_dtype", f"not a JAX dtype: use one of {', '.join(sampling.FLOAT_DTYPES)}",
                               loc=("dtype",), value=str(dtype)) from None
    canonical = np.dtype(jax.dtypes.canonicalize_dtype(dt))
    if canonical != dt:
        raise x64_disabled(dt, canonical)
    return canonical


def seed_key(seed: int) -> Any:
    """A key from all 64 bits of a seed (the plan rows' seeds, large CLI seeds).
    ``jax.random.key`` keeps only the low 32 bits of an int unless ``jax_enable_x64`` is on,
    so the high bits are folded in: the same key in both modes.  Any seed of the one seed
    rule (0 to 2**64 - 1) works."""
    import jax  # noqa: PLC0415 - no JAX import at module level

    seed = sampling.check_seed(seed)
    return jax.random.fold_in(jax.random.key(seed & 0xFFFFFFFF), seed >> 32)


def _check_key(key: Any) -> Any:
    """One PRNG key: typed (``jax.random.key``) or raw uint32 (``jax.random.PRNGKey``)."""
    jax = require("jax")
    fix = "pass one key: jax.random.key(seed) (or a raw jax.random.PRNGKey(seed))"
    dtype = getattr(key, "dtype", None)
    if dtype is None or isinstance(key, (np.ndarray, np.generic)) and key.dtype != np.uint32:
        raise SpecError.single("bad_key", f"not a JAX PRNG key: {fix}", loc=("key",), value=key)
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise SpecError.single("bad_key", f"a batch of {key.shape} keys: {fix}, e.g. jax.random.split(key)[0]",
                                   loc=("key",), value=f"key array of shape {key.shape}")
        return key
    if dtype == np.uint32 and tuple(key.shape) == _raw_key_shape(jax.config.jax_default_prng_impl):
        return key
    raise SpecError.single("bad_key", f"not a JAX PRNG key (dtype {dtype}, shape {tuple(key.shape)}): {fix}",
                           loc=("key",), value=f"array of dtype {dtype}, shape {tuple(key.shape)}")


@functools.lru_cache(maxsize=8)
def _raw_key_shape(impl: str) -> tuple[int, ...]:
    """The shape of a raw key of the PRNG implementation ``impl`` ((2,) for threefry)."""
    jax = require("jax")
    return tuple(jax.eval_shape(jax.random.PRNGKey, 0).shape)


# ----------------------------------------------------------------------------- sampling


def _sharded(draw: Any, key: Any, out_sharding: Any) -> Any:
    """``draw(key)`` laid out as ``out_sharding``, the way ``jax.random`` applies it."""
    jax = require("jax")
    mesh = getattr(out_sharding, "mesh", None) or jax.sharding.get_abstract_mesh()
    explicit = tuple(getattr(mesh, "explicit_axes", ()))
    if explicit:  # explicit-sharding mode: draw with those axes automatic, then reshard
        return jax.sharding.auto_axes(draw, out_sharding=out_sharding, axes=explicit)(key)
    return jax.lax.with_sharding_constraint(draw(key), out_sharding)


def sample(dist: D.Distribution, key: Any, shape: Any, dtype: Any = None, *, out_sharding: Any = None,
           haar: bool = True) -> Any:
    """Draw one ``jax.Array`` of ``shape`` and ``dtype`` from an already-resolved ``dist``.

    The low-level half of the adapter: no spec, no layout, no math - ``dist`` carries the
    numbers.  Traceable (``key`` may be a tracer; ``shape`` and ``dtype`` must be static).
    Runs as one compiled XLA computation per (law, shape, dtype).  ``out_sharding`` lays
    the values out as ``jax.random`` does; ``haar=False`` drops the Haar sign correction
    of orthogonal draws (the conformance suite's power gate proves it notices).
    """
    shape = sampling.law_shape(dist, _static_shape(shape))  # a law, and a shape it can fill
    dt = _output_dtype(dtype)
    sampling.check_dtype(dist, dt)
    if dt.kind == "c" and dist.random:  # its complex form (initspec.complexlaw)
        dist = complexlaw.complex_law(dist, dt.name)
    key = _check_key(key)
    sharding = require("jax").sharding
    if out_sharding is not None and not isinstance(out_sharding, (sharding.Sharding, sharding.PartitionSpec)):
        raise SpecError.single("wrong_type", "out_sharding is a jax.sharding.Sharding (NamedSharding ...), a "
                               "PartitionSpec under a mesh, or None", loc=("out_sharding",),
                               value=type(out_sharding).__name__)
    draw = functools.partial(_jitted(), dist=dist, shape=shape, dt=dt, haar=bool(haar))
    return draw(key) if out_sharding is None else _sharded(draw, key, out_sharding)
