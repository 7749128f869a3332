"""Gains: the scale of a weight for a given nonlinearity - the classic table, or any activation.

A gain is written as a number (``gain: 1.5``), as a nonlinearity name (``gain: tanh``), for
leaky ReLU with its slope (``gain: {nonlinearity: leaky_relu, negative_slope: 0.2}``), or as
an activation (``gain: {activation: gelu}``, ``{activation: elu, alpha: 0.5}``): the gain
1/sqrt(E[f(z)²]), z ~ N(0, 1), that keeps the second moment one after the activation
(:mod:`initspec.activations`).  He's ``nonlinearity`` takes the same two forms.

The two mean different things and both stay: the names are ``torch.nn.init.calculate_gain``'s
table below (``tanh`` is 5/3, a heuristic); ``{activation: tanh}`` is 1.5925, the value
that keeps E[tanh(z)²] · gain² = 1 for unit-variance pre-activations.

=============  ==========================  ===============================
nonlinearity   gain                        note
=============  ==========================  ===============================
linear, conv   1
sigmoid        1
tanh           5/3
relu           sqrt(2)                     He et al. 2015
leaky_relu     sqrt(2 / (1 + slope**2))    slope required (torch defaults
                                           differ: 0.01 vs 0 in kaiming_*)
selu           3/4                         as torch.nn.init.calculate_gain
=============  ==========================  ===============================

.. warning::
   ``torch.nn.init.calculate_gain("leaky_relu")`` assumes a slope of 0.01, while
   ``kaiming_*`` pass ``a=0``.  initspec makes you write the slope.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Tag, model_validator
from pydantic_core import PydanticCustomError

from ._types import MODEL_CONFIG, PositiveReal, Real
from .activations import ACTIVATIONS, ALIASES, BUILTIN, Param, activation_gain, check_params
from .errors import SpecError, did_you_mean

__all__ = ["Nonlinearity", "GAIN_TABLE", "LeakyReluGain", "ActivationGain", "Gain", "HeNonlinearity",
           "gain_value", "nonlinearity_gain"]

Nonlinearity = Literal["linear", "conv", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]

#: Gains without a parameter (leaky_relu is computed from its slope).
GAIN_TABLE: dict[str, float] = {
    "linear": 1.0,
    "conv": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,  # torch's choice (PR pytorch#50664), not derived from SELU's fixed point
}
NONLINEARITIES: tuple[str, ...] = (*GAIN_TABLE, "leaky_relu")


def nonlinearity_gain(name: str | ActivationGain, negative_slope: float | None = None) -> float:
    """Gain of a named nonlinearity (leaky_relu needs ``negative_slope``) or of an :class:`ActivationGain`."""
    if isinstance(name, ActivationGain):
        return name.value
    if name == "leaky_relu":
        if negative_slope is None:
            raise ValueError("leaky_relu needs negative_slope")
        return math.sqrt(2.0 / (1.0 + negative_slope**2))
    return GAIN_TABLE[name]


class LeakyReluGain(BaseModel):
    """The gain of a leaky ReLU with an explicit slope: sqrt(2 / (1 + slope²))."""

    model_config = MODEL_CONFIG
    nonlinearity: Literal["leaky_relu"]
    negative_slope: Real
    """Slope of the negative part (torch ``a``)."""


# ----------------------------------------------------------------------------- activation gains


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the activation's canonical name, or PydanticCustomError located at the bad key."""
    params = {k: v for k, v in data.items() if k != "activation"}
    try:
        act, _ = check_params(data.get("activation"), params)
    except SpecError as exc:
        d = exc.errors[0]
        raise PydanticCustomError(d.code, "{message}", {"message": d.message, "field": d.loc[-1]}) from None
    return {"activation": act.name, **params}


def _param_schema(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "enum": list(p.choices)} if p.choices else {"type": "number"}
    if p.gt is not None:
        out["exclusiveMinimum"] = p.gt
    if p.ge is not None:
        out["minimum"] = p.ge
    if p.default is not None:
        out["default"] = p.default
    if p.doc:
        out["description"] = p.doc
    return out


def _activation_schema(schema: dict[str, Any]) -> None:
    """Each built-in activation's parameters, dispatched on its name (as the spec schema does on ``scheme``).

    Activations added by :func:`~initspec.activations.register_activation` are Python-only:
    the committed schema lists what initspec ships."""
    schema.pop("additionalProperties", None)
    schema["properties"]["activation"] = {
        "type": "string", "enum": [*BUILTIN, *ALIASES],
        "description": "The activation after this layer (docs/schemes.md#activation-gains)."}
    rules = []
    for act in (ACTIVATIONS[name] for name in BUILTIN):
        names = [act.name, *act.aliases]
        cond = {"const": names[0]} if len(names) == 1 else {"enum": names}
        then: dict[str, Any] = {"properties": {"activation": True, **{p.name: _param_schema(p) for p in act.params}},
                                "additionalProperties": False}
        required = [p.name for p in act.params if p.default is None]
        if required:
            then["required"] = required
        rules.append({"if": {"properties": {"activation": cond}, "required": ["activation"]}, "then": then})
    schema["allOf"] = rules


