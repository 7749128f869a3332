"""Plans for PyTorch modules: the walker and the writer (see :mod:`initspec.backends`).

``walk(module)`` reports every parameter of an ``nn.Module`` once (a tied parameter
under the first name ``named_parameters`` gives it, its other names as ``aliases``) with
its normalized path, layer kind, role, native type and two layouts:

* ``layout`` - the layer's *real* fans, the same in every framework;
* ``native_layout`` - how PyTorch's own initialization reads the stored tensor.

They differ only where torch's reading is not the layer's:

=======================  ========================  ===================  ==========================
layer                    stored shape              real fan_in          torch's fan_in (native)
=======================  ========================  ===================  ==========================
Linear, Conv*d           (out, in/groups, *k)      in/groups · rf       the same
ConvTranspose*d          (in, out/groups, *k)      in · rf (as Flax)    out/groups · rf (dim 1)
Embedding(Bag)           (num, dim)                num (one-hot input)  dim
Bilinear                 (out, in1, in2)           in1 · in2            in1 (``weight.size(1)``)
HF ``Conv1D``            (in, out)                 in                   in (see below)
token/position tables    (1, rows, dim)            rows                 torch's reading
=======================  ========================  ===================  ==========================

Layers outside ``torch.nn`` (:mod:`initspec.adapters.torch._layers`, docs/models.md):

* Hugging Face's ``Conv1D`` (GPT-2, openai-gpt, ImageGPT ...) is kind ``dense`` with its
  weight stored (in, out) = (nx, nf); both layouts read it so (torch's own
  ``_calculate_fan_in_and_fan_out`` would swap the fans of this tensor - Hugging Face never
  applies a fan-based torch init to it, and ``fans: native`` here gives the real fans).
  Its bias carries the layer's fans.
* Norms: torch's own (LayerNorm, GroupNorm, BatchNorm*, InstanceNorm*, RMSNorm), every
  Hugging Face class of the registry ``HF_NORMS`` (LlamaRMSNorm, GemmaRMSNorm, T5LayerNorm
  ...), and any module that passes the structural test (a leaf with a 1-D
  ``weight``/``gamma``/``scale``, an optional same-size ``bias``/``beta``, and an
  ``eps``/``variance_epsilon`` attribute) and whose probe - its ``forward`` run on a copy
  with zeroed parameters - shows it scales by ``weight`` or by ``1 + weight``.  The scale is
  role ``scale``, the shift ``offset``.  A ``1 + weight`` norm (Gemma's) carries
  ``scale_offset=1`` and the note "scale = 1 + weight: the neutral init is zeros"; a plan
  that gives it a law of mean near 1 (``ones``) is an ``offset_norm_ones`` error.
* A parameter held directly by an unrecognised module and named like a learned token or
  position table (``cls_token``, ``position_embeddings``, ``pos_embed`` ...) is kind and
  role ``embedding``, read as (rows, dim) behind leading batch axes.
* A tensor owned by an unrecognised module and by a recognised layer (BERT's
  ``cls.predictions.bias``, tied to ``decoder.bias``) takes the recognised layer's kind.

Fused parameters are split into blocks along dim 0: the q, k, v thirds of
``MultiheadAttention.in_proj_weight``/``in_proj_bias``; the gates i, f, g, o of LSTM and r,
z, n of GRU ``weight_ih*``, ``weight_hh*``, ``bias_ih*``, ``bias_hh*`` (each ``hidden_size``
rows; ``weight_hr*`` of ``proj_size`` LSTMs is not gated).  Biases of dense/conv layers
carry their weight's fans (``layer_fans``/``layer_native_fans``, for ``torch.default_bias``)
and recurrent parameters the ``hidden_size`` (for ``torch.recurrent_default``).

``write(module, rows, transactional=False, checkpoint=None)`` goes through the one plan
writer (:func:`initspec.writer.write`): it checks every row first (meta tensors - reported
once, with the fix -, dtypes, shapes: a problem raises :class:`~initspec.SpecError` before
anything is touched), then fills each row in place under ``no_grad`` with
:func:`initspec.adapters.torch.sample_` and a ``torch.Generator`` on the parameter's device
seeded from the row's seed.  Blocks are drawn into ``narrow`` views.  ``transactional=True``
first copies every touched parameter aside and copies it back if anything fails (an
exception, a fault, Ctrl-C), so the model is byte-identical afterwards; the parameters keep
their storage (a swap of ``param.data`` would be cheaper - 1.16x instead of 1.33x of a
hand-written loop on GPT-2 small - but would leave views, cuDNN's flattened RNN weights and
captured CUDA graphs pointing at the old memory).

.. warning::
   ``nn.Embedding(padding_idx=p)``: torch zeroes row ``p`` after drawing
   (``_fill_padding_idx_with_zero``), and so does this writer, whatever law the plan gives
   the table - the row reads as "no token" (Hugging Face's ``_init_weights`` does the same).
   The plan table notes it on the parameter; the other rows follow the law.

.. warning::
   ``nn.Transformer`` re-initializes every parameter with ``dim > 1`` with
   ``xavier_uniform_`` after its layers' own defaults; ``base: torch-defaults`` gives each
   layer its own default (what ``TransformerEncoderLayer`` used alone gets).  Add a rule
   ``{match: {role: [weight, embedding]}, init: {scheme: torch.xavier_uniform}, fans: native}``
   to reproduce ``nn.Transformer``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from ... import writer
from ...errors import ErrorDetail, SpecError
from ...layout import compute_fans
from ...params import IN0_OUT1, ROLE_BY_LEAF, Block, ParamInfo, normalize_path
from ...sampling import dtype_name, np_dtype
from ...spec import Axes
from .. import _common
from .._common import require
from . import _layers
from .random import _check, check_writable, fill_region, is_dtensor, local_box, sample_

__all__ = ["walk", "write"]

#: Gate order of torch's fused recurrent tensors (torch/nn/modules/rnn.py docstrings:
#: W_ii|W_if|W_ig|W_io for LSTM, W_ir|W_iz|W_in for GRU).
_LSTM_GATES, _GRU_GATES = "ifgo", "rzn"

_WEIGHTED = ("dense", "conv", "conv_transpose", "depthwise_conv")
#: Bilinear (out, in1, in2): the layer sums in1*in2 products; torch bounds by 1/sqrt(in1) only.
_BILINEAR_REAL = Axes(in_axes=(1, 2), out_axes=(0,))
_BILINEAR_NATIVE = Axes(in_axes=(1,), out_axes=(0,), batch_axes=(2,))


@dataclasses.dataclass(frozen=True)
class _Handle:
    """The writer's reference to a parameter: the tensor, and the row torch keeps at zero."""

    tensor: Any
    padding_idx: int | None = None


