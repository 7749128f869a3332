"""Resolving a plan against a model - before any tensor is touched.

:func:`plan` walks the model (through its backend's walker), applies the plan's declared
native ``types`` (:mod:`initspec.plans.types`), picks each parameter's winning rule, computes
its formulas (:mod:`initspec.plans.formulas`), resolves its law with the layer's fans and
derives its seed, and returns a :class:`PlanTable`.

In strict mode (the default) these are errors, all reported at once and ordered by root
cause - problems of the plan itself first, then what they leave uncovered:

1. a rule (``unused_rule``) or a declared type (``unused_type``) that matches nothing, with
   hints (a close path, a tied parameter, a close type, a kind nobody has);
2. a law that reads fans given to a layer type the walker did not recognise
   (``unknown_layer_type``): its layout would be a guess - and a law of mean near one given
   to the scale of a norm whose gain is ``1 + scale`` (``offset_norm_ones``: Gemma's
   RMSNorm, neutral at zeros);
3. parameters no rule covers (``uncovered_parameter``), one error per (native type, role,
   kind) with the count and an example;
4. per-parameter problems: formulas that cannot be computed or give a value the spec refuses,
   specs the shape cannot take (``incompatible_spec``), fused conflicts.

``strict=False`` turns the first three into warnings (an unrecognised type then keeps the
walker's layout).  :func:`inspect` lists a model's parameters without a plan.
"""

from __future__ import annotations

import difflib
import functools
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from .. import distributions as D
from .. import sampling
from .._plain import plain_data
from ..errors import ErrorDetail, SpecError, check_writable
from ..expressions import ExpressionError, ExpressionErrorDetail, compile_capture_glob
from ..layout import Fans
from ..params import Block, ParamInfo
from ..resolution import resolve
from ..spec import Axes, BaseSpec
from .formulas import SpecTemplate, capture_counts, capture_values
from .rules import Match, Plan, Rule, expand_spec, parse_plan
from .types import declare

__all__ = ["PlanRow", "PlanTable", "PlanWarning", "Inspection", "plan", "inspect", "build_table", "derive_seed"]


class PlanWarning(UserWarning):
    """A non-strict plan problem (an uncovered parameter, a rule that matches nothing)."""


def derive_seed(seed: int, path: str, block: str | None = None) -> int:
    """A parameter's seed: a stable 63-bit hash of (plan seed, normalized path, block).

    Independent of module construction and traversal order."""
    import hashlib

    data = f"{seed}\x00{path}\x00{block or ''}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


@dataclass(frozen=True)
class _Candidate:
    label: str
    rule: Rule
    user: bool  # a rule of the user's plan (unused ones are errors), not of the base
    loc: tuple[str | int, ...] = ()  # where its spec sits in the plan file: ("rules", 3, "init")


@dataclass(frozen=True)
class FormulaValue:
    """One formula of a row's spec and the value it took for this parameter."""

    field: str
    expression: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "expression": self.expression, "value": self.value}


def layout_text(layout: Any) -> str:
    """``torch`` / ``jax`` or ``{in_axes: [0], out_axes: [1]}``."""
    if isinstance(layout, Axes):
        text = f"{{in_axes: {list(layout.in_axes)}, out_axes: {list(layout.out_axes)}"
        return text + (f", batch_axes: {list(layout.batch_axes)}}}" if layout.batch_axes else "}")
    return str(layout)


def _layout_json(layout: Any) -> Any:
    return layout.model_dump(mode="json") if isinstance(layout, Axes) else layout


@dataclass(frozen=True, eq=False)
class PlanRow:
    """What one parameter (or fused block) receives."""

    param: ParamInfo
    block: Block | None
    rule: str
    shadowed: tuple[str, ...]
    spec: BaseSpec
    distribution: D.Distribution
    seed: int
    fans_from: str
    captures: Mapping[str, int] = field(default_factory=lambda: _NO_CAPTURES)
    """The values the rule's path captures bound for this parameter (``{i}`` -> 3)."""
    formulas: tuple[FormulaValue, ...] = ()
    """The spec's formulas and their values here (empty when the spec has none)."""

    @property
    def path(self) -> str:
        return f"{self.param.path}[{self.block.name}]" if self.block else self.param.path

    @property
    def kind(self) -> str:
        """The layer kind (after the plan's ``types`` declarations)."""
        return self.param.kind

    @property
    def role(self) -> str:
        return self.param.role

    @property
    def type(self) -> str:
        """The native layer type name."""
        return self.param.type

    @property
    def shape(self) -> tuple[int, ...]:
        return self.block.shape_in(self.param.shape) if self.block else self.param.shape

    @property
    def fans(self) -> Fans | None:
        d = self.distribution.derivation
        return d.fans if d is not None else None

    def formulas_text(self) -> str:
        """``std = 0.02 / sqrt(2 * count(i)) = 0.00408248`` (one per formula), or ``-``."""
        return "; ".join(f"{f.field} = {f.expression} = {f.value:.6g}" for f in self.formulas) or "-"

    def to_dict(self) -> dict[str, Any]:
        d = self.distribution
        fans = self.fans
        out: dict[str, Any] = {
            "path": self.param.path, "block": self.block.name if self.block else None,
            "native_path": self.param.native_path, "shape": list(self.shape), "dtype": self.param.dtype,
            "kind": self.param.kind, "role": self.param.role, "type": self.param.type,
            "layout": _layout_json(self.param.layout),
            "rule": self.rule, "shadowed": list(self.shadowed), "spec": self.spec.to_dict(),
            "captures": dict(self.captures), "formulas": [f.to_dict() for f in self.formulas],
            "law": d.describe(), "mean": d.mean, "std": d.std,
            "low": None if d.low == float("-inf") else d.low, "high": None if d.high == float("inf") else d.high,
            "fans": None if fans is None else {"fan_in": fans.fan_in, "fan_out": fans.fan_out,
                                               "in_axes": list(fans.in_axes), "out_axes": list(fans.out_axes),
                                               "from": self.fans_from},
            "seed": self.seed,
        }
        if self.param.aliases:
            out["aliases"] = list(self.param.aliases)
        if self.param.notes:
            out["notes"] = list(self.param.notes)
        if self.block:
            out["block_slice"] = {"axis": self.block.axis, "start": self.block.start, "stop": self.block.stop}
        return out


