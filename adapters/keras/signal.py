"""The signal of a Keras 3 model on a batch: LSUV's probe and the diagnostics' measurements.

Sequential, functional and subclassed models are all run the same way, as they are: each
layer of interest gets its ``call`` **wrapped** on the instance for the duration of the
run (``object.__setattr__(layer, "call", wrapper)``, removed again in ``finally``), and
the wrapper records what the layer returns.  Keras' ``Layer.__call__`` calls
``self.call``, so the wrapper sees every call - in a functional graph, in a Sequential
loop and in a subclassed model's own ``call`` alike - with no tracing and no sub-models,
so residual connections and Python control flow run as written.  Layers are keyed on
the walker's records (:func:`.model.walk`): a layer is the one that owns a recorded
variable, its path the variable's normalized path without the leaf.

A layer with a fused ``activation`` (``Dense(64, activation="tanh")``) is measured before
it: the wrapper swaps the activation for ``linear`` around the original ``call``, records
the pre-activation output ``y`` - the part that is affine in the kernel - then returns
``activation(y)``.  LSUV's bias split is ``z = y - bias`` on the last axis (axis 1 for
``data_format="channels_first"``).

LSUV (:func:`probe`)
    The model is called with ``training=False``.  Each sweep is one call: at a selected
    layer's first call (its place in the forward order) the wrapper takes the moments of
    its pre-activation output, and if :func:`initspec.lsuv.run` asks for a factor ``c``
    assigns ``kernel * c`` to the kernel and goes on with ``c·z + b`` (then the fused
    activation) - what the rescaled kernel gives.

Diagnostics (:func:`measure`)
    Every layer with a recorded variable, every ``keras.layers.Activation``-like layer
    (Activation, ReLU, LeakyReLU, ELU, Softmax, PReLU ...) and the fused activation of a
    layer (reported as ``<path>.activation``, its type the activation's name) keep their
    first output.  Gradients with respect to those outputs come from the backend's own
    autodiff: ``tf.GradientTape`` (each recorded output is watched) with the TensorFlow
    backend, ``torch.autograd.grad`` with the torch backend.  With the JAX backend the
    layers' outputs are not reachable by autodiff from outside, and only the forward
    variances are reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...diagnose import LayerStats, saturated_bounds
from ...errors import SpecError
from ...lsuv import Moments, ProbeBase
from ...params import ParamInfo
from .._common import distinct, first_array, layer_path, require
from .model import _own_variables

__all__ = ["backup", "check", "probe", "measure", "random_input"]

#: Keras activation layer classes (parameter-free ones, and PReLU, which has a slope).
_ACTIVATION_LAYERS = ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU", "ThresholdedReLU")


def check(model: Any) -> None:
    """Nothing to check before drawing: any built Keras model runs."""


def _variables(params: Sequence[ParamInfo]) -> list[Any]:
    return distinct([p.handle.variable for p in params])


def backup(model: Any, params: Sequence[ParamInfo]) -> Callable[[], None]:
    """Copies of ``params``' variables; the returned function assigns them back."""
    saved = [(v, np.array(v.numpy(), copy=True)) for v in _variables(params)]

    def restore() -> None:
        for v, old in saved:
            v.assign(old)

    return restore


def _layers(model: Any) -> list[tuple[list[str], Any]]:
    """Every layer below ``model`` with its chain of names (as the walker builds paths: an
    RNN's cell is not a component), each layer once."""
    keras = require("keras")
    out: list[tuple[list[str], Any]] = []
    seen: set[int] = set()
    stack: list[tuple[list[str], Any]] = [([], model)]
    while stack:
        parts, layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if parts:
            out.append((parts, layer))
        children = list(getattr(layer, "_layers", []))
        for child in reversed(children):
            cell = isinstance(layer, keras.layers.RNN) and child is getattr(layer, "cell", None)
            stack.append((parts if cell else [*parts, child.name], child))
    return out


def _fused_activation(keras: Any, layer: Any) -> Any:
    """The layer's own non-linear ``activation`` (None when it has none or it is linear)."""
    act = getattr(layer, "activation", None)
    if act is None or not callable(act) or act is keras.activations.linear:
        return None
    return None if getattr(act, "__name__", "") == "linear" else act


def _activation_name(act: Any) -> str:
    return getattr(act, "__name__", type(act).__name__)


