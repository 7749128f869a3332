"""Activation gains: the weight scale that keeps the second moment one after any activation.

For pre-activations z ~ N(0, 1) and an activation f, the gain is

    gain(f) = 1 / sqrt(E[f(z)²]),    E[f(z)²] = ∫ f(z)² φ(z) dz,   φ the standard normal density,

so a layer with weight variance gain² / fan_in maps unit-second-moment activations to
unit-variance pre-activations again (He et al. 2015 derive gain √2 for ReLU this way; SELU's
constants make E[f(z)²] = 1, gain 1, Klambauer et al. 2017).  This differs from the classic
table of :mod:`initspec.gain` (``torch.nn.init.calculate_gain``): there ``tanh`` is 5/3, a
heuristic, while E[tanh(z)²] = 0.3943 gives 1.5925; ``selu`` is 3/4 there and 1 here.

E[f(z)²] is computed with NumPy alone: adaptive composite Gauss-Legendre quadrature (20
points a panel) on [-20, 20], whose panels end at every integer and at the activation's
breakpoints (kinks and jumps: relu at 0, relu6 at 0 and 6, hard_tanh at its bounds ...), so
no panel straddles a kink; panels are halved until halving changes them by < 1e-14 of the
total.  The tails beyond ±20 weigh < 1e-70 of the total even for f growing like z² or e^z.
Accuracy: ~1e-14 relative (tests/test_activations.py checks 1e-12 against scipy's quad).

:data:`ACTIVATIONS` holds the built-in activations with the frameworks' parameter names and
defaults; :func:`register_activation` adds one given as a vectorised NumPy function, and
:func:`activation_gain` also takes a one-off function.  Misspelt names and bad parameters
raise :class:`~initspec.errors.SpecError` (codes ``unknown_activation``,
``bad_activation_param``); a function whose E[f(z)²] is not finite and positive raises
``bad_activation``.

.. warning::
   Frameworks disagree on some defaults and definitions: ``gelu`` is exact in torch and
   Keras but the tanh approximation by default in ``jax.nn.gelu`` / Flax (write
   ``gelu_tanh``); ``leaky_relu``'s slope is 0.01 in torch and JAX but 0.2 in
   ``keras.activations.leaky_relu`` and 0.3 in ``keras.layers.LeakyReLU``; Keras' ``PReLU``
   starts at slope 0 where torch's starts at 0.25; Keras 2 (tf.keras ≤ 2.15)
   ``hard_sigmoid`` is clip(0.2x + 0.5) while torch, JAX and Keras 3 use relu6(x + 3) / 6.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import NO_VALUE, SpecError, did_you_mean

__all__ = ["Param", "Activation", "ACTIVATIONS", "ALIASES", "BUILTIN", "activation_gain", "register_activation",
           "lookup", "check_params", "second_moment"]

#: Integration range [-HALF_WIDTH, HALF_WIDTH] (the standard normal's tails beyond weigh < 3e-89).
HALF_WIDTH = 20.0
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)
_RTOL = 1e-14
_MAX_LEVELS = 60
_SQRT_2PI = math.sqrt(2.0 * math.pi)


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Param:
    """A parameter of an activation: name, default (``None``: required) and its range."""

    name: str
    default: float | str | None
    doc: str = ""
    gt: float | None = None
    ge: float | None = None
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not valid for this parameter, or None."""
        if self.choices:
            return None if isinstance(value, str) and value in self.choices else \
                f"must be one of {', '.join(map(repr, self.choices))}{did_you_mean(value, self.choices)}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if not math.isfinite(value):
            return "must be finite"
        if self.gt is not None and not value > self.gt:
            return f"must be > {self.gt:g}"
        if self.ge is not None and not value >= self.ge:
            return f"must be >= {self.ge:g}"
        return None


@dataclass(frozen=True)
class Activation:
    """One activation: a vectorised NumPy function ``fn(x, **params)`` and its breakpoints."""

    name: str
    fn: Callable[..., Any]
    kinks: Sequence[float] | Callable[..., Sequence[float]] = ()
    params: tuple[Param, ...] = ()
    formula: str = ""
    note: str = ""
    aliases: tuple[str, ...] = ()
    check: Callable[..., str | None] | None = None
    """Cross-parameter rule: returns the problem (e.g. min_val >= max_val) or None."""

    def breakpoints(self, **params: Any) -> tuple[float, ...]:
        kinks = self.kinks(**params) if callable(self.kinks) else self.kinks
        return tuple(float(k) for k in kinks)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params if p.default is not None}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


