"""Backend drivers of the conformance suite: one class per framework, one contract.

A :class:`Backend` says whether it is installed (:meth:`~Backend.available`, with the
reason when not), which devices it has (:meth:`~Backend.devices`, discovered at run time,
absent ones included with the reason so they show as *skipped*), and draws the tensors of a
case on a device (:meth:`~Backend.draw`) through the adapter's public initializer, at the
real shape, returning NumPy arrays in the requested dtype.  The suite resolves the law with
the backend's native :attr:`~Backend.layout` and tests the arrays against it.

The built-in drivers wrap ``initspec.adapters.{numpy,torch,keras,jax}``; frameworks are
imported only when a driver is used.  A third party registers its own with
:func:`register_backend` (or the ``initspec.conformance_backends`` entry point group) and
runs the same suite on it - see ``docs/conformance.md``::

    from initspec.testing import Backend, Device, register_backend

    class MyBackend(Backend):
        name, layout = "mine", "jax"
        def available(self): return True, ""
        def devices(self): return [Device("cpu", "cpu")]
        def draw(self, case, device, seeds):
            return [my_init(case.spec, case.shape(self.layout), case.dtype, seed) for seed in seeds]

    register_backend(MyBackend())
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import distributions as D
from .cases import Case, Coverage
from .stats import to_numpy

__all__ = ["Device", "Backend", "register_backend", "get_backend", "backend_names", "BUILTIN",
           "Transform", "PlacementError"]

#: A rewrite of a resolved law, applied inside a backend's low-level sampler (the power gate).
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


def _absent_cuda(reason: str = "no CUDA device") -> Device:
    return Device("cuda", "cuda", present=False, reason=reason)


def _installed(*modules: str) -> tuple[bool, str]:
    for m in modules:
        if importlib.util.find_spec(m) is None:
            return False, f"{m} is not installed (pip install 'initspec[{m}]')"
    return True, ""


class Backend(ABC):
    """The contract a backend driver implements (see the module docstring)."""

    #: Name in test ids and on the command line.
    name: ClassVar[str]
    #: The native layout passed to :func:`initspec.resolve` for this backend's tensors.
    layout: ClassVar[str]
    #: ``full`` cross product of the case table, or a ``covering`` subset (see cases.py).
    coverage: ClassVar[Coverage] = "covering"
    #: The module holding the low-level sampler (``sampler_attr``) and the
    #: ``HAAR_SIGN_CORRECTION`` flag, for the power gate; None when not supported.
    adapter_module: ClassVar[str | None] = None
    sampler_attr: ClassVar[str] = "sample"

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """(True, "") when the framework is installed, else (False, why and how to fix)."""

    @abstractmethod
    def devices(self) -> list[Device]:
        """Every device, discovered now; absent ones with ``present=False`` and a reason."""

    @abstractmethod
    def draw(self, case: Case, device: Device, seeds: Sequence[int]) -> list[np.ndarray]:
        """One tensor of ``case`` per seed, drawn on ``device`` at ``case.shape(self.layout)``
        in ``case.dtype``, as NumPy arrays (bfloat16 as ``ml_dtypes.bfloat16``)."""

    def skip_reason(self, case: Case, device: Device) -> str | None:
        """Why this backend cannot run ``case`` on ``device`` (None: it can)."""
        return None

    def prepare(self) -> None:
        """Called once before a run (e.g. to switch off TF32)."""

    # -- hooks for the power gate and the sampler-bug meta-tests --------------------------

    def _adapter(self) -> Any:
        if self.adapter_module is None:
            raise NotImplementedError(f"backend {self.name!r} has no adapter module to patch")
        return importlib.import_module(self.adapter_module)

    def wrap_sampler(self, original: Callable[..., Any], transform: Transform) -> Callable[..., Any]:
        """A low-level sampler that draws ``transform(dist)`` instead of ``dist``.  The default
        handles ``sampler(dist, ...)``; override when the law is not the first argument."""

        def sampler(dist: D.Distribution, *args: Any, **kw: Any) -> Any:
            return original(transform(dist), *args, **kw)

        return sampler

    @contextlib.contextmanager
    def patch_sampler(self, transform: Transform) -> Iterator[None]:
        """Inject a sampler bug: within the block the adapter's low-level sampler (a module
        global the initializers look up at call time) draws ``transform(dist)``."""
        mod = self._adapter()
        original = getattr(mod, self.sampler_attr)
        setattr(mod, self.sampler_attr, self.wrap_sampler(original, transform))
        try:
            yield
        finally:
            setattr(mod, self.sampler_attr, original)

    @contextlib.contextmanager
    def haar_sign_correction(self, enabled: bool) -> Iterator[None]:
        """Set the adapter's ``HAAR_SIGN_CORRECTION`` flag within the block."""
        mod = self._adapter()
        old = mod.HAAR_SIGN_CORRECTION
        mod.HAAR_SIGN_CORRECTION = enabled
        try:
            yield
        finally:
            mod.HAAR_SIGN_CORRECTION = old

    def global_rng_state(self) -> Any:
        """A snapshot of the global RNG state this backend must never touch."""
        import random

        return (random.getstate(), _np_legacy_state())

    def __repr__(self) -> str:
        return f"<initspec conformance backend {self.name!r} (layout {self.layout!r})>"


