"""The keras backend's conformance driver (see :mod:`initspec.testing.drivers`)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ...testing.drivers import Device, Driver, PlacementError, absent_cuda, installed
from ...testing.stats import to_numpy
from . import initializer
from .random import sample

__all__ = ["DRIVER", "KerasDriver"]


class KerasDriver(Driver):
    name = "keras"
    layout = "keras"
    mutable = True
    no_complex = "Keras 3's random ops and initializers draw real floats only"

    def available(self) -> tuple[bool, str]:
        ok, why = installed("keras")
        if not ok:
            return ok, why
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        return installed({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend))

    def _keras(self) -> Any:
        import keras

        return keras

    def devices(self) -> list[Device]:
        keras = self._keras()
        out = [Device("cpu", "cpu", handle="cpu:0")]
        backend = keras.backend.backend()
        gpus: int
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = len(tf.config.list_physical_devices("GPU"))
        elif backend == "torch":
            import torch

            gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        elif backend == "jax":
            gpus = _jax_gpu_count()
        else:
            return [*out, absent_cuda(f"device discovery not implemented for the Keras {backend} backend")]
        if gpus == 0:
            return [*out, absent_cuda()]
        return [*out, *(Device("cuda" if gpus == 1 else f"cuda:{i}", "cuda", handle=f"gpu:{i}") for i in range(gpus))]

    def prepare(self) -> None:
        if self._keras().backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_tensor_float_32_execution(False)

    def sample(self, spec: Any, shape: tuple[int, ...], layout: Any, seed: int, dtype: str,
               device: Device | None = None) -> np.ndarray:
        keras = self._keras()
        with keras.device(device.handle if device is not None else "cpu:0"):
            x = initializer(spec, layout, seed=seed)(shape, dtype=dtype)
        where = str(getattr(x, "device", "")).lower()
        if device is not None and device.platform == "cuda" and "gpu" not in where and "cuda" not in where:
            raise PlacementError(f"asked for {device.handle}, got a tensor on {where}")
        return to_numpy(x)

    def sample_law(self, law: Any, shape: tuple[int, ...], seed: int, dtype: str, device: Device, *,
                   haar: bool = True) -> np.ndarray:
        with self._keras().device(device.handle):
            return to_numpy(sample(law, shape, dtype, seed, haar=haar))


def _jax_gpu_count() -> int:
    import jax

    try:
        return len(jax.devices("gpu"))
    except RuntimeError:  # no GPU platform
        return 0


#: The driver class every backend's conformance.py exports under this name.
DRIVER = KerasDriver
