"""What every backend's ``native.py`` shares: :class:`NativeCall` and the helpers that write one.

The native call that reproduces a resolved law in each framework, as copy-pasteable code.

``native_calls(spec_or_distribution, shape, layout)`` returns, for ``torch``, ``keras``,
``jax`` (also Flax: ``flax.linen.initializers`` re-exports it) and ``numpy``, a
:class:`NativeCall`: a code string, whether it draws exactly the resolved law for this
shape, and a note.  ``explain`` and ``convert native`` print them; ``tests/test_native.py``
executes every one and tests the samples against the law.  Strings only: no framework is
imported here.

Code contract (what the snippet expects and defines):

=========  ==================================================================================
torch      acts in place on an existing tensor ``w`` (``layer.weight``), stored in torch's
           layout ``(out, in, *kernel)``; seed with ``torch.manual_seed`` or add
           ``generator=``
keras      defines ``init`` (a ``keras.initializers`` object) and ``w = init(shape)``
jax        defines ``init(key, shape, dtype)`` and ``w = init(jax.random.key(0), shape)``
numpy      defines ``init(rng)`` returning the array and ``w = init(np.random.default_rng(0))``
=========  ==================================================================================

Layouts.  Fans are what matter: each framework's named initializers (``kaiming_normal_``,
``HeNormal``, ``he_normal``) read fans from *their own* layout, so a call is given for the
tensor as that framework stores it - a ``(256, 128)`` torch weight is ``(128, 256)`` in Keras
and JAX - and the named call is used only when its fans equal the resolved ones.  Otherwise
the numbers (bound, std, truncation) are computed from the resolved law: exact for this
shape, not for others.  ``NativeCall.shape`` and ``.perm`` say how the framework's tensor
relates to the one given (``native = given.transpose(perm)``).

.. warning::
   Same names, different laws: Keras and JAX ``*_normal`` are truncated normals, torch's are
   not; Keras ``VarianceScaling(distribution="normal")`` is truncated, JAX's is not.  The
   calls below are chosen by law, never by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import distributions as D
from .layout import Axes, Layout, compute_fans
from .spec import BaseSpec, Glorot, He, Lecun, VarianceScaling

__all__ = ["NativeCall", "Ctx", "FAR", "JAX_TN_SAFE", "num", "shape_code", "vs_info", "named", "array_code",
           "LawCalls", "law_call"]

#: |bound| / std beyond which a truncation changes nothing a float32 sample can show
# (the parent's mass outside ±6σ is 2e-9, below one draw in a 65,536-sample test).
FAR = 6.0
# Lower bounds within this many std are safe from JAX's truncated-normal quirk (see _jax): the
# float32 inverse CDF saturates near 5.3 std, so a value at the bound is no outlier there.
JAX_TN_SAFE = 5.0


@dataclass(frozen=True)
class NativeCall:
    """One framework's equivalent of a resolved law."""

    framework: str
    code: str | None
    """Runnable code (imports included) or None when the framework has no equivalent."""
    exact: bool
    """True when the code draws exactly the resolved law for this shape."""
    note: str
    shape: tuple[int, ...]
    """The tensor's shape as this framework stores it."""
    perm: tuple[int, ...]
    """``native = given.transpose(perm)``."""
    call: str = ""
    """The key call alone, for tables (e.g. ``kaiming_normal_(w, nonlinearity="relu")``)."""

    @property
    def available(self) -> bool:
        return self.code is not None

    def to_dict(self) -> dict[str, Any]:
        return {"framework": self.framework, "code": self.code, "call": self.call, "exact": self.exact,
                "note": self.note, "shape": list(self.shape), "perm": list(self.perm)}


# ----------------------------------------------------------------------------- helpers


def num(x: float) -> str:
    """A float as code: its shortest exact repr, or 15 digits when that is within 2 ulp
    (0.30000000000000004 -> 0.3, while 1/3 keeps every digit)."""
    x = float(x)
    if x == math.sqrt(5.0):
        return "math.sqrt(5)"
    short = float(f"{x:.15g}")
    return repr(short if abs(short - x) <= 2 * math.ulp(x) else x)


