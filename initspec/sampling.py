"""How to draw a resolved law: the decisions every backend shares, made once.

:func:`initspec.resolve` decides *what* law a tensor gets; this module decides the
framework-independent parts of *how* to draw it, so each backend's ``random.py`` only
calls its framework:

* **dtypes** - which dtypes a law can fill, and the work dtype it is drawn in
  (:func:`work_dtype`: half precision is drawn in float32 and rounded, float64 in float64);
* **bounds in a dtype** - a bound rounded *inward* (:func:`inward`), so a value that
  passes the test never lies beyond the true bound;
* **the truncated normal** - which method draws it exactly in a given dtype, and every
  parameter of that method (:func:`truncation`): the inverse CDF where the dtype resolves
  the interval, rejection from the parent normal, a uniform or a translated-exponential
  proposal (Robert 1995) elsewhere, and how many candidates a rejection round draws
  (:func:`candidates`);
* **Haar orthogonal matrices** - QR of a Gaussian matrix with the sign correction of
  Mezzadri (2007) (:func:`haar`), written once against a backend's three array ops.

Nothing here imports a framework (NumPy only, for dtype arithmetic on scalars).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

from . import complexlaw
from . import distributions as D
from .errors import ShapeError, SpecError

__all__ = [
    "FLOAT_DTYPES", "COMPLEX_DTYPES", "dtype_name", "np_dtype", "work_dtype", "check_dtype", "check_fits", "check_seed", "float_info",
    "unsupported_dtype", "inward", "MAX_SEED", "law_shape", "NORMAL_REACH",
    "Truncation", "truncation", "candidates", "haar",
]

#: The floating dtypes every backend draws random laws in.
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
#: The complex dtypes NumPy, torch and JAX draw the laws with a complex form in
#: (:mod:`initspec.complexlaw`).
COMPLEX_DTYPES = complexlaw.COMPLEX_DTYPES

#: Inverse CDF only for bounds within this many standard deviations of the mean: the
#: frameworks' erfinv loses accuracy toward ±1 (measured against SciPy: TF float32 is off by
#: 2e-4σ at 4σ and 2e-2σ at 5σ, TF float64 by 6e-6σ at 7σ; JAX float32 by 2e-5σ at 4σ).
ICDF_MAX_STD = {"float32": 4.0, "float64": 6.0}
#: ... and only while rounding v = erf(x/√2) to the dtype moves the CDF by at most this.
ICDF_MAX_CDF_ERROR = 1e-6
#: Below this probability of landing inside the bounds, rejection from the parent normal
#: wastes too many draws: a uniform or exponential proposal takes over.  (At 0.25 one normal
#: draw in four lands inside.)
NORMAL_PROPOSAL_MIN_MASS = 0.25
#: A rejection round draws enough candidates that falling short takes a 6-sigma binomial
#: fluctuation, plus this many.
CANDIDATE_MARGIN_SIGMAS, CANDIDATE_EXTRA = 6.0, 16

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


# ----------------------------------------------------------------------------- dtypes


def dtype_name(dtype: Any) -> str:
    """A dtype's canonical name ('float32', 'bfloat16', ...) from any framework's dtype object."""
    if isinstance(dtype, type) and issubclass(dtype, np.generic):  # np.float32 and friends
        return np.dtype(dtype).name
    if isinstance(dtype, type) and isinstance(getattr(dtype, "dtype", None), np.dtype):  # jnp.float32 and friends
        return dtype.dtype.name
    name = getattr(dtype, "name", None) or str(dtype)
    name = name.replace("torch.", "").replace("<dtype: '", "").rstrip("'>")
    return {"half": "float16", "float": "float32", "double": "float64"}.get(name, name)


def np_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a dtype name or object (bfloat16 through ``ml_dtypes``)."""
    name = dtype_name(dtype) if not isinstance(dtype, np.dtype) else dtype.name
    if name == "bfloat16":
        import ml_dtypes  # noqa: PLC0415 - optional, ships with JAX and Keras

        return np.dtype(ml_dtypes.bfloat16)
    try:
        return np.dtype(name)
    except TypeError:
        raise SpecError.single("unsupported_dtype", "not a dtype initspec knows", loc=("dtype",),
                               value=str(dtype)) from None


