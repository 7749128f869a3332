"""The shipped conformance suite, run as part of the project's own tests.

``make test`` runs it for every installed backend on every device found (CPU here; CUDA
rows show as skipped with the reason).  The same tests run from the installed package
with ``pytest --pyargs initspec.testing.suite``; see docs/conformance.md.
"""

from initspec.testing.suite import test_agreement, test_conformance, test_device, test_independence

__all__ = ["test_agreement", "test_conformance", "test_device", "test_independence"]
