"""The concrete distributions that :func:`initspec.resolve` produces.

Adapters draw samples from these and nothing else; the conformance suite checks samples
against them.  Each knows its ``mean``, ``std``, support (``low``/``high``, ±inf when
unbounded), raw moments and a vectorised ``cdf``, and carries the :class:`Derivation` that
says how it was obtained.  Plain Python floats and NumPy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .arrays import summarise_arrays
from .layout import Fans, Layout
from .spec import Axes, BaseSpec

__all__ = [
    "Derivation", "Distribution", "Constant", "Uniform", "Normal", "TruncatedNormal", "Orthogonal", "Identity",
    "Dirac", "DeltaOrthogonal", "Sparse", "ConstantArray", "STFTKernel", "std_normal_cdf", "truncated_std_normal",
    "TRUNC2_STD",
]

#: Standard deviation of N(0, 1) truncated to [-2, 2]: the variance correction that Keras
#: (``VarianceScaling``) and JAX (``variance_scaling``) divide by so a ±2σ-truncated normal
#: keeps the intended variance.  = sqrt(1 - 4φ(2)/(2Φ(2) - 1)).
TRUNC2_STD = 0.87962566103423978

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _phi(x: float) -> float:
    return 0.0 if math.isinf(x) else _INV_SQRT2PI * math.exp(-0.5 * x * x)


def _Phi(x: float) -> float:
    return 0.5 * math.erfc(-x * _INV_SQRT2)


def _mass(a: float, b: float) -> float:
    """P(a < Z < b) for a standard normal, accurate in both tails."""
    if a > 0:
        return 0.5 * (math.erfc(a * _INV_SQRT2) - math.erfc(b * _INV_SQRT2))
    if b < 0:
        return 0.5 * (math.erfc(-b * _INV_SQRT2) - math.erfc(-a * _INV_SQRT2))
    return _Phi(b) - _Phi(a)


def _pow(x: float, k: int) -> float:
    """``x**k`` for k = 0..4 by multiplication: a float that overflows becomes inf (``**``
    raises OverflowError instead)."""
    out = 1.0
    for _ in range(k):
        out *= x
    return out


def _raw(mean: float, central: tuple[float, ...], k: int) -> float:
    """E[X^k] from the mean and the central moments ``central[j]`` = E[(X - mean)^j], j = 0..4
    (exact where the raw moments themselves would cancel)."""
    return sum(math.comb(k, j) * _pow(mean, k - j) * central[j] for j in range(k + 1) if central[j] != 0.0)


#: Gauss-Legendre rule for the truncated normal's moments on narrow intervals: on the
#: intervals it serves (the density varies by at most e^60 across them) it is exact to
#: double precision.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)
#: The closed-form variance of a truncated N(0, 1) cancels catastrophically below this
#: (1 - ... on [a, b] narrow or far from the mean); there the moments are integrated.
_CLOSED_FORM_MIN_VAR = 0.05


def truncated_std_normal(a: float, b: float) -> tuple[float, float, tuple[float, ...]]:
    """``(mass, mean, central)`` of N(0, 1) restricted to [a, b] (a < b, finite or not):
    P(a < Z < b), the mean and the central moments (1, 0, c2, c3, c4) - accurate for any
    interval the mass of which is a normal float, narrow ones included (std 1 on
    [-1e-5, 1e-5]: 5.7735e-6, the uniform's; the closed form says 6.2e-6)."""
    mass = _mass(a, b)
    pa, pb = _phi(a), _phi(b)
    mean = (pa - pb) / mass if mass > 0 else math.nan
    ta = 0.0 if pa == 0.0 else a * pa
    tb = 0.0 if pb == 0.0 else b * pb
    var = 1.0 + (ta - tb) / mass - mean * mean if mass > 0 else math.nan
    if mass > 0 and var >= _CLOSED_FORM_MIN_VAR:
        ms = [1.0, mean, var + mean * mean]
        for k in (3, 4):
            ta = 0.0 if pa == 0.0 else _pow(a, k - 1) * pa
            tb = 0.0 if pb == 0.0 else _pow(b, k - 1) * pb
            ms.append((k - 1) * ms[k - 2] + (ta - tb) / mass)
        c3 = ms[3] - 3 * mean * ms[2] + 2 * mean**3
        c4 = ms[4] - 4 * mean * ms[3] + 6 * mean * mean * ms[2] - 3 * mean**4
        return mass, mean, (1.0, 0.0, var, c3, c4)
    # Integrate around the point of [a, b] nearest the mean, m: on t = m + s the density is
    # φ(m)·exp(-m·s - s²/2), so nothing underflows and the moments about m stay small numbers.
    m = min(max(0.0, a), b)
    sign = 1.0
    if m < 0:  # mirror a left interval onto the right
        a, b, m, sign = -b, -a, -m, -1.0
    lo, hi = a - m, b - m
    # beyond s = cut the density is below e^-60 of its peak (cut = sqrt(m² + 120) - m)
    cut = 120.0 / (m + math.sqrt(m * m + 120.0)) if m < 1e150 else 0.0
    hi = min(hi, cut)
    lo = max(lo, -cut)
    half, mid = 0.5 * (hi - lo), 0.5 * (hi + lo)
    s = mid + half * _GL_NODES
    w = half * _GL_WEIGHTS * np.exp(-m * s - 0.5 * s * s)
    total = float(w.sum())
    if not total > 0.0:  # narrower than the float spacing: the uniform limit
        width = hi - lo
        mass = _INV_SQRT2PI * math.exp(-0.5 * m * m) * width
        w2 = width * width
        return mass, sign * (m + mid), (1.0, 0.0, w2 / 12.0, 0.0, w2 * w2 / 80.0)
    mean_s = float((w * s).sum()) / total
    d = s - mean_s
    c2, c3, c4 = (float((w * d**k).sum()) / total for k in (2, 3, 4))
    mass = _INV_SQRT2PI * math.exp(-0.5 * m * m) * total
    return mass, sign * (m + mean_s), (1.0, 0.0, c2, sign * c3, c4)


_erfc_vec = np.frompyfunc(math.erfc, 1, 1)


def std_normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x), vectorised (SciPy's ``ndtr`` when installed, else ``math.erfc``)."""
    x = np.asarray(x, dtype=np.float64)
    try:
        from scipy.special import ndtr
    except ImportError:  # pragma: no cover - scipy is in the test extras
        return 0.5 * _erfc_vec(-x * _INV_SQRT2).astype(np.float64)
    return ndtr(x)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


@dataclass(frozen=True)
class Derivation:
    """How a distribution was obtained; shown by ``explain``."""

    spec: BaseSpec
    """The spec as given (a preset stays a preset)."""
    plain: BaseSpec
    """The plain spec the preset expands to (the same object for plain specs)."""
    shape: tuple[int, ...]
    layout: Layout | None
    fans: Fans | None = None
    mode: str | None = None
    fan: float | None = None
    gain: float | None = None
    scale: float | None = None
    variance: float | None = None
    correction: float | None = None
    notes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """Human-readable steps, one per line."""
        # a large array is shown by its shape, range and digest (initspec.arrays)
        out = [f"spec: {summarise_arrays(self.spec.to_dict())}"]
        if self.plain is not self.spec:
            out.append(f"expands to: {summarise_arrays(self.plain.to_dict())}")
        layout = self.layout.model_dump() if isinstance(self.layout, Axes) else self.layout
        out.append(f"shape: {self.shape}, layout: {layout}")
        if self.fans is not None:
            out.append(f"fans: {self.fans.describe()}")
        if self.gain is not None:
            out.append(f"gain: {self.gain:.6g}")
        if self.variance is not None:
            out.append(f"variance = scale / {self.mode} = {self.scale:.6g} / {self.fan:.6g} = {self.variance:.6g}")
        if self.correction is not None:
            out.append(f"truncation at ±2 parent std, parent std = sqrt(variance) / {self.correction}")
        out.extend(self.notes)
        return out


@dataclass(frozen=True, kw_only=True)
class Distribution:
    """Base of the resolved distributions."""

    kind: ClassVar[str] = ""
    #: Whether sampling consumes randomness.
    random: ClassVar[bool] = True
    #: How this distribution was derived (fans, gain, scale ...); not part of equality.
    derivation: Derivation | None = field(default=None, compare=False, repr=False)
    # every law has ``low`` and ``high`` (its support): fields of Uniform and TruncatedNormal,
    # properties elsewhere, class constants ±inf for the unbounded ones

    @property
    def mean(self) -> float:
        return self.moment(1)

    @property
    def var(self) -> float:
        m1 = self.moment(1)
        return max(self.moment(2) - m1 * m1, 0.0)

    @property
    def std(self) -> float:
        return math.sqrt(self.var)

    def moment(self, k: int) -> float:
        """Raw moment E[X^k] of one element, k = 0..4."""
        raise NotImplementedError

    def cdf(self, x: Any) -> np.ndarray:
        """P(X <= x) of one element, vectorised over ``x``."""
        raise NotImplementedError

    def describe(self) -> str:
        """A compact formula, e.g. ``U(-0.0625, 0.0625)``."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True, kw_only=True)
class Constant(Distribution):
    """Every element equals ``value``."""

    kind: ClassVar[str] = "constant"
    random: ClassVar[bool] = False
    value: float

    @property
    def low(self) -> float:
        return self.value

    high = low  # the support is the one point ``value``

    def moment(self, k: int) -> float:
        return self.value**k

    def cdf(self, x: Any) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) >= self.value).astype(np.float64)

    def describe(self) -> str:
        return f"constant {_fmt(self.value)}"


@dataclass(frozen=True, kw_only=True)
class Uniform(Distribution):
    """U[low, high)."""

    kind: ClassVar[str] = "uniform"
    low: float
    high: float

    @property
    def mean(self) -> float:
        return 0.5 * self.low + 0.5 * self.high

    @property
    def var(self) -> float:
        w = self.high - self.low
        return w * w / 12.0

    def moment(self, k: int) -> float:
        w2 = _pow(self.high - self.low, 2)
        return _raw(self.mean, (1.0, 0.0, w2 / 12.0, 0.0, w2 * w2 / 80.0), k)

    def cdf(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)

    def describe(self) -> str:
        return f"U({_fmt(self.low)}, {_fmt(self.high)})"


class _Unbounded:
    """Support (-inf, inf)."""

    low: ClassVar[float] = -math.inf
    high: ClassVar[float] = math.inf


@dataclass(frozen=True, kw_only=True)
class Normal(_Unbounded, Distribution):
    """N(loc, scale²), untruncated."""

    kind: ClassVar[str] = "normal"
    loc: float
    scale: float

    @property
    def mean(self) -> float:
        return self.loc

    @property
    def var(self) -> float:
        return self.scale * self.scale

    def moment(self, k: int) -> float:
        s2 = self.scale * self.scale
        return _raw(self.loc, (1.0, 0.0, s2, 0.0, 3.0 * s2 * s2), k)

    def cdf(self, x: Any) -> np.ndarray:
        return std_normal_cdf((np.asarray(x, dtype=np.float64) - self.loc) / self.scale)

    def describe(self) -> str:
        return f"N({_fmt(self.loc)}, {_fmt(self.scale)}²)"


@dataclass(frozen=True, kw_only=True)
class TruncatedNormal(Distribution):
    """The parent N(loc, scale²) restricted to [low, high] (absolute bounds).

    ``loc``/``scale`` are the parent's; :attr:`mean`/:attr:`std` are the result's.
    """

    kind: ClassVar[str] = "truncated_normal"
    loc: float
    scale: float
    low: float
    high: float

    @property
    def alpha(self) -> float:
        """Lower bound in parent standard deviations."""
        return (self.low - self.loc) / self.scale

    @property
    def beta(self) -> float:
        """Upper bound in parent standard deviations."""
        return (self.high - self.loc) / self.scale

    def _standard(self) -> tuple[float, float, tuple[float, ...]]:
        """(mass, mean, central moments) of the law in parent standard deviations."""
        cached = self.__dict__.get("_standard_cache")
        if cached is None:
            cached = truncated_std_normal(self.alpha, self.beta)
            object.__setattr__(self, "_standard_cache", cached)
        return cached

    @property
    def mass(self) -> float:
        """Probability of [low, high] under the parent normal."""
        return self._standard()[0]

    @property
    def mean(self) -> float:
        return self.loc + self.scale * self._standard()[1]

    @property
    def var(self) -> float:
        return self.scale * self.scale * self._standard()[2][2]

    def moment(self, k: int) -> float:
        _, _, c = self._standard()
        s = self.scale
        return _raw(self.mean, tuple(_pow(s, j) * c[j] for j in range(5)), k)

    def cdf(self, x: Any) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=np.float64), self.low, self.high)
        fa = _Phi(self.alpha)
        return np.clip((std_normal_cdf((x - self.loc) / self.scale) - fa) / self.mass, 0.0, 1.0)

    def describe(self) -> str:
        return (f"N({_fmt(self.loc)}, {_fmt(self.scale)}²) truncated to [{_fmt(self.low)}, {_fmt(self.high)}]"
                f" (std {_fmt(self.std)})")


@dataclass(frozen=True, kw_only=True)
class _Structured(Distribution):
    """Base of the distributions that depend on where an element sits in the tensor."""

    shape: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Orthogonal(_Structured):
    """A Haar-random (semi-)orthogonal matrix times ``gain``.

    The tensor is viewed as a matrix with ``rows`` = product of the other axes and
    ``cols`` = product of ``out_axes``: its columns are orthonormal when rows >= cols,
    its rows otherwise.  To draw: sample Q (rows, cols), reshape it to
    ``[shape[a] for a in other_axes + out_axes]`` and transpose by :attr:`inverse_perm`.
    Each entry is ``gain`` times a coordinate of a uniform point on the sphere of
    dimension n = max(rows, cols): mean 0, variance gain²/n.
    """

    kind: ClassVar[str] = "orthogonal"
    gain: float
    out_axes: tuple[int, ...]

    @property
    def other_axes(self) -> tuple[int, ...]:
        return tuple(a for a in range(len(self.shape)) if a not in self.out_axes)

    @property
    def rows(self) -> int:
        return math.prod(self.shape[a] for a in self.other_axes)

    @property
    def cols(self) -> int:
        return math.prod(self.shape[a] for a in self.out_axes)

    @property
    def matrix_dims(self) -> tuple[int, ...]:
        """Shape to reshape the (rows, cols) matrix to before transposing."""
        return tuple(self.shape[a] for a in self.other_axes + self.out_axes)

    @property
    def inverse_perm(self) -> tuple[int, ...]:
        perm = self.other_axes + self.out_axes
        return tuple(int(i) for i in np.argsort(perm))

    @property
    def sphere_dim(self) -> int:
        """max(rows, cols) - at least 1, so an empty tensor's (unused) law stays defined."""
        return max(self.rows, self.cols, 1)

    @property
    def low(self) -> float:
        return -self.gain

    @property
    def high(self) -> float:
        return self.gain

    def moment(self, k: int) -> float:
        n, g2 = self.sphere_dim, self.gain * self.gain
        return [1.0, 0.0, g2 / n, 0.0, 3 * (g2 / n) * (g2 / (n + 2))][k]

    def cdf(self, x: Any) -> np.ndarray:
        from scipy.special import betainc  # conformance extra

        t = np.clip(np.asarray(x, dtype=np.float64) / self.gain, -1.0, 1.0)
        n = self.sphere_dim
        if n == 1:
            return np.where(t < 0, 0.0, np.where(t < 1, 0.5, 1.0))
        half = 0.5 * betainc(0.5, (n - 1) / 2.0, t * t)
        return np.where(t < 0, 0.5 - half, 0.5 + half)

    def describe(self) -> str:
        return f"orthogonal {self.rows}x{self.cols} (kept axes {self.out_axes}) x gain {_fmt(self.gain)}"


@dataclass(frozen=True, kw_only=True)
class Identity(_Unbounded, _Structured):
    """gain · eye(rows, cols) (2-D)."""

    kind: ClassVar[str] = "identity"
    random: ClassVar[bool] = False
    gain: float

    def expected(self) -> np.ndarray:
        return self.gain * np.eye(*self.shape)

    def moment(self, k: int) -> float:
        n = math.prod(self.shape)
        return (min(self.shape) / n * _pow(self.gain, k)) if n and k else 1.0

    def describe(self) -> str:
        return f"{_fmt(self.gain)} x eye{self.shape}"


@dataclass(frozen=True, kw_only=True)
class Dirac(_Unbounded, _Structured):
    """Dirac delta kernels: for each group g and d < min(out/groups, in),
    ``w[out=g·(out/groups)+d, in=d, centre...] = 1`` with centre = k//2 (as torch)."""

    kind: ClassVar[str] = "dirac"
    random: ClassVar[bool] = False
    groups: int
    out_axis: int
    in_axis: int
    spatial_axes: tuple[int, ...]

    @property
    def count(self) -> int:
        """How many elements are 1 (without listing them)."""
        if not math.prod(self.shape):
            return 0
        return self.groups * min(self.shape[self.out_axis] // self.groups, self.shape[self.in_axis])

    def one_positions(self) -> list[tuple[int, ...]]:
        """Every index set to 1."""
        out_per_group = self.shape[self.out_axis] // self.groups
        n = min(out_per_group, self.shape[self.in_axis])
        centre = {a: self.shape[a] // 2 for a in self.spatial_axes}
        positions = []
        for g in range(self.groups):
            for d in range(n):
                idx = [0] * len(self.shape)
                idx[self.out_axis] = g * out_per_group + d
                idx[self.in_axis] = d
                for a, c in centre.items():
                    idx[a] = c
                positions.append(tuple(idx))
        return positions

    def expected(self) -> np.ndarray:
        out = np.zeros(self.shape)
        for idx in self.one_positions():
            out[idx] = 1.0
        return out

    def moment(self, k: int) -> float:
        n = math.prod(self.shape)
        return (self.count / n) if n and k else 1.0

    def describe(self) -> str:
        return f"dirac kernels, groups={self.groups}, centre k//2"


@dataclass(frozen=True, kw_only=True)
class DeltaOrthogonal(_Unbounded, _Structured):
    """An orthogonal (in, out) matrix times ``gain`` at the centre tap ((k-1)//2 on every
    spatial axis, as JAX), zeros elsewhere (Xiao et al. 2018)."""

    kind: ClassVar[str] = "delta_orthogonal"
    gain: float
    in_axis: int
    out_axis: int
    spatial_axes: tuple[int, ...]

    @property
    def centre(self) -> tuple[int, ...]:
        return tuple((self.shape[a] - 1) // 2 for a in self.spatial_axes)

    @property
    def block(self) -> Orthogonal:
        """The law of the centre tap as an (in, out) matrix with orthonormal rows."""
        return Orthogonal(shape=(self.shape[self.in_axis], self.shape[self.out_axis]), gain=self.gain,
                          out_axes=(1,))

    def moment(self, k: int) -> float:
        n = math.prod(self.shape)
        frac = self.shape[self.in_axis] * self.shape[self.out_axis] / n if n else 0.0
        return 1.0 if k == 0 else frac * self.block.moment(k)

    def describe(self) -> str:
        return (f"delta-orthogonal: orthogonal {self.shape[self.in_axis]}x{self.shape[self.out_axis]} x gain "
                f"{_fmt(self.gain)} at centre {self.centre}, zeros elsewhere")


@dataclass(frozen=True, kw_only=True)
class Sparse(_Unbounded, _Structured):
    """N(0, std²) with exactly ``zeros_per_column`` zeros along ``out_axis`` for every
    index of ``in_axis`` (torch ``sparse_``: ceil(sparsity · rows) per column)."""

    kind: ClassVar[str] = "sparse"
    scale: float
    sparsity: float
    zeros_per_column: int
    out_axis: int
    in_axis: int

    @property
    def zero_fraction(self) -> float:
        n = self.shape[self.out_axis]
        return self.zeros_per_column / n if n else 0.0

    @property
    def nonzero(self) -> Normal:
        return Normal(loc=0.0, scale=self.scale)

    def moment(self, k: int) -> float:
        return 1.0 if k == 0 else (1.0 - self.zero_fraction) * self.nonzero.moment(k)

    def cdf(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        f = self.zero_fraction
        return f * (x >= 0) + (1.0 - f) * self.nonzero.cdf(x)

    def describe(self) -> str:
        return (f"N(0, {_fmt(self.scale)}²) with {self.zeros_per_column} of {self.shape[self.out_axis]} "
                f"entries zero in each column")


def _np_dtype(dtype: Any) -> np.dtype:
    """A NumPy dtype or a dtype name as a NumPy dtype (bfloat16 through ``ml_dtypes``)."""
    if isinstance(dtype, np.dtype):
        return dtype
    if str(dtype) == "bfloat16":
        import ml_dtypes  # noqa: PLC0415 - optional, ships with JAX and Keras

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


@dataclass(frozen=True, kw_only=True)
class _Fixed(_Structured):
    """Base of the laws that are one given array (no randomness): :meth:`values` is the
    tensor itself, computed once in NumPy; every backend writes it as is."""

    random: ClassVar[bool] = False

    def values(self, dtype: Any = "float64") -> np.ndarray:
        """The whole tensor in ``dtype`` (a NumPy dtype or a dtype name), C order."""
        raise NotImplementedError

    def expected(self) -> np.ndarray:
        """The float64 values (what plots and exact checks compare with)."""
        return self._exact()

    def _exact(self) -> np.ndarray:
        """The float64 values (cached: moments, bounds and the dtype checks read them)."""
        cached = self.__dict__.get("_exact_cache")
        if cached is None:
            cached = np.ascontiguousarray(self.values("float64"), dtype=np.float64)
            cached.setflags(write=False)
            object.__setattr__(self, "_exact_cache", cached)
        return cached

    def _entries(self) -> np.ndarray:
        """Float64 values in which each of the tensor's values is as frequent as in the tensor
        (the moments, bounds, CDF and dtype checks read these): the tensor itself by default."""
        return self._exact()

    @property
    def low(self) -> float:
        x = self._entries()
        return float(x.min()) if x.size else 0.0

    @property
    def high(self) -> float:
        x = self._entries()
        return float(x.max()) if x.size else 0.0

    def moment(self, k: int) -> float:
        x = self._entries()
        return float(np.mean(x**k)) if x.size and k else 1.0

    def cdf(self, x: Any) -> np.ndarray:
        v = np.sort(self._entries().ravel())
        return np.searchsorted(v, np.asarray(x, dtype=np.float64), side="right") / max(v.size, 1)


@dataclass(frozen=True, kw_only=True)
class ConstantArray(_Fixed):
    """``value`` broadcast to the tensor's shape (NumPy rules; ``constant`` with an array)."""

    kind: ClassVar[str] = "constant_array"
    value: Any
    """The :class:`~initspec.arrays.ArrayValue` (float64, in the tensor's storage order)."""

    def values(self, dtype: Any = "float64") -> np.ndarray:
        return np.broadcast_to(self.value.array, self.shape).astype(_np_dtype(dtype))

    def _entries(self) -> np.ndarray:
        # broadcasting repeats every entry of the value equally often: its entries have the
        # tensor's moments and CDF without materialising a (1e5, 1e5) tensor to resolve it
        return self.value.array if math.prod(self.shape) else np.empty(0)

    def describe(self) -> str:
        how = "" if tuple(self.value.shape) == tuple(self.shape) else f" broadcast to {self.shape}"
        text = self.value.summary()  # a large array's summary starts with "array (shape)"
        return f"constant {'' if text.startswith('array') else 'array '}{text}{how}"


@dataclass(frozen=True, kw_only=True)
class STFTKernel(_Fixed):
    """Keras' STFT kernel (:mod:`initspec.stft`): (frame_length, 1, fft_bins), transposed
    to (fft_bins, 1, frame_length) when ``transposed`` (torch's Conv1d layout)."""

    kind: ClassVar[str] = "stft"
    side: str
    window: Any
    """A window name, ``"none"``, or an :class:`~initspec.arrays.ArrayValue` of frame_length values."""
    scaling: str
    periodic: bool
    transposed: bool = False

    def values(self, dtype: Any = "float64") -> np.ndarray:
        from .stft import stft_kernel

        dt = _np_dtype(dtype)
        if not math.prod(self.shape):  # no values (and no (T, 1, 2**40) frequency axis to compute)
            return np.zeros(self.shape, dt)
        t, _, f = self.shape[::-1] if self.transposed else self.shape
        k = stft_kernel(t, f, side=self.side, window=self.window, scaling=self.scaling, periodic=self.periodic,
                        dtype=dt.name)
        if self.transposed:
            k = k.transpose(2, 1, 0)
        return np.ascontiguousarray(k).astype(dt)

    def describe(self) -> str:
        window = self.window if isinstance(self.window, str) else f"given {self.window.summary()}"
        return (f"STFT {self.side} kernel, window {window}{' (periodic)' if self.periodic else ''}, "
                f"scaling {self.scaling}")
