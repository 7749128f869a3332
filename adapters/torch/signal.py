"""The signal of a PyTorch model on a batch: LSUV's probe and the diagnostics' measurements.

Both run the user's ``nn.Module`` as it is, with **hooks** - never tracing - so residual
connections, data-dependent Python branches and models ``torch.fx`` cannot trace are
measured as they run.  Layers are keyed on the walker's records (:func:`.model.walk`, after
the plan's ``types`` declarations): a layer is the module that owns a recorded parameter,
its path the parameter's normalized path without the leaf - so Hugging Face's ``Conv1D``
is a dense layer when the walker (or a ``types:`` declaration) says so, whatever its name.

LSUV (:func:`probe`)
    A forward hook on each selected layer's module; the model runs in ``model.eval()``
    under ``torch.no_grad()`` (every module's ``training`` flag is restored afterwards).
    Each sweep is one forward pass: at a layer's first call (which fixes its place in the
    forward order - the LSUV order) the hook splits its output ``y`` as ``z = y - b``, with
    the bias broadcast on the channel axis (1 for convolutions, the last axis for dense
    layers and embeddings), computes the moments in float64 on the tensor's device, and if
    :func:`initspec.lsuv.run` asks for a factor ``c``, multiplies the weight by ``c`` in
    place (``weight.mul_``) and returns ``c·z + b`` as the layer's output - exactly what the
    rescaled weight gives - so the rest of the pass sees the fitted layer.  A module called
    again in the same pass is measured at its first call only.

Diagnostics (:func:`measure`)
    A forward hook on every module that owns a recorded parameter and on every activation
    module (a parameter-free leaf module from ``torch.nn.modules.activation`` or a library's
    ``activations`` module, e.g. Hugging Face's ``NewGELUActivation``) keeps its first
    output; the gradients of ``loss = sum(output * g)`` (``g`` standard normal, seeded) with
    respect to those outputs come from one ``torch.autograd.grad`` call, so the parameters'
    ``.grad`` are not touched.  The model runs in the mode it is in (``model.train()`` or
    ``model.eval()``: dropout and batch statistics as the caller chose).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...diagnose import LayerStats, saturated_bounds
from ...errors import SpecError
from ...lsuv import Moments, ProbeBase
from ...params import ParamInfo
from .._common import distinct, layer_path, require

__all__ = ["backup", "check", "probe", "measure", "random_input", "call"]

_CONV_KINDS = ("conv", "conv_transpose", "depthwise_conv")


def check(model: Any) -> None:
    """Nothing to check before drawing: any ``nn.Module`` runs."""


def call(model: Any, data: Any) -> Any:
    """``model(data)``; a tuple or list is positional arguments, a mapping keyword arguments."""
    torch = require("torch")
    if isinstance(data, torch.Tensor):
        return model(data)
    if isinstance(data, Mapping):
        return model(**data)
    if isinstance(data, (tuple, list)):
        return model(*data)
    return model(data)


def _tensor_of(out: Any, torch: Any) -> Any:
    """The first tensor of a module's output (a tensor, a tuple, a ModelOutput ...)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for item in out:
            found = _tensor_of(item, torch)
            if found is not None:
                return found
    return None


def _tensors(params: Sequence[ParamInfo]) -> list[Any]:
    return distinct([p.handle.tensor for p in params])


def backup(model: Any, params: Sequence[ParamInfo]) -> Callable[[], None]:
    """Copies of ``params``' tensors; the returned function puts them back."""
    torch = require("torch")
    with torch.no_grad():
        saved = [(t, t.detach().clone()) for t in _tensors(params)]

    def restore() -> None:
        with torch.no_grad():
            for t, old in saved:
                t.copy_(old)

    return restore


def _owners(model: Any, tensors: dict[int, Any]) -> dict[int, Any]:
    """id(tensor) -> the first module that owns it."""
    out: dict[int, Any] = {}
    for _, module in model.named_modules(remove_duplicate=False):
        for t in module._parameters.values():
            if t is not None and id(t) in tensors and id(t) not in out:
                out[id(t)] = module
    return out


@dataclass
class _Layer:
    path: str
    module: Any
    weight: Any
    bias: Any
    conv: bool