def _columns(head: tuple[str, ...], lines: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*l) for l in lines]


@dataclass(eq=False)
class PlanTable:
    """The per-parameter resolution of a plan against a model (nothing has been drawn)."""

    plan: Plan
    backend: str
    rows: list[PlanRow]
    params: list[ParamInfo]
    warnings: list[str] = field(default_factory=list)
    seed: int = 0
    _index: dict[str, PlanRow] | None = field(default=None, repr=False)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, path: str) -> PlanRow:
        """The row of a normalized path (``fc.weight``, ``qkv.weight[q]``) or native path
        (``fc.kernel``); :class:`SpecError` ``unknown_path`` with the closest paths otherwise."""
        if self._index is None:
            index: dict[str, PlanRow] = {}
            for r in self.rows:
                index.setdefault(r.path, r)
            for r in self.rows:
                index.setdefault(r.param.native_path, r)
                for alias in r.param.aliases:
                    index.setdefault(alias, r)
            self._index = index
        hit = self._index.get(path)
        if hit is not None:
            return hit
        blocks = [r.path for r in self.rows if r.param.path == path]
        if blocks:
            why, hint = f" (a parameter drawn block by block: name a block, e.g. {blocks[0]!r})", ""
        elif any(p.path == path or p.native_path == path for p in self.params):
            why, hint = " (a parameter of the model that this plan left uncovered)", ""
        else:
            why, hint = "", _PathIndex([r.path for r in self.rows]).suggest([path])
        raise SpecError.single("unknown_path", f"no row for {path!r}{why}{hint}; rows are named by normalized "
                               "path (or the framework's own name): table.to_text() lists them",
                               loc=(path,), value=path)

    def to_json(self) -> dict[str, Any]:
        body = {"backend": self.backend, "seed": self.seed, "plan": self.plan.to_dict(),
                "parameters": [r.to_dict() for r in self.rows], "warnings": list(self.warnings)}
        # an integer over Python's digit limit (a plan made in Python: an unused default's dirac
        # groups) is out_of_range, as in dumps, not a ValueError from json.dumps
        check_writable(body)
        return body

    def to_text(self) -> str:
        """One line per row; a ``formulas`` column when some spec has formulas."""
        with_formulas = any(r.formulas for r in self.rows)
        head = ("path", "shape", "kind/role", "rule", "law", "fans", "shadowed") + (("formulas",) if with_formulas
                                                                                   else ())
        lines = []
        for r in self.rows:
            f = r.fans
            fans = f"in={f.fan_in} out={f.fan_out}" if f is not None else "-"
            line = (r.path, "x".join(map(str, r.shape)) or "()", f"{r.param.kind}/{r.param.role}", r.rule,
                    r.distribution.describe(), fans, ", ".join(r.shadowed) or "-")
            lines.append(line + ((r.formulas_text(),) if with_formulas else ()))
        out = _columns(head, lines) + [f"warning: {w}" for w in self.warnings]
        return "\n".join(s.rstrip() for s in out)

    __str__ = to_text


# ----------------------------------------------------------------------------- inspect


