"""The NumPy backend's conformance driver (see :mod:`initspec.testing.drivers`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...testing.drivers import Device, Driver

__all__ = ["DRIVER", "NumpyDriver"]


class NumpyDriver(Driver):
    name = "numpy"
    layout = "jax"
    coverage = "full"
    mutable = True
    complex_dtypes = True

    def sample(self, spec: Any, shape: tuple[int, ...], layout: Any, seed: int, dtype: str,
               device: Device | None = None) -> np.ndarray:
        from . import initializer

        return initializer(spec, layout)(shape, seed=seed, dtype=dtype)

    def sample_law(self, law: Any, shape: tuple[int, ...], seed: int, dtype: str, device: Device, *,
                   haar: bool = True) -> np.ndarray:
        from . import sample

        return sample(law, np.random.default_rng(seed), dtype, haar=haar)


#: The driver class every backend's conformance.py exports under this name.
DRIVER = NumpyDriver
