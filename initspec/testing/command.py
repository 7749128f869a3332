"""The conformance suite's command line: ``initspec conformance`` and ``python -m initspec.testing``.

Both build :class:`Options` and call :func:`conformance`; the engine
(:mod:`initspec.testing.engine`) knows nothing of command lines.  Exit status: 0 when
everything passed (skips allowed), 1 on any failure or when nothing could be tested (every
selected backend/device absent), 2 on bad usage (including a ``--case`` pattern that
matches no case id).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import engine
from .stats import MAX_ASSERTIONS

__all__ = ["Options", "conformance", "main", "env_salt"]


@dataclass(frozen=True)
class Options:
    """What a conformance run was asked for (every command-line option)."""

    backends: Sequence[str] | None = None
    devices: Sequence[str] | None = None
    cases: Sequence[str] | None = None
    salt: int | None = None
    coverage: str | None = None
    fmt: str = "text"
    output: str | None = None
    skips: Sequence[str] | None = None
    list_backends: bool = False
    list_cases: bool = False
    quiet: bool = False
    power_gate: bool = False


def env_salt() -> int:
    """``$INITSPEC_SEED_SALT`` (0 when unset)."""
    raw = os.environ.get("INITSPEC_SEED_SALT", "0") or "0"
    try:
        return int(raw, 0)
    except ValueError:
        raise SystemExit(f"INITSPEC_SEED_SALT must be an integer (got {raw!r})") from None


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _emit(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text)


def conformance(opts: Options) -> int:
    """Run (or list) what ``opts`` selects, print the report; returns the exit status."""
    salt = opts.salt if opts.salt is not None else env_salt()
    if opts.power_gate:
        return _power_gate(opts, salt)
    try:
        sel = engine.make_selection(opts.backends, opts.devices, opts.cases, coverage=opts.coverage)
    except engine.SelectionError as exc:
        _say(f"initspec conformance: {exc}")
        return 2
    if opts.list_cases:
        print("\n".join(dict.fromkeys(i.case.id for i in sel.items if i.test == "conformance" and i.case)))
        return 0
    if opts.list_backends:
        print(_listing(sel))
        return 0
    if not sel.items:
        why = "; ".join(f"{a.id}: {a.reason}" for a in sel.absent) or "the selection is empty"
        _say(f"initspec conformance: nothing to test - every selected backend/device is absent ({why})")
        return 1
    try:
        sel.check_budget()
    except engine.BudgetError as exc:
        _say(f"initspec conformance: {exc}")
        return 2
    from .skips import default_skip_files

    report = engine.run(opts.backends, opts.devices, salt, opts.cases, progress=not opts.quiet,
                        coverage=opts.coverage, skip_files=default_skip_files() + list(opts.skips or []))
    text = {"text": report.to_text, "json": report.to_json, "markdown": report.to_markdown}[opts.fmt]()
    _emit(text, opts.output)
    if opts.output:
        _say(report.summary_line())
    return 0 if report.passed else 1


def _power_gate(opts: Options, salt: int) -> int:
    from .mutants import power_gate

    rows = power_gate(list(opts.backends) if opts.backends else None, salt, (opts.devices or ["cpu"])[0],
                      progress=None if opts.quiet else _say)

    def p(r: dict[str, Any]) -> str:
        return "-" if r["weakest_p"] is None else f"{r['weakest_p']:.2g}"

    if opts.fmt == "json":
        text = json.dumps(rows, indent=2)
    elif opts.fmt == "markdown":
        text = "\n".join(["| mutant | bug | backend | rejected | weakest p |", "|---|---|---|---|---|"] + [
            f"| {r['mutant']} | {r['bug']} | {r['backend']} | {r['rejected']}/{r['targets']} | {p(r)} |" for r in rows])
    else:
        text = "\n".join([f"{'mutant':<24} {'backend':<8} rejected  weakest p"] + [
            f"{r['mutant']:<24} {r['backend']:<8} {r['rejected']}/{r['targets']:<7} {p(r)}" for r in rows])
    _emit(text, opts.output)
    return 0 if rows and all(r["passed_gate"] for r in rows) else 1


def _listing(sel: engine.Selection) -> str:
    from collections import Counter

    counts = Counter((i.backend, i.device) for i in sel.items)
    lines = ["backend  device    tests"]
    lines += [f"{b:<8} {d:<9} {n}" for (b, d), n in counts.items()]
    lines += [f"{a.backend:<8} {a.device:<9} skipped: {a.reason}" for a in sel.absent]
    lines.append(f"p-valued assertions: {sel.p_values} (budget {MAX_ASSERTIONS})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m initspec.testing``: parse ``argv`` into :class:`Options` and run."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m initspec.testing", description=(
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
    a = p.parse_args(argv)
    return conformance(Options(a.backend, a.device, a.case, a.salt, a.coverage, a.format, a.output, a.skips,
                               a.list, a.list_cases, a.quiet, a.power_gate))
