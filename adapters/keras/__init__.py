"""Keras 3 backend (TensorFlow, JAX or PyTorch underneath): a serializable
``keras.initializers.Initializer`` whose config *is* the spec.

>>> from initspec.adapters import keras as iskeras
>>> import keras
>>> init = iskeras.initializer({"scheme": "he", "distribution": "truncated_normal"}, seed=0)
>>> layer = keras.layers.Dense(64, kernel_initializer=init)     # kernel (in, out): layout "keras"
>>> init.get_config()
{'scheme': 'he', 'distribution': 'truncated_normal', 'mode': 'fan_in', 'nonlinearity': 'relu', 'layout': 'keras', 'seed': 0}

``initializer(spec, layout="keras", seed=None)`` returns an :class:`InitSpecInitializer`
(``init(shape, dtype=None)``, with ``.spec``, ``.layout``, ``.seed`` and ``.resolve(shape)``).
It only *draws* from :func:`initspec.resolve` - the numbers come from there - using
``keras.random`` and ``keras.ops`` on Keras' default device (the GPU when the backend has
one); nothing random goes through NumPy.  ``dtype=None`` means ``keras.config.floatx()``.
float16 and bfloat16 are drawn in float32 and rounded (orthogonal included, which native
Keras cannot do in half precision); float64 is drawn in float64 (on the JAX backend only
with ``jax_enable_x64``).  Random schemes reject integer dtypes with a SpecError.

Seeding
-------
Unlike the native Keras initializers, an initspec initializer does **not** return the same
values on every call unless you ask it to:

=========================  =============================================================
``seed``                   each call
=========================  =============================================================
``None`` (default)         fresh values: 64 bits of new entropy from ``os.urandom``.
                           Python ``random``, NumPy's global state and the backend's
                           global generator are never read or advanced, so
                           ``keras.utils.set_random_seed`` does not make it reproducible.
``int``                    identical values on every call (as Keras): reproducible.
``keras.random.SeedGenerator``  different values per call, the same sequence from the
                           same generator state (each random op advances it once).
=========================  =============================================================

An int seed is hashed (with a counter for each random op of one draw) into a 62-bit
key, so every int - also the 63-bit per-parameter seeds of a plan - gives its own stream.
The same seed gives the same values on the same backend, device and dtype, and
different values on different backends (TF Philox, JAX threefry, torch generators).

.. warning::
   Keras' ``MultiHeadAttention`` (and other composite layers) clone the initializer's
   config for each sub-layer.  With native Keras, ``GlorotUniform(seed=1)`` therefore gives
   **identical** query, key and value kernels.  initspec keeps Keras'
   meaning of an int seed, so an int-seeded initspec initializer has the same pitfall, and
   so does a SeedGenerator (its config restarts from its initial seed).  The default
   ``seed=None`` draws new entropy on every call, so clones give distinct kernels.  For
   reproducible *and* distinct kernels, seed per parameter (an initspec plan derives each
   parameter's seed from its path) or give each projection its own initializer.

.. warning::
   Since Keras 3.15, ``EinsumDense`` (and so ``MultiHeadAttention``) hands the einsum's
   input/output axes to *VarianceScaling* initializers only, so native Glorot on a query
   kernel (E, H, D) uses fan_in = E, fan_out = H·D.  An initspec
   initializer is given just the shape, and ``layout="keras"`` reads a rank-3 kernel as a
   convolution (fan_in = H·E, fan_out = D·E).  For attention kernels pass explicit axes:
   ``layout=initspec.Axes(in_axes=(0,), out_axes=(1, 2))`` for query/key/value and
   ``Axes(in_axes=(0, 1), out_axes=(2,))`` for the output kernel (H, D, E).

Serialization
-------------
The class is registered as ``"initspec>InitSpecInitializer"``
(``keras.saving.register_keras_serializable(package="initspec")``).  Its config is
``spec.to_dict()`` plus ``"layout"`` and ``"seed"``, so ``model.save`` /
``keras.models.load_model`` and ``keras.initializers.serialize`` / ``get`` round-trip the
spec.  Keras is imported lazily, so the class only exists once this module has been used:
**call** :func:`register` (or :func:`initializer`) **before** ``load_model`` in a new
process, or pass ``custom_objects={"InitSpecInitializer": iskeras.InitSpecInitializer}``.

Truncated normal: ``keras.random.truncated_normal`` is not used - its cut is fixed at ±2σ,
and on the torch backend it returns an untruncated value about 4e-6 of the time.
Instead, when float precision allows (the usual case: bounds within
4σ in float32, 6σ in float64) initspec uses the inverse CDF, x = μ + σ·√2·erfinv(v) with
v uniform on [erf(α/√2), erf(β/√2)) - one pass, and faster than the native ±2σ sampler
on the TF and torch backends.  Deep tails and very wide bounds use exact rejection sampling instead: a normal,
uniform or translated-exponential proposal (Robert 1995) chosen by the interval.  Either
way no value falls outside [low, high] (the bounds rounded inward to the dtype).
Rejection needs concrete values, so it runs eagerly (not inside ``jax.jit``).

Plans
-----
``plan_walk`` / ``plan_write`` (from :mod:`initspec.adapters.keras.plan`) let
:func:`initspec.plan` and :func:`initspec.apply` walk and initialize a whole built Keras
model (Sequential, functional or subclassed) on any Keras backend; each parameter is drawn
with :func:`sample` from its own seed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import os
from typing import Any

from ... import distributions as D
from ...errors import SpecError
from ...parsing import parse
from ...resolution import resolve
from ...spec import Axes
from .._common import FLOAT_DTYPES, prepare, require, unsupported_dtype

__all__ = ["initializer", "register", "sample", "InitSpecInitializer", "HAAR_SIGN_CORRECTION", "plan_walk", "plan_write"]

#: Multiply Q by sign(diag R) after the QR (Mezzadri 2007) so orthogonal draws are Haar
#: distributed.  Read at call time; the conformance meta-tests turn it off to prove the
#: suite notices.
HAAR_SIGN_CORRECTION = True

# Seeds handed to keras.random stay below 2**31 - 2: the TF backend reduces each seed word
# modulo int32.max - 1, and the torch backend stores seeds as int32.
_SEED_MODULUS = 2**31 - 2
# Truncated normal by inverse CDF only for bounds within this many std of the mean: the
# backends' erfinv loses accuracy toward ±1 (measured against SciPy: TF float32 is off by
# 2e-4σ at 4σ and 2e-2σ at 5σ, TF float64 by 6e-6σ at 7σ; JAX float32 by 2e-5σ at 4σ).
_ICDF_MAX_STD_32, _ICDF_MAX_STD_64 = 4.0, 6.0
# ... and only while rounding v = erf(x/√2) to the dtype moves the CDF by at most this.
_ICDF_MAX_CDF_ERROR = 1e-6
# Below this probability of landing inside [low, high], rejection from the normal itself
# wastes too many draws: use a uniform or exponential proposal instead.
_NORMAL_PROPOSAL_MIN_MASS = 0.25
# Rejection rounds before giving up (each round draws a 6σ margin of extra candidates, so
# a second round is already a one-in-a-billion event).
_MAX_ROUNDS = 100
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
# Fallback for keras.src.backend.random_seed_dtype (the dtype of a SeedGenerator's state).
_SEED_DTYPES = {"tensorflow": "int64", "jax": "uint32", "torch": "int32", "numpy": "uint32"}


# ----------------------------------------------------------------------------- public API


def register() -> type:
    """Import Keras and register :class:`InitSpecInitializer` for deserialization.

    Call it before ``keras.models.load_model`` in a process that has not built an initspec
    initializer yet.  Idempotent; returns the class.
    """
    return _initializer_class()


def initializer(spec: Any, layout: Any = "keras", seed: Any = None) -> Any:
    """Compile ``spec`` into a Keras initializer for tensors stored in ``layout``
    (default ``"keras"``: ``(*kernel, in, out)``).  ``seed``: ``None`` (fresh values each
    call), an int (identical values each call) or a ``keras.random.SeedGenerator``."""
    return _initializer_class()(spec, layout=layout, seed=seed)


def __getattr__(name: str) -> Any:  # the class itself is built on first use (imports keras)
    if name == "InitSpecInitializer":
        return _initializer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sample(dist: D.Distribution, shape: Any = None, dtype: Any = None, seed: Any = None) -> Any:
    """Draw one tensor of the resolved ``dist`` with ``keras.random`` / ``keras.ops``.

    ``shape`` defaults to the distribution's; ``dtype`` to ``keras.config.floatx()``;
    ``seed`` is an int, a ``keras.random.SeedGenerator`` or ``None`` (fresh entropy).
    """
    keras = require("keras")
    ops = keras.ops
    if shape is None:
        shape = getattr(dist, "shape", None) or (dist.derivation.shape if dist.derivation else None)
        if shape is None:
            raise ValueError("distribution has no shape; pass shape= or resolve it with a shape first")
    shape = tuple(int(d) for d in shape)
    name = _dtype_name(keras, dtype)
    is_float = name in FLOAT_DTYPES
    if dist.random and not is_float:
        raise unsupported_dtype(name, dist.kind)
    if not is_float and name != "bool" and not name.startswith(("int", "uint")):
        raise unsupported_dtype(name, dist.kind)
    wd = "float64" if name == "float64" else "float32"  # work dtype: half precision is drawn in float32
    n = math.prod(shape)
    if isinstance(dist, D.Constant):
        if not is_float and dist.value != int(dist.value):
            raise _lossy(name, dist.value)
        return ops.full(shape, dist.value, dtype=name)
    if n == 0:
        return ops.zeros(shape, dtype=name)
    stream = _Stream(keras, seed) if dist.random else None
    if isinstance(dist, (D.Identity, D.Dirac)):
        if not is_float and isinstance(dist, D.Identity) and dist.gain != int(dist.gain):
            raise _lossy(name, dist.gain)
        x = (ops.eye(shape[0], shape[1], dtype=wd) * dist.gain if isinstance(dist, D.Identity)
             else ops.convert_to_tensor(dist.expected(), dtype=wd))  # fixed pattern, no randomness
    elif isinstance(dist, D.Uniform):
        x = _uniform(keras, shape, dist.lower, dist.upper, wd, stream.next())
    elif isinstance(dist, D.Normal):
        x = keras.random.normal(shape, mean=dist.loc, stddev=dist.scale, dtype=wd, seed=stream.next())
    elif isinstance(dist, D.TruncatedNormal):
        x = _truncated_normal(keras, dist, shape, wd, stream)
        if wd != name:  # rounding to half precision may step onto the far side of a bound
            x = ops.cast(x, name)
            lo, hi = _inward_bounds(dist, name)
            return ops.clip(x, lo, hi)
    elif isinstance(dist, D.Orthogonal):
        x = _orthogonal(keras, dist, wd, stream)
    elif isinstance(dist, D.DeltaOrthogonal):
        x = _delta_orthogonal(keras, dist, shape, wd, stream)
    elif isinstance(dist, D.Sparse):
        x = _sparse(keras, dist, shape, wd, stream)
    else:  # pragma: no cover - every resolved law is handled above
        raise TypeError(f"the Keras backend cannot draw {type(dist).__name__}")
    return x if wd == name else ops.cast(x, name)


# ----------------------------------------------------------------------------- dtypes and seeds


def _dtype_name(keras: Any, dtype: Any) -> str:
    if dtype is None:
        return keras.config.floatx()
    try:
        name = keras.backend.standardize_dtype(dtype)
    except (ValueError, TypeError, AttributeError):
        raise SpecError.single("unsupported_dtype", f"not a dtype Keras knows; use one of {', '.join(FLOAT_DTYPES)}",
                               loc=("dtype",), value=str(dtype)) from None
    if name == "float64" and keras.backend.backend() == "jax":
        import jax  # noqa: PLC0415 - the backend Keras runs on

        if jax.dtypes.canonicalize_dtype("float64") != "float64":  # honours `with jax.enable_x64(True)`
            raise SpecError.single(
                "unsupported_dtype", "the JAX backend computes float64 as float32 unless x64 is enabled: call "
                "jax.config.update('jax_enable_x64', True) first (or draw inside `with jax.enable_x64(True)`), "
                "or use float32", loc=("dtype",), value=name)
    return name


def _lossy(name: str, value: float) -> SpecError:
    return SpecError.single("unsupported_dtype", f"{value!r} is not an integer, so it cannot fill a {name} tensor: "
                            "use a float dtype", loc=("dtype",), value=name)


def _np_dtype(name: str) -> Any:
    import numpy as np  # noqa: PLC0415 - host arithmetic on scalars only

    if name == "bfloat16":
        import ml_dtypes  # noqa: PLC0415 - a Keras dependency

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _round_inward(value: float, name: str, direction: float) -> float:
    """``value`` rounded to dtype ``name``, stepping back toward ``direction`` (+1: up) if
    rounding moved it the other way - so a lower bound never drops, an upper never rises."""
    import numpy as np  # noqa: PLC0415

    dt = _np_dtype(name)
    v = dt.type(value)
    if (float(v) - value) * direction < 0:
        v = np.nextafter(v, dt.type(direction * math.inf))
    return float(v)


def _inward_bounds(dist: D.TruncatedNormal, name: str) -> tuple[float, float]:
    """[lower, upper] rounded inward to dtype ``name`` (never past the true bounds)."""
    return _round_inward(dist.lower, name, +1), _round_inward(dist.upper, name, -1)


def _fresh_seed() -> int:
    """64 bits of OS entropy (never Python ``random``, NumPy or a backend's global RNG)."""
    return int.from_bytes(os.urandom(8), "little")


def _check_seed(keras: Any, seed: Any) -> Any:
    if seed is None or isinstance(seed, keras.random.SeedGenerator):
        return seed
    if not isinstance(seed, bool):
        try:
            return operator.index(seed)  # int, numpy integer
        except TypeError:
            pass
    raise SpecError.single("bad_seed", "seed must be None (fresh values each call), an int (identical values "
                           "each call) or a keras.random.SeedGenerator", loc=("seed",), value=seed)


class _Stream:
    """The seeds of the successive random ops of one draw.

    A SeedGenerator is handed to keras.random as is (each op advances it); an int is hashed
    with the op's index into a two-word key, wrapped as a SeedGenerator whose ``next()``
    always returns that key (Keras' own int path keeps only one word).
    """

    def __init__(self, keras: Any, seed: Any):
        self._keras = keras
        seed = _check_seed(keras, seed)
        self._gen = seed if isinstance(seed, keras.random.SeedGenerator) else None
        self._base = _fresh_seed() if seed is None else seed
        self._count = 0

    def next(self) -> Any:
        if self._gen is not None:
            return self._gen
        digest = hashlib.blake2b(f"initspec.keras:{self._base}:{self._count}".encode(), digest_size=8).digest()
        self._count += 1
        words = (int.from_bytes(digest[:4], "little") % _SEED_MODULUS,
                 int.from_bytes(digest[4:], "little") % _SEED_MODULUS)
        return _fixed_seed_class()(words)


@functools.cache
def _fixed_seed_class() -> type:
    keras = require("keras")
    try:  # what keras.random's own draw_seed uses: the public ops wrapper costs ~100 µs a call
        from keras.src.backend import convert_to_tensor, random_seed_dtype  # noqa: PLC0415
    except ImportError:  # pragma: no cover - older/newer Keras layouts
        convert_to_tensor = keras.ops.convert_to_tensor

        def random_seed_dtype() -> str:
            return _SEED_DTYPES[keras.backend.backend()]

    class FixedSeed(keras.random.SeedGenerator):
        """A two-word key that ``keras.random`` accepts wherever it takes a SeedGenerator;
        ``next()`` returns the key without any state (no backend Variable is created)."""

        def __init__(self, words: tuple[int, int]):  # no super().__init__: nothing to track
            self.words = words

        def next(self, ordered: bool = True) -> Any:
            return convert_to_tensor(list(self.words), dtype=random_seed_dtype())

    return FixedSeed


# ----------------------------------------------------------------------------- samplers


def _uniform(keras: Any, shape: tuple[int, ...], low: float, high: float, wd: str, seed: Any) -> Any:
    """U[low, high) in ``wd``.  float64 is drawn as U[0, 1) and scaled here because the TF
    backend rounds float64 ``minval``/``maxval`` through float32 (``tf.cast`` of a Python
    float), which moves the bounds by up to 3e-8 relative."""
    if wd != "float64":
        return keras.random.uniform(shape, minval=low, maxval=high, dtype=wd, seed=seed)
    return keras.random.uniform(shape, dtype=wd, seed=seed) * (high - low) + low


def _truncated_normal(keras: Any, dist: D.TruncatedNormal, shape: tuple[int, ...], wd: str, stream: _Stream) -> Any:
    """Exact N(loc, scale²) restricted to [lower, upper], in work dtype ``wd``."""
    ops = keras.ops
    lo, hi = _inward_bounds(dist, wd)
    a, b = dist.alpha, dist.beta
    if _inverse_cdf_is_exact(a, b, dist.mass, wd):
        # x = √2·erfinv(v), v ~ U[erf(α/√2), erf(β/√2)): one pass, no data-dependent shapes
        va = _round_inward(math.erf(a / _SQRT2), wd, +1)
        vb = _round_inward(math.erf(b / _SQRT2), wd, -1)
        v = _uniform(keras, shape, va, vb, wd, stream.next())
        x = ops.erfinv(v) * (_SQRT2 * dist.scale)
        if dist.loc != 0.0:
            x = x + dist.loc
        return ops.clip(x, lo, hi)  # erfinv and the scaling can round one ulp past a bound
    propose, accept_rate = _proposal(keras, dist, wd, stream, lo, hi)
    n, pieces, rounds = math.prod(shape), [], 0
    while n:
        rounds += 1
        if rounds > _MAX_ROUNDS:  # pragma: no cover - needs a broken proposal
            raise RuntimeError(f"truncated normal rejection did not finish for {dist.describe()}")
        # enough candidates that a shortfall needs a 6-sigma binomial fluctuation
        m = math.ceil((n + 6.0 * math.sqrt(n * (1.0 - accept_rate))) / accept_rate) + 16
        y, ok = propose(m)
        got = _first_accepted(keras, y, ok, n)
        pieces.append(got)
        n -= int(ops.shape(got)[0])
    x = pieces[0] if len(pieces) == 1 else ops.concatenate(pieces)
    return ops.reshape(x, shape)


def _inverse_cdf_is_exact(a: float, b: float, mass: float, wd: str) -> bool:
    """Whether the inverse CDF in ``wd`` resolves [α, β] exactly enough.

    v = erf(x/√2) is only representable to ulp(|v|) ≈ eps near ±1, which shifts the CDF by
    up to ulp/(2·mass): keep that below 1e-6.  Beyond _ICDF_MAX_STD the backends' erfinv
    is too inaccurate (and v too close to ±1) to trust.
    """
    eps, t_max = (2.0**-52, _ICDF_MAX_STD_64) if wd == "float64" else (2.0**-23, _ICDF_MAX_STD_32)
    if max(abs(a), abs(b)) > t_max:
        return False
    ulp = eps * max(abs(math.erf(a / _SQRT2)), abs(math.erf(b / _SQRT2)), 0.5)
    return ulp / (2.0 * mass) <= _ICDF_MAX_CDF_ERROR


def _first_accepted(keras: Any, y: Any, ok: Any, need: int) -> Any:
    """The first ``need`` candidates ``y`` with ``ok`` set (all of them if fewer)."""
    ops = keras.ops
    if keras.backend.backend() != "jax":
        return ops.take(y, ops.nonzero(ok)[0][:need])
    # JAX compiles each eager op per shape, and nonzero's shape is the data-dependent count:
    # a stable partition (accepted first) by cumsum + scatter keeps every shape static.
    c = ops.cumsum(ops.cast(ok, "int32"))
    total = int(c[-1])
    pos = ops.where(ok, c - 1, total + ops.arange(ops.shape(y)[0], dtype="int32") - c)
    part = ops.scatter_update(ops.zeros_like(y), ops.expand_dims(pos, -1), y)
    return part[: min(need, total)]


def _proposal(keras: Any, dist: D.TruncatedNormal, wd: str, stream: _Stream, lo: float, hi: float) -> Any:
    """``(propose, rate)``: ``propose(m) -> (x, ok)`` gives m candidates in absolute units and
    which are accepted; ``rate`` is the expected fraction accepted.

    Accepted candidates are exact draws of the truncated law and lie in [lo, hi]:
    - mass >= 0.25: the parent normal itself, kept when inside;
    - a narrow interval: uniform on [α, β], accepted with prob exp((m² − z²)/2), where m
      is the point of the interval nearest 0;
    - a far tail: Robert's (1995) translated exponential with rate λ = (α + √(α²+4))/2,
      accepted with prob exp(−(z − λ)²/2).
    """
    ops, random = keras.ops, keras.random

    def inside(x: Any) -> Any:
        return ops.logical_and(ops.greater_equal(x, lo), ops.less_equal(x, hi))

    if dist.mass >= _NORMAL_PROPOSAL_MIN_MASS:
        def normal(m: int) -> tuple[Any, Any]:
            x = random.normal((m,), mean=dist.loc, stddev=dist.scale, dtype=wd, seed=stream.next())
            return x, inside(x)

        return normal, dist.mass
    a, b, sign = dist.alpha, dist.beta, 1.0
    if b <= 0:  # mirror a left interval onto the right
        a, b, sign = -b, -a, -1.0
    nearest = max(a, 0.0)
    use_uniform = a < 0 or (b - nearest) * (b + nearest) / 2.0 < 1.0
    lam = (a + math.sqrt(a * a + 4.0)) / 2.0
    # acceptance = ∫ proposal density × acceptance prob over [a, b], in closed form
    if use_uniform:
        rate = math.exp(nearest * nearest / 2.0) * _SQRT2PI * dist.mass / (b - a)
    else:
        rate = lam * math.exp(lam * a - lam * lam / 2.0) * _SQRT2PI * dist.mass

    def other(m: int) -> tuple[Any, Any]:
        u = random.uniform((2, m), dtype=wd, seed=stream.next())
        u1, u2 = u[0], u[1]
        log_u2 = ops.log1p(-u2)  # log of a uniform on (0, 1]: never -inf
        if use_uniform:
            z = a + (b - a) * u1
            accept = ops.less_equal(log_u2, (nearest * nearest - z * z) / 2.0)
        else:
            z = a - ops.log1p(-u1) / lam
            accept = ops.logical_and(ops.less_equal(log_u2, -ops.square(z - lam) / 2.0), ops.less_equal(z, b))
        x = (sign * dist.scale) * z + dist.loc
        return x, ops.logical_and(accept, inside(x))

    return other, min(rate, 1.0)


def _haar_matrix(keras: Any, rows: int, cols: int, wd: str, stream: _Stream) -> Any:
    """A Haar-random (rows, cols) matrix: orthonormal columns if rows >= cols, else rows."""
    ops = keras.ops
    a = keras.random.normal((max(rows, cols), min(rows, cols)), dtype=wd, seed=stream.next())
    q, r = ops.qr(a)  # reduced QR
    if HAAR_SIGN_CORRECTION:  # Mezzadri (2007): Q·sign(diag R), with sign(0) taken as +1
        d = ops.diagonal(r)
        one = ops.ones_like(d)
        q = q * ops.where(ops.less(d, 0), -one, one)
    return q if rows >= cols else ops.transpose(q)


def _orthogonal(keras: Any, dist: D.Orthogonal, wd: str, stream: _Stream) -> Any:
    ops = keras.ops
    q = ops.reshape(_haar_matrix(keras, dist.rows, dist.cols, wd, stream), dist.matrix_dims)
    perm = dist.inverse_perm
    if perm != tuple(range(len(perm))):
        q = ops.transpose(q, perm)
    return q * dist.gain if dist.gain != 1.0 else q


def _delta_orthogonal(keras: Any, dist: D.DeltaOrthogonal, shape: tuple[int, ...], wd: str, stream: _Stream) -> Any:
    ops = keras.ops
    block = dist.block  # (in, out), orthonormal rows
    m = _haar_matrix(keras, block.rows, block.cols, wd, stream) * dist.gain
    if dist.in_axis > dist.out_axis:
        m = ops.transpose(m)
    # the block with size-1 spatial axes, placed at the centre tap of a zero kernel
    update = ops.reshape(m, [d if a in (dist.in_axis, dist.out_axis) else 1 for a, d in enumerate(shape)])
    start = [0] * len(shape)
    for axis, c in zip(dist.spatial_axes, dist.centre):
        start[axis] = c
    return ops.slice_update(ops.zeros(shape, dtype=wd), start, update)


def _sparse(keras: Any, dist: D.Sparse, shape: tuple[int, ...], wd: str, stream: _Stream) -> Any:
    ops = keras.ops
    x = keras.random.normal(shape, stddev=dist.scale, dtype=wd, seed=stream.next())
    z = dist.zeros_per_column
    if not z:
        return x
    # rank of each element among its column's uniforms: exactly z ranks below z per column
    u = keras.random.uniform(shape, dtype=wd, seed=stream.next())
    rank = ops.argsort(ops.argsort(u, axis=dist.out_axis), axis=dist.out_axis)
    return ops.where(ops.less(rank, z), ops.zeros_like(x), x)


# ----------------------------------------------------------------------------- the Initializer


@functools.cache
def _initializer_class() -> type:
    keras = require("keras")

    @keras.saving.register_keras_serializable(package="initspec", name="InitSpecInitializer")
    class InitSpecInitializer(keras.initializers.Initializer):
        """An initspec spec as a Keras initializer; ``get_config()`` is the spec itself
        (plus ``layout`` and ``seed``).  See :mod:`initspec.adapters.keras` for seeding."""

        def __init__(self, spec: Any, layout: Any = "keras", seed: Any = None):
            self.spec, self.layout = prepare(spec, layout)
            if isinstance(seed, dict):  # a serialized SeedGenerator
                seed = keras.saving.deserialize_keras_object(seed)
            self.seed = _check_seed(keras, seed)

        def resolve(self, shape: Any) -> D.Distribution:
            """The law a tensor of ``shape`` receives (:func:`initspec.resolve`)."""
            return resolve(self.spec, _as_shape(shape), self.layout)

        def __call__(self, shape: Any, dtype: Any = None) -> Any:
            dist = self.resolve(shape)
            # `sample` is looked up in the module at call time (tests monkeypatch it)
            return sample(dist, _as_shape(shape), dtype, self.seed)

        def get_config(self) -> dict[str, Any]:
            layout = self.layout.model_dump(mode="json") if isinstance(self.layout, Axes) else self.layout
            seed = self.seed
            if isinstance(seed, keras.random.SeedGenerator):
                seed = keras.saving.serialize_keras_object(seed)
            return {**self.spec.to_dict(), "layout": layout, "seed": seed}

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> Any:
            config = dict(config)
            layout = config.pop("layout", "keras")
            seed = config.pop("seed", None)
            return cls(parse(config), layout=layout, seed=seed)

        def __repr__(self) -> str:
            layout = self.layout.model_dump(mode="json") if isinstance(self.layout, Axes) else self.layout
            seed = self.seed
            if isinstance(seed, keras.random.SeedGenerator):
                seed = f"SeedGenerator(seed={seed.get_config()['seed']!r})"
            return f"initspec.adapters.keras.initializer({self.spec.to_dict()!r}, layout={layout!r}, seed={seed!s})"

    InitSpecInitializer.__module__ = __name__
    InitSpecInitializer.__qualname__ = "InitSpecInitializer"  # picklable via the module __getattr__
    return InitSpecInitializer


def _as_shape(shape: Any) -> Any:
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        return shape  # let initspec.resolve report it as a ShapeError



