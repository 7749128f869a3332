"""What the JAX plan walker knows about Flax layers (linen and nnx): their families, the
layouts of their kernels, how their parameters are classified, and - for a bare variables
tree - how layer types are inferred from names and shapes.  The rules are documented in
:mod:`initspec.adapters.jax.model`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...layout import compute_fans, einsum_axes
from ...params import IN0_OUT1, ROLE_BY_LEAF, Block, ParamInfo, normalize_path
from ...sampling import dtype_name
from ...spec import Axes

#: Flax classes (linen and nnx) -> the family that fixes their parameters' layouts; user
#: subclasses are found through their MRO.  DenseParams: linen OptimizedLSTMCell's per-gate
#: kernels (flax/linen/recurrent.py).
_FAMILIES = {
    "Dense": "dense", "DenseParams": "dense", "Linear": "dense", "DenseGeneral": "dense_general",
    "LinearGeneral": "dense_general",
    "Einsum": "einsum", "Conv": "conv", "ConvLocal": "conv_local", "ConvTranspose": "conv_transpose",
    "Embed": "embed", "LayerNorm": "norm", "BatchNorm": "norm", "GroupNorm": "norm", "RMSNorm": "norm",
    "InstanceNorm": "norm", "MultiHeadDotProductAttention": "attention", "MultiHeadAttention": "attention",
    "SelfAttention": "attention", "LSTMCell": "lstm", "OptimizedLSTMCell": "lstm", "GRUCell": "gru",
    "MGUCell": "mgu", "SimpleCell": "simple", "LoRA": "lora"}
_KIND_OF = {"dense": "dense", "dense_general": "dense", "einsum": "dense", "conv": "conv", "conv_local": "conv",
            "conv_transpose": "conv_transpose", "embed": "embedding", "norm": "norm", "attention": "attention",
            "lstm": "recurrent", "gru": "recurrent", "mgu": "recurrent", "simple": "recurrent"}
_RECURRENT = ("lstm", "gru", "mgu", "simple")
#: Gate letters of each cell family (flax/linen/recurrent.py, flax/nnx/nn/recurrent.py: the
#: per-gate Dense names, and the split order of the fused cells).
_GATES = {"lstm": "ifgo", "gru": "rzn", "mgu": "fn", "simple": ""}
#: Sibling Dense names of linen cells (and nnx LSTMCell, ``if_`` read as ``if``).
_GATE_SETS = {"lstm": {"ii", "if", "ig", "io", "hi", "hf", "hg", "ho"},
              "gru": {"ir", "iz", "in", "hr", "hz", "hn"}, "mgu": {"if", "in", "hf", "hn"}}
_CELL_TYPES = {"lstm": "LSTMCell", "gru": "GRUCell", "mgu": "MGUCell", "simple": "SimpleCell"}
#: Display order inside one module (Flax sorts names, so ``bias`` would come first).
_LEAF_ORDER = {"kernel": 0, "embedding": 0, "scale": 0, "bias": 1}
_AMBIGUOUS = ("inferred as a convolution from the kernel's rank; a DenseGeneral/Einsum kernel, a depthwise Conv or a "
              "ConvTranspose look the same: use initspec.adapters.jax.Linen(module, variables, *inputs) for exact "
              "kinds")


@dataclass(frozen=True)
class Layer:
    """A Flax module as the walker needs it: its class name, family and layout attributes."""

    type: str
    family: str = "other"
    n_batch: int = 0  # DenseGeneral kernel axes: (*batch, *in, *out)
    n_in: int = 1
    n_out: int = 1
    groups: int = 1
    transpose_kernel: bool = False
    equation: str | None = None
    kernel_rank: int | None = None  # the kernel's rank as one layer makes it (more axes: stacked)
    inferred: bool = False


@dataclass
class Param:
    """One parameter found by a walk, before classification."""

    parts: tuple[str, ...]  # normalized-path components (collection dropped)
    module: tuple[str, ...]  # the owning module's path
    parent: tuple[str, ...] | None  # the owning module's parent module
    leaf: str
    shape: tuple[int, ...]
    dtype: Any
    native_path: str
    handle: Any
    aliases: list[tuple[str, ...]] = field(default_factory=list)  # the other paths of a shared Param


def _tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def layer_of(obj: Any) -> Layer:
    """Describe a linen or nnx module instance (its family from the first Flax class in its MRO)."""
    family = next((_FAMILIES[c.__name__] for c in type(obj).__mro__
                   if c.__module__.startswith("flax.") and c.__name__ in _FAMILIES), "other")
    name = type(obj).__name__
    if family == "dense_general":
        if hasattr(obj, "batch_dims"):  # linen: features, axis, batch_dims
            nb, ni, no = len(_tuple(obj.batch_dims)), len(_tuple(obj.axis)), len(_tuple(obj.features))
        else:  # nnx: in_features, out_features (tuples), batch_axis {axis: size}
            nb, ni, no = len(obj.batch_axis), len(_tuple(obj.in_features)), len(_tuple(obj.out_features))
        return Layer(name, family, n_batch=nb, n_in=ni, n_out=no, kernel_rank=nb + ni + no)
    if family in ("conv", "conv_transpose", "conv_local"):
        rank = len(_tuple(obj.kernel_size)) + 2 if family != "conv_local" else None
        return Layer(name, family, groups=int(getattr(obj, "feature_group_count", 1) or 1),
                      transpose_kernel=bool(getattr(obj, "transpose_kernel", False)), kernel_rank=rank)
    if family == "einsum":
        shape = getattr(obj, "shape", None) or getattr(obj, "kernel_shape", None)
        return Layer(name, family, equation=getattr(obj, "einsum_str", None),
                      kernel_rank=len(shape) if shape is not None else None)
    return Layer(name, family, kernel_rank=2 if family in ("dense", "embed") else None)


# ----------------------------------------------------------------------------- layouts


def _stacked(layout: Any, rank: int, extra: int) -> Any:
    """``layout`` of one layer's ``rank``-D kernel, moved behind ``extra`` leading (stacked) axes."""
    if extra <= 0:
        return layout
    if not isinstance(layout, Axes):  # "jax": (*k, in, out)
        layout = Axes(in_axes=(rank - 2,), out_axes=(rank - 1,))

    def shift(axes: tuple[int, ...]) -> tuple[int, ...]:
        return tuple((a % rank) + extra for a in axes)

    return Axes(in_axes=shift(layout.in_axes), out_axes=shift(layout.out_axes),
                batch_axes=tuple(range(extra)) + shift(layout.batch_axes))


