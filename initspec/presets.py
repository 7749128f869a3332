"""Framework presets: namespaced names that reproduce a native initializer exactly.

``{scheme: keras.he_normal}`` is the law of ``keras.initializers.HeNormal()`` - a truncated,
variance-corrected normal - and ``{scheme: torch.kaiming_normal}`` is torch's untruncated
one.  Each preset expands (:meth:`Preset.expand`) to a plain spec, so the difference between
frameworks is visible as data::

    >>> from initspec import parse
    >>> parse({"scheme": "torch.default_weight"}).expand().to_dict()
    {'scheme': 'he', 'distribution': 'uniform', 'mode': 'fan_in', 'nonlinearity': 'leaky_relu', 'negative_slope': 2.23606797749979}

Presets without parameters are rows of :data:`NAMED` (name -> native call and plain spec),
all parsed by one model, :class:`NamedPreset`; a preset that takes the native function's
parameters (with the native defaults) is a class of its own.  ``flax.*`` names are aliases
of the ``jax.*`` ones (``flax.linen.initializers`` re-exports ``jax.nn.initializers``): they
are canonicalised on parse, like ``xavier`` -> ``glorot`` (:data:`PRESET_ALIASES`).

Presets are laws, not layouts: the fans come from the layout of the tensor they are applied
to, so ``torch.default_weight`` on a Flax kernel is U(±1/√fan_in) with Flax's fan_in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictBool, field_validator

from ._types import (
    AxisTuple,
    FanMode,
    NonNegativeInt,
    PositiveInt,
    PositiveReal,
    Real,
    StrictInt,
)
from .arrays import ArrayValue, ConstantValue, or_array
from .spec import (
    PLAIN_SCHEMES,
    SCHEME_ALIASES,
    Axes,
    BaseSpec,
    Constant,
    DeltaOrthogonal,
    Dirac,
    Glorot,
    He,
    Identity,
    Normal,
    Orthogonal,
    Sparse,
    TruncatedNormal,
    Uniform,
    VarianceScaling,
    Zeros,
)
from .stft import Window

__all__ = ["Preset", "NamedPreset", "Named", "NAMED", "PRESETS", "PRESET_ALIASES", "native_call"]


@dataclass(frozen=True)
class Named:
    """One parameterless preset: the native call it reproduces and the plain spec it is."""

    native: str
    spec: dict[str, Any]
    doc: str = ""


def _vs_rows(namespace: str, module: str, call: str) -> dict[str, Named]:
    """``<namespace>.{glorot,he,lecun}_{uniform,normal}``: Keras' and JAX's named variance
    scalings, whose ``*_normal`` is the truncated, variance-corrected normal."""
    rows = {}
    for family in ("glorot", "he", "lecun"):
        for dist in ("uniform", "normal"):
            law = "truncated_normal" if dist == "normal" else "uniform"
            native = f"{module}.{call.format(camel=family.capitalize() + dist.capitalize(), snake=f'{family}_{dist}')}"
            what = "truncated (variance-corrected) normal" if dist == "normal" else "uniform"
            rows[f"{namespace}.{family}_{dist}"] = Named(native, {"scheme": family, "distribution": law},
                                                         f"``{native}``: {family} {what}.")
    return rows


#: Every parameterless preset.
NAMED: dict[str, Named] = {
    "torch.default_weight": Named(
        "torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5))",
        {"scheme": "he", "distribution": "uniform", "mode": "fan_in", "nonlinearity": "leaky_relu",
         "negative_slope": math.sqrt(5.0)},
        "The default weight of ``nn.Linear``, ``nn.Conv*d``, ``nn.ConvTranspose*d``: ``kaiming_uniform_(w, "
        "a=√5)`` = U(±1/√fan_in)."),
    "torch.embedding": Named("torch.nn.init.normal_(w)", {"scheme": "normal", "mean": 0.0, "std": 1.0},
                             "The default of ``nn.Embedding``: N(0, 1)."),
    "torch.eye": Named("torch.nn.init.eye_(w)", {"scheme": "identity", "gain": 1.0}),
    **_vs_rows("keras", "keras.initializers", "{camel}()"),
    "keras.embedding": Named('keras.layers.Embedding(..., embeddings_initializer="uniform")',
                             {"scheme": "uniform", "low": -0.05, "high": 0.05},
                             'The default of ``keras.layers.Embedding``: ``"uniform"`` = U(-0.05, 0.05).'),
    **_vs_rows("jax", "jax.nn.initializers", "{snake}()"),
    "flax.embed": Named(
        "flax.linen.Embed(...)  # embedding_init default",
        {"scheme": "variance_scaling", "scale": 1.0, "mode": "fan_in", "distribution": "normal",
         "axes": {"in_axes": [-1], "out_axes": [0]}},
        "The default of ``flax.linen.Embed`` / ``nnx.Embed``: N(0, 1/features), untruncated "
        "(``variance_scaling(1.0, 'fan_in', 'normal', out_axis=0)``, whose fan_in is the feature size)."),
    "flax.default_kernel": Named("flax.linen.initializers.lecun_normal()",
                                 {"scheme": "lecun", "distribution": "truncated_normal"},
                                 "The default kernel of ``Dense``/``Conv``/attention in Flax: LeCun truncated "
                                 "normal."),
}

#: Accepted preset spellings canonicalised on parse: every ``flax.<name>`` of a ``jax.<name>``.
PRESET_ALIASES: dict[str, str] = {}

#: Every preset name -> its model (parameterless ones all map to :class:`NamedPreset`).
PRESETS: dict[str, type[Preset]] = {}


class Preset(BaseSpec):
    """Base class of framework presets."""

    #: The native call this preset reproduces (shown by ``explain`` and in the docs).
    native: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name in cls.model_fields["scheme"].annotation.__args__:  # type: ignore[union-attr]
            if name not in PRESET_ALIASES:
                PRESETS[name] = cls

    def expand(self) -> BaseSpec:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


def _jax_aliases(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` plus the ``flax.`` alias of every ``jax.`` one (recorded in PRESET_ALIASES)."""
    extra = []
    for name in names:
        if name.startswith("jax."):
            alias = "flax." + name.removeprefix("jax.")
            PRESET_ALIASES[alias] = SCHEME_ALIASES[alias] = name
            extra.append(alias)
    return (*names, *extra)


