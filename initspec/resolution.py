"""Resolution: ``spec + shape + layout -> distribution``.

This is the only place where initialization math lives - fans, gains, scale, truncation
correction and bounds - in plain Python, with no framework imported.  Adapters draw from
the result; ``explain`` prints it; the conformance suite tests samples against it.

>>> import initspec
>>> d = initspec.resolve({"scheme": "he", "distribution": "truncated_normal"}, (256, 128), layout="torch")
>>> round(d.std, 6), d.derivation.fans.fan_in
(0.125, 128)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np
from pydantic import ValidationError

from . import distributions as D
from .arrays import ArrayValue, fits_shape
from .distributions import Derivation
from .errors import ShapeError, SpecError, safe_value
from .gain import gain_value, nonlinearity_gain
from .layout import Layout, check_shape, compute_fans, normalize_layout, output_axes
from .parsing import expansion_error
from .presets import KerasSTFT, Preset
from . import spec as S
from .spec import Axes, BaseSpec

__all__ = ["resolve", "Derivation", "expand"]


def expand(spec: BaseSpec) -> BaseSpec:
    """The plain spec behind a preset (plain specs are returned unchanged)."""
    return spec.expand() if isinstance(spec, Preset) else spec


def resolve(spec: Any, shape: Any, layout: Any = None) -> D.Distribution:
    """Resolve ``spec`` for a tensor of ``shape`` stored in ``layout``.

    ``spec`` is a spec model or a dict (parsed with :func:`initspec.parse`).  ``layout`` is
    ``"torch"``, ``"keras"``, ``"jax"``, ``"flax"`` or :class:`~initspec.Axes`; it is
    required for schemes that read fans or output axes.  Raises :class:`~initspec.SpecError`
    (or its subclass :class:`~initspec.ShapeError`) for anything invalid.
    """
    if not isinstance(spec, BaseSpec):
        from .parsing import parse

        spec = parse(spec)
    shape = check_shape(shape)
    if layout is not None:
        layout = normalize_layout(layout)
    return _resolve_cached(spec, shape, layout)


@functools.lru_cache(maxsize=4096)
def _resolve_cached(spec: BaseSpec, shape: tuple[int, ...], layout: Layout | None) -> D.Distribution:
    try:
        plain = expand(spec)
        ctx = _Ctx(spec, plain, shape, layout)
        handler = _HANDLERS.get(type(plain))
        if handler is None:  # pragma: no cover - every plain scheme has a handler (tested)
            raise TypeError(f"no resolution for {type(plain).__name__}")
        dist = handler(ctx, plain)
        _check_finite(dist, spec, shape)
    except ValidationError as exc:  # a preset whose fields make an invalid plain spec
        raise expansion_error(spec, exc) from None
    except (ArithmeticError, ValueError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise _non_finite(spec, shape, f"computing the law failed ({type(exc).__name__}: {exc})") from None
    return dist


def _culprit(spec: BaseSpec, shape: tuple[int, ...]) -> tuple[tuple[str, ...], Any]:
    """The field most likely behind a non-finite law: the number of largest magnitude (or the
    shape, when a dimension is what is huge)."""
    best: tuple[float, tuple[str, ...], Any] = (-1.0, (), None)
    for name, value in spec.to_dict().items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            size = abs(math.log2(abs(value))) if value else 0.0
            if size > best[0]:
                best = (size, (name,), value)
        elif isinstance(value, dict):  # a gain given as {nonlinearity: leaky_relu, negative_slope: ...}
            for sub, v in value.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v:
                    size = abs(math.log2(abs(v)))
                    if size > best[0]:
                        best = (size, (name, sub), v)
    if shape and max(shape) > 2**40 and math.log2(max(shape)) > best[0]:
        return ("shape",), shape
    return best[1], best[2]


def _non_finite(spec: BaseSpec, shape: tuple[int, ...], what: str) -> SpecError:
    loc, value = _culprit(spec, shape)
    return SpecError.single(
        "non_finite_law", f"{spec.scheme} on shape {_short_shape(shape)}: {what}; the numbers are beyond what a "
        "float64 holds - bring them into a sensible range", loc=loc,
        value=safe_value(value) if value is not None else spec.to_dict())


def _short_shape(shape: tuple[int, ...]) -> str:
    text = str(tuple(d if d < 10**15 else f"~2**{d.bit_length()}" for d in shape)).replace("'", "")
    return text


def _check_finite(dist: D.Distribution, spec: BaseSpec, shape: tuple[int, ...]) -> None:
    """Every number of a resolved law - its parameters, mean, variance and (finite by nature)
    bounds - is finite; a finite spec can still overflow (``gain: 1e300`` squares to inf)."""
    numbers: dict[str, float] = {}
    for f in dataclasses.fields(dist):
        v = getattr(dist, f.name)
        if isinstance(v, float):
            numbers[f.name] = v
    numbers["mean"], numbers["variance"] = dist.mean, dist.var
    bad = {k: v for k, v in numbers.items() if not math.isfinite(v)}
    if bad:
        name, value = next(iter(bad.items()))
        raise _non_finite(spec, shape, f"the law's {name} is {value!r}")


class _Ctx:
    def __init__(self, spec: BaseSpec, plain: BaseSpec, shape: tuple[int, ...], layout: Layout | None):
        self.spec, self.plain, self.shape, self.layout = spec, plain, shape, layout

    @property
    def scheme(self) -> str:
        return self.spec.scheme

    def derivation(self, **kw: Any) -> Derivation:
        return Derivation(spec=self.spec, plain=self.plain, shape=self.shape, layout=self.layout, **kw)

    def need_layout(self, override: Any = None) -> Layout:
        if override is not None:
            return override
        if self.layout is None:
            raise ShapeError.single(
                "layout_required",
                f"{self.scheme} reads the tensor's input/output axes: pass layout='torch', 'keras', 'jax' or "
                "'flax' (or explicit initspec.Axes)", loc=("layout",), value=None)
        return self.layout

    def rank_error(self, allowed: str, hint: str = "") -> ShapeError:
        return ShapeError.single(
            "unsupported_shape",
            f"{self.scheme} needs a {allowed} tensor, got a {len(self.shape)}-D one{hint}",
            loc=("shape",), value=self.shape)


# ----------------------------------------------------------------------------- handlers


def _constant(ctx: _Ctx, spec: S.Constant | S.Zeros | S.Ones) -> D.Distribution:
    value = {"zeros": 0.0, "ones": 1.0}.get(spec.scheme, getattr(spec, "value", 0.0))
    if isinstance(value, ArrayValue):
        if not fits_shape(value, ctx.shape):
            raise ShapeError.single(
                "shape_mismatch", f"the value has shape {value.shape} and does not broadcast to the tensor's shape "
                f"{_short_shape(ctx.shape)}: give an array of the tensor's shape, or one that NumPy broadcasting "
                "stretches to it (axes of length 1, missing leading axes)", loc=("value",), value=value.summary())
        return D.ConstantArray(shape=ctx.shape, value=value, derivation=ctx.derivation())
    return D.Constant(value=float(value), derivation=ctx.derivation())


def _stft(ctx: _Ctx, spec: KerasSTFT) -> D.Distribution:
    from .stft import check_stft_shape

    transposed = ctx.layout == "torch"
    problem = check_stft_shape(ctx.shape, transposed, spec.window)
    if problem is not None:
        raise ShapeError.single("unsupported_shape", problem, loc=("shape",), value=ctx.shape)
    dist = D.STFTKernel(shape=ctx.shape, side=spec.side, window=spec.window, scaling=spec.scaling,
                        periodic=spec.periodic, transposed=transposed, derivation=ctx.derivation())
    if not np.isfinite(dist.values("float64")).all():
        raise SpecError.single("non_finite_law", "the STFT kernel is not finite: the window sums to 0, so the "
                               "scaling divides by 0; give a window with a nonzero value or scaling: none",
                               loc=("window",), value=spec.window.summary() if isinstance(spec.window, ArrayValue)
                               else spec.window)
    return dist


def _uniform(ctx: _Ctx, spec: S.Uniform) -> D.Distribution:
    return D.Uniform(low=spec.low, high=spec.high, derivation=ctx.derivation())


def _normal(ctx: _Ctx, spec: S.Normal) -> D.Distribution:
    return D.Normal(loc=spec.mean, scale=spec.std, derivation=ctx.derivation())


def _truncated_normal(ctx: _Ctx, spec: S.TruncatedNormal) -> D.Distribution:
    assert spec.low is not None and spec.high is not None
    notes = []
    if spec.bounds == "std":
        a, b = spec.low, spec.high
        scale = spec.std
        if spec.std_of == "result":
            unit = D.TruncatedNormal(loc=0.0, scale=1.0, low=a, high=b)
            scale = spec.std / unit.std
            notes.append(f"parent std = {spec.std:.6g} / {unit.std:.6g} (std of N(0,1) on [{a:g}, {b:g}])")
        lower, upper = spec.mean + a * scale, spec.mean + b * scale
    else:
        lower, upper = spec.low, spec.high
        scale = spec.std
        if spec.std_of == "result":
            scale = _solve_parent_std(spec.mean, spec.std, lower, upper)
            notes.append(f"parent std {scale:.6g} solved so the truncated std is {spec.std:.6g}")
    dist = D.TruncatedNormal(loc=spec.mean, scale=scale, low=lower, high=upper)
    a, b = dist.alpha, dist.beta
    nearest = 0.0 if a <= 0.0 <= b else min(abs(a), abs(b))
    # refused when the whole tail beyond the nearest bound holds under 1e-12 (the bounds are
    # more than 7 std from the mean); a narrow interval near the mean is fine, however small
    if not dist.mass > 0.0 or 0.5 * math.erfc(nearest / math.sqrt(2.0)) < 1e-12:
        raise ShapeError.single(
            "empty_truncation",
            f"[{lower:g}, {upper:g}] holds probability {dist.mass:.2g} under N({spec.mean:g}, {scale:g}²): "
            "move the bounds toward the mean or check their units (bounds: std|absolute)",
            loc=("low",), value=(spec.low, spec.high))
    if spec.bounds == "absolute" and min(-dist.alpha, dist.beta) > 6:
        notes.append(f"bounds are {min(-dist.alpha, dist.beta):.3g} std from the mean: they almost never cut")
    return D.TruncatedNormal(loc=spec.mean, scale=scale, low=lower, high=upper,
                             derivation=ctx.derivation(notes=tuple(notes)))


def _solve_parent_std(mean: float, target: float, lower: float, upper: float) -> float:
    """Parent σ whose truncation to [lower, upper] has std ``target`` (monotone in σ)."""
    limit = (upper - lower) / math.sqrt(12.0)  # σ -> inf: uniform on [lower, upper]
    if target >= limit * (1 - 1e-6):
        raise ShapeError.single(
            "unreachable_std",
            f"no normal truncated to [{lower:g}, {upper:g}] has std {target:g} (at most {limit:.6g}, the "
            "uniform's): lower std or widen the bounds", loc=("std",), value=target)

    def std_at(log_s: float) -> float:
        return D.TruncatedNormal(loc=mean, scale=math.exp(log_s), low=lower, high=upper).std

    # truncating a normal (log-concave) never raises its std, so the parent σ >= target; at
    # σ = 1e4 x the width the truncated law is uniform to ~1e-9, beyond any reachable target
    lo, hi = math.log(target), math.log(1e4 * (upper - lower))
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if std_at(mid) < target:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def _variance_scaling(ctx: _Ctx, spec: S.VarianceScaling | S.Glorot | S.He | S.Lecun) -> D.Distribution:
    if isinstance(spec, S.Glorot):
        gain = gain_value(spec.gain)
        scale, mode = gain * gain, "fan_avg"
    elif isinstance(spec, S.He):
        gain = nonlinearity_gain(spec.nonlinearity, spec.negative_slope)
        scale, mode = gain * gain, spec.mode
    elif isinstance(spec, S.Lecun):
        gain, scale, mode = None, 1.0, "fan_in"
    else:
        gain, scale, mode = None, spec.scale, spec.mode
    layout = ctx.need_layout(spec.axes)
    fans = compute_fans(ctx.shape, layout, scheme=ctx.scheme)
    fan = fans.fan(mode)
    notes = []
    if fan == 0:
        notes.append("the tensor is empty (a fan is 0): nothing is drawn; fan taken as 1")
        fan = 1.0
    var = scale / fan
    kw: dict[str, Any] = dict(fans=fans, mode=mode, fan=fan, gain=gain, scale=scale, variance=var)
    if spec.distribution == "uniform":
        bound = math.sqrt(3.0 * var)
        return D.Uniform(low=-bound, high=bound, derivation=ctx.derivation(notes=tuple(notes), **kw))
    if spec.distribution == "normal":
        return D.Normal(loc=0.0, scale=math.sqrt(var), derivation=ctx.derivation(notes=tuple(notes), **kw))
    parent = math.sqrt(var) / D.TRUNC2_STD
    return D.TruncatedNormal(loc=0.0, scale=parent, low=-2.0 * parent, high=2.0 * parent,
                             derivation=ctx.derivation(correction=D.TRUNC2_STD, notes=tuple(notes), **kw))


def _orthogonal(ctx: _Ctx, spec: S.Orthogonal) -> D.Distribution:
    if len(ctx.shape) < 2:
        raise ctx.rank_error("2-D or higher", "; use a fan-free scheme for biases")
    if spec.out_axes is not None:
        outs = output_axes(ctx.shape, Axes(in_axes=(0,), out_axes=spec.out_axes))
    else:
        outs = output_axes(ctx.shape, ctx.need_layout())
    notes = ("the tensor is empty: nothing is drawn",) if not math.prod(ctx.shape) else ()
    return D.Orthogonal(shape=ctx.shape, gain=gain_value(spec.gain), out_axes=outs,
                        derivation=ctx.derivation(gain=gain_value(spec.gain), notes=notes))


def _identity(ctx: _Ctx, spec: S.Identity) -> D.Distribution:
    if len(ctx.shape) != 2:
        raise ctx.rank_error("2-D", "; for convolution kernels use dirac")
    return D.Identity(shape=ctx.shape, gain=gain_value(spec.gain), derivation=ctx.derivation())


def _conv_axes(ctx: _Ctx) -> tuple[int, int, tuple[int, ...]]:
    """(out_axis, in_axis, spatial axes) of a convolution kernel."""
    rank = len(ctx.shape)
    if not 3 <= rank <= 5:
        raise ctx.rank_error("3-D, 4-D or 5-D (convolution kernel)",
                             "; for dense weights use identity" if rank == 2 else "")
    layout = ctx.need_layout()
    if isinstance(layout, Axes):
        fans = compute_fans(ctx.shape, layout, scheme=ctx.scheme)
        if len(fans.in_axes) != 1 or len(fans.out_axes) != 1 or fans.batch_axes:
            raise ShapeError.single("bad_axis", f"{ctx.scheme} needs exactly one in axis and one out axis",
                                    loc=("axes",), value=layout.model_dump())
        return fans.out_axes[0], fans.in_axes[0], fans.receptive_axes
    if layout == "torch":
        return 0, 1, tuple(range(2, rank))
    return rank - 1, rank - 2, tuple(range(rank - 2))


def _dirac(ctx: _Ctx, spec: S.Dirac) -> D.Distribution:
    out_axis, in_axis, spatial = _conv_axes(ctx)
    if ctx.shape[out_axis] % spec.groups:
        raise ShapeError.single("unsupported_shape",
                                f"dirac with groups={safe_value(spec.groups)} needs out channels divisible by "
                                f"groups (out = {ctx.shape[out_axis]})", loc=("groups",), value=safe_value(spec.groups))
    return D.Dirac(shape=ctx.shape, groups=spec.groups, out_axis=out_axis, in_axis=in_axis, spatial_axes=spatial,
                   derivation=ctx.derivation())


def _delta_orthogonal(ctx: _Ctx, spec: S.DeltaOrthogonal) -> D.Distribution:
    out_axis, in_axis, spatial = _conv_axes(ctx)
    if ctx.shape[in_axis] > ctx.shape[out_axis]:
        raise ShapeError.single("unsupported_shape",
                                f"delta_orthogonal needs out channels >= in channels (in = {ctx.shape[in_axis]}, "
                                f"out = {ctx.shape[out_axis]})", loc=("shape",), value=ctx.shape)
    return D.DeltaOrthogonal(shape=ctx.shape, gain=gain_value(spec.gain), in_axis=in_axis, out_axis=out_axis,
                             spatial_axes=spatial, derivation=ctx.derivation(gain=gain_value(spec.gain)))


def _sparse(ctx: _Ctx, spec: S.Sparse) -> D.Distribution:
    if len(ctx.shape) != 2:
        raise ctx.rank_error("2-D")
    layout = ctx.need_layout()
    if isinstance(layout, Axes):
        fans = compute_fans(ctx.shape, layout, scheme=ctx.scheme)
        if len(fans.in_axes) != 1 or len(fans.out_axes) != 1:  # found by the fuzzer: IndexError before
            raise ShapeError.single("bad_axis", f"{ctx.scheme} needs exactly one in axis and one out axis",
                                    loc=("axes",), value=layout.model_dump())
        out_axis, in_axis = fans.out_axes[0], fans.in_axes[0]
    else:
        out_axis, in_axis = (0, 1) if layout == "torch" else (1, 0)
    rows = ctx.shape[out_axis]
    zeros = math.ceil(spec.sparsity * rows)
    if rows and zeros >= rows and ctx.shape[in_axis]:
        most = (rows - 1) / rows
        raise ShapeError.single(
            "sparsity_too_high",
            f"sparsity {spec.sparsity:g} zeroes ceil({spec.sparsity:g} x {rows}) = {zeros} of the {rows} entries of "
            f"every column: nothing random is left; use sparsity <= {most:.6g} (at most {rows - 1} zeros per column)"
            + ("" if rows > 1 else " - a column of one entry cannot be sparse: use sparsity 0"),
            loc=("sparsity",), value=spec.sparsity)
    return D.Sparse(shape=ctx.shape, scale=spec.std, sparsity=spec.sparsity, zeros_per_column=zeros,
                    out_axis=out_axis, in_axis=in_axis, derivation=ctx.derivation())


_HANDLERS: dict[type, Any] = {
    S.Constant: _constant, S.Zeros: _constant, S.Ones: _constant,
    S.Uniform: _uniform, S.Normal: _normal, S.TruncatedNormal: _truncated_normal,
    S.VarianceScaling: _variance_scaling, S.Glorot: _variance_scaling, S.He: _variance_scaling,
    S.Lecun: _variance_scaling,
    S.Orthogonal: _orthogonal, S.Identity: _identity, S.Dirac: _dirac, S.DeltaOrthogonal: _delta_orthogonal,
    S.Sparse: _sparse, KerasSTFT: _stft,
}
