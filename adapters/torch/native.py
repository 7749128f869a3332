"""How torch prints the native call of a resolved law (see :mod:`initspec.native`).

Strings only: nothing here imports torch.
"""

from __future__ import annotations

import math
from typing import Any

from ... import distributions as D
from ...calls import (
    Ctx,
    LawCalls,
    NativeCall,
    array_code,
    law_call,
    num,
    shape_code,
    vs_info,
)

__all__ = ["LAYOUT", "native_call"]

#: The layout this framework stores weights in (the snippet's ``w`` is in it).
LAYOUT = 'torch'

_TORCH_FN = {"uniform": "kaiming_uniform_", "normal": "kaiming_normal_"}
#: The laws one ``torch.nn.init`` call draws whatever the axes.
_CALLS: LawCalls = {
    D.Constant: lambda d, _: {0.0: "zeros_(w)", 1.0: "ones_(w)"}.get(d.value, f"constant_(w, {num(d.value)})"),
    D.Uniform: lambda d, _: f"uniform_(w, {num(d.low)}, {num(d.high)})",
    D.Normal: lambda d, _: f"normal_(w, mean={num(d.loc)}, std={num(d.scale)})",
}


def native_call(c: Ctx) -> NativeCall:
    d, head = c.dist, f"import torch\n# w: a torch tensor of shape {shape_code(c.shape)}\n"

    def out(call: str, exact: bool = True) -> NativeCall:
        imports = "import math\n" if "math." in call else ""
        return c.done(imports + head + "torch.nn.init." + call, exact, call)

    vs = vs_info(c.plain)
    if vs and vs["dist"] != "truncated_normal" and c.fans_match("torch"):
        kind = vs["dist"]
        if vs["family"] == "glorot":
            gain = "" if vs["gain"] == 1.0 else f", gain={num(vs['gain'])}"
            return out(f"xavier_{kind}_(w{gain})")
        args = _torch_kaiming_args(vs)
        if args is not None:
            return out(f"{_TORCH_FN[kind]}(w{args})")
    call = law_call(_CALLS, c)
    if call is not None:
        return out(call)
    if isinstance(d, D.ConstantArray):  # torch.nn.init has no array constant: copy_ broadcasts it
        c.notes.append("torch.nn.init has no array constant: copy_ broadcasts the value into w")
        return c.done(f"import numpy as np\n{head}{array_code(c, d.value)}\nwith torch.no_grad():\n"
                      "    w.copy_(torch.as_tensor(value))", True, "w.copy_(torch.as_tensor(value))")
    if isinstance(d, D.TruncatedNormal):
        c.notes.append("torch <= 2.11 samples trunc_normal_ by inverse CDF (rare clamped outliers when std is "
                       "far below the bounds); 2.12+ by rejection")
        return out(f"trunc_normal_(w, mean={num(d.loc)}, std={num(d.scale)}, a={num(d.low)}, "
                   f"b={num(d.high)})")
    if isinstance(d, D.Orthogonal):
        if tuple(c.native_axis(a) for a in d.out_axes) == (0,):
            c.notes.append("float16/bfloat16: draw in float32 and cast (orthogonal_ has no half-precision QR)")
            return out("orthogonal_(w)" if d.gain == 1.0 else f"orthogonal_(w, gain={num(d.gain)})")
        c.notes.append("torch's orthogonal_ keeps dim 0 whole; here another axis is the kept one")
        return c.done(None, False)
    if isinstance(d, D.Identity):
        if d.gain == 1.0:
            return out("eye_(w)")
        code = f"import torch\n# w: a torch tensor of shape {shape_code(c.shape)}\nwith torch.no_grad():\n" \
               f"    torch.nn.init.eye_(w).mul_({num(d.gain)})"
        return c.done(code, True, f"eye_(w).mul_({num(d.gain)})")
    if isinstance(d, D.Dirac):
        if (c.native_axis(d.out_axis), c.native_axis(d.in_axis)) == (0, 1):
            return out("dirac_(w)" if d.groups == 1 else f"dirac_(w, groups={d.groups})")
        c.notes.append("torch's dirac_ reads (out, in, *kernel); this tensor's axes differ")
        return c.done(None, False)
    if isinstance(d, D.Sparse):
        if c.native_axis(d.out_axis) == 0:
            c.notes.append("sparse_ draws its zero positions from the global RNG, ignoring generator=")
            return out(f"sparse_(w, sparsity={num(d.sparsity)}, std={num(d.scale)})")
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
            return f", a={num(vs['slope'])}{mode}"
        return f'{mode}, nonlinearity="{nl}"'
    if vs["family"] == "lecun":
        return f'{mode}, nonlinearity="linear"'
    s = vs["scale"]
    if s == 2.0:
        return f'{mode}, nonlinearity="relu"'
    if s == 1.0:
        return f'{mode}, nonlinearity="linear"'
    if s < 2.0:  # leaky_relu gain² = 2 / (1 + a²)  =>  a = sqrt(2/s - 1)
        return f", a={num(math.sqrt(2.0 / s - 1.0))}{mode}"
    return None