# ----------------------------------------------------------------------------- walking


def _kind(module: Any, nn: Any) -> str:
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        return "dense"
    if isinstance(module, nn.modules.conv._ConvTransposeNd):  # before _ConvNd: a subclass of it
        return "conv_transpose"
    if isinstance(module, nn.modules.conv._ConvNd):
        return "depthwise_conv" if module.groups > 1 and module.groups == module.in_channels else "conv"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    if isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.LocalResponseNorm,
                           getattr(nn, "RMSNorm", nn.LayerNorm))):
        return "norm"
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return "recurrent"
    if isinstance(module, nn.MultiheadAttention):
        return "attention"
    return "other"


def _role(kind: str, name: str, norm: Any = None) -> str:
    if kind == "norm":
        return norm.role(name) if norm is not None else {"weight": "scale", "bias": "offset"}.get(name, "other")
    if kind == "embedding":
        return "embedding" if name == "weight" else "other"
    if kind == "recurrent":
        if name.startswith("weight_hh"):
            return "recurrent_weight"
        if name.startswith(("weight_ih", "weight_hr")):  # weight_hr: the LSTM output projection
            return "weight"
        return "bias" if name.startswith("bias_") else "other"
    if kind == "attention":
        if name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            return "weight"
        return "bias" if name == "in_proj_bias" else "other"  # bias_k, bias_v: learned key/value tokens
    return ROLE_BY_LEAF.get(name, "other")


