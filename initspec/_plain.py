"""Plain data from any mapping: what ``parse``, ``parse_plan``, ``plan`` and ``apply`` accept.

A spec or plan may come from a config system rather than a file: an OmegaConf/Hydra
``DictConfig``, a ``MappingProxyType``, any :class:`collections.abc.Mapping`.  Validation
works on plain ``dict``/``list`` trees, so :func:`plain_data` copies such input into one
(OmegaConf containers through ``OmegaConf.to_container(resolve=True)``, so interpolations
such as ``${model.n_layer}`` are resolved first).  Plain input is returned as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["plain_data", "is_mapping", "INTERNAL", "is_internal"]

#: The validation context of initspec's own parsers: they convert pydantic's errors
#: themselves, with file positions (a model used as a field of a user's pydantic model is
#: validated without it, see :mod:`initspec._embed`).
INTERNAL = {"initspec": "internal"}


def is_internal(info: Any) -> bool:
    """Whether a validator runs inside one of initspec's own parsers."""
    context = getattr(info, "context", None)
    return isinstance(context, dict) and context.get("initspec") == "internal"


def _omegaconf(obj: Any) -> Any:
    """``OmegaConf.to_container(obj, resolve=True)`` for OmegaConf containers, else None."""
    module = type(obj).__module__
    if not module.startswith("omegaconf"):
        return None
    from omegaconf import OmegaConf  # the object's own library: installed if we got one

    return OmegaConf.to_container(obj, resolve=True)


def is_mapping(obj: Any) -> bool:
    """A mapping of any kind (a ``DictConfig`` is one)."""
    return isinstance(obj, Mapping)


def _needs_copy(obj: Any, depth: int = 0) -> bool:
    if depth > 64:  # deeper than any spec or plan: let validation report what it finds
        return False
    if isinstance(obj, dict):
        return any(_needs_copy(v, depth + 1) for v in obj.values())
    if isinstance(obj, list):
        return any(_needs_copy(v, depth + 1) for v in obj)
    return isinstance(obj, Mapping) or (isinstance(obj, Sequence) and not isinstance(obj, (str, bytes, tuple)))


def _copy(obj: Any, depth: int = 0) -> Any:
    converted = _omegaconf(obj)
    if converted is not None:
        return converted
    if depth > 64:
        return obj
    if isinstance(obj, Mapping):
        return {k: _copy(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes, tuple)):
        return [_copy(v, depth + 1) for v in obj]
    return obj


def plain_data(obj: Any) -> Any:
    """``obj`` with every mapping a ``dict`` and every list-like container a ``list`` (a copy
    only where something was not plain already)."""
    return _copy(obj) if _needs_copy(obj) or (isinstance(obj, Mapping) and not isinstance(obj, dict)) else obj
