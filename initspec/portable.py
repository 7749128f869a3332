"""Portable seeding: every value a pure function of (seed, path, element index, law, dtype).

:func:`draw` returns the elements of one parameter that an index (per-dimension slices of
the full tensor, as a shard sees them) selects.  The same plan seed, parameter path, law and
dtype give **the same bytes** for an element whatever the slicing, the world size, the
module order, the thread count, the device or the framework the values are copied into.

>>> import numpy as np
>>> from initspec import distributions as D
>>> from initspec.portable import draw
>>> law = D.Normal(loc=0.0, scale=0.02)
>>> full = draw(law, (8, 6), "float32", seed=0, path="blocks.0.mlp.fc.weight")
>>> shard = draw(law, (8, 6), "float32", seed=0, path="blocks.0.mlp.fc.weight",
...              index=(slice(4, 8), slice(0, 3)))
>>> bool(np.array_equal(shard, full[4:8, 0:3]))
True

**What a value depends on** - and nothing else:

* the key ``(derive_seed(seed, path, block), KEY_TAG)``: :func:`derive_seed` is the plan's
  (``initspec.plans.table.derive_seed``, a BLAKE2b hash of the plan seed, the normalized
  path and the fused block's name), so a plan row's ``seed`` column is the key's first word;
* the element's flat C-order index in the full tensor (for orthogonal laws, in the Gaussian
  matrix they orthogonalize);
* the law's fields (the key does not include the law: two laws at one path share uniforms);
* the dtype: float64 uses 64 random bits per element, float32 32; float16 and bfloat16 are
  the float32 values rounded to nearest even;
* :data:`STREAM_VERSION`: a change to the bits or the transforms bumps it.

**Bits.** NumPy's C Philox4x64-10 (``np.random.Philox``): 64-bit word ``j`` of stream ``s``
is word ``j % 4`` of the block at counter ``(j // 4, 0, s, 0)`` - the ``(j % 4)``-th
``random_raw`` word after ``Philox(key=key).jumped(s).advance(j // 4)``.  Float64 element
``i`` uses word ``i``; float32 element ``i`` the low (``i`` even) or high (odd) half of word
``i // 2``.  Stream 0 holds the values, stream 1 the sparse masks.

**Transforms** use only IEEE-754 float64 ``+ - * /``, ``sqrt``, ``frexp``, exact int-to-float
conversions and round-to-nearest casts, one NumPy ufunc at a time (no fused multiply-add,
no libm), so they give the same bits on any IEEE machine and can be re-implemented op for
op.  ``k`` is the 32-bit integer (float32) or the word's top 52 bits (float64, ``B`` = 52),
and ``u = (k + 0.5) * 2**-B``: exact, strictly inside (0, 1), symmetric.

* uniform: ``low + (high - low) * u``, clipped to [low, high] (rounded to float32 it may,
  as in every framework, equal ``high``);
* normal: ``loc + scale * ndtri(u)``: :func:`ndtri` is Wichura's AS241 (PPND16, within a
  few float64 ulp) with fdlibm's logarithm written out.  ``|z| <= 6.34`` in float32 (``u >=
  2**-33``), ``<= 8.21`` in float64;
* truncated normal: ``ndtri(Φ(a) + (Φ(b) - Φ(a)) * u)``, an interval right of the mean
  mirrored to the left (where Φ keeps its precision); :func:`ndtr` gives Φ of the two bounds,
  correctly rounded (``decimal`` arithmetic, no libm).  Values are clipped to the float32
  (float64) numbers strictly inside the bounds; float16/bfloat16 round those;
* sparse: the normal above everywhere, and zeros at the ``zeros_per_column`` elements of
  each column (index along ``in_axis``) with the smallest (high 32 bits of the stream-1
  word, index along ``out_axis``) - unique keys, so no tie-breaking rule is involved;
* orthogonal: Q·sign(diag R) (Mezzadri 2007) of the QR of a (max, min) Gaussian matrix
  drawn as the normal above from 64-bit words (so a float32 draw is the float64 one
  rounded), arranged as :class:`~initspec.distributions.Orthogonal` says, times the gain;
  delta-orthogonal puts that block at the centre tap;
* constant, identity, dirac: their values.

**Design: computed on the host, in NumPy, for the elements a shard owns; the backends copy.**
The alternative - each framework running Philox/threefry and these transforms in its own ops
- is faster on a GPU, but bit identity would then rest on each framework's code generation:
float32 log/cos/erfinv disagree across NumPy/torch/JAX on 8-23% of inputs
(REFERENCE-models E), XLA contracts multiply-adds, and torch has no 64-bit multiply-high for
Philox4x64.  Here one function computes every value, so identity holds by construction, and
a shard pays only for its own elements (plus the Philox words of the gaps under
:data:`MERGE_GAP` between its runs).  Work runs in chunks of :data:`CHUNK` elements (the
float64 temporaries stay in a 2 MiB L2) on a thread pool: NumPy releases the GIL in ufuncs
and in ``random_raw``.

*Speed* (``benchmarks/bench_portable.py``: fastest of 5 alternating rounds against
``torch.empty(4096, 4096).normal_()`` in the same process; torch 2.13's CPU ``normal_`` is
single-threaded, ~2.7 ns per value).  On the 2-core machine this was built on, which other
jobs kept loaded (load average 2-5, so a second thread was rarely free), a float32 normal
took 1.95-2.8x torch with 2 threads and 2.7-3.8x with one; uniform 0.6-0.7x; He's truncated
normal (±2σ) 2.8-3.9x; GPT-2 small's 124M values 3.8-4.0x.  The floor is the NumPy ufunc
passes - per float32 normal and core: ~1.5 ns of Philox bits, 0.4 ns to the unit, ~7 ns of
AS241 in float64 (4.5 for the two degree-7 polynomials every element pays, ~2.5 for the 15%
of tail elements: gather, logarithm, scatter), 0.1 ns to round - so one core is ~3.5x torch
and the 2x target needs the second core (threads split chunks: 1.95x in the least loaded run).
Not the way to get there: Wichura's single-precision PPND7 saved only 13% and left 40% of
float32 values one ulp off the exact quantile (PPND16 leaves none, on 65,536 tested).  What
would: more host cores (the default uses up to 8 threads), or the per-framework path on the
device - Philox plus these same ops in torch/XLA with FMA contraction off - which would need
a GPU check of bit identity this machine cannot make.

**For the backends** (the plan writers do this when a plan says ``seeding: portable``).
:func:`draw_stored` takes the law resolved for the *storage* shape and the parameter's real
layout, renumbers the law into the canonical order (:func:`canonical_order`: batch, out, in,
receptive-field axes - PyTorch's ``(out, in, *k)``; :func:`canonical_law`), draws there and
returns the values transposed back to storage order, so torch's (out, in) weight and Keras'
(in, out) kernel get the same numbers; a shard passes its ``index`` in storage order
(DTensor/FSDP: the local shard's global offset and shape; JAX: the ``index`` that
``jax.make_array_from_callback`` gives).  ``row_seed`` is a plan row's ``seed``
(= :func:`derive_seed` of the plan seed, normalized path and block).  ``out=`` writes a
C-contiguous array in place, chunk by chunk (the torch writer passes a CPU parameter's own
memory: no temporary of the tensor's size); otherwise copy with
``tensor.copy_(torch.from_numpy(x))`` (bfloat16: ``x.view(np.uint16)``, then
``.view(torch.bfloat16)``), or ``variable.assign(x)`` (Keras).  :func:`shard_seed` is for
*native* seeding of a shard: the row's seed folded with the shard's offset and shape.

.. warning::
   Orthogonal laws are whole-matrix: every shard computes the full Gaussian matrix, its QR
   and Q in float64 - about 4 x 8 x rows x cols bytes at the peak (0.5 GiB for 4096 x
   4096) and O(rows·cols·min) flops - and keeps its slice.  The QR runs in LAPACK: identical
   across frameworks and ranks sharing the host's NumPy/BLAS build, while another BLAS or
   CPU kernel can change the last bits of Q and so, rarely, a rounded float32 element.
   Sparse masks rank whole columns: a shard draws the mask words of every row of its columns.
"""

