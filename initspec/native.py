"""The native call that reproduces a resolved law in each framework, as copy-pasteable code.

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
from dataclasses import dataclass
from typing import Any

from . import distributions as D
from .layout import Axes, Layout, compute_fans, normalize_layout
from .spec import BaseSpec, Glorot, He, Lecun, VarianceScaling

__all__ = ["NativeCall", "FRAMEWORKS", "native_calls"]

#: Frameworks in display order, with the layout each one stores weights in.
FRAMEWORKS: dict[str, str | None] = {"torch": "torch", "keras": "keras", "jax": "jax", "numpy": None}

# |bound| / std beyond which a truncation changes nothing a float32 sample can show
# (the parent's mass outside ±6σ is 2e-9, below one draw in a 65,536-sample test).
_FAR = 6.0
# Lower bounds within this many std are safe from JAX's truncated-normal quirk (see _jax): the
# float32 inverse CDF saturates near 5.3 std, so a value at the bound is no outlier there.
_JAX_TN_SAFE = 5.0


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


def _num(x: float) -> str:
    """A float as code: its shortest exact repr, or 15 digits when that is within 2 ulp
    (0.30000000000000004 -> 0.3, while 1/3 keeps every digit)."""
    x = float(x)
    if x == math.sqrt(5.0):
        return "math.sqrt(5)"
    short = float(f"{x:.15g}")
    return repr(short if abs(short - x) <= 2 * math.ulp(x) else x)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _perm(src: Layout | None, framework: str, rank: int) -> tuple[int, ...]:
    """How the tensor is transposed when stored in ``framework``'s layout."""
    ident = tuple(range(rank))
    tgt = FRAMEWORKS[framework]
    if tgt is None or src is None or isinstance(src, Axes) or rank < 2:
        return ident
    src_torch, tgt_torch = src == "torch", tgt == "torch"
    if src_torch == tgt_torch:
        return ident
    if src_torch:  # (out, in, *k) -> (*k, in, out)
        return (*range(2, rank), 1, 0)
    return (rank - 1, rank - 2, *range(rank - 2))  # (*k, in, out) -> (out, in, *k)


class _Ctx:
    """What every generator needs: the law, the shapes, the derivation."""

    def __init__(self, dist: D.Distribution, shape: tuple[int, ...], layout: Layout | None, framework: str):
        self.dist, self.framework, self.src_shape, self.layout = dist, framework, shape, layout
        self.perm = _perm(layout, framework, len(shape))
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
        return (f"w is the {src}-layout tensor {_shape(self.src_shape)} as {self.framework} stores it: "
                f"{_shape(self.shape)} (axes {self.perm}); the law is the same")

    def done(self, code: str | None, exact: bool = True, call: str = "") -> NativeCall:
        notes = [n for n in (*self.notes, self.layout_note()) if n]
        return NativeCall(self.framework, code, exact, "; ".join(notes), self.shape, self.perm, call)


def _vs_info(plain: BaseSpec | None) -> dict[str, Any] | None:
    """(family, scale, mode, distribution, torch nonlinearity/slope) of a variance-scaling spec."""
    from .gain import gain_value

    if isinstance(plain, Glorot):
        g = gain_value(plain.gain)
        return dict(family="glorot", scale=g * g, gain=g, mode="fan_avg", dist=plain.distribution)
    if isinstance(plain, He):
        from .gain import nonlinearity_gain

        g = nonlinearity_gain(plain.nonlinearity, plain.negative_slope)
        return dict(family="he", scale=g * g, gain=g, mode=plain.mode, dist=plain.distribution,
                    nonlinearity=plain.nonlinearity, slope=plain.negative_slope)
    if isinstance(plain, Lecun):
        return dict(family="lecun", scale=1.0, gain=1.0, mode="fan_in", dist=plain.distribution)
    if isinstance(plain, VarianceScaling):
        return dict(family="vs", scale=plain.scale, gain=math.sqrt(plain.scale), mode=plain.mode,
                    dist=plain.distribution)
    return None


def _named(table: dict[tuple[str, str], str], vs: dict[str, Any]) -> str | None:
    """The framework's named initializer for exactly this variance scaling (He: relu, fan_in; Glorot: gain 1)."""
    if vs["family"] == "he" and (vs["nonlinearity"] != "relu" or vs["mode"] != "fan_in"):
        return None
    if vs["family"] == "glorot" and vs["gain"] != 1.0:
        return None
    return table.get((vs["family"], vs["dist"]))


# ----------------------------------------------------------------------------- torch

_TORCH_FN = {"uniform": "kaiming_uniform_", "normal": "kaiming_normal_"}