class ActivationGain(BaseModel):
    """The gain 1/sqrt(E[f(z)²]), z ~ N(0, 1), that keeps the second moment one after activation f.

    Written ``{activation: gelu}`` or with the activation's parameters, ``{activation: elu,
    alpha: 0.5}`` (names and defaults in docs/schemes.md#activation-gains; aliases such as
    ``hardswish`` are stored under the canonical name).  Unlike the classic names (``tanh``:
    5/3), the value is computed from the activation itself (``{activation: tanh}``: 1.5925).
    """

    model_config = ConfigDict(**{**MODEL_CONFIG, "extra": "allow"},  # type: ignore[typeddict-item]
                              json_schema_extra=lambda schema, cls: _activation_schema(schema))
    activation: str
    """The activation's name."""

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        return _validated(data) if isinstance(data, dict) else data

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as written (defaults not filled in)."""
        return dict(self.__pydantic_extra__ or {})

    @property
    def value(self) -> float:
        """The gain (computed once per name and parameters)."""
        return activation_gain(self.activation, **self.params)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.model_dump().items()) + "}"


def _activation_hint(name: str) -> str:
    """For a classic name that is an activation: how to ask for its variance-preserving gain."""
    if name not in ACTIVATIONS and name not in ALIASES:
        return ""
    return (f"; for the gain that keeps E[f(z)²] = 1 after {name} ({activation_gain(name):.6g}) write "
            f"{{activation: {name}}}")


# ----------------------------------------------------------------------------- the field types


def _check_gain(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("bool_as_number", "a gain must be a number or a nonlinearity name, not a boolean")
    if isinstance(value, (LeakyReluGain, ActivationGain)):
        return value
    if isinstance(value, dict):
        if "activation" in value:
            return ActivationGain.model_validate(_validated(value))
        slope = value.get("negative_slope")
        if (value.get("nonlinearity") != "leaky_relu" or set(value) != {"nonlinearity", "negative_slope"}
                or isinstance(slope, bool) or not isinstance(slope, (int, float)) or not math.isfinite(slope)):
            raise PydanticCustomError(
                "invalid_gain",
                "a gain mapping is {nonlinearity: leaky_relu, negative_slope: <finite number>} or {activation: "
                "<name>, <parameter>: <value> ...}; classic nonlinearities are written by name (gain: tanh)",
            )
        return value
    if not isinstance(value, (str, int, float)):
        raise PydanticCustomError(
            "wrong_type", "a gain is a positive number, a nonlinearity name ({known}), "
            "{nonlinearity: leaky_relu, negative_slope: <number>} or {activation: <name>}",
            {"known": ", ".join(GAIN_TABLE)})
    if isinstance(value, str):
        if value == "leaky_relu":
            raise PydanticCustomError(
                "missing_slope",
                "leaky_relu needs its slope: write {nonlinearity: leaky_relu, negative_slope: 0.01}",
            )
        if value not in GAIN_TABLE:
            hint = _activation_hint(value) or did_you_mean(value, NONLINEARITIES)
            raise PydanticCustomError(
                "unknown_nonlinearity",
                "unknown nonlinearity '{name}'{hint}; known: {known}",
                {"name": value, "hint": hint, "known": ", ".join(NONLINEARITIES)},
            )
    return value


#: A gain: a positive number, a nonlinearity name, a leaky-ReLU slope or an activation.
Gain = Annotated[
    Union[PositiveReal, Literal["linear", "conv", "sigmoid", "tanh", "relu", "selu"], LeakyReluGain, ActivationGain],
    BeforeValidator(_check_gain),
]


def _check_nonlinearity(value: Any) -> Any:
    if isinstance(value, str) and value not in NONLINEARITIES and _activation_hint(value):
        raise PydanticCustomError(
            "invalid_choice", "'{name}' is not a classic nonlinearity ({known}){hint}",
            {"name": value, "known": ", ".join(NONLINEARITIES), "hint": _activation_hint(value)})
    return value


def _nonlinearity_tag(value: Any) -> str:
    return "activation-mapping" if isinstance(value, (dict, ActivationGain)) else "nonlinearity-name"


#: He's nonlinearity: a classic name (calculate_gain's table) or ``{activation: NAME, ...}``.
HeNonlinearity = Annotated[
    Union[Annotated[Nonlinearity, Tag("nonlinearity-name")], Annotated[ActivationGain, Tag("activation-mapping")]],
    Discriminator(_nonlinearity_tag),
    BeforeValidator(_check_nonlinearity),
]


def gain_value(gain: float | str | LeakyReluGain | ActivationGain) -> float:
    """The numeric value of a :data:`Gain`."""
    if isinstance(gain, LeakyReluGain):
        return nonlinearity_gain("leaky_relu", gain.negative_slope)
    if isinstance(gain, ActivationGain):
        return gain.value
    if isinstance(gain, str):
        return nonlinearity_gain(gain)
    return float(gain)
