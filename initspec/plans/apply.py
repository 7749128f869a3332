"""Applying a plan: resolve everything first, then draw (then, with ``lsuv:``, rescale on data).

``apply`` touches nothing until the whole plan has resolved against the model, so every
plan or shape error surfaces first and leaves the weights byte-identical.  Then the
model's backend draws it through :func:`initspec.writer.write`: it checks every row, and
with ``transactional=True`` backs up every touched tensor so that a failure while drawing
(an exception, a fault, Ctrl-C) also leaves the weights byte-identical.

A plan with an ``lsuv:`` section (:class:`~initspec.plans.rules.Lsuv`) needs ``data=``: after
drawing, the backend's ``signal.py`` runs the batch through the model and
:func:`initspec.lsuv.run` rescales each selected layer's weight in forward order.  Without
data it is a :class:`~initspec.SpecError` raised before anything is drawn.  With
``transactional=True`` every weight the plan or LSUV touches is backed up first and put back
if anything fails - a draw, the model's forward pass, a layer LSUV cannot reach, or (under
``strict``) a layer that does not converge.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

from .. import backends
from ..arrays import summarise_arrays
from ..errors import ErrorDetail, SpecError
from ..formats import FORMAT_VERSION, write_atomic
from ..params import ParamInfo
from ..writer import Checkpoint
from .rules import LSUV_KINDS, Lsuv, Match, Plan, parse_plan
from .table import PlanTable, PlanWarning, _glob, _kind_role_type_match, _mapping
from .table import plan as plan_table

__all__ = ["Manifest", "apply", "write", "lsuv_layers"]


@dataclass(eq=False)
class Manifest:
    """What each parameter received - JSON-serialisable, to store next to a checkpoint."""

    table: PlanTable
    transactional: bool
    result: Any = field(default=None, repr=False)
    """The model (in-place backends) or the new parameters (functional backends)."""
    lsuv: Any = None
    """The :class:`~initspec.lsuv.LsuvResult` when the plan has an ``lsuv:`` section."""
    seeding: str = "native"
    """How the values were drawn: ``native`` or ``portable`` (the plan's ``seeding:``, or ``apply``'s)."""

    @property
    def params(self) -> Any:
        """The initialized parameters (for JAX/Flax variables: a new tree)."""
        return self.result

    def to_json(self) -> dict[str, Any]:
        from .._version import __version__

        body = self.table.to_json()
        out = {"format_version": FORMAT_VERSION, "kind": "initspec-manifest", "initspec_version": __version__,
               "transactional": self.transactional, "seeding": self.seeding, **body}
        if self.lsuv is not None:
            out["lsuv"] = self.lsuv.to_dict()
        # an array constant's values stay in the plan file: the manifest keeps small arrays,
        # and the shape, range and SHA-256 of large ones (initspec.arrays.ArrayValue.record)
        return summarise_arrays(out)

    def dumps(self) -> str:
        """The manifest as strict JSON: a non-finite number (impossible: every law is checked
        finite) raises ValueError rather than writing ``Infinity``/``NaN``."""
        return json.dumps(self.to_json(), indent=2, allow_nan=False)

    def write(self, path: Any) -> None:
        """Write the manifest as JSON, atomically (a failed write leaves no half file)."""
        write_atomic(path, self.dumps() + "\n")


def write(table: PlanTable, model: Any, *, transactional: bool = False, checkpoint: Checkpoint | None = None,
          seeding: str | None = None) -> Any:
    """Draw an already resolved ``table`` into ``model`` through its backend; returns the
    model (in-place backends) or the new parameters (Flax variables).  ``seeding``
    (``native``/``portable``) overrides the plan's ``seeding:``."""
    backend = backends.get(table.backend)
    seeding = seeding_of(table.plan, seeding)
    extra = {"seeding": seeding} if seeding != "native" else {}  # a backend without portable seeding still writes
    return backend.module("model").write(model, table.rows, transactional=transactional, checkpoint=checkpoint,
                                         **extra)


