"""Plans for JAX/Flax: the walker and the writer (see :mod:`initspec.plans.backends`).

Three forms of model are walked:

``variables`` - what ``Module.init`` returns (``dict`` or ``FrozenDict``)
    Only the ``params`` collection holds parameters (``batch_stats``, ``cache`` ... are left
    alone); a tree without a ``params`` key is read as the params collection itself.  Paths
    drop the collection name: ``params/fc1/kernel`` is ``fc1.weight``.  A variables tree
    holds no layer types, so kinds and roles are **inferred from names and shapes** (table
    below).  Leaves may be ``jax.Array``, NumPy arrays, ``jax.ShapeDtypeStruct`` (planning
    ``jax.eval_shape(module.init, ...)`` without drawing anything) or boxed
    (``nn.Partitioned`` ...).
``Linen(module, variables, *inputs, method=None, rngs=None, **kwargs)`` - the precise form
    The same variables with every submodule's class: the wrapper runs
    ``module.apply(variables, *inputs, mutable=True, ...)`` under ``jax.eval_shape`` (shapes
    only, nothing is computed) inside ``flax.linen.intercept_methods`` and records each
    module's class and configuration (DenseGeneral axes, Conv groups, ConvTranspose
    ``transpose_kernel``, Einsum equation) by its scope path - which is its parameters'
    path.  The inputs are example arrays (only their shapes matter); extra streams for
    ``make_rng`` fall back to ``params`` as in Flax.  A parameter of a module the run did
    not reach is inferred as above.  It is a read-only mapping over ``variables``.
``flax.nnx`` modules
    Walked with ``nnx.iter_graph``: every ``nnx.Param`` (LoRA's ``LoRAParam`` included;
    ``BatchStat``, ``Cache``, RNG state are not parameters) with its owning module's exact
    type.  A Param reached by several paths is reported once, under its first path, with
    the others as ``aliases``.

Kinds, roles and layouts
    =================================  =========================  ======================  =====================
    layer (linen / nnx)                kernel shape               real fans (``layout``)  Flax's own reading
    =================================  =========================  ======================  =====================
    Dense / Linear                     (in, out)                  in / out                the same
    DenseGeneral / LinearGeneral       (*batch, *in, *out)        prod(in) / prod(out),   flattened 2-D kernel:
                                                                  batch axes excluded     prod(batch)·prod(in)
    MultiHeadDotProductAttention /     q, k, v (E, H, D);         E / H·D;  H·D / E       the same (no batch
    MultiHeadAttention (kind           out (H, D, E)                                      dims)
    ``attention``)
    Einsum                             from the equation          kernel letters not in   the conv heuristic
                                                                  the output / in it      on the full shape
    Conv (kind ``depthwise_conv``      (*k, in/g, out)            rf·in/g / rf·out        the same
    when groups = in channels)
    ConvLocal                          (*out_pos, rf·in, out)     rf·in / out per pos.    out_pos counted as rf
    ConvTranspose                      (*k, in, out)              rf·in / rf·out          the same
    ConvTranspose(transpose_kernel)    (*k, out, in)              rf·in / rf·out          rf·out / rf·in
    Embed                              (num, features)            num / features          (jax: num / features)
    =================================  =========================  ======================  =====================

    A layer stacked by ``nn.scan``/``nnx.vmap`` (a kernel with more leading axes than its
    layer makes) gets those axes as batch axes: each slice is one layer, as Flax initializes
    it.  ConvTranspose's *real* fan_in counts the input channels - Flax's own reading too,
    unlike torch and Keras.  Norm layers (LayerNorm, BatchNorm, GroupNorm, RMSNorm,
    InstanceNorm): ``scale`` -> role ``scale``, ``bias`` -> ``offset``.  Every parameter of a
    layer with a kernel carries the kernel's fans (``layer_fans`` / ``layer_native_fans``).

Recurrent cells (kind ``recurrent``, type = the cell's class, ``hidden_size`` = H)
    linen ``LSTMCell``/``OptimizedLSTMCell`` and nnx ``LSTMCell`` keep one Dense per gate:
    ``ii if ig io`` (in, H) are role ``weight``, ``hi hf hg ho`` (H, H) role
    ``recurrent_weight`` with their biases (nnx names ``if`` ``if_``).  linen ``GRUCell``:
    ``ir iz in`` / ``hr hz hn``; ``MGUCell``: ``if in`` / ``hf hn``; ``SimpleCell``:
    ``i`` / ``h``.  Each gate's tensors carry one block named by the gate (covering the
    whole tensor), so ``match: {block: f}`` selects the forget gate in linen, in nnx's fused
    cells and in torch alike (torch and Flax both name the gates i, f, g, o and r, z, n).
    nnx ``OptimizedLSTMCell`` and ``GRUCell`` are fused: ``dense_i`` (in, G·H) and
    ``dense_h`` (H, G·H) split into gate blocks along the last axis.

Inferred kinds (a bare variables tree)
    A module's leaves decide: ``kernel`` 2-D -> Dense; ``kernel`` >= 3-D -> Conv (a
    DenseGeneral/Einsum kernel, a ConvTranspose or a depthwise Conv look the same: these
    rows carry a note; wrap the module in :class:`Linen` for exact kinds); ``embedding``
    2-D -> Embed; ``scale`` (and ``bias``) -> a norm (type BatchNorm when ``batch_stats``
    holds its ``mean``/``var``, else ``Norm``).  Sibling patterns are recognized exactly:
    ``query key value out`` with 3-D kernels -> MultiHeadDotProductAttention; the gate sets
    of LSTMCell, GRUCell, MGUCell and SimpleCell (``i``/``h`` with a square bias-free
    ``h``).  Anything else is kind ``other``, role by leaf name.

Writing
    ``plan_write`` checks every row first (handles, shapes, dtypes: a problem raises
    :class:`~initspec.SpecError` before anything is drawn), then draws each row with
    :func:`initspec.adapters.jax.sample` from the key
    ``fold_in(jax.random.key(seed & 0xFFFFFFFF), seed >> 32)`` of the row's 63-bit seed
    (every bit used, the same key with and without ``jax_enable_x64``); blocks are placed
    with ``.at[...].set``.  Values keep each parameter's dtype and sharding.

    * variables (and :class:`Linen`) are immutable: the result is a **new** tree of the
      same container type (``manifest.params``); the input is never modified, so
      ``transactional`` changes nothing for them.
    * nnx modules are written in place (``Param.set_value``) after validation, row by row.
      ``transactional=True`` draws every row first, then assigns parameter by parameter and
      puts the old values back if anything raises (an exception, a fault, Ctrl-C).

Plans run eagerly, parameter by parameter: ``initspec.apply`` is not meant to be traced
under ``jax.jit`` (the jitted part is each draw).  To initialize inside a jitted ``init``,
give the layers :func:`initspec.adapters.jax.initializer` instead.

.. warning::
   linen gate parameters are separate tensors, so ``fused: true`` on them draws each gate
   alone (orthogonal per gate, as linen's own default); nnx's fused cells draw the fused
   matrix whole (rows orthonormal across gates, as nnx's default).  The same plan therefore
   gives linen and nnx cells different recurrent laws where the frameworks differ too.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ErrorDetail, SpecError
from ...layout import compute_fans
from ...plans.faults import checkpoint
from ...plans.targets import Block, ParamInfo, normalize_path
from ...spec import Axes
from .._common import dtype_name, require

__all__ = ["Linen", "plan_walk", "plan_write"]

#: Flax classes (linen and nnx) -> the family that fixes their parameters' layouts; user
#: subclasses are found through their MRO.  DenseParams: linen OptimizedLSTMCell's per-gate
#: kernels (flax/linen/recurrent.py).
_FAMILIES = {
    "Dense": "dense", "DenseParams": "dense", "Linear": "dense", "DenseGeneral": "dense_general", "LinearGeneral": "dense_general",
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
_ROLE_BY_LEAF = {"kernel": "weight", "weight": "weight", "w": "weight", "bias": "bias", "b": "bias",
                 "scale": "scale", "gamma": "scale", "beta": "offset", "offset": "offset",
                 "embedding": "embedding", "embeddings": "embedding", "recurrent_kernel": "recurrent_weight"}
#: Display order inside one module (Flax sorts names, so ``bias`` would come first).
_LEAF_ORDER = {"kernel": 0, "embedding": 0, "scale": 0, "bias": 1}
_IN0_OUT1 = Axes(in_axes=(0,), out_axes=(1,))  # Embed (num, features): a dense weight on one-hot rows
_AMBIGUOUS = ("inferred as a convolution from the kernel's rank; a DenseGeneral/Einsum kernel, a depthwise Conv or a "
              "ConvTranspose look the same: use initspec.adapters.jax.Linen(module, variables, *inputs) for exact kinds")


@dataclass(frozen=True)
class _Layer:
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
class _Param:
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


@dataclass(frozen=True)
class _TreeHandle:
    """A parameter of a variables tree: its key path (collection included)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class _NnxHandle:
    """A parameter of an nnx module: the ``nnx.Param`` itself."""

    param: Any