class NamedPreset(Preset):
    """A preset without parameters: one row of :data:`NAMED`."""

    scheme: Literal[_jax_aliases(tuple(NAMED))]  # type: ignore[valid-type]

    def expand(self) -> BaseSpec:
        row = NAMED[self.scheme]
        return PLAIN_SCHEMES[row.spec["scheme"]].model_validate(row.spec)


def native_call(name: str) -> str:
    """The native call the preset ``name`` reproduces."""
    name = PRESET_ALIASES.get(name, name)
    return NAMED[name].native if name in NAMED else PRESETS[name].native


def _needs_layer(scheme: str, field: str, what: str) -> Exception:
    from .errors import ShapeError

    return ShapeError.single(
        "needs_layer", f"{scheme} needs {what}: give {field}, or use it in a plan, which fills it in from the layer",
        loc=(field,))


TorchNonlinearity = Literal[
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "sigmoid", "tanh", "relu", "leaky_relu", "selu",
]


def _torch_he(distribution: str, a: float, mode: str, nonlinearity: str) -> He:
    nl = "conv" if nonlinearity.startswith("conv") else nonlinearity
    slope = a if nl == "leaky_relu" else None
    return He(scheme="he", distribution=distribution, mode=mode, nonlinearity=nl, negative_slope=slope)


# ----------------------------------------------------------------------------- PyTorch


