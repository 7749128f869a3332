"""The plan file format: one init.yaml for a whole model.

.. code-block:: yaml

    format_version: 1
    seed: 0
    base: torch-defaults            # optional framework-default plan
    vars: {n_layers: 12}            # numbers the formulas may use
    types:                          # native layer types the walker does not know
      Conv1D: {kind: dense, layout: jax}
    defaults:                       # per parameter role, below every rule
      bias: {scheme: zeros}
    rules:                          # ordered; a later match overrides an earlier one
      - match: {path: "encoder.*", kind: dense, role: weight}
        init: {scheme: he, distribution: normal}
      - match: {path: "encoder.layers.{i}.out.weight"}
        init: {scheme: normal, std: "0.02 / sqrt(2 * (i + 1))"}
    lsuv:                           # optional: then rescale to unit output variance on data
      match: {kind: [dense, conv]}  # (initspec.apply(plan, model, data=batch); initspec.lsuv)
      target: 1.0
      tol: 0.05
      max_iter: 10
    seeding: portable               # optional (default native): the same bytes in every framework

A rule selects parameters by normalized path glob, layer kind, parameter role, native
type name and/or fused block; every given criterion must hold (a list means any of).
Kinds and roles have aliases (``linear`` is ``dense``, ``kernel`` is ``weight``:
:data:`KIND_ALIASES`, :data:`ROLE_ALIASES`), stored as the canonical word.  Numeric spec
fields may be formulas (:mod:`initspec.plans.formulas`).
Precedence, lowest first: the base plan's defaults and rules, this plan's defaults, this
plan's rules in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    WrapSerializer,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .._embed import converted_errors
from .._plain import INTERNAL, plain_data
from .._types import MODEL_CONFIG, Real
from ..errors import SpecError
from ..expressions import FUNCTIONS, ExpressionError, compile_capture_glob
from ..formats import migrate
from ..parsing import Spec, check_expansions
from ..sampling import MAX_SEED
from ..spec import Axes, BaseSpec
from .formulas import (
    SpecTemplate,
    clash_problems,
    name_problems,
    shift_columns,
    spec_or_template,
)

__all__ = ["Kind", "Role", "KINDS", "ROLES", "KIND_ALIASES", "ROLE_ALIASES", "BASES", "Match", "Rule", "Plan",
           "TypeDecl", "PlanSpec", "Lsuv", "LSUV_KINDS"]

Kind = Literal["dense", "conv", "conv_transpose", "depthwise_conv", "embedding", "norm", "recurrent", "attention",
               "other"]
Role = Literal["weight", "bias", "scale", "offset", "embedding", "recurrent_weight", "other"]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
#: Other words for a layer kind, accepted wherever a kind is and stored as the kind.
KIND_ALIASES: dict[str, str] = {
    "linear": "dense", "fc": "dense", "fully_connected": "dense", "dense_layer": "dense",
    "conv1d": "conv", "conv2d": "conv", "conv3d": "conv", "convolution": "conv",
    "conv_transpose1d": "conv_transpose", "conv_transpose2d": "conv_transpose", "conv_transpose3d": "conv_transpose",
    "deconv": "conv_transpose", "depthwise": "depthwise_conv",
    "embed": "embedding", "embeddings": "embedding",
    "layernorm": "norm", "layer_norm": "norm", "batchnorm": "norm", "batch_norm": "norm", "rmsnorm": "norm",
    "rms_norm": "norm", "groupnorm": "norm", "group_norm": "norm", "normalization": "norm",
    "rnn": "recurrent", "lstm": "recurrent", "gru": "recurrent",
    "mha": "attention", "multihead_attention": "attention", "multi_head_attention": "attention",
}
#: Other words for a parameter role (the leaf names frameworks use), stored as the role.
ROLE_ALIASES: dict[str, str] = {"kernel": "weight", "gamma": "scale", "beta": "offset", "embeddings": "embedding",
                                "recurrent_kernel": "recurrent_weight"}
#: Framework-default plans usable as ``base``.
BASES = ("torch-defaults", "keras-defaults", "flax-defaults")


def _canonical(aliases: dict[str, str]) -> Any:
    return lambda value: aliases.get(value, value)


KindName = Annotated[Literal[(*KINDS, *KIND_ALIASES)], AfterValidator(_canonical(KIND_ALIASES))]  # type: ignore[misc]
RoleName = Annotated[Literal[(*ROLES, *ROLE_ALIASES)], AfterValidator(_canonical(ROLE_ALIASES))]  # type: ignore[misc]


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else (value,) if isinstance(value, str) else value


def _one_or_many(item: Any) -> Any:
    """A single value or a non-empty list of them, stored as a tuple."""
    # json_schema_input_type: the JSON Schema shows what a file may hold (one value or a list)
    return Annotated[tuple[item, ...], Field(min_length=1), BeforeValidator(
        _as_tuple, json_schema_input_type=Union[item, Annotated[list[item], Field(min_length=1)]])]


def _check_glob(glob: str) -> str:
    try:
        compile_capture_glob(glob)
    except ExpressionError as exc:
        d = exc.errors[0]
        raise PydanticCustomError(d.code, d.message, {"offset": d.offset}) from None
    return glob


#: A path glob: ``*`` crosses dots; ``{name}`` captures an integer for the spec's formulas.
PathGlob = Annotated[str, AfterValidator(_check_glob)]

#: A spec inside a plan: a spec, or a spec whose numeric fields hold formulas
#: (:class:`~initspec.plans.formulas.SpecTemplate`).
PlanSpec = Annotated[Spec, WrapValidator(spec_or_template),  # type: ignore[valid-type]
                     WrapSerializer(lambda v, handler: v.to_dict() if isinstance(v, SpecTemplate) else handler(v))]


class Match(BaseModel):
    """Which parameters a rule selects (every given criterion must hold; lists mean any of)."""

    model_config = MODEL_CONFIG
    path: _one_or_many(PathGlob) | None = None  # type: ignore[valid-type]
    """Glob(s) on the normalized path (``*`` matches any characters, dots included; ``{i}`` matches
    an integer and binds it for the spec's formulas)."""
    kind: _one_or_many(KindName) | None = None  # type: ignore[valid-type]
    """Layer kind(s): dense, conv, conv_transpose, depthwise_conv, embedding, norm, recurrent, attention, other
    (aliases such as linear, conv2d, layernorm, lstm are stored as the kind)."""
    role: _one_or_many(RoleName) | None = None  # type: ignore[valid-type]
    """Parameter role(s): weight (= kernel), bias, scale (= gamma), offset (= beta), embedding, recurrent_weight,
    other."""
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
    init: PlanSpec
    """The spec the selected parameters receive; numeric fields may be formulas ("0.02 / sqrt(2 * count(i))")."""
    fused: StrictBool = False
    """Draw a parameter made of fused blocks (packed QKV, stacked gates) as one tensor, with
    the fans of the whole matrix, instead of block by block."""
    fans: Literal["layer", "native"] = "layer"
    """``layer``: fans from the layer's real layout (the same in every framework);
    ``native``: fans as the framework's own initializers read the stored tensor."""


class TypeDecl(BaseModel):
    """How to read the parameters of one native layer type the walker does not know."""

    model_config = MODEL_CONFIG
    kind: KindName  # type: ignore[valid-type]
    """The layer kind its parameters get (roles follow from the leaf names: a norm's weight is its scale)."""
    layout: Literal["torch", "keras", "jax", "flax"] | Axes | None = None
    """How its weight is stored: torch (out, in, *k), keras/jax/flax (*k, in, out), or {in_axes, out_axes};
    omitted: the layout the walker reported (initspec inspect shows it)."""


#: The layer kinds whose output is linear in their weight, which LSUV can rescale.
LSUV_KINDS = ("dense", "conv", "conv_transpose", "depthwise_conv", "embedding")


class Lsuv(BaseModel):
    """Layer-sequential unit variance (:mod:`initspec.lsuv`): after the plan's laws are drawn,
    ``initspec.apply(plan, model, data=batch)`` rescales each selected layer's weight, in
    forward order, until its output variance on the batch is within ``tol`` of ``target``."""

    model_config = MODEL_CONFIG
    match: Match = Match()
    """Which layers' weights: a rule's selection.  A criterion left out takes its default -
    ``kind: [dense, conv]`` and ``role: weight`` - so ``{path: "encoder.*"}`` selects the
    encoder's dense and convolution weights."""
    target: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)] = 1.0
    """The output variance to reach."""
    tol: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, lt=1)] = 0.05
    """Relative tolerance: a layer is done when ``|Var - target| <= tol * target``."""
    max_iter: Annotated[StrictInt, Field(ge=1, le=1000)] = 10
    """Forward passes (each fits every layer still outside the tolerance), at most."""

    @property
    def selection(self) -> Match:
        """``match`` with the defaults filled in (kind dense/conv, role weight)."""
        m = self.match
        return m.model_copy(update={"kind": m.kind if m.kind is not None else ("dense", "conv"),
                                    "role": m.role if m.role is not None else ("weight",)})