class _Wrapped:
    """Wraps ``layer.call`` on the instance.  ``on_output(pre, post)`` sees each call's output
    before and after its fused activation (the same tensor when it has none); ``replace(pre)``
    may return another pre-activation output to go on with (LSUV's rescaled output)."""

    def __init__(self, keras: Any, layer: Any, on_output: Callable[[Any, Any], None] | None = None,
                 replace: Callable[[Any], Any] | None = None):
        self.layer, self.keras = layer, keras
        self.had_own = "call" in vars(layer)
        self.original = layer.call
        # an activation layer's `activation` is what it is, not a fused one
        act = None if type(layer).__name__ in _ACTIVATION_LAYERS else _fused_activation(keras, layer)
        linear = keras.activations.linear
        original = self.original

        def call(*args: Any, **kwargs: Any) -> Any:
            if act is None:
                y = original(*args, **kwargs)
            else:
                object.__setattr__(layer, "activation", linear)
                try:
                    y = original(*args, **kwargs)
                finally:
                    object.__setattr__(layer, "activation", act)
            if replace is not None:
                new = replace(y)
                y = y if new is None else new
            post = y if act is None else act(y)
            if on_output is not None:
                on_output(y, post)
            return post

        object.__setattr__(layer, "call", call)

    def remove(self) -> None:
        if self.had_own:
            object.__setattr__(self.layer, "call", self.original)
        else:
            object.__delattr__(self.layer, "call")


