"""The signal of a Flax model on a batch: LSUV's probe and the diagnostics' measurements.

Two forms of model run (a bare variables tree has no forward pass - wrap it as
:class:`.model.Linen` ``(module, variables, x)``):

linen - :class:`.model.Linen`
    ``module.apply(variables, *data, mutable=True)`` (batch statistics and other
    collections are computed and dropped) inside ``flax.linen.intercept_methods``: the
    interceptor sees every submodule's ``__call__`` with its scope path, which is its
    parameters' path - the walker's record of ``params/fc1/kernel`` is the layer ``fc1``.
    The variables tree is functional: LSUV rescales a copy and returns it as
    ``manifest.params`` (the input tree is left as it was).
nnx - an ``nnx.Module``
    The classes of the layers of interest get a wrapping ``__call__`` for the duration of
    the run (Python looks ``__call__`` up on the class; the wrapper acts only for the
    instances being measured and is removed in ``finally``).  LSUV runs the module under
    ``model.eval()`` and puts each submodule's ``deterministic``/``use_running_average``
    back afterwards; rescales are ``Param.set_value`` in place.

LSUV (:func:`probe`)
    Each sweep is one forward pass: at a selected layer's first call (its place in the
    forward order) the interceptor or wrapper takes the moments of its output (the bias
    split ``z = y - bias`` on the last axis: Flax is channels-last), and if
    :func:`initspec.lsuv.run` asks for a factor ``c`` rescales the kernel and returns
    ``c·z + b`` - what the rescaled kernel gives - to the rest of the pass.  Passes run
    eagerly (not under ``jax.jit``).

Diagnostics (:func:`measure`)
    Gradients with respect to intermediate outputs by **perturbation**: each measured
    layer's first output ``y`` becomes ``y + e`` with ``e = 0``, and ``jax.vjp`` of the
    model's output in ``e`` (the recorded outputs as auxiliary results) gives
    ``d loss / d y`` for ``loss = sum(output * g)``.  A first ``jax.eval_shape`` pass
    finds the outputs' shapes.  Activations in Flax are functions, not modules, so only
    layers with parameters are measured (saturation is not reported).  nnx: a module that
    updates its state when called (Dropout drawing from its ``Rngs``, BatchNorm in
    training mode) cannot run under ``jax.vjp``; call ``model.eval()`` first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...diagnose import LayerStats
from ...errors import SpecError
from ...lsuv import Moments, ProbeBase
from ...params import ParamInfo
from .._common import first_array, layer_path, require
from .model import Linen, _flax_module, _is_box, _NnxHandle, _unbox

__all__ = ["backup", "check", "probe", "measure", "random_input"]


def _nnx_model(model: Any) -> Any:
    nnx = _flax_module("flax.nnx")
    return nnx if nnx is not None and isinstance(model, nnx.Module) else None


def check(model: Any) -> None:
    """A model the signal can run: an nnx.Module or a :class:`Linen`; bare variables
    cannot (no module to call)."""
    if isinstance(model, Linen) or _nnx_model(model) is not None:
        return
    raise SpecError.single(
        "lsuv_unsupported", "Flax variables alone have no forward pass: wrap them with their module - "
        "initspec.adapters.jax.Linen(module, variables, x) - so LSUV and the diagnostics can run it (nothing was "
        "changed)", loc=("lsuv",), value=type(model).__name__)


def _args(data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(data, Mapping):
        return (), dict(data)
    if isinstance(data, (tuple, list)):
        return tuple(data), {}
    return (data,), {}


def _tree_layer(p: ParamInfo) -> tuple[str, ...]:
    """The scope path of the module owning a variables-tree parameter."""
    keys = tuple(str(k) for k in p.handle.keys)
    return keys[1:-1] if keys and keys[0] == "params" else keys[:-1]


def _copy(tree: Any) -> Any:
    """Nested mappings as plain dicts (the leaves shared)."""
    if isinstance(tree, Mapping):
        return {k: _copy(v) for k, v in tree.items()}
    return tree


def _get(tree: Any, keys: Sequence[Any]) -> Any:
    for k in keys:
        tree = tree[k]
    return tree


def _set(tree: Any, keys: Sequence[Any], value: Any) -> None:
    for k in keys[:-1]:
        tree = tree[k]
    tree[keys[-1]] = value


def _moments(y: Any, bias: Any) -> Moments:
    y = np.asarray(y, dtype=np.float64)
    if bias is None:
        return Moments.of(y)
    b = np.asarray(bias, dtype=np.float64).reshape(-1)
    if y.shape[-1] != b.size:
        raise SpecError.single("lsuv_unsupported", f"an output {y.shape} whose last axis is not its bias's size "
                               f"{b.size}: LSUV cannot split it into weight and bias parts", value=str(y.shape))
    return Moments.of(y - b, b)


def backup(model: Any, params: Sequence[ParamInfo]) -> Callable[[], None]:
    """nnx: every Param's current value (JAX arrays are immutable: keeping them is the copy);
    the returned function puts them back.  Variables trees are never written in place."""
    saved = [(p.handle.param, p.handle.param.get_value()) for p in params if isinstance(p.handle, _NnxHandle)]

    def restore() -> None:
        for param, old in saved:
            param.set_value(old)

    return restore


@dataclass
class _Layer:
    path: str
    key: Any
    """linen: the scope path; nnx: id(module)."""
    weight: Any
    """linen: the kernel's key path; nnx: the Param."""
    bias: Any
    """linen: the bias's key path or None; nnx: the bias Param or None."""


