"""Plans for Keras 3 models: the walker and the writer (see :mod:`initspec.backends`).

``walk(model)`` reports every parameter of a built Keras layer or model (Sequential,
functional or subclassed, nested to any depth) once, with its normalized path, layer kind,
role, native type and two layouts:

* ``layout`` - the layer's *real* fans, the same in every framework;
* ``native_layout`` - how Keras' own initializers read the stored tensor (what
  ``keras.initializers.compute_fans`` gives, or the einsum axes ``EinsumDense`` hands to
  ``VarianceScaling`` since Keras 3.15).

Paths
    A parameter's path is the chain of **layer names** from the model (excluded) down to the
    layer that owns the variable, then the variable's name - ``mlp/fc1/kernel`` becomes
    ``fc1.weight``.  The top-level model's own name is dropped, so a Keras model whose layers
    are named like the attributes of the same PyTorch module (``fc1``, ``head`` ...) gets the
    same paths.  The chain comes from the layer tree, not from ``variable.path`` (which holds
    the model's name for Sequential and subclassed models but not for functional ones, and
    depends on where a layer was built).  An RNN layer's cell is not a path component
    (``lstm/lstm_cell/kernel`` -> ``lstm.weight``); ``Bidirectional`` keeps its
    ``forward_*``/``backward_*`` layers (``bi.forward_lstm.weight``).  Leaves are renamed by
    role: kernel -> weight, gamma -> scale, beta -> offset, embeddings -> embedding,
    recurrent_kernel -> recurrent_weight; other leaves (``depthwise_kernel``,
    ``pointwise_kernel``) are kept.  ``native_path`` is Keras' ``variable.path``.

Parameters
    The variables each layer created as trainable (``layer._trainable_variables``), so a
    frozen layer (``trainable=False`` after building) still has parameters, while
    BatchNormalization's moving statistics and seed-generator states never are.  A layer
    reached twice (shared between sub-models) is reported once, its other paths as
    ``aliases``.  An unbuilt model, or an unbuilt layer in it that may own weights (a
    layer class of the user's, or a Keras layer whose constructor takes an ``*_initializer``
    argument), is an error - its variables do not exist yet: call the model on an input (or
    give it a ``keras.Input``) first.  Unbuilt weight-free Keras layers (an unused
    ``Flatten``) are passed over.

Kinds, layouts and blocks
    =========================  ====================  =================================  =========================
    layer                      stored shape          real fans                          Keras' reading (native)
    =========================  ====================  =================================  =========================
    Dense                      (in, units)           in / units                         the same
    EinsumDense                from the equation     kernel axes in the input spec /    the same (Keras >= 3.15)
                                                     in the output spec
    MultiHeadAttention,        q/k/v (E, H, D),      E / H·D; output H·D / E            the same
    GroupedQueryAttention      output (H, D, E)      (kind ``attention``)
    Conv1D/2D/3D               (*k, in/g, filters)   rf·in/g / rf·filters               the same
    Conv*DTranspose            (*k, filters, in)     rf·in / rf·filters                 rf·filters / rf·in
    DepthwiseConv1D/2D         (*k, in, m)           rf / rf·in·m (as torch, Flax)      rf·in / rf·m
    SeparableConv1D/2D         depthwise as above;   depthwise: as DepthwiseConv;       conv heuristic on each
                               pointwise (1.., in·m, pointwise: in·m / filters
                               filters)
    Embedding                  (input_dim, dim)      input_dim / dim (one-hot input)    the same
    LSTM/GRU/SimpleRNN (cells) kernel (in, G·U),     kernel in / G·U, recurrent         the same
                               recurrent (U, G·U)    U / G·U (per gate block: in / U)
    =========================  ====================  =================================  =========================

    ``Conv*D`` with ``groups`` equal to the input channels is kind ``depthwise_conv`` with
    Keras' (and torch's) conv fans, as the PyTorch walker reports ``Conv2d(groups=in)``.
    Norm layers (LayerNormalization, BatchNormalization, GroupNormalization,
    RMSNormalization) are kind ``norm``: gamma/scale -> role ``scale``, beta -> ``offset``.
    So is any other layer that passes the structural test of
    :mod:`initspec.adapters.keras._layers` (no sub-layers, one 1-D scale, an optional shift,
    an ``epsilon``) and whose probe (``stateless_call`` with zeroed variables) shows a gain of
    ``scale`` or ``1 + scale`` - keras-hub's Gemma ``RMSNormalization`` is the latter and
    carries ``scale_offset=1`` (neutral init zeros; ``offset_norm_ones`` if a plan gives it ones).
    Recurrent parameters are split into gate blocks along the last axis - LSTM (and
    ConvLSTM) ``i, f, g, o``, GRU ``z, r, n`` (Keras' order, torch's names); GRU's
    ``reset_after`` bias (2, 3U) too, so each block is (2, U) - and carry
    ``hidden_size = units``.  Every parameter of a layer with a kernel carries the kernel's
    fans (``layer_fans``/``layer_native_fans``; for SeparableConv the pointwise kernel's).
    Tensors below 2-D (biases, norm scales) have no *real* fans - as in PyTorch and Flax,
    a fan-based scheme on them needs ``fans: native`` (Keras reads (n, n)).

``write(model, rows, transactional=False, checkpoint=None)`` goes through the one plan
writer (:func:`initspec.writer.write`): it checks every row first (the walker's handles,
shapes, dtypes: a problem raises :class:`~initspec.SpecError` before anything is touched),
then draws each row with :func:`initspec.adapters.keras.sample` seeded with the row's seed
and assigns it (``variable.assign``; a block through ``keras.ops.slice_update`` of the
variable's value).  ``transactional=True`` first copies every variable the rows touch, and
if anything raises (an exception, a fault, Ctrl-C) puts every copy back.

Gate blocks use PyTorch's names in Keras' order: LSTM ``i, f, g, o`` (Keras calls the
cell candidate ``c``) and GRU ``z, r, n`` (Keras' ``h``), so a ``block:`` rule means the
same gate in every framework; only the order inside the fused tensor differs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from ... import portable, writer
from ...errors import ErrorDetail, SpecError
from ...layout import compute_fans, einsum_axes
from ...params import IN0_OUT1, ROLE_BY_LEAF, Block, ParamInfo, normalize_path
from ...spec import Axes
from .._common import require
from . import _layers
from .random import check_dtype, sample

__all__ = ["walk", "write"]

#: Gate order of Keras' fused recurrent tensors (keras/src/layers/rnn/lstm.py, gru.py:
#: kernel[:, :U] is i (LSTM) / z (GRU), and so on).
# Gate blocks are named as torch names them (Keras' cell candidate "c" is torch's "g", GRU's
# "h" is torch's "n"), in Keras' own order, so one plan's `block:` works in both.
_LSTM_GATES, _GRU_GATES = "ifgo", "zrn"
#: Variables that are a layer's kernel (the weight whose fans its bias carries).
_KERNELS = ("kernel", "pointwise_kernel")
#: Real layouts.  Transposed conv (*k, filters, in): inputs on the last axis.
_CONV_TRANSPOSE = Axes(in_axes=(-1,), out_axes=(-2,))
#: Depthwise (*k, in, m): each input channel feeds its own m filters over rf taps.
# (*k, C, m): fan_in = rf (one input channel per filter); fan_out = rf·C·m, the grouped-conv
# reading torch's Conv2d(groups=C) and Flax's Conv(feature_group_count=C) walkers report.
_DEPTHWISE = Axes(in_axes=(), out_axes=(-2, -1))


@dataclass(frozen=True)
class _Handle:
    """The writer's reference to a parameter: the Keras variable."""

    variable: Any