@dataclass(eq=False)
class Inspection:
    """Every parameter of a model as the walker reads it (after a plan's ``types``, if given)."""

    backend: str
    params: list[ParamInfo]
    declared: frozenset[str] = frozenset()

    def unrecognised(self) -> dict[str, int]:
        """Native types read as kind ``other`` (not declared) -> how many parameters."""
        out: dict[str, int] = {}
        for p in self.params:
            if p.kind == "other" and p.type not in self.declared:
                out[p.type] = out.get(p.type, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "parameters": [
            {"path": p.path, "native_path": p.native_path, "shape": list(p.shape), "dtype": p.dtype, "kind": p.kind,
             "role": p.role, "type": p.type, "layout": _layout_json(p.layout),
             "native_layout": _layout_json(p.native_layout), "aliases": list(p.aliases),
             **({"notes": list(p.notes)} if p.notes else {})} for p in self.params],
            "unrecognised_types": self.unrecognised()}

    def to_text(self) -> str:
        head = ("path", "shape", "dtype", "kind/role", "type", "layout", "native path")
        lines = [(p.path, "x".join(map(str, p.shape)) or "()", p.dtype, f"{p.kind}/{p.role}", p.type,
                  layout_text(p.layout), "-" if p.native_path == p.path else p.native_path) for p in self.params]
        out = _columns(head, lines)
        out.append(f"{len(self.params)} parameters ({self.backend})")
        ranks = {p.type: len(p.shape) for p in reversed(self.params)}
        for t, n in self.unrecognised().items():
            out.append(f"note: type {t} ({n} parameter{'s' if n != 1 else ''}) was not recognised as a layer (kind "
                       f"other); if it is one, declare it in the plan with its kind and layout: "
                       f"{declaration(t, rank=ranks.get(t))}")
        offsets: dict[str, list[ParamInfo]] = {}
        for p in self.params:
            if p.scale_offset and p.role == "scale":
                offsets.setdefault(p.type, []).append(p)
        for t, ps in offsets.items():
            out.append(f"note: {t} ({len(ps)} scale{'s' if len(ps) != 1 else ''}) multiplies by "
                       f"{ps[0].scale_offset:g} + scale: its neutral init is zeros, not ones")
        return "\n".join(s.rstrip() for s in out)

    __str__ = to_text


def inspect(model: Any, plan: Any = None) -> Inspection:
    """Every parameter of ``model``: normalized path, shape, dtype, kind, role, native type
    and layout, as plans see them (with ``plan``'s ``types`` declarations applied)."""
    from .. import backends

    parsed = parse_plan(_mapping(plan)) if plan is not None else None
    backend = backends.for_model(model)
    params = backend.module("model").walk(model)
    if parsed is not None:
        params = declare(params, parsed.types)
    return Inspection(backend.name, params, frozenset(parsed.types) if parsed is not None else frozenset())


# ----------------------------------------------------------------------------- matching


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    return compile_capture_glob(pattern)[0]


_WILD = re.compile(r"[*?\[{]")


@dataclass(frozen=True)
class _PathTest:
    """A rule's path criterion: literal paths (a set lookup) and patterns (regexes)."""

    literals: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, rule: Rule) -> _PathTest | None:
        if rule.match.path is None:
            return None
        lits = frozenset(g for g in rule.match.path if not _WILD.search(g))
        return cls(lits, tuple(_glob(g) for g in rule.match.path if _WILD.search(g)))

    def __call__(self, path: str) -> bool:
        return path in self.literals or any(p.fullmatch(path) for p in self.patterns)


def _kind_role_type_match(m: Match, p: ParamInfo) -> bool:
    """The match's kind, role and type criteria: each absent or naming the parameter's."""
    return ((m.kind is None or p.kind in m.kind) and (m.role is None or p.role in m.role)
            and (m.type is None or p.type in m.type))


def _matches_static(rule: Rule, p: ParamInfo, block: Block | None) -> bool:
    """Every criterion but the path (these depend only on kind, role, type and block name)."""
    m = rule.match
    if m.block is not None and (block is None or block.name not in m.block):
        return False
    return _kind_role_type_match(m, p)


class _Matcher:
    """Finds every candidate that matches a parameter, in precedence order.

    Candidates are grouped once per (kind, role, type, block) by their other criteria; within
    a group, rules without a path always match, rules whose globs are all literal paths are
    found by a dictionary lookup, and only the remaining ones run a regex - so a plan of
    hundreds of exact-path rules costs one lookup per parameter, not hundreds."""

    def __init__(self, cands: list[_Candidate]):
        self.cands = cands
        self.tests = [_PathTest.of(c.rule) for c in cands]
        self.by_literal: dict[str, list[int]] = {}
        for i, t in enumerate(self.tests):
            for lit in t.literals if t is not None else ():
                self.by_literal.setdefault(lit, []).append(i)
        self.groups: dict[tuple[str, str, str, str | None], tuple[list[int], list[int], frozenset[int]]] = {}

    def hits(self, p: ParamInfo, block: Block | None) -> list[int]:
        key = (p.kind, p.role, p.type, block.name if block else None)
        group = self.groups.get(key)
        if group is None:
            pre = [i for i, c in enumerate(self.cands) if _matches_static(c.rule, p, block)]
            group = self.groups[key] = (
                [i for i in pre if self.tests[i] is None],
                [i for i in pre if self.tests[i] is not None and self.tests[i].patterns],  # type: ignore[union-attr]
                frozenset(i for i in pre if self.tests[i] is not None))
        always, patterned, with_path = group
        literal = self.by_literal.get(p.path)
        if not patterned and not literal:
            return always  # the common case: no path criterion in play (callers only read it)
        found = set(always)
        found.update(i for i in patterned if any(r.fullmatch(p.path) for r in self.tests[i].patterns))  # type: ignore
        found.update(i for i in literal or () if i in with_path)
        return sorted(found)


@functools.lru_cache(maxsize=16)
def _base_plan(name: str) -> Plan:
    from importlib import resources

    from .. import _document

    text = resources.files("initspec.plans").joinpath("defaults", f"{name}.yaml").read_text(encoding="utf-8")
    doc = _document.load_text(text, fmt="yaml", filename=f"initspec/plans/defaults/{name}.yaml")
    return parse_plan(doc.data, document=doc)


