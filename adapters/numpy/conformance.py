"""The NumPy backend's conformance driver (see :mod:`initspec.testing.drivers`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...testing.cases import Case
from ...testing.drivers import Device, Driver, Transform

__all__ = ["DRIVER", "NumpyDriver"]


class NumpyDriver(Driver):
    name = "numpy"
    layout = "jax"
    coverage = "full"
    mutable = True

    def available(self) -> tuple[bool, str]:
        return True, ""

    def devices(self) -> list[Device]:
        return [Device("cpu", "cpu")]

    def sample(self, spec: Any, shape: tuple[int, ...], layout: Any, seed: int, dtype: str,
               device: Device | None = None) -> np.ndarray:
        from . import initializer

        return initializer(spec, layout)(shape, seed=seed, dtype=dtype)

    def draw(self, case: Case, device: Device, seeds: Sequence[int], *, transform: Transform | None = None,
             haar: bool = True) -> list[np.ndarray]:
        from . import initializer, sample

        shape = case.shape(self.layout)
        if transform is None and haar:  # the public initializer, as users call it
            return [self.sample(dict(case.spec), shape, self.layout, s, case.dtype) for s in seeds]
        dist = initializer(dict(case.spec), layout=self.layout).resolve(shape)
        dist = transform(dist) if transform is not None else dist
        return [sample(dist, np.random.default_rng(s), case.dtype, haar=haar) for s in seeds]


#: The driver class every backend's conformance.py exports under this name.
DRIVER = NumpyDriver
