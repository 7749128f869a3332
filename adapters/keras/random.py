"""How the Keras backend draws each resolved law, with ``keras.random`` and ``keras.ops``.

``DRAW`` maps every :class:`~initspec.distributions.Distribution` type to a function
``fn(dist, out, rng, haar) -> tensor`` (the same names and signature in every backend's
``random.py``).  Keras is functional, so ``out`` only *describes* the result: its ``shape``,
the work ``dtype`` it is drawn in (float32, or float64 for float64 tensors) and the tensor's
own ``target`` dtype, which :func:`sample` casts to (a draw may return the target dtype
itself: constants, and truncated normals that clip after rounding).  ``rng`` is the seed
stream of one draw (:class:`_Stream`: ``rng.next()`` is the seed of the next random op, and
``rng.keras`` the Keras module); ``haar`` keeps the Haar sign correction of orthogonal draws.

The methods and their parameters come from :mod:`initspec.sampling`; only the framework
calls are here.  Nothing random goes through NumPy or a global generator.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from dataclasses import dataclass
from typing import Any

from ... import complexlaw
from ... import distributions as D
from ... import sampling
from ...errors import SpecError
from .._common import require

__all__ = ["DRAW", "sample", "check_dtype"]

#: Seeds handed to keras.random stay below 2**31 - 2: the TF backend reduces each seed word
#: modulo int32.max - 1, and the torch backend stores seeds as int32.
_SEED_MODULUS = 2**31 - 2
#: Rejection rounds before giving up (each round draws a 6σ margin of extra candidates, so a
#: second round is already a one-in-a-billion event).
_MAX_ROUNDS = 100
_SQRT2 = math.sqrt(2.0)
#: Fallback for keras.src.backend.random_seed_dtype (the dtype of a SeedGenerator's state).
_SEED_DTYPES = {"tensorflow": "int64", "jax": "uint32", "torch": "int32", "numpy": "uint32"}


@dataclass(frozen=True)
class _Out:
    """The tensor a draw function returns: ``shape``, drawn in the work ``dtype``; ``target``
    is the tensor's own dtype."""

    shape: tuple[int, ...]
    dtype: str
    target: str


# ----------------------------------------------------------------------------- dtypes


def _dtype_name(keras: Any, dtype: Any) -> str:
    if dtype is None:
        return keras.config.floatx()
    try:
        name = keras.backend.standardize_dtype(dtype)
    except (ValueError, TypeError, AttributeError):
        raise SpecError.single("unsupported_dtype", f"not a dtype Keras knows; use one of "
                               f"{', '.join(sampling.FLOAT_DTYPES)}", loc=("dtype",), value=str(dtype)) from None
    if name == "float64" and keras.backend.backend() == "jax":
        import jax  # noqa: PLC0415 - the backend Keras runs on

        from ..jax.random import x64_disabled  # noqa: PLC0415 - no JAX import at module level

        if jax.dtypes.canonicalize_dtype("float64") != "float64":  # honours `with jax.enable_x64(True)`
            raise x64_disabled("float64", "float32")
    return name


def check_dtype(keras: Any, dist: D.Distribution, dtype: Any) -> str:
    """The name of ``dtype`` (``None``: ``keras.config.floatx()``) once ``dist`` is known to
    fill it (:func:`initspec.sampling.check_dtype`; on the JAX backend float64 also needs
    x64); raises :class:`~initspec.SpecError` otherwise."""
    name = _dtype_name(keras, dtype)
    if name.startswith("complex") and dist.random:
        raise SpecError.single(
            "unsupported_dtype", f"{dist.kind} in {name}: Keras 3's random ops and initializers draw real floats only "
            "(keras.random.normal/uniform refuse complex dtypes); draw complex weights with the torch or JAX adapter, "
            "or use one of float16, bfloat16, float32, float64", loc=("dtype",), value=name)
    sampling.check_dtype(dist, name)
    return name


# ----------------------------------------------------------------------------- seeds


def _fresh_seed() -> int:
    """64 bits of OS entropy (never Python ``random``, NumPy or a backend's global RNG)."""
    return int.from_bytes(os.urandom(8), "little")


def _check_seed(keras: Any, seed: Any) -> Any:
    """``None``, a ``keras.random.SeedGenerator`` as is, or an int seed by the one seed rule
    (:func:`initspec.sampling.check_seed`: 0 to 2**64 - 1, so never Keras' -1 "fresh seed")."""
    if seed is None or isinstance(seed, keras.random.SeedGenerator):
        return seed
    try:
        return sampling.check_seed(seed)
    except SpecError:
        shown = f"an integer of {seed.bit_length()} bits" if isinstance(seed, int) and seed.bit_length() > 64 else seed
        raise SpecError.single("bad_seed", "seed must be None (fresh values each call), an integer from 0 to "
                               "2**64 - 1 (identical values each call) or a keras.random.SeedGenerator",
                               loc=("seed",), value=shown) from None