def _np_legacy_state() -> tuple[Any, ...]:
    name, keys, pos, has_gauss, cached = np.random.get_state()  # the legacy global RandomState
    return name, keys.tobytes(), pos, has_gauss, cached


# ----------------------------------------------------------------------------- built-in drivers


class NumpyBackend(Backend):
    name = "numpy"
    layout = "jax"
    coverage = "full"
    adapter_module = "initspec.adapters.numpy"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def devices(self) -> list[Device]:
        return [Device("cpu", "cpu")]

    def draw(self, case: Case, device: Device, seeds: Sequence[int]) -> list[np.ndarray]:
        from ..adapters import numpy as isnp

        init = isnp.initializer(dict(case.spec), layout=self.layout)
        shape = case.shape(self.layout)
        return [init(shape, seed=s, dtype=case.dtype) for s in seeds]


class TorchBackend(Backend):
    name = "torch"
    layout = "torch"
    coverage = "full"
    adapter_module = "initspec.adapters.torch"
    sampler_attr = "sample_"

    def available(self) -> tuple[bool, str]:
        return _installed("torch")

    def prepare(self) -> None:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False  # no TF32 in device runs (docs/conformance.md, Devices)
        torch.backends.cudnn.allow_tf32 = False

    def devices(self) -> list[Device]:
        import torch

        out = [Device("cpu", "cpu", handle=torch.device("cpu"))]
        if not torch.cuda.is_available():
            why = "no CUDA device" if torch.version.cuda else "no CUDA device (torch built without CUDA)"
            return [*out, _absent_cuda(why)]
        n = torch.cuda.device_count()
        for i in range(n):
            out.append(Device("cuda" if n == 1 else f"cuda:{i}", "cuda", handle=torch.device("cuda", i)))
        return out

    def wrap_sampler(self, original: Callable[..., Any], transform: Transform) -> Callable[..., Any]:
        def sample_(tensor: Any, dist: D.Distribution, generator: Any = None) -> Any:
            return original(tensor, transform(dist), generator)

        return sample_

    def draw(self, case: Case, device: Device, seeds: Sequence[int]) -> list[np.ndarray]:
        import torch

        from ..adapters import torch as ist

        init = ist.initializer(dict(case.spec), layout=self.layout)
        shape = case.shape(self.layout)
        dtype = getattr(torch, case.dtype)
        out = []
        for s in seeds:
            t = torch.empty(shape, dtype=dtype, device=device.handle)
            init(t, generator=torch.Generator(device=device.handle).manual_seed(s))
            if t.device != device.handle:
                raise PlacementError(f"asked for {device.handle}, got a tensor on {t.device}")
            out.append(to_numpy(t))
        return out

    def global_rng_state(self) -> Any:
        import torch

        state = [torch.get_rng_state().numpy().tobytes()]
        if torch.cuda.is_available():
            state += [s.numpy().tobytes() for s in torch.cuda.get_rng_state_all()]
        return (super().global_rng_state(), tuple(state))


