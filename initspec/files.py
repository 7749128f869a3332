"""Reading and writing spec files (JSON and YAML), with format versions and migrations.

A spec file is the spec's own fields plus an integer ``format_version`` at the top level::

    format_version: 1
    scheme: he
    distribution: truncated_normal

``format_version`` is required.  A newer version than this initspec reads is refused
("written by a newer initspec; upgrade"); an older one is migrated by pure dict -> dict
steps registered in :data:`MIGRATIONS`.  Files are read with the safe loaders of
:mod:`initspec._document` (no aliases, tags, duplicate keys, non-string keys; size and
depth capped) and written atomically, so a failed write never leaves a half file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from . import _document
from .errors import ErrorDetail, SpecError
from .spec import BaseSpec

__all__ = ["FORMAT_VERSION", "MIGRATIONS", "migrate", "load", "loads", "dump", "dumps", "write_atomic", "from_document"]

#: The file format version this initspec writes and reads natively.
FORMAT_VERSION = 1

#: (kind, version) -> a pure function turning a version-``version`` mapping into a
#: version ``version + 1`` one.  Kinds are ``"spec"`` and ``"plan"``.
MIGRATIONS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _locate(document: Any, path: tuple[Any, ...]) -> tuple[str | None, int | None, int | None]:
    if document is None:
        return None, None, None
    pos = document.locate(path)
    return document.filename, *(pos or (None, None))


def migrate(data: dict[str, Any], *, kind: str, document: Any = None) -> dict[str, Any]:
    """Check ``format_version``, migrate older data to :data:`FORMAT_VERSION` and return
    the mapping without it."""
    if "format_version" not in data:
        file, line, col = _locate(document, ())
        raise SpecError([ErrorDetail(
            "missing_format_version",
            f"a {kind} file needs 'format_version: {FORMAT_VERSION}' at the top level", loc=("format_version",),
            file=file, line=line, col=col)])
    version = data["format_version"]
    file, line, col = _locate(document, ("format_version",))
    if not isinstance(version, int) or isinstance(version, bool):
        raise SpecError([ErrorDetail("wrong_type", "format_version must be an integer", loc=("format_version",),
                                     value=version, file=file, line=line, col=col)])
    if version > FORMAT_VERSION:
        raise SpecError([ErrorDetail(
            "format_version_newer",
            f"this {kind} was written by a newer initspec (format_version {version}); this one reads up to "
            f"{FORMAT_VERSION}: upgrade initspec (pip install -U initspec)", loc=("format_version",), value=version,
            file=file, line=line, col=col)])
    if version < 1:
        raise SpecError([ErrorDetail("bad_format_version", "format_version starts at 1", loc=("format_version",),
                                     value=version, file=file, line=line, col=col)])
    out = {k: v for k, v in data.items() if k != "format_version"}
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get((kind, version))
        if step is None:  # pragma: no cover - guarded by tests/test_files.py
            raise SpecError([ErrorDetail("bad_format_version", f"no migration from {kind} format_version {version}",
                                         loc=("format_version",), value=version, file=file, line=line, col=col)])
        out = step(dict(out))
        version += 1
    return out


def _detect_kind(data: dict[str, Any]) -> str:
    if "scheme" in data:
        return "spec"
    if {"rules", "base", "seed", "defaults"} & set(data):
        return "plan"
    return "spec"


def from_document(doc: Any, kind: str | None = None) -> Any:
    """A spec or plan from an already read :class:`initspec._document.Document` (callers that
    keep the document to locate later errors in it)."""
    data = doc.data
    if not isinstance(data, dict):
        file, line, col = _locate(doc, ())
        raise SpecError([ErrorDetail("not_a_mapping", "the file must hold a mapping (key: value pairs) at the top",
                                     value=type(data).__name__, file=file, line=line, col=col)])
    detected = _detect_kind(data)
    if kind == "plan" and "scheme" in data:
        file, line, col = _locate(doc, ("scheme",))
        raise SpecError([ErrorDetail(
            "not_a_plan", "this file is a spec (it has 'scheme'), not a plan: explain it with `initspec explain "
            "FILE --shape ...`, or give it to parameters in a plan's rule (`init:`) or `defaults:`",
            loc=("scheme",), value=data["scheme"], file=file, line=line, col=col)])
    if kind == "spec" and detected == "plan":
        file, line, col = _locate(doc, ())
        raise SpecError([ErrorDetail(
            "not_a_spec", "this file is a plan (rules, defaults, seed or base, no 'scheme'), not a spec: dry-run it "
            "with `initspec plan FILE --model package.module:factory`", file=file, line=line, col=col)])
    kind = kind or detected
    body = migrate(data, kind=kind, document=doc)
    if kind == "plan":
        from .plans import parse_plan

        return parse_plan(body, document=doc)
    from .parsing import parse

    return parse(body, document=doc)


def load(path: str | os.PathLike[str], *, kind: str | None = None) -> Any:
    """Read a spec (or plan) from a ``.json``, ``.yaml`` or ``.yml`` file.

    ``kind`` is ``"spec"``, ``"plan"`` or None (decided by the keys: ``scheme`` means spec).
    Every problem raises :class:`~initspec.SpecError` with file:line:col locations.
    """
    return from_document(_document.load_path(path), kind)


def loads(text: str | bytes, *, fmt: str = "yaml", kind: str | None = None, filename: str | None = None) -> Any:
    """Like :func:`load`, from a string."""
    return from_document(_document.load_text(text, fmt=fmt, filename=filename or f"<{fmt}>"), kind)


def _payload(obj: Any) -> dict[str, Any]:
    if isinstance(obj, BaseSpec) or hasattr(obj, "to_dict"):
        body = obj.to_dict()
    elif isinstance(obj, dict):
        from .parsing import parse

        body = parse(obj).to_dict()
    else:
        raise SpecError.single("wrong_type", "dump() takes a spec or plan (or a mapping that parses as one)",
                               value=type(obj).__name__)
    return {"format_version": FORMAT_VERSION, **body}


def dumps(obj: Any, *, fmt: str = "yaml") -> str:
    """The canonical file text of a spec or plan (with ``format_version``)."""
    payload = _payload(obj)
    if fmt == "json":
        return json.dumps(payload, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(payload, sort_keys=False, allow_unicode=True)
    raise SpecError.single("unknown_format", "fmt must be 'json' or 'yaml'", value=fmt)


def dump(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write a spec or plan to ``path`` (format from the suffix), atomically."""
    path = Path(path)
    fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())
    if fmt is None:
        raise SpecError.single("unknown_format", "the file name must end in .json, .yaml or .yml",
                               value=str(path))
    return write_atomic(path, dumps(obj, fmt=fmt))


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename, so a failed write
    never leaves a half file (or a damaged old one)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