def work_dtype(dtype: Any) -> str:
    """The dtype a law is drawn in before rounding to ``dtype``: float64 for float64,
    float32 for everything else (the frameworks' half-precision generators keep only 7-10
    random mantissa bits, and none has a half-precision QR)."""
    return "float64" if dtype_name(dtype) == "float64" else "float32"


def unsupported_dtype(dtype: Any, scheme: str) -> SpecError:
    return SpecError.single(
        "unsupported_dtype", f"{scheme} draws random floats: use one of {', '.join(FLOAT_DTYPES)}",
        loc=("dtype",), value=dtype_name(dtype))


def check_dtype(dist: D.Distribution, dtype: Any) -> None:
    """Raise :class:`~initspec.SpecError` when ``dist`` cannot fill a tensor of ``dtype``:
    a random law needs a floating dtype; constant, identity and dirac also fill integer
    and bool tensors with integral values in the dtype's range (0 and 1 for bool).  A
    floating dtype must hold the law (:func:`check_fits`).  Every backend calls this before
    drawing, and plans call it for every row before anything is drawn (answers are cached
    by law and dtype: a model's thousands of rows share a few laws)."""
    name = dtype_name(dtype)
    # Equal laws compare equal whatever they were resolved from, but a complex dtype's answer
    # (and its message) depends on the scheme's namespace: keras.he_normal refuses complex64,
    # the equal generic He truncated normal takes JAX's form.  So the scheme is in the key.
    der = getattr(dist, "derivation", None) if name in COMPLEX_DTYPES else None
    scheme = der.spec.scheme if der is not None else None
    try:
        problem = _dtype_problem(dist, name, scheme)
    except TypeError:  # an unhashable law (never one of initspec's): check it uncached
        problem = _dtype_problem.__wrapped__(dist, name, scheme)
    if problem is not None:
        raise SpecError(problem.errors, title=problem.title)


@functools.lru_cache(maxsize=8192)
def _dtype_problem(dist: D.Distribution, name: str, scheme: str | None) -> SpecError | None:
    """``scheme`` only keys the cache (see :func:`check_dtype`)."""
    try:
        _check_dtype(dist, name)
    except SpecError as exc:
        return exc
    return None


def _check_dtype(dist: D.Distribution, name: str) -> None:
    if name in COMPLEX_DTYPES or isinstance(dist, complexlaw.Complex):
        _check_complex(dist, name)
        return
    if name in FLOAT_DTYPES:
        check_fits(dist, name)
        return
    if dist.random or not (name == "bool" or name.startswith(("int", "uint"))):
        raise unsupported_dtype(name, dist.kind)
    if isinstance(dist, D._Fixed):
        _check_entries(dist, name, _check_dtype)
        return
    field = {D.Constant: "value", D.Identity: "gain"}.get(type(dist))
    if field is None:
        return
    value = getattr(dist, field)
    if name == "bool":
        lo, hi = 0, 1
    else:
        try:
            info = np.iinfo(name)
        except (TypeError, ValueError):
            raise unsupported_dtype(name, dist.kind) from None
        lo, hi = int(info.min), int(info.max)
    if not math.isfinite(value) or value != int(value):
        raise SpecError.single("lossy_cast", f"{field} {value:g} does not fit a {name} tensor: use a floating "
                               "dtype or an integer value", loc=("dtype",), value=name)
    if not lo <= int(value) <= hi:
        raise SpecError.single("lossy_cast", f"{field} {value:g} does not fit a {name} tensor (it holds {lo} to "
                               f"{hi}; {name} would wrap it): use a wider dtype or a value in range",
                               loc=("dtype",), value=name)


