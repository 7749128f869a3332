"""Specs with formulas: numeric fields of a plan's specs written as expressions.

Inside a plan (``rules[].init`` and ``defaults``), any numeric field of a spec may be a string
in the language of :mod:`initspec.expressions` instead of a number::

    vars: {width: 1024, base_width: 256}
    rules:
      - match: {path: "transformer.h.{i}.*.c_proj.weight"}
        init: {scheme: normal, std: "0.02 / sqrt(2 * count(i))"}

Such a spec is kept as a :class:`SpecTemplate`: the mapping as written (scheme canonical), and
one :class:`Formula` per expression, found and compiled when the plan is parsed.  At parse
time the template is checked as far as it can be without the model: the expressions compile,
the rest of the spec validates (each formula stands in as a number; checks that need the
formula's value, such as ``std > 0`` or ``low < high``, wait for it), and every name is a plan
variable or a capture of the rule's path (see :func:`name_problems`).  When the plan is
resolved against a model, each parameter's values are computed from the plan's ``vars``, the
captures its path binds and the counts (:func:`capture_counts`), substituted, and the spec is
validated then - once per distinct tuple of values, so a 4,000-tensor model validates a
handful of specs.

Which fields take a formula: a field whose type accepts a number (``std``, ``scale``,
``gain``, ``negative_slope``, ``groups`` ...) including numeric fields of nested gain
mappings (``gain: {activation: elu, alpha: "..."}``).  A field that also takes names
(``gain: tanh``) reads a bare name as the name, never as a variable: write ``gain: "+g"`` to
use a variable alone there.  Integer fields need a whole-number value.  Plain spec files
(``initspec.load`` of a spec, ``initspec.parse``) take numbers only: formulas exist to relate a
spec to a model, and only a plan has one.
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from .._plain import INTERNAL
from ..errors import ErrorDetail, SpecError, did_you_mean
from ..expressions import (
    Expression,
    ExpressionError,
    ExpressionErrorDetail,
    compile_capture_glob,
    compile_expression,
)
from ..spec import BaseSpec

__all__ = ["EXPRESSION_CODES", "Formula", "SpecTemplate", "find_formulas", "spec_or_template",
           "name_problems", "capture_counts", "capture_values", "raise_as_validation_error", "shift_columns"]


#: Codes whose details carry an ``offset`` into the expression (or glob) string.
EXPRESSION_CODES = frozenset({"bad_expression", "expression_too_complex", "unknown_function", "unknown_variable",
                              "math_error", "bad_capture"})

_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


# ----------------------------------------------------------------------------- formulas in a spec mapping


@dataclass(frozen=True)
class Formula:
    """One numeric field of a spec written as an expression."""

    loc: tuple[str, ...]
    """Where the field is inside the spec mapping, e.g. ``("std",)`` or ``("gain", "alpha")``."""
    expression: Expression
    integer: bool = False
    """The field takes an integer (the value must be a whole number)."""

    @property
    def field(self) -> str:
        return ".".join(self.loc)


def _unwrap(tp: Any) -> list[Any]:
    from ..parsing import _unwrap as unwrap

    return unwrap(tp)


def _field_types(annotation: Any) -> tuple[bool, bool, frozenset[str], list[type[BaseModel]]]:
    """(takes a number, takes only integers, the string literals it takes, nested models)."""
    numeric = real = False
    literals: set[str] = set()
    models: list[type[BaseModel]] = []
    for t in _unwrap(annotation):
        if t is float:
            numeric = real = True
        elif t is int:
            numeric = True
        elif typing.get_origin(t) is Literal:
            literals.update(a for a in typing.get_args(t) if isinstance(a, str))
        elif isinstance(t, type) and issubclass(t, BaseModel):
            models.append(t)
    return numeric, numeric and not real, frozenset(literals), models


def _is_name(text: str) -> bool:
    body = text.strip()
    return bool(body) and not body[0].isdigit() and set(body) <= _IDENT_CHARS


def _walk(cls: type[BaseModel], data: Mapping[str, Any], loc: tuple[str, ...],
          out: list[tuple[tuple[str, ...], str, bool]]) -> None:
    from ..gain import ActivationGain

    for key, value in data.items():
        info = cls.model_fields.get(key) if isinstance(key, str) else None
        if info is None:
            continue
        numeric, integer, literals, models = _field_types(info.annotation)
        if isinstance(value, str) and numeric:
            if value in literals or (literals and _is_name(value)):
                continue  # a name the field takes (gain: tanh), not a formula
            out.append((loc + (key,), value, integer))
        elif isinstance(value, Mapping):
            if ActivationGain in models and "activation" in value:
                _walk_activation(value, loc + (key,), out)
                continue
            for model in models:
                if model is not ActivationGain and set(value) <= set(model.model_fields):
                    _walk(model, value, loc + (key,), out)
                    break


def _walk_activation(data: Mapping[str, Any], loc: tuple[str, ...],
                     out: list[tuple[tuple[str, ...], str, bool]]) -> None:
    from ..activations import lookup

    try:
        act = lookup(data.get("activation"))
    except SpecError:
        return  # reported by the spec's own validation
    for p in act.params:
        value = data.get(p.name)
        if isinstance(value, str) and not p.choices:
            out.append((loc + (p.name,), value, False))


def find_formulas(data: Any) -> list[tuple[tuple[str, ...], str, bool]]:
    """``(loc, text, integer)`` of every numeric field of a spec mapping written as a string."""
    from ..schemes import model_of

    if not isinstance(data, Mapping):
        return []
    cls = model_of(data.get("scheme"))  # type: ignore[arg-type]
    if cls is None:
        return []
    out: list[tuple[tuple[str, ...], str, bool]] = []
    _walk(cls, data, (), out)
    return out


def _set(data: Any, loc: tuple[str, ...], value: Any) -> Any:
    """A copy of ``data`` with ``value`` at ``loc`` (copying only the mappings on the way)."""
    if not loc:
        return value
    out = dict(data)
    out[loc[0]] = _set(data[loc[0]], loc[1:], value)
    return out


@dataclass(frozen=True, eq=False)
class SpecTemplate:
    """A spec of a plan with formulas in numeric fields (see the module docstring).

    ``data`` is the mapping as written (the scheme canonical); :meth:`spec` fills in values."""

    scheme: str
    data: Mapping[str, Any]
    formulas: tuple[Formula, ...]

    @property
    def names(self) -> frozenset[str]:
        """Free names of every formula (plan variables and path captures)."""
        return frozenset().union(*(f.expression.names for f in self.formulas))

    @property
    def counted(self) -> frozenset[str]:
        """Captures read through ``count()``."""
        return frozenset().union(*(f.expression.counted for f in self.formulas))

    def to_dict(self) -> dict[str, Any]:
        """The mapping as written, formulas as their strings (what a plan file holds)."""
        return copy.deepcopy(dict(self.data))

    def fill(self, values: Sequence[float]) -> dict[str, Any]:
        """The mapping with each formula replaced by its value (integers where the field takes one)."""
        data: Any = self.data
        for f, v in zip(self.formulas, values):
            data = _set(data, f.loc, int(v) if f.integer and float(v).is_integer() else v)
        return dict(data)

    def spec(self, values: Sequence[float]) -> BaseSpec:
        """The spec with these values; raises pydantic's ``ValidationError`` when they do not fit."""
        return _SPEC.validate_python(self.fill(values), context=INTERNAL)

    def __str__(self) -> str:
        return json.dumps(self.data, separators=(", ", ": "))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpecTemplate) and self.data == other.data

    def __hash__(self) -> int:
        return hash(json.dumps(self.data, sort_keys=True, default=str))