def _layouts(module: Any, kind: str, role: str, nn: Any, in_out: bool = False) -> tuple[Any, Any]:
    """(real layout, native layout) of one parameter (see the module docstring's table);
    ``in_out``: a dense weight stored (in, out) (Hugging Face's Conv1D)."""
    if in_out and role == "weight":
        return IN0_OUT1, IN0_OUT1
    if kind == "conv_transpose" and role == "weight":
        return IN0_OUT1, "torch"
    if kind == "embedding" and role == "embedding":
        return IN0_OUT1, "torch"
    if isinstance(module, nn.Bilinear) and role == "weight":
        # torch's Bilinear.reset_parameters bounds by 1/sqrt(weight.size(1)): in2 is a batch axis
        return _BILINEAR_REAL, _BILINEAR_NATIVE
    return "torch", "torch"


def _blocks(module: Any, kind: str, name: str, shape: tuple[int, ...], nn: Any) -> tuple[Block, ...]:
    if kind == "recurrent" and not name.startswith("weight_hr") and shape:
        gates = (_LSTM_GATES if isinstance(module, (nn.LSTM, nn.LSTMCell))
                 else _GRU_GATES if isinstance(module, (nn.GRU, nn.GRUCell)) else "")
        h = module.hidden_size
        if gates and shape[0] == len(gates) * h:
            return tuple(Block(g, 0, i * h, (i + 1) * h) for i, g in enumerate(gates))
    if kind == "attention" and name in ("in_proj_weight", "in_proj_bias"):
        e = shape[0] // 3
        return tuple(Block(g, 0, i * e, (i + 1) * e) for i, g in enumerate("qkv"))
    return ()


def _layer_fans(module: Any, kind: str, nn: Any, in_out: bool = False) -> tuple[Any, Any]:
    """The fans of a dense/conv layer's weight, real and native (None elsewhere)."""
    weight = module._parameters.get("weight") if kind in _WEIGHTED else None
    if weight is None or isinstance(weight, nn.parameter.UninitializedParameter) or weight.dim() < 2:
        return None, None
    shape = tuple(weight.shape)
    real, native = _layouts(module, kind, "weight", nn, in_out)
    return _fans(shape, real), _fans(shape, native)


@functools.lru_cache(maxsize=4096)
def _fans(shape: tuple[int, ...], layout: Any) -> Any:
    """compute_fans, once per (shape, layout): models repeat a few layer shapes many times."""
    return compute_fans(shape, layout)