def _check_complex(dist: D.Distribution, name: str) -> None:
    """A complex tensor: a fixed law fills it with value + 0i; a random one needs a complex
    form (:func:`initspec.complexlaw.complex_law`), whose parts fit the part dtype."""
    if name not in COMPLEX_DTYPES:
        raise SpecError.single("unsupported_dtype", f"{dist.describe()} is a complex law: it fills "
                               f"{' or '.join(COMPLEX_DTYPES)} tensors", loc=("dtype",), value=name)
    part = complexlaw.PART_DTYPES[name]
    if not dist.random:
        check_fits(dist, part)
        return
    law = complexlaw.complex_law(dist, name)
    if law.form == "parts":
        for p in law.parts:
            check_fits(p, part)
        return
    info = float_info(part)
    if law.radius > info.max:
        raise _overflow(law, name, "the largest modulus", law.radius, info.max, "use complex128 or a smaller scale")
    if law.scale < info.tiny:
        raise _underflow(law, name, "the scale", law.scale, info.tiny)


# ----------------------------------------------------------------------------- does the law fit the dtype

#: ``|mean| + NORMAL_REACH * std`` of an unbounded law must stay below the dtype's largest
#: number: a draw beyond 10 std has probability 1.5e-23.
NORMAL_REACH = 10.0


@dataclass(frozen=True)
class FloatInfo:
    """The limits of a floating dtype (known without ``ml_dtypes`` for bfloat16)."""

    max: float
    """The largest finite number."""
    tiny: float
    """The smallest positive normal number: below it a value keeps fewer bits than the dtype's precision."""
    subnormal: float
    """The smallest positive number: below it (half of it) a value rounds to 0."""


_FLOAT_INFO = {
    "float16": FloatInfo(65504.0, 2.0**-14, 2.0**-24),
    "bfloat16": FloatInfo(3.3895313892515355e38, 2.0**-126, 2.0**-133),
    "float32": FloatInfo(3.4028234663852886e38, 2.0**-126, 2.0**-149),
    "float64": FloatInfo(1.7976931348623157e308, 2.2250738585072014e-308, 5e-324),
    # torch's float8 tensors take the fixed laws (constant, identity, dirac), which must fit them too
    "float8_e4m3fn": FloatInfo(448.0, 2.0**-6, 2.0**-9),
    "float8_e5m2": FloatInfo(57344.0, 2.0**-14, 2.0**-16),
    "float8_e4m3fnuz": FloatInfo(240.0, 2.0**-7, 2.0**-10),
    "float8_e5m2fnuz": FloatInfo(57344.0, 2.0**-15, 2.0**-17),
}


def float_info(dtype: Any) -> FloatInfo:
    """The limits of one of :data:`FLOAT_DTYPES` (or of a float8 dtype; KeyError for others)."""
    return _FLOAT_INFO[dtype_name(dtype)]


def _overflow(dist: D.Distribution, name: str, what: str, value: float, limit: float, fix: str) -> SpecError:
    return SpecError.single(
        "dtype_overflow", f"{dist.describe()} does not fit {name}: {what} {value:.6g} is beyond its largest number "
        f"{limit:.6g}, so draws would be inf; {fix}", loc=("dtype",), value=name)


def _underflow(dist: D.Distribution, name: str, what: str, value: float, limit: float) -> SpecError:
    return SpecError.single(
        "dtype_underflow", f"{dist.describe()} does not fit {name}: {what} {value:.6g} is below its smallest normal "
        f"number {limit:.6g}, so draws would be zeros (or keep only a few bits); use a wider dtype (float32, "
        "float64) or a larger scale", loc=("dtype",), value=name)


def _too_narrow(dist: D.Distribution, name: str, low: float, high: float, count: int, open_: bool) -> SpecError:
    where = "strictly between" if open_ else "in [low, high) of"
    what = "no" if count == 0 else "only one"
    return SpecError.single(
        "interval_too_narrow", f"{what} {name} number lies {where} the bounds [{low!r}, {high!r}]"
        + (": every draw would be the same number" if count else "") + ": widen them (or use a wider dtype)",
        loc=("low",), value=(low, high))


