"""The registry of backends: the one list the CLI, plans and the conformance suite read.

A backend is a folder ``adapters/<name>/`` (installed as ``initspec.adapters.<name>``) with
the same files in each:

==================  =====================================================================
``__init__.py``     the public initializer (``initializer(spec, layout)``) and sampler
``random.py``       how it draws each resolved law: the table ``DRAW`` from every
                    :class:`~initspec.distributions.Distribution` type to a function
                    ``fn(dist, out, rng, haar)`` with the same name in every backend
``model.py``        how it walks a model (``walk(model) -> list[ParamInfo]``) and writes a
                    plan into it (``write(model, rows, *, transactional, checkpoint)``)
``conformance.py``  its conformance-suite driver (``Driver``)
``native.py``       how it prints the native call of a law (``native_call(dist, spec)``)
==================  =====================================================================

Adding a backend is one such folder plus one :data:`BACKENDS` entry.  Nothing here imports
a framework: the entries are data, and a backend's modules are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from .errors import SpecError, did_you_mean

__all__ = ["Backend", "BACKENDS", "FILES", "names", "get", "module", "for_model"]

#: The files every backend folder has (the table in the module docstring).
FILES = ("__init__", "random", "model", "conformance", "native")


@dataclass(frozen=True)
class Backend:
    """One backend: its name and what the rest of initspec needs to know without importing it."""

    name: str
    layout: str
    """The layout of its framework's tensors (what ``initializer`` defaults to)."""
    requires: tuple[str, ...]
    """Top-level modules that must be importable for it to work."""
    extra: str
    """The pip extra that installs them (``pip install 'initspec[<extra>]'``)."""
    model_packages: tuple[str, ...] = ()
    """Top-level packages whose classes (anywhere in a model's MRO) make a model this backend's."""
    leaf_packages: tuple[str, ...] = ()
    """Top-level packages of the leaves of a mapping of parameters this backend writes."""
    coverage: Literal["full", "covering"] = "covering"
    """The conformance case table it runs by default."""

    @property
    def package(self) -> str:
        return f"initspec.adapters.{self.name}"

    def module(self, part: str = "") -> ModuleType:
        """The backend's package, or one of its files (``"model"``, ``"random"`` ...)."""
        return importlib.import_module(self.package + (f".{part}" if part else ""))


#: Every backend, in the order the conformance suite runs them.
BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("numpy", layout="jax", requires=("numpy",), extra="conformance", leaf_packages=("numpy",),
            coverage="full"),
    Backend("torch", layout="torch", requires=("torch",), extra="torch", model_packages=("torch",), coverage="full"),
    Backend("keras", layout="keras", requires=("keras",), extra="tensorflow", model_packages=("keras", "tf_keras")),
    Backend("jax", layout="jax", requires=("jax",), extra="jax", model_packages=("flax",),
            leaf_packages=("jax", "jaxlib", "flax")),
)}


def names() -> list[str]:
    return list(BACKENDS)


def get(name: str) -> Backend:
    """The backend called ``name`` (a SpecError with "did you mean" otherwise)."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise SpecError.single("unknown_backend", f"unknown backend{did_you_mean(str(name), BACKENDS)}; "
                               f"use one of {', '.join(BACKENDS)}", loc=("backend",), value=name) from None


def module(name: str, part: str = "") -> ModuleType:
    """``initspec.adapters.<name>`` or one of its files."""
    return get(name).module(part)


def signal_module(name: str) -> ModuleType | None:
    """The backend's ``signal`` file, which runs a model's forward pass (LSUV, diagnostics);
    None for a backend without one (NumPy: a model is a mapping of arrays)."""
    try:
        return module(name, "signal")
    except ModuleNotFoundError as exc:
        if exc.name != f"initspec.adapters.{name}.signal":
            raise
    return None


def _leaves(tree: Any, limit: int = 64) -> list[Any]:
    """Up to ``limit`` leaves of a tree of mappings and sequences, visiting each container once
    (a container that holds itself must not loop)."""
    out: list[Any] = []
    stack = [tree]
    seen: set[int] = set()
    while stack and len(out) < limit:
        node = stack.pop()
        if isinstance(node, (Mapping, list, tuple)):
            if id(node) in seen:
                continue
            seen.add(id(node))
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        else:
            out.append(node)
    return out


def for_model(model: Any) -> Backend:
    """The backend that walks ``model``, found without importing any framework: the first
    framework class in the model's MRO (user models subclass ``nn.Module``,
    ``keras.Model`` or ``nnx.Module`` in their own packages), else, for a mapping of
    parameters, the package of its leaves."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".", 1)[0]
        for b in BACKENDS.values():
            if root in b.model_packages:
                return b
    if isinstance(model, Mapping) or hasattr(model, "unfreeze"):
        roots = {type(leaf).__module__.split(".", 1)[0] for leaf in _leaves(model)}
        found = [b for b in BACKENDS.values() if roots & set(b.leaf_packages)]
        # the most specific wins: JAX arrays may sit beside NumPy ones in Flax variables
        found.sort(key=lambda b: b.name == "numpy")
        if found and (found[0].name != "numpy" or roots <= {"numpy"}):
            return found[0]
    raise SpecError.single(
        "unsupported_model",
        "initspec plans apply to a torch.nn.Module, a Keras model, Flax variables or an nnx.Module, or a "
        "mapping of names to NumPy arrays", value=type(model).__name__)
