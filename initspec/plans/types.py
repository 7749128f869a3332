"""Declared native types: how to read the layers a walker does not recognise.

A walker reports each parameter's native layer type (``Conv1D``, ``LlamaRMSNorm``,
``ndarray``); a type it does not know becomes kind ``other``, its roles come from the leaf
names alone and its layout is a guess from the framework.  A plan can say what such a type is::

    types:
      Conv1D: {kind: dense, layout: jax}        # Hugging Face GPT-2: weight stored (in, out)
      MyRMSNorm: {kind: norm}                   # weight -> scale

:func:`declare` applies the declarations to the walker's records before any rule is matched,
so it works the same for every backend: each parameter of a declared type gets the kind; its
role is derived again from its leaf name as the walkers derive it for that kind (a norm's
``weight``/``gamma`` is its ``scale`` and ``bias``/``beta`` its ``offset``; an embedding's
``weight`` is its ``embedding``; a recurrent layer's ``weight_hh*``/``recurrent_kernel`` is
``recurrent_weight``), its normalized path follows the new role (``ln.weight`` ->
``ln.scale``), and with a ``layout`` the fans of its weight - and of the biases beside it -
are read from that layout.  How the framework's own initializers read the tensor
(``fans: native``) does not change: a declaration describes the layer, not the framework.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import SpecError
from ..layout import Fans, compute_fans
from ..params import ROLE_BY_LEAF, ParamInfo, normalize_path

__all__ = ["declare", "leaf_name", "role_for"]

_SPLIT = re.compile(r"[./:]")


def leaf_name(native_path: str) -> str:
    """The last component of a framework's own name (``h.0.ln_1.weight`` -> ``weight``)."""
    return _SPLIT.split(native_path)[-1]


def parent_name(native_path: str) -> str:
    parts = _SPLIT.split(native_path)
    return ".".join(parts[:-1])


def role_for(kind: str, leaf: str, current: str) -> str:
    """A parameter's role in a layer of ``kind``, from its leaf name (``current`` when the
    leaf says nothing)."""
    base = ROLE_BY_LEAF.get(leaf)
    if kind == "norm":
        if base in ("weight", "scale"):
            return "scale"
        if base in ("bias", "offset"):
            return "offset"
        return current
    if kind == "embedding":
        if base in ("weight", "embedding"):
            return "embedding"
        return base or current
    if kind == "recurrent":
        if leaf.startswith("weight_hh") or base == "recurrent_weight":
            return "recurrent_weight"
        if leaf.startswith("weight_ih") or base == "weight":
            return "weight"
        if leaf.startswith("bias") or base == "bias":
            return "bias"
        return current
    return base if base in ("weight", "bias") else current


def _fans(shape: tuple[int, ...], layout: Any) -> Fans | None:
    if len(shape) < 2:
        return None
    try:
        return compute_fans(shape, layout)
    except SpecError:
        return None


def declare(params: list[ParamInfo], types: Mapping[str, Any]) -> list[ParamInfo]:
    """The walker's records with every declared native type applied (module docstring)."""
    if not types:
        return params
    out: list[ParamInfo] = []
    weight_fans: dict[tuple[str, str], Fans | None] = {}
    roles: list[str | None] = []
    for p in params:
        decl = types.get(p.type)
        if decl is None:
            roles.append(None)
            continue
        role = role_for(decl.kind, leaf_name(p.native_path), p.role)
        roles.append(role)
        if role in ("weight", "embedding") and decl.layout is not None:
            weight_fans.setdefault((p.type, parent_name(p.native_path)), _fans(p.shape, decl.layout))
    for p, role in zip(params, roles):
        decl = types.get(p.type)
        if decl is None or role is None:
            out.append(p)
            continue
        changes: dict[str, Any] = {"kind": decl.kind, "role": role}
        if role != p.role:
            changes["path"] = normalize_path(p.path.split("."), role)
            changes["aliases"] = tuple(normalize_path(a.split("."), role) for a in p.aliases)
        if decl.layout is not None:
            changes["layout"] = decl.layout
            key = (p.type, parent_name(p.native_path))
            if key in weight_fans:
                changes["layer_fans"] = weight_fans[key]
        out.append(replace(p, **changes))
    return out