class _BaseProbe(ProbeBase):
    """The sweep shared by both forms: ``_seen_output(x, y)`` at each measured call returns
    the output to go on with."""

    def _seen_output(self, x: _Layer, y: Any) -> Any:
        index = self._first_call(x)
        if index is None:
            return y
        bias = self._bias(x)
        factor = self._decide(index, _moments(y, bias))
        if factor is None:
            return y
        self._rescale(x, factor)
        if bias is None:
            return y * factor
        return y * factor + bias * (1.0 - factor)  # = factor * z + b, what the new kernel gives

    def _bias(self, x: _Layer) -> Any:
        raise NotImplementedError

    def _rescale(self, x: _Layer, factor: float) -> None:
        raise NotImplementedError


class _LinenProbe(_BaseProbe):
    def __init__(self, model: Linen, result: Any, data: Any, layers: Sequence[ParamInfo],
                 params: Sequence[ParamInfo]):
        super().__init__()
        self.nn = require("flax.linen")
        self.module = model.module
        variables = result if result is not None else model.variables
        self.container = type(variables)
        self.tree = _copy(variables)
        self.args, self.kwargs = _args(data)
        biases = {_tree_layer(p): p.handle.keys for p in params if p.role == "bias"}
        self._by_scope: dict[tuple[str, ...], _Layer] = {}
        for p in layers:
            scope = _tree_layer(p)
            if scope in self._by_scope:
                raise SpecError.single(
                    "lsuv_unsupported", f"lsuv selects two weights of one module ({self._by_scope[scope].path}): "
                    "its output is not linear in either alone; narrow lsuv.match", loc=("lsuv", "match"),
                    value=p.path)
            x = _Layer(layer_path(p), scope, p.handle.keys, biases.get(scope))
            self._all.append(x)
            self._by_scope[scope] = x

    def __enter__(self) -> _LinenProbe:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def _bias(self, x: _Layer) -> Any:
        return None if x.bias is None else _unbox(_get(self.tree, x.bias))

    def _forward(self) -> None:
        def interceptor(next_fun: Any, args: Any, kwargs: Any, context: Any) -> Any:
            y = next_fun(*args, **kwargs)
            scope = context.module.scope
            if context.method_name == "__call__" and scope is not None:
                x = self._by_scope.get(tuple(str(k) for k in scope.path))
                if x is not None:
                    if first_array(y) is not y:
                        raise SpecError.single("lsuv_unsupported", f"{x.path} returns {type(y).__name__}, not an "
                                               "array: LSUV rescales layers whose output is linear in their kernel",
                                               loc=(x.path,))
                    return self._seen_output(x, y)
            return y

        with self.nn.intercept_methods(interceptor):
            self.module.apply(self.tree, *self.args, mutable=True, **self.kwargs)

    def _rescale(self, x: _Layer, factor: float) -> None:
        leaf = _get(self.tree, x.weight)
        new = leaf.replace_boxed(leaf.unbox() * factor) if _is_box(leaf) else leaf * factor
        _set(self.tree, x.weight, new)

    def result(self) -> Any:
        if self.container is dict:
            return self.tree
        try:
            return self.container(self.tree)
        except TypeError:  # pragma: no cover - a mapping type that does not take a dict
            return self.tree


def _nnx_owners(nnx: Any, model: Any) -> list[tuple[Any, dict[int, Any]]]:
    """Every submodule with the Params it holds directly (id -> Param)."""
    out = []
    for _, module in nnx.iter_modules(model) if hasattr(nnx, "iter_modules") else nnx.iter_graph(model):
        if not isinstance(module, nnx.Module):
            continue
        own = {id(v): v for v in vars(module).values() if isinstance(v, nnx.Param)}
        out.append((module, own))
    return out


