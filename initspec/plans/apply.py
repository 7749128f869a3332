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
from ..errors import SpecError
from ..formats import FORMAT_VERSION, write_atomic
from ..writer import Checkpoint
from .rules import Plan
from .table import PlanTable, _mapping
from .table import plan as plan_table

__all__ = ["Manifest", "apply", "write"]


@dataclass(eq=False)
class Manifest:
    """What each parameter received - JSON-serialisable, to store next to a checkpoint."""

    table: PlanTable
    transactional: bool
    result: Any = field(default=None, repr=False)
    """The model (in-place backends) or the new parameters (functional backends)."""
    seeding: str = "native"
    """How the values were drawn: ``native`` or ``portable`` (the plan's ``seeding:``, or ``apply``'s)."""

    @property
    def params(self) -> Any:
        """The initialized parameters (for JAX/Flax variables: a new tree)."""
        return self.result

    def to_json(self) -> dict[str, Any]:
        from .. import __version__

        body = self.table.to_json()
        return {"format_version": FORMAT_VERSION, "kind": "initspec-manifest", "initspec_version": __version__,
                "transactional": self.transactional, "seeding": self.seeding, **body}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def write(self, path: Any) -> None:
        """Write the manifest as JSON, atomically (a failed write leaves no half file)."""
        write_atomic(path, self.dumps() + "\n")


def write(table: PlanTable, model: Any, *, transactional: bool = False, checkpoint: Checkpoint | None = None,
          seeding: str | None = None) -> Any:
    """Draw an already resolved ``table`` into ``model`` through its backend; returns the
    model (in-place backends) or the new parameters (Flax variables).  ``seeding``
    (``native``/``portable``) overrides the plan's ``seeding:``."""
    backend = backends.get(table.backend)
    seeding = seeding_of(table.plan, seeding)
    extra = {"seeding": seeding} if seeding != "native" else {}  # a backend without portable seeding still writes
    return backend.module("model").write(model, table.rows, transactional=transactional, checkpoint=checkpoint,
                                         **extra)


def seeding_of(plan: Plan, seeding: Any = None) -> str:
    """``seeding`` (an ``apply``/``write`` argument) if given, else the plan's ``seeding:``."""
    if seeding is None:
        return plan.seeding
    if seeding not in ("native", "portable"):
        raise SpecError.single("invalid_choice", "seeding must be 'native', 'portable' or None (the plan's "
                               "seeding:)", loc=("seeding",), value=repr(seeding)[:80])
    return seeding


def apply(plan: Any, model: Any, *, seed: int | None = None, strict: bool = True,
          transactional: bool = False, checkpoint: Checkpoint | None = None,
          seeding: str | None = None) -> Manifest:
    """Resolve ``plan`` (a :class:`~initspec.plans.Plan` or a mapping) against ``model``,
    then draw every parameter.

    Returns a :class:`Manifest`.  In-place backends (torch, Keras, nnx, NumPy mappings)
    modify ``model``; Flax/JAX variable trees are immutable, so the new tree is
    ``manifest.params`` and the input is left as it was.  ``checkpoint(stage, path)`` is
    called before every draw - tests pass one that raises to inject faults.  ``seeding``
    (``native``/``portable``) overrides the plan's ``seeding:`` (:mod:`initspec.portable`);
    the manifest records which was used.
    """
    from . import parse_plan

    parsed: Plan = parse_plan(_mapping(plan))
    seeding = seeding_of(parsed, seeding)
    table = plan_table(parsed, model, seed=seed, strict=strict)
    result = write(table, model, transactional=transactional, checkpoint=checkpoint, seeding=seeding)
    return Manifest(table, transactional, result, seeding=seeding)