def _candidates(plan: Plan) -> list[_Candidate]:
    out: list[_Candidate] = []
    if plan.base is not None:
        base = _base_plan(plan.base)
        for role, spec in base.defaults.items():
            out.append(_Candidate(f"{plan.base}:defaults.{role}", Rule(match={"role": role}, init=spec), False))
        out += [_Candidate(f"{plan.base}:{base.rule_label(i)}", r, False) for i, r in enumerate(base.rules)]
    for role, spec in plan.defaults.items():
        out.append(_Candidate(f"defaults.{role}", Rule(match={"role": role}, init=spec), True, ("defaults", role)))
    out += [_Candidate(plan.rule_label(i), r, True, ("rules", i, "init")) for i, r in enumerate(plan.rules)]
    return out


# ----------------------------------------------------------------------------- hints


class _PathIndex:
    """Close paths for "did you mean", bounded on models of thousands of parameters.

    Paths are grouped by their shape with digit runs masked (``h.#.attn.c_proj.weight``): a
    4,000-tensor transformer has a few dozen shapes.  A query is compared with the shapes
    (at most :attr:`LIMIT` of them, those sharing its first component first), and each hit is
    shown as the real path of that shape whose numbers are nearest the query's (its own
    numbers when the model has them)."""

    LIMIT = 400

    def __init__(self, paths: list[str]):
        self._all = paths
        self._shapes: dict[str, list[tuple[str, tuple[int, ...]]]] | None = None
        self._cache: dict[str, list[str]] = {}
        self._exact: dict[str, dict[tuple[int, ...], str]] = {}

    @property
    def shapes(self) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
        """Shape -> its paths and their numbers (built on the first question: most tables never ask one)."""
        if self._shapes is None:
            self._shapes = {}
            for p in self._all:
                numbers = tuple(int(n) for n in re.findall(r"\d+", p))
                self._shapes.setdefault(re.sub(r"\d+", "#", p), []).append((p, numbers))
        return self._shapes  # type: ignore[return-value]

    def _close(self, shape: str) -> list[str]:
        hit = self._cache.get(shape)
        if hit is None:
            keys = list(self.shapes)
            if len(keys) > self.LIMIT:
                head = shape.split(".", 1)[0]
                keys = [k for k in keys if k.split(".", 1)[0] == head][:self.LIMIT] or keys[:self.LIMIT]
            hit = self._cache[shape] = difflib.get_close_matches(shape, keys, n=3, cutoff=0.5)
        return hit

    def close(self, text: str) -> list[str]:
        numbers = [int(n) for n in re.findall(r"\d+", text)]
        out = []
        shapes = self.shapes
        for shape in self._close(re.sub(r"\d+", "#", text)):
            members = shapes[shape]
            want = tuple(numbers[:shape.count("#")])
            exact = self._exact.setdefault(shape, {m[1]: m[0] for m in members}).get(want)
            out.append(exact or min(members, key=lambda m: sum(abs(a - b) for a, b in zip(m[1], want)))[0])
        return out

    def suggest(self, globs: list[str]) -> str:
        hits: list[str] = []
        for g in globs:
            plain = re.sub(r"\{[A-Za-z_][A-Za-z0-9_]*\}", "0", g)
            hits += self.close(plain)
            hits += self.close(plain.replace("*", "").replace("?", ""))
        hits = list(dict.fromkeys(hits))[:3]
        return f"; did you mean {', '.join(repr(h) for h in hits)}?" if hits else ""


def _near_types(rule: Rule, types: list[str]) -> str:
    """"; no parameter has type 'Linaer' (did you mean 'Linear'?)" for a mistyped native type."""
    missing = [t for t in rule.match.type or () if t not in types]
    if not missing:
        return ""
    hits = list(dict.fromkeys(h for t in missing for h in difflib.get_close_matches(t, types, n=2, cutoff=0.6)))
    return (f"; no parameter has type {', '.join(repr(t) for t in missing)}"
            + (f" (did you mean {', '.join(repr(h) for h in hits)}?)" if hits else f" (types here: "
               f"{', '.join(sorted(types)[:8])}{', ...' if len(types) > 8 else ''})"))


def _near_kinds(rule: Rule, kinds: set[str], other: list[str]) -> str:
    """"; no parameter has kind norm (kinds here: dense, other; types not recognised: LlamaRMSNorm ...)"."""
    wanted = rule.match.kind
    if not wanted:
        return ""
    missing = [k for k in wanted if k not in kinds]
    if len(missing) < len(wanted):
        return ""
    text = f"; no parameter has kind {'|'.join(missing)} (kinds here: {', '.join(sorted(kinds))})"
    if other:
        shown = ", ".join(other[:5]) + (", ..." if len(other) > 5 else "")
        likely = next((t for t in other if suggested_kind(t, "") in missing), other[0])
        kind = suggested_kind(likely, "") if suggested_kind(likely, "") in missing else missing[0]
        text += (f"; types not recognised as layers (kind other): {shown} - if {likely} is a {kind} layer, declare "
                 f"it: {declaration(likely, kind)}")
    return text