def _values_in(low: float, high: float, name: str, open_: bool) -> int:
    """How many numbers of the float dtype ``name`` lie in [low, high) (``open_``: in
    (low, high)): 0, 1 or 2 (meaning two or more)."""
    lo, hi = inward(low, name, +1, strict=open_), inward(high, name, -1, strict=True)
    if lo > hi:
        return 0
    return 1 if lo == hi else 2


def check_fits(dist: D.Distribution, dtype: Any) -> None:
    """Raise :class:`~initspec.SpecError` when the law ``dist`` does not fit the floating
    ``dtype`` - the same rule in every backend, so none ever writes inf, NaN or an all-zero
    "random" tensor:

    * **overflow** (``dtype_overflow``): a constant, identity gain, bound or orthogonal gain
      beyond the dtype's largest number; ``|mean| + 10 std`` of a normal (or sparse) law
      beyond it; a uniform whose width ``high - low`` overflows the dtype it is drawn in; a
      truncated normal whose parent std does; an STFT kernel's window values or scaling sum
      (Σw², Σ|w|) beyond float32, which computes it for every dtype but float64;
    * **underflow** (``dtype_underflow``): a random law's scale (normal/sparse std, a
      truncated normal's std, the entries of an orthogonal matrix, gain/√n) below the dtype's
      smallest normal number; a normal or truncated normal std below the dtype's spacing at
      its mean (fewer than two numbers within ±std: the draws are the mean); a
      nonzero constant or identity gain below its smallest subnormal (it would round to 0);
      an STFT kernel's largest window value or scaling sum below float32's smallest normal;
    * **empty or one-point supports** (``interval_too_narrow``): fewer than two numbers of
      the dtype in a uniform's [low, high), or strictly inside a truncated normal's bounds.
    """
    name = dtype_name(dtype)
    info = float_info(name)
    work = float_info(work_dtype(name))
    if isinstance(dist, D._Fixed):
        if isinstance(dist, D.STFTKernel) and work_dtype(name) != "float64":
            _check_stft_work(dist, name)
        _check_entries(dist, name, check_fits)
        return
    if isinstance(dist, (D.Constant, D.Identity)):
        field = "value" if isinstance(dist, D.Constant) else "gain"
        v = abs(getattr(dist, field))
        if v > info.max:
            raise _overflow(dist, name, field, v, info.max, "use a wider dtype or a smaller value")
        if 0 < v < info.subnormal:
            raise SpecError.single(
                "dtype_underflow", f"{dist.describe()} does not fit {name}: {field} {v:.6g} is below its smallest "
                f"number {info.subnormal:.6g} and would round to 0; use a wider dtype or 0", loc=("dtype",), value=name)
        return
    if isinstance(dist, D.Uniform):
        top = max(abs(dist.low), abs(dist.high))
        if top > info.max:
            raise _overflow(dist, name, "the bound", top, info.max, "use a wider dtype or smaller bounds")
        if dist.high - dist.low > work.max:
            raise _overflow(dist, name, "the width high - low", dist.high - dist.low, work.max,
                            "use float64 or a narrower interval")
        count = _values_in(dist.low, dist.high, name, open_=False)
        if count < 2:
            raise _too_narrow(dist, name, dist.low, dist.high, count, open_=False)
        return
    if isinstance(dist, D.TruncatedNormal):
        top = max(abs(dist.low), abs(dist.high))
        if top > info.max:
            raise _overflow(dist, name, "the bound", top, info.max, "use a wider dtype or smaller bounds")
        if dist.scale > work.max:
            raise _overflow(dist, name, "the parent std", dist.scale, work.max,
                            "the law is uniform to within float precision: use scheme uniform")
        count = _values_in(dist.low, dist.high, name, open_=True)
        if count < 2:
            raise _too_narrow(dist, name, dist.low, dist.high, count, open_=True)
        if dist.std < info.tiny:  # a parent std of 5e-324: every draw 0
            raise _underflow(dist, name, "the std", dist.std, info.tiny)
        _check_spacing(dist, name, dist.mean, dist.std)
        return
    if isinstance(dist, (D.Normal, D.Sparse)):
        loc = dist.loc if isinstance(dist, D.Normal) else 0.0
        reach = abs(loc) + NORMAL_REACH * dist.scale
        if reach > info.max:
            raise _overflow(dist, name, f"|mean| + {NORMAL_REACH:g} std", reach, info.max,
                            "use a wider dtype or a smaller std")
        if dist.scale < info.tiny:
            raise _underflow(dist, name, "the std", dist.scale, info.tiny)
        _check_spacing(dist, name, loc, dist.scale)
        return
    if isinstance(dist, (D.Orthogonal, D.DeltaOrthogonal)):
        block = dist if isinstance(dist, D.Orthogonal) else dist.block
        if dist.gain > info.max:
            raise _overflow(dist, name, "the gain", dist.gain, info.max, "use a wider dtype or a smaller gain")
        if math.prod(dist.shape):
            entry = dist.gain / math.sqrt(block.sphere_dim)
            if entry < info.tiny:
                raise _underflow(dist, name, "an entry's scale gain/sqrt(n)", entry, info.tiny)


