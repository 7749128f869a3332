"""initspec's conformance suite, shipped with the package.

:func:`check_samples` tests drawn tensors from any backend against the law
:func:`initspec.resolve` computed (see ``docs/conformance.md``).  Needs SciPy
(``pip install 'initspec[conformance]'``).
"""

from __future__ import annotations

from .stats import (
    ALPHA_EACH,
    ALPHA_FAMILY,
    MAX_ASSERTIONS,
    N_SAMPLES,
    Check,
    CheckResult,
    check_samples,
    check_two_sample,
)

__all__ = ["ALPHA_EACH", "ALPHA_FAMILY", "MAX_ASSERTIONS", "N_SAMPLES", "Check", "CheckResult", "check_samples",
           "check_two_sample"]