def _near_paths(rule: Rule, index: _PathIndex, aliases: dict[str, str]) -> str:
    if not rule.match.path:
        return ""
    for g in rule.match.path:
        tied = [a for a in aliases if _glob(g).fullmatch(a)]
        if tied:
            return (f"; {tied[0]!r} is tied to {aliases[tied[0]]!r} (one tensor, planned once under that path): "
                    f"match {aliases[tied[0]]!r}")
    return index.suggest(list(rule.match.path))


# ----------------------------------------------------------------------------- formulas


class _Formulas:
    """Per table: each templated rule's values per parameter, and its specs, cached by the
    tuple of values (so thousands of parameters validate a handful of specs)."""

    def __init__(self, variables: Mapping[str, float], paths: list[str]):
        self.vars = dict(variables)
        self.paths = paths
        self.counts: dict[int, dict[str, int]] = {}
        self.values: dict[tuple[int, tuple[tuple[str, int], ...]], Any] = {}
        self.specs: dict[tuple[int, tuple[float, ...]], Any] = {}

    def spec(self, cand: _Candidate, p: ParamInfo) -> tuple[Any, dict[str, int], tuple[FormulaValue, ...]]:
        """(spec or a list of ErrorDetail, the captures used, the formula values)."""
        template: SpecTemplate = cand.rule.init  # type: ignore[assignment]
        globs = cand.rule.match.path or ()
        caps = capture_values(globs, p.path) or {} if globs else {}
        used = tuple(sorted((n, v) for n, v in caps.items() if n in template.names and n not in self.vars))
        key = (id(cand), used)
        hit = self.values.get(key)
        if hit is None:
            hit = self.values[key] = self._evaluate(cand, template, dict(used), p)
        if isinstance(hit, list):
            return hit, dict(used), ()
        values, shown = hit
        skey = (id(cand), values)
        spec = self.specs.get(skey)
        if spec is None:
            spec = self.specs[skey] = self._validate(cand, template, values, shown, dict(used), p)
        return spec, dict(used), shown

    def _counts(self, cand: _Candidate, template: SpecTemplate) -> dict[str, int]:
        got = self.counts.get(id(cand))
        if got is None:
            got = self.counts[id(cand)] = capture_counts(cand.rule.match.path or (), self.paths, template.counted)
        return got

    def _evaluate(self, cand: _Candidate, template: SpecTemplate, caps: dict[str, int], p: ParamInfo) -> Any:
        counts = self._counts(cand, template) if template.counted else {}
        env = {**self.vars, **caps}
        values, shown, errors = [], [], []
        for f in template.formulas:
            try:
                v = f.expression.evaluate(env, counts)
            except ExpressionError as exc:
                for d in exc.errors:
                    errors.append(ExpressionErrorDetail(
                        d.code, f"{cand.label} cannot compute {f.field} = {f.expression} for {_where(p, caps)}: "
                        f"{d.message}", loc=(cand.label, *_init(cand), *f.loc), value=f.expression.text,
                        offset=getattr(d, "offset", None)))
                continue
            values.append(v)
            shown.append(FormulaValue(f.field, str(f.expression), v))
        return errors if errors else (tuple(values), tuple(shown))

    def _validate(self, cand: _Candidate, template: SpecTemplate, values: tuple[float, ...],
                  shown: tuple[FormulaValue, ...], caps: dict[str, int], p: ParamInfo) -> Any:
        from ..parsing import validation_errors
        from ..schemes import Spec

        not_whole = [(f, v) for f, v in zip(template.formulas, values) if f.integer and not float(v).is_integer()]
        if not_whole:
            f, v = not_whole[0]
            return [ExpressionErrorDetail(
                "wrong_type", f"{cand.label} gives {f.field} = {f.expression} = {v:g} to {_where(p, caps)}, but "
                f"{f.field} takes an integer (use floor() or ceil())", loc=(cand.label, *_init(cand), *f.loc),
                value=v, offset=0)]
        data = template.fill(values)
        try:
            return template.spec(values)
        except ValidationError as exc:
            out: list[ErrorDetail] = []
            by_loc = {f.loc: s for f, s in zip(template.formulas, shown)}
            for d in validation_errors(exc, data, Spec):
                where = tuple(str(x) for x in d.loc)
                f = by_loc.get(where)
                gives = (f"{f.field} = {f.expression} = {f.value:g}" if f is not None else
                         ", ".join(f"{s.field} = {s.expression} = {s.value:g}" for s in shown))
                out.append(ExpressionErrorDetail(
                    d.code, f"{cand.label} gives {gives} to {_where(p, caps)}, which the spec refuses: {d.message}",
                    loc=(cand.label, *_init(cand), *d.loc), value=d.value if d.has_value else data,
                    offset=0 if f is not None else None))
            return out


def _init(cand: _Candidate) -> tuple[str, ...]:
    """The key of a candidate's spec below its label: ``init`` for rules, nothing for defaults."""
    return ("init",) if cand.loc[-1:] == ("init",) else ()


