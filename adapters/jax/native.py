"""How jax prints the native call of a resolved law (see :mod:`initspec.native`).

Strings only: nothing here imports jax.
"""

from __future__ import annotations


from ... import distributions as D
from ...layout import compute_fans
from ...spec import Axes
from ...calls import FAR, JAX_TN_SAFE, Ctx, NativeCall, array_code, named, named_table, num, shape_code, vs_info

__all__ = ["LAYOUT", "native_call"]

#: The layout this framework stores weights in (the snippet's ``w`` is in it).
LAYOUT = 'jax'

_JAX_NAMED = named_table(lambda family, dist: f"{family}_{dist}")  # glorot_uniform, he_normal ...


def _jax_axes(c: Ctx) -> str | None:
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
        return str(t[0]) if len(t) == 1 else shape_code(t)

    text = f", in_axis={tup(ins)}, out_axis={tup(outs)}"
    return text + (f", batch_axis={shape_code(batch)}" if batch else "")


def native_call(c: Ctx) -> NativeCall:
    d = c.dist
    call_line = f"w = init(jax.random.key(0), {shape_code(c.shape)})"

    def out(obj: str, exact: bool = True) -> NativeCall:
        return c.done(f"import jax\ninit = jax.nn.initializers.{obj}\n{call_line}", exact, obj)

    def composed(body: str, exact: bool = True) -> NativeCall:
        c.notes.append("jax.nn.initializers has no such initializer: a jax.random one-liner with its signature")
        code = (f"import jax\nimport jax.numpy as jnp\n\ndef init(key, shape, dtype=jnp.float32):\n"
                f"    return {body}\n\n{call_line}")
        return c.done(code, exact, body)

    vs = vs_info(c.plain)
    axes = _jax_axes(c) if vs else None
    if vs and axes is not None:
        name = named(_JAX_NAMED, vs)
        if name:
            return out(f"{name}({axes.lstrip(', ')})")
        return out(f'variance_scaling({num(vs["scale"])}, "{vs["mode"]}", "{vs["dist"]}"{axes})')
    rank = len(c.shape)
    if isinstance(d, D.ConstantArray):  # constant() is jnp.full, which broadcasts an array fill value
        return c.done(f"import jax\nimport numpy as np\n{array_code(c, d.value)}\n"
                      f"init = jax.nn.initializers.constant(value)\n{call_line}", True, "constant(value)")
    if isinstance(d, D.Constant):
        if d.value in (0.0, 1.0):
            name = "zeros" if d.value == 0 else "ones"
            return c.done(f"import jax\ninit = jax.nn.initializers.{name}\n{call_line}", True, name)
        return out(f"constant({num(d.value)})")
    if isinstance(d, D.Uniform):
        if d.low == 0.0:
            return out(f"uniform({num(d.high)})")
        if d.low == -d.high:  # fan_in = 1 for any shape when every axis is both in and out
            c.notes.append("symmetric uniform via variance_scaling with every axis as in and out axis (fan_in = 1)")
            every = shape_code(tuple(range(rank)))
            return out(f'variance_scaling({num(d.high ** 2 / 3.0)}, "fan_in", "uniform", in_axis={every}, '
                       f"out_axis={every})")
        return composed(f"jax.random.uniform(key, shape, dtype, minval={num(d.low)}, maxval={num(d.high)})")
    if isinstance(d, D.Normal):
        if d.loc == 0.0:
            return out(f"normal({num(d.scale)})")
        return composed(f"{num(d.loc)} + {num(d.scale)} * jax.random.normal(key, shape, dtype)")
    if isinstance(d, D.TruncatedNormal):
        a, b = float(f"{d.alpha:.12g}"), float(f"{d.beta:.12g}")
        if a < -JAX_TN_SAFE:
            # jax.random.truncated_normal maps U[erf(a/√2), erf(b/√2)) through erf_inv; a uniform draw equal
            # to its lower end (2^-23 per float32 element) comes out as the lower bound itself.
            c.notes.append(f"jax.random.truncated_normal puts about 1 element in 8 million (2^-23, float32) exactly "
                           f"at the lower bound, here {-a:.3g} std out (measured: 20 in 1.3e8)")
            if min(-a, b) >= FAR and d.loc == 0.0:
                c.notes.append(f"so normal({num(d.scale)}) is used: the bounds are {min(-a, b):.3g} std away and an "
                               "untruncated normal matches to float precision")
                return out(f"normal({num(d.scale)})", exact=False)
            exact_tn = False
        else:
            exact_tn = True
        if d.loc == 0.0:
            bounds = "" if (a, b) == (-2.0, 2.0) else f", lower={num(a)}, upper={num(b)}"
            return out(f"truncated_normal({num(d.scale)}{bounds})", exact_tn)
        return composed(f"{num(d.loc)} + {num(d.scale)} * jax.random.truncated_normal(key, {num(a)}, {num(b)}, "
                        "shape, dtype)", exact_tn)
    if isinstance(d, D.Orthogonal):
        kept = tuple(c.native_axis(a) for a in d.out_axes)
        if len(kept) == 1:
            args = [] if d.gain == 1.0 else [f"scale={num(d.gain)}"]
            if kept[0] != rank - 1:
                args.append(f"column_axis={kept[0]}")
            c.notes.append("float16/bfloat16: draw in float32 and cast (no half-precision QR)")
            return out(f"orthogonal({', '.join(args)})")
        c.notes.append("jax's orthogonal keeps one column_axis; here several axes are kept whole")
        return c.done(None, False)
    if isinstance(d, D.DeltaOrthogonal):
        if (c.native_axis(d.in_axis), c.native_axis(d.out_axis)) == (rank - 2, rank - 1):
            return out("delta_orthogonal()" if d.gain == 1.0 else f"delta_orthogonal(scale={num(d.gain)})")
        c.notes.append("jax's delta_orthogonal reads (*kernel, in, out); this tensor's axes differ")
        return c.done(None, False)
    if isinstance(d, D.Identity):
        c.notes.append(f"jax.nn.initializers has no identity; write {num(d.gain)} * jnp.eye(*shape, dtype=dtype) "
                       "or use initspec.adapters.jax")
        return c.done(None, False)
    c.notes.append(f"jax.nn.initializers has no {d.kind.replace('_', '-')} initializer; use initspec.adapters.jax")
    return c.done(None, False)