class KerasBackend(Backend):
    name = "keras"
    layout = "keras"
    adapter_module = "initspec.adapters.keras"

    def available(self) -> tuple[bool, str]:
        ok, why = _installed("keras")
        if not ok:
            return ok, why
        import os

        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        return _installed({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend))

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
            return [*out, _absent_cuda(f"device discovery not implemented for the Keras {backend} backend")]
        if gpus == 0:
            return [*out, _absent_cuda()]
        return [*out, *(Device("cuda" if gpus == 1 else f"cuda:{i}", "cuda", handle=f"gpu:{i}") for i in range(gpus))]

    def prepare(self) -> None:
        if self._keras().backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_tensor_float_32_execution(False)

    def wrap_sampler(self, original: Callable[..., Any], transform: Transform) -> Callable[..., Any]:
        def sample(dist: D.Distribution, shape: Any = None, dtype: Any = None, seed: Any = None) -> Any:
            return original(transform(dist), shape, dtype, seed)

        return sample

    def draw(self, case: Case, device: Device, seeds: Sequence[int]) -> list[np.ndarray]:
        keras = self._keras()
        from ..adapters import keras as isk

        shape = case.shape(self.layout)
        out = []
        with keras.device(device.handle):
            for s in seeds:
                x = isk.initializer(dict(case.spec), layout=self.layout, seed=s)(shape, dtype=case.dtype)
                where = str(getattr(x, "device", "")).lower()
                if device.platform == "cuda" and "gpu" not in where and "cuda" not in where:
                    raise PlacementError(f"asked for {device.handle}, got a tensor on {where}")
                out.append(to_numpy(x))
        return out


def _jax_gpu_count() -> int:
    import jax

    try:
        return len(jax.devices("gpu"))
    except RuntimeError:  # no GPU platform
        return 0


class JaxBackend(Backend):
    name = "jax"
    layout = "jax"
    adapter_module = "initspec.adapters.jax"

    def available(self) -> tuple[bool, str]:
        return _installed("jax")

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
            return [*out, _absent_cuda()]
        return [*out, *(Device("cuda" if len(gpus) == 1 else f"cuda:{i}", "cuda", handle=d)
                        for i, d in enumerate(gpus))]

    def prepare(self) -> None:
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")  # no TF32 on GPU

    def wrap_sampler(self, original: Callable[..., Any], transform: Transform) -> Callable[..., Any]:
        def sample(dist: D.Distribution, key: Any, shape: Any, dtype: Any = None, **kw: Any) -> Any:
            return original(transform(dist), key, shape, dtype, **kw)

        return sample

    def draw(self, case: Case, device: Device, seeds: Sequence[int]) -> list[np.ndarray]:
        import jax

        from ..adapters import jax as isj

        init = isj.initializer(dict(case.spec), layout=self.layout)
        shape = case.shape(self.layout)
        x64 = jax.enable_x64(True) if case.dtype == "float64" else contextlib.nullcontext()
        out = []
        with x64, jax.default_device(device.handle):
            for s in seeds:
                x = init(jax.random.key(s), shape, case.dtype)
                if x.devices() != {device.handle}:
                    raise PlacementError(f"asked for {device.handle}, got an array on {x.devices()}")
                out.append(np.asarray(x))
        return out


BUILTIN: tuple[type[Backend], ...] = (NumpyBackend, TorchBackend, KerasBackend, JaxBackend)
_REGISTRY: dict[str, Backend] = {}
_loaded_entry_points = False


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    """Add a backend driver to the suite (by its ``name``); returns it."""
    if not isinstance(backend, Backend):
        raise TypeError(f"register_backend needs a Backend instance, got {type(backend).__name__}")
    _load_entry_points()
    if backend.name in _REGISTRY and not replace:
        raise ValueError(f"a backend named {backend.name!r} is already registered (pass replace=True)")
    _REGISTRY[backend.name] = backend
    return backend


def _load_entry_points() -> None:
    """Built-ins, then third-party drivers from the ``initspec.conformance_backends`` group."""
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    for cls in BUILTIN:
        _REGISTRY.setdefault(cls.name, cls())
    from importlib.metadata import entry_points

    for ep in entry_points(group="initspec.conformance_backends"):
        obj = ep.load()
        backend = obj() if isinstance(obj, type) else obj
        _REGISTRY.setdefault(backend.name, backend)


def backend_names() -> list[str]:
    """Every registered backend, built-ins first."""
    _load_entry_points()
    return list(_REGISTRY)


def get_backend(name: str) -> Backend:
    _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; registered: {', '.join(_REGISTRY)}") from None


def unregister_backend(name: str) -> None:
    """Remove a registered backend (built-ins included; tests use it to clean up)."""
    _load_entry_points()
    _REGISTRY.pop(name, None)