def walk(model: Any) -> list[ParamInfo]:
    """Every parameter of ``model`` (an ``nn.Module``) as :class:`~initspec.params.ParamInfo`,
    in ``named_parameters`` order, tied parameters once.  Buffers (BatchNorm's running
    statistics) are not parameters and are not reported."""
    torch = require("torch")
    nn = torch.nn
    if not isinstance(model, nn.Module):
        raise SpecError.single("unsupported_model", "the torch plan backend walks a torch.nn.Module",
                               value=type(model).__name__)
    found: dict[int, ParamInfo] = {}  # id(param) -> its record, in discovery order
    aliases: dict[int, list[str]] = {}
    dtypes: dict[Any, str] = {}
    probes: dict[Any, Any] = {}  # the norm probe's verdict per (class, configuration)
    uninitialized = nn.parameter.UninitializedParameter
    for mod_name, module in model.named_modules(remove_duplicate=False):
        own = module._parameters
        if not own:
            continue
        kind = _kind(module, nn)
        norm = None
        in_out = False
        if kind in ("norm", "other"):
            norm = _layers.norm_of(module, nn, torch, probes)
            if norm is not None:
                kind = "norm"
        if kind == "other" and _layers.hf_conv1d(module):
            kind, in_out = "dense", True
        type_name = type(module).__name__
        layer_real = layer_native = None
        if kind in _WEIGHTED:
            layer_real, layer_native = _layer_fans(module, kind, nn, in_out)
        prefix = mod_name.split(".") if mod_name else []
        for name, param in own.items():
            if param is None:
                continue
            p_kind, role = kind, _role(kind, name, norm)
            token = (p_kind == "other" and name in _layers.TOKEN_NAMES and not isinstance(param, uninitialized)
                     and param.dim() >= 1)
            if token:
                p_kind, role = "embedding", "embedding"
            path = normalize_path([*prefix, name], role)
            if id(param) in found:
                aliases.setdefault(id(param), []).append(path)
                first = found[id(param)]
                if first.kind == "other" and p_kind != "other":  # BERT's cls.predictions.bias = decoder.bias
                    real, native = _layouts(module, p_kind, role, nn, in_out)
                    found[id(param)] = _recognised(first, p_kind, role, type_name, real, native, layer_real,
                                                   layer_native)
                continue
            native_path = f"{mod_name}.{name}" if mod_name else name
            if isinstance(param, uninitialized):
                raise SpecError.single(
                    "uninitialized_parameter",
                    f"{native_path} belongs to a lazy module that has not seen an input yet: run one forward pass "
                    "(or give the module its input size) before planning", loc=(native_path,), value=type_name)
            shape = tuple(param.shape)
            if token:
                real, native = _layers.token_layout(shape), "torch"
            else:
                real, native = _layouts(module, p_kind, role, nn, in_out)
            padding = getattr(module, "padding_idx", None) if p_kind == "embedding" and role == "embedding" else None
            dtype = dtypes.get(param.dtype) or dtypes.setdefault(param.dtype, dtype_name(param.dtype))
            notes: tuple[str, ...] = ()
            if padding is not None:
                notes = (f"row {padding} (padding_idx) is zeroed after drawing, as torch's {type_name} does",)
            offset = norm.offset if norm is not None and role == "scale" else 0
            if offset:
                notes = (_layers.OFFSET_NOTE,)
            found[id(param)] = ParamInfo(
                path=path, native_path=native_path, shape=shape, dtype=dtype, kind=p_kind, role=role, type=type_name,
                layout=real, native_layout=native, blocks=_blocks(module, p_kind, name, shape, nn),
                layer_fans=layer_real, layer_native_fans=layer_native,
                hidden_size=module.hidden_size if p_kind == "recurrent" else None,
                notes=notes, scale_offset=offset, handle=_Handle(param, padding))
    for key, names in aliases.items():  # tied parameters: the other names of the tensor
        found[key] = dataclasses.replace(found[key], aliases=tuple(names))
    infos = list(found.values())
    tied = _common.shared_storage(
        _spans(infos), lambda i, j: _same_view(infos[i].handle.tensor, infos[j].handle.tensor),
        lambda i, j: _overlap(infos[i].handle.tensor, infos[j].handle.tensor), lambda i: infos[i].path,
        "views of one storage with different shapes, strides or offsets",
        "give each parameter its own tensor (nn.Parameter(t.detach().clone())), or the very same Parameter to "
        "tie them")
    return _merge_ties(infos, tied) if tied else infos


def _recognised(first: ParamInfo, kind: str, role: str, type_name: str, real: Any, native: Any, layer_real: Any,
                layer_native: Any) -> ParamInfo:
    """A tied parameter first met under an unrecognised module, read as the recognised layer's."""
    return dataclasses.replace(first, kind=kind, role=role, type=type_name, layout=real, native_layout=native,
                               layer_fans=layer_real, layer_native_fans=layer_native)


# ----------------------------------------------------------------------------- shared storage