def seeding_of(plan: Plan, seeding: Any = None) -> str:
    """``seeding`` (an ``apply``/``write`` argument) if given, else the plan's ``seeding:``."""
    if seeding is None:
        return plan.seeding
    if seeding not in ("native", "portable"):
        raise SpecError.single("invalid_choice", "seeding must be 'native', 'portable' or None (the plan's "
                               "seeding:)", loc=("seeding",), value=repr(seeding)[:80])
    return seeding


def apply(plan: Any, model: Any, *, seed: int | None = None, strict: bool = True,
          transactional: bool = False, checkpoint: Checkpoint | None = None, data: Any = None,
          seeding: str | None = None) -> Manifest:
    """Resolve ``plan`` (a :class:`~initspec.plans.Plan` or a mapping) against ``model``,
    then draw every parameter; with an ``lsuv:`` section, rescale the selected layers on
    ``data`` (a batch the model's forward takes: a tensor/array, a tuple of positional
    arguments or a mapping of keyword arguments).

    Returns a :class:`Manifest`.  In-place backends (torch, Keras, nnx, NumPy mappings)
    modify ``model``; Flax/JAX variable trees are immutable, so the new tree is
    ``manifest.params`` and the input is left as it was.  ``checkpoint(stage, path)`` is
    called before every draw (``"draw"``) and every LSUV rescale (``"lsuv"``) - tests pass
    one that raises to inject faults.  ``seeding`` (``native``/``portable``) overrides the
    plan's ``seeding:`` (:mod:`initspec.portable`); the manifest records which was used.
    """

    parsed: Plan = parse_plan(_mapping(plan))
    seeding = seeding_of(parsed, seeding)
    spec = parsed.lsuv
    if spec is not None and data is None:
        raise SpecError.single(
            "lsuv_needs_data", "this plan has an lsuv section, which rescales weights on a batch of data: pass one "
            "(initspec.apply(plan, model, data=batch)); nothing was changed", loc=("lsuv",))
    table = plan_table(parsed, model, seed=seed, strict=strict)
    if spec is None:
        if data is not None:
            warnings.warn("data= is read only by a plan's lsuv section, and this plan has none: the data was not "
                          "used", PlanWarning, stacklevel=3)
        result = write(table, model, transactional=transactional, checkpoint=checkpoint, seeding=seeding)
        return Manifest(table, transactional, result, seeding=seeding)
    signal = _signal(table.backend, model)
    signal.check(model)  # a model LSUV cannot run (Flax variables without their module) fails before drawing
    layers = lsuv_layers(spec, table.params, strict=strict)
    restore = None
    if transactional:
        touched = {id(p): p for p in [*(r.param for r in table.rows), *layers]}
        restore = signal.backup(model, list(touched.values()))
    try:
        result = write(table, model, transactional=transactional and restore is None, checkpoint=checkpoint,
                       seeding=seeding)
        outcome, result = _run_lsuv(signal, spec, model, result, data, layers, table, strict, checkpoint)
    except BaseException as exc:
        if restore is not None:
            try:
                restore()
            except Exception:  # noqa: BLE001 - the original error is re-raised
                exc.add_note("initspec could not restore the weights: writing their old values failed again")
        raise
    return Manifest(table, transactional, result, outcome, seeding)


def _signal(backend: str, model: Any) -> Any:
    signal = backends.signal_module(backend)
    if signal is not None:
        return signal
    raise SpecError.single(
        "lsuv_unsupported", f"LSUV runs the model's forward pass, and the {backend} backend has none ("
        f"{type(model).__name__} is a mapping of arrays): use a PyTorch, Keras or Flax model", loc=("lsuv",),
        value=type(model).__name__)


def _matches(m: Match, p: ParamInfo) -> bool:
    if not _kind_role_type_match(m, p):
        return False
    if m.block is not None and not any(b.name in m.block for b in p.blocks):
        return False
    return m.path is None or any(_glob(g).fullmatch(path) for g in m.path for path in (p.path, *p.aliases))