def _where(p: ParamInfo, caps: Mapping[str, int]) -> str:
    return p.path + (f" ({', '.join(f'{k}={v}' for k, v in caps.items())})" if caps else "")


# ----------------------------------------------------------------------------- resolution


@functools.lru_cache(maxsize=4096)
def _reads_layout(spec: BaseSpec, shape: tuple[int, ...]) -> bool:
    """Whether the law reads the tensor's axes (fans, output axes, kernel centre ...)."""
    try:
        resolve(spec, shape, None)
    except SpecError as exc:
        return "layout_required" in exc.codes
    return False


class _Problems:
    """Per-parameter problems of the same cause, gathered into one error each."""

    def __init__(self) -> None:
        self.groups: dict[Any, list[Any]] = {}

    def add(self, key: Any, detail: ErrorDetail, path: str) -> None:
        group = self.groups.get(key)
        if group is None:
            self.groups[key] = [detail, [path]]
        else:
            group[1].append(path)

    def details(self) -> list[ErrorDetail]:
        out = []
        for detail, paths in self.groups.values():
            if len(paths) > 1:
                from dataclasses import replace

                detail = replace(detail, message=f"{detail.message} (and {len(paths) - 1} more parameter"
                                 f"{'s' if len(paths) > 2 else ''} alike)")
            out.append(detail)
        return out


@dataclass
class _State:
    seed: int
    strict: bool
    declared: frozenset[str]
    formulas: _Formulas
    errors: _Problems
    guesses: _Problems
    resolved: dict[Any, tuple[BaseSpec, D.Distribution]] = field(default_factory=dict)


_NO_CAPTURES: Mapping[str, int] = MappingProxyType({})


def _resolve_row(p: ParamInfo, block: Block | None, cand: _Candidate, shadowed: tuple[str, ...],
                 st: _State) -> PlanRow | None:
    rule = cand.rule
    native = rule.fans == "native"
    layer_fans = p.layer_native_fans if native else p.layer_fans
    fan_in = layer_fans.fan_in if layer_fans else None
    layout = p.native_layout if native else p.layout
    shape = block.shape_in(p.shape) if block else p.shape
    what = f"{p.path}{f'[{block.name}]' if block else ''}"
    captures: Mapping[str, int] = _NO_CAPTURES
    shown: tuple[FormulaValue, ...] = ()
    base: Any = rule.init
    if isinstance(base, SpecTemplate):
        base, captures, shown = st.formulas.spec(cand, p)
        if isinstance(base, list):
            for d in base:
                st.errors.add((cand.label, d.code, d.loc), d, what)
            return None
    seed = derive_seed(st.seed, p.path, block.name if block else None)
    made_from = "native" if native else "layer"
    # many parameters share (rule, values, shape, layout, layer): resolve each combination once
    key = (id(cand), id(base), shape, layout, fan_in, p.hidden_size)
    hit = st.resolved.get(key)
    if hit is not None:
        spec, dist = hit
        if p.kind == "other" and not native and p.type not in st.declared and _reads_layout(spec, shape):
            _guess(p, cand, spec, shape, st, what)
        if not _fits_dtype(p, cand, dist, st, what):
            return None
        return PlanRow(p, block, cand.label, shadowed, spec, dist, seed, made_from, captures, shown)
    spec = expand_spec(base, fan_in=fan_in, hidden_size=p.hidden_size)
    if p.kind == "other" and not native and p.type not in st.declared and _reads_layout(spec, shape):
        _guess(p, cand, spec, shape, st, what)
        if st.strict:
            return None  # the guess is the error; what the guessed layout would give is beside the point
    try:
        dist = resolve(spec, shape, layout)
    except SpecError as exc:
        for e in exc.errors:
            st.errors.add((cand.label, "incompatible_spec", e.code, p.kind, p.role, p.type), ErrorDetail(
                "incompatible_spec",
                f"{cand.label} gives {spec.scheme} to {what} (shape {shape}, {p.kind}/{p.role}), which it cannot "
                f"take: {e.message}", loc=(cand.label,), value=spec.to_dict()), what)
        return None
    st.resolved[key] = (spec, dist)
    if not _fits_dtype(p, cand, dist, st, what):
        return None
    return PlanRow(p, block, cand.label, shadowed, spec, dist, seed, made_from, captures, shown)


def _fits_dtype(p: ParamInfo, cand: _Candidate, dist: D.Distribution, st: _State, what: str) -> bool:
    """Whether the law fits the parameter's dtype - the rule every writer applies before drawing
    (:func:`initspec.sampling.check_dtype`: random laws need floats; the law must not overflow,
    underflow or leave fewer than two numbers of the dtype in its support; integer constants
    must fit).  Checked here so a dry run shows what apply would refuse (issue 13); the error
    keeps the dtype rule's own code."""
    try:
        sampling.check_dtype(dist, p.dtype)
    except SpecError as exc:
        for e in exc.errors:
            st.errors.add((cand.label, e.code, p.dtype, e.message), ErrorDetail(
                e.code, f"{what}: {e.message} ({cand.label} gives it to a {p.dtype} parameter)", loc=(cand.label,),
                value=e.value), what)
        return False
    return True


