"""Model plans: one ``init.yaml`` applied to PyTorch, Keras, Flax and NumPy models.

>>> import numpy as np, initspec
>>> model = {"fc1.weight": np.zeros((4, 3), np.float32), "fc1.bias": np.zeros(3, np.float32)}
>>> p = initspec.parse_plan({"seed": 0, "rules": [
...     {"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "normal"}},
...     {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}]})
>>> print(initspec.plan(p, model).row("fc1.weight").distribution)
N(0, 0.816497²)
"""

from __future__ import annotations

from typing import Any

from ..parsing import parse_model
from .apply import Manifest, apply
from .model import BASES, KINDS, ROLES, Match, Plan, Rule
from .table import PlanRow, PlanTable, PlanWarning, build_table, derive_seed, plan
from .targets import Block, ParamInfo, normalize_path

__all__ = ["BASES", "KINDS", "ROLES", "Block", "Manifest", "Match", "ParamInfo", "Plan", "PlanRow", "PlanTable",
           "PlanWarning", "Rule", "apply", "build_table", "derive_seed", "normalize_path", "parse_plan", "plan"]


def parse_plan(obj: Any, *, document: Any = None) -> Plan:
    """Parse a plan from a mapping (a ``format_version`` key is accepted, not required)."""
    if isinstance(obj, Plan):
        return obj
    if isinstance(obj, dict) and "format_version" in obj:
        from ..files import migrate

        obj = migrate(obj, kind="plan", document=document)
    if not isinstance(obj, dict):
        from ..errors import SpecError

        raise SpecError.single("wrong_type", "a plan is a mapping with rules, defaults, seed and base",
                               value=type(obj).__name__)
    return parse_model(Plan, obj, document=document)
