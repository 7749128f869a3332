"""The conformance suite as pytest tests (parametrized by :mod:`initspec.testing.plugin`).

Run it from the installed package with ``pytest --pyargs initspec.testing.suite`` (add
``-n 2`` for two processes); import these functions into a test module to run them with a
project's own tests.  Each failure prints the checks, the seeds' salt and a one-line
reproduction (``python -m initspec.testing --backend ... --case ...``).
"""

from __future__ import annotations

from typing import Any

import pytest

from .items import Absent


def _record(request: pytest.FixtureRequest, item: Any, result: Any) -> None:
    request.node.user_properties += [("initspec_backend", item.backend), ("initspec_device", item.device),
                                     ("initspec_id", item.id), ("initspec_min_p", result.min_p)]


def _check(request: pytest.FixtureRequest, item: Any, initspec_run: Any) -> None:
    result = initspec_run(item)
    _record(request, item, result)
    if result.status != "passed":
        pytest.fail(f"{item.test} {item.id}: {result.status}\n{result.detail or result.reason}\n"
                    f"repro: {result.repro}", pytrace=False)


def test_conformance(initspec_case: Any, initspec_run: Any, request: pytest.FixtureRequest) -> None:
    """Samples of one case on one backend and device against the resolved law."""
    _check(request, initspec_case, initspec_run)


def test_agreement(initspec_agreement: Any, initspec_run: Any, request: pytest.FixtureRequest) -> None:
    """Orthogonal entries: two-sample agreement with the NumPy reference."""
    _check(request, initspec_agreement, initspec_run)


def test_independence(initspec_independence: Any, initspec_run: Any, request: pytest.FixtureRequest) -> None:
    """Two parameters of one plan (seeds from their paths) are uncorrelated."""
    _check(request, initspec_independence, initspec_run)


def test_device(initspec_device: Any, initspec_run: Any, request: pytest.FixtureRequest) -> None:
    """Determinism and untouched global RNG state on each device; absent ones are skipped."""
    if isinstance(initspec_device, Absent):  # pragma: no cover - the plugin marks these skipped
        pytest.skip(initspec_device.reason)
    _check(request, initspec_device, initspec_run)