_erfc = np.vectorize(math.erfc, otypes=[float])
_erf = np.vectorize(math.erf, otypes=[float])
_SELU_ALPHA = 1.6732632423543772848170429916717  # torch, Keras and JAX (Klambauer et al. 2017)
_SELU_SCALE = 1.0507009873554804934193349852946
_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x**3)))
    return 0.5 * x * _erfc(-x / math.sqrt(2.0))  # x·Φ(x), accurate in the left tail too


def _leaky(x: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.where(x >= 0, x, negative_slope * x)


def _elu(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _ordered(low: str, high: str) -> Callable[..., str | None]:
    def check(**p: float) -> str | None:
        return None if p[low] < p[high] else f"{low} must be less than {high} ({low} = {p[low]}, {high} = {p[high]})"

    return check


_SLOPE = Param("negative_slope", 0.01, "Slope for x < 0.")
_LAMBD = Param("lambd", 0.5, "Half-width of the dead zone (torch `lambd`, Keras `threshold`).", ge=0.0)
_A = Activation  # the table below reads as one line per activation

#: Built-in activations by canonical name (:data:`ALIASES` maps the other spellings).
ACTIVATIONS: dict[str, Activation] = {a.name: a for a in [
    _A("linear", lambda x: x, (), (), "x", aliases=("identity",)),
    _A("relu", lambda x: np.maximum(x, 0.0), (0.0,), (), "max(x, 0)", "He et al. 2015: gain √2 exactly."),
    _A("leaky_relu", _leaky, (0.0,), (_SLOPE,), "x if x ≥ 0 else negative_slope·x",
       "Default 0.01 as torch and JAX; keras.activations.leaky_relu uses 0.2, keras.layers.LeakyReLU 0.3."),
    _A("prelu", _leaky, (0.0,), (Param("negative_slope", 0.25, "Initial slope (torch `init`)."),),
       "x if x ≥ 0 else negative_slope·x", "At initialization: torch nn.PReLU starts at 0.25, Keras PReLU at 0."),
    _A("rrelu", lambda x, lower, upper: _leaky(x, (lower + upper) / 2), (0.0,),
       (Param("lower", 1 / 8, "Lower bound of the random slope.", ge=0.0),
        Param("upper", 1 / 3, "Upper bound of the random slope.", ge=0.0)),
       "leaky_relu with slope (lower + upper)/2", "torch nn.RReLU in eval mode.",
       check=lambda lower, upper: None if lower <= upper else f"lower must not exceed upper (got {lower} > {upper})"),
    _A("relu6", lambda x: np.clip(x, 0.0, 6.0), (0.0, 6.0), (), "min(max(x, 0), 6)"),
    _A("elu", _elu, (0.0,), (Param("alpha", 1.0, "Scale of the negative part.", gt=0.0),),
       "x if x > 0 else alpha·(exp(x) − 1)"),
    _A("celu", lambda x, alpha: np.maximum(x, 0.0) + alpha * np.expm1(np.minimum(x, 0.0) / alpha), (0.0,),
       (Param("alpha", 1.0, "Scale of the negative part.", gt=0.0),),
       "max(x, 0) + alpha·(exp(min(x, 0)/alpha) − 1)"),
    _A("selu", lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA), (0.0,), (), "scale·elu(x, alpha)",
       "Klambauer et al. 2017: E[f(z)²] = 1, gain 1 (calculate_gain's 3/4 is a different choice)."),
    _A("gelu", _gelu, (), (Param("approximate", "none", "`none` (exact) or `tanh`.", choices=("none", "tanh")),),
       "x·Φ(x)", "Exact by default as torch and Keras; jax.nn.gelu and Flax default to the tanh form."),
    _A("gelu_tanh", lambda x: _gelu(x, "tanh"), (), (), "x/2·(1 + tanh(√(2/π)(x + 0.044715x³)))",
       "= gelu with approximate: tanh (jax.nn.gelu's default)."),
    _A("quick_gelu", lambda x: x * _sigmoid(1.702 * x), (), (), "x·σ(1.702x)", "CLIP's GELU approximation."),
    _A("silu", lambda x: x * _sigmoid(x), (), (), "x·σ(x)"),
    _A("swish", lambda x, beta: x * _sigmoid(beta * x), (), (Param("beta", 1.0, "Slope inside the sigmoid."),),
       "x·σ(beta·x)", "beta = 1 is silu."),
    _A("mish", lambda x: x * np.tanh(_softplus(x)), (), (), "x·tanh(softplus(x))"),
    _A("softplus", lambda x, beta: _softplus(beta * x) / beta, (),
       (Param("beta", 1.0, "Sharpness.", gt=0.0),), "log(1 + exp(beta·x))/beta",
       "torch's threshold (linear above beta·x > 20) changes f by < 2e-9 there: no effect on the gain."),
    _A("sigmoid", _sigmoid, (), (), "1/(1 + exp(−x))"),
    _A("hard_sigmoid", lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0, (-3.0, 3.0), (), "relu6(x + 3)/6",
       "torch, JAX and Keras 3; Keras 2 used clip(0.2x + 0.5): hard_sigmoid_keras2.", aliases=("hardsigmoid",)),
    _A("hard_sigmoid_keras2", lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0), (-2.5, 2.5), (), "clip(0.2x + 0.5, 0, 1)",
       "tf.keras / Keras 2 hard_sigmoid."),
    _A("tanh", np.tanh, (), (), "tanh(x)", "calculate_gain's 5/3 is a heuristic; this keeps E[f(z)²] = 1."),
    _A("hard_tanh", lambda x, min_val, max_val: np.clip(x, min_val, max_val),
       lambda min_val, max_val: (min_val, max_val),
       (Param("min_val", -1.0, "Lower clip."), Param("max_val", 1.0, "Upper clip.")),
       "clip(x, min_val, max_val)", aliases=("hardtanh",), check=_ordered("min_val", "max_val")),
    _A("hard_swish", lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0, (-3.0, 3.0), (), "x·relu6(x + 3)/6",
       aliases=("hardswish", "hard_silu")),
    _A("softsign", lambda x: x / (1.0 + np.abs(x)), (0.0,), (), "x/(1 + |x|)", aliases=("soft_sign",)),
    _A("squareplus", lambda x, b: (x + np.sqrt(x * x + b)) / 2.0, (0.0,),
       (Param("b", 4.0, "Curvature at 0 (b = 0 is relu).", ge=0.0),), "(x + √(x² + b))/2"),
    _A("log_sigmoid", lambda x: -_softplus(-x), (), (), "−log(1 + exp(−x))", aliases=("logsigmoid",)),
    _A("tanh_shrink", lambda x: x - np.tanh(x), (), (), "x − tanh(x)", aliases=("tanhshrink",)),
    _A("soft_shrink", lambda x, lambd: np.sign(x) * np.maximum(np.abs(x) - lambd, 0.0),
       lambda lambd: (-lambd, lambd), (_LAMBD,), "sign(x)·max(|x| − lambd, 0)", aliases=("softshrink",)),
    _A("hard_shrink", lambda x, lambd: np.where(np.abs(x) > lambd, x, 0.0), lambda lambd: (-lambd, lambd),
       (_LAMBD,), "x if |x| > lambd else 0", aliases=("hardshrink",)),
    _A("threshold", lambda x, threshold, value: np.where(x > threshold, x, value),
       lambda threshold, value: (threshold,),
       (Param("threshold", None, "where f switches to x"), Param("value", None, "f at and below the threshold")),
       "x if x > threshold else value", "torch nn.Threshold; Keras calls value default_value. Both required."),
    _A("sparse_plus", lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4)), (-1.0, 1.0), (),
       "0, (x + 1)²/4, x on x ≤ −1, |x| < 1, x ≥ 1"),
    _A("sparse_sigmoid", lambda x: 0.5 * np.clip(x + 1.0, 0.0, 2.0), (-1.0, 1.0), (), "clip((x + 1)/2, 0, 1)"),
    _A("relu_squared", lambda x: np.maximum(x, 0.0) ** 2, (0.0,), (), "max(x, 0)²",
       "Primer (So et al. 2021).", aliases=("squared_relu",)),
    _A("star_relu", lambda x, scale, bias: scale * np.maximum(x, 0.0) ** 2 + bias, (0.0,),
       (Param("scale", 0.8944, "Multiplies relu(x)²."), Param("bias", -0.4472, "Added.")),
       "scale·max(x, 0)² + bias", "MetaFormer (Yu et al. 2022); the defaults are the paper's values."),
    _A("abs", np.abs, (0.0,), (), "|x|"),
    _A("sin", np.sin, (), (), "sin(x)", "E[f(z)²] = (1 − e⁻²)/2."),
    _A("cos", np.cos, (), (), "cos(x)", "E[f(z)²] = (1 + e⁻²)/2."),
    _A("erf", _erf, (), (), "erf(x)", "E[f(z)²] = (2/π)·arcsin(2/3)."),
    _A("exponential", np.exp, (), (), "exp(x)", "keras.activations.exponential; E[f(z)²] = e²."),
]}
del _A