def _numpy(keras: Any, x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


@dataclass
class _Layer:
    path: str
    layer: Any
    kernel: Any
    bias: Any
    axis: int


class _Probe(ProbeBase):
    """:class:`initspec.lsuv.SweepProbe` for a Keras model (module docstring)."""

    def __init__(self, model: Any, data: Any, layers: Sequence[ParamInfo], params: Sequence[ParamInfo]):
        super().__init__()
        self.keras = require("keras")
        self.model, self.data = model, data
        records = {id(p.handle.variable): p for p in params}
        wanted = {id(p.handle.variable): p for p in layers}
        owner: dict[int, _Layer] = {}
        for _, layer in _layers(model):
            own = _own_variables(layer)
            for v in own:
                if id(v) not in wanted or any(x.kernel is v for x in self._all):
                    continue
                if id(layer) in owner:
                    raise SpecError.single(
                        "lsuv_unsupported", f"lsuv selects two weights of one layer ({owner[id(layer)].path}: "
                        f"{wanted[id(v)].path}): its output is not linear in either alone; narrow lsuv.match",
                        loc=("lsuv", "match"), value=wanted[id(v)].path)
                bias = next((b for b in own if b is not v and getattr(records.get(id(b)), "role", None) == "bias"),
                            None)
                axis = 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1
                owner[id(layer)] = x = _Layer(layer_path(wanted[id(v)]), layer, v, bias, axis)
                self._all.append(x)
        self._wrapped: list[_Wrapped] = []

    def __enter__(self) -> _Probe:
        try:
            for x in self._all:
                self._wrapped.append(_Wrapped(self.keras, x.layer, replace=self._replacer(x)))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for w in reversed(self._wrapped):
            w.remove()
        self._wrapped.clear()

    def _replacer(self, x: _Layer) -> Callable[[Any], Any]:
        def replace(y: Any) -> Any:
            index = self._first_call(x)
            if index is None:
                return None
            a, b = self._split(x, y)
            factor = self._decide(index, Moments.of(a - b, b) if b is not None else Moments.of(a))
            if factor is None:
                return None
            x.kernel.assign(x.kernel * factor)
            if b is None:
                return y * factor
            bias = self.keras.ops.reshape(x.bias, b.shape)
            return y * factor + bias * (1.0 - factor)  # = factor * z + b, what the new kernel gives

        return replace

    def _split(self, x: _Layer, y: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The output as float64 NumPy and the bias shaped to broadcast against it."""
        a = _numpy(self.keras, y)
        if x.bias is None:
            return a, None
        b = _numpy(self.keras, x.bias).reshape(-1)
        axis = x.axis % a.ndim
        if a.shape[axis] != b.size:
            raise SpecError.single("lsuv_unsupported", f"{x.path}: its output {a.shape} has no axis of its bias's "
                                   f"size {b.size} where expected: LSUV cannot split it into weight and bias parts",
                                   loc=(x.path,))
        shape = [1] * a.ndim
        shape[axis] = b.size
        return a, b.reshape(shape)

    def _forward(self) -> None:
        self.model(self.data, training=False)

    def result(self) -> Any:
        return self.model


def probe(model: Any, result: Any, data: Any, layers: Sequence[ParamInfo], params: Sequence[ParamInfo]) -> _Probe:
    """LSUV's probe on ``model`` (written in place) and the batch ``data``; a context
    manager (the wrapped ``call`` s are removed on exit)."""
    return _Probe(model, data, layers, params)


# ----------------------------------------------------------------------------- diagnostics


def random_input(model: Any, shape: tuple[int, ...], seed: int) -> Any:
    """A standard normal float32 batch of ``shape`` (a NumPy array; Keras converts it)."""
    return np.random.default_rng([seed, 0]).standard_normal(shape).astype(np.float32)


@dataclass
class _Entry:
    path: str
    type: str
    bounds: tuple[float, float] | None
    forward: float = math.nan
    saturated: float | None = None
    constant: bool = False
    output: Any = field(default=None, repr=False)


def _stats(keras: Any, e: _Entry, y: Any) -> None:
    a = _numpy(keras, y)
    e.forward = float(a.var()) if a.size else math.nan
    e.constant = a.ndim > 0 and a.shape[0] > 1 and bool(np.all(a == a[:1]))
    if e.bounds is not None:
        lo, hi = e.bounds
        margin = 0.02 * (hi - lo)
        e.saturated = float(np.mean((a <= lo + margin) | (a >= hi - margin)))


def measure(model: Any, result: Any, data: Any, params: Sequence[ParamInfo], seed: int
            ) -> tuple[list[LayerStats], float | None, float, bool]:
    """One forward and backward pass (module docstring): per layer in forward order the
    output's variance and the gradient's; the input's variance (None without a floating
    input), the upstream gradient's, and whether the output is the same for every sample."""
    keras = require("keras")
    records = {id(p.handle.variable): p for p in params}
    backend = keras.backend.backend()
    order: list[_Entry] = []
    watch: list[Callable[[Any], None]] = []
    wrapped: list[_Wrapped] = []

    def recorder(pre_entry: _Entry, post_entry: _Entry | None) -> Callable[[Any, Any], None]:
        def on_output(pre: Any, post: Any) -> None:
            if pre_entry.output is not None:
                return
            for e, y in ((pre_entry, pre), (post_entry, post)):
                if e is None:
                    continue
                y = first_array(y)
                if y is None:
                    continue
                if watch:
                    watch[0](y)
                e.output = y
                _stats(keras, e, y)
                order.append(e)

        return on_output

    try:
        for parts, layer in _layers(model):
            own = [records[id(v)] for v in _own_variables(layer) if id(v) in records]
            name = type(layer).__name__
            if own:
                path = layer_path(own[0])
                act = _fused_activation(keras, layer)
                post = None
                if act is not None:
                    act_name = _activation_name(act)
                    post = _Entry(f"{path}.activation", act_name, saturated_bounds(act_name))
                bounds = saturated_bounds(name) if name in _ACTIVATION_LAYERS else None
                wrapped.append(_Wrapped(keras, layer, recorder(_Entry(path, name, bounds), post)))
            elif name in _ACTIVATION_LAYERS:
                act = getattr(layer, "activation", None)
                act_name = _activation_name(act) if name == "Activation" and act is not None else name
                wrapped.append(_Wrapped(keras, layer, recorder(
                    _Entry(".".join(parts), act_name, saturated_bounds(act_name)), None)))
        out, g, output_constant = _backward(keras, backend, model, data, order, watch, seed)
    finally:
        for w in reversed(wrapped):
            w.remove()
    grads = out
    stats = [LayerStats(e.path, e.type, e.forward, grads.get(id(e)), e.saturated, e.constant) for e in order]
    for e in order:
        e.output = None
    first = first_array(data)
    input_var = None
    if first is not None and np.issubdtype(np.asarray(keras.ops.convert_to_numpy(first)).dtype, np.floating):
        input_var = float(_numpy(keras, first).var())
    return stats, input_var, float(np.var(g)), output_constant


def _backward(keras: Any, backend: str, model: Any, data: Any, order: list[_Entry], watch: list[Any], seed: int
              ) -> tuple[dict[int, float | None], np.ndarray, bool]:
    """Run the model, then differentiate ``sum(output * g)`` with respect to every
    recorded output; (gradient variance by id(entry), g, whether the output is constant)."""
    rng = np.random.default_rng([seed, 1])
    if backend == "tensorflow":
        tf = require("tensorflow")
        with tf.GradientTape(persistent=False) as tape:
            watch.append(tape.watch)
            out = first_array(model(data))
            g = rng.standard_normal(tuple(out.shape)).astype(keras.backend.standardize_dtype(out.dtype))
            loss = tf.reduce_sum(out * g)
        watch.clear()
        grads = tape.gradient(loss, [e.output for e in order],
                              unconnected_gradients=tf.UnconnectedGradients.NONE)
        return {id(e): _var(keras, gr) for e, gr in zip(order, grads)}, g, _constant(keras, out)
    if backend == "torch":
        torch = require("torch")
        with torch.enable_grad():
            out = first_array(model(data))
            g = rng.standard_normal(tuple(out.shape)).astype(np.float32)
            gt = torch.as_tensor(g, dtype=out.dtype, device=out.device)
            wanted = [e for e in order if e.output.requires_grad]
            grads = torch.autograd.grad((out * gt).sum(), [e.output for e in wanted], allow_unused=True)
        return {id(e): _var(keras, gr) for e, gr in zip(wanted, grads)}, g, _constant(keras, out.detach())
    out = first_array(model(data))  # JAX backend: forward only (module docstring)
    return {}, rng.standard_normal(tuple(out.shape)), _constant(keras, out)


def _constant(keras: Any, out: Any) -> bool:
    a = _numpy(keras, out.cpu() if hasattr(out, "cpu") else out)
    return a.ndim > 0 and a.shape[0] > 1 and bool(np.all(a == a[:1]))


def _var(keras: Any, grad: Any) -> float | None:
    if grad is None:
        return None
    if hasattr(grad, "detach"):
        grad = grad.detach().cpu()
    return float(_numpy(keras, grad).var())
