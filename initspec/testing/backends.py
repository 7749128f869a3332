"""The conformance suite's drivers: one per backend, found through the backend registry.

Every backend's ``adapters/<name>/conformance.py`` exports ``DRIVER``, a
:class:`~initspec.testing.drivers.Driver` (:mod:`initspec.backends` lists the backends);
frameworks are imported only when a driver is used.  A third party registers a driver of
its own with :func:`register_backend` (or the ``initspec.conformance_backends`` entry point
group) and runs the same suite on it - see ``docs/conformance.md``::

    from initspec.testing import Device, Driver, register_backend

    class MyDriver(Driver):
        name, layout = "mine", "jax"
        def available(self): return True, ""
        def devices(self): return [Device("cpu", "cpu")]
        def draw(self, case, device, seeds, *, transform=None, haar=True):
            return [my_init(case.spec, case.shape(self.layout), case.dtype, seed) for seed in seeds]

    register_backend(MyDriver())
"""

from __future__ import annotations

from .. import backends
from .drivers import Device, Driver, PlacementError, Transform

__all__ = ["Device", "Driver", "PlacementError", "Transform", "register_backend", "get_backend", "backend_names",
           "unregister_backend"]

_REGISTRY: dict[str, Driver] = {}
_loaded = False


def _load() -> None:
    """Built-ins (from the backend registry), then third-party drivers from the
    ``initspec.conformance_backends`` entry point group."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in backends.names():
        _REGISTRY.setdefault(name, backends.module(name, "conformance").DRIVER())
    from importlib.metadata import entry_points

    for ep in entry_points(group="initspec.conformance_backends"):
        obj = ep.load()
        driver = obj() if isinstance(obj, type) else obj
        _REGISTRY.setdefault(driver.name, driver)


def register_backend(driver: Driver, *, replace: bool = False) -> Driver:
    """Add a backend's driver to the suite (by its ``name``); returns it."""
    if not isinstance(driver, Driver):
        raise TypeError(f"register_backend needs a Driver instance, got {type(driver).__name__}")
    _load()
    if driver.name in _REGISTRY and not replace:
        raise ValueError(f"a backend named {driver.name!r} is already registered (pass replace=True)")
    _REGISTRY[driver.name] = driver
    return driver


def backend_names() -> list[str]:
    """Every registered backend, built-ins first."""
    _load()
    return list(_REGISTRY)


def get_backend(name: str) -> Driver:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; registered: {', '.join(_REGISTRY)}") from None


def unregister_backend(name: str) -> None:
    """Remove a registered backend (built-ins included; tests use it to clean up)."""
    _load()
    _REGISTRY.pop(name, None)