class _Stream:
    """The seeds of the successive random ops of one draw.

    A SeedGenerator is handed to keras.random as is (each op advances it); an int is hashed
    with the op's index into a two-word key, wrapped as a SeedGenerator whose ``next()``
    always returns that key (Keras' own int path keeps only one word).  ``None`` takes 64
    bits of OS entropy, on the first random op only.
    """

    def __init__(self, keras: Any, seed: Any):
        self.keras = keras
        seed = _check_seed(keras, seed)
        self._gen = seed if isinstance(seed, keras.random.SeedGenerator) else None
        self._base = seed
        self._count = 0

    def next(self) -> Any:
        if self._gen is not None:
            return self._gen
        if self._base is None:
            self._base = _fresh_seed()
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


# ----------------------------------------------------------------------------- the draws


def constant(dist: D.Constant, out: _Out, rng: _Stream, haar: bool) -> Any:
    return rng.keras.ops.full(out.shape, dist.value, dtype=out.target)  # one rounding, into the tensor's dtype


def fixed(dist: D.ConstantArray | D.STFTKernel, out: _Out, rng: _Stream, haar: bool) -> Any:
    """A given array (constant array, STFT kernel): its values, computed once in the core, in
    the tensor's dtype (half precision travels as float32, exactly)."""
    x = dist.values(out.target)
    if out.target in ("float16", "bfloat16"):
        x = x.astype("float32")
    return rng.keras.ops.convert_to_tensor(x, dtype=out.target)


def _uniform(keras: Any, shape: tuple[int, ...], low: float, high: float, wd: str, seed: Any) -> Any:
    """U[low, high) in ``wd``.  float64 is drawn as U[0, 1) and scaled here because the TF
    backend rounds float64 ``minval``/``maxval`` through float32 (``tf.cast`` of a Python
    float), which moves the bounds by up to 3e-8 relative."""
    if wd != "float64":
        return keras.random.uniform(shape, minval=low, maxval=high, dtype=wd, seed=seed)
    return keras.random.uniform(shape, dtype=wd, seed=seed) * (high - low) + low


def uniform(dist: D.Uniform, out: _Out, rng: _Stream, haar: bool) -> Any:
    return _uniform(rng.keras, out.shape, dist.low, dist.high, out.dtype, rng.next())


def normal(dist: D.Normal, out: _Out, rng: _Stream, haar: bool) -> Any:
    return rng.keras.random.normal(out.shape, mean=dist.loc, stddev=dist.scale, dtype=out.dtype, seed=rng.next())


def _inside(ops: Any, x: Any, lo: float, hi: float) -> Any:
    return ops.logical_and(ops.greater_equal(x, lo), ops.less_equal(x, hi))


def truncated_normal(dist: D.TruncatedNormal, out: _Out, rng: _Stream, haar: bool) -> Any:
    """Exact N(loc, scale²) restricted to the bounds, by the method
    :func:`initspec.sampling.truncation` chooses: every value lies strictly inside the bounds
    in the work dtype; a half-precision tensor holds those values rounded to its dtype, so
    a bound it can represent may be reached (never passed)."""
    keras, ops = rng.keras, rng.keras.ops
    n = math.prod(out.shape)
    t = sampling.truncation(dist, out.dtype, n, inverse_cdf=True, rejection=True)
    if t.method == "inverse_cdf":
        # x = loc + scale·√2·erfinv(v), v ~ U[v_lo, v_hi): one pass, no data-dependent shapes
        v = _uniform(keras, out.shape, t.v_lo, t.v_hi, out.dtype, rng.next())
        x = _inverse_cdf(keras, v, _SQRT2 * dist.scale, dist.loc, t.lo, t.hi)
    elif t.check_once:
        x = _normal_checked(keras, dist, t, out, rng)
    else:
        x = ops.reshape(_rejection(keras, dist, t, n, out.dtype, rng), out.shape)
    if out.target != out.dtype:  # rounding to half precision may step past a bound (onto it is the law)
        lo, hi = sampling.inward(dist.low, out.target, +1), sampling.inward(dist.high, out.target, -1)
        x = ops.clip(ops.cast(x, out.target), lo, hi)
    return x


def _inverse_cdf(keras: Any, v: Any, scale: float, loc: float, lo: float, hi: float) -> Any:
    """loc + scale·erfinv(v), clipped to [lo, hi] (erfinv and the scaling can round one ulp
    past a bound).  On the JAX backend one compiled pass: eager JAX runs each op as its own
    pass over the tensor, which made this 1.1x the native ±2σ sampler."""
    if keras.backend.backend() == "jax":
        return _jax_inverse_cdf()(v, scale, loc, lo, hi)
    ops = keras.ops
    x = ops.erfinv(v) * scale
    if loc != 0.0:
        x = x + loc
    return ops.clip(x, lo, hi)


