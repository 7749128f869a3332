"""The spec language: one initializer, declared as data.

A spec is a pydantic model selected by its ``scheme`` field.  Plain names are literal and
mean the same law in every framework (``normal`` is never truncated); aliases (``xavier``,
``kaiming``) are canonicalised on parse, and the canonical form is what is stored and shown.
Framework presets (``torch.kaiming_uniform``, ``keras.he_normal`` ...) live in
:mod:`initspec.presets` and expand to these plain specs.

All models are frozen, reject unknown keys, and take strict numbers (no booleans or
strings as numbers, no NaN or infinity).  See ``docs/schemes.md`` for each law and its
citation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ._types import (
    MODEL_CONFIG,
    AxisTuple,
    FanMode,
    NonNegativeReal,
    PositiveInt,
    PositiveReal,
    Real,
    VSDistribution,
)
from .arrays import ArrayValue, ConstantValue
from .gain import Gain, HeNonlinearity

__all__ = [
    "BaseSpec", "Axes", "Constant", "Zeros", "Ones", "Uniform", "Normal", "TruncatedNormal",
    "VarianceScaling", "Glorot", "He", "Lecun", "Orthogonal", "Identity", "Dirac", "Sparse",
    "DeltaOrthogonal", "PLAIN_SCHEMES", "SCHEME_ALIASES",
]

#: Accepted spellings that are canonicalised on parse.
#: Accepted spellings canonicalised on parse (the presets add ``flax.*`` -> ``jax.*``).  An
#: alias is one more value of its model's ``scheme`` literal, so the discriminated union and
#: the JSON Schema know it without any other mechanism.
SCHEME_ALIASES: dict[str, str] = {"xavier": "glorot", "kaiming": "he"}


class Axes(BaseModel):
    """Explicit axis roles for tensors whose layout no framework name describes
    (fused QKV projections, stacked experts, attention kernels with several in/out axes).

    fan_in = prod(shape[in_axes]) * rf and fan_out = prod(shape[out_axes]) * rf, where rf
    is the product of every axis not named (the receptive field) - the JAX convention.
    ``batch_axes`` (e.g. the expert axis) count toward neither fan.
    """

    model_config = MODEL_CONFIG
    in_axes: AxisTuple
    """Axes that index a unit's inputs (may be empty, e.g. depthwise kernels: fan_in = rf)."""
    out_axes: AxisTuple
    """Axes that index the outputs (kept whole by orthogonal)."""
    batch_axes: AxisTuple = ()
    """Axes of independent copies (experts, heads drawn separately)."""


class BaseSpec(BaseModel):
    """Common base of every scheme model."""

    model_config = MODEL_CONFIG
    scheme: str

    @field_validator("scheme")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return SCHEME_ALIASES.get(value, value)

    def to_dict(self) -> dict[str, Any]:
        """The canonical form (JSON-compatible), as stored in files and shown by ``explain``."""
        return self.model_dump(mode="json", exclude_none=True)


# ----------------------------------------------------------------------------- fixed values


class Constant(BaseSpec):
    """Every element equal to ``value`` - a number, or an array copied into the tensor.

    An array (a nested list in YAML/JSON, a NumPy array from Python) must have the tensor's
    shape or broadcast to it by NumPy's rules, as Keras' ``Constant`` does; it is in the
    tensor's storage order (the rules: ``initspec/arrays.py``).
    """

    scheme: Literal["constant"]
    value: ConstantValue

    @property
    def is_array(self) -> bool:
        """Whether ``value`` is an array."""
        return isinstance(self.value, ArrayValue)


class Zeros(BaseSpec):
    """Every element 0."""

    scheme: Literal["zeros"]


class Ones(BaseSpec):
    """Every element 1."""

    scheme: Literal["ones"]


# ----------------------------------------------------------------------------- plain laws


class Uniform(BaseSpec):
    """U[low, high)."""

    scheme: Literal["uniform"]
    low: Real
    high: Real

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.low < self.high:
            raise PydanticCustomError("bad_interval", "high must be greater than low ({low})",
                                      {"low": self.low, "high": self.high, "field": "high"})
        return self


class Normal(BaseSpec):
    """N(mean, std²) - never truncated, in every framework."""

    scheme: Literal["normal"]
    mean: Real = 0.0
    std: PositiveReal