def _spans(infos: list[ParamInfo]) -> list[tuple[str, int, int, int]]:
    """(device, first byte, end byte, index) of every parameter with elements in memory
    (meta, sparse and DTensor parameters have none to share here)."""
    spans = []
    for i, info in enumerate(infos):
        t = info.handle.tensor
        if t.is_meta or t.layout != _strided() or is_dtensor(t) or not t.numel():
            continue
        try:
            start = t.data_ptr()
        except (RuntimeError, NotImplementedError):  # a tensor subclass without storage
            continue
        last = sum((n - 1) * st for n, st in zip(t.shape, t.stride()))
        spans.append((str(t.device), start, start + (last + 1) * t.element_size(), i))
    return spans


def _strided() -> Any:
    return require("torch").strided


def _same_view(a: Any, b: Any) -> bool:
    """Two parameters that are the same tensor: same memory, shape, strides and dtype."""
    return (a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()
            and a.dtype == b.dtype)


class _Strided:
    """A tensor's address, shape and byte strides, for ``np.shares_memory`` (which reads no element)."""

    def __init__(self, t: Any):
        size = t.element_size()
        self.__array_interface__ = {"shape": tuple(t.shape), "typestr": f"|V{size}", "version": 3,
                                    "data": (t.data_ptr(), False), "strides": tuple(s * size for s in t.stride())}


def _overlap(a: Any, b: Any) -> bool:
    """Whether the elements of ``a`` and ``b`` (on one device) share memory, exactly."""
    import numpy as np

    try:
        return bool(np.shares_memory(np.asarray(_Strided(a)), np.asarray(_Strided(b)), max_work=10**6))
    except np.exceptions.TooHardError:  # pragma: no cover - pathological strides: assume they do
        return True


def _merge_ties(infos: list[ParamInfo], tied: dict[int, int]) -> list[ParamInfo]:
    """Parameters that are the same tensor (another ``nn.Parameter`` on the same memory) as
    one: under the first name, the others as its aliases."""
    merged: dict[int, ParamInfo] = {}
    for other, first in sorted(tied.items()):
        o, f = infos[other], merged.get(first, infos[first])
        if f.kind == "other" and o.kind != "other":
            f = _recognised(f, o.kind, o.role, o.type, o.layout, o.native_layout, o.layer_fans, o.layer_native_fans)
        merged[first] = dataclasses.replace(f, aliases=(*f.aliases, o.path, *o.aliases))
    return [merged.get(i, info) for i, info in enumerate(infos) if i not in tied]


# ----------------------------------------------------------------------------- writing


def _view(row: Any) -> Any:
    t = row.param.handle.tensor
    if row.block is None:
        return t
    return t.narrow(row.block.axis, row.block.start, row.block.stop - row.block.start)


def _meta_error(paths: list[str]) -> ErrorDetail:
    """One error for every parameter on the meta device (a whole model there is common)."""
    n = len(paths)
    names = ", ".join(dict.fromkeys(paths[:5])) + (f" and {n - 5} more" if n > 5 else "")
    return ErrorDetail(
        "meta_tensor", f"{n} parameter{'s are' if n > 1 else ' is'} on the meta device and "
        f"{'have' if n > 1 else 'has'} no storage ({names}): materialise the model first with "
        "model.to_empty(device=...), then apply the plan (initspec.plan works on meta models)",
        loc=(paths[0],), value="meta")