from __future__ import annotations

import hashlib
import math
import operator
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

from . import distributions as D
from .errors import SpecError
from .layout import compute_fans
from .sampling import check_dtype, check_seed, haar, np_dtype

__all__ = ["CHUNK", "KEY_TAG", "MERGE_GAP", "STREAM_VERSION", "canonical_law", "canonical_order", "derive_seed", "draw",
           "draw_stored", "ndtr", "ndtri", "portable_key", "shard_seed"]

#: Bumped whenever a change to the bits or the transforms changes any value.
STREAM_VERSION = 1
#: Second word of every Philox key: initspec's portable stream, version 1 (b"isport01").
KEY_TAG = int.from_bytes(b"isport01", "little")
#: Elements per unit of work: the central pass's four 64 Ki float64 arrays (2 MiB) stay in L2.
CHUNK = 1 << 16
#: Runs of selected elements closer than this (in flat index) are drawn as one span and the
#: gap dropped: ~1.6 ns per skipped float32 element against ~2 µs to restart the generator.
MERGE_GAP = 1024

_VALUES, _MASK = 0, 1  # Philox streams (counter word 2)


# ----------------------------------------------------------------------------- keys


def derive_seed(seed: int, path: str, block: str | None = None) -> int:
    """A parameter's 63-bit seed from (plan seed, normalized path, block) - the same function
    as ``initspec.plans.table.derive_seed`` (kept here so the core does not import plans)."""
    data = f"{seed}\x00{path}\x00{block or ''}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


def portable_key(seed: int, path: str, block: str | None = None) -> tuple[int, int]:
    """The Philox key of a parameter: ``(derive_seed(seed, path, block), KEY_TAG)``."""
    return derive_seed(seed, path, block), KEY_TAG


# ----------------------------------------------------------------------------- float64 math

# Wichura (1988), Algorithm AS 241 PPND16: Φ⁻¹(p) to about 1e-16.  Coefficients low -> high.
_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3, 1.3731693765509461125e4,
      4.5921953931549871457e4, 6.7265770927008700853e4, 3.3430575583588128105e4, 2.5090809287301226727e3)
_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
      2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4, 5.2264952788528545610e3)
_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0, 3.64784832476320460504e0,
      1.27045825245236838258e0, 2.41780725177450611770e-1, 2.27238449892691845833e-2, 7.74545014278341407640e-4)
_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
      1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4, 1.05075007164441684324e-9)
_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0, 2.96560571828504891230e-1,
      2.65321895265761230930e-2, 1.24266094738807843860e-3, 2.71155556874348757815e-5, 2.01033439929228813265e-7)
_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
      7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7, 2.04426310338993978564e-15)
# AS241's split points: |p - 0.5| <= 0.425 is the central region (0.180625 = 0.425²), and
# r = sqrt(-log(min(p, 1 - p))) <= 5 the intermediate tail.
_SPLIT1, _CONST1, _SPLIT2 = 0.425, 0.180625, 5.0

# fdlibm e_log.c: log(1+f) = f - hfsq + s*(hfsq + R(s²)), s = f/(2+f), on sqrt(1/2) <= 1+f < sqrt(2).
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
       1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01)
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # ln 2 split: e*LN2_HI is exact
_SQRT_HALF = 0.70710678118654752440


