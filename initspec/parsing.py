"""Parsing specs from plain data, and turning pydantic's errors into :class:`SpecError`.

:data:`~initspec.schemes.Spec` is the discriminated union of every scheme (plain and
preset) on ``scheme``; its aliases (``xavier``, ``kaiming``, ``flax.*``) are canonicalised
on parse.  No raw pydantic exception
leaves this module: :func:`validation_errors` rewrites each one as an :class:`ErrorDetail`
with the data path, the file location, the value received, a message with "did you mean",
and a stable code.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel, TypeAdapter, ValidationError

from ._plain import INTERNAL, plain_data
from .errors import NO_VALUE, ErrorDetail, SpecError, did_you_mean
from .formats import migrate
from .schemes import SCHEMES, Spec, model_of, scheme_names
from .spec import BaseSpec

__all__ = ["Spec", "SCHEMES", "parse", "parse_model", "validation_errors", "scheme_names"]


def suggest_scheme(word: str) -> str:
    """ "; did you mean ...?" for a mistyped scheme, matching presets by their short name too
    (``glorot_uniform`` -> ``keras.glorot_uniform``, ``jax.glorot_uniform`` ...)."""
    import difflib

    names = scheme_names()
    by_short: dict[str, list[str]] = {}
    for name in names:
        by_short.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    hits: list[str] = []
    for short in difflib.get_close_matches(word.rsplit(".", 1)[-1], list(by_short), n=2, cutoff=0.75):
        hits += by_short[short]
    hits += [n for n in difflib.get_close_matches(word, names, n=3, cutoff=0.6) if n not in hits]
    if not hits:
        return ""
    return "; did you mean " + ", ".join(repr(h) for h in hits[:5]) + "?"


_SPEC_ADAPTER: TypeAdapter[BaseSpec] = TypeAdapter(Spec)


# ----------------------------------------------------------------------------- error conversion

_CODE_BY_TYPE = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "literal_error": "invalid_choice",
    "enum": "invalid_choice",
    "finite_number": "non_finite",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "too_short": "invalid_length",
    "too_long": "invalid_length",
    "union_tag_invalid": "unknown_scheme",
    "union_tag_not_found": "missing_scheme",
    "model_type": "wrong_type",
    "model_attributes_type": "wrong_type",
    "dict_type": "wrong_type",
    "tuple_type": "wrong_type",
    "list_type": "wrong_type",
    "string_type": "wrong_type",
    "int_from_float": "wrong_type",
    "frozen_instance": "frozen",
}
_NUMBER_TYPES = {"float_type", "int_type", "float_parsing", "int_parsing", "int_from_float"}


def _unwrap(tp: Any) -> list[Any]:
    """The concrete candidate types behind Annotated / Optional / Union."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_unwrap(arg))
        return out
    return [tp]


def _data_path(data: Any, loc: Sequence[str | int]) -> tuple[Any, ...]:
    """Drop pydantic's union tags and branch labels from ``loc``, leaving the data path."""
    path: list[Any] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and isinstance(part, str):
            if part in current:
                path.append(part)
                current = current[part]
            elif model_of(part) is None and part.isidentifier():  # a missing/unknown key; tags and branch labels skipped
                path.append(part)
                current = None
        elif isinstance(current, list) and isinstance(part, int):
            path.append(part)
            current = current[part] if 0 <= part < len(current) else None
        elif current is None and not path:
            path.append(part)
    return tuple(path)


