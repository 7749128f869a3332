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

from ..params import Block, ParamInfo, normalize_path
from .apply import Manifest, apply
from .formulas import SpecTemplate
from .rules import (
    BASES,
    KIND_ALIASES,
    KINDS,
    ROLE_ALIASES,
    ROLES,
    Match,
    Plan,
    Rule,
    TypeDecl,
    parse_plan,
)
from .table import (
    Inspection,
    PlanRow,
    PlanTable,
    PlanWarning,
    build_table,
    derive_seed,
    inspect,
    plan,
)

__all__ = ["BASES", "KINDS", "KIND_ALIASES", "ROLES", "ROLE_ALIASES", "Block", "Inspection", "Manifest", "Match",
           "ParamInfo", "Plan", "PlanRow", "PlanTable", "PlanWarning", "Rule", "SpecTemplate", "TypeDecl", "apply",
           "build_table", "derive_seed", "inspect", "normalize_path", "parse_plan", "plan"]