#: The names shipped with initspec (the JSON Schema and docs list these; registered ones are Python-only).
BUILTIN: tuple[str, ...] = tuple(ACTIVATIONS)

#: Other accepted spellings -> canonical name (rewritten on parse, as scheme aliases are).
ALIASES: dict[str, str] = {alias: a.name for a in ACTIVATIONS.values() for alias in a.aliases}


# ----------------------------------------------------------------------------- lookup and checks


def lookup(name: Any) -> Activation:
    """The activation called ``name`` (an alias is accepted); SpecError ``unknown_activation``."""
    if isinstance(name, str):
        found = ACTIVATIONS.get(ALIASES.get(name, name))
        if found is not None:
            return found
    names = [*ACTIVATIONS, *ALIASES]
    hint = did_you_mean(name, names) if isinstance(name, str) else ""
    what = f"unknown activation {name!r}" if isinstance(name, str) else "an activation is named by a string"
    raise SpecError.single("unknown_activation", f"{what}{hint}; see docs/schemes.md#activation-gains for the list",
                           loc=("activation",), value=name)


def check_params(name: Any, params: Mapping[str, Any]) -> tuple[Activation, dict[str, Any]]:
    """Validate ``params`` of activation ``name``: (the activation, every parameter with defaults filled).

    Raises SpecError: ``unknown_activation``, or ``bad_activation_param`` at the parameter
    (unknown, missing, out of range)."""
    act = lookup(name)
    allowed = [p.name for p in act.params]

    def bad(key: str, message: str, value: Any) -> SpecError:
        return SpecError.single("bad_activation_param", f"{act.name}: {message}", loc=(key,), value=value)

    for key, value in params.items():
        if key not in allowed:
            takes = f"allowed: {', '.join(allowed)}" if allowed else f"{act.name} takes no parameters"
            raise bad(key, f"unknown parameter {key!r}{did_you_mean(key, allowed)}; {takes}", value)
    full = act.defaults()
    for p in act.params:
        if p.name not in params and p.default is None:
            raise bad(p.name, f"parameter {p.name!r} is required ({p.doc})", NO_VALUE)
        if p.name in params:
            problem = p.problem(params[p.name])
            if problem:
                raise bad(p.name, f"{p.name} {problem}", params[p.name])
            full[p.name] = params[p.name]
    if act.check is not None:
        problem = act.check(**full)
        if problem:
            key = next((p.name for p in reversed(act.params) if p.name in params), act.params[-1].name)
            raise bad(key, problem, full[key])
    return act, full


