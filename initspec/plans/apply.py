"""Applying a plan: resolve everything first, then draw.

``apply`` touches nothing until the whole plan has resolved against the model, so every
plan or shape error surfaces first and leaves the weights byte-identical.  Then the
model's backend draws it through :func:`initspec.writer.write`: it checks every row, and
with ``transactional=True`` backs up every touched tensor so that a failure while drawing
(an exception, a fault, Ctrl-C) also leaves the weights byte-identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import backends
from ..formats import FORMAT_VERSION, write_atomic
from ..writer import Checkpoint
from .table import PlanTable
from .table import plan as plan_table

__all__ = ["Manifest", "apply", "write"]


@dataclass(eq=False)
class Manifest:
    """What each parameter received - JSON-serialisable, to store next to a checkpoint."""

    table: PlanTable
    transactional: bool
    result: Any = field(default=None, repr=False)
    """The model (in-place backends) or the new parameters (functional backends)."""

    @property
    def params(self) -> Any:
        """The initialized parameters (for JAX/Flax variables: a new tree)."""
        return self.result

    def to_json(self) -> dict[str, Any]:
        from .. import __version__

        body = self.table.to_json()
        return {"format_version": FORMAT_VERSION, "kind": "initspec-manifest", "initspec_version": __version__,
                "transactional": self.transactional, **body}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def write(self, path: Any) -> None:
        """Write the manifest as JSON, atomically (a failed write leaves no half file)."""
        write_atomic(path, self.dumps() + "\n")


def write(table: PlanTable, model: Any, *, transactional: bool = False, checkpoint: Checkpoint | None = None) -> Any:
    """Draw an already resolved ``table`` into ``model`` through its backend; returns the
    model (in-place backends) or the new parameters (Flax variables)."""
    backend = backends.get(table.backend)
    return backend.module("model").write(model, table.rows, transactional=transactional, checkpoint=checkpoint)


def apply(plan: Any, model: Any, *, seed: int | None = None, strict: bool = True,
          transactional: bool = False, checkpoint: Checkpoint | None = None) -> Manifest:
    """Resolve ``plan`` (a :class:`~initspec.plans.Plan` or a mapping) against ``model``,
    then draw every parameter.

    Returns a :class:`Manifest`.  In-place backends (torch, Keras, nnx, NumPy mappings)
    modify ``model``; Flax/JAX variable trees are immutable, so the new tree is
    ``manifest.params`` and the input is left as it was.  ``checkpoint(stage, path)`` is
    called before every draw - tests pass one that raises to inject faults.
    """
    table = plan_table(plan, model, seed=seed, strict=strict)
    result = write(table, model, transactional=transactional, checkpoint=checkpoint)
    return Manifest(table, transactional, result)