def _tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _layer_of(obj: Any) -> _Layer:
    """Describe a linen or nnx module instance (its family from the first Flax class in its MRO)."""
    family = next((_FAMILIES[c.__name__] for c in type(obj).__mro__
                   if c.__module__.startswith("flax.") and c.__name__ in _FAMILIES), "other")
    name = type(obj).__name__
    if family == "dense_general":
        if hasattr(obj, "batch_dims"):  # linen: features, axis, batch_dims
            nb, ni, no = len(_tuple(obj.batch_dims)), len(_tuple(obj.axis)), len(_tuple(obj.features))
        else:  # nnx: in_features, out_features (tuples), batch_axis {axis: size}
            nb, ni, no = len(obj.batch_axis), len(_tuple(obj.in_features)), len(_tuple(obj.out_features))
        return _Layer(name, family, n_batch=nb, n_in=ni, n_out=no, kernel_rank=nb + ni + no)
    if family in ("conv", "conv_transpose", "conv_local"):
        rank = len(_tuple(obj.kernel_size)) + 2 if family != "conv_local" else None
        return _Layer(name, family, groups=int(getattr(obj, "feature_group_count", 1) or 1),
                      transpose_kernel=bool(getattr(obj, "transpose_kernel", False)), kernel_rank=rank)
    if family == "einsum":
        shape = getattr(obj, "shape", None) or getattr(obj, "kernel_shape", None)
        return _Layer(name, family, equation=getattr(obj, "einsum_str", None),
                      kernel_rank=len(shape) if shape is not None else None)
    return _Layer(name, family, kernel_rank=2 if family in ("dense", "embed") else None)