# ----------------------------------------------------------------------------- quadrature


def _problem(message: str, value: Any = NO_VALUE) -> SpecError:
    return SpecError.single("bad_activation", message, loc=("activation",), value=value)


def second_moment(fn: Callable[..., Any], kinks: Iterable[float] = (), **params: Any) -> float:
    """E[f(z)²] for z ~ N(0, 1), f(x) = ``fn(x, **params)`` vectorised over a float64 array.

    ``kinks`` are the points where f or a derivative jumps; they become panel ends.  Raises
    SpecError ``bad_activation`` when f is not finite, E[f(z)²] is 0 or does not converge."""
    label = getattr(fn, "__name__", repr(fn))
    points = [float(k) for k in kinks]
    if not all(math.isfinite(k) for k in points):
        raise _problem(f"the breakpoints of {label} must be finite", tuple(points))
    inside = [k for k in points if -HALF_WIDTH < k < HALF_WIDTH]
    ends = np.union1d(np.arange(-HALF_WIDTH, HALF_WIDTH + 1.0), inside)

    def gauss(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        half, mid = (b - a) / 2.0, (a + b) / 2.0
        z = mid[:, None] + half[:, None] * _NODES[None, :]
        with np.errstate(all="ignore"):
            y = np.asarray(fn(z.ravel(), **params), dtype=float)
            if y.shape == ():  # a constant
                y = np.full(z.size, float(y))
            if y.shape != (z.size,):
                raise _problem(f"{label} must map an array to an array of the same shape (a vectorised "
                               f"NumPy function); it returned shape {y.shape}")
            vals = (y * y * np.exp(-0.5 * z.ravel() ** 2) / _SQRT_2PI).reshape(z.shape)
        if not np.all(np.isfinite(vals)):
            where = z.ravel()[~np.isfinite(vals.ravel())][0]
            fx = float(y[z.ravel() == where][0])
            raise _problem(f"f(x)² is not finite for f = {label} at x = {where:.6g} (f(x) = {fx:.6g}); the gain "
                           "needs E[f(z)²] finite")
        return half * (vals @ _WEIGHTS)

    a, b = ends[:-1], ends[1:]
    whole = gauss(a, b)
    edge = abs(whole[0]) + abs(whole[-1])
    accepted: list[float] = []
    for _ in range(_MAX_LEVELS):
        mid = (a + b) / 2.0
        halves = gauss(np.concatenate([a, mid]), np.concatenate([mid, b]))
        left, right = halves[: a.size], halves[a.size:]
        refined = left + right
        total = math.fsum(accepted) + float(refined.sum())
        ok = np.abs(refined - whole) <= _RTOL * abs(total)
        accepted.extend(refined[ok].tolist())
        keep = ~ok
        a, b = np.concatenate([a[keep], mid[keep]]), np.concatenate([mid[keep], b[keep]])
        whole = np.concatenate([left[keep], right[keep]])
        if a.size == 0:
            break
    accepted.extend(whole.tolist())  # panels still open after _MAX_LEVELS (a jump not declared as a kink)
    total = math.fsum(accepted)
    if not total > 0.0:
        raise _problem(f"E[f(z)²] = 0 for {label}: f vanishes almost everywhere, no weight scale can restore the "
                       "variance")
    if edge > 1e-15 * total:
        raise _problem(f"E[f(z)²] does not converge for {label}: f grows too fast for |z| near {HALF_WIDTH:g}")
    return total


@functools.lru_cache(maxsize=None)
def _cached_gain(name: str, items: tuple[tuple[str, Any], ...]) -> float:
    act, params = ACTIVATIONS[name], dict(items)
    return 1.0 / math.sqrt(second_moment(act.fn, act.breakpoints(**params), **params))


def activation_gain(activation: str | Callable[..., Any], /, *, kinks: Iterable[float] | None = None,
                    **params: Any) -> float:
    """The gain 1/sqrt(E[f(z)²]), z ~ N(0, 1), of a named activation or of a NumPy function.

    >>> round(activation_gain("gelu"), 10), round(activation_gain("tanh"), 10), round(activation_gain("relu") ** 2, 14)
    (1.5335304412, 1.5925374197, 2.0)
    >>> round(activation_gain("leaky_relu", negative_slope=0.2) ** 2 * 1.04, 14)
    2.0

    A name takes its parameters as keywords (validated; results are cached).  A callable
    ``fn(x, **params)`` is integrated as given, with ``kinks`` its breakpoints.
    """
    if callable(activation):
        return 1.0 / math.sqrt(second_moment(activation, kinks or (), **params))
    if kinks is not None:
        raise TypeError("kinks are given with a function; a named activation knows its own")
    act, full = check_params(activation, params)
    return _cached_gain(act.name, tuple(sorted(full.items())))


_NAME = re.compile(r"[a-z][a-z0-9_.]*")


def register_activation(name: str, fn: Callable[..., Any], *,
                        kinks: Sequence[float] | Callable[..., Sequence[float]] = (),
                        params: Mapping[str, float | None] | Sequence[Param] | None = None,
                        formula: str = "", note: str = "") -> Activation:
    """Add ``fn(x, **params)`` (vectorised NumPy) to :data:`ACTIVATIONS` as ``name``.

    ``params`` maps each parameter to its default (``None``: required) or lists
    :class:`Param` with ranges; ``kinks`` are the breakpoints, or a function of the
    parameters giving them.  Specs can then say ``gain: {activation: name}``.  Names are
    lower case and cannot replace an existing one (cached gains stay valid).  When every
    parameter has a default the gain is computed now, so a bad function fails here.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"an activation name is lower case letters, digits, '_' and '.', got {name!r}")
    if name in ACTIVATIONS or name in ALIASES:
        raise ValueError(f"activation {name!r} already exists")
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {fn!r}")
    if params is None:
        plist: tuple[Param, ...] = ()
    elif isinstance(params, Mapping):
        plist = tuple(Param(k, v) for k, v in params.items())
    else:
        plist = tuple(params)
    act = Activation(name, fn, kinks, plist, formula, note)
    if all(p.default is not None for p in plist):
        second_moment(fn, act.breakpoints(**act.defaults()), **act.defaults())
    ACTIVATIONS[name] = act
    return act
