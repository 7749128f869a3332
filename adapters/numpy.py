"""NumPy backend - the reference adapter.

>>> import numpy as np
>>> from initspec.adapters import numpy as isnp
>>> init = isnp.initializer({"scheme": "glorot", "distribution": "uniform"})   # layout="jax": (in, out)
>>> w = init((256, 128), seed=0)
>>> w.dtype, w.shape, bool(np.abs(w).max() <= (6 / 384) ** 0.5)
(dtype('float32'), (256, 128), True)

``init(shape, *, seed=None, dtype=np.float32)`` takes an int seed or a
``np.random.Generator`` (``None`` draws fresh entropy; global NumPy state is never used).
float32 and float64 are drawn directly in that dtype; float16 and bfloat16 (``ml_dtypes``)
are drawn in float32 and rounded, as NumPy has no half-precision generators.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import distributions as D
from ..errors import SpecError
from ..resolution import resolve
from ._common import FLOAT_DTYPES, dtype_name, prepare, unsupported_dtype

__all__ = ["initializer", "sample", "NumpyInitializer", "truncated_standard_normal", "HAAR_SIGN_CORRECTION"]

#: Multiply Q by sign(diag R) after the QR (Mezzadri 2007) so orthogonal draws are Haar
#: distributed.  Read at call time; the conformance power gate turns it off.
HAAR_SIGN_CORRECTION = True


def _np_dtype(dtype: Any) -> np.dtype:
    if isinstance(dtype, str) and dtype == "bfloat16" or dtype_name(dtype) == "bfloat16":
        import ml_dtypes  # noqa: PLC0415 - optional, ships with JAX

        return np.dtype(ml_dtypes.bfloat16)
    try:
        return np.dtype(dtype)
    except TypeError:
        raise SpecError.single("unsupported_dtype", "not a NumPy dtype", loc=("dtype",), value=str(dtype)) from None


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecError.single("bad_seed", "seed must be a non-negative int or a numpy.random.Generator",
                               loc=("seed",), value=seed)
    return np.random.default_rng(int(seed))


def _work_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _inward(value: float, dtype: np.dtype, direction: float) -> Any:
    """``value`` rounded to ``dtype`` toward ``direction`` (so it never crosses the true bound)."""
    v = dtype.type(value)
    if (float(v) - value) * direction < 0:  # rounded outward: step back in
        v = np.nextafter(v, dtype.type(direction * math.inf))
    return v


def truncated_standard_normal(rng: np.random.Generator, n: int, a: float, b: float,
                              dtype: Any = np.float64) -> np.ndarray:
    """``n`` draws of N(0, 1) restricted to [a, b], exactly, by rejection.

    Chooses the proposal by the interval: the normal itself when it keeps >= 25% of its
    mass; a uniform on [a, b] when the interval is narrow; Robert's (1995) translated
    exponential in a far tail.  The amount of randomness consumed depends on the data.
    """
    dtype = np.dtype(dtype)
    out = np.empty(n, dtype=dtype)
    if n == 0:
        return out
    if b <= 0:  # mirror a left interval onto the right
        return np.negative(truncated_standard_normal(rng, n, -b, -a, dtype), out=out)
    mass = D.TruncatedNormal(loc=0.0, scale=1.0, lower=a, upper=b).mass
    filled = 0
    if mass >= 0.25:
        while filled < n:
            need = n - filled
            z = rng.standard_normal(int(need / mass * 1.02) + 32, dtype=dtype)
            z = z[(z >= a) & (z <= b)][:need]
            out[filled:filled + z.size] = z
            filled += z.size
        return out
    lo = max(a, 0.0)
    use_uniform = a < 0 or (b - lo) * (b + lo) / 2.0 < 1.0
    lam = (a + math.sqrt(a * a + 4.0)) / 2.0
    while filled < n:
        need = n - filled
        m = int(need * 1.5) + 32
        if use_uniform:
            x = a + (b - a) * rng.random(m)
            logp = (lo * lo - x * x) / 2.0  # exp(-(x² - min x²)/2) <= 1
        else:
            x = a + rng.standard_exponential(m) / lam
            logp = -((x - lam) ** 2) / 2.0
            logp[x > b] = -math.inf
        keep = x[np.log(rng.random(m)) <= logp][:need]
        out[filled:filled + keep.size] = keep
        filled += keep.size
    return out


def sample(dist: D.Distribution, rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
    """Draw one tensor of ``dist`` (its shape comes from the derivation or the structure)."""
    shape = _shape_of(dist)
    dtype = _np_dtype(dtype)
    if dist.random and dtype.kind != "f" and dtype_name(dtype) not in FLOAT_DTYPES:
        raise unsupported_dtype(dtype, dist.kind)
    wd = _work_dtype(dtype) if dtype.kind == "f" or dtype_name(dtype) == "bfloat16" else np.dtype(np.float64)
    x = _draw(dist, shape, rng, wd)
    return x if x.dtype == dtype else x.astype(dtype)


def _shape_of(dist: D.Distribution) -> tuple[int, ...]:
    shape = getattr(dist, "shape", None)
    if shape is None and dist.derivation is not None:
        shape = dist.derivation.shape
    if shape is None:
        raise ValueError("distribution has no shape; resolve it with a shape first")
    return tuple(shape)


def _orthogonal_matrix(rng: np.random.Generator, rows: int, cols: int, wd: np.dtype) -> np.ndarray:
    """A Haar-random (rows, cols) matrix with orthonormal columns (rows >= cols) or rows."""
    big, small = max(rows, cols), min(rows, cols)
    a = rng.standard_normal((big, small), dtype=wd)
    q, r = np.linalg.qr(a)
    if HAAR_SIGN_CORRECTION:
        d = np.sign(np.diagonal(r))
        d[d == 0] = 1  # Haar sign correction (Mezzadri 2007)
        q *= d
    return q if rows >= cols else q.T


def _draw(dist: D.Distribution, shape: tuple[int, ...], rng: np.random.Generator, wd: np.dtype) -> np.ndarray:
    n = math.prod(shape)
    if isinstance(dist, D.Constant):
        return np.full(shape, dist.value, dtype=wd)
    if n == 0:
        return np.zeros(shape, dtype=wd)
    if isinstance(dist, D.Uniform):
        x = rng.random(shape, dtype=wd)
        x *= dist.upper - dist.lower
        x += dist.lower
        return x
    if isinstance(dist, D.Normal):
        x = rng.standard_normal(shape, dtype=wd)
        if dist.scale != 1.0:
            x *= dist.scale
        if dist.loc != 0.0:
            x += dist.loc
        return x
    if isinstance(dist, D.TruncatedNormal):
        x = truncated_standard_normal(rng, n, dist.alpha, dist.beta, wd).reshape(shape)
        x *= dist.scale
        x += dist.loc
        # scaling can round a value just past a bound: clip to the bounds rounded inward
        np.clip(x, _inward(dist.lower, wd, +1), _inward(dist.upper, wd, -1), out=x)
        return x
    if isinstance(dist, D.Orthogonal):
        m = _orthogonal_matrix(rng, dist.rows, dist.cols, wd)
        x = np.ascontiguousarray(m.reshape(dist.matrix_dims).transpose(dist.inverse_perm))
        x *= dist.gain
        return x
    if isinstance(dist, D.Identity):
        return (dist.gain * np.eye(*shape)).astype(wd)
    if isinstance(dist, D.Dirac):
        x = np.zeros(shape, dtype=wd)
        pos = dist.one_positions()
        if pos:
            x[tuple(np.array(pos).T)] = 1
        return x
    if isinstance(dist, D.DeltaOrthogonal):
        x = np.zeros(shape, dtype=wd)
        block = dist.block
        m = _orthogonal_matrix(rng, block.rows, block.cols, wd) * dist.gain
        idx: list[Any] = [slice(None)] * len(shape)
        for axis, c in zip(dist.spatial_axes, dist.centre):
            idx[axis] = c
        x[tuple(idx)] = m if dist.in_axis < dist.out_axis else m.T
        return x
    if isinstance(dist, D.Sparse):
        x = rng.standard_normal(shape, dtype=wd)
        x *= dist.scale
        z = dist.zeros_per_column
        if z:
            n_out, n_in = shape[dist.out_axis], shape[dist.in_axis]
            rows = np.argsort(rng.random((n_in, n_out)), axis=1)[:, :z]  # z distinct rows per column
            cols = np.broadcast_to(np.arange(n_in)[:, None], rows.shape)
            idx2 = [None, None]
            idx2[dist.out_axis], idx2[dist.in_axis] = rows, cols
            x[tuple(idx2)] = 0
        return x
    raise TypeError(f"the NumPy backend cannot draw {type(dist).__name__}")  # pragma: no cover


class NumpyInitializer:
    """``init(shape, *, seed=None, dtype=np.float32) -> np.ndarray`` for one spec."""

    backend = "numpy"

    def __init__(self, spec: Any, layout: Any = "jax"):
        self.spec, self.layout = prepare(spec, layout)

    def resolve(self, shape: Any) -> D.Distribution:
        return resolve(self.spec, shape, self.layout)

    def __call__(self, shape: Any, *, seed: Any = None, dtype: Any = np.float32) -> np.ndarray:
        dist = resolve(self.spec, shape, self.layout)
        return sample(dist, _rng(seed), dtype)

    def __repr__(self) -> str:
        return f"initspec.adapters.numpy.initializer({self.spec.to_dict()!r}, layout={self.layout!r})"


def initializer(spec: Any, layout: Any = "jax") -> NumpyInitializer:
    """Compile ``spec`` into a NumPy initializer for tensors in ``layout`` (default ``"jax"``:
    ``(*kernel, in, out)``)."""
    return NumpyInitializer(spec, layout)


# ----------------------------------------------------------------------------- plans

_ROLE_BY_LEAF = {"weight": "weight", "kernel": "weight", "w": "weight", "bias": "bias", "b": "bias",
                 "scale": "scale", "gamma": "scale", "beta": "offset", "offset": "offset",
                 "embedding": "embedding", "embeddings": "embedding", "recurrent_kernel": "recurrent_weight"}


class Params(dict):
    """A mapping of names to NumPy arrays, with the layout its weights are stored in
    (``"jax"``: (in, out); ``"torch"``: (out, in)).  A plain dict is read as ``"jax"``."""

    def __init__(self, arrays: Any = (), *, layout: str = "jax"):
        super().__init__(arrays)
        self.layout = layout


def _flatten(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], np.ndarray]]:
    out = []
    for key, value in tree.items():
        path = prefix + tuple(str(key).split("."))
        if isinstance(value, dict):
            out += _flatten(value, path)
        else:
            out.append((path, value))
    return out


def plan_walk(model: Any) -> list[Any]:
    """Describe a (nested) mapping of NumPy arrays for plans.

    Roles come from the leaf names (weight/kernel, bias, scale/gamma, beta/offset,
    embedding); kinds from the weight's rank (2-D: dense, more: conv), and a layer's bias
    inherits its weight's kind and fans.
    """
    from ..layout import compute_fans
    from ..plans.targets import ParamInfo, normalize_path

    layout = getattr(model, "layout", "jax")
    leaves = _flatten(model)
    weights: dict[tuple[str, ...], Any] = {}
    for path, arr in leaves:
        if _ROLE_BY_LEAF.get(path[-1]) == "weight" and np.ndim(arr) >= 2:
            weights[path[:-1]] = compute_fans(tuple(np.shape(arr)), layout)
    norm_layers = {path[:-1] for path, _ in leaves if _ROLE_BY_LEAF.get(path[-1]) == "scale"}
    infos = []
    for path, arr in leaves:
        if not isinstance(arr, np.ndarray):
            raise SpecError.single("unsupported_model", "every leaf of a NumPy parameter mapping must be an ndarray",
                                   loc=(".".join(path),), value=type(arr).__name__)
        role = _ROLE_BY_LEAF.get(path[-1], "other")
        if role == "bias" and path[:-1] in norm_layers:
            role = "offset"  # the bias of a norm layer (one with a scale) is its offset
        fans = weights.get(path[:-1])
        if role == "weight":
            kind = "dense" if arr.ndim == 2 else "conv" if arr.ndim > 2 else "other"
        elif role in ("scale", "offset"):
            kind = "norm"
        elif role == "embedding":
            kind = "embedding"
        elif role == "bias" and fans is not None:
            kind = "dense" if fans.receptive_field == 1 else "conv"
        else:
            kind = "other"
        infos.append(ParamInfo(
            path=normalize_path(path, role), native_path=".".join(path), shape=tuple(arr.shape),
            dtype=dtype_name(arr.dtype), kind=kind, role=role, type="ndarray", layout=layout, native_layout=layout,
            layer_fans=fans, layer_native_fans=fans, handle=arr))
    return infos


def _target(row: Any) -> tuple[np.ndarray, Any]:
    arr = row.param.handle
    if row.block is None:
        return arr, Ellipsis
    idx: list[Any] = [slice(None)] * arr.ndim
    idx[row.block.axis] = slice(row.block.start, row.block.stop)
    return arr, tuple(idx)


def plan_write(model: Any, rows: Any, *, transactional: bool = False) -> Any:
    """Draw each plan row into its array in place (see :mod:`initspec.plans.backends`)."""
    from ..plans.faults import checkpoint

    if not transactional:
        for row in rows:
            checkpoint("draw", row.path)
            arr, idx = _target(row)
            arr[idx] = sample(row.distribution, np.random.default_rng(row.seed), arr.dtype)
        return model
    staged = []
    for row in rows:  # stage every draw first: a failure here changes nothing
        checkpoint("draw", row.path)
        arr, idx = _target(row)
        staged.append((arr, idx, sample(row.distribution, np.random.default_rng(row.seed), arr.dtype)))
    backups = [(arr, idx, np.array(arr[idx], copy=True)) for arr, idx, _ in staged]
    done = 0
    try:
        for arr, idx, value in staged:
            checkpoint("commit", "")
            arr[idx] = value
            done += 1
    except BaseException:
        for arr, idx, old in reversed(backups[:done]):
            arr[idx] = old
        raise
    return model