@dataclass
class _Context:
    """What the walk knows about a layer's surroundings."""

    attention: bool = False  # inside MultiHeadAttention / GroupedQueryAttention
    rnn: Any = None  # the RNN layer whose cell this is (the cell is not a path component)


@dataclass
class _Found:
    fields: dict[str, Any]
    aliases: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- classes


class _Classes:
    """The Keras layer classes the walker recognises (public names only)."""

    def __init__(self, keras: Any):
        L = keras.layers
        self.rnn = L.RNN
        self.attention = tuple(c for c in (getattr(L, "MultiHeadAttention", None),
                                           getattr(L, "GroupQueryAttention", None)) if c is not None)
        self.einsum = L.EinsumDense
        self.dense = L.Dense
        self.conv = (L.Conv1D, L.Conv2D, L.Conv3D)
        self.conv_transpose = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
        self.depthwise = (L.DepthwiseConv1D, L.DepthwiseConv2D)
        self.separable = (L.SeparableConv1D, L.SeparableConv2D)
        self.embedding = L.Embedding
        self.norm = tuple(c for c in (L.LayerNormalization, L.BatchNormalization, getattr(L, "GroupNormalization", None),
                                      getattr(L, "RMSNormalization", None)) if c is not None)
        # weights whose initializer is not a constructor argument (RMSNormalization: ones)
        self.fixed_init = tuple(getattr(L, n) for n in ("Attention", "AdditiveAttention") if hasattr(L, n))
        self.lstm_cell = (L.LSTMCell,)
        self.gru_cell = (L.GRUCell,)
        self.cells = (L.LSTMCell, L.GRUCell, L.SimpleRNNCell)
        self.conv_lstm = tuple(getattr(L, n) for n in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D") if hasattr(L, n))
        self.probes: dict[Any, Any] = {}  # the norm probe's verdict per (class, configuration), one walk


def _kind(layer: Any, name: str, ctx: _Context, C: _Classes) -> str:
    if isinstance(layer, C.einsum):
        return "attention" if ctx.attention else "dense"
    if isinstance(layer, C.dense):
        return "dense"
    if isinstance(layer, C.conv_transpose):
        return "conv_transpose"
    if isinstance(layer, C.conv):
        groups = getattr(layer, "groups", 1)
        kernel = getattr(layer, "kernel", None)
        depthwise = groups > 1 and kernel is not None and tuple(kernel.shape)[-2] == 1  # in/groups == 1
        return "depthwise_conv" if depthwise else "conv"
    if isinstance(layer, C.depthwise):
        return "depthwise_conv"
    if isinstance(layer, C.separable):
        return "depthwise_conv" if name == "depthwise_kernel" else "conv"
    if isinstance(layer, C.embedding):
        return "embedding"
    if isinstance(layer, C.norm):
        return "norm"
    if isinstance(layer, C.cells) or (ctx.rnn is not None and isinstance(ctx.rnn, C.conv_lstm)):
        return "recurrent"
    return "other"


def _role(kind: str, name: str) -> str:
    if kind == "norm":
        return {"gamma": "scale", "scale": "scale", "beta": "offset"}.get(name, "other")
    if kind == "embedding":
        return "embedding" if name == "embeddings" else "other"  # lora_embeddings_a/b: other
    if kind == "recurrent":
        return {"kernel": "weight", "recurrent_kernel": "recurrent_weight", "bias": "bias"}.get(name, "other")
    if kind in ("dense", "conv", "conv_transpose", "depthwise_conv", "attention"):
        if name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            return "weight"
        return "bias" if name == "bias" else "other"  # lora_kernel_a/b: other
    return ROLE_BY_LEAF.get(name, "other")


def _layouts(layer: Any, kind: str, name: str, C: _Classes) -> tuple[Any, Any]:
    """(real layout, native layout) of one variable (see the module docstring's table)."""
    if name in ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel", "embeddings"):
        if isinstance(layer, C.einsum):
            axes = einsum_axes(layer.equation)
            return axes, axes
        if kind == "conv_transpose":
            return _CONV_TRANSPOSE, "keras"
        if isinstance(layer, C.depthwise) or name == "depthwise_kernel":
            return _DEPTHWISE, "keras"
        if kind == "embedding":
            return IN0_OUT1, "keras"
        return "keras", "keras"
    # biases, norm scales, unknown variables: no real fans below 2-D (as torch and Flax);
    # "jax" reads >= 2-D tensors as (*k, in, out), like "keras"
    return "jax", "keras"


def _blocks(layer: Any, ctx: _Context, kind: str, name: str, shape: tuple[int, ...], C: _Classes) -> tuple[Block, ...]:
    if kind != "recurrent" or not shape:
        return ()
    gates = (_LSTM_GATES if isinstance(layer, C.lstm_cell) or isinstance(ctx.rnn, C.conv_lstm)
             else _GRU_GATES if isinstance(layer, C.gru_cell) else "")
    units = _hidden_size(layer)
    axis = len(shape) - 1
    if not gates or units is None or shape[axis] != len(gates) * units:
        return ()
    return tuple(Block(g, axis, i * units, (i + 1) * units) for i, g in enumerate(gates))


def _hidden_size(layer: Any) -> int | None:
    size = getattr(layer, "units", None)
    if size is None:
        size = getattr(layer, "filters", None)  # ConvLSTM cells
    return int(size) if isinstance(size, int) else None


def _type_name(layer: Any, ctx: _Context, C: _Classes) -> str:
    """The layer type rules match with ``type``: an RNN layer's own type (LSTM, GRU ...) for
    its cell's variables, the cell's type under the generic ``keras.layers.RNN``."""
    if ctx.rnn is not None and type(ctx.rnn) is not C.rnn:
        return type(ctx.rnn).__name__
    return type(layer).__name__


def _own_variables(layer: Any) -> list[Any]:
    """The variables ``layer`` itself created as trainable (not its sub-layers')."""
    own = getattr(layer, "_trainable_variables", None)
    if own is None:  # pragma: no cover - other Keras versions: trainable own weights
        subs = {id(v) for s in getattr(layer, "_layers", []) for v in s.weights}
        own = [v for v in layer.weights if id(v) not in subs and v.trainable]
    return list(own)


# ----------------------------------------------------------------------------- walking


def walk(model: Any) -> list[ParamInfo]:
    """Every parameter of ``model`` (a built ``keras.layers.Layer``, models included) as
    :class:`~initspec.params.ParamInfo`, in layer order, shared variables once."""
    keras = require("keras")
    if not isinstance(model, keras.layers.Layer):
        raise SpecError.single("unsupported_model", "the Keras plan backend walks a keras.Model or keras.layers.Layer",
                               value=type(model).__name__)
    C = _Classes(keras)
    unbuilt: list[str] = []
    found: dict[int, _Found] = {}
    _visit(keras, model, [], _Context(), C, found, unbuilt, set())
    if unbuilt:
        names = ", ".join(unbuilt[:5]) + (f" and {len(unbuilt) - 5} more" if len(unbuilt) > 5 else "")
        raise SpecError.single(
            "uninitialized_parameter",
            f"{len(unbuilt)} Keras layer{'s have' if len(unbuilt) > 1 else ' has'} not been built yet, so "
            f"{'their' if len(unbuilt) > 1 else 'its'} variables do not exist ({names}): call the model on an input "
            "(or give it a keras.Input / call model.build(input_shape)) before planning",
            loc=(unbuilt[0],), value=type(model).__name__)
    return [ParamInfo(**{**f.fields, "aliases": tuple(f.aliases)}) for f in found.values()]


def _visit(keras: Any, layer: Any, parts: list[str], ctx: _Context, C: _Classes, found: dict[int, _Found],
           unbuilt: list[str], stack: set[int]) -> None:
    if id(layer) in stack:  # pragma: no cover - a layer that contains itself
        return
    if not layer.built and (not parts or _may_own_weights(layer, C)):
        unbuilt.append("/".join(parts) or layer.name)
    own = _own_variables(layer)
    if own:
        _record(keras, layer, parts, ctx, C, own, found)
    inner = _Context(attention=ctx.attention or isinstance(layer, C.attention), rnn=None)
    for child in getattr(layer, "_layers", []):
        if isinstance(layer, C.rnn) and child is getattr(layer, "cell", None):
            _visit(keras, child, parts, _Context(inner.attention, rnn=layer), C, found, unbuilt, stack | {id(layer)})
        else:
            _visit(keras, child, [*parts, child.name], inner, C, found, unbuilt, stack | {id(layer)})


def _may_own_weights(layer: Any, C: _Classes) -> bool:
    """Whether an unbuilt layer would create variables when built: any layer class outside
    Keras, and Keras layers configured with an initializer (Dense, Conv, LSTM, PReLU ...) or
    with fixed-init weights (norms, Attention's scale)."""
    cls = type(layer)
    if not cls.__module__.startswith("keras.") or isinstance(layer, C.norm + C.fixed_init):
        return True
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return True
    return any(name.endswith("initializer") for name in params)


def _record(keras: Any, layer: Any, parts: list[str], ctx: _Context, C: _Classes, own: list[Any],
            found: dict[int, _Found]) -> None:
    kinds = {id(v): _kind(layer, _leaf(v), ctx, C) for v in own}
    norm = None
    if all(k == "other" for k in kinds.values()):  # an RMSNorm-style layer outside keras.layers?
        norm = _layers.norm_of(keras, layer, own, C.probes)
        if norm is not None:
            kinds = {id(v): "norm" for v in own}
    kernel = next((v for name in _KERNELS for v in own if _leaf(v) == name), None)
    layer_real = layer_native = None
    if kernel is not None and len(kernel.shape) >= 2:
        shape = tuple(int(d) for d in kernel.shape)
        real, native = _layouts(layer, kinds[id(kernel)], _leaf(kernel), C)
        layer_real, layer_native = compute_fans(shape, real), compute_fans(shape, native)
    for v in own:
        name = _leaf(v)
        kind = kinds[id(v)]
        role = norm.role(name) if norm is not None else _role(kind, name)
        path = normalize_path([*parts, name], role)
        if id(v) in found:
            if path != found[id(v)].fields["path"]:
                found[id(v)].aliases.append(path)
            continue
        shape = tuple(int(d) for d in v.shape)
        real, native = _layouts(layer, kind, name, C)
        found[id(v)] = _Found(dict(
            path=path, native_path=v.path, shape=shape, dtype=keras.backend.standardize_dtype(v.dtype), kind=kind,
            role=role, type=_type_name(layer, ctx, C), layout=real, native_layout=native,
            blocks=_blocks(layer, ctx, kind, name, shape, C), layer_fans=layer_real, layer_native_fans=layer_native,
            hidden_size=_hidden_size(layer) if kind == "recurrent" else None, handle=_Handle(v),
            **({"scale_offset": norm.offset, "notes": (_layers.OFFSET_NOTE,)}
               if norm is not None and norm.offset and role == "scale" else {})))


def _leaf(variable: Any) -> str:
    return str(variable.name).rsplit("/", 1)[-1]


# ----------------------------------------------------------------------------- writing


class _Target(writer.InPlaceTarget):
    """The writer's view of a Keras model: each row is drawn and assigned to its variable
    (native: the backend's generator, seeded with the row's seed; portable: the NumPy values
    of :func:`initspec.portable.draw_stored` in the canonical order)."""

    def __init__(self, model: Any, seeding: str = "native"):
        super().__init__(model, seeding)
        self.keras = require("keras")

    def check(self, row: Any) -> list[ErrorDetail]:
        handle = row.param.handle
        if not isinstance(handle, _Handle):
            raise SpecError.single("wrong_backend", "these plan rows were not made by the Keras walker",
                                   loc=(row.path,), value=type(handle).__name__)
        shape = tuple(int(d) for d in handle.variable.shape)
        if shape != row.param.shape:
            return [ErrorDetail(
                "shape_mismatch", f"{row.path} was planned with shape {row.param.shape} but the variable now has "
                f"shape {shape}: plan the model again", loc=(row.path,), value=shape)]
        try:
            check_dtype(self.keras, row.distribution, handle.variable.dtype)
        except SpecError as exc:
            return writer.row_errors(row, exc)
        return []

    def storage(self, row: Any) -> Any:
        return row.param.handle.variable

    def draw(self, row: Any) -> None:
        ops, var = self.keras.ops, row.param.handle.variable
        if self.portable:
            value = portable.draw_stored(row.distribution, row.shape, var.dtype, row_seed=row.seed,
                                         layout=row.param.layout)
        else:
            value = sample(row.distribution, row.shape, var.dtype, row.seed)
        if row.block is not None:  # the variable's full new value, with the block replaced
            start = [0] * len(row.param.shape)
            start[row.block.axis] = row.block.start
            value = ops.slice_update(ops.convert_to_tensor(var), start, value)
        var.assign(value)

    def backup(self, storage: Any) -> Any:
        return self.keras.ops.copy(storage.value)  # a copy: convert_to_tensor may alias (TF)

    def restore(self, storage: Any, old: Any) -> None:
        storage.assign(old)


def write(model: Any, rows: Any, *, transactional: bool = False, checkpoint: writer.Checkpoint | None = None,
          seeding: str = "native") -> Any:
    """Draw every plan row into ``model``'s variables and return ``model`` (see
    :func:`initspec.writer.write` for ``transactional`` and ``checkpoint``; ``seeding``:
    ``native`` or ``portable``)."""
    return writer.write(_Target(model, seeding), rows, transactional=transactional, checkpoint=checkpoint)
