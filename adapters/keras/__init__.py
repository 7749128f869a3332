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
with ``jax_enable_x64``).  Random schemes reject integer dtypes with a SpecError; constant,
identity and dirac also fill integer and bool tensors with integral values (the dtype rules
of :func:`initspec.sampling.check_dtype`, the same in every backend).

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
                           0 to 2**64 - 1 (:func:`initspec.sampling.check_seed`); Keras'
                           own ``-1`` ("a fresh seed") is a ``bad_seed``: pass ``None``.
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

Attention and einsum layers
---------------------------
Since Keras 3.15, ``EinsumDense`` (and so ``MultiHeadAttention``, whose query, key, value
and output projections are EinsumDense layers) hands the einsum's input/output axes to the
initializers that are ``keras.initializers.VarianceScaling`` instances: it clones them with
``from_config({..., "input_axes": [...], "output_axes": [...]})``, so native Glorot on a
query kernel (E, H, D) uses fan_in = E, fan_out = H·D (not the convolution reading of a
rank-3 kernel, fan_in = H·E).  :class:`InitSpecInitializer` is such an instance, so it gets
the same axes: the clone's layout becomes ``initspec.Axes(in_axes=input_axes,
out_axes=output_axes)`` - (0,) / (1, 2) for query/key/value, (0, 1) / (2,) for the output
kernel (H, D, E) - and its fans are Keras' own.  The clone's config holds that layout, so
``model.save`` / ``load_model`` round-trip it.  An initializer built with an explicit
``initspec.Axes`` layout reports those axes as ``input_axes``/``output_axes`` and is used as
given; one with a named layout (``"keras"``, ``"torch"``, ``"jax"``) takes the layer's axes.
Keras before 3.15 hands no axes to anyone: pass ``layout=initspec.Axes(...)`` there.

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
The method and its parameters are the core's (:func:`initspec.sampling.truncation`), the
same for every backend: when float precision allows (the usual case: bounds within
4σ in float32, 6σ in float64) the inverse CDF, x = μ + σ·√2·erfinv(v) with
v uniform on [erf(α/√2), erf(β/√2)) - one pass, and faster than the native ±2σ sampler
on the TF and torch backends.  Bounds that almost never cut (fewer than one value of the
tensor expected outside) draw the parent normal and check it once.  Deep tails and very
wide bounds use exact rejection sampling instead: a normal, uniform or
translated-exponential proposal (Robert 1995) chosen by the interval.  Either way every
value lies inside [low, high] (strictly inside in the work dtype; half precision rounds
to nearest, so it may reach a bound it can represent, never pass it).
Rejection needs concrete values, so it runs eagerly (not inside ``jax.jit``).

Plans
-----
:mod:`initspec.adapters.keras.model` (``walk`` and ``write``) lets :func:`initspec.plan`
and :func:`initspec.apply` walk and initialize a whole built Keras model (Sequential,
functional or subclassed) on any Keras backend; each parameter is drawn with
:func:`sample` from its own seed.  The laws are drawn by
:mod:`initspec.adapters.keras.random` (one function per distribution type, the table
``DRAW``).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import distributions as D
from ...errors import SpecError
from ...parsing import parse, parse_model
from ...resolution import resolve
from ...spec import Axes
from .._common import prepare, require
from .random import _check_seed, sample

