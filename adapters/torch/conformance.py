"""The torch backend's conformance driver (see :mod:`initspec.testing.drivers`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...testing.drivers import Device, Driver, PlacementError, absent_cuda, installed
from ...testing.stats import to_numpy

__all__ = ["DRIVER", "TorchDriver"]


class TorchDriver(Driver):
    name = "torch"
    layout = "torch"
    coverage = "full"
    mutable = True
    complex_dtypes = True

    def available(self) -> tuple[bool, str]:
        return installed("torch")

    def prepare(self) -> None:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False  # no TF32 in device runs (docs/conformance.md, Devices)
        torch.backends.cudnn.allow_tf32 = False

    def devices(self) -> list[Device]:
        import torch

        out = [Device("cpu", "cpu", handle=torch.device("cpu"))]
        if not torch.cuda.is_available():
            why = "no CUDA device" if torch.version.cuda else "no CUDA device (torch built without CUDA)"
            return [*out, absent_cuda(why)]
        n = torch.cuda.device_count()
        for i in range(n):
            out.append(Device("cuda" if n == 1 else f"cuda:{i}", "cuda", handle=torch.device("cuda", i)))
        return out

    def sample(self, spec: Any, shape: tuple[int, ...], layout: Any, seed: int, dtype: str,
               device: Device | None = None) -> np.ndarray:
        import torch

        from . import initializer

        where = device.handle if device is not None else torch.device("cpu")
        t = torch.empty(shape, dtype=getattr(torch, dtype), device=where)
        initializer(spec, layout)(t, generator=torch.Generator(device=where).manual_seed(seed))
        if t.device != where:
            raise PlacementError(f"asked for {where}, got a tensor on {t.device}")
        return to_numpy(t)

    def sample_law(self, law: Any, shape: tuple[int, ...], seed: int, dtype: str, device: Device, *,
                   haar: bool = True) -> np.ndarray:
        import torch

        from . import sample_

        t = torch.empty(shape, dtype=getattr(torch, dtype), device=device.handle)
        sample_(t, law, torch.Generator(device=device.handle).manual_seed(seed), haar=haar)
        return to_numpy(t)

    def global_rng_state(self) -> Any:
        import torch

        state = [torch.get_rng_state().numpy().tobytes()]
        if torch.cuda.is_available():
            state += [s.numpy().tobytes() for s in torch.cuda.get_rng_state_all()]
        return (super().global_rng_state(), tuple(state))


#: The driver class every backend's conformance.py exports under this name.
DRIVER = TorchDriver