def _torch(c: _Ctx) -> NativeCall:
    d, head = c.dist, f"import torch\n# w: a torch tensor of shape {_shape(c.shape)}\n"

    def out(call: str, exact: bool = True) -> NativeCall:
        imports = "import math\n" if "math." in call else ""
        return c.done(imports + head + "torch.nn.init." + call, exact, call)

    vs = _vs_info(c.plain)
    if vs and vs["dist"] != "truncated_normal" and c.fans_match("torch"):
        kind = vs["dist"]
        if vs["family"] == "glorot":
            gain = "" if vs["gain"] == 1.0 else f", gain={_num(vs['gain'])}"
            return out(f"xavier_{kind}_(w{gain})")
        args = _torch_kaiming_args(vs)
        if args is not None:
            return out(f"{_TORCH_FN[kind]}(w{args})")
    if isinstance(d, D.Constant):
        if d.value in (0.0, 1.0):
            return out(f"{'zeros_' if d.value == 0 else 'ones_'}(w)")
        return out(f"constant_(w, {_num(d.value)})")
    if isinstance(d, D.Uniform):
        return out(f"uniform_(w, {_num(d.lower)}, {_num(d.upper)})")
    if isinstance(d, D.Normal):
        return out(f"normal_(w, mean={_num(d.loc)}, std={_num(d.scale)})")
    if isinstance(d, D.TruncatedNormal):
        c.notes.append("torch <= 2.11 samples trunc_normal_ by inverse CDF (rare clamped outliers when std is "
                       "far below the bounds); 2.12+ by rejection")
        return out(f"trunc_normal_(w, mean={_num(d.loc)}, std={_num(d.scale)}, a={_num(d.lower)}, "
                   f"b={_num(d.upper)})")
    if isinstance(d, D.Orthogonal):
        if tuple(c.native_axis(a) for a in d.out_axes) == (0,):
            c.notes.append("float16/bfloat16: draw in float32 and cast (orthogonal_ has no half-precision QR)")
            return out("orthogonal_(w)" if d.gain == 1.0 else f"orthogonal_(w, gain={_num(d.gain)})")
        c.notes.append("torch's orthogonal_ keeps dim 0 whole; here another axis is the kept one")
        return c.done(None, False)
    if isinstance(d, D.Identity):
        if d.gain == 1.0:
            return out("eye_(w)")
        code = f"import torch\n# w: a torch tensor of shape {_shape(c.shape)}\nwith torch.no_grad():\n" \
               f"    torch.nn.init.eye_(w).mul_({_num(d.gain)})"
        return c.done(code, True, f"eye_(w).mul_({_num(d.gain)})")
    if isinstance(d, D.Dirac):
        if (c.native_axis(d.out_axis), c.native_axis(d.in_axis)) == (0, 1):
            return out("dirac_(w)" if d.groups == 1 else f"dirac_(w, groups={d.groups})")
        c.notes.append("torch's dirac_ reads (out, in, *kernel); this tensor's axes differ")
        return c.done(None, False)
    if isinstance(d, D.Sparse):
        if c.native_axis(d.out_axis) == 0:
            c.notes.append("sparse_ draws its zero positions from the global RNG, ignoring generator=")
            return out(f"sparse_(w, sparsity={_num(d.sparsity)}, std={_num(d.scale)})")
        c.notes.append("torch's sparse_ zeroes entries along dim 0; this tensor's axes differ")
        return c.done(None, False)
    c.notes.append(f"torch.nn.init has no {d.kind.replace('_', '-')} initializer; use initspec.adapters.torch")
    return c.done(None, False)


def _torch_kaiming_args(vs: dict[str, Any]) -> str | None:
    """Arguments of kaiming_*_ giving ``vs``'s variance, or None (fan_avg/fan_geo_avg, scale > 2)."""
    if vs["mode"] not in ("fan_in", "fan_out"):
        return None
    mode = ', mode="fan_out"' if vs["mode"] == "fan_out" else ""
    if vs["family"] == "he":
        nl = {"conv": "linear"}.get(vs["nonlinearity"], vs["nonlinearity"])
        if nl == "leaky_relu":
            return f", a={_num(vs['slope'])}{mode}"
        return f'{mode}, nonlinearity="{nl}"'
    if vs["family"] == "lecun":
        return f'{mode}, nonlinearity="linear"'
    s = vs["scale"]
    if s == 2.0:
        return f'{mode}, nonlinearity="relu"'
    if s == 1.0:
        return f'{mode}, nonlinearity="linear"'
    if s < 2.0:  # leaky_relu gain² = 2 / (1 + a²)  =>  a = sqrt(2/s - 1)
        return f", a={_num(math.sqrt(2.0 / s - 1.0))}{mode}"
    return None