def _spec_adapter() -> TypeAdapter[Any]:
    from ..schemes import Spec

    return TypeAdapter(Spec)


_SPEC: TypeAdapter[Any] = _spec_adapter()


def _custom(code: str, message: str, loc: tuple[Any, ...], value: Any, offset: int | None = None) -> dict[str, Any]:
    ctx = {"offset": offset} if offset is not None else None
    return {"type": PydanticCustomError(code, message, ctx), "loc": loc, "input": value}


def raise_as_validation_error(title: str, errors: Iterable[dict[str, Any]]) -> None:
    errors = list(errors)
    if errors:
        raise ValidationError.from_exception_data(title, errors)  # type: ignore[arg-type]


#: Checks across fields that compare values (low < high, an activation's parameter ranges):
#: with a formula among the fields they wait for its value.
_VALUE_CHECKS = frozenset({"bad_interval", "bad_activation_param", "bad_activation"})


def _waits_for_values(err: Mapping[str, Any], path: tuple[Any, ...], at: list[tuple[str, ...]]) -> bool:
    """Whether a probe error depends on a formula's value (and is checked per parameter)."""
    if any(path[:len(a)] == a for a in at):
        return True
    model_level = not path or "field" in (err.get("ctx") or {})
    return bool(at) and model_level and err["type"] in _VALUE_CHECKS


