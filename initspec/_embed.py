"""``initspec.Plan`` and ``initspec.Spec`` as fields of a user's own pydantic model.

::

    class TrainConfig(BaseModel):
        lr: float
        init: initspec.Plan          # or: initspec.Spec

A field of these types accepts what a file holds - ``format_version`` included (checked and
migrated, then dropped) - and any mapping (an OmegaConf ``DictConfig`` too).  Its mistakes
come back inside the user's ``ValidationError`` with initspec's codes as the error types and
initspec's messages ("unknown scheme 'hee'; did you mean 'he'?"), not pydantic's generic
ones ("Input tag 'hee' found using 'scheme' does not match ...").

initspec's own parsers (:func:`initspec.parse`, :func:`initspec.parse_plan`) validate with the
``INTERNAL`` context and convert pydantic's errors themselves, with file positions; this
module is only what runs without it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from . import schemes
from ._plain import INTERNAL, is_internal, plain_data
from .errors import ErrorDetail, SpecError
from .expressions import ExpressionErrorDetail
from .formats import migrate
from .parsing import _data_path, check_expansions, validation_errors
from .spec import BaseSpec

__all__ = ["INTERNAL", "is_internal", "converted_errors", "validate_outside", "Spec"]


def _as_pydantic(details: list[ErrorDetail], title: str) -> ValidationError:
    errors = []
    for d in details:
        ctx = {"offset": d.offset} if getattr(d, "offset", None) is not None else None
        errors.append({"type": PydanticCustomError(d.code, d.message, ctx), "loc": tuple(d.loc),
                       "input": d.value if d.has_value else None})
    return ValidationError.from_exception_data(title, errors)  # type: ignore[arg-type]


def converted_errors(exc: ValidationError, data: Any, root: Any, *, document: Any = None) -> list[ErrorDetail]:
    """:func:`initspec.parsing.validation_errors`, keeping the ``offset`` that expression errors
    carry in their context (as :class:`~initspec.expressions.ExpressionErrorDetail`)."""
    offsets = {(_data_path(data, e["loc"]), e["type"]): e["ctx"]["offset"] for e in exc.errors(include_url=False)
               if isinstance(e.get("ctx"), dict) and isinstance(e["ctx"].get("offset"), int)}
    out: list[ErrorDetail] = []
    for d in validation_errors(exc, data, root, document=document):
        offset = offsets.get((tuple(d.loc), d.code))
        if offset is not None:
            d = ExpressionErrorDetail(d.code, d.message, loc=d.loc, value=d.value, file=d.file, line=d.line,
                                      col=d.col, offset=offset)
        out.append(d)
    return out


def validate_outside(kind: str, root: Any, data: Any, handler: Any) -> Any:
    """Validate ``data`` (a spec or plan as a file holds it) with pydantic's ``handler``,
    re-raising any problem with initspec's codes and messages."""
    data = plain_data(data)
    title = "Plan" if kind == "plan" else "Spec"
    try:
        if isinstance(data, dict) and "format_version" in data:
            data = migrate(data, kind=kind)
        result = handler(data)
        check_expansions(result)  # {scheme: torch.uniform, a: 2} fails here, as in initspec.parse
        return result
    except SpecError as exc:
        raise _as_pydantic(exc.errors, title) from None
    except ValidationError as exc:
        raise _as_pydantic(converted_errors(exc, data, root), title) from None


def _outside(value: Any, handler: Any, info: Any) -> Any:
    """As a field of a user's pydantic model: a spec file's content (``format_version`` too,
    any mapping) and initspec's error codes and messages."""
    if isinstance(value, BaseSpec) or is_internal(info):
        return handler(value)
    return validate_outside("spec", schemes.Spec, value, handler)


#: ``initspec.Spec``: the union of every scheme (:data:`initspec.schemes.Spec`) as a field
#: type for a user's pydantic model, with initspec's error codes and messages.
Spec = Annotated[schemes.Spec, WrapValidator(_outside)]
