"""Parsing specs from plain data, and turning pydantic's errors into :class:`SpecError`.

:data:`~initspec.schemes.Spec` is the discriminated union of every scheme (plain and
preset) on ``scheme``; its aliases (``xavier``, ``kaiming``, ``flax.*``) are canonicalised
on parse.  No raw pydantic exception
leaves this module: :func:`validation_errors` rewrites each one as an :class:`ErrorDetail`
with the data path, the file location, the value received, a message with "did you mean",
and a stable code.
"""

from __future__ import annotations

import functools
import re
import types
import typing
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel, TypeAdapter, ValidationError

from ._plain import INTERNAL, plain_data
from .errors import NO_VALUE, SUGGEST_MAX_LEN, ErrorDetail, SpecError, _short_repr, did_you_mean, safe_value
from .formats import migrate
from .schemes import SCHEMES, Spec, model_of, scheme_names
from .spec import BaseSpec

__all__ = ["Spec", "SCHEMES", "parse", "parse_model", "validation_errors", "scheme_names", "check_expansions",
           "expansion_error"]


@functools.lru_cache(maxsize=256)
def suggest_scheme(word: str) -> str:
    """ "; did you mean ...?" for a mistyped scheme, matching presets by their short name too
    (``glorot_uniform`` -> ``keras.glorot_uniform``, ``jax.glorot_uniform`` ...)."""
    import difflib

    if len(word) > SUGGEST_MAX_LEN:
        return ""
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


#: How many errors of one ValidationError get "did you mean" suggestions (difflib is slow;
#: a file of 100k unknown keys must not spend minutes suggesting).
SUGGEST_LIMIT = 1000

#: _unwrap's answers by type id (the type kept alive beside its answer).
_UNWRAPPED: dict[int, tuple[Any, list[Any]]] = {}


def _unwrap(tp: Any) -> list[Any]:
    """The concrete candidate types behind Annotated / Optional / Union (cached: the spec
    union has some 70 members, and every error used to unwrap it again)."""
    hit = _UNWRAPPED.get(id(tp))
    if hit is not None and hit[0] is tp:
        return hit[1]
    out = _unwrap_uncached(tp)
    if len(_UNWRAPPED) < 4096:
        _UNWRAPPED[id(tp)] = (tp, out)
    return out


def _unwrap_uncached(tp: Any) -> list[Any]:
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


