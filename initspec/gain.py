"""The gain table: the recommended scale of a weight for a given nonlinearity.

A gain is written as a number (``gain: 1.5``), as a nonlinearity name (``gain: tanh``) or,
for leaky ReLU, with its slope (``gain: {nonlinearity: leaky_relu, negative_slope: 0.2}``).

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

from pydantic import BaseModel, BeforeValidator
from pydantic_core import PydanticCustomError

from ._types import MODEL_CONFIG, PositiveReal, Real
from .errors import did_you_mean

__all__ = ["Nonlinearity", "GAIN_TABLE", "LeakyReluGain", "Gain", "gain_value", "nonlinearity_gain"]

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


def nonlinearity_gain(name: str, negative_slope: float | None = None) -> float:
    """Gain of a named nonlinearity (leaky_relu needs ``negative_slope``)."""
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


def _check_gain(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("bool_as_number", "a gain must be a number or a nonlinearity name, not a boolean")
    if isinstance(value, dict):
        slope = value.get("negative_slope")
        if (value.get("nonlinearity") != "leaky_relu" or set(value) != {"nonlinearity", "negative_slope"}
                or isinstance(slope, bool) or not isinstance(slope, (int, float)) or not math.isfinite(slope)):
            raise PydanticCustomError(
                "invalid_gain",
                "a gain mapping is exactly {nonlinearity: leaky_relu, negative_slope: <finite number>}; other "
                "nonlinearities are written by name (gain: tanh)",
            )
        return value
    if not isinstance(value, (str, int, float)):
        raise PydanticCustomError(
            "wrong_type", "a gain is a positive number, a nonlinearity name ({known}) or "
            "{nonlinearity: leaky_relu, negative_slope: <number>}", {"known": ", ".join(GAIN_TABLE)})
    if isinstance(value, str):
        if value == "leaky_relu":
            raise PydanticCustomError(
                "missing_slope",
                "leaky_relu needs its slope: write {nonlinearity: leaky_relu, negative_slope: 0.01}",
            )
        if value not in GAIN_TABLE:
            raise PydanticCustomError(
                "unknown_nonlinearity",
                "unknown nonlinearity '{name}'{hint}; known: {known}",
                {"name": value, "hint": did_you_mean(value, NONLINEARITIES), "known": ", ".join(NONLINEARITIES)},
            )
    return value


#: A gain: a positive number, a nonlinearity name, or a leaky-ReLU slope.
Gain = Annotated[
    Union[PositiveReal, Literal["linear", "conv", "sigmoid", "tanh", "relu", "selu"], LeakyReluGain],
    BeforeValidator(_check_gain),
]


def gain_value(gain: float | str | LeakyReluGain) -> float:
    """The numeric value of a :data:`Gain`."""
    if isinstance(gain, LeakyReluGain):
        return nonlinearity_gain("leaky_relu", gain.negative_slope)
    if isinstance(gain, str):
        return nonlinearity_gain(gain)
    return float(gain)