def _kernel_layouts(layer: Layer, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """(real, native) layouts of a layer's kernel (or Embed table) of ``shape``."""
    fam, rank = layer.family, layer.kernel_rank
    if fam == "dense_general" and (layer.n_batch, layer.n_in, layer.n_out) != (0, 1, 1):
        nb, ni, no = layer.n_batch, layer.n_in, layer.n_out
        ins, outs = tuple(range(nb, nb + ni)), tuple(range(nb + ni, nb + ni + no))
        real = Axes(in_axes=ins, out_axes=outs, batch_axes=tuple(range(nb)))
        native = Axes(in_axes=tuple(range(nb + ni)), out_axes=outs)  # Flax flattens batch+in together
    elif fam == "einsum" and layer.equation:
        real, native = einsum_axes(layer.equation), "jax"
    elif fam == "conv_local" and len(shape) >= 3:
        real, native = Axes(in_axes=(-2,), out_axes=(-1,), batch_axes=tuple(range(len(shape) - 2))), "jax"
    elif fam == "conv_transpose" and layer.transpose_kernel:
        real, native = Axes(in_axes=(-1,), out_axes=(-2,)), "jax"
    elif fam == "embed":
        real, native = IN0_OUT1, "jax"  # Embed (num, features): a dense weight on one-hot rows
    else:
        real, native = "jax", "jax"
    if rank is not None and len(shape) > rank:
        extra = len(shape) - rank
        return _stacked(real, rank, extra), _stacked(native, rank, extra)
    return real, native


# ----------------------------------------------------------------------------- classification


def _gate(parent: Layer, child: str) -> tuple[str, str]:
    """(side, gate) of a cell's sub-Dense: side "i" (input) or "h" (recurrent); gate "" when
    the tensor is fused (nnx ``dense_i``/``dense_h``) or has no gate (SimpleCell)."""
    name = child.rstrip("_")  # nnx LSTMCell's `if_`
    if name in ("dense_i", "dense_h"):
        return name[-1], ""
    if parent.family == "simple":
        return name[:1], ""
    return name[:1], name[1:2]


def _describe(p: Param, layer: Layer | None, parent: Layer | None, kernels: dict[tuple[str, ...], Any],
              hidden: dict[tuple[str, ...], int]) -> ParamInfo:
    """Kind, role, type, layouts and blocks of one parameter."""
    fam = layer.family if layer else "other"
    child = p.module[-1] if p.module else ""
    kernel_shape = kernels.get(p.module)
    kind = _KIND_OF.get(fam, "other")
    typ = layer.type if layer else "Param"
    side = gate = ""
    cell, cell_path = (layer, p.module) if fam in _RECURRENT else (None, None)  # a cell's own parameter
    if parent is not None and parent.family in _RECURRENT and fam == "dense":  # a cell's per-gate/fused Dense
        kind, typ = "recurrent", parent.type
        cell, cell_path = parent, p.parent
        side, gate = _gate(parent, child)
    elif parent is not None and parent.family == "attention" and fam in ("dense", "dense_general"):
        kind, typ = "attention", parent.type
    if kind == "conv" and fam == "conv" and layer.groups > 1 and kernel_shape is not None and kernel_shape[-2] == 1:
        kind = "depthwise_conv"  # groups == input channels (as torch's Conv2d(groups=in))
    if kind == "norm":
        role = {"scale": "scale", "bias": "offset"}.get(p.leaf, "other")
    elif fam == "embed":
        role = "embedding" if p.leaf == "embedding" else "other"
    elif fam == "lora":
        role = "other"
    elif p.leaf == "kernel":
        role = "recurrent_weight" if side == "h" else "weight"
    else:
        role = ROLE_BY_LEAF.get(p.leaf, "other")
    real = native = "jax"
    if layer is not None and p.leaf in ("kernel", "embedding") and len(p.shape) >= 2:
        real, native = _kernel_layouts(layer, p.shape)
    layer_real = layer_native = None
    if layer is not None and kernel_shape is not None and len(kernel_shape) >= 2:
        lr, ln = _kernel_layouts(layer, kernel_shape)
        layer_real, layer_native = compute_fans(kernel_shape, lr), compute_fans(kernel_shape, ln)
    blocks: tuple[Block, ...] = ()
    h = None
    if cell is not None:
        h = hidden.get(cell_path)
        gates = _GATES[cell.family] if cell is parent else ""
        if p.shape and gate:
            blocks = (Block(gate, len(p.shape) - 1, 0, p.shape[-1]),)
        elif p.shape and gates and not gate and h and p.shape[-1] == len(gates) * h:
            blocks = tuple(Block(g, len(p.shape) - 1, i * h, (i + 1) * h) for i, g in enumerate(gates))
    notes = (_AMBIGUOUS,) if layer is not None and layer.inferred and fam == "conv" else ()
    return ParamInfo(path=normalize_path(p.parts, role), native_path=p.native_path, shape=p.shape,
                     dtype=dtype_name(p.dtype), kind=kind, role=role, type=typ, layout=real, native_layout=native,
                     blocks=blocks, layer_fans=layer_real, layer_native_fans=layer_native, hidden_size=h,
                     aliases=tuple(normalize_path(a, role) for a in p.aliases), notes=notes, handle=p.handle)


def _cell_hidden(params: list[Param], layers: dict[tuple[str, ...], Layer]) -> dict[tuple[str, ...], int]:
    """The hidden size H of every recurrent cell, from its recurrent kernel: a gate's (H, H) or
    a fused ``dense_h`` (H, G·H)."""
    out: dict[tuple[str, ...], int] = {}
    for p in params:
        parent = layers.get(p.parent) if p.parent is not None else None
        if parent is None or parent.family not in _RECURRENT or p.leaf != "kernel" or len(p.shape) < 2:
            continue
        side, gate = _gate(parent, p.module[-1])
        if side == "h":
            out[p.parent] = p.shape[-2]
    return out


def describe_all(params: list[Param], layers: dict[tuple[str, ...], Layer]) -> list[ParamInfo]:
    """Every parameter as a ParamInfo, in the walk's module order (kernel first in a module)."""
    kernels = {p.module: p.shape for p in params if p.leaf == "kernel"}
    hidden = _cell_hidden(params, layers)
    order = {m: i for i, m in enumerate(dict.fromkeys(p.module for p in params))}  # the walk's module order
    params = sorted(params, key=lambda p: (order[p.module], _LEAF_ORDER.get(p.leaf, 2)))
    return [_describe(p, layers.get(p.module), layers.get(p.parent) if p.parent is not None else None, kernels, hidden)
            for p in params]


# ----------------------------------------------------------------------------- inferred layer types


def flatten(tree: Mapping, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out: list[tuple[tuple[Any, ...], Any]] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out += flatten(value, prefix + (key,))
        else:
            out.append((prefix + (key,), value))
    return out


def _cell_family(children: dict[str, dict[str, Any]]) -> str | None:
    """The linen cell whose per-gate Dense names (and shapes) ``children`` are, if any."""
    names = set(children)
    if not all("kernel" in leaves for leaves in children.values()):
        return None
    square = all(len(l["kernel"]) == 2 and l["kernel"][0] == l["kernel"][1]
                 for n, l in children.items() if n.startswith("h"))
    for family, gate_set in _GATE_SETS.items():
        if names == gate_set and square:
            return family
    if names == {"i", "h"} and square and "bias" not in children["h"]:  # SimpleCell: h has no bias
        return "simple"
    return None


def _is_attention(children: dict[str, dict[str, Any]]) -> bool:
    kernels = {n: children[n].get("kernel") for n in ("query", "key", "value", "out") if n in children}
    return len(kernels) == 4 and all(k is not None and len(k) == 3 for k in kernels.values())


def inferred_layers(params: list[Param], variables: Mapping) -> dict[tuple[str, ...], Layer]:
    """Layer types from names and shapes alone (see the module docstring)."""
    modules: dict[tuple[str, ...], dict[str, Any]] = {}
    for p in params:
        modules.setdefault(p.module, {})[p.leaf] = p.shape
    stats = variables.get("batch_stats") if "params" in variables else None
    bn = set()
    if isinstance(stats, Mapping):
        leaves = {tuple(str(k) for k in keys) for keys, _ in flatten(stats)}
        bn = {path[:-1] for path in leaves if path[-1] == "mean" and path[:-1] + ("var",) in leaves}
    layers: dict[tuple[str, ...], Layer] = {}
    siblings: dict[tuple[str, ...], dict[str, dict[str, Any]]] = {}
    for m, leaves in modules.items():
        if m:
            siblings.setdefault(m[:-1], {})[m[-1]] = leaves
    for parent, children in siblings.items():
        cell = _cell_family(children)
        if cell is not None:
            layers[parent] = Layer(_CELL_TYPES[cell], cell, inferred=True)
            layers.update({parent + (n,): Layer("Dense", "dense", kernel_rank=2, inferred=True) for n in children})
        elif _is_attention(children):
            layers[parent] = Layer("MultiHeadDotProductAttention", "attention", inferred=True)
            for n in ("query", "key", "value"):  # (E, H, D)
                layers[parent + (n,)] = Layer("DenseGeneral", "dense_general", n_out=2, kernel_rank=3, inferred=True)
            layers[parent + ("out",)] = Layer("DenseGeneral", "dense_general", n_in=2, kernel_rank=3, inferred=True)
    for m, leaves in modules.items():
        if m in layers:
            continue
        kernel, table = leaves.get("kernel"), leaves.get("embedding")
        if kernel is not None and len(kernel) == 2:
            layers[m] = Layer("Dense", "dense", kernel_rank=2, inferred=True)
        elif kernel is not None and len(kernel) > 2:
            layers[m] = Layer("Conv", "conv", kernel_rank=len(kernel), inferred=True)
        elif table is not None and len(table) == 2:
            layers[m] = Layer("Embed", "embed", kernel_rank=2, inferred=True)
        elif "scale" in leaves:
            layers[m] = Layer("BatchNorm" if m in bn else "Norm", "norm", inferred=True)
    return layers