def _check_spacing(dist: D.Distribution, name: str, mean: float, std: float) -> None:
    """A normal-like law needs at least two ``name`` numbers within ±std of its mean: where
    the dtype's spacing at the mean exceeds twice the std, the draws round to the mean and
    its neighbours (N(255, 1e-37²) in bfloat16 is 255 everywhere; N(1e195, 0.05²) in float64)."""
    if _values_in(mean - std, mean + std, name, open_=False) < 2:
        raise SpecError.single(
            "dtype_underflow", f"{dist.describe()} does not fit {name}: its std {std:.6g} is below half the spacing "
            f"of {name} numbers at the mean {mean:.6g}, so the draws would be the mean (or its neighbours), not "
            "random; use a wider dtype or a larger std", loc=("dtype",), value=name)


def _check_stft_work(dist: D.STFTKernel, name: str) -> None:
    """An STFT kernel is computed in float32 for every dtype but float64 (as Keras does): the
    window and its scaling sum must stay in float32's range (a window of 1e204 gave NaN)."""
    from .stft import float32_problem

    t = dist.shape[-1] if dist.transposed else dist.shape[0]
    problem = float32_problem(dist.window, t, dist.periodic, dist.scaling)
    if problem is None:
        return
    code, what, value, limit = problem
    if code == "dtype_overflow":
        raise _overflow(dist, name, f"{what} (computed in float32)", value, limit, "use float64 or a smaller window")
    raise SpecError.single(
        "dtype_underflow", f"{dist.describe()} does not fit {name}: {what} {value:.6g} (computed in float32) is below "
        f"its smallest normal number {limit:.6g}, so the kernel would lose its digits or be inf; use float64 or a "
        "larger window", loc=("dtype",), value=name)


def _check_entries(dist: D.Distribution, name: str, check: Callable[[D.Distribution, str], None]) -> None:
    """A given array (constant array, STFT kernel) fits ``name`` when each entry would as a
    scalar constant; checking the few entries that decide it is enough: the least and the
    greatest (overflow, integer range; underflow only when even the largest entry rounds to
    0 - single entries rounding to 0 is what rounding does) and the first non-integral one
    (integer dtypes)."""
    x = dist._entries().ravel()  # type: ignore[attr-defined]
    if not x.size:
        return
    picks = [x.min(), x.max()]
    top = max(-picks[0], picks[1])
    fractional = np.flatnonzero(x != np.round(x))
    if fractional.size:
        picks.append(x[fractional[0]])
    for v in picks:
        try:
            check(D.Constant(value=float(v)), name)
        except SpecError as exc:
            e = exc.errors[0]
            if e.code == "dtype_underflow" and abs(v) < top:
                continue
            raise SpecError.single(e.code, f"an entry of {dist.describe()}: {e.message}", loc=("dtype",),
                                   value=name) from None


# ----------------------------------------------------------------------------- seeds