#: Words in a native type's name that suggest its kind (for the declaration a message proposes).
_KIND_WORDS = (("norm", "norm"), ("embed", "embedding"), ("transpose", "conv_transpose"), ("conv", "conv"),
               ("lstm", "recurrent"), ("gru", "recurrent"), ("rnn", "recurrent"), ("attention", "attention"),
               ("linear", "dense"), ("dense", "dense"))


def suggested_kind(type_name: str, default: str = "dense") -> str:
    """The kind a type's name suggests (``LlamaRMSNorm`` -> norm), else ``default``."""
    low = type_name.lower()
    return next((kind for word, kind in _KIND_WORDS if word in low), default)


def declaration(type_name: str, kind: str | None = None, rank: int | None = None) -> str:
    """``types: {Conv1D: {kind: dense, layout: ...}}`` as a message proposes it (a 2-D weight is
    not a convolution's, whatever the name says: Hugging Face's ``Conv1D`` is a dense layer)."""
    kind = kind or suggested_kind(type_name)
    if rank == 2 and kind in ("conv", "conv_transpose", "depthwise_conv"):
        kind = "dense"
    if kind == "norm":
        return f"types: {{{type_name}: {{kind: norm}}}}"
    return f"types: {{{type_name}: {{kind: {kind}, layout: torch | keras | jax | {{in_axes: [...], out_axes: [...]}}}}}}"


def _guess(p: ParamInfo, cand: _Candidate, spec: BaseSpec, shape: tuple[int, ...], st: _State, what: str) -> None:
    """A law that reads fans, on a layer type the walker did not recognise: one error per (rule, type)."""
    st.guesses.add((cand.label, p.type), ErrorDetail(
        "unknown_layer_type",
        f"{cand.label} gives {spec.scheme}, which reads the tensor's fans, to {what} (shape {shape}), but its layer "
        f"type {p.type} was not recognised (kind other), so its fans would be a guess from the {layout_text(p.layout)} "
        f"layout; declare the type in the plan with its real kind and layout - {declaration(p.type, rank=len(shape))} (torch: "
        f"(out, in, *k); keras, jax: (*k, in, out)) - or write `fans: native` in the rule to take the framework's "
        f"own reading", loc=(cand.label,), value=p.type), what)


def plan(plan: Any, model: Any, *, seed: int | None = None, strict: bool = True) -> PlanTable:
    """Resolve ``plan`` (a :class:`~initspec.plans.Plan` or any mapping) against ``model``
    without touching it.  ``seed`` overrides the plan's seed."""
    from .. import backends

    parsed = parse_plan(_mapping(plan))
    backend = backends.for_model(model)
    params = backend.module("model").walk(model)
    return build_table(parsed, params, backend=backend.name, seed=seed, strict=strict)


def _mapping(obj: Any) -> Any:
    if isinstance(obj, Plan):
        return obj
    if isinstance(obj, Mapping):
        return plain_data(obj)
    raise SpecError.single("wrong_type", "a plan is an initspec.Plan or a mapping (initspec.plan and "
                           "initspec.apply also take the path of a plan file)", value=type(obj).__name__)


def _uncovered(params: list[tuple[ParamInfo, list[str]]], declared: frozenset[str]) -> list[ErrorDetail]:
    """One ``uncovered_parameter`` error per (native type, role, kind), largest groups first."""
    groups: dict[tuple[str, str, str], list[tuple[ParamInfo, list[str]]]] = {}
    for p, missing in params:
        groups.setdefault((p.type, p.role, p.kind), []).append((p, missing))
    out = []
    for (ptype, role, kind), members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        p, missing = members[0]
        what = f"{p.path}" + (f" blocks {', '.join(missing)}" if missing else "")
        fix = (f"add a rule matching it, a default for role '{role}' (defaults: {{{role}: ...}}), or a base plan")
        if kind == "other" and ptype not in declared:
            fix += (f"; type {ptype} was not recognised as a layer (kind other): if it is one, declare it - "
                    f"{declaration(ptype, rank=len(p.shape))} - and rules by kind cover it")
        if len(members) == 1:
            message = f"{what} ({kind}/{role}, type {ptype}, shape {p.shape}) is not covered by any rule: {fix}"
        else:
            message = (f"{len(members)} parameters of type {ptype} with role {role}, read as kind {kind}, are not "
                       f"covered by any rule, e.g. {what} (shape {p.shape}): {fix.replace('matching it', 'matching them')}")
        out.append(ErrorDetail("uncovered_parameter", message, loc=(p.path,)))
    return out


