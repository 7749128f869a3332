"""Plans for mappings of NumPy arrays: the walker and the writer.

``walk(model)`` describes a (nested) mapping of names to arrays: roles come from the leaf
names (weight/kernel, bias, scale/gamma, beta/offset, embedding), kinds from the weight's
rank (2-D: dense, more: conv), and a layer's bias inherits its weight's kind and fans.
``write(model, rows, ...)`` draws each row into its array in place through the one plan
writer (:func:`initspec.writer.write`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import portable, sampling, writer
from ...errors import ErrorDetail, SpecError
from ...layout import compute_fans
from ...params import ROLE_BY_LEAF, ParamInfo, normalize_path
from .random import sample

__all__ = ["Params", "walk", "write"]


class Params(dict):
    """A mapping of names to NumPy arrays, with the layout its weights are stored in
    (``"jax"``: (in, out); ``"torch"``: (out, in)).  A plain dict is read as ``"jax"``."""

    def __init__(self, arrays: Any = (), *, layout: str = "jax"):
        super().__init__(arrays)
        self.layout = layout


def _flatten(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], np.ndarray]]:
    out = []
    for key, value in tree.items():
        path = prefix + tuple(str(key).split("."))
        if isinstance(value, dict):
            out += _flatten(value, path)
        else:
            out.append((path, value))
    return out


def walk(model: Any) -> list[ParamInfo]:
    """Describe a (nested) mapping of NumPy arrays for plans (see the module docstring)."""
    layout = getattr(model, "layout", "jax")
    leaves = _flatten(model)
    weights: dict[tuple[str, ...], Any] = {}
    for path, arr in leaves:
        if ROLE_BY_LEAF.get(path[-1]) == "weight" and np.ndim(arr) >= 2:
            weights[path[:-1]] = compute_fans(tuple(np.shape(arr)), layout)
    norm_layers = {path[:-1] for path, _ in leaves if ROLE_BY_LEAF.get(path[-1]) == "scale"}
    infos = []
    for path, arr in leaves:
        if not isinstance(arr, np.ndarray):
            raise SpecError.single("unsupported_model", "every leaf of a NumPy parameter mapping must be an ndarray",
                                   loc=(".".join(path),), value=type(arr).__name__)
        role = ROLE_BY_LEAF.get(path[-1], "other")
        if role == "bias" and path[:-1] in norm_layers:
            role = "offset"  # the bias of a norm layer (one with a scale) is its offset
        fans = weights.get(path[:-1])
        if role == "weight":
            kind = "dense" if arr.ndim == 2 else "conv" if arr.ndim > 2 else "other"
        elif role in ("scale", "offset"):
            kind = "norm"
        elif role == "embedding":
            kind = "embedding"
        elif role == "bias" and fans is not None:
            kind = "dense" if fans.receptive_field == 1 else "conv"
        else:
            kind = "other"
        infos.append(ParamInfo(
            path=normalize_path(path, role), native_path=".".join(path), shape=tuple(arr.shape),
            dtype=sampling.dtype_name(arr.dtype), kind=kind, role=role, type="ndarray", layout=layout,
            native_layout=layout, layer_fans=fans, layer_native_fans=fans, handle=arr))
    return infos


class _Target:
    """The writer's view of a NumPy mapping: draws go straight into the arrays (native:
    ``np.random.default_rng(row.seed)``; portable: :func:`initspec.portable.draw_stored` in
    the canonical order)."""

    in_place = True

    def __init__(self, model: Any, seeding: str = "native"):
        self.model = model
        self.portable = seeding == "portable"

    def check(self, row: Any) -> list[ErrorDetail]:
        arr = row.param.handle
        if not isinstance(arr, np.ndarray):
            raise SpecError.single("wrong_backend", "these plan rows were not made by the NumPy walker",
                                   loc=(row.path,), value=type(arr).__name__)
        if not arr.flags.writeable:
            return [ErrorDetail("read_only", f"{row.path} is a read-only array: pass a writable copy "
                                "(np.array(x, copy=True))", loc=(row.path,), value="read-only")]
        try:
            sampling.check_dtype(row.distribution, arr.dtype)
        except SpecError as exc:
            return writer.row_errors(row, exc)
        return []

    def storage(self, row: Any) -> np.ndarray:
        return row.param.handle

    def draw(self, row: Any) -> None:
        arr = row.param.handle
        idx: Any = Ellipsis
        if row.block is not None:
            idx = [slice(None)] * arr.ndim
            idx[row.block.axis] = slice(row.block.start, row.block.stop)
            idx = tuple(idx)
        if self.portable:
            view = arr[idx]
            portable.draw_stored(row.distribution, row.shape, arr.dtype, row_seed=row.seed, layout=row.param.layout,
                                 out=view)
            return
        arr[idx] = sample(row.distribution, np.random.default_rng(row.seed), arr.dtype)

    def backup(self, storage: np.ndarray) -> np.ndarray:
        return storage.copy()

    def restore(self, storage: np.ndarray, old: np.ndarray) -> None:
        storage[...] = old

    def result(self) -> Any:
        return self.model


def write(model: Any, rows: Any, *, transactional: bool = False, checkpoint: writer.Checkpoint | None = None,
          seeding: str = "native") -> Any:
    """Draw each plan row into its array in place and return ``model`` (see
    :func:`initspec.writer.write` for ``transactional`` and ``checkpoint``; ``seeding``:
    ``native`` or ``portable``)."""
    return writer.write(_Target(model, seeding), rows, transactional=transactional, checkpoint=checkpoint)
