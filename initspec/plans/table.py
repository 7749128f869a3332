"""Resolving a plan against a model - before any tensor is touched.

:func:`plan` walks the model (through its backend's walker), picks each parameter's
winning rule, resolves its law with the layer's fans and derives its seed, and returns a
:class:`PlanTable`.  In strict mode (the default) a parameter no rule or default covers, a
rule that matches nothing, and a spec that cannot take its parameter's shape are errors
that name the rule and the parameter; ``strict=False`` turns the first two into warnings.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from .. import distributions as D
from ..errors import ErrorDetail, SpecError
from ..layout import Fans
from ..params import Block, ParamInfo
from ..resolution import resolve
from ..spec import BaseSpec
from .rules import Plan, Rule, expand_spec

__all__ = ["PlanRow", "PlanTable", "PlanWarning", "plan", "derive_seed"]


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

    @property
    def path(self) -> str:
        return f"{self.param.path}[{self.block.name}]" if self.block else self.param.path

    @property
    def shape(self) -> tuple[int, ...]:
        return self.block.shape_in(self.param.shape) if self.block else self.param.shape

    @property
    def fans(self) -> Fans | None:
        d = self.distribution.derivation
        return d.fans if d is not None else None

    def to_dict(self) -> dict[str, Any]:
        d = self.distribution
        fans = self.fans
        out: dict[str, Any] = {
            "path": self.param.path, "block": self.block.name if self.block else None,
            "native_path": self.param.native_path, "shape": list(self.shape), "dtype": self.param.dtype,
            "kind": self.param.kind, "role": self.param.role, "type": self.param.type,
            "rule": self.rule, "shadowed": list(self.shadowed), "spec": self.spec.to_dict(),
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


@dataclass(eq=False)
class PlanTable:
    """The per-parameter resolution of a plan against a model (nothing has been drawn)."""

    plan: Plan
    backend: str
    rows: list[PlanRow]
    params: list[ParamInfo]
    warnings: list[str] = field(default_factory=list)
    seed: int = 0

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, path: str) -> PlanRow:
        for r in self.rows:
            if r.path == path or r.param.native_path == path:
                return r
        raise KeyError(path)

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "seed": self.seed, "plan": self.plan.to_dict(),
                "parameters": [r.to_dict() for r in self.rows], "warnings": list(self.warnings)}

    def to_text(self) -> str:
        head = ("path", "shape", "kind/role", "rule", "law", "fans", "shadowed")
        lines = []
        for r in self.rows:
            f = r.fans
            fans = f"in={f.fan_in} out={f.fan_out}" if f is not None else "-"
            lines.append((r.path, "x".join(map(str, r.shape)) or "()", f"{r.param.kind}/{r.param.role}", r.rule,
                          r.distribution.describe(), fans, ", ".join(r.shadowed) or "-"))
        widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(head)]
        fmt = "  ".join(f"{{:{w}}}" for w in widths)
        out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*l) for l in lines]
        out += [f"warning: {w}" for w in self.warnings]
        return "\n".join(s.rstrip() for s in out)

    __str__ = to_text


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def _matches_static(rule: Rule, p: ParamInfo, block: Block | None) -> bool:
    """Every criterion but the path (these depend only on kind, role, type and block name)."""
    m = rule.match
    if m.block is not None and (block is None or block.name not in m.block):
        return False
    if m.kind is not None and p.kind not in m.kind:
        return False
    if m.role is not None and p.role not in m.role:
        return False
    if m.type is not None and p.type not in m.type:
        return False
    return True


def _path_matches(rule: Rule, path: str) -> bool:
    globs = rule.match.path
    return globs is None or any(_glob(g).fullmatch(path) for g in globs)


def _matches(rule: Rule, p: ParamInfo, block: Block | None) -> bool:
    return _matches_static(rule, p, block) and _path_matches(rule, p.path)


@functools.lru_cache(maxsize=16)
def _base_plan(name: str) -> Plan:
    from importlib import resources

    from .. import _document
    from . import parse_plan

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
        out.append(_Candidate(f"defaults.{role}", Rule(match={"role": role}, init=spec), True))
    out += [_Candidate(plan.rule_label(i), r, True) for i, r in enumerate(plan.rules)]
    return out


def _near_types(rule: Rule, types: list[str]) -> str:
    """"; no parameter has type 'Linaer' (did you mean 'Linear'?)" for a mistyped native type."""
    missing = [t for t in rule.match.type or () if t not in types]
    if not missing:
        return ""
    hits = list(dict.fromkeys(h for t in missing for h in difflib.get_close_matches(t, types, n=2, cutoff=0.6)))
    return (f"; no parameter has type {', '.join(repr(t) for t in missing)}"
            + (f" (did you mean {', '.join(repr(h) for h in hits)}?)" if hits else f" (types here: "
               f"{', '.join(sorted(types)[:8])}{', ...' if len(types) > 8 else ''})"))


def _near_paths(rule: Rule, paths: list[str], aliases: dict[str, str]) -> str:
    if not rule.match.path:
        return ""
    for g in rule.match.path:
        tied = [a for a in aliases if _glob(g).fullmatch(a)]
        if tied:
            return (f"; {tied[0]!r} is tied to {aliases[tied[0]]!r} (one tensor, planned once under that path): "
                    f"match {aliases[tied[0]]!r}")
    hits: list[str] = []
    for g in rule.match.path:
        literal = g.replace("*", "").replace("?", "")
        hits += difflib.get_close_matches(g, paths, n=3, cutoff=0.5)
        hits += difflib.get_close_matches(literal, paths, n=2, cutoff=0.5)
    hits = list(dict.fromkeys(hits))[:3]
    return f"; did you mean {', '.join(repr(h) for h in hits)}?" if hits else ""


def _resolve_row(p: ParamInfo, block: Block | None, cand: _Candidate, shadowed: tuple[str, ...], seed: int,
                 errors: list[ErrorDetail], cache: dict[Any, tuple[BaseSpec, D.Distribution]]) -> PlanRow | None:
    rule = cand.rule
    native = rule.fans == "native"
    layer_fans = p.layer_native_fans if native else p.layer_fans
    fan_in = layer_fans.fan_in if layer_fans else None
    layout = p.native_layout if native else p.layout
    shape = block.shape_in(p.shape) if block else p.shape
    # many parameters share (rule, shape, layout, layer): resolve each combination once
    key = (id(cand), shape, layout, fan_in, p.hidden_size)
    hit = cache.get(key)
    if hit is not None:
        spec, dist = hit
        return PlanRow(p, block, cand.label, shadowed, spec, dist,
                       derive_seed(seed, p.path, block.name if block else None), "native" if native else "layer")
    spec = expand_spec(rule.init, fan_in=fan_in, hidden_size=p.hidden_size)
    try:
        dist = resolve(spec, shape, layout)
    except SpecError as exc:
        for e in exc.errors:
            errors.append(ErrorDetail(
                "incompatible_spec",
                f"{cand.label} gives {spec.scheme} to {p.path}{f'[{block.name}]' if block else ''} "
                f"(shape {shape}, {p.kind}/{p.role}), which it cannot take: {e.message}",
                loc=(cand.label,), value=spec.to_dict()))
        return None
    cache[key] = (spec, dist)
    return PlanRow(p, block, cand.label, shadowed, spec, dist, derive_seed(seed, p.path, block.name if block else None),
                   "native" if native else "layer")


def plan(plan: Any, model: Any, *, seed: int | None = None, strict: bool = True) -> PlanTable:
    """Resolve ``plan`` (a :class:`~initspec.plans.Plan` or a mapping) against ``model``
    without touching it.  ``seed`` overrides the plan's seed."""
    from .. import backends
    from . import parse_plan

    parsed = parse_plan(_mapping(plan))
    backend = backends.for_model(model)
    params = backend.module("model").walk(model)
    return build_table(parsed, params, backend=backend.name, seed=seed, strict=strict)