class TorchConstant(Preset):
    """``constant_(w, val)``: a number only (torch.nn.init has no array constant; write
    ``{scheme: constant, value: [...]}`` for one)."""

    native: ClassVar[str] = "torch.nn.init.constant_(w, val)"
    scheme: Literal["torch.constant"]
    val: Real
    """The value of every element (torch's `val`)."""

    def expand(self) -> BaseSpec:
        return Constant(scheme="constant", value=self.val)


class TorchUniform(Preset):
    native: ClassVar[str] = "torch.nn.init.uniform_(w, a, b)"
    scheme: Literal["torch.uniform"]
    a: Real = 0.0
    b: Real = 1.0

    def expand(self) -> BaseSpec:
        return Uniform(scheme="uniform", low=self.a, high=self.b)


class TorchNormal(Preset):
    native: ClassVar[str] = "torch.nn.init.normal_(w, mean, std)"
    scheme: Literal["torch.normal"]
    mean: Real = 0.0
    std: PositiveReal = 1.0

    def expand(self) -> BaseSpec:
        return Normal(scheme="normal", mean=self.mean, std=self.std)


class TorchTruncNormal(Preset):
    """``trunc_normal_``: a and b are absolute values (so std=0.02 with ±2 never truncates)."""

    native: ClassVar[str] = "torch.nn.init.trunc_normal_(w, mean, std, a, b)"
    scheme: Literal["torch.trunc_normal"]
    mean: Real = 0.0
    std: PositiveReal = 1.0
    a: Real = -2.0
    b: Real = 2.0

    def expand(self) -> BaseSpec:
        return TruncatedNormal(scheme="truncated_normal", mean=self.mean, std=self.std, low=self.a,
                               high=self.b, bounds="absolute", std_of="parent")


class TorchXavierUniform(Preset):
    native: ClassVar[str] = "torch.nn.init.xavier_uniform_(w, gain)"
    scheme: Literal["torch.xavier_uniform"]
    gain: PositiveReal = 1.0

    def expand(self) -> BaseSpec:
        return Glorot(scheme="glorot", distribution="uniform", gain=self.gain)


class TorchXavierNormal(Preset):
    native: ClassVar[str] = "torch.nn.init.xavier_normal_(w, gain)"
    scheme: Literal["torch.xavier_normal"]
    gain: PositiveReal = 1.0

    def expand(self) -> BaseSpec:
        return Glorot(scheme="glorot", distribution="normal", gain=self.gain)


class TorchKaimingUniform(Preset):
    native: ClassVar[str] = "torch.nn.init.kaiming_uniform_(w, a, mode, nonlinearity)"
    scheme: Literal["torch.kaiming_uniform"]
    a: Real = 0.0
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: TorchNonlinearity = "leaky_relu"

    def expand(self) -> BaseSpec:
        return _torch_he("uniform", self.a, self.mode, self.nonlinearity)


class TorchKaimingNormal(Preset):
    native: ClassVar[str] = "torch.nn.init.kaiming_normal_(w, a, mode, nonlinearity)"
    scheme: Literal["torch.kaiming_normal"]
    a: Real = 0.0
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: TorchNonlinearity = "leaky_relu"

    def expand(self) -> BaseSpec:
        return _torch_he("normal", self.a, self.mode, self.nonlinearity)


class TorchDefaultBias(Preset):
    """The default bias of ``nn.Linear``/``nn.Conv*d``: U(±1/√fan_in) with the *weight's*
    fan_in (0 when fan_in is 0).  Plans supply ``fan_in`` from the layer."""

    native: ClassVar[str] = "torch.nn.init.uniform_(b, -1/math.sqrt(fan_in), 1/math.sqrt(fan_in))"
    scheme: Literal["torch.default_bias"]
    fan_in: NonNegativeInt | None = None
    """fan_in of the layer's weight (plans fill it in from the layer)."""

    def expand(self) -> BaseSpec:
        if self.fan_in is None:
            raise _needs_layer(self.scheme, "fan_in", "the fan_in of the layer's weight")
        if self.fan_in == 0:
            return Zeros(scheme="zeros")
        bound = 1.0 / math.sqrt(self.fan_in)
        return Uniform(scheme="uniform", low=-bound, high=bound)


