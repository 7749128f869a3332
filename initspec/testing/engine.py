"""The conformance engine: select, draw, check, report.

:func:`make_selection` crosses the case table with the selected backends and their
devices, discovered now (absent backends and devices are kept, with the reason, to show as
skipped), and counts the p-valued assertions for the Bonferroni budget.  :func:`run`
executes a selection and returns a :class:`~initspec.testing.report.Report`.  The command
line (``initspec conformance``, ``python -m initspec.testing``) is
:mod:`initspec.testing.command`; the pytest plugin uses the same selection and the same
:func:`run_item`, so all give the same test ids, seeds and verdicts.

Four kinds of test, each with one id per backend × device:

* ``conformance`` - a case's samples against ``initspec.resolve(spec, shape, layout)``
  with :func:`~initspec.testing.check_samples` (one-sample, never backend vs backend);
* ``agreement`` - orthogonal entries, where the protocol asks for a two-sample test against
  the NumPy reference (:func:`~initspec.testing.check_two_sample`);
* ``independence`` - two parameters of one plan (seeds derived from their paths) must be
  uncorrelated (:func:`~initspec.testing.check_independent`);
* ``device`` - same seed gives bit-identical values, different seeds different ones, and
  the global RNG state is untouched.

A :class:`~initspec.testing.items.Bug` passed to :func:`run_item` injects a wrong sampler
(the power gate); nothing is patched.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..complexlaw import complex_law
from ..plans import derive_seed
from . import cases as C
from .backends import Device, Driver, backend_names, get_backend
from .complex_checks import check_complex
from .report import Report
from .items import AGREEMENT_CASES, INDEPENDENCE_CASES, PARAM_PATHS, REFERENCE, Absent, Bug, Item, ItemResult
from .skips import SkipEntry, find_entry, load_skips, stale_entries
from .stats import MAX_ASSERTIONS, N_SAMPLES, Check, CheckResult, check_independent, check_samples, check_two_sample

__all__ = ["Selection", "make_selection", "run", "run_item", "BudgetError", "SelectionError", "check_case_patterns"]

_NO_BUG = Bug()


class BudgetError(ValueError):
    """A run would make more p-valued assertions than the Bonferroni budget allows."""


class SelectionError(ValueError):
    """A ``--case`` pattern matches no case id (a typo would otherwise test nothing, silently)."""


@dataclass
class Selection:
    """Everything a run tests: its items, the absent backends and devices, the drivers."""

    items: list[Item]
    absent: list[Absent]
    backends: dict[str, Driver]
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


def _device_skip(backend: Driver, devices: Sequence[str] | None) -> tuple[list[Device], list[Absent]]:
    found = backend.devices()
    chosen = found if not devices else [d for d in found if any(d.matches(s) for s in devices)]
    absent = [Absent(backend.name, d.name, d.reason) for d in chosen if not d.present]
    for s in devices or ():
        if not any(d.matches(s) for d in found):
            absent.append(Absent(backend.name, s, f"no device {s!r} (found: {', '.join(d.name for d in found)})"))
    return [d for d in chosen if d.present], absent


def make_selection(backends: Sequence[str] | None = None, devices: Sequence[str] | None = None,
                   cases: Sequence[str] | None = None, *, coverage: C.Coverage | None = None) -> Selection:
    """Everything a run will test (``cases``: glob patterns over case ids; a pattern that
    matches no case id raises :class:`SelectionError`)."""
    check_case_patterns(cases)
    names = list(backends) if backends else backend_names()
    sel = Selection([], [], {}, {})
    for name in names:
        try:
            backend = get_backend(name)
        except KeyError as exc:
            sel.absent.append(Absent(name, "*", str(exc.args[0])))
            continue
        ok, why = backend.available()
        if not ok:
            sel.absent.append(Absent(name, "*", why))
            continue
        sel.backends[name] = backend
        present, absent = _device_skip(backend, devices)
        sel.absent += absent
        # an explicit selection picks from the full table; otherwise the backend's own coverage
        table = _select(cases, C.cases_for(coverage or ("full" if cases else backend.coverage)))
        if not backend.complex_dtypes and any(c.complex for c in table):
            table = [c for c in table if not c.complex]
            sel.absent.append(Absent(name, "complex", f"complex64/complex128 cases: {backend.no_complex}"))
        full = C.all_cases()
        for dev in present + [Device(a.device, "", present=False) for a in absent]:
            sel.universe += [("device", f"{name}-{dev.name}")]
            sel.universe += [("conformance", f"{name}-{dev.name}-{c.id}") for c in full]
            sel.universe += [(t, f"{name}-{dev.name}-{c}") for t, ids in
                              (("agreement", AGREEMENT_CASES), ("independence", INDEPENDENCE_CASES)) for c in ids]
        for dev in present:
            sel.devices[(name, dev.name)] = dev
            sel.items.append(Item("device", name, dev.name))
            for case in table:
                sel.items.append(Item("conformance", name, dev.name, case, C.planned_for(case, backend.layout)))
            for cid in INDEPENDENCE_CASES:
                if _select(cases, [C.case_by_id(cid)]):
                    sel.items.append(Item("independence", name, dev.name, C.case_by_id(cid), 1))
            if name != REFERENCE:
                for cid in AGREEMENT_CASES:
                    if _select(cases, [C.case_by_id(cid)]):
                        sel.items.append(Item("agreement", name, dev.name, C.case_by_id(cid), 3))
    return sel


# ----------------------------------------------------------------------------- running one item


def _draws(backend: Driver, device: Device, case: C.Case, salt: int, bug: Bug, *,
           elements_only: bool = False) -> tuple[Any, list[np.ndarray]]:
    """The pooled draws of a case (``elements_only``: just enough tensors for N_SAMPLES
    elements, without the extra matrices the Haar test pools)."""
    dist, shape = case.resolve(backend.layout), case.shape(backend.layout)
    count = C.draw_count(dist, shape)
    if elements_only:
        count = min(count, max(1, math.ceil(N_SAMPLES / max(1, math.prod(shape)))))
    return dist, _draw(backend, case, device, C.draw_seeds(case.id, count, salt), bug)


def _draw(backend: Driver, case: C.Case, device: Device, seeds: Sequence[int], bug: Bug) -> list[np.ndarray]:
    if bug.transform is None and bug.haar:
        return backend.draw(case, device, seeds)
    return backend.draw(case, device, seeds, transform=bug.transform, haar=bug.haar)


def _dtype_check(arrays: Sequence[np.ndarray], dtype: str) -> str:
    got = {a.dtype.name for a in arrays}
    return "" if got == {dtype} else f"asked for {dtype}, got {', '.join(sorted(got))}"


def _conformance(sel: Selection, item: Item, salt: int, bug: Bug) -> CheckResult:
    backend, device = sel.backends[item.backend], sel.devices[(item.backend, item.device)]
    assert item.case is not None
    dist, arrays = _draws(backend, device, item.case, salt, bug)
    if item.case.complex:  # the law's complex form (initspec.complexlaw), tested part by part
        res = check_complex(arrays, complex_law(dist, item.case.dtype), item.case.dtype, context=item.id)
    else:
        res = check_samples(arrays, dist, item.case.dtype, context=item.id)
    wrong_dtype = _dtype_check(arrays, item.case.dtype)
    dtype_check = Check("dtype", not wrong_dtype, wrong_dtype or f"every tensor is {item.case.dtype}")
    return replace(res, checks=(dtype_check, *res.checks))


def _agreement(sel: Selection, item: Item, salt: int, bug: Bug) -> CheckResult:
    backend, device = sel.backends[item.backend], sel.devices[(item.backend, item.device)]
    ref = get_backend(REFERENCE)
    assert item.case is not None
    _, ours = _draws(backend, device, item.case, salt, bug, elements_only=True)
    _, theirs = _draws(ref, ref.devices()[0], item.case, salt ^ 0x5A5A5A5A, _NO_BUG, elements_only=True)  # other seeds
    return check_two_sample(theirs, ours, context=f"{item.id} vs {REFERENCE}")


def _independence(sel: Selection, item: Item, salt: int, bug: Bug) -> CheckResult:
    backend, device = sel.backends[item.backend], sel.devices[(item.backend, item.device)]
    assert item.case is not None
    seed = C.draw_seeds(item.case.id, 1, salt)[0]
    param_seed = bug.param_seed or derive_seed
    a, b = _draw(backend, item.case, device, [param_seed(seed, p) for p in PARAM_PATHS], bug)
    return check_independent(a, b, context=f"{item.id}: {PARAM_PATHS[0]} vs {PARAM_PATHS[1]}")


def _device(sel: Selection, item: Item, salt: int, bug: Bug) -> CheckResult:
    """Determinism and untouched global RNG state, on a random and a structured case."""
    backend, device = sel.backends[item.backend], sel.devices[(item.backend, item.device)]
    checks = []
    before = backend.global_rng_state()
    for cid in ("he_truncated_normal-conv2d-float32", "orthogonal-tall-float16"):
        case = C.case_by_id(cid)
        seeds = C.draw_seeds(cid, 2, salt)
        a1, b = _draw(backend, case, device, seeds, bug)
        (a2,) = _draw(backend, case, device, seeds[:1], bug)
        checks.append(Check(f"same_seed[{cid}]", a1.tobytes() == a2.tobytes(), "same seed: bit-identical"))
        checks.append(Check(f"new_seed[{cid}]", a1.tobytes() != b.tobytes(), "different seeds: different values"))
    same = backend.global_rng_state() == before
    checks.append(Check("global_rng", same, "global RNG state untouched" if same else "global RNG state changed"))
    return CheckResult("device", "-", 0, tuple(checks), item.id)


_RUNNERS: dict[str, Callable[[Selection, Item, int, Bug], CheckResult]] = {
    "conformance": _conformance, "agreement": _agreement, "independence": _independence, "device": _device,
}


def run_item(sel: Selection, item: Item, salt: int = 0, skips: Iterable[SkipEntry] = (), *,
             bug: Bug | None = None) -> ItemResult:
    """Run one test of ``sel`` (honouring the skip/xfail list) and return its verdict;
    ``bug`` injects a wrong sampler (the power gate)."""
    entry = find_entry(skips, item.test, item.id)
    if entry is not None and entry.kind == "skip":
        return ItemResult(item, "skipped", entry.describe(), salt=salt)
    start = time.perf_counter()
    try:
        res = _RUNNERS[item.test](sel, item, salt, bug or _NO_BUG)
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
        *, coverage: C.Coverage | None = None, skip_files: Sequence[str] | None = None) -> Report:
    """Run the suite and return a :class:`~initspec.testing.report.Report`.

    ``backends``/``devices``: names to select (default: every registered backend, every
    device found; ``devices=["cuda"]`` selects every CUDA device).  ``salt`` re-rolls every
    seed.  ``cases``: glob patterns over case ids, chosen from the full table (without them
    each backend runs its own coverage, unless ``coverage`` says otherwise).  ``progress``: True for a line on stderr
    now and then, or a callback ``(done, total, result)``.
    """
    sel = make_selection(backends, devices, cases, coverage=coverage)
    sel.check_budget()
    for backend in sel.backends.values():
        backend.prepare()
    skips = load_skips(skip_files)
    if progress is True:
        progress = _stderr_progress()
    start = time.perf_counter()
    results = []
    for k, item in enumerate(sel.items):
        results.append(run_item(sel, item, salt, skips))
        if progress:
            progress(k + 1, len(sel.items), results[-1])
    return Report(results=results, absent=sel.absent, stale=stale_entries(skips, sel.universe), salt=salt,
                  planned_p_values=sel.p_values, seconds=time.perf_counter() - start)


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