def _mapping(obj: Any) -> Any:
    if isinstance(obj, (Plan, dict)):
        return obj
    raise SpecError.single("wrong_type", "a plan is an initspec.Plan or a mapping (initspec.plan and "
                           "initspec.apply also take the path of a plan file)", value=type(obj).__name__)


def build_table(plan: Plan, params: list[ParamInfo], *, backend: str, seed: int | None = None,
                strict: bool = True) -> PlanTable:
    """The framework-free part of :func:`plan`: match, resolve and check ``params``."""
    if seed is None:
        seed = plan.seed
    elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError.single("bad_seed", "a plan's seed is a non-negative integer (as `seed:` in the file)",
                               loc=("seed",), value=seed)
    seen: dict[str, str] = {}
    for p in params:
        if p.path in seen:
            raise SpecError.single(
                "duplicate_path", f"two parameters normalize to the same path {p.path!r} ({seen[p.path]} and "
                f"{p.native_path}); rename a layer", loc=(p.path,))
        seen[p.path] = p.native_path
    cands = _candidates(plan)
    used = [False] * len(cands)
    rows: list[PlanRow] = []
    errors: list[ErrorDetail] = []
    problems: list[ErrorDetail] = []  # strict-only errors (warnings otherwise)
    static: dict[tuple[str, str, str, str | None], list[int]] = {}  # candidates by (kind, role, type, block)
    resolved: dict[Any, tuple[BaseSpec, D.Distribution]] = {}
    for p in params:
        targets: list[Block | None] = list(p.blocks) or [None]
        winners: list[tuple[int, list[int]]] = []
        for blk in targets:
            key = (p.kind, p.role, p.type, blk.name if blk else None)
            pre = static.get(key)
            if pre is None:
                pre = static[key] = [i for i, c in enumerate(cands) if _matches_static(c.rule, p, blk)]
            hits = [i for i in pre if _path_matches(cands[i].rule, p.path)]
            for i in hits:
                used[i] = True
            winners.append((hits[-1] if hits else -1, hits[:-1]))
        if any(w < 0 for w, _ in winners):
            missing = [b.name for b, (w, _) in zip(targets, winners) if w < 0 and b is not None]
            what = f"{p.path}" + (f" blocks {', '.join(missing)}" if missing else "")
            problems.append(ErrorDetail(
                "uncovered_parameter",
                f"{what} ({p.kind}/{p.role}, type {p.type}, shape {p.shape}) is not covered by any rule: add a rule "
                f"matching it, a default for role '{p.role}' (defaults: {{{p.role}: ...}}), or a base plan",
                loc=(p.path,)))
            continue
        fused = [cands[w].rule.fused for w, _ in winners]
        if p.blocks and any(fused):
            if len({w for w, _ in winners}) != 1:
                errors.append(ErrorDetail(
                    "fused_conflict",
                    f"{cands[winners[0][0]].label} fuses {p.path}, but other rules override some of its blocks; "
                    "drop `fused: true` or the block rules", loc=(p.path,)))
                continue
            w, shadow = winners[0]
            row = _resolve_row(p, None, cands[w], tuple(cands[i].label for i in shadow), seed, errors, resolved)
            rows += [row] if row else []
            continue
        for blk, (w, shadow) in zip(targets, winners):
            row = _resolve_row(p, blk, cands[w], tuple(cands[i].label for i in shadow), seed, errors, resolved)
            rows += [row] if row else []
    paths = [p.path for p in params]
    types = sorted({p.type for p in params})
    aliases = {a: p.path for p in params for a in p.aliases}
    for i, c in enumerate(cands):
        if c.user and not used[i]:
            problems.append(ErrorDetail(
                "unused_rule",
                f"rule {c.rule.match.describe()} matches no parameter{_near_types(c.rule, types)}"
                f"{_near_paths(c.rule, paths, aliases)}; fix or remove it (strict=False, or plan --no-strict, makes this a warning)",
                loc=(c.label,)))
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
