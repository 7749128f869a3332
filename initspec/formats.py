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
import stat
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


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def _fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (where the system lets a folder be fsynced)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a failed write never leaves a half file (or a
    damaged old one), and readers see the old file or the new one, never a mix.

    The text goes to a temporary file beside the target, is flushed and fsynced, then
    renamed over the target, and the folder is fsynced, so the new file survives a crash.
    Like a careful editor:

    * an existing file keeps its permission bits (and, where allowed, its owner); a new file
      gets the usual ``0o666`` minus the umask, not the temporary file's ``0o600``;
    * a symlink is followed: the file it points to is replaced and the link is kept;
    * a hard-linked file is replaced by a new file (a rename cannot write through a hard
      link without giving up atomicity): the other names keep the old text;
    * a failure is a :class:`~initspec.SpecError` (``file_unwritable``) naming ``path`` -
      never the temporary file, which is removed.

    Returns ``path`` as given (a :class:`~pathlib.Path`).
    """
    given = Path(path)
    target = os.path.realpath(given)  # through every symlink: write the real file, keep the links
    directory = os.path.dirname(target) or "."
    tmp = None
    try:
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise SpecError.single("file_unwritable", "this is not a regular file; give the path of a file to write",
                                   file=str(given))
        mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            if st is not None and hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(fh.fileno(), st.st_uid, st.st_gid)
                except OSError:  # not ours to give away: the new file stays the writer's
                    pass
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
        _fsync_dir(directory)
    except SpecError:
        raise
    except OSError as exc:
        why = exc.strerror if exc.filename is not None or exc.strerror else str(exc)  # never the temp file's name
        raise SpecError.single("file_unwritable", f"cannot write the file ({why or type(exc).__name__})",
                               file=str(given)) from None
    except UnicodeEncodeError as exc:
        raise SpecError.single("file_unwritable", f"the text cannot be written as UTF-8 ({exc.reason})",
                               file=str(given)) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return given
