"""initspec's conformance suite, shipped with the package.

* :func:`check_samples` tests drawn tensors from any backend against the law
  :func:`initspec.resolve` computed (``docs/conformance.md``); :func:`check_two_sample` and
  :func:`check_independent` compare two samples; :func:`check_complex` tests complex64/
  complex128 draws against a law's complex form (:mod:`initspec.complexlaw`).
* :mod:`initspec.testing.cases` is the case table, :mod:`initspec.testing.drivers` the
  driver contract each backend's ``conformance.py`` implements (:func:`register_backend`
  adds a third party's), :mod:`initspec.testing.engine` runs the suite and
  :mod:`initspec.testing.report` reports it, :mod:`initspec.testing.command` is the command
  line (``initspec conformance``, ``python -m initspec.testing``),
  :mod:`initspec.testing.plugin` is the pytest plugin (``pytest --pyargs initspec.testing.suite``),
  :mod:`initspec.testing.mutants` the wrong samplers of the power gate.

Needs SciPy (``pip install 'initspec[conformance]'``); no framework is imported until a
backend is used.  See ``docs/conformance.md``.
"""

from __future__ import annotations

from .backends import get_backend, register_backend
from .complex_checks import check_complex
from .drivers import Device, Driver
from .stats import (
    ALPHA_EACH,
    ALPHA_FAMILY,
    HAAR_MIN_DIAGONAL,
    MAX_ASSERTIONS,
    N_SAMPLES,
    Check,
    CheckResult,
    check_independent,
    check_samples,
    check_two_sample,
)

__all__ = [
    "ALPHA_EACH", "ALPHA_FAMILY", "HAAR_MIN_DIAGONAL", "MAX_ASSERTIONS", "N_SAMPLES", "Driver", "Check",
    "CheckResult", "Device", "check_complex", "check_independent", "check_samples", "check_two_sample", "get_backend",
    "register_backend",
]