class TruncatedNormal(BaseSpec):
    """A normal restricted to [low, high].

    The bound units are explicit: ``bounds: std`` means low/high count standard deviations
    of the parent normal around ``mean`` (JAX, Keras); ``bounds: absolute`` means they are
    values (``torch.nn.init.trunc_normal_``).  With both omitted the cut is ±2 parent
    standard deviations.  ``std_of`` says whether ``std`` is the parent normal's (every
    framework's convention) or the truncated result's (the parent is then solved for).

    .. warning::
       ``torch.nn.init.trunc_normal_(w, std=0.02)`` cuts at the absolute values ±2, i.e. at
       ±100σ - it never truncates.  Write ``bounds: absolute`` to reproduce it.
    """

    scheme: Literal["truncated_normal"]
    mean: Real = 0.0
    std: PositiveReal
    low: Real | None = None
    high: Real | None = None
    bounds: Literal["std", "absolute"] | None = None
    """Units of low/high: parent standard deviations around mean, or absolute values."""
    std_of: Literal["parent", "result"] = "parent"
    """Whether std is the parent normal's or the truncated distribution's."""

    @model_validator(mode="before")
    @classmethod
    def _default_bounds(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("low") is None and data.get("high") is None:
            if data.get("bounds") in (None, "std"):
                data = {**data, "low": -2.0, "high": 2.0, "bounds": "std"}
        return data

    @model_validator(mode="after")
    def _check_bounds(self) -> TruncatedNormal:
        if self.low is None or self.high is None:
            raise PydanticCustomError(
                "missing_bound",
                "give both low and high (or neither, for ±2 standard deviations)",
                {"field": "high" if self.high is None else "low"},
            )
        if self.bounds is None:
            raise PydanticCustomError(
                "missing_bounds_unit",
                "say what low/high count: 'bounds: std' (standard deviations of the parent normal, "
                "as JAX and Keras) or 'bounds: absolute' (values, as torch.nn.init.trunc_normal_)",
                {"field": "bounds"},
            )
        if not self.low < self.high:
            raise PydanticCustomError("bad_interval", "high must be greater than low ({low})",
                                      {"low": self.low, "high": self.high, "field": "high"})
        return self


# ----------------------------------------------------------------------------- variance scaling

FanModeField = Annotated[FanMode, Field(description="Which fan sets the variance: fan_in, fan_out, "
                                                    "(fan_in+fan_out)/2, or sqrt(fan_in*fan_out).")]


class _FanBased(BaseSpec):
    axes: Axes | None = None
    """Override the layout's axis roles for this spec (rarely needed)."""


class VarianceScaling(_FanBased):
    """Variance ``scale / n`` with n the fan chosen by ``mode`` (Glorot & Bengio 2010; He et al. 2015).

    ``uniform``: U(±sqrt(3·scale/n)).  ``normal``: N(0, scale/n), untruncated.
    ``truncated_normal``: cut at ±2 parent σ, parent σ = sqrt(scale/n) / 0.87962566103423978
    so the result has variance scale/n (the Keras/JAX convention).

    .. warning::
       Keras turns ``distribution="normal"`` into a truncated normal; initspec never does.
    """

    scheme: Literal["variance_scaling"]
    scale: PositiveReal = 1.0
    mode: FanModeField
    distribution: VSDistribution


class Glorot(_FanBased):
    """Glorot/Xavier: variance gain² · 2/(fan_in + fan_out) (Glorot & Bengio 2010). Alias: ``xavier``."""

    scheme: Literal["glorot", "xavier"]
    distribution: VSDistribution
    gain: Gain = 1.0


class He(_FanBased):
    """He/Kaiming: variance gain(nonlinearity)² / fan (He et al. 2015). Alias: ``kaiming``.

    The default nonlinearity is ``relu`` (gain √2).  ``leaky_relu`` needs ``negative_slope``.
    """

    scheme: Literal["he", "kaiming"]
    distribution: VSDistribution
    mode: FanModeField = "fan_in"
    nonlinearity: HeNonlinearity = "relu"
    """A classic `calculate_gain` name (tanh: 5/3) or `{activation: NAME, ...}` (E[f(z)²] = 1; see the gain table)."""
    negative_slope: Real | None = None
    """Slope of leaky_relu (required for it, forbidden otherwise)."""

    @model_validator(mode="after")
    def _slope(self) -> He:
        if self.nonlinearity == "leaky_relu" and self.negative_slope is None:
            raise PydanticCustomError("missing_slope", "nonlinearity leaky_relu needs negative_slope "
                                      "(torch kaiming_* use 0 by default, calculate_gain 0.01)", {"field": "negative_slope"})
        if self.nonlinearity != "leaky_relu" and self.negative_slope is not None:
            raise PydanticCustomError("unused_field", "negative_slope only applies to nonlinearity leaky_relu "
                                      "(got nonlinearity '{nl}')", {"nl": self.nonlinearity, "field": "negative_slope"})
        return self


class Lecun(_FanBased):
    """LeCun: variance 1/fan_in (LeCun et al. 1998; the Flax default in truncated form)."""

    scheme: Literal["lecun"]
    distribution: VSDistribution


# ----------------------------------------------------------------------------- structured


class Orthogonal(BaseSpec):
    """A (semi-)orthogonal matrix drawn from the Haar measure, times ``gain`` (Saxe et al. 2014).

    The output axis is kept and the others flattened (torch keeps dim 0, Keras/JAX the
    last axis - the output axis of each layout), so the laws agree under the layout mapping.
    """

    scheme: Literal["orthogonal"]
    gain: Gain = 1.0
    out_axes: AxisTuple | None = None
    """Axes kept whole (the columns); default: the layout's output axes."""


class Identity(BaseSpec):
    """gain · eye(rows, cols) on a 2-D weight (no randomness)."""

    scheme: Literal["identity"]
    gain: Gain = 1.0


class Dirac(BaseSpec):
    """Convolution kernels that pass each input channel through unchanged (torch ``dirac_``).

    The centre tap is at index k//2 (right of centre for even k, as torch).
    """

    scheme: Literal["dirac"]
    groups: PositiveInt = 1


class Sparse(BaseSpec):
    """Martens (2010) sparse init: N(0, std²) with ceil(sparsity·rows) zeros in each column."""

    scheme: Literal["sparse"]
    sparsity: Annotated[NonNegativeReal, Field(lt=1)]
    std: PositiveReal = 0.01


class DeltaOrthogonal(BaseSpec):
    """Xiao et al. (2018): an orthogonal (in, out) matrix at the kernel's centre tap ((k-1)//2,
    as JAX), zeros elsewhere.  Needs out channels >= in channels."""

    scheme: Literal["delta_orthogonal"]
    gain: Gain = 1.0


PLAIN_SCHEMES: dict[str, type[BaseSpec]] = {
    "constant": Constant, "zeros": Zeros, "ones": Ones,
    "uniform": Uniform, "normal": Normal, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot": Glorot, "he": He, "lecun": Lecun,
    "orthogonal": Orthogonal, "identity": Identity, "dirac": Dirac, "sparse": Sparse,
    "delta_orthogonal": DeltaOrthogonal,
}