# ----------------------------------------------------------------------------- keras

_KERAS_NAMED = {("glorot", "uniform"): "GlorotUniform", ("glorot", "truncated_normal"): "GlorotNormal",
                ("he", "uniform"): "HeUniform", ("he", "truncated_normal"): "HeNormal",
                ("lecun", "uniform"): "LecunUniform", ("lecun", "truncated_normal"): "LecunNormal"}
_KERAS_DIST = {"uniform": "uniform", "normal": "untruncated_normal", "truncated_normal": "truncated_normal"}


def _keras(c: _Ctx) -> NativeCall:
    d = c.dist

    def out(obj: str, exact: bool = True) -> NativeCall:
        code = f"import keras\ninit = keras.initializers.{obj}\nw = init({_shape(c.shape)})"
        return c.done(code, exact, obj)

    vs = _vs_info(c.plain)
    if vs and c.fans_match("keras"):
        named = _named(_KERAS_NAMED, vs)
        if named:
            return out(f"{named}()")
        scale, mode = vs["scale"], vs["mode"]
        if mode == "fan_geo_avg":  # Keras has no fan_geo_avg: rescale fan_in to the same variance
            fi, fo = c.fans.fan_in, c.fans.fan_out  # type: ignore[union-attr]
            scale, mode = scale * fi / math.sqrt(fi * fo), "fan_in"
            c.notes.append("Keras has no fan_geo_avg: scale rewritten for fan_in, exact for this shape only")
        return out(f'VarianceScaling(scale={_num(scale)}, mode="{mode}", distribution="{_KERAS_DIST[vs["dist"]]}")')
    if isinstance(d, D.Constant):
        if d.value in (0.0, 1.0):
            return out("Zeros()" if d.value == 0 else "Ones()")
        return out(f"Constant(value={_num(d.value)})")
    if isinstance(d, D.Uniform):
        return out(f"RandomUniform(minval={_num(d.lower)}, maxval={_num(d.upper)})")
    if isinstance(d, D.Normal):
        return out(f"RandomNormal(mean={_num(d.loc)}, stddev={_num(d.scale)})")
    if isinstance(d, D.TruncatedNormal):
        if abs(d.alpha + 2.0) < 1e-9 and abs(d.beta - 2.0) < 1e-9:
            c.notes.append("with the torch backend, Keras leaks untruncated values (~4e-6 per element)")
            return out(f"TruncatedNormal(mean={_num(d.loc)}, stddev={_num(d.scale)})")
        if min(-d.alpha, d.beta) >= _FAR:
            c.notes.append(f"Keras' TruncatedNormal always cuts at ±2 stddev; these bounds are "
                           f"{min(-d.alpha, d.beta):.3g} std away, so an untruncated normal matches to float precision")
            return out(f"RandomNormal(mean={_num(d.loc)}, stddev={_num(d.scale)})", exact=False)
        c.notes.append("Keras' TruncatedNormal always cuts at mean ± 2·stddev; no Keras initializer cuts elsewhere")
        return c.done(None, False)
    if isinstance(d, D.Orthogonal):
        if tuple(c.native_axis(a) for a in d.out_axes) == (len(c.shape) - 1,):
            return out("Orthogonal()" if d.gain == 1.0 else f"Orthogonal(gain={_num(d.gain)})")
        c.notes.append("Keras' Orthogonal keeps the last axis whole; here another axis is the kept one")
        return c.done(None, False)
    if isinstance(d, D.Identity):
        return out("Identity()" if d.gain == 1.0 else f"Identity(gain={_num(d.gain)})")
    c.notes.append(f"keras.initializers has no {d.kind.replace('_', '-')} initializer; use initspec.adapters.keras")
    return c.done(None, False)


# ----------------------------------------------------------------------------- jax

_JAX_NAMED = {("glorot", "uniform"): "glorot_uniform", ("glorot", "truncated_normal"): "glorot_normal",
              ("he", "uniform"): "he_uniform", ("he", "truncated_normal"): "he_normal",
              ("lecun", "uniform"): "lecun_uniform", ("lecun", "truncated_normal"): "lecun_normal"}


