"""JAX / Flax backend: a ``jax.nn.initializers``-style initializer for any spec.

>>> import jax, jax.numpy as jnp
>>> from initspec.adapters import jax as isjax
>>> init = isjax.initializer({"scheme": "he", "distribution": "truncated_normal"})  # layout="jax": (in, out)
>>> w = init(jax.random.key(0), (512, 256), jnp.float32)
>>> w.dtype, w.shape, bool(abs(w).max() < 2 * (2 / 512) ** 0.5 / 0.87962566103423978)
(dtype('float32'), (512, 256), True)

``init(key, shape, dtype=None, out_sharding=None) -> jax.Array`` has the signature of the
``jax.nn.initializers.Initializer`` protocol, so it drops in wherever a JAX initializer does:
Flax ``kernel_init`` / ``bias_init`` / ``embedding_init`` (linen and nnx), ``jax.jit``
(the shape and dtype are static, as for JAX's own initializers), ``jax.vmap`` over keys.

* **Keys**: new-style typed keys (``jax.random.key``) and raw ``uint32`` keys
  (``jax.random.PRNGKey``) give the same values.  The same key, shape and dtype give
  bit-identical values, eager or jitted, on every device (threefry is backend-independent).
  There is no global state.
* **Resolution** happens in Python when the call is traced (shapes are static):
  :func:`initspec.resolve` computes the law, :func:`sample` draws it with ``jax.random`` on
  the default device (or ``jax.default_device``); nothing is drawn on the host.
* **dtypes**: float16, bfloat16, float32, float64.  float16/bfloat16 are drawn in float32 and
  rounded (JAX's half-precision uniform keeps only 7-10 random mantissa bits), orthogonal
  and delta-orthogonal included (JAX's QR has no half-precision kernel).  Integer and
  complex dtypes raise :class:`~initspec.SpecError` for random schemes; constant, identity
  and dirac accept them.  ``dtype=None`` is JAX's default float dtype.

.. warning::
   float64 needs ``jax_enable_x64``.  Without it this adapter does what
   ``jax.nn.initializers`` do: it warns (``UserWarning``) and returns float32, drawn from the
   same law.  Turn x64 on with ``jax.config.update("jax_enable_x64", True)`` or
   ``with jax.enable_x64(True):``.

.. warning::
   JAX's ``*_normal`` initializers (``he_normal``, ``glorot_normal``, ``lecun_normal``) are
   truncated, variance-corrected normals, while initspec's ``normal`` is never truncated:
   ``jax.he_normal`` is ``{scheme: he, distribution: truncated_normal}``.

Plans
    ``plan_walk`` / ``plan_write`` and :class:`Linen` (from :mod:`initspec.adapters.jax.plan`)
    let :func:`initspec.plan` and :func:`initspec.apply` walk and initialize Flax linen
    variables (``manifest.params`` is a new tree) and ``flax.nnx`` modules (in place).
"""

from __future__ import annotations

import functools
import math
import operator
import warnings
from typing import Any

import numpy as np

from ... import distributions as D
from ...errors import SpecError
from ...resolution import resolve
from .._common import FLOAT_DTYPES, dtype_name, prepare, require, unsupported_dtype

__all__ = ["initializer", "sample", "JaxInitializer", "HAAR_SIGN_CORRECTION", "Linen", "plan_walk", "plan_write"]

#: Multiply Q by sign(diag R) after the QR of a Gaussian matrix, so orthogonal draws are
#: Haar-distributed (Mezzadri 2007).  Read at every call; the conformance suite's power gate
#: turns it off to prove that the Haar check notices.
HAAR_SIGN_CORRECTION = True

_SQRT2 = math.sqrt(2.0)
_INV_SQRT2 = 1.0 / _SQRT2
_jitted_draw: Any = None  # jax.jit(_draw, ...), built on first use (jax is imported lazily)
_registered = False


# ----------------------------------------------------------------------------- arguments


def _static_shape(shape: Any) -> Any:
    """A tuple of Python ints (JAX shapes may hold NumPy ints); anything else is left for
    :func:`initspec.resolve` to reject with a ShapeError."""
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        return shape


def _output_dtype(dtype: Any) -> np.dtype:
    """The dtype to return: ``None`` -> JAX's default float; float64 -> float32 with a
    UserWarning when x64 is off (what ``jax.nn.initializers`` do)."""
    jax = require("jax")
    if dtype is None:
        return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    try:
        dt = np.dtype(jax.numpy.dtype(dtype))
    except (TypeError, ValueError):
        raise SpecError.single("unsupported_dtype", f"not a JAX dtype: use one of {', '.join(FLOAT_DTYPES)}",
                               loc=("dtype",), value=str(dtype)) from None
    canonical = np.dtype(jax.dtypes.canonicalize_dtype(dt))
    if canonical != dt:
        warnings.warn(
            f"initspec.adapters.jax: {dt.name} was requested but jax_enable_x64 is off, so the values are "
            f"{canonical.name} (as jax.nn.initializers do); turn 64-bit on with "
            "jax.config.update('jax_enable_x64', True) or `with jax.enable_x64(True):`",
            UserWarning, stacklevel=4)
    return canonical