@functools.cache
def _jax_inverse_cdf() -> Any:
    import jax  # noqa: PLC0415 - the backend Keras runs on
    from jax.scipy.special import erfinv  # noqa: PLC0415

    @jax.jit
    def inverse_cdf(v: Any, scale: Any, loc: Any, lo: Any, hi: Any) -> Any:
        # Python floats enter as weakly typed scalars: the result keeps v's dtype
        return jax.numpy.clip(erfinv(v) * scale + loc, lo, hi)

    return inverse_cdf


def _normal_checked(keras: Any, dist: D.TruncatedNormal, t: sampling.Truncation, out: _Out, rng: _Stream) -> Any:
    """Bounds that almost never cut: the parent normal, checked once; the rare value outside
    is replaced by an exact draw of the truncated law (each element is then a draw of the
    parent normal conditioned on landing inside)."""
    ops = keras.ops
    x = keras.random.normal(out.shape, mean=dist.loc, stddev=dist.scale, dtype=out.dtype, seed=rng.next())
    ok = _inside(ops, x, t.lo, t.hi)
    if bool(ops.convert_to_numpy(ops.all(ok))):
        return x
    flat, ok = ops.reshape(x, (-1,)), ops.reshape(ok, (-1,))
    bad = ops.nonzero(ops.logical_not(ok))[0]
    fill = _rejection(keras, dist, t, int(ops.shape(bad)[0]), out.dtype, rng)
    return ops.reshape(ops.scatter_update(flat, ops.expand_dims(bad, -1), fill), out.shape)


def _rejection(keras: Any, dist: D.TruncatedNormal, t: sampling.Truncation, n: int, wd: str, rng: _Stream) -> Any:
    """``n`` exact draws of the truncated law (a flat tensor) from ``t``'s proposal, in rounds
    of :func:`initspec.sampling.candidates` candidates."""
    ops = keras.ops
    pieces, rounds = [], 0
    while n:
        rounds += 1
        if rounds > _MAX_ROUNDS:  # pragma: no cover - needs a broken proposal
            raise RuntimeError(f"truncated normal rejection did not finish for {dist.describe()}")
        y, ok = _propose(keras, dist, t, sampling.candidates(n, t.rate), wd, rng)
        got = _first_accepted(keras, y, ok, n)
        pieces.append(got)
        n -= int(ops.shape(got)[0])
    return pieces[0] if len(pieces) == 1 else ops.concatenate(pieces)


def _propose(keras: Any, dist: D.TruncatedNormal, t: sampling.Truncation, m: int, wd: str, rng: _Stream) -> Any:
    """``(x, ok)``: ``m`` candidates in absolute units and which are accepted.  Accepted
    candidates are exact draws of the truncated law and lie in [lo, hi] (see
    :class:`initspec.sampling.Truncation` for the proposals)."""
    ops = keras.ops
    if t.method == "normal":
        x = keras.random.normal((m,), mean=dist.loc, stddev=dist.scale, dtype=wd, seed=rng.next())
        return x, _inside(ops, x, t.lo, t.hi)
    u = keras.random.uniform((2, m), dtype=wd, seed=rng.next())
    u1, u2 = u[0], u[1]
    log_u2 = ops.log1p(-u2)  # log of a uniform on (0, 1]: never -inf
    if t.method == "uniform":
        z = t.a + (t.b - t.a) * u1
        accept = ops.less_equal(log_u2, (t.nearest * t.nearest - z * z) / 2.0)
    else:  # exponential
        z = t.a - ops.log1p(-u1) / t.lam
        accept = ops.logical_and(ops.less_equal(log_u2, -ops.square(z - t.lam) / 2.0), ops.less_equal(z, t.b))
    x = (t.sign * dist.scale) * z + dist.loc
    return x, ops.logical_and(accept, _inside(ops, x, t.lo, t.hi))


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


def _diag_signs(ops: Any, r: Any) -> Any:
    """sign(diag R) as ±1 in R's dtype, sign(0) = +1 (TF does not promote float32 × float64)."""
    d = ops.diagonal(r)
    one = ops.ones_like(d)
    return ops.where(ops.less(d, 0), -one, one)


def _haar(keras: Any, rows: int, cols: int, wd: str, rng: _Stream, haar: bool) -> Any:
    """A Haar-random (rows, cols) matrix (:func:`initspec.sampling.haar`)."""
    ops = keras.ops
    z = keras.random.normal((max(rows, cols), min(rows, cols)), dtype=wd, seed=rng.next())
    return sampling.haar(z, rows, cols, qr=ops.qr, signs=functools.partial(_diag_signs, ops),
                         transpose=ops.transpose, correct=haar)