def _bias_shape(y: Any, layer: _Layer) -> list[int]:
    """The shape that broadcasts the layer's bias against its output ``y``: the channel axis
    (1) for a convolution, the last axis otherwise."""
    n = layer.bias.numel()
    axis = 1 if layer.conv and y.dim() > 2 else y.dim() - 1
    if y.shape[axis] != n:
        axis = next((a for a in range(y.dim()) if y.shape[a] == n), None)
        if axis is None:
            raise SpecError.single("lsuv_unsupported", f"{layer.path}: its output {tuple(y.shape)} has no axis of "
                                   f"its bias's size {n}: LSUV cannot split the output into weight and bias parts",
                                   loc=(layer.path,))
    shape = [1] * y.dim()
    shape[axis] = n
    return shape


def _moments(torch: Any, y: Any, layer: _Layer) -> Moments:
    y = y.detach().to(torch.float64)
    if layer.bias is None:
        return Moments(*torch.stack([y.mean(), (y * y).mean()]).tolist())
    bb = layer.bias.detach().to(torch.float64).reshape(_bias_shape(y, layer))
    z = y - bb
    # means over the whole blob: every channel appears numel/C times, so the bias's means are its own
    return Moments(*torch.stack([z.mean(), (z * z).mean(), bb.mean(), (bb * bb).mean(), (z * bb).mean()]).tolist())