class TorchRecurrentDefault(Preset):
    """Every parameter of ``nn.RNN``/``LSTM``/``GRU`` (and cells): U(±1/√hidden_size)."""

    native: ClassVar[str] = "torch.nn.init.uniform_(w, -1/math.sqrt(hidden_size), 1/math.sqrt(hidden_size))"
    scheme: Literal["torch.recurrent_default"]
    hidden_size: PositiveInt | None = None
    """The layer's hidden size (plans fill it in from the layer)."""

    def expand(self) -> BaseSpec:
        if self.hidden_size is None:
            raise _needs_layer(self.scheme, "hidden_size", "the recurrent layer's hidden size")
        bound = 1.0 / math.sqrt(self.hidden_size)
        return Uniform(scheme="uniform", low=-bound, high=bound)


class TorchOrthogonal(Preset):
    native: ClassVar[str] = "torch.nn.init.orthogonal_(w, gain)"
    scheme: Literal["torch.orthogonal"]
    gain: PositiveReal = 1.0

    def expand(self) -> BaseSpec:
        return Orthogonal(scheme="orthogonal", gain=self.gain)


class TorchDirac(Preset):
    native: ClassVar[str] = "torch.nn.init.dirac_(w, groups)"
    scheme: Literal["torch.dirac"]
    groups: PositiveInt = 1

    def expand(self) -> BaseSpec:
        return Dirac(scheme="dirac", groups=self.groups)


class TorchSparse(Preset):
    native: ClassVar[str] = "torch.nn.init.sparse_(w, sparsity, std)"
    scheme: Literal["torch.sparse"]
    sparsity: float = Field(ge=0, lt=1, strict=True, allow_inf_nan=False)
    std: PositiveReal = 0.01

    def expand(self) -> BaseSpec:
        return Sparse(scheme="sparse", sparsity=self.sparsity, std=self.std)


# ----------------------------------------------------------------------------- Keras 3 / tf.keras


class KerasConstant(Preset):
    """``Constant(value)``: a number, or an array Keras broadcasts to the shape (the rule of
    ``{scheme: constant}``)."""

    native: ClassVar[str] = "keras.initializers.Constant(value)"
    scheme: Literal["keras.constant"]
    value: ConstantValue = 0.0

    def expand(self) -> BaseSpec:
        return Constant(scheme="constant", value=self.value)


class KerasRandomNormal(Preset):
    native: ClassVar[str] = "keras.initializers.RandomNormal(mean, stddev)"
    scheme: Literal["keras.random_normal"]
    mean: Real = 0.0
    stddev: PositiveReal = 0.05

    def expand(self) -> BaseSpec:
        return Normal(scheme="normal", mean=self.mean, std=self.stddev)


class KerasRandomUniform(Preset):
    native: ClassVar[str] = "keras.initializers.RandomUniform(minval, maxval)"
    scheme: Literal["keras.random_uniform"]
    minval: Real = -0.05
    maxval: Real = 0.05

    def expand(self) -> BaseSpec:
        return Uniform(scheme="uniform", low=self.minval, high=self.maxval)


class KerasTruncatedNormal(Preset):
    """Cut at mean ± 2·stddev, no variance correction (result std ≈ 0.88·stddev)."""

    native: ClassVar[str] = "keras.initializers.TruncatedNormal(mean, stddev)"
    scheme: Literal["keras.truncated_normal"]
    mean: Real = 0.0
    stddev: PositiveReal = 0.05

    def expand(self) -> BaseSpec:
        return TruncatedNormal(scheme="truncated_normal", mean=self.mean, std=self.stddev, low=-2.0, high=2.0,
                               bounds="std", std_of="parent")


