"""Finding the backend that owns a model, without importing any framework.

A plan backend is an adapter module with two functions:

``plan_walk(model) -> list[ParamInfo]``
    every parameter with its normalized path, shape, layer kind, role and layouts;
``plan_write(model, rows, *, transactional) -> Any``
    draw every :class:`~initspec.plans.table.PlanRow` into the model (in place where the
    framework allows; functional backends return the new parameters), calling
    :func:`initspec.plans.faults.checkpoint` before each draw and each commit.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from ..errors import SpecError

__all__ = ["backend_for"]


def _leaves(tree: Any, limit: int = 64) -> list[Any]:
    out: list[Any] = []
    stack = [tree]
    while stack and len(out) < limit:
        node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        else:
            out.append(node)
    return out


def _root_module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


#: Framework package -> plan backend, for models that are (subclasses of) its types.
_BY_ROOT = {"torch": "torch", "keras": "keras", "tf_keras": "keras", "flax": "jax"}


def _framework_backend(model: Any) -> str | None:
    """The backend of the first framework class in the model's MRO (user models subclass
    ``nn.Module``/``keras.Model``/``nnx.Module`` in their own packages)."""
    for cls in type(model).__mro__:
        name = _BY_ROOT.get(cls.__module__.split(".", 1)[0])
        if name is not None:
            return name
    return None


def backend_for(model: Any) -> ModuleType:
    """The adapter module that can walk ``model``."""
    name = _framework_backend(model)
    if name is None and isinstance(model, Mapping) or hasattr(model, "unfreeze"):
        roots = {_root_module(leaf) for leaf in _leaves(model)}
        if roots & {"jax", "jaxlib", "flax"}:  # flax: boxed leaves (nn.Partitioned ...)
            name = "jax"
        elif roots <= {"numpy"} and roots:
            name = "numpy"
    if name is None:
        raise SpecError.single(
            "unsupported_model",
            "initspec plans apply to a torch.nn.Module, a Keras model, Flax variables or an nnx.Module, or a "
            "mapping of names to NumPy arrays", value=type(model).__name__)
    return importlib.import_module(f"initspec.adapters.{name}")