def _parent_model(root: Any, data: Any, path: tuple[Any, ...],
                  cache: dict[Any, Any] | None = None) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` (``cache``: answers already
    found during one conversion, by the path's shape and the mapping's scheme)."""
    if cache is not None:
        current = data
        for part in path:
            current = current[part] if isinstance(current, (dict, list)) and _has(current, part) else None
        tag = current.get("scheme") if isinstance(current, dict) else None
        key = (tuple(0 if isinstance(p, int) else p for p in path), tag if isinstance(tag, str) else None)
        if key not in cache:
            cache[key] = _parent_model(root, data, path)
        return cache[key]
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


def _fields_of(model: type[BaseModel] | None, cache: dict[Any, Any]) -> tuple[list[str], str]:
    """A model's field names and the "; allowed: ..." text of its unknown-field errors (once
    per model and conversion)."""
    key = ("fields", model)
    if key not in cache:
        known = list(model.model_fields) if model is not None else []
        cache[key] = (known, f"; allowed: {', '.join(known)}" if known else "")
    return cache[key]


def _has(container: dict | list, part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(part, int) and -len(container) <= part < len(container)


def non_ascii_note(word: str) -> str:
    """`` (the key contains non-ASCII characters: 'с' U+0441 CYRILLIC SMALL LETTER ES)`` for
    a word that looks like ASCII but is not; ``""`` otherwise."""
    if word.isascii():
        return ""
    odd = list(dict.fromkeys(c for c in word if ord(c) > 127))[:3]
    names = ", ".join(f"{c!r} U+{ord(c):04X} {unicodedata.name(c, '')}".rstrip() for c in odd)
    return f" (the key contains non-ASCII characters: {names})"


def _ascii_twin(word: str, target: str) -> bool:
    """Whether ``word`` is ``target`` written with look-alike or accented letters."""
    if word == target or len(word) != len(target):
        return False
    folded = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    if folded == target:
        return True
    diff = sum(1 for a, b in zip(word, target) if a != b)
    return diff <= 2 and all(ord(a) > 127 for a, b in zip(word, target) if a != b)


def _scheme_key(value: Any) -> str | None:
    """The key of a mapping without 'scheme' that was probably meant to be it."""
    if not isinstance(value, dict):
        return None
    import difflib

    for i, key in enumerate(value):
        if i >= 1000:
            break
        if isinstance(key, str) and (_ascii_twin(key, "scheme") or (
                len(key) <= SUGGEST_MAX_LEN and key.lower() != "scheme"
                and difflib.SequenceMatcher(None, key.lower(), "scheme").ratio() >= 0.8)
                or key.lower() == "scheme"):
            return key
    return None


def _choices(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


def validation_errors(exc: ValidationError, data: Any, root: Any, *, document: Any = None,
                      prefix: Sequence[str | int] = ()) -> list[ErrorDetail]:
    """Convert a pydantic ``ValidationError`` into located :class:`ErrorDetail` objects."""
    out: list[ErrorDetail] = []
    seen: set[tuple[Any, ...]] = set()
    parents: dict[Any, Any] = {}
    budget = SUGGEST_LIMIT
    for err in exc.errors(include_url=False):
        etype = err["type"]
        path = _data_path(data, err["loc"])
        value = err.get("input")
        if "value_summary" in (err.get("ctx") or {}):  # an array: its summary, not the whole input
            value = err["ctx"]["value_summary"]
        field_hint = (err.get("ctx") or {}).get("field")
        if field_hint and isinstance(value, dict):  # a model-level check about one field
            path = path + (field_hint,)
            value = value.get(field_hint, NO_VALUE)
        code = _CODE_BY_TYPE.get(etype, etype if etype.islower() and "_" in etype else "invalid_value")
        message = err["msg"]
        key_error = False
        suggest = budget > 0
        if etype in ("extra_forbidden", "literal_error", "union_tag_invalid"):
            budget -= 1
        if etype == "extra_forbidden":
            key_error = True
            parent = _parent_model(root, data, path[:-1], parents)
            known, allowed = _fields_of(parent, parents)
            key = path[-1] if path else ""
            message = f"unknown field {_short_repr(key)}{did_you_mean(str(key), known) if suggest else ''}"
            if isinstance(key, str):
                message += non_ascii_note(key)
            message += allowed
        elif etype == "missing":
            parent = _parent_model(root, data, path[:-1], parents)
            field = parent.model_fields.get(str(path[-1])) if parent else None
            desc = f" ({field.description})" if field is not None and field.description else ""
            message = f"required field {path[-1]!r} is missing{desc}"
            value = NO_VALUE
        elif etype in ("union_tag_invalid", "union_tag_not_found"):
            tag = value.get("scheme") if isinstance(value, dict) else None
            if tag is None:
                code = "missing_scheme"
                message = "every spec needs a 'scheme' (e.g. scheme: he)"
                near = _scheme_key(value)
                if near is not None:
                    message += f"; did you mean 'scheme' for the key {near!r}?{non_ascii_note(near)}"
                    path = path + (near,)
                    key_error = True
            elif not isinstance(tag, str):
                code = "wrong_type"
                message = "a scheme is a name such as he, glorot or torch.kaiming_uniform"
                path = path + ("scheme",)
                value = tag
            else:
                code = "unknown_scheme"
                hint = suggest_scheme(tag) if suggest else ""
                message = (f"unknown scheme {_short_repr(tag)}{hint}{non_ascii_note(tag)}; see `initspec schema` or "
                           "docs/schemes.md for the list")
                path = path + ("scheme",)
                value = tag
        elif etype == "literal_error":
            choices = _choices(err.get("ctx", {}).get("expected", ""))
            hint = did_you_mean(value, choices) if suggest and isinstance(value, str) else ""
            message = f"unknown value {_short_repr(value)}{hint}; expected one of {', '.join(choices)}"
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
        result = adapter.validate_python(data)
    except ValidationError as exc:
        root = model._type if isinstance(model, TypeAdapter) else model
        raise SpecError(validation_errors(exc, data, root, document=document, prefix=loc)) from None
    check_expansions(result, document=document, loc=loc)
    return result


def expansion_error(spec: BaseSpec, exc: ValidationError) -> SpecError:
    """A preset whose fields expand to an invalid plain spec (``{scheme: torch.uniform, a: 2}``:
    U(2, 1)), as a SpecError on the preset, located at the preset field the user gave that
    feeds the failing plain field (``a``), else at the root."""
    details = []
    fields = {k: safe_value(v) for k, v in spec.to_dict().items() if k != "scheme"}
    for err in exc.errors(include_url=False):
        etype = err["type"]
        code = etype if etype.islower() and "_" in etype and etype in _PRESET_CODES else "invalid_value"
        details.append(ErrorDetail(code, f"{spec.scheme} with {fields or 'its defaults'} expands to an invalid "
                                   f"{_plain_name(err)}: {err['msg']}; change the preset's fields",
                                   loc=_preset_field(spec, err), value=fields))
    return SpecError(details)


def _preset_field(spec: BaseSpec, err: dict[str, Any]) -> tuple[str, ...]:
    """The field of ``spec`` behind a plain spec's error: one the user set whose value is the
    failing plain field's (or any value the check names), else the first field the user set."""
    data = err.get("input") if isinstance(err.get("input"), dict) else {}
    ctx = err.get("ctx") or {}
    wanted = [data.get(ctx["field"])] if ctx.get("field") in data else []
    wanted += [v for k, v in ctx.items() if k != "field"]
    given = [k for k in spec.model_fields_set if k != "scheme"]
    for name in given:
        if any(getattr(spec, name, None) == w for w in wanted if w is not None):
            return (name,)
    return (given[0],) if given else ()


#: The codes a preset's expansion may report as they are (the plain spec's own checks).
_PRESET_CODES = frozenset({"bad_interval", "missing_bound", "missing_bounds_unit", "missing_slope", "unused_field",
                           "out_of_range"})


def _plain_name(err: dict[str, Any]) -> str:
    data = err.get("input")
    scheme = data.get("scheme") if isinstance(data, dict) else None
    return f"{scheme!s} spec" if scheme else "spec"


def check_expansions(obj: Any, *, document: Any = None, loc: Sequence[str | int] = ()) -> None:
    """Expand every preset inside ``obj`` (a spec, a plan, any validated model): a preset whose
    fields make an invalid plain spec (``{scheme: torch.uniform, a: 2}``: U(2, 1)) is an error
    here, at validation, not later when a tensor is resolved.  Presets that need a layer's
    numbers (``torch.default_bias`` without ``fan_in``) are left to plans, which fill them in."""
    from .presets import Preset

    errors: list[ErrorDetail] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(obj, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Preset):
            try:
                node.expand()
            except ValidationError as exc:
                full = tuple(loc) + path
                file = getattr(document, "filename", None)
                for e in expansion_error(node, exc).errors:
                    e = e.with_prefix(full)
                    pos = None
                    if document is not None:
                        pos = document.locate_key(e.loc) or document.locate(e.loc) or document.locate(full)
                    errors.append(e.with_location(file, *(pos or (None, None))))
            except (SpecError, ArithmeticError):  # needs a layer's numbers / overflows: resolution reports it
                pass
        elif isinstance(node, BaseModel):
            stack += [(getattr(node, name, None), path + (name,)) for name in type(node).model_fields]
        elif isinstance(node, (list, tuple)):
            stack += [(v, path + (i,)) for i, v in enumerate(node)]
        elif isinstance(node, dict):
            stack += [(v, path + (k,)) for k, v in node.items()]
    if errors:
        raise SpecError(errors)


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
        spec = _SPEC_ADAPTER.validate_python(obj, context=INTERNAL)
    except ValidationError as exc:
        raise SpecError(validation_errors(exc, obj, Spec, document=document, prefix=loc)) from None
    check_expansions(spec, document=document, loc=loc)
    return spec
