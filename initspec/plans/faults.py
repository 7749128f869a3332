"""Fault-injection points for testing that apply leaves weights untouched on failure.

Backends call :func:`checkpoint` before every draw and every commit of a plan.  It does
nothing unless a test installs a hook (``initspec.plans.faults.HOOK = fn``) that raises
at a chosen step - tests do exactly that for every step of every backend.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["checkpoint", "HOOK"]

#: Called as ``HOOK(stage, path)`` at every checkpoint; None in normal use.
HOOK: Callable[[str, str], None] | None = None


def checkpoint(stage: str, path: str) -> None:
    """A point where a failure must leave the model byte-identical (stage: 'draw' or 'commit')."""
    if HOOK is not None:
        HOOK(stage, path)
