"""How keras prints the native call of a resolved law (see :mod:`initspec.native`).

Strings only: nothing here imports keras.
"""

from __future__ import annotations

import math

from ... import distributions as D
from ...calls import (
    FAR,
    Ctx,
    LawCalls,
    NativeCall,
    array_code,
    law_call,
    named,
    named_table,
    num,
    shape_code,
    vs_info,
)

__all__ = ["LAYOUT", "native_call"]

#: The layout this framework stores weights in (the snippet's ``w`` is in it).
LAYOUT = 'keras'

_KERAS_NAMED = named_table(lambda family, dist: family.capitalize() + dist.capitalize())  # GlorotUniform ...
_KERAS_DIST = {"uniform": "uniform", "normal": "untruncated_normal", "truncated_normal": "truncated_normal"}
#: The laws one ``keras.initializers`` object draws whatever the axes.
_CALLS: LawCalls = {
    D.Constant: lambda d, _: {0.0: "Zeros()", 1.0: "Ones()"}.get(d.value, f"Constant(value={num(d.value)})"),
    D.Uniform: lambda d, _: f"RandomUniform(minval={num(d.low)}, maxval={num(d.high)})",
    D.Normal: lambda d, _: f"RandomNormal(mean={num(d.loc)}, stddev={num(d.scale)})",
    D.Identity: lambda d, _: "Identity()" if d.gain == 1.0 else f"Identity(gain={num(d.gain)})",
}


def native_call(c: Ctx) -> NativeCall:
    d = c.dist

    def out(obj: str, exact: bool = True) -> NativeCall:
        code = f"import keras\ninit = keras.initializers.{obj}\nw = init({shape_code(c.shape)})"
        return c.done(code, exact, obj)

    vs = vs_info(c.plain)
    if vs and c.fans_match("keras"):
        name = named(_KERAS_NAMED, vs)
        if name:
            return out(f"{name}()")
        scale, mode = vs["scale"], vs["mode"]
        if mode == "fan_geo_avg":  # Keras has no fan_geo_avg: rescale fan_in to the same variance
            fi, fo = c.fans.fan_in, c.fans.fan_out  # type: ignore[union-attr]
            # an empty tensor's fan counts as 1: initspec's resolution and Keras' max(1, fan_in) alike
            scale, mode = scale * max(1, fi) / (math.sqrt(fi * fo) or 1.0), "fan_in"
            c.notes.append("Keras has no fan_geo_avg: scale rewritten for fan_in, exact for this shape only")
        return out(f'VarianceScaling(scale={num(scale)}, mode="{mode}", distribution="{_KERAS_DIST[vs["dist"]]}")')
    call = law_call(_CALLS, c)
    if call is not None:
        return out(call)
    if isinstance(d, D.ConstantArray):  # Keras' Constant broadcasts an array value to the shape
        return c.done(f"import keras\nimport numpy as np\n{array_code(c, d.value)}\n"
                      f"init = keras.initializers.Constant(value=value)\nw = init({shape_code(c.shape)})", True,
                      "Constant(value=value)")
    if isinstance(d, D.STFTKernel):
        given = not isinstance(d.window, str)  # a window given as values: written out as an array
        window = "window" if given else "None" if d.window == "none" else f'"{d.window}"'
        scaling = "None" if d.scaling == "none" else f'"{d.scaling}"'
        call = f'STFT(side="{d.side}", window={window}, scaling={scaling}, periodic={d.periodic})'
        head = "import keras\n" + (f"import numpy as np\n{array_code(c, d.window, 'window', tensor=False)}\n"
                                   if given else "")
        c.notes.append("Keras computes cos/sin with its backend's float32 functions: equal to about 1 ulp")
        return c.done(f"{head}init = keras.initializers.{call}\nw = init({shape_code(c.shape)})", True, call)
    if isinstance(d, D.TruncatedNormal):
        if abs(d.alpha + 2.0) < 1e-9 and abs(d.beta - 2.0) < 1e-9:
            c.notes.append("with the torch backend, Keras leaks untruncated values (~4e-6 per element)")
            return out(f"TruncatedNormal(mean={num(d.loc)}, stddev={num(d.scale)})")
        if min(-d.alpha, d.beta) >= FAR:
            c.notes.append(f"Keras' TruncatedNormal always cuts at ±2 stddev; these bounds are "
                           f"{min(-d.alpha, d.beta):.3g} std away, so an untruncated normal matches to float precision")
            return out(f"RandomNormal(mean={num(d.loc)}, stddev={num(d.scale)})", exact=False)
        c.notes.append("Keras' TruncatedNormal always cuts at mean ± 2·stddev; no Keras initializer cuts elsewhere")
        return c.done(None, False)
    if isinstance(d, D.Orthogonal):
        if tuple(c.native_axis(a) for a in d.out_axes) == (len(c.shape) - 1,):
            return out("Orthogonal()" if d.gain == 1.0 else f"Orthogonal(gain={num(d.gain)})")
        c.notes.append("Keras' Orthogonal keeps the last axis whole; here another axis is the kept one")
        return c.done(None, False)
    c.notes.append(f"keras.initializers has no {d.kind.replace('_', '-')} initializer; use initspec.adapters.keras")
    return c.done(None, False)