def _poly(x: np.ndarray, coefs: Sequence[float], out: np.ndarray) -> np.ndarray:
    """Horner: sum(coefs[i] * x**i) into ``out`` (one rounding per multiply and per add)."""
    np.multiply(x, coefs[-1], out=out)
    np.add(out, coefs[-2], out=out)
    for c in coefs[-3::-1]:
        np.multiply(out, x, out=out)
        np.add(out, c, out=out)
    return out


def _log_into(x: np.ndarray, out: np.ndarray, t: Sequence[np.ndarray], e: np.ndarray) -> np.ndarray:
    """Natural log of positive finite float64 ``x`` into ``out`` (which may be ``x``) by
    fdlibm's algorithm (< 1 ulp), no libm.  ``t``: four float64 temporaries, ``e``: int32."""
    m, s, z, r = t
    np.frexp(x, out=(m, e))  # x = m * 2**e, m in [0.5, 1): exact
    np.less(m, _SQRT_HALF, out=s)  # 1.0 where m < sqrt(1/2): move m to [sqrt(1/2), sqrt(2))
    np.subtract(e, s, out=out)  # k
    np.multiply(m, s, out=z)
    np.add(m, z, out=m)
    np.subtract(m, 1.0, out=m)  # f
    np.add(m, 2.0, out=s)
    np.divide(m, s, out=s)  # s = f / (2 + f)
    np.multiply(s, s, out=z)
    _poly(z, (0.0, *_LG), r)  # R(z), z = s²
    np.multiply(m, m, out=z)
    np.multiply(z, 0.5, out=z)  # hfsq = f²/2
    np.add(z, r, out=r)
    np.multiply(s, r, out=r)  # s (hfsq + R)
    np.multiply(out, _LN2_LO, out=s)
    np.add(r, s, out=r)
    np.subtract(z, r, out=z)
    np.subtract(z, m, out=z)  # (hfsq - (s (hfsq + R) + k ln2_lo)) - f
    np.multiply(out, _LN2_HI, out=out)
    return np.subtract(out, z, out=out)


def _ndtri_into(p: np.ndarray, out: np.ndarray, sc: _Scratch) -> np.ndarray:
    """Φ⁻¹(p) for float64 ``p`` strictly inside (0, 1), written to ``out`` (which may be
    ``p``), using ``sc``'s temporaries (``len(p) <= CHUNK``; rows 1-8 of ``sc.f64``).

    The central rational runs on every element (``q`` clipped to the central interval, so
    no spurious division), then the tails (15% of uniform ``p``) are recomputed apart.  No
    array is allocated: fresh temporaries of ~100 KiB per call made glibc trim and re-fault
    its heap, which measured the tail's logarithm 5x slower."""
    n = p.size
    q, r, num, pt, *t = (row[:n] for row in sc.f64[1:9])
    mask, upper = sc.mask[0, :n], sc.mask[1]
    np.subtract(p, 0.5, out=q)
    np.greater(np.abs(q, out=r), _SPLIT1, out=mask)
    n_tail = int(np.count_nonzero(mask))
    pt = np.compress(mask, p, out=pt[:n_tail])  # gathered before ``out`` (maybe ``p``) is written
    np.clip(q, -_SPLIT1, _SPLIT1, out=q)
    np.multiply(q, q, out=r)
    np.subtract(_CONST1, r, out=r)
    _poly(r, _A, num)
    np.multiply(num, q, out=num)
    np.divide(num, _poly(r, _B, out), out=out)
    if n_tail:
        upper = np.greater(pt, 0.5, out=upper[:n_tail])
        w, a, b, c = (x[:n_tail] for x in t)
        np.subtract(1.0, pt, out=w)
        np.minimum(pt, w, out=w)  # min(p, 1 - p), exact
        rr = _log_into(w, w, (pt, a, b, c), sc.i32[:n_tail])
        np.negative(rr, out=rr)
        np.sqrt(rr, out=rr)  # r = sqrt(-log(min(p, 1 - p)))
        np.subtract(rr, 1.6, out=pt)
        val = _poly(pt, _C, a)
        np.divide(val, _poly(pt, _D, b), out=val)
        far = np.flatnonzero(rr > _SPLIT2)  # p < 1.4e-11: never in float32, rare in float64
        if far.size:
            y = rr[far] - _SPLIT2
            val[far] = _poly(y, _E, np.empty_like(y)) / _poly(y, _F, np.empty_like(y))
        np.multiply(upper, 2.0, out=b)
        np.subtract(b, 1.0, out=b)
        np.multiply(val, b, out=val)  # the lower tail is negative
        np.place(out, mask, val)
    return out


def ndtri(p: Any) -> np.ndarray:
    """Φ⁻¹, the standard normal quantile, in float64 (AS241 with the fdlibm log; only IEEE
    arithmetic, so the same bits everywhere).  ``ndtri(0) = -inf``, ``ndtri(1) = inf``, NaN
    outside [0, 1]."""
    p = np.array(p, dtype=np.float64)
    inside = (p > 0.0) & (p < 1.0)
    x = np.where(inside, p, 0.5).ravel()
    _SCRATCH.reserve(CHUNK)
    for start in range(0, x.size, CHUNK):
        piece = x[start:start + CHUNK]
        _ndtri_into(piece, piece, _SCRATCH)
    out = np.where(inside, x.reshape(p.shape), np.where(p == 0.0, -np.inf, np.where(p == 1.0, np.inf, np.nan)))
    return out if out.ndim else out[()]


#: π to 60 digits, for the decimal Φ.
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494")


