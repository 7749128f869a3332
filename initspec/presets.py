"""Framework presets: namespaced names that reproduce a native initializer exactly.

``{scheme: keras.he_normal}`` is the law of ``keras.initializers.HeNormal()`` - a truncated,
variance-corrected normal - and ``{scheme: torch.kaiming_normal}`` is torch's untruncated
one.  Each preset takes the native function's own parameters with the native defaults and
expands (:meth:`Preset.expand`) to a plain spec, so the difference between frameworks is
visible as data::

    >>> from initspec import parse
    >>> parse({"scheme": "torch.default_weight"}).expand().to_dict()
    {'scheme': 'he', 'distribution': 'uniform', 'mode': 'fan_in', 'nonlinearity': 'leaky_relu', 'negative_slope': 2.23606797749979}

Presets are laws, not layouts: the fans come from the layout of the tensor they are applied
to, so ``torch.default_weight`` on a Flax kernel is U(±1/√fan_in) with Flax's fan_in.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from ._types import AxisTuple, FanMode, NonNegativeInt, PositiveInt, PositiveReal, Real, StrictInt
from .spec import (
    Axes,
    BaseSpec,
    DeltaOrthogonal,
    Dirac,
    Glorot,
    He,
    Identity,
    Lecun,
    Normal,
    Orthogonal,
    Sparse,
    TruncatedNormal,
    Uniform,
    VarianceScaling,
    Zeros,
)

__all__ = ["Preset", "PRESETS"]

PRESETS: dict[str, type[Preset]] = {}

TorchNonlinearity = Literal[
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "sigmoid", "tanh", "relu", "leaky_relu", "selu",
]


class Preset(BaseSpec):
    """Base class of framework presets."""

    #: The native call this preset reproduces (shown by ``explain`` and in the docs).
    native: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.model_fields["scheme"].annotation.__args__[0]  # type: ignore[union-attr]
        PRESETS[name] = cls

    def expand(self) -> BaseSpec:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


def _needs_layer(scheme: str, field: str, what: str) -> Exception:
    from .errors import ShapeError

    return ShapeError.single(
        "needs_layer", f"{scheme} needs {what}: give {field}, or use it in a plan, which fills it in from the layer",
        loc=(field,))


def _torch_he(distribution: str, a: float, mode: str, nonlinearity: str) -> He:
    nl = "conv" if nonlinearity.startswith("conv") else nonlinearity
    slope = a if nl == "leaky_relu" else None
    return He(scheme="he", distribution=distribution, mode=mode, nonlinearity=nl, negative_slope=slope)


# ----------------------------------------------------------------------------- PyTorch


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


class TorchDefaultWeight(Preset):
    """The default weight of ``nn.Linear``, ``nn.Conv*d``, ``nn.ConvTranspose*d``:
    ``kaiming_uniform_(w, a=√5)`` = U(±1/√fan_in)."""

    native: ClassVar[str] = "torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5))"
    scheme: Literal["torch.default_weight"]

    def expand(self) -> BaseSpec:
        return _torch_he("uniform", math.sqrt(5.0), "fan_in", "leaky_relu")


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


class TorchEmbedding(Preset):
    """The default of ``nn.Embedding``: N(0, 1)."""

    native: ClassVar[str] = "torch.nn.init.normal_(w)"
    scheme: Literal["torch.embedding"]

    def expand(self) -> BaseSpec:
        return Normal(scheme="normal", mean=0.0, std=1.0)


class TorchOrthogonal(Preset):
    native: ClassVar[str] = "torch.nn.init.orthogonal_(w, gain)"
    scheme: Literal["torch.orthogonal"]
    gain: PositiveReal = 1.0

    def expand(self) -> BaseSpec:
        return Orthogonal(scheme="orthogonal", gain=self.gain)


class TorchEye(Preset):
    native: ClassVar[str] = "torch.nn.init.eye_(w)"
    scheme: Literal["torch.eye"]

    def expand(self) -> BaseSpec:
        return Identity(scheme="identity", gain=1.0)


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


def _named_vs(prefix: str, native_fmt: str) -> None:
    """Define ``<prefix>.{glorot,he,lecun}_{uniform,normal}`` presets (normal = corrected truncated)."""
    for family, spec_cls in (("glorot", Glorot), ("he", He), ("lecun", Lecun)):
        for dist in ("uniform", "normal"):
            name = f"{prefix}.{family}_{dist}"
            canonical = "truncated_normal" if dist == "normal" else "uniform"

            def expand(self: Preset, _cls: type = spec_cls, _family: str = family, _dist: str = canonical) -> BaseSpec:
                return _cls(scheme=_family, distribution=_dist)

            cls_name = "".join(p.capitalize() for p in name.replace(".", "_").split("_"))
            native = native_fmt.format(
                camel=f"{family.capitalize()}{dist.capitalize()}", snake=f"{family}_{dist}")
            type(cls_name, (Preset,), {
                "__module__": __name__,
                "__doc__": f"``{native}``: {family} {'truncated (variance-corrected) normal' if dist == 'normal' else 'uniform'}.",
                "__annotations__": {"scheme": Literal[name], "native": ClassVar[str]},
                "native": native,
                "expand": expand,
            })


_named_vs("keras", "keras.initializers.{camel}()")


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


class KerasEmbedding(Preset):
    """The default of ``keras.layers.Embedding``: ``"uniform"`` = U(-0.05, 0.05)."""

    native: ClassVar[str] = 'keras.layers.Embedding(..., embeddings_initializer="uniform")'
    scheme: Literal["keras.embedding"]

    def expand(self) -> BaseSpec:
        return Uniform(scheme="uniform", low=-0.05, high=0.05)


# ----------------------------------------------------------------------------- JAX / Flax


def _jax_axes(in_axis: tuple[int, ...], out_axis: tuple[int, ...], batch_axis: tuple[int, ...]) -> Axes | None:
    if in_axis == (-2,) and out_axis == (-1,) and batch_axis == ():
        return None
    return Axes(in_axes=in_axis, out_axes=out_axis, batch_axes=batch_axis)


def _jax_family(namespace: str) -> None:
    module = {"jax": "jax.nn.initializers", "flax": "flax.linen.initializers"}[namespace]
    _named_vs(namespace, module + ".{snake}()")

    class Normal_(Preset):
        native: ClassVar[str] = f"{module}.normal(stddev)"
        scheme: Literal[f"{namespace}.normal"]  # type: ignore[valid-type]
        stddev: PositiveReal = 1e-2

        def expand(self) -> BaseSpec:
            return Normal(scheme="normal", mean=0.0, std=self.stddev)

    class Uniform_(Preset):
        """U[0, scale) - not symmetric."""

        native: ClassVar[str] = f"{module}.uniform(scale)"
        scheme: Literal[f"{namespace}.uniform"]  # type: ignore[valid-type]
        scale: PositiveReal = 1e-2

        def expand(self) -> BaseSpec:
            return Uniform(scheme="uniform", low=0.0, high=self.scale)

    class TruncatedNormal_(Preset):
        """lower/upper in standard deviations, no variance correction."""

        native: ClassVar[str] = f"{module}.truncated_normal(stddev, lower=lower, upper=upper)"
        scheme: Literal[f"{namespace}.truncated_normal"]  # type: ignore[valid-type]
        stddev: PositiveReal = 1e-2
        lower: Real = -2.0
        upper: Real = 2.0

        def expand(self) -> BaseSpec:
            return TruncatedNormal(scheme="truncated_normal", mean=0.0, std=self.stddev, low=self.lower,
                                   high=self.upper, bounds="std", std_of="parent")

    class VarianceScaling_(Preset):
        """JAX's ``normal`` is untruncated (unlike Keras')."""

        native: ClassVar[str] = f"{module}.variance_scaling(scale, mode, distribution, in_axis, out_axis)"
        scheme: Literal[f"{namespace}.variance_scaling"]  # type: ignore[valid-type]
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

    class Orthogonal_(Preset):
        native: ClassVar[str] = f"{module}.orthogonal(scale, column_axis)"
        scheme: Literal[f"{namespace}.orthogonal"]  # type: ignore[valid-type]
        scale: PositiveReal = 1.0
        column_axis: StrictInt = -1

        def expand(self) -> BaseSpec:
            out_axes = None if self.column_axis == -1 else (self.column_axis,)
            return Orthogonal(scheme="orthogonal", gain=self.scale, out_axes=out_axes)

    class DeltaOrthogonal_(Preset):
        native: ClassVar[str] = f"{module}.delta_orthogonal(scale)"
        scheme: Literal[f"{namespace}.delta_orthogonal"]  # type: ignore[valid-type]
        scale: PositiveReal = 1.0

        def expand(self) -> BaseSpec:
            return DeltaOrthogonal(scheme="delta_orthogonal", gain=self.scale)

    for cls in (Normal_, Uniform_, TruncatedNormal_, VarianceScaling_, Orthogonal_, DeltaOrthogonal_):
        cls.__name__ = cls.__qualname__ = namespace.capitalize() + cls.__name__.rstrip("_")


_jax_family("jax")
_jax_family("flax")


class FlaxEmbed(Preset):
    """The default of ``flax.linen.Embed`` / ``nnx.Embed``: N(0, 1/features), untruncated
    (``variance_scaling(1.0, 'fan_in', 'normal', out_axis=0)``, whose fan_in is the feature size)."""

    native: ClassVar[str] = "flax.linen.Embed(...)  # embedding_init default"
    scheme: Literal["flax.embed"]

    def expand(self) -> BaseSpec:
        return VarianceScaling(scheme="variance_scaling", scale=1.0, mode="fan_in", distribution="normal",
                               axes=Axes(in_axes=(-1,), out_axes=(0,)))


class FlaxDefaultKernel(Preset):
    """The default kernel of ``Dense``/``Conv``/attention in Flax: LeCun truncated normal."""

    native: ClassVar[str] = "flax.linen.initializers.lecun_normal()"
    scheme: Literal["flax.default_kernel"]

    def expand(self) -> BaseSpec:
        return Lecun(scheme="lecun", distribution="truncated_normal")