def spec_or_template(value: Any, handler: Any, info: Any) -> Any:
    """The validator of a spec inside a plan: a spec, or a :class:`SpecTemplate` when numeric
    fields hold formulas (module docstring)."""
    from ..parsing import _data_path

    if isinstance(value, (BaseSpec, SpecTemplate)):
        return value
    found = find_formulas(value)
    if not found:
        return handler(value)
    formulas: list[Formula] = []
    errors: list[dict[str, Any]] = []
    probe: Any = value
    at: list[tuple[str, ...]] = []  # formulas whose value waits for the parameter
    for loc, text, integer in found:
        try:
            expr = compile_expression(text)
        except ExpressionError as exc:
            d = exc.errors[0]
            errors.append(_custom(d.code, d.message, loc, text, getattr(d, "offset", None)))
            probe = _set(probe, loc, 1 if integer else 1.0)
            at.append(loc)
            continue
        formulas.append(Formula(loc, expr, integer))
        number: Any = 1 if integer else 1.0
        if expr.names or expr.counted:
            at.append(loc)
        else:  # a constant: computed now, and the spec checks its value now
            try:
                number = expr.evaluate()
            except ExpressionError as exc:
                d = exc.errors[0]
                errors.append(_custom(d.code, d.message, loc, text, getattr(d, "offset", None)))
                at.append(loc)
            else:
                number = int(number) if integer and float(number).is_integer() else number
        probe = _set(probe, loc, number)
    spec = None
    try:
        spec = _SPEC.validate_python(probe, context=INTERNAL)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            if _waits_for_values(err, _data_path(probe, err["loc"]), at):
                continue  # checked per parameter, with the formulas' values
            errors.append({"type": PydanticCustomError(err["type"], err["msg"], err.get("ctx")), "loc": err["loc"],
                           "input": err["input"]})
    raise_as_validation_error("Spec", errors)
    scheme = spec.scheme if spec is not None else str(value.get("scheme"))
    data = copy.deepcopy({**value, "scheme": scheme})
    return SpecTemplate(scheme, data, tuple(formulas))


# ----------------------------------------------------------------------------- names


def glob_captures(globs: Sequence[str]) -> list[tuple[str, ...]]:
    """The capture names of each glob (globs that do not compile count as having none)."""
    out = []
    for g in globs:
        try:
            out.append(compile_capture_glob(g)[1])
        except SpecError:
            out.append(())
    return out


def name_problems(template: SpecTemplate, variables: Mapping[str, Any], globs: Sequence[str],
                  loc: tuple[Any, ...], where: str) -> list[ExpressionErrorDetail]:
    """Names a template's formulas read that nothing binds: each free name must be a plan
    variable or a capture of every glob of the rule's path; each ``count(name)`` a capture
    of at least one.  ``where`` names the rule in messages."""
    caps = glob_captures(globs)
    all_caps = sorted({c for cs in caps for c in cs})
    out: list[ExpressionErrorDetail] = []
    for f in template.formulas:
        text = f.expression.text
        found: list[tuple[int, str]] = []
        unknown = False
        for kind, name, offset in f.expression.references():
            at = f" at column {offset + 1}"
            if kind == "var":
                if name in variables:
                    continue
                lacking = [g for g, cs in zip(globs, caps) if name not in cs]
                if globs and not lacking:
                    continue
                if name in all_caps:
                    message = (f"capture {name!r}{at} is not in every path glob of {where}: {lacking[0]!r} has "
                               f"none, so the parameters it matches have no value for it; give every glob "
                               f"{{{name}}} or split the rule")
                else:
                    message = f"unknown variable {name!r}{at}{did_you_mean(name, [*variables, *all_caps])}"
                    unknown = True
            else:
                if name in all_caps:
                    continue
                message = (f"count({name}){at}: {name!r} is not a capture of {where}'s path"
                           f"{did_you_mean(name, all_caps)}; count() takes a capture such as i in "
                           f"match: {{path: \"layers.{{i}}.*\"}}" + (f" (captures here: {', '.join(all_caps)})"
                                                                     if all_caps else ""))
            found.append((offset, message))
        if found:  # one error per formula (its first unknown name locates it), naming every unknown name
            text_ = "; ".join(m for _, m in found) + ("; " + _known(variables, all_caps, where) if unknown else "")
            out.append(ExpressionErrorDetail("unknown_variable", text_, loc=loc + f.loc,
                                             value=text, offset=found[0][0]))
    return out