def build_table(plan: Plan, params: list[ParamInfo], *, backend: str, seed: int | None = None,
                strict: bool = True) -> PlanTable:
    """The framework-free part of :func:`plan`: declare types, match, compute formulas,
    resolve and check ``params``."""
    seed = plan.seed if seed is None else sampling.check_seed(seed)  # the one seed rule, as `seed:` in the file
    walked_types = {p.type for p in params}
    params = declare(params, plan.types)
    seen: dict[str, str] = {}
    for p in params:
        if p.path in seen:
            raise SpecError.single(
                "duplicate_path", f"two parameters normalize to the same path {p.path!r} ({seen[p.path]} and "
                f"{p.native_path}); rename a layer", loc=(p.path,))
        seen[p.path] = p.native_path
    cands = _candidates(plan)
    matcher = _Matcher(cands)
    used = [False] * len(cands)
    rows: list[PlanRow] = []
    declared = frozenset(plan.types)
    st = _State(seed, strict, declared, _Formulas(plan.vars, [p.path for p in params]), _Problems(), _Problems())
    fused_errors: list[ErrorDetail] = []
    uncovered: list[tuple[ParamInfo, list[str]]] = []
    for p in params:
        targets: list[Block | None] = list(p.blocks) or [None]
        winners: list[tuple[int, list[int]]] = []
        for blk in targets:
            hits = matcher.hits(p, blk)
            for i in hits:
                used[i] = True
            winners.append((hits[-1] if hits else -1, hits[:-1]))
        if any(w < 0 for w, _ in winners):
            uncovered.append((p, [b.name for b, (w, _) in zip(targets, winners) if w < 0 and b is not None]))
            continue
        fused = [cands[w].rule.fused for w, _ in winners]
        if p.blocks and any(fused):
            if len({w for w, _ in winners}) != 1:
                fused_errors.append(ErrorDetail(
                    "fused_conflict",
                    f"{cands[winners[0][0]].label} fuses {p.path}, but other rules override some of its blocks; "
                    "drop `fused: true` or the block rules", loc=(p.path,)))
                continue
            w, shadow = winners[0]
            row = _resolve_row(p, None, cands[w], tuple(cands[i].label for i in shadow), st)
            rows += [row] if row else []
            continue
        for blk, (w, shadow) in zip(targets, winners):
            row = _resolve_row(p, blk, cands[w], tuple(cands[i].label for i in shadow), st)
            rows += [row] if row else []
    # root causes first: the plan's own dead rules and declarations, then guessed layouts,
    # then what is left uncovered, then per-parameter problems
    problems: list[ErrorDetail] = []
    for t in plan.types:
        if t not in walked_types:
            problems.append(ErrorDetail(
                "unused_type", f"types declares {t!r}, but no parameter has that native type"
                f"{_did_you_mean_type(t, sorted(walked_types))}; fix or remove it (strict=False, or plan --no-strict, "
                "makes this a warning)", loc=("types", t), value=t))
    index = _PathIndex([p.path for p in params])
    types = sorted({p.type for p in params})
    aliases = {a: p.path for p in params for a in p.aliases}
    kinds = {p.kind for p in params}
    other = sorted({p.type for p in params if p.kind == "other" and p.type not in declared})
    for i, c in enumerate(cands):
        if c.user and not used[i]:
            problems.append(ErrorDetail(
                "unused_rule",
                f"rule {c.rule.match.describe()} matches no parameter{_near_types(c.rule, types)}"
                f"{_near_kinds(c.rule, kinds, other)}{_near_paths(c.rule, index, aliases)}; fix or remove it (strict=False, "
                "or plan --no-strict, makes this a warning)", loc=(c.label,)))
    problems += st.guesses.details()
    problems += _offset_norms(rows)
    problems += _uncovered(uncovered, declared)
    errors = fused_errors + st.errors.details()
    warns: list[str] = []
    if strict:
        errors = problems + errors
    else:
        for prob in problems:
            warns.append(prob.render())
            warnings.warn(prob.render(), PlanWarning, stacklevel=3)
    if errors:
        raise SpecError(errors, title=f"{len(errors)} problem{'s' if len(errors) != 1 else ''} resolving the plan "
                                      f"against the model (nothing was changed)")
    return PlanTable(plan, backend, rows, params, warns, seed)


def _offset_norms(rows: list[PlanRow]) -> list[ErrorDetail]:
    """``offset_norm_ones``: a law of mean >= 1/2 (nearer the usual ones than the neutral zeros)
    given to the scale of a norm whose gain is ``1 + scale`` (Gemma's RMSNorm): the gain would
    start near two, not one.  One error per (rule, native type)."""
    found = _Problems()
    for r in rows:
        offset = r.param.scale_offset
        if not offset or r.param.role != "scale":
            continue
        mean = r.distribution.mean
        if not mean >= 0.5 * offset:  # a mean nearer the ones init than the neutral zeros
            continue
        found.add((r.rule, r.param.type), ErrorDetail(
            "offset_norm_ones",
            f"{r.rule} gives {r.distribution.describe()} (mean {mean:g}) to {r.path}, the scale of a "
            f"{r.param.type}, which multiplies by {offset:g} + scale: its neutral init is zeros, and this law starts "
            f"the gain near {offset + mean:g} instead of {offset:g}; give these scales {{scheme: zeros}} - e.g. a rule "
            f"{{match: {{type: {r.param.type}, role: scale}}, init: {{scheme: zeros}}}}", loc=(r.rule,),
            value=r.param.type), r.path)
    return found.details()


def _did_you_mean_type(name: str, types: list[str]) -> str:
    hits = difflib.get_close_matches(name, types, n=2, cutoff=0.6)
    if hits:
        return f" (did you mean {', '.join(repr(h) for h in hits)}?)"
    return f" (types here: {', '.join(types[:8])}{', ...' if len(types) > 8 else ''})"
