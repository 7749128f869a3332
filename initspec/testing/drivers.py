"""The conformance driver contract: what a backend's ``adapters/<name>/conformance.py`` implements.

A :class:`Driver` says whether its framework is installed (:meth:`~Driver.available`, with
the reason when not), which devices it has (:meth:`~Driver.devices`, discovered at run time,
absent ones included with the reason so they show as *skipped*), and draws the tensors of a
case on a device (:meth:`~Driver.draw`) through the adapter's public initializer, at the
real shape, returning NumPy arrays in the requested dtype.  The suite resolves the law with
the driver's native :attr:`~Driver.layout` and tests the arrays against it.

The power gate injects bugs through :meth:`~Driver.draw`'s arguments - a ``transform`` of
the resolved law and ``haar=False`` - never by patching a module.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import distributions as D
from .cases import Case, Coverage

__all__ = ["Device", "Driver", "Transform", "PlacementError", "installed", "absent_cuda"]

#: A rewrite of a resolved law, drawn instead of the law itself (the power gate's mutants).
Transform = Callable[[D.Distribution], D.Distribution]


class PlacementError(RuntimeError):
    """A backend returned a tensor on another device than the one asked for."""


@dataclass(frozen=True)
class Device:
    """One device of a backend: ``name`` as shown in test ids (``cpu``, ``cuda``, ``cuda:1``,
    ``cpu:3``), its ``platform`` (``cpu``/``cuda``), and for an absent one the reason."""

    name: str
    platform: str
    present: bool = True
    reason: str = ""
    handle: Any = field(default=None, compare=False, repr=False)

    def matches(self, selector: str) -> bool:
        """``--device cuda`` selects every CUDA device; ``--device cuda:1`` one of them."""
        return selector in (self.name, self.platform)


def absent_cuda(reason: str = "no CUDA device") -> Device:
    return Device("cuda", "cuda", present=False, reason=reason)


def installed(*modules: str) -> tuple[bool, str]:
    """(True, "") when every module is importable, else (False, how to install it)."""
    for m in modules:
        if importlib.util.find_spec(m) is None:
            return False, f"{m} is not installed (pip install 'initspec[{m}]')"
    return True, ""


class Driver(ABC):
    """A backend's conformance driver (see the module docstring)."""

    #: Name in test ids and on the command line.
    name: ClassVar[str]
    #: The native layout passed to :func:`initspec.resolve` for this backend's tensors.
    layout: ClassVar[str]
    #: ``full`` cross product of the case table, or a ``covering`` subset (see cases.py).
    coverage: ClassVar[Coverage] = "covering"
    #: Whether :meth:`sample_law` is implemented, so :meth:`draw` honours ``transform`` and
    #: ``haar`` (the power gate needs both).
    mutable: ClassVar[bool] = False
    #: Whether the backend draws complex64/complex128 tensors (the complex cases run only
    #: where it does; elsewhere they are reported as absent, with :attr:`no_complex`).
    complex_dtypes: ClassVar[bool] = False
    #: Why the backend draws no complex tensors.
    no_complex: ClassVar[str] = "the backend draws no complex tensors"

    def available(self) -> tuple[bool, str]:
        """(True, "") when the framework is installed, else (False, why and how to fix); by
        default (True, ""), a backend with nothing to install beyond initspec's dependencies."""
        return True, ""

    def devices(self) -> list[Device]:
        """Every device, discovered now; absent ones with ``present=False`` and a reason; by
        default the CPU alone."""
        return [Device("cpu", "cpu")]

    @abstractmethod
    def sample(self, spec: Any, shape: tuple[int, ...], layout: Any, seed: int, dtype: str,
               device: Device | None = None) -> np.ndarray:
        """One tensor of ``spec`` drawn through the backend's public initializer for a
        tensor of ``shape`` stored in ``layout``, with ``seed``, in ``dtype``, on ``device``
        (default: the CPU), as a NumPy array (``initspec sample`` uses it)."""

    def sample_law(self, law: D.Distribution, shape: tuple[int, ...], seed: int, dtype: str, device: Device, *,
                   haar: bool = True) -> np.ndarray:
        """One tensor of an already resolved ``law`` through the backend's low-level sampler
        (the power gate draws rewritten laws with it).  Drivers that set ``mutable`` implement it."""
        raise NotImplementedError(f"the {self.name!r} driver draws no rewritten laws (mutable = False)")

    def draw(self, case: Case, device: Device, seeds: Sequence[int], *, transform: Transform | None = None,
             haar: bool = True) -> list[np.ndarray]:
        """One tensor of ``case`` per seed, drawn on ``device`` at ``case.shape(self.layout)``
        in ``case.dtype``, as NumPy arrays (bfloat16 as ``ml_dtypes.bfloat16``): through the
        public initializer (:meth:`sample`), or - with a ``transform`` (``transform(law)`` is
        drawn instead of the law) or ``haar=False`` (no Haar sign correction) - through
        :meth:`sample_law`."""
        shape, spec = case.shape(self.layout), dict(case.spec)
        if transform is None and haar:  # the public initializer, as users call it
            return [self.sample(spec, shape, self.layout, s, case.dtype, device) for s in seeds]
        from ..resolution import resolve

        law = resolve(spec, shape, self.layout)
        law = transform(law) if transform is not None else law
        return [self.sample_law(law, shape, s, case.dtype, device, haar=haar) for s in seeds]

    def skip_reason(self, case: Case, device: Device) -> str | None:
        """Why this backend cannot run ``case`` on ``device`` (None: it can)."""
        return None

    def prepare(self) -> None:
        """Called once before a run (e.g. to switch off TF32)."""

    def global_rng_state(self) -> Any:
        """A snapshot of the global RNG state this backend must never touch."""
        import random

        name, keys, pos, has_gauss, cached = np.random.get_state()  # the legacy global RandomState
        return random.getstate(), (name, keys.tobytes(), pos, has_gauss, cached)

    def __repr__(self) -> str:
        return f"<initspec conformance driver {self.name!r} (layout {self.layout!r})>"