def _parent_model(root: Any, data: Any, path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path``."""
    candidates = _unwrap(root)
    current = data
    for part in path:
        nxt: list[Any] = []
        for c in candidates:
            if isinstance(part, int):
                if typing.get_origin(c) in (list, tuple, Sequence):
                    nxt.extend(_unwrap(typing.get_args(c)[0]))
            elif isinstance(c, type) and issubclass(c, BaseModel) and part in c.model_fields:
                nxt.extend(_unwrap(c.model_fields[part].annotation))
        current = current[part] if isinstance(current, (dict, list)) else None
        candidates = nxt
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) > 1 and isinstance(current, dict):
        tagged = model_of(current.get("scheme"))
        if tagged is not None:
            return tagged
    return models[0] if len(models) == 1 else None


def _choices(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


def validation_errors(exc: ValidationError, data: Any, root: Any, *, document: Any = None,
                      prefix: Sequence[str | int] = ()) -> list[ErrorDetail]:
    """Convert a pydantic ``ValidationError`` into located :class:`ErrorDetail` objects."""
    out: list[ErrorDetail] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors(include_url=False):
        etype = err["type"]
        path = _data_path(data, err["loc"])
        value = err.get("input")
        field_hint = (err.get("ctx") or {}).get("field")
        if field_hint and isinstance(value, dict):  # a model-level check about one field
            path = path + (field_hint,)
            value = value.get(field_hint, NO_VALUE)
        code = _CODE_BY_TYPE.get(etype, etype if etype.islower() and "_" in etype else "invalid_value")
        message = err["msg"]
        key_error = False
        if etype == "extra_forbidden":
            key_error = True
            parent = _parent_model(root, data, path[:-1])
            known = list(parent.model_fields) if parent else []
            message = f"unknown field {path[-1]!r}{did_you_mean(str(path[-1]), known)}"
            if known:
                message += f"; allowed: {', '.join(known)}"
        elif etype == "missing":
            parent = _parent_model(root, data, path[:-1])
            field = parent.model_fields.get(str(path[-1])) if parent else None
            desc = f" ({field.description})" if field is not None and field.description else ""
            message = f"required field {path[-1]!r} is missing{desc}"
            value = NO_VALUE
        elif etype in ("union_tag_invalid", "union_tag_not_found"):
            tag = value.get("scheme") if isinstance(value, dict) else None
            if tag is None:
                code = "missing_scheme"
                message = "every spec needs a 'scheme' (e.g. scheme: he)"
            elif not isinstance(tag, str):
                code = "wrong_type"
                message = "a scheme is a name such as he, glorot or torch.kaiming_uniform"
                path = path + ("scheme",)
                value = tag
            else:
                code = "unknown_scheme"
                hint = suggest_scheme(tag) if isinstance(tag, str) else ""
                message = f"unknown scheme {tag!r}{hint}; see `initspec schema` or docs/schemes.md for the list"
                path = path + ("scheme",)
                value = tag
        elif etype == "literal_error":
            choices = _choices(err.get("ctx", {}).get("expected", ""))
            message = f"unknown value {value!r}{did_you_mean(str(value), choices)}; expected one of {', '.join(choices)}"
        elif etype in _NUMBER_TYPES:
            if isinstance(value, bool):
                code, message = "bool_as_number", "expected a number, got a boolean"
            else:
                code, message = "wrong_type", "expected " + ("an integer" if "int" in etype else "a number")
                if isinstance(value, (int, float)) and etype == "float_type":
                    message = "number out of range"
        elif etype == "finite_number":
            message = "NaN and infinity are not allowed"
        elif etype in ("model_type", "dict_type", "model_attributes_type"):
            message = "expected a mapping of fields"
        elif etype in ("tuple_type", "list_type"):  # file formats have lists; tuples are our storage
            message = "expected a list (in YAML, one `- ` item per line, or [a, b])"
        if path in seen and etype not in ("extra_forbidden",):
            continue
        seen.add(path)
        full = tuple(prefix) + path
        line = col = None
        if document is not None:
            pos = document.locate_key(full) if key_error else document.locate(full)
            if pos is None and full:
                pos = document.locate(full[:-1])
            if pos is not None:
                line, col = pos
        out.append(ErrorDetail(code=code, message=message, loc=full, value=value,
                               file=getattr(document, "filename", None), line=line, col=col))
    return out


def parse_model(model: Any, data: Any, *, document: Any = None, loc: Sequence[str | int] = ()) -> Any:
    """Validate ``data`` against a model or type, raising :class:`SpecError` on failure."""
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        root = model._type if isinstance(model, TypeAdapter) else model
        raise SpecError(validation_errors(exc, data, root, document=document, prefix=loc)) from None


def parse(obj: Any, *, document: Any = None, loc: Sequence[str | int] = ()) -> BaseSpec:
    """Parse a spec from a mapping (or return a spec model unchanged).

    A ``format_version`` key is accepted (and checked/migrated) but not required here;
    files read with :func:`initspec.load` must have one.
    """
    if isinstance(obj, BaseSpec):
        return obj
    obj = plain_data(obj)  # any Mapping (an OmegaConf DictConfig too) is read as a dict
    if isinstance(obj, str):
        hint = "" if obj in scheme_names() else suggest_scheme(obj)
        raise SpecError.single(
            "wrong_type", f"a spec is a mapping such as {{scheme: {obj}}}, not a bare string" + hint,
            loc=tuple(loc), value=obj)
    if not isinstance(obj, dict):
        raise SpecError.single("wrong_type", "a spec is a mapping with a 'scheme' key, e.g. {scheme: he, "
                               "distribution: normal}", loc=tuple(loc), value=obj)
    if "format_version" in obj:
        obj = migrate(obj, kind="spec", document=document)
    try:
        return _SPEC_ADAPTER.validate_python(obj, context=INTERNAL)
    except ValidationError as exc:
        raise SpecError(validation_errors(exc, obj, Spec, document=document, prefix=loc)) from None
