"""The conformance report: counts per backend × device × scheme, worst p-values, skips with
reasons, the agreement table, and the budget - as text, JSON and Markdown."""

from __future__ import annotations

import json
import platform
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .items import REFERENCE, Absent, ItemResult
from .skips import SkipEntry
from .stats import ALPHA_EACH, ALPHA_FAMILY, MAX_ASSERTIONS, N_SAMPLES

__all__ = ["Report", "Row"]

STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass
class Row:
    """Counts of one backend × device × scheme (``test`` kinds other than conformance get a
    row of their own, with the scheme in parentheses)."""

    backend: str
    device: str
    scheme: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    worst_p: float | None = None
    worst_id: str = ""
    seconds: float = 0.0

    def add(self, r: ItemResult) -> None:
        self.counts[r.status] += 1
        self.seconds += r.seconds
        if r.min_p is not None and (self.worst_p is None or r.min_p < self.worst_p):
            self.worst_p, self.worst_id = r.min_p, r.item.id


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.2g}"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for mod in ("initspec", "numpy", "scipy", "torch", "keras", "tensorflow", "jax"):
        m = sys.modules.get(mod)  # only what this run imported
        if m is not None:
            out[mod] = str(getattr(m, "__version__", "?"))
    return out


@dataclass
class Report:
    results: list[ItemResult]
    absent: list[Absent]
    stale: list[SkipEntry]
    salt: int = 0
    planned_p_values: int = 0
    seconds: float = 0.0
    environment: dict[str, str] = field(default_factory=_versions)

    # -- verdicts -----------------------------------------------------------------------

    @property
    def tested(self) -> bool:
        """Whether anything was tested at all (not every test skipped, not every device absent)."""
        return any(r.status not in ("skipped", "xfailed") for r in self.results)

    @property
    def passed(self) -> bool:
        """Something was tested, and nothing failed, errored or passed unexpectedly (skips
        and absent devices are fine).  A run that tested nothing has not passed."""
        return self.tested and all(r.ok for r in self.results)

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if not r.ok]

    @property
    def p_values(self) -> int:
        return sum(r.p_values for r in self.results)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for r in self.results:
            out[r.status] += 1
        out["absent"] = len(self.absent)
        return out

    def rows(self) -> list[Row]:
        table: dict[tuple[str, str, str], Row] = {}
        for r in self.results:
            it = r.item
            scheme = it.scheme if it.test == "conformance" else f"({it.test})"
            key = (it.backend, it.device, scheme)
            table.setdefault(key, Row(*key)).add(r)
        return list(table.values())

    def by_device(self) -> dict[tuple[str, str], dict[str, int]]:
        out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
        for r in self.results:
            out[(r.item.backend, r.item.device)][r.status] += 1
        return dict(out)

    def agreement(self) -> tuple[list[str], dict[str, dict[str, str]]]:
        """(columns, {case id: {column: cell}}) for the agreement tests, cell = min p or FAIL."""
        cols: list[str] = []
        table: dict[str, dict[str, str]] = {}
        for r in self.results:
            if r.item.test != "agreement" or r.item.case is None:
                continue
            col = f"{r.item.backend}-{r.item.device} vs {REFERENCE}"
            if col not in cols:
                cols.append(col)
            cell = _p(r.min_p) if r.status == "passed" else r.status.upper()
            table.setdefault(r.item.case.id, {})[col] = cell
        return cols, table

    def summary_line(self) -> str:
        c = self.counts()
        verdict = "PASSED" if self.passed else "FAILED" if self.tested else "TESTED NOTHING"
        return (f"initspec conformance {verdict}: {c['passed']} passed, {c['failed'] + c['error']} failed, "
                f"{c['skipped']} skipped, {c['xfailed']} xfailed, {c['xpassed']} xpassed, {c['absent']} backends/"
                f"devices absent; {self.p_values} p-values at alpha_each={ALPHA_EACH:.2g} in {self.seconds:.1f}s "
                f"(salt {self.salt})")

    # -- formats --------------------------------------------------------------------------

    def _tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        head = ["backend", "device", "scheme", "pass", "fail", "skip", "xfail", "worst p", "worst case", "s"]
        rows = [[r.backend, r.device, r.scheme, str(r.counts["passed"]),
                 str(r.counts["failed"] + r.counts["error"] + r.counts["xpassed"]),
                 str(r.counts["skipped"]), str(r.counts["xfailed"]), _p(r.worst_p), r.worst_id, f"{r.seconds:.1f}"]
                for r in self.rows()]
        dev_head = ["backend", "device", "pass", "fail", "skip", "note"]
        dev_rows = [[b, d, str(c["passed"]), str(c["failed"] + c["error"] + c["xpassed"]),
                     str(c["skipped"] + c["xfailed"]), ""] for (b, d), c in self.by_device().items()]
        dev_rows += [[a.backend, a.device, "0", "0", "all", f"skipped: {a.reason}"] for a in self.absent]
        out = [("Backends and devices", dev_head, dev_rows), ("Per scheme", head, rows)]
        cols, agree = self.agreement()
        if agree:
            out.append((f"Agreement with {REFERENCE} (two-sample, min p)", ["case", *cols],
                        [[cid, *(cells.get(c, "-") for c in cols)] for cid, cells in agree.items()]))
        skipped = [r for r in self.results if r.status in ("skipped", "xfailed", "xpassed")]
        if skipped:
            out.append(("Skipped and xfailed", ["test", "id", "status", "reason"],
                        [[r.item.test, r.item.id, r.status, r.reason] for r in skipped]))
        if self.stale:
            out.append(("Stale skip/xfail entries (match no test)", ["match", "test", "kind", "source"],
                        [[e.match, e.test, e.kind, e.source] for e in self.stale]))
        return out

    def _budget(self) -> str:
        return (f"n={N_SAMPLES} draws per case; alpha_family={ALPHA_FAMILY:g} split over MAX_ASSERTIONS="
                f"{MAX_ASSERTIONS} -> alpha_each={ALPHA_EACH:.3g}; this run planned {self.planned_p_values} "
                f"and made {self.p_values} p-valued assertions; salt {self.salt}")

    def _failure_text(self) -> list[str]:
        out = []
        for r in self.failures:
            out += [f"--- {r.status.upper()} {r.item.test} {r.item.id}", r.detail or r.reason, f"repro: {r.repro}"]
        return out

    def to_text(self) -> str:
        lines = [self.summary_line(), self._budget(), ""]
        for title, head, rows in self._tables():
            lines += [title, *_fixed(head, rows), ""]
        if self.failures:
            lines += ["Failures", *self._failure_text()]
        return "\n".join(lines).rstrip()

    def to_markdown(self) -> str:
        lines = ["# initspec conformance report", "", f"**{self.summary_line()}**", "", self._budget(), ""]
        for title, head, rows in self._tables():
            lines += [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
        if self.failures:
            lines += ["## Failures", "", "```", *self._failure_text(), "```"]
        env = ", ".join(f"{k} {v}" for k, v in self.environment.items())
        lines += ["", f"_Environment: {env}_"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        cols, agree = self.agreement()
        return {
            "passed": self.passed,
            "tested": self.tested,
            "summary": self.summary_line(),
            "counts": self.counts(),
            "budget": {"n": N_SAMPLES, "alpha_family": ALPHA_FAMILY, "max_assertions": MAX_ASSERTIONS,
                       "alpha_each": ALPHA_EACH, "planned_p_values": self.planned_p_values,
                       "p_values": self.p_values},
            "salt": self.salt,
            "seconds": round(self.seconds, 3),
            "rows": [{"backend": r.backend, "device": r.device, "scheme": r.scheme, **r.counts,
                      "worst_p": r.worst_p, "worst_id": r.worst_id, "seconds": round(r.seconds, 3)}
                     for r in self.rows()],
            "absent": [{"backend": a.backend, "device": a.device, "reason": a.reason} for a in self.absent],
            "agreement": {"columns": cols, "rows": agree},
            "stale": [{"match": e.match, "test": e.test, "kind": e.kind, "source": e.source} for e in self.stale],
            "results": [{"test": r.item.test, "id": r.item.id, "status": r.status, "min_p": r.min_p,
                         "p_values": r.p_values, "seconds": round(r.seconds, 4), "reason": r.reason,
                         **({"detail": r.detail, "repro": r.repro} if not r.ok else {})} for r in self.results],
            "environment": self.environment,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        return self.to_text()


def _fixed(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)]
