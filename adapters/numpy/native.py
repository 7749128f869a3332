"""How numpy prints the native call of a resolved law (see :mod:`initspec.native`).

Strings only: nothing here imports anything.
"""

from __future__ import annotations

from ... import distributions as D
from ...calls import Ctx, LawCalls, NativeCall, array_code, law_call, num, shape_code

__all__ = ["LAYOUT", "native_call"]

#: The layout this framework stores weights in (the snippet's ``w`` is in it).
LAYOUT = None

#: The laws one ``return`` line draws.
_CALLS: LawCalls = {
    D.Constant: lambda d, shp: f"np.full({shp}, {num(d.value)})",
    D.Uniform: lambda d, shp: f"rng.uniform({num(d.low)}, {num(d.high)}, size={shp})",
    D.Normal: lambda d, shp: f"rng.normal({num(d.loc)}, {num(d.scale)}, size={shp})",
    D.Identity: lambda d, _: f"{num(d.gain)} * np.eye({d.shape[0]}, {d.shape[1]})",
}


def native_call(c: Ctx) -> NativeCall:
    d, shp = c.dist, shape_code(c.shape)

    def out(body: str, imports: str = "import numpy as np\n") -> NativeCall:
        lines = body.split("\n")
        code = imports + "\ndef init(rng):\n" + "".join(f"    {ln}\n" for ln in lines)
        return c.done(code + "\nw = init(np.random.default_rng(0))", True, lines[-1].removeprefix("return "))

    call = law_call(_CALLS, c)
    if call is not None:
        return out(f"return {call}")
    if isinstance(d, D.ConstantArray):
        return out(f"{array_code(c, d.value)}\nreturn np.broadcast_to(value, {shp}).copy()")
    if isinstance(d, D.TruncatedNormal):
        c.notes.append("NumPy has no truncated normal: SciPy's truncnorm (bounds in parent std units)")
        return out(f"return truncnorm.rvs({num(d.alpha)}, {num(d.beta)}, loc={num(d.loc)}, scale={num(d.scale)}, "
                   f"size={shp}, random_state=rng)", "import numpy as np\nfrom scipy.stats import truncnorm\n")
    if isinstance(d, D.Orthogonal):
        rows, cols = d.rows, d.cols
        big, small = max(rows, cols), min(rows, cols)
        body = [f"q, r = np.linalg.qr(rng.standard_normal(({big}, {small})))",
                "q *= np.sign(np.diag(r))  # Haar sign correction (Mezzadri 2007)"]
        if rows < cols:
            body.append("q = q.T")
        expr = f"q.reshape({shape_code(d.matrix_dims)})"
        if d.inverse_perm != tuple(range(len(d.shape))):
            expr += f".transpose({d.inverse_perm})"
        body.append(f"return {num(d.gain)} * {expr}")
        return out("\n".join(body))
    c.notes.append(f"NumPy has no {d.kind.replace('_', '-')} initializer; use initspec.adapters.numpy")
    return c.done(None, False)