def _jax_axes(c: _Ctx) -> str | None:
    """variance_scaling axis kwargs reproducing the resolved fans, '' for the defaults, None if impossible."""
    if c.fans_match("jax"):
        return ""
    if c.fans is None:
        return None
    f = c.fans
    ins = tuple(c.native_axis(a) for a in f.in_axes)
    outs = tuple(c.native_axis(a) for a in f.out_axes)
    batch = tuple(c.native_axis(a) for a in f.batch_axes)
    try:
        got = compute_fans(c.shape, Axes(in_axes=ins, out_axes=outs, batch_axes=batch))
    except ValueError:
        return None
    if (got.fan_in, got.fan_out) != (f.fan_in, f.fan_out):  # pragma: no cover - same convention as JAX
        return None

    def tup(t: tuple[int, ...]) -> str:
        return str(t[0]) if len(t) == 1 else _shape(t)

    text = f", in_axis={tup(ins)}, out_axis={tup(outs)}"
    return text + (f", batch_axis={_shape(batch)}" if batch else "")


def _jax(c: _Ctx) -> NativeCall:
    d = c.dist
    call_line = f"w = init(jax.random.key(0), {_shape(c.shape)})"

    def out(obj: str, exact: bool = True) -> NativeCall:
        return c.done(f"import jax\ninit = jax.nn.initializers.{obj}\n{call_line}", exact, obj)

    def composed(body: str, exact: bool = True) -> NativeCall:
        c.notes.append("jax.nn.initializers has no such initializer: a jax.random one-liner with its signature")
        code = (f"import jax\nimport jax.numpy as jnp\n\ndef init(key, shape, dtype=jnp.float32):\n"
                f"    return {body}\n\n{call_line}")
        return c.done(code, exact, body)

    vs = _vs_info(c.plain)
    axes = _jax_axes(c) if vs else None
    if vs and axes is not None:
        named = _named(_JAX_NAMED, vs)
        if named:
            return out(f"{named}({axes.lstrip(', ')})")
        return out(f'variance_scaling({_num(vs["scale"])}, "{vs["mode"]}", "{vs["dist"]}"{axes})')
    rank = len(c.shape)
    if isinstance(d, D.Constant):
        if d.value in (0.0, 1.0):
            name = "zeros" if d.value == 0 else "ones"
            return c.done(f"import jax\ninit = jax.nn.initializers.{name}\n{call_line}", True, name)
        return out(f"constant({_num(d.value)})")
    if isinstance(d, D.Uniform):
        if d.lower == 0.0:
            return out(f"uniform({_num(d.upper)})")
        if d.lower == -d.upper:  # fan_in = 1 for any shape when every axis is both in and out
            c.notes.append("symmetric uniform via variance_scaling with every axis as in and out axis (fan_in = 1)")
            every = _shape(tuple(range(rank)))
            return out(f'variance_scaling({_num(d.upper ** 2 / 3.0)}, "fan_in", "uniform", in_axis={every}, '
                       f"out_axis={every})")
        return composed(f"jax.random.uniform(key, shape, dtype, minval={_num(d.lower)}, maxval={_num(d.upper)})")
    if isinstance(d, D.Normal):
        if d.loc == 0.0:
            return out(f"normal({_num(d.scale)})")
        return composed(f"{_num(d.loc)} + {_num(d.scale)} * jax.random.normal(key, shape, dtype)")
    if isinstance(d, D.TruncatedNormal):
        a, b = float(f"{d.alpha:.12g}"), float(f"{d.beta:.12g}")
        if a < -_JAX_TN_SAFE:
            # jax.random.truncated_normal maps U[erf(a/√2), erf(b/√2)) through erf_inv; a uniform draw equal
            # to its lower end (2^-23 per float32 element) comes out as the lower bound itself.
            c.notes.append(f"jax.random.truncated_normal puts about 1 element in 8 million (2^-23, float32) exactly "
                           f"at the lower bound, here {-a:.3g} std out (measured: 20 in 1.3e8)")
            if min(-a, b) >= _FAR and d.loc == 0.0:
                c.notes.append(f"so normal({_num(d.scale)}) is used: the bounds are {min(-a, b):.3g} std away and an "
                               "untruncated normal matches to float precision")
                return out(f"normal({_num(d.scale)})", exact=False)
            exact_tn = False
        else:
            exact_tn = True
        if d.loc == 0.0:
            bounds = "" if (a, b) == (-2.0, 2.0) else f", lower={_num(a)}, upper={_num(b)}"
            return out(f"truncated_normal({_num(d.scale)}{bounds})", exact_tn)
        return composed(f"{_num(d.loc)} + {_num(d.scale)} * jax.random.truncated_normal(key, {_num(a)}, {_num(b)}, "
                        "shape, dtype)", exact_tn)
    if isinstance(d, D.Orthogonal):
        kept = tuple(c.native_axis(a) for a in d.out_axes)
        if len(kept) == 1:
            args = [] if d.gain == 1.0 else [f"scale={_num(d.gain)}"]
            if kept[0] != rank - 1:
                args.append(f"column_axis={kept[0]}")
            c.notes.append("float16/bfloat16: draw in float32 and cast (no half-precision QR)")
            return out(f"orthogonal({', '.join(args)})")
        c.notes.append("jax's orthogonal keeps one column_axis; here several axes are kept whole")
        return c.done(None, False)
    if isinstance(d, D.DeltaOrthogonal):
        if (c.native_axis(d.in_axis), c.native_axis(d.out_axis)) == (rank - 2, rank - 1):
            return out("delta_orthogonal()" if d.gain == 1.0 else f"delta_orthogonal(scale={_num(d.gain)})")
        c.notes.append("jax's delta_orthogonal reads (*kernel, in, out); this tensor's axes differ")
        return c.done(None, False)
    if isinstance(d, D.Identity):
        c.notes.append(f"jax.nn.initializers has no identity; write {_num(d.gain)} * jnp.eye(*shape, dtype=dtype) "
                       "or use initspec.adapters.jax")
        return c.done(None, False)
    c.notes.append(f"jax.nn.initializers has no {d.kind.replace('_', '-')} initializer; use initspec.adapters.jax")
    return c.done(None, False)


