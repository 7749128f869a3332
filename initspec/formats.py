"""File formats at the lowest level: the format version, migrations and atomic writes.

Every initspec file (a spec, a plan, a manifest) carries an integer ``format_version`` at
the top level.  :func:`migrate` checks it - a newer version than this initspec reads is
refused ("upgrade initspec"), an older one is migrated by pure dict -> dict steps
registered in :data:`MIGRATIONS` - and :func:`write_atomic` writes a file through a
temporary file and a rename, so a failed write never leaves a half file.

This module imports nothing else from initspec but the errors, so the parsers
(:mod:`initspec.parsing`, :mod:`initspec.plans`) and the file front door
(:mod:`initspec.files`) can all build on it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ErrorDetail, SpecError

__all__ = ["FORMAT_VERSION", "MIGRATIONS", "migrate", "locate", "write_atomic"]

#: The file format version this initspec writes and reads natively.
FORMAT_VERSION = 1

#: (kind, version) -> a pure function turning a version-``version`` mapping into a
#: version ``version + 1`` one.  Kinds are ``"spec"`` and ``"plan"``.
MIGRATIONS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def locate(document: Any, path: tuple[Any, ...]) -> tuple[str | None, int | None, int | None]:
    """``(file, line, col)`` of ``path`` in a read document (Nones where unknown)."""
    if document is None:
        return None, None, None
    pos = document.locate(path)
    return document.filename, *(pos or (None, None))


def migrate(data: dict[str, Any], *, kind: str, document: Any = None, current: int = FORMAT_VERSION,
            migrations: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] | None = None
            ) -> dict[str, Any]:
    """Check ``format_version``, migrate older data to ``current`` (:data:`FORMAT_VERSION`)
    with the steps of ``migrations`` (:data:`MIGRATIONS`) and return the mapping without it."""
    steps = MIGRATIONS if migrations is None else migrations
    if "format_version" not in data:
        file, line, col = locate(document, ())
        raise SpecError([ErrorDetail(
            "missing_format_version",
            f"a {kind} file needs 'format_version: {current}' at the top level", loc=("format_version",),
            file=file, line=line, col=col)])
    version = data["format_version"]
    file, line, col = locate(document, ("format_version",))
    if not isinstance(version, int) or isinstance(version, bool):
        raise SpecError([ErrorDetail("wrong_type", "format_version must be an integer", loc=("format_version",),
                                     value=version, file=file, line=line, col=col)])
    if version > current:
        raise SpecError([ErrorDetail(
            "format_version_newer",
            f"this {kind} was written by a newer initspec (format_version {version}); this one reads up to "
            f"{current}: upgrade initspec (pip install -U initspec)", loc=("format_version",), value=version,
            file=file, line=line, col=col)])
    if version < 1:
        raise SpecError([ErrorDetail("bad_format_version", "format_version starts at 1", loc=("format_version",),
                                     value=version, file=file, line=line, col=col)])
    out = {k: v for k, v in data.items() if k != "format_version"}
    while version < current:
        step = steps.get((kind, version))
        if step is None:  # pragma: no cover - guarded by tests/test_files.py
            raise SpecError([ErrorDetail("bad_format_version", f"no migration from {kind} format_version {version}",
                                         loc=("format_version",), value=version, file=file, line=line, col=col)])
        out = step(dict(out))
        version += 1
    return out


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
