"""Backends: one module per framework, all with the same contract.

=================================  =============================================================
module                              returns
=================================  =============================================================
``initspec.adapters.numpy``         ``init(shape, *, seed=None, dtype=np.float32) -> ndarray``
``initspec.adapters.torch``         ``init_(tensor, generator=None) -> tensor`` (in place)
``initspec.adapters.keras``         a ``keras.initializers.Initializer`` (serializable)
``initspec.adapters.jax``           ``init(key, shape, dtype=jnp.float32) -> Array`` (jit-safe)
=================================  =============================================================

Each module imports its framework only when it is used, and nothing else; importing this
package imports no framework.  Every adapter only *draws* from the distribution that
:func:`initspec.resolve` computed - none of them redoes the math.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["numpy", "torch", "keras", "jax", "BACKENDS"]

#: Adapter module names, in the order the conformance suite runs them.
BACKENDS = ("numpy", "torch", "keras", "jax")


def __getattr__(name: str) -> Any:  # lazy: `from initspec.adapters import torch`
    if name in BACKENDS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