__all__ = ["initializer", "register", "sample", "InitSpecInitializer"]


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
    call), an int from 0 to 2**64 - 1 (identical values each call) or a
    ``keras.random.SeedGenerator``."""
    return _initializer_class()(spec, layout=layout, seed=seed)


def __getattr__(name: str) -> Any:  # the class itself is built on first use (imports keras)
    if name == "InitSpecInitializer":
        return _initializer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------- the Initializer


@functools.cache
def _initializer_class() -> type:
    keras = require("keras")

    # A VarianceScaling subclass (none of its behaviour is inherited) because EinsumDense hands
    # the einsum's input/output axes only to VarianceScaling instances (module docstring).
    @keras.saving.register_keras_serializable(package="initspec", name="InitSpecInitializer")
    class InitSpecInitializer(keras.initializers.VarianceScaling):
        """An initspec spec as a Keras initializer; ``get_config()`` is the spec itself
        (plus ``layout`` and ``seed``).  See :mod:`initspec.adapters.keras` for seeding and
        for the axes ``EinsumDense`` passes (``input_axes``/``output_axes``)."""

        def __init__(self, spec: Any, layout: Any = "keras", seed: Any = None, input_axes: Any = None,
                     output_axes: Any = None):
            self.spec, self.layout = prepare(spec, layout)
            if input_axes is not None and output_axes is not None and not isinstance(self.layout, Axes):
                # EinsumDense's clone: the einsum's own axes (Keras' compute_fans: no receptive field)
                # (a saved config's axes are checked as a spec's: 1.5, True or "a" is an error)
                self.layout = parse_model(Axes, {"in_axes": _axis_list(input_axes), "out_axes": _axis_list(output_axes)})
            if isinstance(seed, dict):  # a serialized SeedGenerator
                try:
                    seed = keras.saving.deserialize_keras_object(seed)
                except Exception as exc:  # noqa: BLE001 - whatever Keras raises for a broken config
                    raise SpecError.single(
                        "bad_seed", f"a saved seed that is not a serialized keras.random.SeedGenerator "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}): a config's "
                        "seed is None, an int or keras.saving.serialize_keras_object(SeedGenerator(...))",
                        loc=("seed",), value=str(seed)[:200]) from None
            self.seed = _check_seed(keras, seed)

        @property
        def input_axes(self) -> list[int] | None:
            """The layout's input axes when it is an ``initspec.Axes`` (``EinsumDense`` then
            keeps this initializer as it is), else None (it passes the einsum's axes)."""
            return list(self.layout.in_axes) if isinstance(self.layout, Axes) else None

        @property
        def output_axes(self) -> list[int] | None:
            return list(self.layout.out_axes) if isinstance(self.layout, Axes) else None

        def resolve(self, shape: Any) -> D.Distribution:
            """The law a tensor of ``shape`` receives (:func:`initspec.resolve`)."""
            return resolve(self.spec, _as_shape(shape), self.layout)

        def __call__(self, shape: Any, dtype: Any = None) -> Any:
            shape = _as_shape(shape)
            return sample(resolve(self.spec, shape, self.layout), shape, dtype, self.seed)

        def get_config(self) -> dict[str, Any]:
            layout = self.layout.model_dump(mode="json") if isinstance(self.layout, Axes) else self.layout
            seed = self.seed
            if isinstance(seed, keras.random.SeedGenerator):
                seed = keras.saving.serialize_keras_object(seed)
            return {**self.spec.to_dict(), "layout": layout, "seed": seed}

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> Any:
            if not isinstance(config, Mapping):
                raise SpecError.single("wrong_type", "an InitSpecInitializer config is a mapping: the spec's fields "
                                       "plus layout and seed (what get_config() returns)",
                                       value=type(config).__name__)
            config = dict(config)
            layout = config.pop("layout", "keras")
            seed = config.pop("seed", None)
            input_axes, output_axes = config.pop("input_axes", None), config.pop("output_axes", None)
            return cls(parse(config), layout=layout, seed=seed, input_axes=input_axes, output_axes=output_axes)

        def __repr__(self) -> str:
            layout = self.layout.model_dump(mode="json") if isinstance(self.layout, Axes) else self.layout
            seed = self.seed
            if isinstance(seed, keras.random.SeedGenerator):
                seed = f"SeedGenerator(seed={seed.get_config()['seed']!r})"
            return f"initspec.adapters.keras.initializer({self.spec.to_dict()!r}, layout={layout!r}, seed={seed!s})"

    InitSpecInitializer.__module__ = __name__
    InitSpecInitializer.__qualname__ = "InitSpecInitializer"  # picklable via the module __getattr__
    return InitSpecInitializer


def _axis_list(axes: Any) -> Any:
    """EinsumDense's axes as a list (NumPy ints as ints); anything else as is, for Axes to refuse."""
    if isinstance(axes, (list, tuple)):
        return [int(a) if isinstance(a, np.integer) else a for a in axes]
    return axes


def _as_shape(shape: Any) -> Any:
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        return shape  # let initspec.resolve report it as a ShapeError
