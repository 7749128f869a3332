"""The plan file format: one init.yaml for a whole model.

.. code-block:: yaml

    format_version: 1
    seed: 0
    base: torch-defaults            # optional framework-default plan
    defaults:                       # per parameter role, below every rule
      bias: {scheme: zeros}
    rules:                          # ordered; a later match overrides an earlier one
      - match: {path: "encoder.*", kind: dense, role: weight}
        init: {scheme: he, distribution: normal}

A rule selects parameters by normalized path glob, layer kind, parameter role, native
type name and/or fused block; every given criterion must hold (a list means any of).
Precedence, lowest first: the base plan's defaults and rules, this plan's defaults, this
plan's rules in order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, Field, StrictBool, StrictInt

from .._types import MODEL_CONFIG
from ..parsing import Spec
from ..spec import BaseSpec

__all__ = ["Kind", "Role", "KINDS", "ROLES", "BASES", "Match", "Rule", "Plan"]

Kind = Literal["dense", "conv", "conv_transpose", "depthwise_conv", "embedding", "norm", "recurrent", "attention",
               "other"]
Role = Literal["weight", "bias", "scale", "offset", "embedding", "recurrent_weight", "other"]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
#: Framework-default plans usable as ``base``.
BASES = ("torch-defaults", "keras-defaults", "flax-defaults")


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else (value,) if isinstance(value, str) else value


def _one_or_many(item: Any) -> Any:
    """A single value or a non-empty list of them, stored as a tuple."""
    # json_schema_input_type: the JSON Schema shows what a file may hold (one value or a list)
    return Annotated[tuple[item, ...], Field(min_length=1), BeforeValidator(
        _as_tuple, json_schema_input_type=Union[item, Annotated[list[item], Field(min_length=1)]])]


class Match(BaseModel):
    """Which parameters a rule selects (every given criterion must hold; lists mean any of)."""

    model_config = MODEL_CONFIG
    path: _one_or_many(str) | None = None  # type: ignore[valid-type]
    """Glob(s) on the normalized path (``*`` matches any characters, dots included)."""
    kind: _one_or_many(Kind) | None = None  # type: ignore[valid-type]
    """Layer kind(s): dense, conv, conv_transpose, depthwise_conv, embedding, norm, recurrent, attention, other."""
    role: _one_or_many(Role) | None = None  # type: ignore[valid-type]
    """Parameter role(s): weight (= kernel), bias, scale, offset, embedding, recurrent_weight, other."""
    type: _one_or_many(str) | None = None  # type: ignore[valid-type]
    """Native layer type name(s), e.g. Linear, Conv2d, Dense, LSTM."""
    block: _one_or_many(str) | None = None  # type: ignore[valid-type]
    """Fused sub-block(s): q, k, v of a packed attention projection; i, f, g, o of LSTM gates ..."""

    def describe(self) -> str:
        parts = [f"{k}={'|'.join(v)}" for k, v in self.model_dump(exclude_none=True).items()]
        return "{" + ", ".join(parts) + "}" if parts else "{} (everything)"


class Rule(BaseModel):
    """One rule: a selection and the spec its parameters receive."""

    model_config = MODEL_CONFIG
    name: str | None = None
    """A label for messages and the table (default: rules[i])."""
    match: Match = Match()
    init: Spec  # type: ignore[valid-type]
    """The spec the selected parameters receive."""
    fused: StrictBool = False
    """Draw a parameter made of fused blocks (packed QKV, stacked gates) as one tensor, with
    the fans of the whole matrix, instead of block by block."""
    fans: Literal["layer", "native"] = "layer"
    """``layer``: fans from the layer's real layout (the same in every framework);
    ``native``: fans as the framework's own initializers read the stored tensor."""


class Plan(BaseModel):
    """Initialization for a whole model."""

    model_config = MODEL_CONFIG
    seed: Annotated[StrictInt, Field(ge=0)] = 0
    """Every parameter's random stream derives from (seed, normalized path)."""
    base: Literal["torch-defaults", "keras-defaults", "flax-defaults"] | None = None
    """A framework-default plan applied below this plan's defaults and rules."""
    defaults: dict[Role, Spec] = Field(default_factory=dict)  # type: ignore[valid-type]
    """A spec per parameter role, used where no rule matches."""
    rules: Annotated[tuple[Rule, ...], Field(strict=False)] = ()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def rule_label(self, index: int) -> str:
        rule = self.rules[index]
        return f"rules[{index}]" + (f" ({rule.name})" if rule.name else "")


def label_path(label: str) -> tuple[str | int, ...] | None:
    """Where the rule a plan error names sits in the plan file: ``rules[3] (name)`` (from
    :meth:`Plan.rule_label`) -> ("rules", 3), ``defaults.bias`` -> ("defaults", "bias");
    a base plan's rules are not in the user's file (None)."""
    import re

    m = re.fullmatch(r"rules\[(\d+)\]( \(.*\))?", label)
    if m:
        return ("rules", int(m.group(1)))
    if label.startswith("defaults."):
        return ("defaults", label.split(".", 1)[1])
    return None


def expand_spec(spec: BaseSpec, **fill: Any) -> BaseSpec:
    """Fill the layer-dependent fields of a preset that were left empty in a plan."""
    updates = {k: v for k, v in fill.items() if k in type(spec).model_fields and getattr(spec, k) is None
               and v is not None}
    return spec.model_copy(update=updates) if updates else spec


_: Any = Union  # keep typing import for readers of the annotations