def orthogonal(dist: D.Orthogonal, out: _Out, rng: _Stream, haar: bool) -> Any:
    ops = rng.keras.ops
    q = ops.reshape(_haar(rng.keras, dist.rows, dist.cols, out.dtype, rng, haar), dist.matrix_dims)
    perm = dist.inverse_perm
    if perm != tuple(range(len(perm))):
        q = ops.transpose(q, perm)
    return q * dist.gain if dist.gain != 1.0 else q


def identity(dist: D.Identity, out: _Out, rng: _Stream, haar: bool) -> Any:
    return rng.keras.ops.eye(out.shape[0], out.shape[1], dtype=out.dtype) * dist.gain


def dirac(dist: D.Dirac, out: _Out, rng: _Stream, haar: bool) -> Any:
    return rng.keras.ops.convert_to_tensor(dist.expected(), dtype=out.dtype)  # a fixed pattern, no randomness


def delta_orthogonal(dist: D.DeltaOrthogonal, out: _Out, rng: _Stream, haar: bool) -> Any:
    ops = rng.keras.ops
    block = dist.block  # (in, out), orthonormal rows
    m = _haar(rng.keras, block.rows, block.cols, out.dtype, rng, haar) * dist.gain
    if dist.in_axis > dist.out_axis:
        m = ops.transpose(m)
    # the block with size-1 spatial axes, placed at the centre tap of a zero kernel
    update = ops.reshape(m, [d if a in (dist.in_axis, dist.out_axis) else 1 for a, d in enumerate(out.shape)])
    start = [0] * len(out.shape)
    for axis, c in zip(dist.spatial_axes, dist.centre):
        start[axis] = c
    return ops.slice_update(ops.zeros(out.shape, dtype=out.dtype), start, update)


def sparse(dist: D.Sparse, out: _Out, rng: _Stream, haar: bool) -> Any:
    keras, ops = rng.keras, rng.keras.ops
    x = keras.random.normal(out.shape, stddev=dist.scale, dtype=out.dtype, seed=rng.next())
    z = dist.zeros_per_column
    if not z:
        return x
    # rank of each element among its column's uniforms: exactly z ranks below z per column
    u = keras.random.uniform(out.shape, dtype=out.dtype, seed=rng.next())
    rank = ops.argsort(ops.argsort(u, axis=dist.out_axis), axis=dist.out_axis)
    return ops.where(ops.less(rank, z), ops.zeros_like(x), x)


def complex_(dist: complexlaw.Complex, out: _Out, rng: _Stream, haar: bool) -> Any:
    """Never drawn: Keras draws no complex tensors (:func:`check_dtype` refuses them first)."""
    raise SpecError.single("unsupported_dtype", "Keras 3's random ops draw real floats only: draw complex weights "
                           "with the torch or JAX adapter", loc=("dtype",), value=dist.describe())


#: How each law is drawn (tests check that every Distribution type has a row).
DRAW = {
    D.ConstantArray: fixed, D.STFTKernel: fixed,
    D.Constant: constant, D.Uniform: uniform, D.Normal: normal, D.TruncatedNormal: truncated_normal,
    D.Orthogonal: orthogonal, D.Identity: identity, D.Dirac: dirac, D.DeltaOrthogonal: delta_orthogonal,
    D.Sparse: sparse, complexlaw.Complex: complex_,
}


def sample(dist: D.Distribution, shape: Any = None, dtype: Any = None, seed: Any = None, *, haar: bool = True) -> Any:
    """Draw one tensor of the resolved ``dist`` with ``keras.random`` / ``keras.ops``.

    ``shape`` defaults to the distribution's; ``dtype`` to ``keras.config.floatx()``;
    ``seed`` is an int, a ``keras.random.SeedGenerator`` or ``None`` (fresh entropy).
    ``haar=False`` drops the Haar sign correction (the conformance suite's power gate uses
    it to prove it notices).
    """
    keras = require("keras")
    shape = sampling.law_shape(dist, shape)  # a law, and a shape it can fill (2.5 and -1 are errors)
    name = check_dtype(keras, dist, dtype)
    rng = _Stream(keras, seed)
    if not isinstance(dist, D.Constant) and math.prod(shape) == 0:
        return keras.ops.zeros(shape, dtype=name)
    x = DRAW[type(dist)](dist, _Out(shape, sampling.work_dtype(name), name), rng, haar)
    return x if keras.backend.standardize_dtype(x.dtype) == name else keras.ops.cast(x, name)