# ----------------------------------------------------------------------------- layouts


def _einsum_axes(equation: str) -> Axes:
    """Kernel axes of an einsum ``"in,kernel->out"``: a kernel letter in the output is an
    output axis, any other an input axis (as Keras' EinsumDense reads them)."""
    lhs, out = equation.replace("...", "").replace(" ", "").split("->")
    kernel = lhs.split(",")[1]
    return Axes(in_axes=tuple(i for i, c in enumerate(kernel) if c not in out),
                out_axes=tuple(i for i, c in enumerate(kernel) if c in out))


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


def _kernel_layouts(layer: _Layer, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """(real, native) layouts of a layer's kernel (or Embed table) of ``shape``."""
    fam, rank = layer.family, layer.kernel_rank
    if fam == "dense_general" and (layer.n_batch, layer.n_in, layer.n_out) != (0, 1, 1):
        nb, ni, no = layer.n_batch, layer.n_in, layer.n_out
        ins, outs = tuple(range(nb, nb + ni)), tuple(range(nb + ni, nb + ni + no))
        real = Axes(in_axes=ins, out_axes=outs, batch_axes=tuple(range(nb)))
        native = Axes(in_axes=tuple(range(nb + ni)), out_axes=outs)  # Flax flattens batch+in together
    elif fam == "einsum" and layer.equation:
        real, native = _einsum_axes(layer.equation), "jax"
    elif fam == "conv_local" and len(shape) >= 3:
        real, native = Axes(in_axes=(-2,), out_axes=(-1,), batch_axes=tuple(range(len(shape) - 2))), "jax"
    elif fam == "conv_transpose" and layer.transpose_kernel:
        real, native = Axes(in_axes=(-1,), out_axes=(-2,)), "jax"
    elif fam == "embed":
        real, native = _IN0_OUT1, "jax"
    else:
        real, native = "jax", "jax"
    if rank is not None and len(shape) > rank:
        extra = len(shape) - rank
        return _stacked(real, rank, extra), _stacked(native, rank, extra)
    return real, native


# ----------------------------------------------------------------------------- classification


def _gate(parent: _Layer, child: str) -> tuple[str, str]:
    """(side, gate) of a cell's sub-Dense: side "i" (input) or "h" (recurrent); gate "" when
    the tensor is fused (nnx ``dense_i``/``dense_h``) or has no gate (SimpleCell)."""
    name = child.rstrip("_")  # nnx LSTMCell's `if_`
    if name in ("dense_i", "dense_h"):
        return name[-1], ""
    if parent.family == "simple":
        return name[:1], ""
    return name[:1], name[1:2]


def _describe(p: _Param, layer: _Layer | None, parent: _Layer | None, kernels: dict[tuple[str, ...], Any],
              hidden: dict[tuple[str, ...], int]) -> ParamInfo:
    """Kind, role, type, layouts and blocks of one parameter."""
    fam = layer.family if layer else "other"
    child = p.module[-1] if p.module else ""
    kernel_shape = kernels.get(p.module)
    kind = _KIND_OF.get(fam, "other")
    typ = layer.type if layer else "Param"
    side = gate = ""
    if parent is not None and parent.family in _RECURRENT and fam == "dense":
        kind, typ = "recurrent", parent.type
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
        role = _ROLE_BY_LEAF.get(p.leaf, "other")
    real = native = "jax"
    if layer is not None and p.leaf in ("kernel", "embedding") and len(p.shape) >= 2:
        real, native = _kernel_layouts(layer, p.shape)
    layer_real = layer_native = None
    if layer is not None and kernel_shape is not None and len(kernel_shape) >= 2:
        lr, ln = _kernel_layouts(layer, kernel_shape)
        layer_real, layer_native = compute_fans(kernel_shape, lr), compute_fans(kernel_shape, ln)
    blocks: tuple[Block, ...] = ()
    h = None
    if kind == "recurrent" and parent is not None:
        h = hidden.get(p.module[:-1])
        gates = _GATES[parent.family]
        if p.shape and gate:
            blocks = (Block(gate, len(p.shape) - 1, 0, p.shape[-1]),)
        elif p.shape and gates and not gate and h and p.shape[-1] == len(gates) * h:
            blocks = tuple(Block(g, len(p.shape) - 1, i * h, (i + 1) * h) for i, g in enumerate(gates))
    notes = (_AMBIGUOUS,) if layer is not None and layer.inferred and fam == "conv" else ()
    return ParamInfo(path=normalize_path(p.parts, role), native_path=p.native_path, shape=p.shape,
                     dtype=dtype_name(p.dtype), kind=kind, role=role, type=typ, layout=real, native_layout=native,
                     blocks=blocks, layer_fans=layer_real, layer_native_fans=layer_native, hidden_size=h,
                     aliases=tuple(normalize_path(a, role) for a in p.aliases), notes=notes, handle=p.handle)


def _cell_hidden(params: list[_Param], layers: dict[tuple[str, ...], _Layer]) -> dict[tuple[str, ...], int]:
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


def _finish(params: list[_Param], layers: dict[tuple[str, ...], _Layer]) -> list[ParamInfo]:
    kernels = {p.module: p.shape for p in params if p.leaf == "kernel"}
    hidden = _cell_hidden(params, layers)
    order = {m: i for i, m in enumerate(dict.fromkeys(p.module for p in params))}  # the walk's module order
    params = sorted(params, key=lambda p: (order[p.module], _LEAF_ORDER.get(p.leaf, 2)))
    return [_describe(p, layers.get(p.module), layers.get(p.parent) if p.parent is not None else None, kernels, hidden)
            for p in params]


# ----------------------------------------------------------------------------- variables trees


def _is_box(leaf: Any) -> bool:
    """A ``flax.core.meta.AxisMetadata`` box (``nn.Partitioned`` ...), recognized without importing flax."""
    return hasattr(leaf, "unbox") and hasattr(leaf, "replace_boxed")


def _unbox(leaf: Any) -> Any:
    return leaf.unbox() if _is_box(leaf) else leaf


def _flatten(tree: Mapping, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out: list[tuple[tuple[Any, ...], Any]] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out += _flatten(value, prefix + (key,))
        else:
            out.append((prefix + (key,), value))
    return out


def _params_of(variables: Mapping) -> tuple[tuple[Any, ...], Mapping]:
    """(key prefix, params tree): the ``params`` collection, or the whole tree if it has none."""
    params = variables.get("params")
    return (("params",), params) if isinstance(params, Mapping) else ((), variables)


def _tree_params(variables: Mapping) -> list[_Param]:
    prefix, tree = _params_of(variables)
    out = []
    for keys, leaf in _flatten(tree):
        value = _unbox(leaf)
        shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
        parts = tuple(str(k) for k in keys)
        native = "/".join(str(k) for k in prefix + keys)
        if shape is None or dtype is None:
            raise SpecError.single(
                "unsupported_model", f"{native} is a {type(value).__name__}, not an array: a variables tree holds "
                "jax.Array, NumPy arrays or jax.ShapeDtypeStruct leaves", loc=(native,), value=type(value).__name__)
        module = parts[:-1]
        out.append(_Param(parts=parts, module=module, parent=module[:-1] if module else None, leaf=parts[-1],
                          shape=tuple(int(d) for d in shape), dtype=dtype, native_path=native,
                          handle=_TreeHandle(prefix + keys)))
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


def _inferred_layers(params: list[_Param], variables: Mapping) -> dict[tuple[str, ...], _Layer]:
    """Layer types from names and shapes alone (see the module docstring)."""
    modules: dict[tuple[str, ...], dict[str, Any]] = {}
    for p in params:
        modules.setdefault(p.module, {})[p.leaf] = p.shape
    stats = variables.get("batch_stats") if "params" in variables else None
    bn = set()
    if isinstance(stats, Mapping):
        leaves = {tuple(str(k) for k in keys) for keys, _ in _flatten(stats)}
        bn = {path[:-1] for path in leaves if path[-1] == "mean" and path[:-1] + ("var",) in leaves}
    layers: dict[tuple[str, ...], _Layer] = {}
    siblings: dict[tuple[str, ...], dict[str, dict[str, Any]]] = {}
    for m, leaves in modules.items():
        if m:
            siblings.setdefault(m[:-1], {})[m[-1]] = leaves
    for parent, children in siblings.items():
        cell = _cell_family(children)
        if cell is not None:
            layers[parent] = _Layer(_CELL_TYPES[cell], cell, inferred=True)
            layers.update({parent + (n,): _Layer("Dense", "dense", kernel_rank=2, inferred=True) for n in children})
        elif _is_attention(children):
            layers[parent] = _Layer("MultiHeadDotProductAttention", "attention", inferred=True)
            for n in ("query", "key", "value"):  # (E, H, D)
                layers[parent + (n,)] = _Layer("DenseGeneral", "dense_general", n_out=2, kernel_rank=3, inferred=True)
            layers[parent + ("out",)] = _Layer("DenseGeneral", "dense_general", n_in=2, kernel_rank=3, inferred=True)
    for m, leaves in modules.items():
        if m in layers:
            continue
        kernel, table = leaves.get("kernel"), leaves.get("embedding")
        if kernel is not None and len(kernel) == 2:
            layers[m] = _Layer("Dense", "dense", kernel_rank=2, inferred=True)
        elif kernel is not None and len(kernel) > 2:
            layers[m] = _Layer("Conv", "conv", kernel_rank=len(kernel), inferred=True)
        elif table is not None and len(table) == 2:
            layers[m] = _Layer("Embed", "embed", kernel_rank=2, inferred=True)
        elif "scale" in leaves:
            layers[m] = _Layer("BatchNorm" if m in bn else "Norm", "norm", inferred=True)
    return layers


class Linen(Mapping):
    """Flax linen ``variables`` together with the class of every submodule of ``module``.

    ``Linen(module, variables, *inputs, method=None, rngs=None, **kwargs)`` runs
    ``module.apply(variables, *inputs, method=method, rngs=rngs, mutable=True, **kwargs)``
    once under ``jax.eval_shape`` (abstractly: nothing is computed or allocated) inside
    ``flax.linen.intercept_methods``, and records each module's class and configuration by
    its scope path.  Plans then know every layer exactly (DenseGeneral's axes, Conv groups,
    ConvTranspose, attention, cells) instead of inferring them from names and shapes::

        variables = model.init(key, x)
        manifest = initspec.apply("init.yaml", Linen(model, variables, x))
        variables = manifest.params          # a new tree; `variables` is unchanged

    It reads as the variables mapping itself (``Linen(...)["params"]``).  ``rngs`` defaults
    to ``{"params": jax.random.key(0)}`` (other streams fall back to it, as in Flax; only
    shapes are traced).
    """

    def __init__(self, module: Any, variables: Any, *inputs: Any, method: Any = None, rngs: Any = None,
                 **kwargs: Any):
        jax = require("jax")
        nn = require("flax.linen")
        if not isinstance(module, nn.Module):
            raise SpecError.single("unsupported_model", "Linen(module, variables, *inputs) takes a flax.linen.Module",
                                   loc=("module",), value=type(module).__name__)
        if not isinstance(variables, Mapping):
            raise SpecError.single("unsupported_model", "Linen(module, variables, *inputs) takes the variables "
                                   "module.init returns", loc=("variables",), value=type(variables).__name__)
        layers: dict[tuple[str, ...], _Layer] = {}

        def record(next_fun: Any, args: Any, kw: Any, context: Any) -> Any:
            scope = context.module.scope
            if scope is not None:
                layers.setdefault(tuple(str(k) for k in scope.path), _layer_of(context.module))
            return next_fun(*args, **kw)

        def run(v: Any) -> Any:
            with nn.intercept_methods(record):
                return module.apply(v, *inputs, method=method, rngs=rngs or {"params": jax.random.key(0)},
                                    mutable=True, **kwargs)

        try:
            jax.eval_shape(run, variables)
        except Exception as exc:  # the user's module failed on these inputs: say so, keep the cause
            raise SpecError.single(
                "bad_inputs", f"could not trace {type(module).__name__}.apply on these inputs to learn its layer "
                f"types ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}): pass example inputs "
                "the module accepts (and its call's keyword arguments)", loc=("inputs",)) from exc
        self.module, self.variables, self.layers = module, variables, layers

    def __getitem__(self, key: Any) -> Any:
        return self.variables[key]

    def __iter__(self) -> Any:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def __repr__(self) -> str:
        return f"Linen({type(self.module).__name__}, {len(self.layers)} modules recorded)"


def _walk_tree(variables: Mapping, recorded: dict[tuple[str, ...], _Layer] | None) -> list[ParamInfo]:
    params = _tree_params(variables)
    layers = _inferred_layers(params, variables)
    if recorded:
        layers.update(recorded)
    return _finish(params, layers)


# ----------------------------------------------------------------------------- nnx


def _nnx_paths(nnx: Any, model: Any, limit: int = 200_000) -> dict[int, list[tuple[str, ...]]]:
    """Every path that reaches each ``nnx.Param`` (shared modules and tied params included);
    empty if this Flax has no ``nnx.graph.get_node_impl``."""
    get_impl = getattr(getattr(nnx, "graph", None), "get_node_impl", None)
    paths: dict[int, list[tuple[str, ...]]] = {}
    if get_impl is None:  # pragma: no cover - other Flax versions: no aliases
        return paths
    stack: list[tuple[tuple[str, ...], Any, frozenset[int]]] = [((), model, frozenset())]
    while stack and limit > 0:
        limit -= 1
        path, node, above = stack.pop()
        if isinstance(node, nnx.Variable):
            if isinstance(node, nnx.Param):
                paths.setdefault(id(node), []).append(path)
            continue
        impl = get_impl(node)
        if impl is None or id(node) in above:
            continue
        for key, child in impl.node_dict(node).items():
            stack.append((path + (str(key),), child, above | {id(node)}))
    return paths


def _walk_nnx(nnx: Any, model: Any) -> list[ParamInfo]:
    modules: dict[tuple[str, ...], Any] = {}
    found: list[tuple[tuple[str, ...], Any]] = []
    for path, node in nnx.iter_graph(model):
        key = tuple(str(k) for k in path)
        if isinstance(node, nnx.Module):
            modules[key] = node
        elif isinstance(node, nnx.Param):
            found.append((key, node))
    layers = {m: _layer_of(obj) for m, obj in modules.items()}
    everywhere = _nnx_paths(nnx, model)

    def owner(prefix: tuple[str, ...]) -> tuple[str, ...]:
        while prefix not in modules and prefix:
            prefix = prefix[:-1]
        return prefix

    params = []
    for path, param in found:
        value = param.get_value()
        dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
        module = owner(path[:-1])
        params.append(_Param(parts=path, module=module, parent=owner(module[:-1]) if module else None, leaf=path[-1],
                             shape=tuple(int(d) for d in np.shape(value)), dtype=dtype, native_path="/".join(path),
                             handle=_NnxHandle(param), aliases=[p for p in everywhere.get(id(param), []) if p != path]))
    return _finish(params, layers)


# ----------------------------------------------------------------------------- the walker


def _flax_module(name: str) -> Any:
    """``flax.nnx`` / ``flax.linen`` if the user has imported it (a model of it exists only then)."""
    return sys.modules.get(name)


def plan_walk(model: Any) -> list[ParamInfo]:
    """Every parameter of ``model`` - Flax variables (dict or FrozenDict), a :class:`Linen`
    wrapper or an ``nnx.Module`` - as :class:`~initspec.plans.ParamInfo`."""
    if isinstance(model, Linen):
        return _walk_tree(model.variables, model.layers)
    nnx = _flax_module("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        return _walk_nnx(nnx, model)
    linen = _flax_module("flax.linen")
    if linen is not None and isinstance(model, linen.Module):
        raise SpecError.single(
            "unsupported_model", "a flax.linen Module holds no parameters: plan its variables (module.init(key, x)), "
            "or initspec.adapters.jax.Linen(module, variables, x) for exact layer kinds", value=type(model).__name__)
    if isinstance(model, Mapping):
        return _walk_tree(model, None)
    raise SpecError.single("unsupported_model", "the JAX plan backend walks Flax variables (a mapping), "
                           "initspec.adapters.jax.Linen(module, variables, *inputs) or an nnx.Module",
                           value=type(model).__name__)


# ----------------------------------------------------------------------------- writing


def _key(jax: Any, seed: int) -> Any:
    """The row's key from all 63 bits of its seed.  ``jax.random.key`` keeps only the low 32
    bits of an int unless ``jax_enable_x64`` is on, so the high bits are folded in: the same
    key in both modes."""
    return jax.random.fold_in(jax.random.key(seed & 0xFFFFFFFF), seed >> 32)


def _checked(jax: Any, adapter: Any, row: Any, value: Any, errors: list[ErrorDetail]) -> bool:
    """Shape and dtype of the parameter's current ``value`` against the row (problems appended)."""
    shape = tuple(int(d) for d in np.shape(value))
    if shape != row.param.shape:
        errors.append(ErrorDetail(
            "shape_mismatch", f"{row.path} was planned with shape {row.param.shape} but the parameter now has shape "
            f"{shape}: plan the model again", loc=(row.path,), value=shape))
        return False
    dt = np.dtype(value.dtype)
    if np.dtype(jax.dtypes.canonicalize_dtype(dt)) != dt:
        errors.append(ErrorDetail(
            "unsupported_dtype", f"{row.path} is {dt.name}, which JAX only holds with jax_enable_x64: turn it on "
            "(jax.config.update('jax_enable_x64', True)) or cast the parameter", loc=(row.path,), value=dt.name))
        return False
    try:
        adapter._check_dtype(row.distribution, dt)
    except SpecError as exc:
        errors += [ErrorDetail(e.code, f"{row.path}: {e.message}", loc=(row.path,), value=e.value) for e in exc.errors]
        return False
    return True


def _raise(errors: list[ErrorDetail]) -> None:
    if errors:
        raise SpecError(errors, title=f"{len(errors)} problem{'s' if len(errors) != 1 else ''} writing the plan "
                                      "into the model (nothing was changed)")


def _draw(jax: Any, adapter: Any, row: Any, current: Any) -> Any:
    """One row's values, in the parameter's dtype (a sharded parameter's full row is drawn
    straight into its sharding)."""
    sharding = getattr(current, "sharding", None)
    if row.block is None and sharding is not None and len(getattr(sharding, "device_set", ())) > 1:
        return adapter.sample(row.distribution, _key(jax, row.seed), row.shape, current.dtype, out_sharding=sharding)
    # `sample` is the package's module global (tests patch it)
    return adapter.sample(row.distribution, _key(jax, row.seed), row.shape, current.dtype)


def _placed(jax: Any, base: Any, row: Any, value: Any) -> Any:
    """The parameter's new full value: ``value``, or ``base`` with the row's block set."""
    if row.block is None:
        return value
    idx: list[Any] = [slice(None)] * len(row.param.shape)
    idx[row.block.axis] = slice(row.block.start, row.block.stop)
    return jax.numpy.asarray(base).at[tuple(idx)].set(value)


def _fit(jax: Any, value: Any, current: Any) -> Any:
    """``value`` on the devices (sharding) ``current`` lives on."""
    sharding = getattr(current, "sharding", None)
    if isinstance(current, jax.Array) and sharding is not None and value.sharding != sharding:
        return jax.device_put(value, sharding)
    return value


def _lookup(tree: Any, keys: tuple[Any, ...]) -> Any:
    for k in keys:
        tree = tree[k]
    return tree


def _rebuilt(node: Any, new: dict[tuple[Any, ...], Any], prefix: tuple[Any, ...] = ()) -> Any:
    """A copy of the tree's mappings (same types) with the leaves in ``new`` replaced."""
    if isinstance(node, Mapping):
        items = {k: _rebuilt(v, new, prefix + (k,)) for k, v in node.items()}
        if type(node) is dict:
            return items
        try:
            return type(node)(items)  # FrozenDict and other immutable mappings
        except TypeError:  # pragma: no cover - a mapping type that cannot be built from a dict
            return items
    if prefix in new:
        return node.replace_boxed(new[prefix]) if _is_box(node) else new[prefix]
    return node


def _write_tree(jax: Any, adapter: Any, model: Any, rows: list[Any]) -> Any:
    variables = model.variables if isinstance(model, Linen) else model
    jobs, errors = [], []
    for row in rows:
        handle = row.param.handle
        if not isinstance(handle, _TreeHandle):
            raise SpecError.single("wrong_backend", "these plan rows were not made by the JAX walker for variables",
                                   loc=(row.path,), value=type(handle).__name__)
        try:
            current = _unbox(_lookup(variables, handle.keys))
        except (KeyError, TypeError):
            errors.append(ErrorDetail("shape_mismatch", f"{row.path} ({'/'.join(map(str, handle.keys))}) is not in "
                                      "these variables: plan them again", loc=(row.path,)))
            continue
        if _checked(jax, adapter, row, current, errors):
            jobs.append((row, handle.keys, current))
    _raise(errors)
    new: dict[tuple[Any, ...], Any] = {}
    currents = {}
    for row, keys, current in jobs:  # the input is never written: a failure leaves it as it was
        checkpoint("draw", row.path)
        value = _draw(jax, adapter, row, current)
        base = new.get(keys)
        if base is None and row.block is not None:  # the first block of a fused parameter
            base = current if hasattr(current, "__array__") else jax.numpy.zeros(current.shape, current.dtype)
        new[keys] = _placed(jax, base, row, value)
        currents[keys] = current
    return _rebuilt(variables, {k: _fit(jax, v, currents[k]) for k, v in new.items()})


def _write_nnx(jax: Any, adapter: Any, model: Any, rows: list[Any], transactional: bool) -> Any:
    jobs, errors = [], []
    for row in rows:
        handle = row.param.handle
        if not isinstance(handle, _NnxHandle):
            raise SpecError.single("wrong_backend", "these plan rows were not made by the JAX walker for nnx modules",
                                   loc=(row.path,), value=type(handle).__name__)
        if _checked(jax, adapter, row, handle.param.get_value(), errors):
            jobs.append((row, handle.param))
    _raise(errors)
    if not transactional:
        for row, param in jobs:
            checkpoint("draw", row.path)
            current = param.get_value()
            param.set_value(_fit(jax, _placed(jax, current, row, _draw(jax, adapter, row, current)), current))
        return model
    staged: dict[int, list[Any]] = {}  # id(param) -> [param, path, new value]: every draw first
    for row, param in jobs:
        checkpoint("draw", row.path)
        entry = staged.setdefault(id(param), [param, row.param.path, None])
        current = param.get_value()
        entry[2] = _placed(jax, entry[2] if entry[2] is not None else current, row, _draw(jax, adapter, row, current))
    backups: list[tuple[Any, Any]] = []
    try:
        for param, path, value in staged.values():
            checkpoint("commit", path)
            old = param.get_value()
            backups.append((param, old))
            param.set_value(_fit(jax, value, old))
    except BaseException as exc:
        lost = []
        for param, old in reversed(backups):  # every one, even if restoring another fails
            try:
                param.set_value(old)
            except Exception:  # noqa: BLE001 - keep restoring the rest, then re-raise the original
                lost.append(param)
        if lost and hasattr(exc, "add_note"):
            exc.add_note(f"initspec could not restore {len(lost)} parameter(s) (set_value failed again)")
        raise
    return model


def plan_write(model: Any, rows: Any, *, transactional: bool = False) -> Any:
    """Draw every plan row: into a **new** variables tree (returned; ``model`` is untouched)
    for Flax variables and :class:`Linen`, in place for an ``nnx.Module`` (returned).

    nnx, default: check everything, then draw and assign row by row (a failure while
    drawing leaves the rows assigned so far changed).  ``transactional=True``: draw every
    row first, then assign; if an assignment fails, the parameters already assigned get
    their old values back.
    """
    jax = require("jax")
    adapter = importlib.import_module(__package__)  # its `sample` global: tests patch it
    rows = list(rows)
    nnx = _flax_module("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        return _write_nnx(jax, adapter, model, rows, transactional)
    if isinstance(model, Mapping):
        return _write_tree(jax, adapter, model, rows)
    raise SpecError.single("unsupported_model", "the JAX plan backend writes Flax variables, Linen(...) or an "
                           "nnx.Module", value=type(model).__name__)