#: Seeds are integers in [0, MAX_SEED]: every framework takes them (torch's manual_seed and
#: JAX's keys hold 64 bits; NumPy takes any non-negative int).
MAX_SEED = 2**64 - 1


def check_seed(seed: Any, what: str = "seed") -> int:
    """The one seed rule every backend applies: an integer (Python's, NumPy's: anything with
    ``__index__``, never a bool) in [0, 2**64 - 1], returned as a Python int.  Anything else
    is a ``bad_seed`` :class:`~initspec.SpecError` - negative seeds included (frameworks
    disagree on what -1 means).  Backends that also take a generator object (NumPy's
    ``Generator``, a ``torch.Generator``) check for it before calling this."""
    import operator

    bad = (isinstance(seed, bool) or type(seed).__name__ == "bool_")
    value = None
    if not bad:
        try:
            value = operator.index(seed)
        except TypeError:
            bad = True
    if bad or value is None or not 0 <= value <= MAX_SEED:
        shown = seed
        if isinstance(seed, int) and not isinstance(seed, bool) and seed.bit_length() > 64:
            shown = f"an integer of {seed.bit_length()} bits"
        raise SpecError.single("bad_seed", f"{what} must be an integer from 0 to 2**64 - 1", loc=(what,),
                               value=shown)
    return value


def law_shape(dist: Any, shape: Any = None) -> tuple[int, ...]:
    """The shape a backend's low-level ``sample`` draws the resolved law ``dist`` in:
    ``shape`` checked as :func:`initspec.resolve` checks it (``None``: the shape the law was
    resolved for).  A :class:`~initspec.SpecError` when ``dist`` is not a resolved law, or a
    law that fills a given shape (orthogonal, identity, dirac ...) gets another one."""
    from .layout import check_shape

    if not isinstance(dist, D.Distribution):
        raise SpecError.single("wrong_type", "sample draws a resolved law: pass initspec.resolve(spec, shape, layout), "
                               "or call the backend's initializer(spec)", loc=("dist",), value=type(dist).__name__)
    own = getattr(dist, "shape", None)
    if shape is None:
        shape = own if own is not None else getattr(dist.derivation, "shape", None)
        if shape is None:
            raise ShapeError.single("bad_shape", f"{dist.kind} was resolved without a shape: pass shape=",
                                    loc=("shape",))
    shape = check_shape(shape)
    if own is not None and tuple(own) != shape:
        raise ShapeError.single("shape_mismatch", f"{dist.kind} was resolved for shape {tuple(own)}, not {shape}: "
                                "resolve the spec for this shape", loc=("shape",), value=shape)
    return shape


# ----------------------------------------------------------------------------- bounds in a dtype


def inward(value: float, dtype: Any, direction: int, *, strict: bool = False) -> float:
    """``value`` rounded to ``dtype`` toward the interior: ``direction`` +1 for a lower bound,
    -1 for an upper one, so a lower bound never drops and an upper never rises.  ``strict``
    also steps off the value itself (an open interval)."""
    if (dtype.name if isinstance(dtype, np.dtype) else dtype_name(dtype)) == "bfloat16":
        return _bfloat16_inward(inward(value, "float32", direction, strict=strict), direction)
    dt = np_dtype(dtype)
    v = np.array(value, dtype=np.float64).astype(dt)
    off = (float(v) - value) * direction
    if off < 0 or (strict and off == 0):
        v = np.nextafter(v, np.array(direction * np.inf, dtype=dt))
    return float(v)


def _bfloat16_inward(f: float, direction: int) -> float:
    """The bfloat16 number nearest the float32 ``f`` on the interior side (>= f for +1, <= f
    for -1) - without ``ml_dtypes`` (torch installs lack it): the bfloat16 numbers are the
    float32 numbers whose low 16 bits are zero, so when ``f`` is the float32 bound rounded
    inward, this is the bfloat16 bound rounded inward."""
    bits = int(np.array(f, dtype=np.float32).view(np.uint32))
    if not bits & 0xFFFF:
        return f
    toward_zero, away = bits & 0xFFFF0000, (bits & 0xFFFF0000) + 0x10000
    up, down = (away, toward_zero) if f > 0 else (toward_zero, away)
    return float(np.array(up if direction > 0 else down, dtype=np.uint32).view(np.float32))