def _check_vars(value: Any) -> Any:
    if isinstance(value, Mapping):
        for name in value:
            if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
                raise PydanticCustomError("bad_variable", "variable name '{name}' is not a name: use letters, digits "
                                          "and _, not starting with a digit", {"name": str(name)})
            if name in FUNCTIONS or name.lower() in ("nan", "inf", "infinity"):
                raise PydanticCustomError("bad_variable", "variable name '{name}' is reserved (a function name or "
                                          "NaN/infinity); choose another name", {"name": name})
    return value


def _check_defaults(value: Any) -> Any:
    if isinstance(value, Mapping):
        seen: dict[str, str] = {}
        for key in value:
            role = ROLE_ALIASES.get(key, key) if isinstance(key, str) else key
            if role in seen:
                raise PydanticCustomError("duplicate_role", "defaults gives role '{role}' twice ('{a}' and '{b}' "
                                          "are the same role); keep one", {"role": role, "a": seen[role], "b": key})
            seen[role] = key
    return value


def _numpy_seed(value: Any) -> Any:
    """A NumPy integer seed as a Python int (``sampling.check_seed`` takes them too); anything
    else as it is, for the field's own checks (an int, then 0 <= seed <= MAX_SEED)."""
    if isinstance(value, np.integer):
        return int(value)
    return value