def ndtr(x: float) -> float:
    """Φ(x), the standard normal CDF, correctly rounded to float64 (in ``decimal`` at 60
    digits: its ``exp`` and ``sqrt`` are correctly rounded, so no libm is involved).  Used
    once per truncated-normal tensor, for the two bounds."""
    x = float(x)
    if math.isnan(x):
        return math.nan
    if math.isinf(x):
        return 1.0 if x > 0 else 0.0
    with localcontext() as ctx:
        ctx.prec = 60
        t = abs(Decimal(x)) / Decimal(2).sqrt()
        if t < 3:  # erf(t) = 2/sqrt(pi) exp(-t²) sum 2^n t^(2n+1) / (1·3·...·(2n+1)): positive terms
            term = t
            total = t
            n = 0
            while term > total * Decimal(10) ** -62:
                n += 1
                term = term * 2 * t * t / (2 * n + 1)
                total += term
            erfc = 1 - 2 / _PI.sqrt() * (-t * t).exp() * total
        else:  # Laplace's continued fraction from the bottom: 400 terms leave 1e-69 at t = 3, less beyond
            frac = t
            for k in range(400, 0, -1):
                frac = t + Decimal(k) / 2 / frac
            erfc = (-t * t).exp() / _PI.sqrt() / frac
        half = erfc / 2
        return float(half if x < 0 else 1 - half)


# ----------------------------------------------------------------------------- bits

_LITTLE = sys.byteorder == "little"