class _Target(writer.InPlaceTarget):
    """The writer's view of an ``nn.Module``: rows are drawn in place into (views of) the
    parameters - native: each with a ``torch.Generator`` on the parameter's device seeded
    from the row's seed; portable: :func:`initspec.portable.draw_stored` values copied in.
    A DTensor parameter (FSDP2, tensor parallel) is written shard by shard, each rank into
    its own (:func:`initspec.adapters.torch.random.fill_region`).  An embedding's
    ``padding_idx`` row is zeroed after drawing."""

    def __init__(self, model: Any, rows: list[Any], seeding: str = "native"):
        super().__init__(model, seeding)
        self.torch = require("torch")
        meta = [row for row in rows if isinstance(row.param.handle, _Handle) and row.param.handle.tensor.is_meta]
        self._first_meta = meta[0] if meta else None
        self._meta = _meta_error([row.param.native_path for row in meta]) if meta else None

    def check(self, row: Any) -> list[ErrorDetail]:
        handle = row.param.handle
        if not isinstance(handle, _Handle):
            raise SpecError.single("wrong_backend", "these plan rows were not made by the torch walker",
                                   loc=(row.path,), value=type(handle).__name__)
        if handle.tensor.is_meta:  # reported once, at the first meta row
            return [self._meta] if row is self._first_meta else []
        try:
            check_writable(handle.tensor)  # (before a fused block's narrow view of it)
            if is_dtensor(handle.tensor):  # no DTensor op: the global tensor checked, the shard's box read
                _check(handle.tensor, row.distribution, None, region=tuple(row.shape))
                local_box(handle.tensor)
            else:
                _check(_view(row), row.distribution, None)
            if self.portable:  # portable values are NumPy arrays: a dtype NumPy lacks (float8) cannot take them
                try:
                    np_dtype(handle.tensor.dtype)
                except SpecError:
                    raise SpecError.single(
                        "unsupported_dtype", f"portable seeding computes values in NumPy, which has no "
                        f"{dtype_name(handle.tensor.dtype)}: use seeding: native for this tensor's plan, or another "
                        "dtype", loc=("dtype",), value=dtype_name(handle.tensor.dtype)) from None
        except SpecError as exc:
            return writer.row_errors(row, exc)
        return []

    def storage(self, row: Any) -> Any:
        return row.param.handle.tensor

    def draw(self, row: Any) -> None:
        t = row.param.handle.tensor
        padding = row.param.handle.padding_idx
        if not self.portable and not is_dtensor(t):
            view = _view(row)
            generator = self.torch.Generator(device=view.device)
            generator.manual_seed(row.seed)
            sample_(view, row.distribution, generator)
            if padding is not None:
                view[padding].zero_()
            return
        start = [0] * t.dim()
        if row.block is not None:
            start[row.block.axis] = row.block.start
        fill_region(t, row.distribution, tuple(row.shape), tuple(start), seed=row.seed,
                    portable_seeding=self.portable, layout=row.param.layout)
        if padding is not None:  # the global row, where this rank holds it
            local, offset = local_box(t)
            if offset[0] <= padding < offset[0] + local.shape[0]:
                local[padding - offset[0]].zero_()

    def backup(self, t: Any) -> Any:
        """A copy of ``t``'s values (of a DTensor: of this rank's shard).  On CPU the buffer
        comes from NumPy, whose allocator asks the kernel for huge pages on large arrays
        (``madvise(MADV_HUGEPAGE)``): backing up GPT-2 small takes ~0.12 s instead of ~0.24 s
        with ``clone`` (benchmarks/bench_plans.py)."""
        t = local_box(t)[0]
        if t.device.type != "cpu":
            return t.detach().clone()
        import numpy as np

        raw = self.torch.from_numpy(np.empty(t.numel() * t.element_size(), dtype=np.uint8))
        return raw.view(t.dtype).view(t.shape).copy_(t.detach())

    def restore(self, t: Any, old: Any) -> None:
        local_box(t)[0].copy_(old)


def write(model: Any, rows: Any, *, transactional: bool = False, checkpoint: writer.Checkpoint | None = None,
          seeding: str = "native") -> Any:
    """Draw every plan row into ``model`` in place (under ``torch.no_grad()``) and return it,
    through the one plan writer (:func:`initspec.writer.write`): every row is checked first;
    ``transactional=True`` copies every touched parameter aside (of a DTensor, this rank's
    shard) and copies it back if anything raises, including KeyboardInterrupt;
    ``checkpoint("draw", path)`` is called before each draw.  ``seeding``: ``native`` or
    ``portable`` (:mod:`initspec.portable`)."""
    torch = require("torch")
    rows = list(rows)
    with torch.no_grad():
        return writer.write(_Target(model, rows, seeding), rows, transactional=transactional, checkpoint=checkpoint)
