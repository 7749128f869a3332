"""Skip and xfail lists, kept as data (``initspec/testing/data/skips.yaml``).

Each entry names test ids by a glob pattern and says why, with a link to the upstream
issue or the doc that explains it::

    entries:
      - match: "keras-cuda*-orthogonal-*-bfloat16"   # fnmatch over test ids
        test: conformance        # conformance | agreement | independence | device
        kind: xfail              # xfail: must fail (a pass is reported, strict); skip: not run
        reason: "bf16 QR has no GPU kernel in TF 2.21"
        link: "https://github.com/tensorflow/tensorflow/issues/NNNNN"

Test ids are ``<backend>-<device>-<case id>`` (e.g. ``torch-cpu-he_normal-conv2d-float16``)
and ``<backend>-<device>`` for the device test.  An entry that matches no test id of the
suite is **stale** and is reported (pytest terminal summary, the runner's report), as is an
xfail entry whose test now passes.  More files can be added with ``--initspec-skips PATH``
or the ``INITSPEC_SKIPS`` environment variable (``os.pathsep``-separated).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

__all__ = ["SkipEntry", "load_skips", "default_skip_files", "find_entry", "stale_entries", "TESTS"]

TESTS = ("conformance", "agreement", "independence", "device")


@dataclass(frozen=True)
class SkipEntry:
    match: str
    kind: Literal["skip", "xfail"]
    reason: str
    link: str = ""
    test: str = "conformance"
    source: str = ""

    def applies(self, test: str, test_id: str) -> bool:
        return test == self.test and fnmatch.fnmatchcase(test_id, self.match)

    def describe(self) -> str:
        return f"{self.reason}" + (f" ({self.link})" if self.link else "")


def default_skip_files() -> list[str]:
    """The shipped list, then any named by ``INITSPEC_SKIPS``."""
    files = [str(resources.files("initspec.testing").joinpath("data", "skips.yaml"))]
    extra = os.environ.get("INITSPEC_SKIPS", "")
    files += [f for f in extra.split(os.pathsep) if f]
    return files


def _entry(raw: Any, source: str, i: int) -> SkipEntry:
    where = f"{source}: entry {i}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping with match, kind, reason (got {raw!r})")
    unknown = set(raw) - {"match", "kind", "reason", "link", "test"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: match, kind, reason, link, test")
    for key in ("match", "kind", "reason"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ValueError(f"{where}: {key!r} is required (a non-empty string)")
    if raw["kind"] not in ("skip", "xfail"):
        raise ValueError(f"{where}: kind must be 'skip' or 'xfail' (got {raw['kind']!r})")
    test = raw.get("test", "conformance")
    if test not in TESTS:
        raise ValueError(f"{where}: test must be one of {', '.join(TESTS)} (got {test!r})")
    return SkipEntry(raw["match"], raw["kind"], raw["reason"].strip(), str(raw.get("link", "")), test, source)


def load_skips(files: Sequence[str | os.PathLike[str]] | None = None) -> list[SkipEntry]:
    """Entries of every file (the shipped list by default)."""
    import yaml

    entries: list[SkipEntry] = []
    for f in default_skip_files() if files is None else files:
        text = Path(f).read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict) or not isinstance(data.get("entries", []), list):
            raise ValueError(f"{f}: expected a mapping with an 'entries' list")
        entries += [_entry(raw, str(f), i) for i, raw in enumerate(data.get("entries") or [])]
    return entries


def find_entry(entries: Iterable[SkipEntry], test: str, test_id: str) -> SkipEntry | None:
    """The first entry that applies to a test id."""
    return next((e for e in entries if e.applies(test, test_id)), None)


def stale_entries(entries: Iterable[SkipEntry], ids: Iterable[tuple[str, str]]) -> list[SkipEntry]:
    """Entries that match none of the (test, test id) pairs of the whole suite."""
    ids = list(ids)
    return [e for e in entries if not any(e.applies(t, i) for t, i in ids)]