# ----------------------------------------------------------------------------- truncated normal

Method = Literal["inverse_cdf", "ndtri", "normal", "uniform", "exponential"]


@dataclass(frozen=True)
class Truncation:
    """How to draw one truncated normal in one work dtype - exactly, with every value
    strictly inside ``(lo, hi)`` (the bounds rounded inward to the dtype).

    ``inverse_cdf``   x = loc + scale·√2·erfinv(v), v ~ U[v_lo, v_hi), then clip to [lo, hi]
    ``ndtri``         a one-sided interval mirrored into the lower tail, where Φ keeps its
                      relative precision: z = Φ⁻¹(p_lo + u·(p_hi - p_lo)), u ~ U[0, 1),
                      x = loc + sign·scale·z, then clip to [lo, hi]
    ``normal``        the parent normal, keeping the draws strictly inside (lo, hi); with
                      ``check_once`` fewer than one draw is expected outside, so one
                      min/max pass usually proves the whole tensor good
    ``uniform``       z ~ U[a, b], accepted with probability exp((nearest² - z²)/2)
    ``exponential``   z = a + Exp(lam), accepted with probability exp(-(z - lam)²/2) and z <= b

    For the proposals, [a, b] is the interval in parent standard deviations, mirrored onto
    the right half when it lies left of the mean (``sign`` -1); x = loc + sign·scale·z.
    ``rate`` is the expected fraction of candidates accepted.
    """

    method: Method
    lo: float
    hi: float
    rate: float = 1.0
    v_lo: float = 0.0
    v_hi: float = 0.0
    a: float = 0.0
    b: float = 0.0
    sign: float = 1.0
    lam: float = 0.0
    nearest: float = 0.0
    check_once: bool = False


def _inverse_cdf_is_exact(a: float, b: float, mass: float, wd: str) -> bool:
    """Whether the inverse CDF in ``wd`` resolves [α, β] exactly enough: v = erf(x/√2) is
    representable only to ulp(|v|) ≈ eps near ±1, which moves the CDF by up to
    ulp/(2·mass); keep that below :data:`ICDF_MAX_CDF_ERROR`, and the bounds within
    :data:`ICDF_MAX_STD` (beyond, the frameworks' erfinv is not accurate enough)."""
    eps = float(np.finfo(np_dtype(wd)).eps)
    if max(abs(a), abs(b)) > ICDF_MAX_STD[wd]:
        return False
    ulp = eps * max(abs(math.erf(a / _SQRT2)), abs(math.erf(b / _SQRT2)), 0.5)
    return ulp / (2.0 * mass) <= ICDF_MAX_CDF_ERROR