class _Patched:
    """``__call__`` of some classes wrapped for a run; ``on_call(module, y)`` sees the
    output of each call of a module in ``wanted`` (id) and returns what to pass on."""

    def __init__(self, modules: Sequence[Any], on_call: Callable[[Any, Any], Any]):
        wanted = {id(m) for m in modules}
        classes = list(dict.fromkeys(type(m) for m in modules))
        originals = {cls: cls.__call__ for cls in classes}  # resolved before any patching
        self.saved = [(cls, cls.__dict__.get("__call__")) for cls in classes]
        for cls in classes:
            original = originals[cls]

            def __call__(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                y = _original(self, *args, **kwargs)
                return on_call(self, y) if id(self) in wanted else y

            cls.__call__ = __call__  # type: ignore[method-assign]

    def remove(self) -> None:
        for cls, own in self.saved:
            if own is None:
                del cls.__call__
            else:
                cls.__call__ = own  # type: ignore[method-assign]


_MODE_ATTRIBUTES = ("deterministic", "use_running_average")


class _NnxProbe(_BaseProbe):
    def __init__(self, nnx: Any, model: Any, data: Any, layers: Sequence[ParamInfo], params: Sequence[ParamInfo]):
        super().__init__()
        self.nnx, self.model = nnx, model
        self.args, self.kwargs = _args(data)
        records = {id(p.handle.param): p for p in params if isinstance(p.handle, _NnxHandle)}
        wanted = {id(p.handle.param): p for p in layers}
        self._modules: dict[int, Any] = {}
        self._by_module: dict[int, _Layer] = {}
        for module, own in _nnx_owners(nnx, model):
            for key, param in own.items():
                if key not in wanted or any(x.weight is param for x in self._all):
                    continue
                if id(module) in self._by_module:
                    raise SpecError.single(
                        "lsuv_unsupported", f"lsuv selects two weights of one module "
                        f"({self._by_module[id(module)].path}): its output is not linear in either alone; narrow "
                        "lsuv.match", loc=("lsuv", "match"), value=wanted[key].path)
                bias = next((b for k, b in own.items() if k != key
                             and getattr(records.get(k), "role", None) == "bias"), None)
                x = _Layer(layer_path(wanted[key]), id(module), param, bias)
                self._all.append(x)
                self._by_module[id(module)] = x
                self._modules[id(module)] = module
        self._patch: _Patched | None = None
        self._modes: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> _NnxProbe:
        for _, module in self.nnx.iter_modules(self.model):
            for attr in _MODE_ATTRIBUTES:
                if attr in vars(module):
                    self._modes.append((module, attr, vars(module)[attr]))
        try:
            self.model.eval()
            self._patch = _Patched(list(self._modules.values()), self._on_call)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._patch is not None:
            self._patch.remove()
            self._patch = None
        for module, attr, value in self._modes:
            setattr(module, attr, value)
        self._modes.clear()

    def _on_call(self, module: Any, y: Any) -> Any:
        x = self._by_module.get(id(module))
        if x is None or self._decide is None:
            return y
        if first_array(y) is not y:
            raise SpecError.single("lsuv_unsupported", f"{x.path} returns {type(y).__name__}, not an array: LSUV "
                                   "rescales layers whose output is linear in their kernel", loc=(x.path,))
        return self._seen_output(x, y)

    def _bias(self, x: _Layer) -> Any:
        return None if x.bias is None else x.bias.get_value()

    def _forward(self) -> None:
        self.model(*self.args, **self.kwargs)

    def _rescale(self, x: _Layer, factor: float) -> None:
        x.weight.set_value(x.weight.get_value() * factor)

    def result(self) -> Any:
        return self.model


def probe(model: Any, result: Any, data: Any, layers: Sequence[ParamInfo], params: Sequence[ParamInfo]) -> Any:
    """LSUV's probe on ``model`` (a :class:`Linen` - ``result`` is the new variables tree the
    plan drew - or an nnx.Module) and the batch ``data``; a context manager."""
    check(model)
    nnx = _nnx_model(model)
    if nnx is not None:
        return _NnxProbe(nnx, model, data, layers, params)
    return _LinenProbe(model, result, data, layers, params)


# ----------------------------------------------------------------------------- diagnostics


def random_input(model: Any, shape: tuple[int, ...], seed: int) -> Any:
    """A standard normal float32 batch of ``shape`` (a ``jax.Array``)."""
    jnp = require("jax.numpy")
    return jnp.asarray(np.random.default_rng([seed, 0]).standard_normal(shape).astype(np.float32))


def _floating(y: Any) -> bool:
    return y is not None and np.issubdtype(np.dtype(y.dtype), np.floating)


def measure(model: Any, result: Any, data: Any, params: Sequence[ParamInfo], seed: int
            ) -> tuple[list[LayerStats], float | None, float, bool]:
    """One forward and backward pass (module docstring): per layer in forward order the
    output's variance and the gradient's; the input's variance (None without a floating
    input), the upstream gradient's, and whether the output is the same for every sample."""
    jax = require("jax")
    if not isinstance(model, Linen) and _nnx_model(model) is None:
        raise SpecError.single("unsupported_model", "Flax variables alone have no forward pass: diagnose "
                               "initspec.adapters.jax.Linen(module, variables, x), or an nnx.Module",
                               value=type(model).__name__)
    args, kwargs = _args(data)
    order: list[str] = []
    types: dict[str, str] = {}
    perturb: dict[str, Any] = {}
    outputs: dict[str, Any] = {}

    def seen(path: str, kind: str, y: Any) -> Any:
        arr = first_array(y)
        if path in outputs or not _floating(arr) or arr is not y:
            return y
        if path not in types:
            order.append(path)
            types[path] = kind
        if path in perturb:
            y = y + perturb[path]
        outputs[path] = y
        return y

    nnx = _nnx_model(model)
    if nnx is None:
        nn = require("flax.linen")
        variables = result if result is not None else model.variables
        by_scope = {_tree_layer(p): layer_path(p) for p in params}

        def interceptor(next_fun: Any, a: Any, kw: Any, context: Any) -> Any:
            y = next_fun(*a, **kw)
            scope = context.module.scope
            if context.method_name != "__call__" or scope is None:
                return y
            path = by_scope.get(tuple(str(k) for k in scope.path))
            return y if path is None else seen(path, type(context.module).__name__, y)

        def forward() -> Any:
            with nn.intercept_methods(interceptor):
                out, _ = model.module.apply(variables, *args, mutable=True, **kwargs)
            return first_array(out)

        patch = None
    else:
        records = {id(p.handle.param): p for p in params if isinstance(p.handle, _NnxHandle)}
        paths: dict[int, str] = {}
        modules = []
        for module, own in _nnx_owners(nnx, model):
            hit = [records[k] for k in own if k in records]
            if hit and module is not model:
                paths[id(module)] = layer_path(hit[0])
                modules.append(module)

        def forward() -> Any:
            return first_array(model(*args, **kwargs))

        patch = _Patched(modules, lambda module, y: seen(paths[id(module)], type(module).__name__, y))
    try:
        def abstract() -> tuple[Any, dict[str, Any]]:
            outputs.clear()
            return forward(), dict(outputs)

        out_shape, shapes = jax.eval_shape(abstract)  # finds the layers, their order and output shapes

        def f(eps: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            perturb.clear()
            perturb.update(eps)
            outputs.clear()
            out = forward()
            return out, dict(outputs)

        eps = {p: jax.numpy.zeros(s.shape, s.dtype) for p, s in shapes.items()}
        try:
            out, vjp, aux = jax.vjp(f, eps, has_aux=True)
        except Exception as exc:
            if nnx is not None and "TraceContext" in type(exc).__name__:
                raise SpecError.single("unsupported_model", f"{type(model).__name__} changes its own state when "
                                       "called (Dropout's Rngs, BatchNorm in training mode), which cannot run under "
                                       "jax.vjp: call model.eval() before diagnosing it", value=type(model).__name__
                                       ) from exc
            raise
        g = np.random.default_rng([seed, 1]).standard_normal(tuple(out_shape.shape))
        g = g.astype(np.dtype(out_shape.dtype))
        (grads,) = vjp(jax.numpy.asarray(g))
    finally:
        if patch is not None:
            patch.remove()
        perturb.clear()
        outputs.clear()
    stats = []
    for path in order:
        y = np.asarray(aux[path], dtype=np.float64) if path in aux else None
        gr = grads.get(path)
        constant = y is not None and y.ndim > 0 and y.shape[0] > 1 and bool(np.all(y == y[:1]))
        stats.append(LayerStats(path, types[path], float(y.var()) if y is not None and y.size else math.nan,
                                None if gr is None else float(np.asarray(gr, dtype=np.float64).var()),
                                constant=constant))
    first = first_array(data)
    input_var = float(np.asarray(first, dtype=np.float64).var()) if _floating(first) else None
    o = np.asarray(out)
    output_constant = o.ndim > 0 and o.shape[0] > 1 and bool(np.all(o == o[:1]))
    return stats, input_var, float(np.var(g)), output_constant

