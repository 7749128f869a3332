"""Model plans: one ``init.yaml`` applied to PyTorch, Keras, Flax and NumPy models.

>>> import numpy as np, initspec
>>> model = {"fc1.weight": np.zeros((4, 3), np.float32), "fc1.bias": np.zeros(3, np.float32)}
>>> p = initspec.parse_plan({"seed": 0, "rules": [
...     {"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
...     {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}]})
>>> print(initspec.plan(p, model).row("fc1.weight").distribution)
N(0, 0.816497²)

:mod:`~initspec.plans.rules` is the plan file format, :mod:`~initspec.plans.table` resolves
a plan against a model (nothing drawn), :mod:`~initspec.plans.apply` draws it through the
model's backend.  This package reads no files: :func:`initspec.plan` and
:func:`initspec.apply` (in :mod:`initspec.files`) also take a path and load it first.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..formats import migrate
from ..params import Block, ParamInfo, normalize_path
from ..parsing import parse_model
from .apply import Manifest, apply
from .rules import BASES, KINDS, ROLES, Match, Plan, Rule
from .table import PlanRow, PlanTable, PlanWarning, build_table, derive_seed, plan

__all__ = ["BASES", "KINDS", "ROLES", "Block", "Manifest", "Match", "ParamInfo", "Plan", "PlanRow", "PlanTable",
           "PlanWarning", "Rule", "apply", "build_table", "derive_seed", "normalize_path", "parse_plan", "plan"]


def parse_plan(obj: Any, *, document: Any = None) -> Plan:
    """Parse a plan from a mapping (a ``format_version`` key is accepted, not required)."""
    if isinstance(obj, Plan):
        return obj
    if isinstance(obj, dict) and "format_version" in obj:
        obj = migrate(obj, kind="plan", document=document)
    if not isinstance(obj, dict):
        raise SpecError.single("wrong_type", "a plan is a mapping with rules, defaults, seed and base",
                               value=type(obj).__name__)
    return parse_model(Plan, obj, document=document)