class _Scratch(threading.local):
    """Per-thread state: a Philox generator whose counter is set for each draw, and the
    temporaries of one chunk (allocated once: see :func:`_ndtri_into`)."""

    def __init__(self) -> None:
        self.philox = np.random.Philox(key=0)
        self.state = self.philox.state
        self.reserve(CHUNK)

    def reserve(self, n: int) -> None:
        """Temporaries for chunks of up to ``n`` elements."""
        if getattr(self, "f32", np.empty(0)).size < n:
            self.f64 = np.empty((9, n))  # row 0: the values; 1-8: ndtri's temporaries
            self.i32 = np.empty(n, dtype=np.int32)
            self.mask = np.empty((2, n), dtype=bool)
            self.f32 = np.empty(n, dtype=np.float32)

    def words(self, key: tuple[int, int], stream: int, start: int, count: int) -> np.ndarray:
        """64-bit words [start, start + count) of ``stream`` under ``key``."""
        st = self.state
        st["state"]["counter"][:] = (start // 4, 0, stream, 0)  # = Philox(key).jumped(stream).advance(start // 4)
        st["state"]["key"][:] = key
        st["buffer_pos"] = 4  # buffer empty: the next word is word 0 of that block
        self.philox.state = st
        skip = start % 4
        return self.philox.random_raw(skip + count)[skip:]

    def bits(self, key: tuple[int, int], stream: int, start: int, count: int, wide: bool) -> np.ndarray:
        """The random integers of elements [start, start + count): a 64-bit word each
        (``wide``), else a 32-bit half (the low half for even indices)."""
        if wide:
            return self.words(key, stream, start, count)
        first = start // 2
        w = self.words(key, stream, first, (start + count + 1) // 2 - first)
        halves = w.view(np.uint32) if _LITTLE else np.stack([w & 0xFFFFFFFF, w >> 32], axis=-1).astype(np.uint32)
        return halves.reshape(-1)[start % 2:start % 2 + count]


_SCRATCH = _Scratch()


# ----------------------------------------------------------------------------- selections


def _ranges(shape: tuple[int, ...], index: Any) -> tuple[range, ...]:
    """Per-dimension ranges of the selected indices (missing trailing dimensions: all)."""
    if index is None:
        return tuple(range(n) for n in shape)
    items = tuple(index) if isinstance(index, (tuple, list)) else (index,)
    if len(items) > len(shape) or not all(isinstance(s, slice) for s in items):
        raise SpecError.single("bad_shape", f"index must be at most {len(shape)} slices, one per dimension of "
                               f"{shape}, e.g. (slice(0, 512), slice(None))", loc=("index",), value=index)
    ranges = tuple(range(*s.indices(n)) for n, s in zip(shape, items + (slice(None),) * (len(shape) - len(items))))
    if any(r.step < 1 for r in ranges):
        raise SpecError.single("bad_shape", "index slices need a positive step", loc=("index",), value=index)
    return ranges


def _runs(shape: tuple[int, ...], ranges: tuple[range, ...]) -> tuple[np.ndarray, int, int]:
    """The selection as equal runs in C order: (flat start of each run, elements per run,
    flat distance between a run's elements).  Whole trailing dimensions join the run."""
    strides = [math.prod(shape[a + 1:]) for a in range(len(shape))]
    k = len(shape) - 1
    while k >= 0 and ranges[k] == range(shape[k]):
        k -= 1
    if k < 0:
        return np.zeros(1, dtype=np.int64), math.prod(shape), 1
    rk, inner = ranges[k], strides[k]
    if rk.step == 1:  # axis k's range times the trailing block: contiguous
        outer, length, step, offset = k, len(rk) * inner, 1, rk.start * inner
    elif inner == 1:  # the last axis, with a step
        outer, length, step, offset = k, len(rk), rk.step, rk.start
    else:  # a stepped axis before a trailing block: one run per index of axis k
        outer, length, step, offset = k + 1, inner, 1, 0
    starts = np.full(1, offset, dtype=np.int64)
    for a in range(outer):  # C order: axis 0 outermost
        starts = (starts[:, None] + np.asarray(ranges[a], dtype=np.int64) * strides[a]).reshape(-1)
    return starts, length, step


def _tasks(starts: np.ndarray, length: int) -> list[tuple[int, int, int, int]]:
    """Units of about :data:`CHUNK` elements, ``(first run, end run, offset, count)``: a
    piece of one long run, or whole short runs (offset 0, count ``length``)."""
    n_runs = starts.size
    if length >= CHUNK // 2:
        return [(r, r + 1, off, min(CHUNK, length - off)) for r in range(n_runs) for off in range(0, length, CHUNK)]
    group = max(1, CHUNK // length)
    if n_runs > 1:  # a merged span covers at most 8 chunks
        group = max(1, min(group, 8 * CHUNK // int(np.diff(starts).max())))
    return [(r, min(n_runs, r + group), 0, length) for r in range(0, n_runs, group)]


def _task_bits(sc: _Scratch, key: tuple[int, int], stream: int, wide: bool, starts: np.ndarray, step: int,
               task: tuple[int, int, int, int]) -> np.ndarray:
    """The random integers of one task's elements, in C order."""
    r0, r1, off, count = task
    span = (count - 1) * step + 1  # flat extent of one run (piece)
    if r1 - r0 == 1:
        return sc.bits(key, stream, int(starts[r0]) + off * step, span, wide)[::step]
    st = starts[r0:r1]
    if int(np.diff(st).max()) - span <= MERGE_GAP:  # one span, the gaps dropped
        base = int(st[0])
        words = sc.bits(key, stream, base, int(st[-1]) - base + span, wide)
        return words[((st - base)[:, None] + np.arange(0, span, step)).reshape(-1)]
    return np.concatenate([sc.bits(key, stream, int(s), span, wide)[::step] for s in st])


def _threads(threads: int | None) -> int:
    if threads is None:
        try:
            return min(len(os.sched_getaffinity(0)), 8)
        except AttributeError:  # pragma: no cover - macOS, Windows
            return min(os.cpu_count() or 1, 8)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    return threads


_POOLS: dict[int, tuple[int, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()


def _pool(n: int) -> ThreadPoolExecutor:
    """A pool of ``n`` threads (made again in a forked child, whose threads are gone)."""
    with _POOLS_LOCK:
        entry = _POOLS.get(n)
        if entry is None or entry[0] != os.getpid():
            entry = _POOLS[n] = (os.getpid(), ThreadPoolExecutor(n, thread_name_prefix="initspec-portable"))
        return entry[1]


#: Writes the values of a chunk's random integers into its slice of the output.
_Transform = Callable[[np.ndarray, np.ndarray, _Scratch], None]


def _map_elements(transform: _Transform, shape: tuple[int, ...], ranges: tuple[range, ...], dtype: np.dtype,
                  key: tuple[int, int], stream: int, wide: bool, threads: int,
                  out: np.ndarray | None = None) -> np.ndarray:
    """``transform`` applied to the random integers of the selected elements, chunk by chunk,
    into ``out`` (a C-contiguous array of the selection's shape and ``dtype``) or a new array."""
    if out is None:
        out = np.empty(tuple(len(r) for r in ranges), dtype=dtype)
    if out.size == 0:
        return out
    starts, length, step = _runs(shape, ranges)
    flat = out.reshape(-1)
    tasks = _tasks(starts, length)

    def work(task: tuple[int, int, int, int]) -> None:
        sc = _SCRATCH
        first = task[0] * length + task[2]
        bits = _task_bits(sc, key, stream, wide, starts, step, task)
        sc.reserve(bits.size)
        transform(bits, flat[first:first + bits.size], sc)

    if threads == 1 or len(tasks) == 1:
        for task in tasks:
            work(task)
    else:
        list(_pool(threads).map(work, tasks))
    return out


# ----------------------------------------------------------------------------- elementwise laws


def _unit(bits: np.ndarray, wide: bool, buf: np.ndarray) -> np.ndarray:
    """u = (k + 0.5) * 2**-B, k the 32-bit integer (B = 32) or the word's top 52 bits (B = 52)."""
    u = buf[:bits.size]
    if wide:
        np.right_shift(bits, 12, out=bits)
    np.copyto(u, bits, casting="safe")  # exact: k < 2**52
    np.add(u, 0.5, out=u)
    np.multiply(u, 2.0**-52 if wide else 2.0**-32, out=u)
    return u


def _store(x: np.ndarray, dst: np.ndarray, sc: _Scratch, inside: tuple[Any, Any] | None = None) -> None:
    """Round float64 ``x`` into ``dst`` (through float32 for float16/bfloat16), clipped to
    ``inside`` (bounds in float64 or float32) when given."""
    if dst.dtype == np.float64 or dst.dtype == np.float32:
        np.copyto(dst, x, casting="same_kind")
        if inside is not None:
            np.clip(dst, inside[0], inside[1], out=dst)
        return
    x32 = sc.f32[:x.size]
    np.copyto(x32, x, casting="same_kind")
    if inside is not None:
        np.clip(x32, inside[0], inside[1], out=x32)
    dst[...] = x32


def _uniform(dist: D.Uniform, wide: bool) -> _Transform:
    low, high = float(dist.low), float(dist.high)
    width = high - low

    def transform(bits: np.ndarray, dst: np.ndarray, sc: _Scratch) -> None:
        x = _unit(bits, wide, sc.f64[0])
        np.multiply(x, width, out=x)
        np.add(x, low, out=x)
        np.clip(x, low, high, out=x)
        _store(x, dst, sc)

    return transform


def _normal(loc: float, scale: float, wide: bool) -> _Transform:
    def transform(bits: np.ndarray, dst: np.ndarray, sc: _Scratch) -> None:
        z = _unit(bits, wide, sc.f64[0])
        _ndtri_into(z, z, sc)
        if scale != 1.0:  # skipping x * 1 and x + 0 changes no value
            np.multiply(z, scale, out=z)
        if loc != 0.0:
            np.add(z, loc, out=z)
        _store(z, dst, sc)

    return transform


def _inside(low: float, high: float, dtype: np.dtype) -> tuple[Any, Any] | None:
    """The outermost ``dtype`` numbers strictly inside (low, high), or None when there are none."""
    lo, hi = dtype.type(low), dtype.type(high)
    if float(lo) <= low:
        lo = np.nextafter(lo, dtype.type(math.inf))
    if float(hi) >= high:
        hi = np.nextafter(hi, dtype.type(-math.inf))
    return (lo, hi) if lo <= hi else None


#: The units a truncated normal's inverse CDF is evaluated within (Φ(a) may be 0, and
#: Φ(a) + width·u may round to 1).
_P_MIN, _P_MAX = 2.0**-1074, 1.0 - 2.0**-53


def _truncated_normal(dist: D.TruncatedNormal, dtype: np.dtype, wide: bool) -> _Transform:
    a, b, sign = dist.alpha, dist.beta, 1.0
    if a + b > 0:  # right of the mean: mirror, so Φ(a) and Φ(b) are small and precise
        a, b, sign = -b, -a, -1.0
    pa = ndtr(a)
    width = ndtr(b) - pa
    if not width > 0:
        raise SpecError.single("empty_truncation", f"[{dist.low:g}, {dist.high:g}] holds no probability a "
                               f"float64 can hold under N({dist.loc:g}, {dist.scale:g}²): move the bounds toward "
                               "the mean", loc=("low",), value=(dist.low, dist.high))
    work = np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)
    inside = _inside(dist.low, dist.high, work)
    if inside is None:
        raise SpecError.single("interval_too_narrow", f"no {work.name} number lies strictly between the bounds "
                               f"[{dist.low!r}, {dist.high!r}]: widen them (or draw in float64)",
                               loc=("low",), value=(dist.low, dist.high))
    loc, scale = dist.loc, dist.scale * sign

    def transform(bits: np.ndarray, dst: np.ndarray, sc: _Scratch) -> None:
        p = _unit(bits, wide, sc.f64[0])
        np.multiply(p, width, out=p)
        np.add(p, pa, out=p)
        np.clip(p, _P_MIN, _P_MAX, out=p)
        z = _ndtri_into(p, p, sc)
        np.clip(z, a, b, out=z)
        np.multiply(z, scale, out=z)
        np.add(z, loc, out=z)
        _store(z, dst, sc, inside)

    return transform


def _copy(bits: np.ndarray, dst: np.ndarray, sc: _Scratch) -> None:
    np.copyto(dst, bits)


# ----------------------------------------------------------------------------- whole-tensor laws


def _orthogonal(dist: D.Orthogonal, key: tuple[int, int], threads: int) -> np.ndarray:
    """The whole tensor of an orthogonal law in float64 (Gaussian from 64-bit words, stream 0)."""
    rows, cols = dist.rows, dist.cols
    big, small = max(rows, cols), min(rows, cols)
    g = _map_elements(_normal(0.0, 1.0, True), (big, small), (range(big), range(small)), np.dtype(np.float64),
                      key, _VALUES, True, threads)
    m = haar(g, rows, cols, qr=np.linalg.qr, transpose=np.transpose,
             signs=lambda r: np.where(np.diagonal(r) < 0, -1.0, 1.0))
    x = np.ascontiguousarray(m.reshape(dist.matrix_dims).transpose(dist.inverse_perm))
    x *= dist.gain
    return x


def _delta_orthogonal(dist: D.DeltaOrthogonal, key: tuple[int, int], threads: int) -> np.ndarray:
    x = np.zeros(dist.shape)
    m = _orthogonal(dist.block, key, threads)  # (in, out), gain included
    idx: list[Any] = [slice(None)] * len(dist.shape)
    for axis, c in zip(dist.spatial_axes, dist.centre):
        idx[axis] = c
    x[tuple(idx)] = m if dist.in_axis < dist.out_axis else m.T
    return x


def _sparse_zeros(dist: D.Sparse, shape: tuple[int, ...], ranges: tuple[range, ...], key: tuple[int, int],
                  threads: int) -> np.ndarray:
    """Which selected elements of a sparse law are zero (see the module docstring)."""
    out_axis, z, n_out = dist.out_axis, dist.zeros_per_column, shape[dist.out_axis]
    columns = list(ranges)
    columns[out_axis] = range(n_out)  # whole columns, whatever rows the shard owns
    words = _map_elements(_copy, shape, tuple(columns), np.dtype(np.uint64), key, _MASK, True, threads)
    words = np.moveaxis(words, out_axis, -1)  # (columns, n_out)
    words = (words >> np.uint64(32) << np.uint64(32)) | np.arange(n_out, dtype=np.uint64)
    if z >= n_out:
        zero = np.ones(words.shape, dtype=bool)
    elif z == 0:
        zero = np.zeros(words.shape, dtype=bool)
    else:
        zero = words <= np.partition(words, z - 1, axis=-1)[..., z - 1:z]
    r = ranges[out_axis]
    return np.moveaxis(zero[..., r.start:r.stop:r.step], -1, out_axis)


def _dirac(dist: D.Dirac, ranges: tuple[range, ...]) -> np.ndarray:
    x = np.zeros(tuple(len(r) for r in ranges))
    pos = np.array(dist.one_positions(), dtype=np.int64).reshape(-1, len(ranges))
    keep = np.ones(len(pos), dtype=bool)
    for a, r in enumerate(ranges):
        keep &= (pos[:, a] >= r.start) & (pos[:, a] < r.stop) & ((pos[:, a] - r.start) % r.step == 0)
    local = (pos[keep] - [r.start for r in ranges]) // [r.step for r in ranges]
    x[tuple(local.T)] = 1.0
    return x


def _rounded(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 values in ``dtype``: float16/bfloat16 through float32."""
    if dtype.name in ("float16", "bfloat16"):
        return x.astype(np.float32).astype(dtype)
    return x.astype(dtype)


# ----------------------------------------------------------------------------- the API


def _shape(shape: Any) -> tuple[int, ...]:
    try:
        out = tuple(operator.index(n) for n in shape)
    except TypeError:
        out = None
    if out is None or any(n < 0 for n in out):
        raise SpecError.single("bad_shape", "a shape is a sequence of non-negative integers, e.g. (256, 128)",
                               loc=("shape",), value=shape)
    return out




def _check_seed(seed: Any, what: str = "seed") -> int:
    """The one seed rule (:func:`initspec.sampling.check_seed`): 0 to 2**64 - 1."""
    return check_seed(seed, what)


def draw(dist: D.Distribution, shape: Sequence[int], dtype: Any, *, seed: int, path: str,
         block: str | None = None, index: tuple[slice, ...] | None = None, threads: int | None = None,
         out: np.ndarray | None = None) -> np.ndarray:
    """The values of the elements of a ``shape`` tensor that ``index`` selects, under
    portable seeding (see the module docstring for what they depend on).

    ``dist``: a resolved law (:mod:`initspec.distributions`).  ``dtype``: float16,
    bfloat16, float32 or float64 (constant, identity and dirac also fill integer and bool
    tensors).  ``seed``: the plan seed; ``path``: the normalized parameter path; ``block``:
    the fused block's name.  ``index``: per-dimension slices of the full tensor, positive
    steps, missing trailing dimensions whole; None selects everything.  The result has the
    selection's shape, and an element has the same bytes in every selection that holds it.
    ``threads`` (default: the CPUs this process may use, at most 8) changes only the speed.
    ``out``: an array of the selection's shape and dtype to write into (returned); a
    C-contiguous one is written chunk by chunk, with no temporary of the tensor's size.

    Elements are numbered in C order of ``shape`` as given: a backend passes a weight in
    one canonical layout for every framework (:func:`draw_stored` does it).

    Raises :class:`~initspec.errors.SpecError`: ``unsupported_dtype``, ``lossy_cast``,
    ``bad_seed``, ``bad_shape`` (also a malformed ``index``), ``shape_mismatch`` (a
    structured law resolved for another shape), ``unsupported_shape`` (sparse not 2-D),
    ``interval_too_narrow`` (no number of the dtype strictly inside a truncated normal's
    bounds) and ``empty_truncation`` (bounds too far out for float64).
    """
    seed = _check_seed(seed)
    if not isinstance(path, str) or not (block is None or isinstance(block, str)):
        raise TypeError(f"path must be a str and block a str or None, got {path!r} and {block!r}")
    return draw_stored(dist, shape, dtype, row_seed=derive_seed(seed, path, block), index=index, threads=threads,
                       out=out)


# ----------------------------------------------------------------------------- storage layouts


def canonical_order(shape: Sequence[int], layout: Any) -> tuple[int, ...]:
    """The storage axes in initspec's canonical order: ``perm[i]`` is the storage axis that
    is canonical axis ``i``.

    The canonical order of a tensor with fans is (batch axes, output axes, input axes,
    receptive-field axes), each group in storage order - PyTorch's ``(out, in, *k)``, so a
    torch Linear or Conv weight is stored canonically and a Keras/Flax ``(*k, in, out)``
    kernel is its transpose.  ``layout`` is the parameter's *real* layout (a walker's
    ``ParamInfo.layout``: ``"torch"``, ``"keras"``, ``"jax"``, ``"flax"`` or
    :class:`~initspec.Axes`), the same in every framework for the same layer (an embedding
    table is (in, out) everywhere, so it is transposed everywhere).  Tensors of rank < 2
    and ``layout=None`` keep their order."""
    rank = len(shape)
    ident = tuple(range(rank))
    if layout is None or rank < 2:
        return ident
    fans = compute_fans(tuple(int(n) for n in shape), layout)
    perm = (tuple(sorted(fans.batch_axes)) + tuple(sorted(fans.out_axes)) + tuple(sorted(fans.in_axes))
            + tuple(sorted(fans.receptive_axes)))
    return perm if sorted(perm) == list(ident) else ident


def canonical_law(dist: D.Distribution, perm: Sequence[int]) -> D.Distribution:
    """``dist`` (resolved for the storage shape) for the tensor transposed by ``perm``
    (canonical axis ``i`` = storage axis ``perm[i]``): structured laws get their shape and
    axes renumbered (axis groups kept in canonical order), elementwise laws are unchanged."""
    if not isinstance(dist, D._Structured) or tuple(perm) == tuple(range(len(perm))):
        return dist
    new = {old: i for i, old in enumerate(perm)}
    shape = tuple(dist.shape[a] for a in perm)
    if isinstance(dist, D.Orthogonal):
        return D.Orthogonal(shape=shape, gain=dist.gain, out_axes=tuple(sorted(new[a] for a in dist.out_axes)))
    if isinstance(dist, D.Identity):
        return D.Identity(shape=shape, gain=dist.gain)
    if isinstance(dist, D.Dirac):
        return D.Dirac(shape=shape, groups=dist.groups, out_axis=new[dist.out_axis], in_axis=new[dist.in_axis],
                       spatial_axes=tuple(sorted(new[a] for a in dist.spatial_axes)))
    if isinstance(dist, D.DeltaOrthogonal):
        return D.DeltaOrthogonal(shape=shape, gain=dist.gain, in_axis=new[dist.in_axis], out_axis=new[dist.out_axis],
                                 spatial_axes=tuple(sorted(new[a] for a in dist.spatial_axes)))
    if isinstance(dist, D.Sparse):
        return D.Sparse(shape=shape, scale=dist.scale, sparsity=dist.sparsity, zeros_per_column=dist.zeros_per_column,
                        out_axis=new[dist.out_axis], in_axis=new[dist.in_axis])
    raise TypeError(f"portable seeding cannot renumber the axes of {type(dist).__name__}")


def draw_stored(dist: D.Distribution, shape: Sequence[int], dtype: Any, *, row_seed: int, layout: Any = None,
                index: tuple[slice, ...] | None = None, threads: int | None = None,
                out: np.ndarray | None = None) -> np.ndarray:
    """:func:`draw` for a tensor stored in ``layout``: the law ``dist`` and the ``index``
    are in storage order; the values are drawn in the canonical order
    (:func:`canonical_order`) and returned in storage order - so a weight gets the same
    values, transposed, in every framework.  ``row_seed`` is ``derive_seed(seed, path,
    block)``, a plan row's ``seed``.  With a layout that transposes, the result is a
    transposed view (or written into ``out``)."""
    row_seed = _check_seed(row_seed, "row_seed")
    shape = _shape(shape)
    law_shape = getattr(dist, "shape", None)
    if law_shape is not None and tuple(law_shape) != shape:
        raise SpecError.single("shape_mismatch", f"the distribution was resolved for shape {tuple(law_shape)}; "
                               "resolve it for this shape", loc=("shape",), value=shape)
    dt = np_dtype(dtype)
    ranges = _ranges(shape, index)
    # a given array is in storage order already: no canonical order to draw in
    perm = tuple(range(len(shape))) if isinstance(dist, D._Fixed) else canonical_order(shape, layout)
    if perm == tuple(range(len(shape))):
        return _draw(dist, shape, dt, row_seed, ranges, threads, out)
    x = _draw(canonical_law(dist, perm), tuple(shape[a] for a in perm), dt, row_seed,
              tuple(ranges[a] for a in perm), threads, None).transpose(np.argsort(perm))
    if out is None:
        return x
    out[...] = x
    return out


def shard_seed(row_seed: int, offset: Sequence[int], shape: Sequence[int]) -> int:
    """*Native* seeding of one shard: the row's seed folded with the shard's global offset
    and shape (a 63-bit BLAKE2b hash), so that shards are drawn independently while replicas
    of one shard (same offset) get the same values on every rank."""
    data = (f"{int(row_seed)}\x00shard\x00{','.join(str(int(o)) for o in offset)}\x00"
            f"{','.join(str(int(n)) for n in shape)}").encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


def _into(out: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    if out is None:
        return x
    out[...] = x
    return out


def _draw(dist: D.Distribution, shape: tuple[int, ...], dt: np.dtype, row_seed: int, ranges: tuple[range, ...],
          threads: int | None, out: np.ndarray | None) -> np.ndarray:
    """The selected values of a ``shape`` tensor in C order (see :func:`draw`)."""
    if isinstance(dist, D.Sparse) and len(shape) != 2:
        raise SpecError.single("unsupported_shape", f"sparse needs a 2-D tensor, got a {len(shape)}-D one",
                               loc=("shape",), value=shape)
    check_dtype(dist, dt)
    if dt.kind == "c" and dist.random:
        raise SpecError.single("unsupported_dtype", "portable seeding draws real floats: a complex tensor takes "
                               "native seeding (or a float dtype)", loc=("dtype",), value=dt.name)
    sel = tuple(len(r) for r in ranges)
    if out is not None and (out.shape != sel or out.dtype != dt):
        raise SpecError.single("bad_shape", f"out must be a {dt.name} array of the selection's shape {sel}",
                               loc=("out",), value=(tuple(out.shape), out.dtype.name))
    n_threads = _threads(threads)
    key = (row_seed, KEY_TAG)
    wide = dt == np.float64
    if isinstance(dist, D.Constant):
        if out is not None:
            out[...] = _rounded(np.full((), float(dist.value)), dt)
            return out
        return _rounded(np.full(sel, float(dist.value)), dt)
    if isinstance(dist, D._Fixed):  # a given array: its values, as every backend writes them
        return _into(out, dist.values(dt)[tuple(slice(r.start, r.stop, r.step) for r in ranges)])
    if isinstance(dist, D.Identity):
        return _into(out, _rounded(np.equal.outer(np.asarray(ranges[0]), np.asarray(ranges[1])) * float(dist.gain),
                                   dt))
    if isinstance(dist, D.Dirac):
        return _into(out, _rounded(_dirac(dist, ranges), dt))
    if isinstance(dist, (D.Orthogonal, D.DeltaOrthogonal)):
        if math.prod(shape) == 0:
            return _into(out, np.zeros(sel, dtype=dt))
        whole = (_orthogonal if isinstance(dist, D.Orthogonal) else _delta_orthogonal)(dist, key, n_threads)
        return _into(out, _rounded(whole[tuple(slice(r.start, r.stop, r.step) for r in ranges)], dt))
    if isinstance(dist, D.Uniform):
        transform = _uniform(dist, wide)
    elif isinstance(dist, D.Normal):
        transform = _normal(dist.loc, dist.scale, wide)
    elif isinstance(dist, D.TruncatedNormal):
        transform = _truncated_normal(dist, dt, wide)
    elif isinstance(dist, D.Sparse):
        transform = _normal(0.0, dist.scale, wide)
    else:
        raise TypeError(f"portable seeding cannot draw {type(dist).__name__}")
    direct = out is not None and out.flags.c_contiguous
    res = _map_elements(transform, shape, ranges, dt, key, _VALUES, wide, n_threads, out if direct else None)
    if isinstance(dist, D.Sparse) and res.size:
        res[_sparse_zeros(dist, shape, ranges, key, n_threads)] = 0
    return res if direct else _into(out, res)