class Plan(BaseModel):
    """Initialization for a whole model."""

    model_config = MODEL_CONFIG
    seed: Annotated[StrictInt, Field(ge=0, le=MAX_SEED), BeforeValidator(_numpy_seed)] = 0
    """Every parameter's random stream derives from (seed, normalized path); 0 to 2**64 - 1."""
    base: Literal["torch-defaults", "keras-defaults", "flax-defaults"] | None = None
    """A framework-default plan applied below this plan's defaults and rules."""
    vars: Annotated[dict[str, Real], BeforeValidator(_check_vars)] = Field(default_factory=dict)
    """Numbers the specs' formulas may use by name (width: 1024, n_layers: 24)."""
    types: dict[str, TypeDecl] = Field(default_factory=dict)
    """Native layer types the walker does not recognise, declared: {Conv1D: {kind: dense, layout: jax}}."""
    defaults: Annotated[dict[RoleName, PlanSpec], BeforeValidator(_check_defaults)] = Field(  # type: ignore[valid-type]
        default_factory=dict)
    """A spec per parameter role, used where no rule matches."""
    rules: Annotated[tuple[Rule, ...], Field(strict=False)] = ()
    lsuv: Lsuv | None = None
    """Data-dependent rescaling after drawing (needs ``data=`` in ``initspec.apply``)."""
    seeding: Literal["native", "portable"] = "native"
    """``native``: each framework's own generator, seeded per parameter from (seed, path) - fast,
    reproducible within one framework, device type and sharding; ``portable``: every value a
    pure function of (seed, path, element index, law, dtype) - the same bytes in NumPy, PyTorch,
    Keras and Flax, on any device and under any sharding (:mod:`initspec.portable`)."""

    @model_validator(mode="wrap")
    @classmethod
    def _outside(cls, data: Any, handler: Any, info: Any) -> Any:
        """As a field of a user's pydantic model: a plan file's content (``format_version`` too,
        any mapping) and initspec's error codes and messages (:mod:`initspec._embed`)."""
        from .. import _embed

        if isinstance(data, Plan) or _embed.is_internal(info):
            return handler(data)
        return _embed.validate_outside("plan", Plan, data, handler)

    @model_validator(mode="after")
    def _names(self) -> Plan:
        """Every name a formula reads is a plan variable or a capture of its rule's path."""
        from .formulas import raise_as_validation_error

        problems = []
        for i, rule in enumerate(self.rules):
            globs = rule.match.path or ()
            problems += clash_problems(self.vars, globs, ("rules", i, "match", "path"))
            if isinstance(rule.init, SpecTemplate):
                problems += name_problems(rule.init, self.vars, globs, ("rules", i, "init"), self.rule_label(i))
        for role, spec in self.defaults.items():
            if isinstance(spec, SpecTemplate):
                problems += name_problems(spec, self.vars, (), ("defaults", role), f"defaults.{role}")
        raise_as_validation_error("Plan", ({"type": PydanticCustomError(d.code, d.message, {"offset": d.offset}),
                                            "loc": d.loc, "input": d.value} for d in problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        """The plan as a file holds it (formulas as their strings; empty vars and types left out)."""
        empty = {k for k in ("vars", "types") if not getattr(self, k)}
        if self.seeding == "native":  # the default: plan files written before the field read the same
            empty.add("seeding")
        return self.model_dump(mode="json", exclude_none=True, exclude=empty)

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


def error_path(loc: tuple[Any, ...]) -> tuple[str | int, ...] | None:
    """Where in the plan file the thing a plan error's ``loc`` names sits: ``("rules[3] (name)",
    "init", "std")`` -> ``("rules", 3, "init", "std")``, ``("types", "Conv1d")`` as it is; None
    for what is not in the user's file (a parameter, a base plan's rule)."""
    if not loc:
        return None
    if loc[0] == "types":
        return tuple(loc)
    head = label_path(str(loc[0]))
    return None if head is None else head + tuple(loc[1:])


def expand_spec(spec: BaseSpec, **fill: Any) -> BaseSpec:
    """Fill the layer-dependent fields of a preset that were left empty in a plan."""
    updates = {k: v for k, v in fill.items() if k in type(spec).model_fields and getattr(spec, k) is None
               and v is not None}
    return spec.model_copy(update=updates) if updates else spec


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
