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

from pydantic import TypeAdapter, ValidationError

from .._embed import converted_errors
from .._plain import INTERNAL
from .._plain import plain_data
from ..errors import SpecError
from ..formats import migrate
from ..parsing import check_expansions
from ..params import Block, ParamInfo, normalize_path
from .apply import Manifest, apply
from .formulas import SpecTemplate, shift_columns
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


def parse_plan(obj: Any, *, document: Any = None) -> Plan:
    """Parse a plan from a mapping - any :class:`~collections.abc.Mapping`, an OmegaConf
    ``DictConfig`` too (a ``format_version`` key is accepted, not required)."""
    if isinstance(obj, Plan):
        return obj
    obj = plain_data(obj)
    if isinstance(obj, dict) and "format_version" in obj:
        obj = migrate(obj, kind="plan", document=document)
    if not isinstance(obj, dict):
        raise SpecError.single("wrong_type", "a plan is a mapping with rules, defaults, seed and base",
                               value=type(obj).__name__)
    try:
        parsed = _PLAN.validate_python(obj, context=INTERNAL)
    except ValidationError as exc:
        errors = converted_errors(exc, obj, Plan, document=document)
        raise SpecError(shift_columns(errors, {}, document)) from None
    check_expansions(parsed, document=document)  # {scheme: torch.uniform, a: 2} fails here, as in a bare spec
    return parsed


_PLAN: TypeAdapter[Plan] = TypeAdapter(Plan)