class KerasVarianceScaling(Preset):
    """.. warning:: Keras reads ``distribution="normal"`` as the *truncated* normal; this
    preset does the same, so ``normal`` here expands to ``truncated_normal``.  Use
    ``untruncated_normal`` (Keras' spelling) for the plain normal."""

    native: ClassVar[str] = "keras.initializers.VarianceScaling(scale, mode, distribution)"
    scheme: Literal["keras.variance_scaling"]
    scale: PositiveReal = 1.0
    mode: Literal["fan_in", "fan_out", "fan_avg"] = "fan_in"
    distribution: Literal["truncated_normal", "normal", "untruncated_normal", "uniform"] = "truncated_normal"

    def expand(self) -> BaseSpec:
        dist = {"normal": "truncated_normal", "untruncated_normal": "normal"}.get(self.distribution, self.distribution)
        return VarianceScaling(scheme="variance_scaling", scale=self.scale, mode=self.mode, distribution=dist)


class KerasOrthogonal(Preset):
    native: ClassVar[str] = "keras.initializers.Orthogonal(gain)"
    scheme: Literal["keras.orthogonal"]
    gain: PositiveReal = 1.0

    def expand(self) -> BaseSpec:
        return Orthogonal(scheme="orthogonal", gain=self.gain)


class KerasIdentity(Preset):
    native: ClassVar[str] = "keras.initializers.Identity(gain)"
    scheme: Literal["keras.identity"]
    gain: PositiveReal = 1.0

    def expand(self) -> BaseSpec:
        return Identity(scheme="identity", gain=self.gain)


