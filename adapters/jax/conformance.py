"""The jax backend's conformance driver (see :mod:`initspec.testing.drivers`)."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ...testing.drivers import Device, Driver, PlacementError, absent_cuda, installed
from .random import seed_key

__all__ = ["DRIVER", "JaxDriver"]

#: The dtypes JAX draws only with 64-bit mode on.
_WIDE = ("float64", "complex128")


class JaxDriver(Driver):
    name = "jax"
    layout = "jax"
    complex_dtypes = True

    def available(self) -> tuple[bool, str]:
        return installed("jax")

    def devices(self) -> list[Device]:
        """Every visible device: all host-platform CPU devices (several with
        ``XLA_FLAGS=--xla_force_host_platform_device_count=N``) and every GPU."""
        import jax

        cpus = jax.devices("cpu")
        out = [Device("cpu" if len(cpus) == 1 else f"cpu:{d.id}", "cpu", handle=d) for d in cpus]
        try:
            gpus = jax.devices("gpu")
        except RuntimeError:
            gpus = []
        if not gpus:
            return [*out, absent_cuda()]
        return [*out, *(Device("cuda" if len(gpus) == 1 else f"cuda:{i}", "cuda", handle=d)
                        for i, d in enumerate(gpus))]

    def prepare(self) -> None:
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")  # no TF32 on GPU

    mutable = True

    def sample(self, spec: Any, shape: tuple[int, ...], layout: Any, seed: int, dtype: str,
               device: Device | None = None) -> np.ndarray:
        import jax

        from . import initializer

        where = device.handle if device is not None else jax.devices("cpu")[0]
        x64 = jax.enable_x64(True) if dtype in _WIDE else contextlib.nullcontext()
        with x64, jax.default_device(where):
            x = initializer(spec, layout)(_suite_key(jax, seed), shape, dtype)
        if x.devices() != {where}:
            raise PlacementError(f"asked for {where}, got an array on {x.devices()}")
        return np.asarray(x)

    def sample_law(self, law: Any, shape: tuple[int, ...], seed: int, dtype: str, device: Device, *,
                   haar: bool = True) -> np.ndarray:
        import jax

        from . import sample

        x64 = jax.enable_x64(True) if dtype in _WIDE else contextlib.nullcontext()
        with x64, jax.default_device(device.handle):
            return np.asarray(sample(law, _suite_key(jax, seed), shape, dtype, haar=haar))

def _suite_key(jax: Any, seed: int) -> Any:
    """``jax.random.key(seed)`` for a 32-bit seed (the suite's own seeds, unchanged), and
    :func:`~initspec.adapters.jax.random.seed_key` above that: without x64,
    ``jax.random.key`` keeps only the low 32 bits, so ``--seed 4294967296`` would draw what
    ``--seed 0`` draws.  Out-of-rule seeds are ``bad_seed`` (seed_key checks them)."""
    return jax.random.key(seed) if 0 <= seed < 2**32 else seed_key(seed)


#: The driver class every backend's conformance.py exports under this name.
DRIVER = JaxDriver