class _Probe(ProbeBase):
    """:class:`initspec.lsuv.SweepProbe` for an ``nn.Module`` (module docstring)."""

    def __init__(self, model: Any, data: Any, layers: Sequence[ParamInfo], params: Sequence[ParamInfo]):
        super().__init__()
        self.torch = require("torch")
        self.model, self.data = model, data
        wanted = {id(p.handle.tensor): p for p in layers}
        owners = _owners(model, wanted)
        records = {id(p.handle.tensor): p for p in params}
        self._by_module: dict[int, _Layer] = {}
        for key, p in wanted.items():
            module = owners[key]
            if id(module) in self._by_module:
                raise SpecError.single(
                    "lsuv_unsupported", f"lsuv selects two weights of one module ({self._by_module[id(module)].path} "
                    f"and {p.path}): its output is not linear in either alone; narrow lsuv.match",
                    loc=("lsuv", "match"), value=p.path)
            bias = next((t for t in module._parameters.values() if t is not None and id(t) != key
                         and getattr(records.get(id(t)), "role", None) == "bias"), None)
            layer = _Layer(layer_path(p), module, p.handle.tensor, bias, p.kind in _CONV_KINDS)
            self._all.append(layer)
            self._by_module[id(module)] = layer
        self._hooks: list[Any] = []
        self._modes: list[tuple[Any, bool]] = []

    # -- context: hooks and modes in, restored out
    def __enter__(self) -> _Probe:
        self._modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        for layer in self._all:
            self._hooks.append(layer.module.register_forward_hook(self._hook(layer)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        for m, mode in self._modes:
            m.training = mode

    def _hook(self, layer: _Layer) -> Callable[..., Any]:
        torch = self.torch

        def hook(module: Any, args: Any, output: Any) -> Any:
            index = self._first_call(layer)
            if index is None:  # called again in this pass: measured at its first call
                return None
            if not isinstance(output, torch.Tensor):
                raise SpecError.single("lsuv_unsupported", f"{layer.path} returns {type(output).__name__}, not a "
                                       "tensor: LSUV rescales layers whose output is linear in their weight",
                                       loc=(layer.path,))
            factor = self._decide(index, _moments(torch, output, layer))
            if factor is None:
                return None
            layer.weight.mul_(factor)
            if layer.bias is None:
                return output * factor
            b = layer.bias.detach().reshape(_bias_shape(output, layer))
            return output * factor + b * (1.0 - factor)  # = factor * z + b, what the new weight gives

        return hook

    # -- the SweepProbe protocol (sweep: ProbeBase, around this forward pass)
    def _forward(self) -> None:
        with self.torch.no_grad():
            call(self.model, self.data)

    def result(self) -> Any:
        return self.model


def probe(model: Any, result: Any, data: Any, layers: Sequence[ParamInfo], params: Sequence[ParamInfo]) -> _Probe:
    """LSUV's probe on ``model`` (written in place: ``result`` is the model) and the batch
    ``data``; use it as a context manager (hooks and module modes are restored on exit)."""
    return _Probe(model, data, layers, params)


# ----------------------------------------------------------------------------- diagnostics


def _stream(seed: int, k: int) -> int:
    """The torch seed of stream ``k`` (0: the batch, 1: the upstream gradient) of a diagnose
    ``seed`` (0 to 2**64 - 1): ``2 * seed + k``, wrapped to the 64 bits torch's manual_seed holds."""
    return (2 * int(seed) + k) % 2**64


def random_input(model: Any, shape: tuple[int, ...], seed: int) -> Any:
    """A standard normal batch of ``shape`` in the dtype and on the device of the model's
    first floating parameter (float32 on CPU without one)."""
    torch = require("torch")
    first = next((p for p in model.parameters() if p.is_floating_point()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None else torch.float32
    g = torch.Generator(device=device).manual_seed(_stream(seed, 0))  # the upstream gradient: _stream(seed, 1)
    return torch.randn(shape, generator=g, device=device, dtype=dtype)


def _is_activation(module: Any) -> bool:
    mod = type(module).__module__.rsplit(".", 1)[-1]
    return mod in ("activation", "activations") and not module._parameters and not module._modules


@dataclass
class _Entry:
    path: str
    type: str
    bounds: tuple[float, float] | None
    forward: float | None = None
    saturated: float | None = None
    constant: bool = False
    output: Any = field(default=None, repr=False)


def measure(model: Any, result: Any, data: Any, params: Sequence[ParamInfo], seed: int
            ) -> tuple[list[LayerStats], float | None, float, bool]:
    """One forward and backward pass: per layer (forward order) the output's variance and
    the variance of the loss's gradient with respect to it; the input's variance (None for
    a batch without floating tensors), the upstream gradient's, and whether the model's
    output is the same for every sample."""
    torch = require("torch")
    records = {id(p.handle.tensor): p for p in params}
    entries: dict[int, _Entry] = {}
    for name, module in model.named_modules():
        if module is model:
            continue
        own = [records[id(t)] for t in module._parameters.values() if t is not None and id(t) in records]
        if own:
            entries[id(module)] = _Entry(layer_path(own[0]), type(module).__name__, None)
        elif _is_activation(module):
            entries[id(module)] = _Entry(name, type(module).__name__, saturated_bounds(type(module).__name__,
                                                                                         module))
    order: list[_Entry] = []

    def hook(module: Any, args: Any, output: Any) -> None:
        e = entries[id(module)]
        if e.output is not None:
            return
        y = _tensor_of(output, torch)
        if y is None or not y.is_floating_point():
            return
        e.output = y
        yd = y.detach().to(torch.float64)
        e.forward = float(yd.var(unbiased=False)) if yd.numel() else math.nan
        e.constant = yd.dim() > 0 and yd.shape[0] > 1 and bool((yd == yd[:1]).all())
        if e.bounds is not None:
            lo, hi = e.bounds
            margin = 0.02 * (hi - lo)
            e.saturated = float(((yd <= lo + margin) | (yd >= hi - margin)).to(torch.float64).mean())
        order.append(e)

    hooks = [m.register_forward_hook(hook) for m in model.modules() if id(m) in entries]
    try:
        with torch.enable_grad():
            out = _tensor_of(call(model, data), torch)
            if out is None or not out.requires_grad:
                raise SpecError.single("diagnose_no_layers", f"{type(model).__name__}'s output is not a tensor that "
                                       "depends on its parameters: nothing to differentiate", value=type(out).__name__)
            g = torch.randn(out.shape, generator=torch.Generator(device=out.device).manual_seed(_stream(seed, 1)),
                            device=out.device, dtype=out.dtype)
            wanted = [e for e in order if e.output.requires_grad]
            grads = torch.autograd.grad((out * g).sum(), [e.output for e in wanted], allow_unused=True)
    finally:
        for h in hooks:
            h.remove()
    backward = {id(e): (None if gr is None else float(gr.detach().to(torch.float64).var(unbiased=False)))
                for e, gr in zip(wanted, grads)}
    stats = [LayerStats(e.path, e.type, e.forward if e.forward is not None else math.nan, backward.get(id(e)),
                        e.saturated, e.constant) for e in order]
    for e in order:
        e.output = None
    first = _tensor_of(data, torch)
    input_var = (float(first.detach().to(torch.float64).var(unbiased=False))
                 if first is not None and first.is_floating_point() else None)
    od = out.detach()
    constant = od.dim() > 0 and od.shape[0] > 1 and bool((od == od[:1]).all())
    return stats, input_var, float(g.detach().to(torch.float64).var(unbiased=False)), constant

