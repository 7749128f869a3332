"""The one plan writer: check every row, then draw; on failure, restore.

Every backend writes a plan the same way, so the steps live here once:

1. **check** every row (the walker's handle, shape, dtype, device ...) and raise one
   :class:`~initspec.SpecError` listing every problem - *before* anything is drawn;
2. with ``transactional=True``, **back up** every tensor the rows touch (one copy each);
3. **draw** each row into the model, calling ``checkpoint("draw", path)`` first;
4. if anything raises (an exception, a fault, Ctrl-C), **restore** every backup - all of
   them, even when restoring one fails - and re-raise.

A backend supplies a :class:`Target`: how to check a row, which storage it writes into,
how to draw it, how to back up and restore a storage and what to return.  Functional
targets (Flax variable trees) never write their input, so they need no backups.

``checkpoint`` is how tests inject faults: a callable ``(stage, path) -> None`` passed down
from :func:`initspec.apply`, never a global.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from .errors import ErrorDetail, SpecError

__all__ = ["Target", "InPlaceTarget", "Checkpoint", "write", "problems", "row_errors", "fail_at"]

#: ``checkpoint(stage, path)``: called before every draw ("draw"); it may raise.
Checkpoint = Callable[[str, str], None]


class Target(Protocol):
    """What a backend tells the writer about one model."""

    #: Whether drawing modifies the model itself (False: the result is a new tree).
    in_place: bool

    def check(self, row: Any) -> Iterable[ErrorDetail]:
        """The problems of one row (nothing when it can be drawn)."""

    def storage(self, row: Any) -> Any:
        """The tensor or variable the row writes into (rows of one fused tensor share it)."""

    def draw(self, row: Any) -> None:
        """Draw the row's law (with its seed) into the model."""

    def backup(self, storage: Any) -> Any:
        """A copy of ``storage``'s values."""

    def restore(self, storage: Any, old: Any) -> None:
        """Put the values of :meth:`backup` back."""

    def result(self) -> Any:
        """What :func:`write` returns: the model, or the new parameters."""


class InPlaceTarget:
    """The part of a :class:`Target` that every backend drawing into the model itself shares:
    the model, whether it draws portable values (``seeding``: ``native`` or ``portable``)
    and the model as the result."""

    in_place = True

    def __init__(self, model: Any, seeding: str = "native") -> None:
        self.model = model
        self.portable = seeding == "portable"

    def result(self) -> Any:
        return self.model


def row_errors(row: Any, exc: SpecError) -> list[ErrorDetail]:
    """``exc``'s errors, each prefixed with the row's path."""
    return [ErrorDetail(e.code, f"{row.path}: {e.message}", loc=(row.path,), value=e.value) for e in exc.errors]


def problems(errors: Sequence[ErrorDetail]) -> SpecError:
    """The error that stops a write before anything was drawn."""
    n = len(errors)
    return SpecError(errors, title=f"{n} problem{'s' if n != 1 else ''} writing the plan into the model "
                                   "(nothing was changed)")


def write(target: Target, rows: Iterable[Any], *, transactional: bool = False,
          checkpoint: Checkpoint | None = None) -> Any:
    """Draw every row into ``target``'s model (see the module docstring) and return
    ``target.result()``."""
    rows = list(rows)
    errors = [e for row in rows for e in target.check(row)]
    if errors:
        raise problems(errors)
    backups: list[tuple[Any, Any]] = []
    try:
        if transactional and target.in_place:
            seen: set[int] = set()
            for row in rows:
                storage = target.storage(row)
                if id(storage) not in seen:
                    seen.add(id(storage))
                    backups.append((storage, target.backup(storage)))
        for row in rows:
            if checkpoint is not None:
                checkpoint("draw", row.path)
            target.draw(row)
    except BaseException as exc:
        _restore(target, backups, exc)
        raise
    return target.result()


def _restore(target: Target, backups: list[tuple[Any, Any]], exc: BaseException) -> None:
    lost = 0
    for storage, old in reversed(backups):  # every one, even if restoring another fails
        try:
            target.restore(storage, old)
        except Exception:  # noqa: BLE001 - keep restoring the rest; the original error is re-raised
            lost += 1
    if lost:
        exc.add_note(f"initspec could not restore {lost} tensor(s): writing their old values failed again")


def fail_at(step: int, exc: type[BaseException] = RuntimeError) -> Checkpoint:
    """A checkpoint that raises ``exc("injected at <stage> <path>")`` at its ``step``-th call
    (0-based) and does nothing at the others - how tests fail a write at every step::

        initspec.apply(plan, model, transactional=True, checkpoint=fail_at(3))

    Each one counts its own calls: make a fresh one for every run."""
    calls = itertools.count()

    def checkpoint(stage: str, path: str) -> None:
        if next(calls) == step:
            raise exc(f"injected at {stage} {path}")

    return checkpoint
