"""Strict scalar types shared by every model.

Numbers are strict: ``true`` is not 1, ``"0.5"`` is not 0.5, and NaN/inf are rejected.
Integers are accepted where a real number is expected (``std: 1`` means 1.0).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictInt

#: Any finite real number (ints accepted, bools and strings rejected).
Real = Annotated[float, Field(strict=True, allow_inf_nan=False)]
#: A finite real number > 0.
PositiveReal = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
#: A finite real number >= 0.
NonNegativeReal = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
#: A tuple of axis indices (negative counts from the end). JSON/YAML lists are accepted.
AxisTuple = Annotated[tuple[StrictInt, ...], Field(strict=False)]

FanMode = Literal["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
VSDistribution = Literal["uniform", "normal", "truncated_normal"]

#: Model configuration shared by all spec and plan models.
MODEL_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    allow_inf_nan=False,
    validate_default=False,
    use_attribute_docstrings=True,
)
