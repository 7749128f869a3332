"""Framework-free helpers shared by the adapters."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .. import complexlaw
from .. import distributions as D
from ..errors import SpecError
from ..layout import Layout, normalize_layout
from ..parsing import parse
from ..spec import BaseSpec

__all__ = ["require", "prepare", "derive_seed", "shared_storage",
           "DRAW_NAMES", "draw_table"]


_EXTRAS = {"torch": "torch", "keras": "keras", "tensorflow": "tensorflow", "jax": "jax", "flax": "flax",
           "ml_dtypes": "jax"}


#: The function that draws each law in every backend's ``random.py`` (one name per law type;
#: the two given arrays are both ``fixed``).
DRAW_NAMES: dict[type, str] = {
    D.ConstantArray: "fixed", D.STFTKernel: "fixed",
    D.Constant: "constant", D.Uniform: "uniform", D.Normal: "normal", D.TruncatedNormal: "truncated_normal",
    D.Orthogonal: "orthogonal", D.Identity: "identity", D.Dirac: "dirac", D.DeltaOrthogonal: "delta_orthogonal",
    D.Sparse: "sparse", complexlaw.Complex: "complex_",
}


def draw_table(namespace: Mapping[str, Any]) -> dict[type, Callable[..., Any]]:
    """A backend's ``DRAW`` table: each law type -> the function of :data:`DRAW_NAMES`' name in
    ``namespace`` (its ``random.py``'s ``globals()``); a missing one fails the import."""
    missing = sorted({name for name in DRAW_NAMES.values() if not callable(namespace.get(name))})
    if missing:
        raise ImportError(f"{namespace.get('__name__')} defines no draw function {', '.join(missing)}")
    return {law: namespace[name] for law, name in DRAW_NAMES.items()}


def require(module: str) -> ModuleType:
    """Import a framework, or raise ImportError with the fix."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRAS.get(module.split(".")[0], module)
        raise ImportError(f"this initspec adapter needs {module!r}: pip install 'initspec[{extra}]' "
                          f"({exc})") from exc


def prepare(spec: Any, layout: Any) -> tuple[BaseSpec, Layout]:
    """Parse the spec and check the layout once, when the initializer is built."""
    return parse(spec), normalize_layout(layout)


def first_array(out: Any) -> Any:
    """The first array of a model's output (anything with a shape and a dtype), searching
    mappings, tuples and lists in order; None without one."""
    if isinstance(out, Mapping):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for item in out:
            found = first_array(item)
            if found is not None:
                return found
        return None
    return out if hasattr(out, "shape") and hasattr(out, "dtype") else None


def distinct(items: list[Any]) -> list[Any]:
    """``items`` without repeats by identity (tied weights share one variable), in order."""
    seen: dict[int, Any] = {}
    for x in items:
        seen.setdefault(id(x), x)
    return list(seen.values())


def layer_path(p: Any) -> str:
    """The path of the layer that owns the parameter ``p``: its path less the last name."""
    return p.path.rsplit(".", 1)[0] if "." in p.path else p.path


@dataclass(frozen=True)
class Norm:
    """A layer read as a norm (torch and Keras layers the frameworks do not call norms): its
    scale and shift weights' names and its gain's offset (1: it multiplies by 1 + scale)."""

    scale: str
    shift: str | None
    offset: int
    how: str  # "registry", "probe" or "torch"

    def role(self, name: str) -> str:
        return "scale" if name == self.scale else "offset" if name == self.shift else "other"


def norm_weights(shapes: dict[str, tuple[int, ...]], scale_names: tuple[str, ...],
                 shift_names: tuple[str, ...]) -> tuple[str, str | None] | None:
    """The (scale, shift) names of a layer's own weights, by name -> shape, when they look like
    a norm's: a 1-D scale named one of ``scale_names``, perhaps a shift of the same shape named
    one of ``shift_names``, and nothing else; None otherwise."""
    scale = next((n for n in scale_names if n in shapes), None)
    if scale is None or len(shapes[scale]) != 1:
        return None
    shift = next((n for n in shift_names if n in shapes), None)
    if shift is not None and shapes[shift] != shapes[scale]:
        return None
    if set(shapes) - {scale, shift}:
        return None
    return scale, shift


def derive_seed(seed: int, *parts: Any) -> int:
    """A stable 63-bit seed from ``seed`` and labels (e.g. a parameter path)."""
    import hashlib

    h = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") >> 1


def shared_storage(spans: Iterable[tuple[Hashable, int, int, int]], same: Callable[[int, int], bool],
                   overlap: Callable[[int, int], bool], path: Callable[[int], str], views: str,
                   fix: str) -> dict[int, int]:
    """Which of a model's tensors write the same memory, the rule of every in-place backend:
    ``spans`` holds one ``(memory space, first byte, end byte, index)`` per tensor with
    elements; ``same(i, j)``: the two are the same tensor (the same address, shape, strides
    and dtype) - a tie; ``overlap(i, j)``: their elements share memory (asked only of
    tensors whose byte extents meet).  Returns ``{index: index of the first tensor that is
    the same tensor}`` for the ties; any other overlap raises ``shared_storage`` naming both
    paths (``views`` and ``fix`` complete the message).  A sweep over the extents sorted by
    their first byte, not a comparison of every pair."""
    tied: dict[int, int] = {}
    active: list[tuple[Hashable, int, int]] = []  # (memory space, end, index) of extents that may still meet
    for space, start, end, i in sorted(spans, key=lambda s: (str(s[0]), s[1], s[2], s[3])):
        active = [(sp, e, j) for sp, e, j in active if sp == space and e > start]
        for _, _, j in active:
            first, other = min(i, j), max(i, j)
            if same(i, j):
                tied[other] = tied.get(first, first)
            elif overlap(i, j):
                pa, pb = path(first), path(other)
                raise SpecError.single(
                    "shared_storage", f"{pa} and {pb} overlap in memory but are not the same tensor ({views}): "
                    f"initializing one would overwrite part of the other; {fix}", loc=(pb,), value=(pa, pb))
        active.append((space, end, i))
    for k, v in list(tied.items()):  # a tie of a tie points at the first of them
        while v in tied:
            v = tied[v]
        tied[k] = v
    return tied