def _known(variables: Mapping[str, Any], captures: Sequence[str], where: str) -> str:
    parts = [f"plan vars: {', '.join(variables)}" if variables else
             "the plan defines no vars (add vars: {name: number} at the top level)"]
    if where.startswith("defaults"):
        parts.append("defaults have no path captures")
    elif captures:
        parts.append(f"captures of {where}'s path: {', '.join(captures)}")
    else:
        parts.append(f"{where}'s path has no captures (write {{i}} in match.path to bind one)")
    return "; ".join(parts)


def clash_problems(variables: Mapping[str, Any], globs: Sequence[str], loc: tuple[Any, ...]) -> list[ErrorDetail]:
    """A capture named like a plan variable would be ambiguous: an error at the glob."""
    out: list[ErrorDetail] = []
    for j, (g, cs) in enumerate(zip(globs, glob_captures(globs))):
        for name in cs:
            if name in variables:
                offset = g.find("{" + name + "}") + 1
                out.append(ExpressionErrorDetail(
                    "bad_capture", f"capture {{{name}}} at column {offset + 1} has the name of a plan variable; "
                    "rename one of them", loc=loc + ((j,) if len(globs) > 1 else ()), value=g, offset=offset))
    return out


# ----------------------------------------------------------------------------- values per parameter


def capture_values(globs: Sequence[str], path: str) -> dict[str, int] | None:
    """The captures of the first glob that matches ``path`` (None when none does)."""
    for g in globs:
        regex, names = compile_capture_glob(g)
        m = regex.fullmatch(path)
        if m is not None:
            return {n: int(m.group(n)) for n in names}
    return None


def capture_counts(globs: Sequence[str], paths: Iterable[str], names: Iterable[str]) -> dict[str, int]:
    """``count(name)`` for a rule: how many distinct values ``name`` takes over the given
    parameter paths that one of the rule's path globs matches (globs without the capture
    add nothing).  The rule's other criteria (kind, role, type, block) do not narrow it."""
    wanted = set(names)
    values: dict[str, set[int]] = {n: set() for n in wanted}
    compiled = [compile_capture_glob(g) for g in globs]
    compiled = [(regex, [n for n in ns if n in wanted]) for regex, ns in compiled]
    compiled = [(regex, ns) for regex, ns in compiled if ns]
    for path in paths:
        for regex, ns in compiled:
            m = regex.fullmatch(path)
            if m is not None:
                for n in ns:
                    values[n].add(int(m.group(n)))
    return {n: len(v) for n, v in values.items()}


# ----------------------------------------------------------------------------- locating in a file


def _quoted(document: Any, line: int, col: int) -> bool:
    """Whether the scalar at (line, col) of the document's file starts with a quote."""
    from pathlib import Path

    name = getattr(document, "filename", None)
    text = None
    if name:
        try:
            path = Path(name)
            if path.is_file() and path.stat().st_size <= (1 << 20):
                text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            text = None
    if text is None:
        return bool(name) and str(name).lower().endswith(".json")
    lines = text.splitlines()
    if not 1 <= line <= len(lines) or not 1 <= col <= len(lines[line - 1]):
        return False
    return lines[line - 1][col - 1] in "\"'"


def shift_columns(errors: Iterable[ErrorDetail], offsets: Mapping[tuple[Any, ...], int], document: Any
                  ) -> list[ErrorDetail]:
    """Move each located detail with a known string offset (by ``(loc, code)``, or its own
    ``offset``) from the start of the string to the character the offset names."""
    out = []
    for e in errors:
        offset = offsets.get((tuple(e.loc), e.code), getattr(e, "offset", None))
        if offset is not None and e.line is not None and e.col is not None:
            col = e.col + offset + (1 if _quoted(document, e.line, e.col) else 0)
            e = ExpressionErrorDetail(e.code, e.message, loc=e.loc, value=e.value, file=e.file, line=e.line,
                                      col=col, offset=offset)
        out.append(e)
    return out