def _check_dtype(dist: D.Distribution, dt: np.dtype) -> None:
    if dist.random:
        if dtype_name(dt) not in FLOAT_DTYPES:
            raise unsupported_dtype(dt, dist.kind)
        return
    if dt.kind in "iub":  # exact schemes in integer dtypes: only integral values
        values = [dist.value] if isinstance(dist, D.Constant) else [getattr(dist, "gain", 1.0)]
        if not all(float(v).is_integer() for v in values):
            raise SpecError.single(
                "unsupported_dtype", f"{dist.kind} value {values[0]:g} is not an integer: use a float dtype",
                loc=("dtype",), value=dt.name)


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
    if dtype == np.uint32 and len(key.shape) == 1:
        return key
    raise SpecError.single("bad_key", f"not a JAX PRNG key (dtype {dtype}, shape {tuple(key.shape)}): {fix}",
                           loc=("key",), value=f"array of dtype {dtype}, shape {tuple(key.shape)}")


# ----------------------------------------------------------------------------- bounds in a dtype


def _round_inward(value: float, dtype: np.dtype, direction: int, *, strict: bool) -> np.ndarray:
    """``value`` rounded to ``dtype`` toward the interior: ``direction`` +1 for a lower bound,
    -1 for an upper one.  ``strict`` also steps off the bound itself (an open interval)."""
    v = np.array(value, dtype=np.float64).astype(dtype)
    off = (float(v) - value) * direction
    if off < 0 or (strict and off == 0):
        v = np.nextafter(v, np.array(direction * np.inf, dtype=dtype))
    return v


def _work_dtype(dt: np.dtype) -> np.dtype:
    """Draw half precision in float32 (JAX's half-precision uniform has 7-10 random bits)."""
    return np.dtype(np.float64) if dt == np.float64 else np.dtype(np.float32)


# ----------------------------------------------------------------------------- drawing (traced)


def _truncated_normal(jax: Any, key: Any, dist: D.TruncatedNormal, shape: tuple[int, ...], wd: np.dtype) -> Any:
    """N(loc, scale²) on [lower, upper] by the inverse CDF, endpoints computed on the host.

    An interval around the mean uses JAX's own transform (``jax.random.truncated_normal``):
    U[erf(α/√2), erf(β/√2)) -> √2·erf⁻¹, with the endpoints kept strictly inside (-1, 1) so
    bounds beyond the dtype's reach (torch's ±2 at std 0.02 is ±100σ) cannot produce -inf
    clipped onto the bound.  A one-sided interval is mirrored into the lower tail and
    mapped through Φ⁻¹ (``ndtri``), where Φ is small and keeps full relative precision.
    Scaling can round a value past a bound, so the result is clipped to the open interval
    rounded inward: the support is exact in the working dtype.
    """
    jnp = jax.numpy
    a, b = dist.alpha, dist.beta
    if a < 0.0 < b:
        one_below = np.nextafter(np.array(1.0, wd), np.array(0.0, wd))
        lo_u = max(_round_inward(math.erf(a * _INV_SQRT2), wd, +1, strict=False), -one_below)
        hi_u = min(_round_inward(math.erf(b * _INV_SQRT2), wd, -1, strict=False), one_below)
        u = jax.random.uniform(key, shape, wd, minval=lo_u, maxval=hi_u)
        x = jax.lax.erf_inv(u) * np.array(_SQRT2 * dist.scale, wd)
    else:
        flip = a >= 0.0  # the interval lies right of the mean: draw its mirror image
        lo, hi = (-b, -a) if flip else (a, b)
        p_lo, p_hi = D.std_normal_cdf(np.array([lo, hi]))
        u = jax.random.uniform(key, shape, wd)
        z = jax.scipy.special.ndtri(np.array(p_lo, wd) + u * np.array(p_hi - p_lo, wd))
        x = z * np.array(-dist.scale if flip else dist.scale, wd)
    if dist.loc != 0.0:
        x = x + np.array(dist.loc, wd)
    return jnp.clip(x, _round_inward(dist.lower, wd, +1, strict=True), _round_inward(dist.upper, wd, -1, strict=True))