class KerasSTFT(Preset):
    """``keras.initializers.STFT``: the fixed DFT kernel of ``keras.layers.STFTSpectrogram``
    (no randomness; the formula is in ``initspec/stft.py``).  The tensor is a Conv1D kernel
    ``(frame_length, 1, fft_bins)`` - ``(fft_bins, 1, frame_length)`` in torch's layout -
    with ``fft_length = 2·(fft_bins - 1)``.  ``window: none`` (or null) means no window
    (and then no scaling); ``scaling: none`` (or null) no scaling.

    .. warning::
       Keras computes the kernel in the tensor's dtype (float32: up to 4e-4 from the exact
       DFT at frame_length 2048); this preset reproduces that for float32 and float64, so it
       matches Keras, not the exact DFT.  Half-precision kernels are computed in float32 and
       rounded once (within 1e-4 of the exact DFT), where Keras' float16 arithmetic is off by
       up to 0.04 at frame_length 256.  Keras ignores the input-channel axis (it always
       returns one channel); initspec refuses a kernel with more than one.
    """

    native: ClassVar[str] = "keras.initializers.STFT(side, window, scaling, periodic)"
    scheme: Literal["keras.stft"]
    side: Literal["real", "imag"] = "real"
    """`real` (cos) or `imag` (sin) part of the transform."""
    window: Annotated[Window | ArrayValue, or_array(Window)] = "hann"
    """A `scipy.signal` window name (symmetric unless periodic), `none`, or frame_length values."""
    scaling: Literal["density", "spectrum", "none"] = "density"
    """Divide by √Σw² (density), Σ|w| (spectrum) or nothing (none)."""
    periodic: StrictBool = False
    """Periodic (DFT-even) window instead of the symmetric one: scipy's `fftbins`."""

    @field_validator("window", "scaling", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return "none" if value is None else value

    def expand(self) -> BaseSpec:
        return self  # a law of its own: resolution computes the kernel (initspec.stft)


# ----------------------------------------------------------------------------- JAX / Flax (flax.* are aliases)


class JaxConstant(Preset):
    """``constant(value)`` is ``jnp.full(shape, value)``: a number, or an array broadcast to the
    shape (the rule of ``{scheme: constant}``)."""

    native: ClassVar[str] = "jax.nn.initializers.constant(value)"
    scheme: Literal[_jax_aliases(("jax.constant",))]  # type: ignore[valid-type]
    value: ConstantValue

    def expand(self) -> BaseSpec:
        return Constant(scheme="constant", value=self.value)


class JaxNormal(Preset):
    native: ClassVar[str] = "jax.nn.initializers.normal(stddev)"
    scheme: Literal[_jax_aliases(("jax.normal",))]  # type: ignore[valid-type]
    stddev: PositiveReal = 1e-2

    def expand(self) -> BaseSpec:
        return Normal(scheme="normal", mean=0.0, std=self.stddev)


class JaxUniform(Preset):
    """U[0, scale) - not symmetric."""

    native: ClassVar[str] = "jax.nn.initializers.uniform(scale)"
    scheme: Literal[_jax_aliases(("jax.uniform",))]  # type: ignore[valid-type]
    scale: PositiveReal = 1e-2

    def expand(self) -> BaseSpec:
        return Uniform(scheme="uniform", low=0.0, high=self.scale)


class JaxTruncatedNormal(Preset):
    """lower/upper in standard deviations, no variance correction."""

    native: ClassVar[str] = "jax.nn.initializers.truncated_normal(stddev, lower=lower, upper=upper)"
    scheme: Literal[_jax_aliases(("jax.truncated_normal",))]  # type: ignore[valid-type]
    stddev: PositiveReal = 1e-2
    lower: Real = -2.0
    upper: Real = 2.0

    def expand(self) -> BaseSpec:
        return TruncatedNormal(scheme="truncated_normal", mean=0.0, std=self.stddev, low=self.lower,
                               high=self.upper, bounds="std", std_of="parent")


def _jax_axes(in_axis: tuple[int, ...], out_axis: tuple[int, ...], batch_axis: tuple[int, ...]) -> Axes | None:
    if in_axis == (-2,) and out_axis == (-1,) and batch_axis == ():
        return None
    return Axes(in_axes=in_axis, out_axes=out_axis, batch_axes=batch_axis)


class JaxVarianceScaling(Preset):
    """JAX's ``normal`` is untruncated (unlike Keras')."""

    native: ClassVar[str] = "jax.nn.initializers.variance_scaling(scale, mode, distribution, in_axis, out_axis)"
    scheme: Literal[_jax_aliases(("jax.variance_scaling",))]  # type: ignore[valid-type]
    scale: PositiveReal
    mode: FanMode
    distribution: Literal["truncated_normal", "normal", "uniform"]
    in_axis: AxisTuple = (-2,)
    out_axis: AxisTuple = (-1,)
    batch_axis: AxisTuple = ()

    def expand(self) -> BaseSpec:
        return VarianceScaling(scheme="variance_scaling", scale=self.scale, mode=self.mode,
                               distribution=self.distribution,
                               axes=_jax_axes(self.in_axis, self.out_axis, self.batch_axis))


class JaxOrthogonal(Preset):
    native: ClassVar[str] = "jax.nn.initializers.orthogonal(scale, column_axis)"
    scheme: Literal[_jax_aliases(("jax.orthogonal",))]  # type: ignore[valid-type]
    scale: PositiveReal = 1.0
    column_axis: StrictInt = -1

    def expand(self) -> BaseSpec:
        out_axes = None if self.column_axis == -1 else (self.column_axis,)
        return Orthogonal(scheme="orthogonal", gain=self.scale, out_axes=out_axes)


class JaxDeltaOrthogonal(Preset):
    native: ClassVar[str] = "jax.nn.initializers.delta_orthogonal(scale)"
    scheme: Literal[_jax_aliases(("jax.delta_orthogonal",))]  # type: ignore[valid-type]
    scale: PositiveReal = 1.0

    def expand(self) -> BaseSpec:
        return DeltaOrthogonal(scheme="delta_orthogonal", gain=self.scale)
