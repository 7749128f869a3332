"""Fault-injection points for testing that apply leaves weights untouched on failure.

Backends call :func:`checkpoint` before every draw and every commit of a plan.  It does
nothing unless a test installs a hook (``initspec.plans.faults.HOOK = fn``) that raises
at a chosen step - tests do exactly that for every step of every backend.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["checkpoint", "fail_at", "HOOK"]

#: Called as ``HOOK(stage, path)`` at every checkpoint; None in normal use.
HOOK: Callable[[str, str], None] | None = None


def checkpoint(stage: str, path: str) -> None:
    """A point where a failure must leave the model byte-identical (stage: 'draw' or 'commit')."""
    if HOOK is not None:
        HOOK(stage, path)


def fail_at(step: int, exc: type[BaseException] = RuntimeError) -> Callable[[str, str], None]:
    """A :data:`HOOK` that raises ``exc`` at the ``step``-th checkpoint (0-based) of a run.

    ``initspec.plans.faults.HOOK = fail_at(k)`` then ``initspec.apply(...)`` fails at step k;
    a fresh hook is needed for every run."""
    calls = iter(range(1 << 62))

    def hook(stage: str, path: str) -> None:
        if next(calls) == step:
            raise exc(f"injected at {stage} {path}")

    return hook