def _orthogonal_matrix(jax: Any, key: Any, rows: int, cols: int, wd: np.dtype, haar: bool) -> Any:
    """A Haar-random (rows, cols) matrix: orthonormal columns if rows >= cols, else rows.

    QR of a (max, min) standard normal matrix, Q multiplied by sign(diag R) (Mezzadri 2007)
    - the same steps as ``jax.random.orthogonal``.
    """
    jnp = jax.numpy
    z = jax.random.normal(key, (max(rows, cols), min(rows, cols)), wd)
    q, r = jnp.linalg.qr(z)
    if haar:
        d = jnp.sign(jnp.diagonal(r))
        q = q * jnp.where(d == 0, 1, d).astype(wd)[None, :]
    return q if rows >= cols else q.T


def _draw_random(jax: Any, key: Any, dist: D.Distribution, shape: tuple[int, ...], wd: np.dtype,
                 haar: bool) -> Any:
    jnp = jax.numpy
    if isinstance(dist, D.Uniform):
        lo = _round_inward(dist.lower, wd, +1, strict=False)
        hi = _round_inward(dist.upper, wd, -1, strict=False)
        x = jax.random.uniform(key, shape, wd, minval=lo, maxval=hi)
        return jnp.minimum(x, hi)  # floats·(hi-lo)+lo can round up onto hi
    if isinstance(dist, D.Normal):
        x = jax.random.normal(key, shape, wd)
        if dist.scale != 1.0:
            x = x * np.array(dist.scale, wd)
        if dist.loc != 0.0:
            x = x + np.array(dist.loc, wd)
        return x
    if isinstance(dist, D.TruncatedNormal):
        return _truncated_normal(jax, key, dist, shape, wd)
    if isinstance(dist, D.Orthogonal):
        m = _orthogonal_matrix(jax, key, dist.rows, dist.cols, wd, haar)
        x = m.reshape(dist.matrix_dims)
        if dist.inverse_perm != tuple(range(len(shape))):
            x = x.transpose(dist.inverse_perm)
        return x * np.array(dist.gain, wd)
    if isinstance(dist, D.DeltaOrthogonal):
        n_in, n_out = shape[dist.in_axis], shape[dist.out_axis]
        m = _orthogonal_matrix(jax, key, n_in, n_out, wd, haar) * np.array(dist.gain, wd)
        idx: list[Any] = [slice(None)] * len(shape)
        for axis, c in zip(dist.spatial_axes, dist.centre):
            idx[axis] = c
        return jnp.zeros(shape, wd).at[tuple(idx)].set(m if dist.in_axis < dist.out_axis else m.T)
    if isinstance(dist, D.Sparse):
        k_values, k_zeros = jax.random.split(key)
        x = jax.random.normal(k_values, shape, wd) * np.array(dist.scale, wd)
        z = dist.zeros_per_column
        if z:
            n_out, n_in = shape[dist.out_axis], shape[dist.in_axis]
            # z distinct rows per column: the first z of a random permutation of each column
            rows = jnp.argsort(jax.random.uniform(k_zeros, (n_in, n_out)), axis=1)[:, :z]
            mask = jnp.zeros((n_in, n_out), bool).at[jnp.arange(n_in)[:, None], rows].set(True)
            x = jnp.where(mask if dist.in_axis == 0 else mask.T, np.array(0, wd), x)
        return x
    raise TypeError(f"the JAX backend cannot draw {type(dist).__name__}")  # pragma: no cover


def _draw(key: Any, dist: D.Distribution, shape: tuple[int, ...], dt: np.dtype, haar: bool) -> Any:
    """The whole draw as one traced function (jitted with everything but ``key`` static)."""
    return _draw_values(key, dist=dist, shape=shape, dt=dt, haar=haar)


def _sharded(draw: Any, key: Any, out_sharding: Any) -> Any:
    """``draw(key)`` laid out as ``out_sharding``, the way ``jax.random`` applies it."""
    jax = require("jax")
    mesh = getattr(out_sharding, "mesh", None) or jax.sharding.get_abstract_mesh()
    explicit = tuple(getattr(mesh, "explicit_axes", ()))
    if explicit:  # explicit-sharding mode: draw with those axes automatic, then reshard
        return jax.sharding.auto_axes(draw, out_sharding=out_sharding, axes=explicit)(key)
    return jax.lax.with_sharding_constraint(draw(key), out_sharding)


