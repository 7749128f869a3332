"""JAX / Flax backend: a ``jax.nn.initializers``-style initializer for any spec.

>>> import jax, jax.numpy as jnp
>>> from initspec.adapters import jax as isjax
>>> init = isjax.initializer({"scheme": "he", "distribution": "truncated_normal"})  # layout="jax": (in, out)
>>> w = init(jax.random.key(0), (512, 256), jnp.float32)
>>> w.dtype, w.shape, bool(abs(w).max() < 2 * (2 / 512) ** 0.5 / 0.87962566103423978)
(dtype('float32'), (512, 256), True)

``init(key, shape, dtype=None, out_sharding=None) -> jax.Array`` has the signature of the
``jax.nn.initializers.Initializer`` protocol, so it drops in wherever a JAX initializer does:
Flax ``kernel_init`` / ``bias_init`` / ``embedding_init`` (linen and nnx), ``jax.jit``
(the shape and dtype are static, as for JAX's own initializers), ``jax.vmap`` over keys.

* **Keys**: new-style typed keys (``jax.random.key``) and raw ``uint32`` keys
  (``jax.random.PRNGKey``) give the same values.  The same key, shape and dtype give
  bit-identical values, eager or jitted, on every device (threefry is backend-independent).
  There is no global state.
* **Resolution** happens in Python when the call is traced (shapes are static):
  :func:`initspec.resolve` computes the law, :func:`sample` draws it with ``jax.random`` on
  the default device (or ``jax.default_device``); nothing is drawn on the host.
* **dtypes**: float16, bfloat16, float32, float64.  float16/bfloat16 are drawn in float32 and
  rounded (JAX's half-precision uniform keeps only 7-10 random mantissa bits), orthogonal
  and delta-orthogonal included (JAX's QR has no half-precision kernel).  Integer and
  complex dtypes raise :class:`~initspec.SpecError` for random schemes; constant, identity
  and dirac accept them.  ``dtype=None`` is JAX's default float dtype.

.. warning::
   float64 needs ``jax_enable_x64``.  Without it ``jax.nn.initializers`` warn and return
   float32; this adapter raises :class:`~initspec.SpecError` ``x64_disabled`` instead (so do
   plans on Flax models with float64 parameters, and Keras on the JAX backend).  Turn x64 on
   with ``jax.config.update("jax_enable_x64", True)`` or ``with jax.enable_x64(True):``, or
   ask for float32.

.. warning::
   JAX's ``*_normal`` initializers (``he_normal``, ``glorot_normal``, ``lecun_normal``) are
   truncated, variance-corrected normals, while initspec's ``normal`` is never truncated:
   ``jax.he_normal`` is ``{scheme: he, distribution: truncated_normal}``.

Plans
    :mod:`initspec.adapters.jax.model` (``walk`` / ``write``) and :class:`Linen` let
    :func:`initspec.plan` and :func:`initspec.apply` walk and initialize Flax linen
    variables (``manifest.params`` is a new tree) and ``flax.nnx`` modules (in place).

The folder is laid out like every backend's (see :mod:`initspec.backends`): ``random.py``
draws each law (the ``DRAW`` table, :func:`sample`, key and dtype checks, sharded draws),
``model.py`` walks and writes Flax models, ``_layers.py`` classifies Flax layers,
``conformance.py`` is the conformance-suite driver and ``native.py`` prints the native call.
"""

from __future__ import annotations

import functools
from typing import Any

from ... import distributions as D
from ...resolution import resolve
from .._common import prepare, require
from .model import Linen
from .random import _static_shape, sample

__all__ = ["initializer", "sample", "JaxInitializer", "Linen"]


# ----------------------------------------------------------------------------- the initializer


class JaxInitializer:
    """``init(key, shape, dtype=None, out_sharding=None) -> jax.Array`` for one spec.

    Immutable, hashable and compared by (spec, layout), so it can be a static field of a Flax
    module or a static argument of ``jax.jit``; registered as a leafless pytree node.
    """

    __slots__ = ("_spec", "_layout", "__weakref__")
    backend = "jax"

    def __init__(self, spec: Any, layout: Any = "jax"):
        spec, layout = prepare(spec, layout)
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_layout", layout)
        _register_pytree()

    @property
    def spec(self) -> Any:
        return self._spec

    @property
    def layout(self) -> Any:
        return self._layout

    def resolve(self, shape: Any) -> D.Distribution:
        """The law this initializer draws for a tensor of ``shape``."""
        return resolve(self._spec, _static_shape(shape), self._layout)

    def __call__(self, key: Any, shape: Any, dtype: Any = None, out_sharding: Any = None) -> Any:
        return sample(self.resolve(shape), key, shape, dtype, out_sharding=out_sharding)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a JaxInitializer is immutable; build a new one with initializer(spec, layout)")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self._spec, self._layout) == (other._spec, other._layout)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._spec, self._layout))

    def __reduce__(self) -> Any:
        return (JaxInitializer, (self._spec, self._layout))

    def __repr__(self) -> str:
        layout = self._layout.model_dump() if hasattr(self._layout, "model_dump") else self._layout
        return f"initspec.adapters.jax.initializer({self._spec.to_dict()!r}, layout={layout!r})"


@functools.cache
def _register_pytree() -> None:
    """Make initializers leafless pytree nodes (static under ``jax.jit``/``vmap``/Flax), once."""
    require("jax").tree_util.register_static(JaxInitializer)


def initializer(spec: Any, layout: Any = "jax") -> JaxInitializer:
    """Compile ``spec`` into a JAX initializer for tensors in ``layout`` (default ``"jax"``:
    ``(*kernel, in, out)``, which is also Flax's; ``"flax"`` reads the same).

    The spec and layout are checked now (:class:`~initspec.SpecError`); shapes a scheme
    cannot take and dtypes it cannot draw are reported when the initializer is called (or
    traced).
    """
    return JaxInitializer(spec, layout)

