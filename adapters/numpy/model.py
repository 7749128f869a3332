"""Plans for mappings of NumPy arrays: the walker and the writer.

``walk(model)`` describes a (nested) mapping of names to arrays: roles come from the leaf
names (weight/kernel, bias, scale/gamma, beta/offset, embedding), kinds from the weight's
rank (2-D: dense, more: conv), and a layer's bias inherits its weight's kind and fans.
``write(model, rows, ...)`` draws each row into its array in place through the one plan
writer (:func:`initspec.writer.write`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import portable, sampling, writer
from ...errors import ErrorDetail, SpecError
from ...layout import compute_fans, normalize_layout
from ...params import ROLE_BY_LEAF, ParamInfo, normalize_path
from .. import _common
from .random import sample

__all__ = ["Params", "walk", "write"]


class Params(dict):
    """A mapping of names to NumPy arrays, with the layout its weights are stored in
    (``"jax"``: (in, out); ``"torch"``: (out, in)).  A plain dict is read as ``"jax"``."""

    def __init__(self, arrays: Any = (), *, layout: str = "jax"):
        super().__init__(arrays)
        self.layout = layout


def _flatten(tree: Any) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """Every leaf of a nested mapping with its path, in insertion order - on an explicit
    stack, so no depth raises RecursionError, and a mapping that contains itself is refused."""
    out: list[tuple[tuple[str, ...], Any]] = []
    open_ids: set[int] = set()
    stack: list[tuple[Any, tuple[str, ...], bool]] = [(tree, (), True)]
    while stack:
        node, path, entering = stack.pop()
        if not entering:  # leaving a mapping
            open_ids.discard(id(node))
            continue
        if isinstance(node, Mapping):
            if id(node) in open_ids:
                raise SpecError.single("unsupported_model", "the parameter mapping contains itself (a cycle)",
                                       loc=(".".join(path),), value=type(node).__name__)
            open_ids.add(id(node))
            stack.append((node, path, False))
            items = list(node.items())
            for key, value in reversed(items):
                stack.append((value, path + tuple(str(key).split(".")), True))
        else:
            out.append((path, node))
    return out


def _extent(arr: np.ndarray) -> tuple[int, int]:
    lo, hi = np.byte_bounds(arr) if hasattr(np, "byte_bounds") else np.lib.array_utils.byte_bounds(arr)
    return int(lo), int(hi)


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """Two array objects that are the same tensor: same memory, shape, strides and dtype."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.shape == b.shape
            and a.strides == b.strides and a.dtype == b.dtype)


def shared_storage(leaves: list[tuple[tuple[str, ...], np.ndarray]]) -> dict[int, int]:
    """Which leaves write the same memory: ``{index: index of the first leaf that is the same
    tensor}`` for ties (the same array, or a view of exactly the same elements, under two
    names); overlapping views that are not the same tensor raise ``shared_storage``, naming
    both paths.  Found by a sweep over the arrays' byte extents (then ``np.shares_memory``
    on the candidates), not by comparing every pair (:func:`initspec.adapters._common.shared_storage`)."""
    arrays = [arr for _, arr in leaves]
    return _common.shared_storage(
        ((None, *_extent(arr), i) for i, arr in enumerate(arrays) if arr.size),
        lambda i, j: _same_view(arrays[i], arrays[j]), lambda i, j: bool(np.shares_memory(arrays[i], arrays[j])),
        lambda i: ".".join(leaves[i][0]), "views of one array with different shapes or offsets",
        "give each parameter its own array (np.array(x, copy=True)), or the very same array to tie them")


def walk(model: Any) -> list[ParamInfo]:
    """Describe a (nested) mapping of NumPy arrays for plans (see the module docstring).

    The same array under several names (``enc.weight`` and ``dec.weight``) is a tie, as
    for tied torch parameters: one :class:`ParamInfo` under the first name in the
    mapping's order, the others in its ``aliases``, so it is planned and drawn once.
    Arrays that overlap without being the same tensor are an error (``shared_storage``)."""
    layout = normalize_layout(getattr(model, "layout", "jax"))
    leaves = _flatten(model)
    for path, arr in leaves:
        if not isinstance(arr, np.ndarray):
            raise SpecError.single("unsupported_model", "every leaf of a NumPy parameter mapping must be an ndarray",
                                   loc=(".".join(path),), value=type(arr).__name__)
    tied = shared_storage(leaves)
    weights: dict[tuple[str, ...], Any] = {}
    for path, arr in leaves:
        if ROLE_BY_LEAF.get(path[-1]) == "weight" and np.ndim(arr) >= 2:
            weights[path[:-1]] = compute_fans(tuple(np.shape(arr)), layout)
    norm_layers = {path[:-1] for path, _ in leaves if ROLE_BY_LEAF.get(path[-1]) == "scale"}
    infos = []
    aliases: dict[int, list[str]] = {}
    for i, first in tied.items():
        path = leaves[i][0]
        aliases.setdefault(first, []).append(normalize_path(path, ROLE_BY_LEAF.get(path[-1], "other")))
    for i, (path, arr) in enumerate(leaves):
        if i in tied:
            continue
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
            native_layout=layout, layer_fans=fans, layer_native_fans=fans, aliases=tuple(aliases.get(i, ())),
            handle=arr))
    return infos


class _Target(writer.InPlaceTarget):
    """The writer's view of a NumPy mapping: draws go straight into the arrays (native:
    ``np.random.default_rng(row.seed)``; portable: :func:`initspec.portable.draw_stored` in
    the canonical order)."""

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


def write(model: Any, rows: Any, *, transactional: bool = False, checkpoint: writer.Checkpoint | None = None,
          seeding: str = "native") -> Any:
    """Draw each plan row into its array in place and return ``model`` (see
    :func:`initspec.writer.write` for ``transactional`` and ``checkpoint``; ``seeding``:
    ``native`` or ``portable``)."""
    return writer.write(_Target(model, seeding), rows, transactional=transactional, checkpoint=checkpoint)