# ----------------------------------------------------------------------------- numpy


def _numpy(c: _Ctx) -> NativeCall:
    d, shp = c.dist, _shape(c.shape)

    def out(body: str, imports: str = "import numpy as np\n") -> NativeCall:
        lines = body.split("\n")
        code = imports + "\ndef init(rng):\n" + "".join(f"    {ln}\n" for ln in lines)
        return c.done(code + "\nw = init(np.random.default_rng(0))", True, lines[-1].removeprefix("return "))

    if isinstance(d, D.Constant):
        return out(f"return np.full({shp}, {_num(d.value)})")
    if isinstance(d, D.Uniform):
        return out(f"return rng.uniform({_num(d.lower)}, {_num(d.upper)}, size={shp})")
    if isinstance(d, D.Normal):
        return out(f"return rng.normal({_num(d.loc)}, {_num(d.scale)}, size={shp})")
    if isinstance(d, D.TruncatedNormal):
        c.notes.append("NumPy has no truncated normal: SciPy's truncnorm (bounds in parent std units)")
        return out(f"return truncnorm.rvs({_num(d.alpha)}, {_num(d.beta)}, loc={_num(d.loc)}, scale={_num(d.scale)}, "
                   f"size={shp}, random_state=rng)", "import numpy as np\nfrom scipy.stats import truncnorm\n")
    if isinstance(d, D.Orthogonal):
        rows, cols = d.rows, d.cols
        big, small = max(rows, cols), min(rows, cols)
        body = [f"q, r = np.linalg.qr(rng.standard_normal(({big}, {small})))",
                "q *= np.sign(np.diag(r))  # Haar sign correction (Mezzadri 2007)"]
        if rows < cols:
            body.append("q = q.T")
        expr = f"q.reshape({_shape(d.matrix_dims)})"
        if d.inverse_perm != tuple(range(len(d.shape))):
            expr += f".transpose({d.inverse_perm})"
        body.append(f"return {_num(d.gain)} * {expr}")
        return out("\n".join(body))
    if isinstance(d, D.Identity):
        return out(f"return {_num(d.gain)} * np.eye({d.shape[0]}, {d.shape[1]})")
    c.notes.append(f"NumPy has no {d.kind.replace('_', '-')} initializer; use initspec.adapters.numpy")
    return c.done(None, False)


_GENERATORS = {"torch": _torch, "keras": _keras, "jax": _jax, "numpy": _numpy}


def native_calls(dist_or_spec: Any, shape: Any = None, layout: Any = None) -> dict[str, NativeCall]:
    """The equivalent native call in each framework (see the module docstring).

    ``dist_or_spec`` is a resolved :class:`~initspec.Distribution` (its derivation supplies
    shape and layout) or a spec/mapping resolved here with ``shape`` and ``layout``.
    """
    if isinstance(dist_or_spec, D.Distribution):
        dist = dist_or_spec
    else:
        from .resolution import resolve

        dist = resolve(dist_or_spec, shape, layout)
    der = dist.derivation
    if der is not None:
        shape, layout = der.shape, der.layout
    elif shape is None:
        shape = getattr(dist, "shape", None)
        if shape is None:
            raise ValueError("native_calls needs a shape for a distribution without a derivation")
    shape = tuple(int(s) for s in shape)
    layout = normalize_layout(layout) if layout is not None else None
    return {fw: gen(_Ctx(dist, shape, layout, fw)) for fw, gen in _GENERATORS.items()}
