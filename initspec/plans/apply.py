"""Applying a plan: resolve everything first, then draw.

``apply`` touches nothing until the whole plan has resolved against the model, so every
plan or shape error surfaces first and leaves the weights byte-identical.  Then it draws
in place (default).  With ``transactional=True`` a failure while drawing or committing
also leaves the weights byte-identical: the backend stages the new values (or backs up the
old ones) and commits only when every draw succeeded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .table import PlanTable, plan

__all__ = ["Manifest", "apply"]


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
        return {"format_version": 1, "kind": "initspec-manifest", "initspec_version": __version__,
                "transactional": self.transactional, **body}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def write(self, path: Any) -> None:
        """Write the manifest as JSON, atomically (a failed write leaves no half file)."""
        from ..files import write_atomic

        write_atomic(path, self.dumps() + "\n")


def apply(plan_obj: Any, model: Any, *, seed: int | None = None, strict: bool = True,
          transactional: bool = False) -> Manifest:
    """Resolve ``plan_obj`` against ``model``, then draw every parameter.

    Returns a :class:`Manifest`.  In-place backends (torch, Keras, nnx, NumPy mappings)
    modify ``model``; Flax/JAX variable trees are immutable, so the new tree is
    ``manifest.params`` and the input is left as it was.
    """
    from .backends import backend_for

    table = plan(plan_obj, model, seed=seed, strict=strict)
    backend = backend_for(model)
    result = backend.plan_write(model, table.rows, transactional=transactional)
    return Manifest(table, transactional, result)
