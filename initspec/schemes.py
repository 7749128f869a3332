"""Every scheme in one place: the plain ones (:mod:`initspec.spec`), the framework presets
(:mod:`initspec.presets`) and :data:`Spec`, the discriminated union of all of them.

The union is discriminated by the ``scheme`` field itself: each model's ``scheme`` is a
literal of its name and its aliases (``glorot`` | ``xavier``, ``jax.normal`` |
``flax.normal``), so pydantic picks the model from the tag, the JSON Schema lists every
spelling, and :class:`~initspec.spec.BaseSpec` stores the canonical one.  (``initspec.Spec``,
the type for a field of a user's own pydantic model, adds initspec's error messages to it:
:mod:`initspec._embed`.)
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from .presets import PRESETS
from .spec import PLAIN_SCHEMES, SCHEME_ALIASES, BaseSpec

__all__ = ["Spec", "SCHEMES", "SCHEME_ALIASES", "scheme_names", "model_of"]

#: Every canonical scheme name (plain and preset) -> its model.
SCHEMES: dict[str, type[BaseSpec]] = {**PLAIN_SCHEMES, **PRESETS}


#: The spec type: a discriminated union on ``scheme`` over every plain scheme and preset.
Spec = Annotated[Union[tuple(dict.fromkeys(SCHEMES.values()))], Field(discriminator="scheme")]  # type: ignore[misc]


def scheme_names() -> list[str]:
    """Every accepted ``scheme`` value, aliases included."""
    return [*SCHEMES, *SCHEME_ALIASES]


def model_of(name: str) -> type[BaseSpec] | None:
    """The model of a scheme name or alias (None when unknown)."""
    return SCHEMES.get(SCHEME_ALIASES.get(name, name)) if isinstance(name, str) else None