def truncation(dist: D.TruncatedNormal, dtype: Any, n: int, *, inverse_cdf: bool = True,
               rejection: bool = True) -> Truncation:
    """The method (and its parameters) that draws ``n`` values of ``dist`` in ``dtype``'s
    work dtype.  A backend says what it can do: ``inverse_cdf`` (it has erfinv and Φ⁻¹)
    and ``rejection`` (it can run data-dependent loops; not inside ``jax.jit``).

    Raises ``interval_too_narrow`` when no number of the work dtype lies strictly between
    the bounds - the same on every backend.
    """
    wd = work_dtype(dtype)
    lo, hi = inward(dist.low, wd, +1, strict=True), inward(dist.high, wd, -1, strict=True)
    if not lo <= hi:
        raise ShapeError.single(
            "interval_too_narrow", f"no {wd} number lies strictly between the bounds [{dist.low!r}, {dist.high!r}]: "
            "widen them (or use a wider dtype)", loc=("low",), value=(dist.low, dist.high))
    a, b, mass = dist.alpha, dist.beta, dist.mass
    if not rejection:  # a fixed number of operations: always an inverse CDF
        if a < 0.0 < b:
            one_below = float(np.nextafter(np.array(1.0, np_dtype(wd)), np.array(0.0, np_dtype(wd))))
            v_lo = max(inward(math.erf(a / _SQRT2), wd, +1), -one_below)
            v_hi = min(inward(math.erf(b / _SQRT2), wd, -1), one_below)
            return Truncation("inverse_cdf", lo, hi, v_lo=v_lo, v_hi=v_hi)
        flip = a >= 0.0  # right of the mean: draw the mirror image in the left tail
        left, right = (-b, -a) if flip else (a, b)
        p_lo, p_hi = (float(p) for p in D.std_normal_cdf(np.array([left, right])))
        return Truncation("ndtri", lo, hi, v_lo=p_lo, v_hi=p_hi, sign=-1.0 if flip else 1.0)
    # bounds that almost never cut (torch's std=0.02 at ±2: ±100σ); one value (n = 1) too, unless
    # the normal proposal would rarely land inside (mass 2e-39: 1e39 candidates)
    if mass >= max(1.0 - 1.0 / max(n, 1), NORMAL_PROPOSAL_MIN_MASS):
        return Truncation("normal", lo, hi, rate=mass, check_once=True)
    if inverse_cdf and _inverse_cdf_is_exact(a, b, mass, wd):
        v_lo = inward(math.erf(a / _SQRT2), wd, +1)
        v_hi = inward(math.erf(b / _SQRT2), wd, -1)
        return Truncation("inverse_cdf", lo, hi, v_lo=v_lo, v_hi=v_hi)
    if mass >= NORMAL_PROPOSAL_MIN_MASS:
        return Truncation("normal", lo, hi, rate=mass)
    sign = 1.0
    if b <= 0:  # mirror a left interval onto the right
        a, b, sign = -b, -a, -1.0
    nearest = max(a, 0.0)  # the point of [a, b] nearest the mean
    lam = (a + math.sqrt(a * a + 4.0)) / 2.0  # Robert's optimal rate
    # acceptance = ∫ proposal density × acceptance probability over [a, b], in closed form
    if a < 0 or (b - nearest) * (b + nearest) / 2.0 < 1.0:  # contains the mean, or narrow
        rate = math.exp(nearest * nearest / 2.0) * _SQRT2PI * mass / (b - a)
        return Truncation("uniform", lo, hi, rate=min(rate, 1.0), a=a, b=b, sign=sign, nearest=nearest)
    rate = lam * math.exp(lam * a - lam * lam / 2.0) * _SQRT2PI * mass
    return Truncation("exponential", lo, hi, rate=min(rate, 1.0), a=a, b=b, sign=sign, lam=lam)


def candidates(need: int, rate: float) -> int:
    """How many candidates a rejection round draws for ``need`` values at acceptance
    ``rate``: enough that a shortfall takes a 6-sigma binomial fluctuation."""
    spread = CANDIDATE_MARGIN_SIGMAS * math.sqrt(need * (1.0 - rate))
    return math.ceil((need + spread) / rate) + CANDIDATE_EXTRA


# ----------------------------------------------------------------------------- Haar orthogonal


def haar(z: Any, rows: int, cols: int, *, qr: Callable[[Any], tuple[Any, Any]], signs: Callable[[Any], Any],
         transpose: Callable[[Any], Any], correct: bool = True) -> Any:
    """A Haar-random (rows, cols) matrix: orthonormal columns when rows >= cols, else rows.

    ``z`` is a standard normal (max(rows, cols), min(rows, cols)) matrix.  Its reduced QR
    alone is not Haar distributed; Q·sign(diag R), with sign(0) taken as +1, is (Mezzadri
    2007).  ``qr``, ``signs`` (sign(diag R) as ±1 in R's dtype) and ``transpose`` are the
    backend's array ops; ``correct=False`` drops the correction (the conformance suite's
    power gate proves it notices).
    """
    q, r = qr(z)
    if correct:
        q = q * signs(r)
    return q if rows >= cols else transpose(q)
