"""Run the conformance suite: plan, draw, check, report.

:func:`make_plan` crosses the case table with the selected backends and their devices,
discovered now (absent backends and devices are kept, with the reason, to show as
skipped), and counts the p-valued assertions for the Bonferroni budget.  :func:`run`
executes a plan and returns a :class:`~initspec.testing.report.Report`; :func:`main` is the
command line (``python -m initspec.testing``, ``initspec conformance``).  The pytest plugin
uses the same plan and the same :func:`run_item`, so both give the same test ids, seeds
and verdicts.

Four kinds of test, each with one id per backend × device:

* ``conformance`` - a case's samples against ``initspec.resolve(spec, shape, layout)``
  with :func:`~initspec.testing.check_samples` (one-sample, never backend vs backend);
* ``agreement`` - orthogonal entries, where the protocol asks for a two-sample test against
  the NumPy reference (:func:`~initspec.testing.check_two_sample`);
* ``independence`` - two parameters of one plan (seeds derived from their paths) must be
  uncorrelated (:func:`~initspec.testing.check_independent`);
* ``device`` - same seed gives bit-identical values, different seeds different ones, and
  the global RNG state is untouched.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import cases as C
from .backends import Backend, Device, backend_names, get_backend
from .skips import SkipEntry, find_entry, load_skips, stale_entries
from .stats import MAX_ASSERTIONS, N_SAMPLES, Check, CheckResult, check_independent, check_samples, check_two_sample

__all__ = ["Item", "Absent", "Plan", "ItemResult", "make_plan", "run", "run_item", "main", "BudgetError",
           "SelectionError", "REFERENCE", "AGREEMENT_CASES", "INDEPENDENCE_CASES", "check_case_patterns"]

#: The backend the agreement tests compare against.
REFERENCE = "numpy"
#: Cases with no closed form the suite trusts alone (orthogonal entries): two-sample tests.
AGREEMENT_CASES = (
    "orthogonal-square-float32", "orthogonal-wide-float32", "orthogonal-tall-float32", "orthogonal-conv2d-float32",
    "orthogonal-large-float32", "orthogonal_gain-conv1d-float64", "orthogonal-square-float16",
    "orthogonal_gain-square-bfloat16",
)
#: Two parameters of one plan drawn with the same spec; their draws must be independent.
INDEPENDENCE_CASES = ("he_normal-square-float32", "normal-bias-float16")
#: Parameter paths of the two draws of an independence test.
PARAM_PATHS = ("encoder.layers.0.weight", "encoder.layers.1.weight")


class BudgetError(ValueError):
    """A run would make more p-valued assertions than the Bonferroni budget allows."""


class SelectionError(ValueError):
    """A ``--case`` pattern matches no case id (a typo would otherwise test nothing, silently)."""


def derive_param_seed(seed: int, path: str) -> int:
    """A parameter's seed in a plan (``initspec.plans.derive_seed``); looked up at call time
    so the power gate can swap in a wrong one."""
    try:
        from ..plans import derive_seed
    except ImportError:  # pragma: no cover - plans ship with the package
        from ..adapters._common import derive_seed

        return derive_seed(seed, path)
    return derive_seed(seed, path)


@dataclass(frozen=True)
class Item:
    """One test: ``test`` kind, backend, device name and (except for ``device``) a case."""

    test: str
    backend: str
    device: str
    case: C.Case | None = None
    planned: int = 0

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.device}" + (f"-{self.case.id}" if self.case else "")

    @property
    def scheme(self) -> str:
        return self.case.scheme if self.case else "(device)"


@dataclass(frozen=True)
class Absent:
    """A backend or device that is not there: shown as skipped with the reason."""

    backend: str
    device: str
    reason: str

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.device}"


@dataclass
class Plan:
    items: list[Item]
    absent: list[Absent]
    backends: dict[str, Backend]
    devices: dict[tuple[str, str], Device]
    universe: list[tuple[str, str]] = field(default_factory=list)

    @property
    def p_values(self) -> int:
        return sum(i.planned for i in self.items)

    def check_budget(self, limit: int = MAX_ASSERTIONS) -> None:
        if self.p_values > limit:
            raise BudgetError(
                f"this selection makes {self.p_values} p-valued assertions, more than the Bonferroni budget "
                f"MAX_ASSERTIONS={limit}: select fewer backends/devices/cases or the covering table")


def _select(patterns: Sequence[str] | None, case_list: list[C.Case]) -> list[C.Case]:
    if not patterns:
        return case_list
    return [c for c in case_list if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]


def check_case_patterns(patterns: Sequence[str] | None) -> None:
    """Raise :class:`SelectionError` naming every pattern that matches no case id of the full
    table, with the closest ids (``<scheme>-<family>-<dtype>``)."""
    import difflib

    ids = [c.id for c in C.all_cases()]
    bad = [p for p in patterns or () if not any(fnmatch.fnmatchcase(i, p) for i in ids)]
    if not bad:
        return
    parts = []
    for p in bad:
        scheme = p.split("-", 1)[0].strip("*?")
        near = difflib.get_close_matches(scheme, list(C.SCHEMES), n=3, cutoff=0.6) if scheme else []
        near_ids = difflib.get_close_matches(p, ids, n=2, cutoff=0.6)
        hint = ", ".join([f"{n}-*" for n in near] + [i for i in near_ids if i.split("-", 1)[0] not in near])
        parts.append(f"{p!r}" + (f" (did you mean {hint}?)" if hint else ""))
    raise SelectionError(
        f"--case {', '.join(parts)} matches no case id; ids read <scheme>-<family>-<dtype>, e.g. "
        "he_normal-conv2d-float16 (list them with --list-cases)")


def _device_skip(backend: Backend, devices: Sequence[str] | None) -> tuple[list[Device], list[Absent]]:
    found = backend.devices()
    chosen = found if not devices else [d for d in found if any(d.matches(s) for s in devices)]
    absent = [Absent(backend.name, d.name, d.reason) for d in chosen if not d.present]
    for s in devices or ():
        if not any(d.matches(s) for d in found):
            absent.append(Absent(backend.name, s, f"no device {s!r} (found: {', '.join(d.name for d in found)})"))
    return [d for d in chosen if d.present], absent


def make_plan(backends: Sequence[str] | None = None, devices: Sequence[str] | None = None,
              cases: Sequence[str] | None = None, *, coverage: C.Coverage | None = None) -> Plan:
    """Everything a run will test (``cases``: glob patterns over case ids; a pattern that
    matches no case id raises :class:`SelectionError`)."""
    check_case_patterns(cases)
    names = list(backends) if backends else backend_names()
    plan = Plan([], [], {}, {})
    for name in names:
        try:
            backend = get_backend(name)
        except KeyError as exc:
            plan.absent.append(Absent(name, "*", str(exc.args[0])))
            continue
        ok, why = backend.available()
        if not ok:
            plan.absent.append(Absent(name, "*", why))
            continue
        plan.backends[name] = backend
        present, absent = _device_skip(backend, devices)
        plan.absent += absent
        # an explicit selection picks from the full table; otherwise the backend's own coverage
        table = _select(cases, C.cases_for(coverage or ("full" if cases else backend.coverage)))
        full = C.all_cases()
        for dev in present + [Device(a.device, "", present=False) for a in absent]:
            plan.universe += [("device", f"{name}-{dev.name}")]
            plan.universe += [("conformance", f"{name}-{dev.name}-{c.id}") for c in full]
            plan.universe += [(t, f"{name}-{dev.name}-{c}") for t, ids in
                              (("agreement", AGREEMENT_CASES), ("independence", INDEPENDENCE_CASES)) for c in ids]
        for dev in present:
            plan.devices[(name, dev.name)] = dev
            plan.items.append(Item("device", name, dev.name))
            for case in table:
                plan.items.append(Item("conformance", name, dev.name, case, C.planned_for(case, backend.layout)))
            for cid in INDEPENDENCE_CASES:
                if _select(cases, [C.case_by_id(cid)]):
                    plan.items.append(Item("independence", name, dev.name, C.case_by_id(cid), 1))
            if name != REFERENCE:
                for cid in AGREEMENT_CASES:
                    if _select(cases, [C.case_by_id(cid)]):
                        plan.items.append(Item("agreement", name, dev.name, C.case_by_id(cid), 3))
    return plan


# ----------------------------------------------------------------------------- running one item


@dataclass
class ItemResult:
    item: Item
    status: str  # passed | failed | error | skipped | xfailed | xpassed
    reason: str = ""
    min_p: float | None = None
    p_values: int = 0
    seconds: float = 0.0
    detail: str = ""
    salt: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped", "xfailed")

    @property
    def repro(self) -> str:
        it = self.item
        case = f" --case '{it.case.id}'" if it.case else " --case '<none>'"
        return (f"python -m initspec.testing --backend {it.backend} --device {it.device}{case} --salt {self.salt}"
                f"  # {it.test}")


def _draws(backend: Backend, device: Device, case: C.Case, salt: int, *,
           elements_only: bool = False) -> tuple[Any, list[np.ndarray]]:
    """The pooled draws of a case (``elements_only``: just enough tensors for N_SAMPLES
    elements, without the extra matrices the Haar test pools)."""
    dist, shape = case.resolve(backend.layout), case.shape(backend.layout)
    count = C.draw_count(dist, shape)
    if elements_only:
        count = min(count, max(1, math.ceil(N_SAMPLES / max(1, math.prod(shape)))))
    return dist, backend.draw(case, device, C.draw_seeds(case.id, count, salt))


def _dtype_check(arrays: Sequence[np.ndarray], dtype: str) -> str:
    got = {a.dtype.name for a in arrays}
    return "" if got == {dtype} else f"asked for {dtype}, got {', '.join(sorted(got))}"


def _conformance(plan: Plan, item: Item, salt: int) -> CheckResult:
    backend, device = plan.backends[item.backend], plan.devices[(item.backend, item.device)]
    assert item.case is not None
    dist, arrays = _draws(backend, device, item.case, salt)
    res = check_samples(arrays, dist, item.case.dtype, context=item.id)
    wrong_dtype = _dtype_check(arrays, item.case.dtype)
    dtype_check = Check("dtype", not wrong_dtype, wrong_dtype or f"every tensor is {item.case.dtype}")
    return replace(res, checks=(dtype_check, *res.checks))


def _agreement(plan: Plan, item: Item, salt: int) -> CheckResult:
    backend, device = plan.backends[item.backend], plan.devices[(item.backend, item.device)]
    ref = get_backend(REFERENCE)
    assert item.case is not None
    _, ours = _draws(backend, device, item.case, salt, elements_only=True)
    _, theirs = _draws(ref, ref.devices()[0], item.case, salt ^ 0x5A5A5A5A, elements_only=True)  # other seeds
    return check_two_sample(theirs, ours, context=f"{item.id} vs {REFERENCE}")


def _independence(plan: Plan, item: Item, salt: int) -> CheckResult:
    backend, device = plan.backends[item.backend], plan.devices[(item.backend, item.device)]
    assert item.case is not None
    seed = C.draw_seeds(item.case.id, 1, salt)[0]
    a, b = backend.draw(item.case, device, [derive_param_seed(seed, p) for p in PARAM_PATHS])
    return check_independent(a, b, context=f"{item.id}: {PARAM_PATHS[0]} vs {PARAM_PATHS[1]}")


def _device(plan: Plan, item: Item, salt: int) -> CheckResult:
    """Determinism and untouched global RNG state, on a random and a structured case."""
    backend, device = plan.backends[item.backend], plan.devices[(item.backend, item.device)]
    checks = []
    before = backend.global_rng_state()
    for cid in ("he_truncated_normal-conv2d-float32", "orthogonal-tall-float16"):
        case = C.case_by_id(cid)
        seeds = C.draw_seeds(cid, 2, salt)
        a1, b = backend.draw(case, device, seeds)
        (a2,) = backend.draw(case, device, seeds[:1])
        checks.append(Check(f"same_seed[{cid}]", a1.tobytes() == a2.tobytes(), "same seed: bit-identical"))
        checks.append(Check(f"new_seed[{cid}]", a1.tobytes() != b.tobytes(), "different seeds: different values"))
    same = backend.global_rng_state() == before
    checks.append(Check("global_rng", same, "global RNG state untouched" if same else "global RNG state changed"))
    return CheckResult("device", "-", 0, tuple(checks), item.id)


_RUNNERS: dict[str, Callable[[Plan, Item, int], CheckResult]] = {
    "conformance": _conformance, "agreement": _agreement, "independence": _independence, "device": _device,
}


def run_item(plan: Plan, item: Item, salt: int = 0, skips: Iterable[SkipEntry] = ()) -> ItemResult:
    """Run one test of ``plan`` (honouring the skip/xfail list) and return its verdict."""
    entry = find_entry(skips, item.test, item.id)
    if entry is not None and entry.kind == "skip":
        return ItemResult(item, "skipped", entry.describe(), salt=salt)
    start = time.perf_counter()
    try:
        res = _RUNNERS[item.test](plan, item, salt)
        status = "passed" if res.passed else "failed"
        detail = res.report()
        if status == "passed" and res.n_p_values != item.planned:
            status, detail = "error", (f"made {res.n_p_values} p-valued assertions, planned {item.planned} "
                                       f"(the Bonferroni count is wrong)\n{detail}")
        out = ItemResult(item, status, "", res.min_p, res.n_p_values, 0.0, detail, salt)
    except Exception as exc:  # a crash in a backend is a failure of that test, reported
        out = ItemResult(item, "error", f"{type(exc).__name__}: {exc}", detail=f"{type(exc).__name__}: {exc}",
                         salt=salt)
    out.seconds = time.perf_counter() - start
    if entry is not None:  # xfail
        out.reason = entry.describe()
        out.status = "xpassed" if out.status == "passed" else "xfailed"
    return out


# ----------------------------------------------------------------------------- whole runs


def run(backends: Sequence[str] | None = None, devices: Sequence[str] | None = None, salt: int = 0,
        cases: Sequence[str] | None = None, progress: Callable[[int, int, ItemResult], None] | bool | None = None,
        *, coverage: C.Coverage | None = None, skip_files: Sequence[str] | None = None) -> Any:
    """Run the suite and return a :class:`~initspec.testing.report.Report`.

    ``backends``/``devices``: names to select (default: every registered backend, every
    device found; ``devices=["cuda"]`` selects every CUDA device).  ``salt`` re-rolls every
    seed.  ``cases``: glob patterns over case ids, chosen from the full table (without them
    each backend runs its own coverage, unless ``coverage`` says otherwise).  ``progress``: True for a line on stderr
    now and then, or a callback ``(done, total, result)``.
    """
    from .report import Report

    plan = make_plan(backends, devices, cases, coverage=coverage)
    plan.check_budget()
    for backend in plan.backends.values():
        backend.prepare()
    skips = load_skips(skip_files)
    if progress is True:
        progress = _stderr_progress()
    start = time.perf_counter()
    results = []
    for k, item in enumerate(plan.items):
        results.append(run_item(plan, item, salt, skips))
        if progress:
            progress(k + 1, len(plan.items), results[-1])
    return Report(results=results, absent=plan.absent, stale=stale_entries(skips, plan.universe), salt=salt,
                  planned_p_values=plan.p_values, seconds=time.perf_counter() - start)


def _stderr_progress() -> Callable[[int, int, ItemResult], None]:
    import sys

    state = {"last": 0.0, "group": ""}

    def show(done: int, total: int, res: ItemResult) -> None:
        group = f"{res.item.backend}-{res.item.device}"
        now = time.perf_counter()
        bad = "" if res.ok else f"  {res.status.upper()} {res.item.test} {res.item.id}"
        if bad or group != state["group"] or now - state["last"] > 2.0 or done == total:
            state["last"], state["group"] = now, group
            print(f"[{done}/{total}] {group} {res.item.id}{bad}", file=sys.stderr, flush=True)

    return show


def main(argv: list[str] | None = None) -> int:
    """``initspec conformance`` / ``python -m initspec.testing``: run and print the report.

    Exit status 0 when everything passed (skips allowed), 1 on any failure or when nothing
    could be tested (every selected backend/device absent), 2 on bad usage (including a
    ``--case`` pattern that matches no case id).
    """
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="initspec conformance", description=(
        "Run initspec's statistical conformance suite on every installed backend and device "
        "(see docs/conformance.md)."))
    p.add_argument("--backend", action="append", help="backend to test (repeatable; default: all registered)")
    p.add_argument("--device", action="append", help="device name or platform, e.g. cpu, cuda, cuda:1 (repeatable)")
    p.add_argument("--case", action="append", help="glob over case ids, e.g. 'he_*-conv2d-*' (repeatable)")
    p.add_argument("--salt", type=int, default=None, help="re-roll every seed (default: $INITSPEC_SEED_SALT or 0)")
    p.add_argument("--coverage", choices=("full", "covering"), help="case table for every backend "
                   "(default: each backend's own: full for numpy/torch, covering for keras/jax)")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--output", help="write the report to this file instead of stdout")
    p.add_argument("--skips", action="append", help="an extra skip/xfail YAML file (repeatable)")
    p.add_argument("--list", action="store_true", help="list backends, devices and the number of tests, then exit")
    p.add_argument("--list-cases", action="store_true", help="list the case ids the selection runs, then exit")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--power-gate", action="store_true", help="run the wrong samplers of the power gate instead "
                   "and print whether each is rejected (and its weakest p-value) per backend")
    args = p.parse_args(argv)
    salt = args.salt if args.salt is not None else _env_salt()
    if args.power_gate:
        return _power_gate(args, salt)
    try:
        plan = make_plan(args.backend, args.device, args.case, coverage=args.coverage)
    except SelectionError as exc:
        print(f"initspec conformance: {exc}", file=sys.stderr)
        return 2
    if args.list_cases:
        print("\n".join(dict.fromkeys(i.case.id for i in plan.items if i.test == "conformance" and i.case)))
        return 0
    if args.list:
        print(_listing(plan))
        return 0
    if not plan.items:
        why = "; ".join(f"{a.id}: {a.reason}" for a in plan.absent) or "the selection is empty"
        print(f"initspec conformance: nothing to test - every selected backend/device is absent ({why})",
              file=sys.stderr)
        return 1
    try:
        plan.check_budget()
    except BudgetError as exc:
        print(f"initspec conformance: {exc}", file=sys.stderr)
        return 2
    from .skips import default_skip_files

    report = run(args.backend, args.device, salt, args.case, progress=not args.quiet, coverage=args.coverage,
                 skip_files=default_skip_files() + (args.skips or []))
    text = {"text": report.to_text, "json": report.to_json, "markdown": report.to_markdown}[args.format]()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        print(report.summary_line(), file=sys.stderr)
    else:
        print(text)
    return 0 if report.passed else 1


def _power_gate(args: Any, salt: int) -> int:
    import json
    import sys

    from .mutants import power_gate

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    rows = power_gate(args.backend, salt, (args.device or ["cpu"])[0], progress=say)
    if args.format == "json":
        text = json.dumps(rows, indent=2)
    else:
        head = "| mutant | bug | backend | rejected | weakest p |\n|---|---|---|---|---|" if args.format == "markdown" \
            else f"{'mutant':<24} {'backend':<8} rejected  weakest p"
        def p(r: dict[str, Any]) -> str:
            return "-" if r["weakest_p"] is None else f"{r['weakest_p']:.2g}"
        lines = [f"| {r['mutant']} | {r['bug']} | {r['backend']} | {r['rejected']}/{r['targets']} | {p(r)} |"
                 if args.format == "markdown" else
                 f"{r['mutant']:<24} {r['backend']:<8} {r['rejected']}/{r['targets']:<7} {p(r)}" for r in rows]
        text = "\n".join([head, *lines])
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 0 if rows and all(r["passed_gate"] for r in rows) else 1


def _env_salt() -> int:
    import os

    raw = os.environ.get("INITSPEC_SEED_SALT", "0") or "0"
    try:
        return int(raw, 0)
    except ValueError:
        raise SystemExit(f"INITSPEC_SEED_SALT must be an integer (got {raw!r})") from None


def _listing(plan: Plan) -> str:
    from collections import Counter

    counts = Counter((i.backend, i.device) for i in plan.items)
    lines = ["backend  device    tests"]
    lines += [f"{b:<8} {d:<9} {n}" for (b, d), n in counts.items()]
    lines += [f"{a.backend:<8} {a.device:<9} skipped: {a.reason}" for a in plan.absent]
    lines.append(f"p-valued assertions: {plan.p_values} (budget {MAX_ASSERTIONS})")
    return "\n".join(lines)

