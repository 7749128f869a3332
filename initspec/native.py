"""The native call that reproduces a resolved law in each framework, as copy-pasteable code.

``native_calls(spec_or_distribution, shape, layout)`` returns, for every backend (``torch``,
``keras``, ``jax`` - also Flax: ``flax.linen.initializers`` re-exports it - and ``numpy``),
a :class:`~initspec.calls.NativeCall`: a code string, whether it draws exactly the resolved
law for this shape, and a note.  ``explain`` and ``convert native`` print them;
``tests/test_native.py`` executes every one and tests the samples against the law.  Each
backend writes its own call in ``adapters/<name>/native.py``; the shared helpers and the
code contract are in :mod:`initspec.calls`.  Strings only: no framework is imported.
"""

from __future__ import annotations

from typing import Any

from . import backends
from . import distributions as D
from .calls import Ctx, NativeCall
from .layout import normalize_layout

__all__ = ["NativeCall", "native_calls", "frameworks"]


def frameworks() -> list[str]:
    """The backends in display order: the frameworks first, the NumPy reference last."""
    names = backends.names()
    return [n for n in names if n != "numpy"] + [n for n in names if n == "numpy"]


def native_calls(dist_or_spec: Any, shape: Any = None, layout: Any = None) -> dict[str, NativeCall]:
    """The equivalent native call in each framework (see the module docstring).

    ``dist_or_spec`` is a resolved :class:`~initspec.Distribution` (its derivation supplies
    shape and layout) or a spec/mapping resolved here with ``shape`` and ``layout``.
    """
    if isinstance(dist_or_spec, D.Distribution):
        dist = dist_or_spec
    else:
        from .resolution import resolve

        dist = resolve(dist_or_spec, shape, layout)
    der = dist.derivation
    if der is not None:
        shape, layout = der.shape, der.layout
    elif shape is None:
        shape = getattr(dist, "shape", None)
        if shape is None:
            raise ValueError("native_calls needs a shape for a distribution without a derivation")
    shape = tuple(int(s) for s in shape)
    layout = normalize_layout(layout) if layout is not None else None
    out = {}
    for name in frameworks():
        native = backends.module(name, "native")
        out[name] = native.native_call(Ctx(dist, shape, layout, name, native.LAYOUT))
    return out