def lsuv_layers(spec: Lsuv, params: list[ParamInfo], *, strict: bool = True) -> list[ParamInfo]:
    """The parameters ``spec`` selects (module order; LSUV visits them in forward order),
    checked: each must be the weight of a layer whose output is linear in it."""
    sel = spec.selection
    chosen = [p for p in params if _matches(sel, p)]
    bad = [p for p in chosen if p.kind not in LSUV_KINDS or p.role not in ("weight", "embedding") or p.blocks]
    if bad:
        errors = [ErrorDetail(
            "lsuv_unsupported", f"lsuv selects {p.path} ({p.kind}/{p.role}, type {p.type}"
            f"{', fused blocks' if p.blocks else ''}): LSUV rescales whole weights of layers whose output is linear "
            f"in them (kinds {', '.join(LSUV_KINDS)}; role weight); narrow lsuv.match", loc=("lsuv", "match"),
            value=p.path) for p in bad[:20]]
        raise SpecError(errors, title=f"{len(bad)} parameter{'s' if len(bad) != 1 else ''} LSUV cannot rescale "
                                      "(nothing was changed)")
    if not chosen:
        kinds = sorted({p.kind for p in params})
        message = (f"lsuv.match {sel.describe()} selects no parameter (kinds here: {', '.join(kinds)}); "
                   "fix it or remove the lsuv section")
        if strict:
            raise SpecError.single("lsuv_no_layers", message + " (nothing was changed)", loc=("lsuv", "match"))
        warnings.warn(message, PlanWarning, stacklevel=4)
    return chosen


def _run_lsuv(signal: Any, spec: Lsuv, model: Any, result: Any, data: Any, layers: list[ParamInfo],
              table: PlanTable, strict: bool, checkpoint: Checkpoint | None) -> tuple[Any, Any]:
    from .. import lsuv

    if not layers:
        return lsuv.LsuvResult(spec.target, spec.tol, spec.max_iter, (), 0), result

    def on_scale(path: str) -> None:
        if checkpoint is not None:
            checkpoint("lsuv", path)

    with signal.probe(model, result, data, layers, table.params) as probe:
        outcome = lsuv.run(probe, target=spec.target, tol=spec.tol, max_iter=spec.max_iter, on_scale=on_scale)
        unreached = probe.unreached
        result = probe.result()
    if unreached:
        names = ", ".join(unreached[:5]) + (f" and {len(unreached) - 5} more" if len(unreached) > 5 else "")
        message = (f"the forward pass on this batch never called the layer{'s' if len(unreached) > 1 else ''} of "
                   f"{names}, selected by lsuv.match: narrow the match, or pass data that reaches "
                   f"{'them' if len(unreached) > 1 else 'it'}")
        if strict:
            raise SpecError.single("lsuv_not_reached", message, loc=("lsuv", "match"), value=unreached[0])
        warnings.warn(message + " (left as drawn)", PlanWarning, stacklevel=4)
    if outcome.failures:
        errors = [ErrorDetail(
            "lsuv_not_converged", f"{r.path}: output variance {r.variance:.6g} after {r.iterations} pass"
            f"{'es' if r.iterations != 1 else ''}, not within {spec.tol:g} of {spec.target:g} (started at "
            f"{r.initial_variance:.6g}): the bias alone may vary more than the target, the weight may be zero, or "
            "the layer's output may not be linear in its weight; raise max_iter or tol, or leave it out of "
            "lsuv.match", loc=(r.path,), value=r.variance) for r in outcome.failures]
        if strict:
            raise SpecError(errors, title=f"LSUV did not converge on {len(errors)} layer"
                                          f"{'s' if len(errors) != 1 else ''}")
        for e in errors:
            warnings.warn(e.render(), PlanWarning, stacklevel=4)
    return outcome, result
