"""Layouts: which axes of a tensor index inputs, outputs and the receptive field.

=========  =========================  ===================================================
layout     weight layout              fans
=========  =========================  ===================================================
torch      (out, in, *kernel)         fan_in = shape[1]·rf, fan_out = shape[0]·rf
keras      (*kernel, in, out)         fan_in = shape[-2]·rf, fan_out = shape[-1]·rf
jax/flax   (*kernel, in, out)         as keras
Axes(...)  explicit axis roles        prod(in_axes)·rf, prod(out_axes)·rf; batch axes
                                      count toward neither (JAX's convention)
=========  =========================  ===================================================

rf is the product of every remaining axis (the receptive field).

Degenerate shapes follow each framework: with ``keras`` a 0-D tensor has fans (1, 1) and a
1-D tensor of n elements (n, n), as ``keras.initializers`` compute them; ``torch`` and
``jax`` have no fans below 2-D (torch raises, JAX needs ``in_axis``), so fan-based schemes
raise :class:`~initspec.ShapeError` there - give ``axes`` or use a fan-free scheme for
biases.

Transposed convolutions: torch stores ``ConvTranspose`` weights as (in, out/groups, *k) and
reads its fans as if they were (out, in, *k), so ``layout="torch"`` gives fan_in =
(out/groups)·rf - exactly what torch's own default init uses.  Keras (``(*k, filters, in)``)
does the same with ``layout="keras"``, while Flax's ``ConvTranspose`` kernel is
(*k, in, out), so ``layout="flax"`` counts input channels.  Pass :class:`~initspec.Axes`
to choose the other convention deliberately.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Union

from .errors import ShapeError, SpecError, did_you_mean
from .spec import Axes

__all__ = ["LayoutName", "Layout", "Fans", "LAYOUTS", "normalize_layout", "compute_fans", "check_shape", "MAX_DIM",
           "output_axes", "einsum_axes"]

LayoutName = Literal["torch", "keras", "jax", "flax"]
LAYOUTS: tuple[str, ...] = ("torch", "keras", "jax", "flax")
#: A layout name or explicit axis roles.
Layout = Union[LayoutName, Axes]


@dataclass(frozen=True)
class Fans:
    """The fans of one tensor and the axes they were read from (non-negative indices)."""

    fan_in: int
    fan_out: int
    in_axes: tuple[int, ...]
    out_axes: tuple[int, ...]
    batch_axes: tuple[int, ...]
    receptive_axes: tuple[int, ...]
    receptive_field: int
    note: str = ""

    def fan(self, mode: str) -> float:
        """The n of ``variance = scale / n`` for a fan mode."""
        if mode == "fan_in":
            return float(self.fan_in)
        if mode == "fan_out":
            return float(self.fan_out)
        if mode == "fan_avg":
            return (self.fan_in + self.fan_out) / 2.0
        if mode == "fan_geo_avg":
            return math.sqrt(self.fan_in * self.fan_out)
        raise ValueError(f"unknown fan mode {mode!r}")

    def describe(self) -> str:
        def ax(a: tuple[int, ...]) -> str:
            return "(" + ",".join(map(str, a)) + ")"

        text = f"fan_in={self.fan_in} [axes {ax(self.in_axes)}], fan_out={self.fan_out} [axes {ax(self.out_axes)}]"
        if self.receptive_axes:
            text += f", receptive field {self.receptive_field} [axes {ax(self.receptive_axes)}]"
        if self.batch_axes:
            text += f", batch axes {ax(self.batch_axes)}"
        return text + (f" ({self.note})" if self.note else "")


def normalize_layout(layout: object, *, loc: tuple[str | int, ...] = ("layout",)) -> Layout:
    """Check a layout argument; ``"flax"`` is kept (it reads like ``"jax"``)."""
    if isinstance(layout, Axes):
        return layout
    if isinstance(layout, dict):
        from .parsing import parse_model

        return parse_model(Axes, layout, loc=loc)
    if isinstance(layout, str) and layout in LAYOUTS:
        return layout  # type: ignore[return-value]
    raise ShapeError.single(
        "unknown_layout",
        f"unknown layout{did_you_mean(str(layout), LAYOUTS)}; use one of {', '.join(LAYOUTS)} "
        "or initspec.Axes(in_axes=..., out_axes=...)",
        loc=loc, value=layout)


#: The largest dimension, and number of elements, a tensor may have (int64 indexing: every
#: framework's limit).
MAX_DIM = 2**63 - 1
#: Shapes with more axes are refused (NumPy's limit is 64; no framework allows more).
MAX_RANK = 64


def _dim(d: object) -> int | None:
    """``d`` as a Python int when it is an integer (``int``, ``np.int64``, ``torch.Size`` entries:
    anything with ``__index__``), else None; booleans are not dimensions."""
    if isinstance(d, bool) or type(d).__name__ == "bool_":
        return None
    try:
        return operator.index(d)  # type: ignore[arg-type]
    except TypeError:
        return None


def check_shape(shape: object) -> tuple[int, ...]:
    """Validate a tensor shape: a sequence of non-negative integers (Python or NumPy ints,
    anything with ``__index__``), each and their product at most ``2**63 - 1``."""
    bad = "a shape is a sequence of non-negative integers, e.g. (256, 128)"
    if isinstance(shape, (str, bytes, dict)) or not hasattr(shape, "__iter__"):
        raise ShapeError.single("bad_shape", bad, loc=("shape",), value=shape)
    dims: list[int] = []
    try:
        for d in shape:  # type: ignore[attr-defined]
            v = _dim(d)
            if v is None or v < 0:
                raise ShapeError.single("bad_shape", bad, loc=("shape",), value=shape)
            dims.append(v)
            if len(dims) > MAX_RANK:
                raise ShapeError.single("bad_shape", f"a shape has at most {MAX_RANK} axes", loc=("shape",),
                                        value=f"{len(dims)}+ axes")
    except SpecError:
        raise
    except Exception:  # noqa: BLE001 - a hostile iterable
        raise ShapeError.single("bad_shape", bad, loc=("shape",), value=shape) from None
    size = 1
    for v in dims:
        size *= v if v else 1
        if v > MAX_DIM or size > MAX_DIM:
            raise ShapeError.single(
                "bad_shape", "a dimension, and the number of elements, are at most 2**63 - 1 (int64 indexing, "
                "every framework's limit)", loc=("shape",), value=tuple(dims))
    return tuple(dims)


def _norm_axes(axes: Sequence[int], rank: int, role: str) -> tuple[int, ...]:
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeError.single("bad_axis", f"{role} axis {a} is out of range for a rank-{rank} tensor",
                                    loc=("axes", role), value=tuple(axes))
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ShapeError.single("bad_axis", f"{role} axes repeat an axis", loc=("axes", role), value=tuple(axes))
    return tuple(out)


def _prod(shape: tuple[int, ...], axes: Sequence[int]) -> int:
    return math.prod(shape[a] for a in axes)


def output_axes(shape: tuple[int, ...], layout: Layout) -> tuple[int, ...]:
    """The axes a layout treats as outputs (kept whole by orthogonal)."""
    rank = len(shape)
    if isinstance(layout, Axes):
        return _norm_axes(layout.out_axes, rank, "out_axes")
    if rank < 1:
        return ()
    return (0,) if layout == "torch" else (rank - 1,)


def compute_fans(shape: tuple[int, ...], layout: Layout, *, scheme: str = "this scheme") -> Fans:
    """Fans of ``shape`` under ``layout`` (see the module docstring for the conventions)."""
    rank = len(shape)
    if isinstance(layout, Axes):
        ins = _norm_axes(layout.in_axes, rank, "in_axes")
        outs = _norm_axes(layout.out_axes, rank, "out_axes")
        batch = _norm_axes(layout.batch_axes, rank, "batch_axes")
        named = set(ins) | set(outs) | set(batch)
        if len(named) != len(ins) + len(outs) + len(batch):
            raise ShapeError.single("bad_axis", "in_axes, out_axes and batch_axes must not share an axis",
                                    loc=("axes",), value=layout.model_dump())
        rest = tuple(a for a in range(rank) if a not in named)
        rf = _prod(shape, rest)
        return Fans(_prod(shape, ins) * rf, _prod(shape, outs) * rf, ins, outs, batch, rest, rf)
    if layout == "keras" and rank < 2:
        if rank == 0:
            return Fans(1, 1, (), (), (), (), 1, note="0-D tensor: Keras treats fans as (1, 1)")
        return Fans(shape[0], shape[0], (0,), (0,), (), (), 1,
                    note="1-D tensor: Keras reads both fans from its only axis")
    if rank < 2:
        raise ShapeError.single(
            "shape_too_small",
            f"{scheme} needs fans, and a {rank}-D tensor has none in the {layout!r} layout; for a bias use a "
            "fan-free scheme (zeros, uniform, torch.default_bias with fan_in) or give axes",
            loc=("shape",), value=shape)
    if layout == "torch":
        ins, outs = (1,), (0,)
    else:
        ins, outs = (rank - 2,), (rank - 1,)
    rest = tuple(a for a in range(rank) if a not in ins + outs)
    rf = _prod(shape, rest)
    return Fans(shape[ins[0]] * rf, shape[outs[0]] * rf, ins, outs, (), rest, rf)


def einsum_axes(equation: str) -> Axes:
    """The kernel's input and output axes of an einsum ``"input,kernel->output"`` (Keras'
    ``EinsumDense``, Flax's ``Einsum``), as Keras derives them
    (``einsum_dense._analyze_split_string``): a kernel letter that appears in the output is
    an output axis, any other an input axis."""
    lhs, out = equation.replace("...", "").replace(" ", "").split("->")
    kernel = lhs.split(",")[1]
    return Axes(in_axes=tuple(i for i, c in enumerate(kernel) if c not in out),
                out_axes=tuple(i for i, c in enumerate(kernel) if c in out))