def shape_code(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _perm(src: Layout | None, tgt: str | None, rank: int) -> tuple[int, ...]:
    """How the tensor is transposed when stored in layout ``tgt``."""
    ident = tuple(range(rank))
    if tgt is None or src is None or isinstance(src, Axes) or rank < 2:
        return ident
    src_torch, tgt_torch = src == "torch", tgt == "torch"
    if src_torch == tgt_torch:
        return ident
    if src_torch:  # (out, in, *k) -> (*k, in, out)
        return (*range(2, rank), 1, 0)
    return (rank - 1, rank - 2, *range(rank - 2))  # (*k, in, out) -> (out, in, *k)


class Ctx:
    """What every generator needs: the law, the shapes, the derivation."""

    def __init__(self, dist: D.Distribution, shape: tuple[int, ...], layout: Layout | None, framework: str,
                 stores: str | None):
        self.dist, self.framework, self.src_shape, self.layout = dist, framework, shape, layout
        self.perm = _perm(layout, stores, len(shape))
        self.shape = tuple(shape[a] for a in self.perm)
        der = dist.derivation
        self.plain: BaseSpec | None = der.plain if der is not None else None
        self.fans = der.fans if der is not None else None
        self.notes: list[str] = []

    def native_axis(self, axis: int) -> int:
        return self.perm.index(axis)

    def fans_match(self, layout: Layout) -> bool:
        """Whether ``framework``'s own fan rule on its tensor gives the resolved fans."""
        if self.fans is None:
            return False
        try:
            got = compute_fans(self.shape, layout)
        except ValueError:
            return False
        return (got.fan_in, got.fan_out) == (self.fans.fan_in, self.fans.fan_out)

    def layout_note(self) -> str:
        if self.perm == tuple(range(len(self.perm))):
            return ""
        src = self.layout if isinstance(self.layout, str) else "given"
        return (f"w is the {src}-layout tensor {shape_code(self.src_shape)} as {self.framework} stores it: "
                f"{shape_code(self.shape)} (axes {self.perm}); the law is the same")

    def done(self, code: str | None, exact: bool = True, call: str = "") -> NativeCall:
        notes = [n for n in (*self.notes, self.layout_note()) if n]
        return NativeCall(self.framework, code, exact, "; ".join(notes), self.shape, self.perm, call)


def vs_info(plain: BaseSpec | None) -> dict[str, Any] | None:
    """(family, scale, mode, distribution, torch nonlinearity/slope) of a variance-scaling spec."""
    from .gain import gain_value

    if isinstance(plain, Glorot):
        g = gain_value(plain.gain)
        return dict(family="glorot", scale=g * g, gain=g, mode="fan_avg", dist=plain.distribution)
    if isinstance(plain, He):
        from .gain import nonlinearity_gain

        g = nonlinearity_gain(plain.nonlinearity, plain.negative_slope)
        if not isinstance(plain.nonlinearity, str):  # {activation: ...}: torch has no name for it, write the scale
            return dict(family="vs", scale=g * g, gain=g, mode=plain.mode, dist=plain.distribution)
        return dict(family="he", scale=g * g, gain=g, mode=plain.mode, dist=plain.distribution,
                    nonlinearity=plain.nonlinearity, slope=plain.negative_slope)
    if isinstance(plain, Lecun):
        return dict(family="lecun", scale=1.0, gain=1.0, mode="fan_in", dist=plain.distribution)
    if isinstance(plain, VarianceScaling):
        return dict(family="vs", scale=plain.scale, gain=math.sqrt(plain.scale), mode=plain.mode,
                    dist=plain.distribution)
    return None


def named_table(spell: Callable[[str, str], str]) -> dict[tuple[str, str], str]:
    """The six variance scalings Keras and JAX name alike - glorot, he and lecun, each uniform or
    truncated normal (which both call "normal") - as a :func:`named` table: (family,
    distribution) -> ``spell(family, "uniform" or "normal")``."""
    return {(family, dist): spell(family, "uniform" if dist == "uniform" else "normal")
            for family in ("glorot", "he", "lecun") for dist in ("uniform", "truncated_normal")}


def named(table: dict[tuple[str, str], str], vs: dict[str, Any]) -> str | None:
    """The framework's named initializer for exactly this variance scaling (He: relu, fan_in; Glorot: gain 1)."""
    if vs["family"] == "he" and (vs["nonlinearity"] != "relu" or vs["mode"] != "fan_in"):
        return None
    if vs["family"] == "glorot" and vs["gain"] != 1.0:
        return None
    return table.get((vs["family"], vs["dist"]))


#: A backend's one-line calls: law type -> the call written from the law and the shape's code
#: (``(4, 4)``); the laws that need a note, a condition or several lines keep their own branch.
LawCalls = dict[type, Callable[[Any, str], str]]


def law_call(table: LawCalls, c: Ctx) -> str | None:
    """The call ``table`` writes for ``c``'s law (its exact type), or None when it has no row."""
    write = table.get(type(c.dist))
    return None if write is None else write(c.dist, shape_code(c.shape))


def array_code(c: Ctx, value: Any, name: str = "value", *, tensor: bool = True) -> str:
    """``value = np.array([...])``: a given array (an :class:`~initspec.arrays.ArrayValue`) as
    this framework stores it (broadcast and transposed when its layout differs).  An array of
    more than :data:`~initspec.arrays.MAX_SHOWN` numbers is not written out: the line says
    which array ``value`` stands for (and ``c.notes`` says so).  ``tensor=False``: an
    argument's values (a window), written as they are."""
    import numpy as np

    from .arrays import MAX_SHOWN

    a = value.array
    if tensor and c.perm != tuple(range(len(c.perm))):
        a = np.broadcast_to(a, c.src_shape).transpose(c.perm)
    if a.size == 0:  # no values; tolist() would drop the axes after an empty one (and list 2**31 empty rows)
        return f"{name} = np.zeros({shape_code(tuple(a.shape))})"
    if a.size > MAX_SHOWN:
        c.notes.append(f"{name} stands for the spec's {value.summary()} as a NumPy array"
                       + (f", transposed by {c.perm}" if a is not value.array else ""))
        return f"{name} = ...  # the spec's array {shape_code(tuple(a.shape))} ({value.digest()[:19]})"

    def code(x: Any) -> str:
        return "[" + ", ".join(code(v) for v in x) + "]" if isinstance(x, list) else num(x)

    return f"{name} = np.array({code(np.asarray(a).tolist())})"
