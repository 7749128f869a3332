"""The front door for files: reading and writing specs and plans (JSON and YAML).

A spec file is the spec's own fields plus an integer ``format_version`` at the top level::

    format_version: 1
    scheme: he
    distribution: truncated_normal

``format_version`` is required.  A newer version than this initspec reads is refused
("written by a newer initspec; upgrade"); an older one is migrated by pure dict -> dict
steps registered in :data:`MIGRATIONS`.  Files are read with the safe loaders of
:mod:`initspec._document` (no aliases, tags, duplicate keys, non-string keys; size and
depth capped) and written atomically, so a failed write never leaves a half file.

:func:`plan` and :func:`apply` - ``initspec.plan`` and ``initspec.apply`` - are the plan
functions of :mod:`initspec.plans` that also take the path of a plan file, loaded here first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from . import _document
from .errors import ErrorDetail, SpecError, safe_value
from .errors import check_writable as _check_writable
from .formats import FORMAT_VERSION, MIGRATIONS, locate, migrate, write_atomic
from .parsing import parse
from .plans import PlanTable, parse_plan
from .plans import apply as _apply
from .plans import plan as _plan
from .plans.apply import Manifest
from .spec import BaseSpec

__all__ = ["FORMAT_VERSION", "MIGRATIONS", "migrate", "load", "loads", "dump", "dumps", "write_atomic", "from_document",
           "plan", "apply"]


def _detect_kind(data: dict[str, Any]) -> str:
    if "scheme" in data:
        return "spec"
    if {"rules", "base", "seed", "defaults"} & set(data):
        return "plan"
    return "spec"


def from_document(doc: Any, kind: str | None = None) -> Any:
    """A spec or plan from an already read :class:`initspec._document.Document` (callers that
    keep the document to locate later errors in it)."""
    _check_kind(kind)
    data = doc.data
    if not isinstance(data, dict):
        file, line, col = locate(doc, ())
        raise SpecError([ErrorDetail("not_a_mapping", "the file must hold a mapping (key: value pairs) at the top",
                                     value=type(data).__name__, file=file, line=line, col=col)])
    detected = _detect_kind(data)
    if kind == "plan" and "scheme" in data:
        file, line, col = locate(doc, ("scheme",))
        raise SpecError([ErrorDetail(
            "not_a_plan", "this file is a spec (it has 'scheme'), not a plan: explain it with `initspec explain "
            "FILE --shape ...`, or give it to parameters in a plan's rule (`init:`) or `defaults:`",
            loc=("scheme",), value=data["scheme"], file=file, line=line, col=col)])
    if kind == "spec" and detected == "plan":
        file, line, col = locate(doc, ())
        raise SpecError([ErrorDetail(
            "not_a_spec", "this file is a plan (rules, defaults, seed or base, no 'scheme'), not a spec: dry-run it "
            "with `initspec plan FILE --model package.module:factory`", file=file, line=line, col=col)])
    kind = kind or detected
    body = migrate(data, kind=kind, document=doc)
    if kind == "plan":
        return parse_plan(body, document=doc)
    return parse(body, document=doc)


def _check_kind(kind: Any) -> None:
    if kind is not None and (not isinstance(kind, str) or kind not in ("spec", "plan")):
        raise SpecError.single("invalid_choice", "kind must be 'spec', 'plan' or None (decided by the keys)",
                               loc=("kind",), value=safe_value(kind))


def load(path: str | os.PathLike[str], *, kind: str | None = None) -> Any:
    """Read a spec (or plan) from a ``.json``, ``.yaml`` or ``.yml`` file.

    ``kind`` is ``"spec"``, ``"plan"`` or None (decided by the keys: ``scheme`` means spec).
    Every problem raises :class:`~initspec.SpecError` with file:line:col locations.
    """
    _check_kind(kind)
    return from_document(_document.load_path(path), kind)


def loads(text: str | bytes, *, fmt: str = "yaml", kind: str | None = None, filename: str | None = None) -> Any:
    """Like :func:`load`, from a string."""
    _check_kind(kind)
    if not isinstance(fmt, str):
        raise SpecError.single("unknown_format", "fmt must be 'yaml' or 'json'", loc=("fmt",), value=safe_value(fmt))
    return from_document(_document.load_text(text, fmt=fmt, filename=filename or f"<{fmt}>"), kind)


def _payload(obj: Any) -> dict[str, Any]:
    if isinstance(obj, BaseSpec) or hasattr(obj, "to_dict"):
        body = obj.to_dict()
    elif isinstance(obj, dict):
        body = parse(obj).to_dict()
    else:
        raise SpecError.single("wrong_type", "dump() takes a spec or plan (or a mapping that parses as one)",
                               value=type(obj).__name__)
    _check_writable(body)
    return {"format_version": FORMAT_VERSION, **body}


def dumps(obj: Any, *, fmt: str = "yaml") -> str:
    """The canonical file text of a spec or plan (with ``format_version``)."""
    payload = _payload(obj)
    if fmt == "json":
        return json.dumps(payload, indent=2, allow_nan=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(payload, sort_keys=False, allow_unicode=True)
    raise SpecError.single("unknown_format", "fmt must be 'json' or 'yaml'", value=safe_value(fmt))


def dump(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write a spec or plan to ``path`` (format from the suffix), atomically."""
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError.single("wrong_type", "dump() writes to a path (str or os.PathLike)", value=type(path).__name__)
    path = Path(path)
    fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())
    if fmt is None:
        raise SpecError.single("unknown_format", "the file name must end in .json, .yaml or .yml",
                               value=str(path))
    return write_atomic(path, dumps(obj, fmt=fmt))


def _as_plan(obj: Any) -> Any:
    """A plan object or mapping as given; a path (str or PathLike) loaded as a plan file."""
    if isinstance(obj, (str, os.PathLike)):
        return load(obj, kind="plan")
    return obj


def plan(plan: Any, model: Any, *, seed: int | None = None, strict: bool = True) -> PlanTable:
    """Resolve ``plan`` - a :class:`~initspec.Plan`, a mapping or the path of a plan file -
    against ``model`` without touching it (:func:`initspec.plans.plan`)."""
    return _plan(_as_plan(plan), model, seed=seed, strict=strict)


def apply(plan: Any, model: Any, *, seed: int | None = None, strict: bool = True, transactional: bool = False,
          checkpoint: Any = None, data: Any = None, seeding: str | None = None) -> Manifest:
    """Resolve ``plan`` (a :class:`~initspec.Plan`, a mapping or the path of a plan file)
    against ``model``, then draw every parameter; a plan with an ``lsuv:`` section then
    rescales its layers on the batch ``data`` (:func:`initspec.plans.apply`).  ``seeding``
    (``native``/``portable``) overrides the plan's ``seeding:``."""
    return _apply(_as_plan(plan), model, seed=seed, strict=strict, transactional=transactional,
                  checkpoint=checkpoint, data=data, seeding=seeding)