def _draw_values(key: Any, *, dist: D.Distribution, shape: tuple[int, ...], dt: np.dtype, haar: bool) -> Any:
    jax = require("jax")
    jnp = jax.numpy
    if isinstance(dist, D.Constant):
        x = jnp.full(shape, np.array(dist.value).astype(dt), dt)  # rounded once, on the host
    elif isinstance(dist, D.Identity):
        x = jnp.eye(*shape, dtype=dt) * np.array(dist.gain).astype(dt)
    elif isinstance(dist, D.Dirac):
        x = jnp.zeros(shape, dt)
        positions = dist.one_positions()
        if positions:
            x = x.at[tuple(np.array(positions).T)].set(np.array(1, dt))
    elif math.prod(shape) == 0:
        x = jnp.zeros(shape, dt)
    else:
        wd = _work_dtype(dt)
        x = _draw_random(jax, key, dist, shape, wd, haar)
        if wd != dt:
            x = x.astype(dt)
            if isinstance(dist, (D.Uniform, D.TruncatedNormal)):  # rounding may land past a bound
                x = jnp.clip(x, _round_inward(dist.low, dt, +1, strict=False),
                             _round_inward(dist.high, dt, -1, strict=False))
    return x


def _compiled() -> Any:
    global _jitted_draw
    if _jitted_draw is None:
        jax = require("jax")
        _jitted_draw = jax.jit(_draw, static_argnames=("dist", "shape", "dt", "haar"))
    return _jitted_draw


def sample(dist: D.Distribution, key: Any, shape: Any, dtype: Any = None, *, out_sharding: Any = None) -> Any:
    """Draw one ``jax.Array`` of ``shape`` and ``dtype`` from an already-resolved ``dist``.

    The low-level half of the adapter: no spec, no layout, no math - ``dist`` carries the
    numbers.  Traceable (``key`` may be a tracer; ``shape`` and ``dtype`` must be static).
    Runs as one compiled XLA computation per (law, shape, dtype).
    """
    shape = _static_shape(shape)
    structured = getattr(dist, "shape", None)
    if structured is not None and tuple(structured) != shape:
        raise ValueError(f"{dist.kind} was resolved for shape {tuple(structured)}, not {shape}")
    dt = _output_dtype(dtype)
    _check_dtype(dist, dt)
    key = _check_key(key)
    draw = functools.partial(_compiled(), dist=dist, shape=shape, dt=dt, haar=bool(HAAR_SIGN_CORRECTION))
    return draw(key) if out_sharding is None else _sharded(draw, key, out_sharding)


# ----------------------------------------------------------------------------- the initializer


class JaxInitializer:
    """``init(key, shape, dtype=None, out_sharding=None) -> jax.Array`` for one spec.

    Immutable, hashable and compared by (spec, layout), so it can be a static field of a Flax
    module or a static argument of ``jax.jit``; registered as a leafless pytree node.
    """

    __slots__ = ("_spec", "_layout", "__weakref__")
    backend = "jax"

    def __init__(self, spec: Any, layout: Any = "jax"):
        spec, layout = prepare(spec, layout)
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_layout", layout)
        _register_pytree()

    @property
    def spec(self) -> Any:
        return self._spec

    @property
    def layout(self) -> Any:
        return self._layout

    def resolve(self, shape: Any) -> D.Distribution:
        """The law this initializer draws for a tensor of ``shape``."""
        return resolve(self._spec, _static_shape(shape), self._layout)

    def __call__(self, key: Any, shape: Any, dtype: Any = None, out_sharding: Any = None) -> Any:
        dist = self.resolve(shape)
        if out_sharding is None:  # the module global, looked up now (tests replace it)
            return sample(dist, key, shape, dtype)
        return sample(dist, key, shape, dtype, out_sharding=out_sharding)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a JaxInitializer is immutable; build a new one with initializer(spec, layout)")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self._spec, self._layout) == (other._spec, other._layout)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._spec, self._layout))

    def __reduce__(self) -> Any:
        return (JaxInitializer, (self._spec, self._layout))

    def __repr__(self) -> str:
        layout = self._layout.model_dump() if hasattr(self._layout, "model_dump") else self._layout
        return f"initspec.adapters.jax.initializer({self._spec.to_dict()!r}, layout={layout!r})"


def _register_pytree() -> None:
    """Make initializers leafless pytree nodes (static under ``jax.jit``/``vmap``/Flax)."""
    global _registered
    if not _registered:
        require("jax").tree_util.register_static(JaxInitializer)
        _registered = True


def initializer(spec: Any, layout: Any = "jax") -> JaxInitializer:
    """Compile ``spec`` into a JAX initializer for tensors in ``layout`` (default ``"jax"``:
    ``(*kernel, in, out)``, which is also Flax's; ``"flax"`` reads the same).

    The spec and layout are checked now (:class:`~initspec.SpecError`); shapes a scheme
    cannot take and dtypes it cannot draw are reported when the initializer is called (or
    traced).
    """
    return JaxInitializer(spec, layout)


from .model import Linen  # noqa: E402
