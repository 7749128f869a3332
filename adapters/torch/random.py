"""How the PyTorch backend draws each resolved law, in place, on the tensor's own device.

``DRAW`` maps every :class:`~initspec.distributions.Distribution` type to a function
``fn(dist, out, rng, haar) -> out`` (the same names and signature in every backend's
``random.py``): ``out`` is the tensor to fill in place (contiguous for the random laws),
``rng`` a ``torch.Generator`` on its device or ``None`` for torch's default generator, and
``haar`` keeps the Haar sign correction of orthogonal draws.  The truncated normal's
method and every parameter of it, the bounds rounded to a dtype, the dtype rules and the
Haar correction come from :mod:`initspec.sampling`; this module only calls torch.

:func:`sample_` is the entry point: it checks the tensor, the law and the generator, and
runs the draw under ``torch.no_grad()`` when the tensor requires grad.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from ... import complexlaw
from ... import distributions as D
from ... import portable, sampling
from ...errors import ShapeError, SpecError
from .._common import draw_table, require

if TYPE_CHECKING:
    import torch

__all__ = ["DRAW", "sample_", "truncated_normal_", "fill_region", "local_box", "is_dtensor", "check_writable"]

_SQRT2 = math.sqrt(2.0)


@functools.cache
def _torch() -> Any:
    """The torch module, imported on first use (importing this module imports no framework)."""
    return require("torch")


@functools.cache
def _float_dtypes() -> frozenset[Any]:
    torch = _torch()
    return frozenset(getattr(torch, name) for name in sampling.FLOAT_DTYPES)


def _work_dtype(dtype: Any) -> Any:
    """float64 tensors are drawn in float64, everything else in float32 (then rounded)."""
    torch = _torch()
    return torch.float64 if dtype == torch.float64 else torch.float32


# ----------------------------------------------------------------------------- the laws


def constant(dist: D.Constant, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    return out.fill_(dist.value)


def fixed(dist: D.ConstantArray | D.STFTKernel, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    """A given array (constant array, STFT kernel): its values, computed once in the core and
    copied in (float8 and complex tensors: the float64 values, rounded by ``copy_``)."""
    name = sampling.dtype_name(out.dtype)
    if name in sampling.FLOAT_DTYPES or not (out.dtype.is_floating_point or out.dtype.is_complex):
        _copy_values(out, dist.values(name))
    else:
        out.copy_(_torch().from_numpy(dist.values("float64")))
    return out


def uniform(dist: D.Uniform, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    torch = _torch()
    if out.dtype in (torch.float16, torch.bfloat16):
        # torch's half-precision uniform_ moves the values that round up to `high` onto
        # `low` (a mean bias of -ulp(high)/2; the conformance suite's bound-mass test fails
        # it): draw in float32 and round to nearest, as the other backends do.
        return out.copy_(torch.empty(out.shape, dtype=torch.float32, device=out.device).uniform_(
            dist.low, dist.high, generator=rng))
    return out.uniform_(dist.low, dist.high, generator=rng)


def normal(dist: D.Normal, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    return out.normal_(dist.loc, dist.scale, generator=rng)


@functools.lru_cache(maxsize=1024)
def _truncation(dist: D.TruncatedNormal, work: str, n: int) -> sampling.Truncation:
    """:func:`initspec.sampling.truncation`, once per law, work dtype and size (plans and
    ``module.apply`` draw the same few laws many times)."""
    return sampling.truncation(dist, work, n)


@functools.lru_cache(maxsize=1024)
def _half_bounds(dist: D.TruncatedNormal, dtype: str, lo: float, hi: float) -> tuple[float, float]:
    """The float32 clamp bounds of a half-precision draw: inside the strict float32 bounds
    ``lo``/``hi`` *and* the bounds rounded inward to ``dtype``, so that rounding to it
    (monotone) never carries a value past a bound.  Values that round *onto* a bound
    representable in ``dtype`` stay there: that is the mass of the open interval's reals
    that round to it (the conformance suite's bound-mass test counts it)."""
    lo_h, hi_h = sampling.inward(dist.low, dtype, +1), sampling.inward(dist.high, dtype, -1)
    if lo_h > hi_h:  # no number of the dtype inside: round to nearest, as a cast would
        return lo, hi
    return max(lo, lo_h), min(hi, hi_h)


def _accepted(plan: sampling.Truncation, dist: D.TruncatedNormal, m: int, like: Any, rng: Any) -> Any:
    """The values among ``m`` candidates that the rejection method ``plan.method`` accepts,
    in the order drawn (an i.i.d. sample of the truncated law, of random length)."""
    torch = _torch()
    z = torch.empty(m, dtype=like.dtype, device=like.device)
    if plan.method == "normal":
        x = z.normal_(dist.loc, dist.scale, generator=rng)
        keep = x >= plan.lo
    else:
        if plan.method == "uniform":
            z.uniform_(plan.a, plan.b, generator=rng)
            logp = (plan.nearest * plan.nearest - z * z) / 2.0  # log exp(-(z² - nearest²)/2) <= 0
        elif plan.method == "exponential":  # Robert's (1995) translated exponential
            z.exponential_(plan.lam, generator=rng).add_(plan.a)
            logp = -((z - plan.lam) ** 2) / 2.0
            logp.masked_fill_(z > plan.b, -math.inf)
        else:  # pragma: no cover - truncation(rejection=True) picks no other rejection method
            raise ValueError(f"not a rejection method: {plan.method}")
        u = torch.empty_like(z).uniform_(0.0, 1.0, generator=rng)
        keep = u.neg_().log1p_() <= logp  # log(1 - U) for U in [0, 1): finite, so -inf rejects
        x = z.mul_(plan.sign * dist.scale).add_(dist.loc)
        keep &= x >= plan.lo
    keep &= x <= plan.hi  # plan.lo/hi are strictly inside the bounds: the support is open
    return x[keep]


def _fill_accepted(flat: Any, positions: Any, plan: sampling.Truncation, dist: D.TruncatedNormal, rng: Any) -> None:
    """Fill ``flat`` at ``positions`` (an index tensor; ``None``: all of it, in order) with
    accepted candidates, ``sampling.candidates`` of them per round, until none is left."""
    total = flat.numel() if positions is None else positions.numel()
    done = 0
    while done < total:
        need = total - done
        keep = _accepted(plan, dist, sampling.candidates(need, plan.rate), flat, rng)[:need]
        k = keep.numel()
        if positions is None:
            flat[done:done + k] = keep
        else:
            flat[positions[done:done + k]] = keep
        done += k


def _outside(flat: Any, plan: sampling.Truncation) -> Any:
    """The positions of ``flat`` outside [plan.lo, plan.hi] (``None`` when there are none
    and one min/max pass proved it: ``plan.check_once``, where fewer than one is expected)."""
    torch = _torch()
    if plan.check_once:  # e.g. torch's trunc_normal_(std=0.02) at ±2, i.e. ±100σ
        low, high = torch.aminmax(flat)
        if bool((low >= plan.lo) & (high <= plan.hi)):
            return None
    bad = flat < plan.lo
    bad |= flat > plan.hi
    return bad.nonzero().view(-1)


def truncated_normal(dist: D.TruncatedNormal, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    """The method :func:`initspec.sampling.truncation` picks for ``out``'s work dtype:

    * ``inverse_cdf`` (the bounds within reach of erfinv, e.g. ±2σ): ``uniform_(v_lo, v_hi)``
      → ``erfinv_`` → ``mul_(√2·scale)`` (→ ``add_(loc)``) → ``clamp_(lo, hi)``, four passes
      over the tensor and no temporary; the clamp only catches the last-ulp rounding of
      erfinv and the scaling at the ends (``lo``/``hi`` are the bounds rounded strictly
      inward, so nothing lands on or past a bound);
    * ``normal`` (the bounds almost never cut, or far out where erfinv loses precision):
      ``normal_``, then - after one min/max pass when fewer than one value is expected
      outside - a redraw of only the positions that fell outside, each keeping its first
      accepted draw;
    * ``uniform`` / ``exponential`` (a small mass): accepted proposals, filled in order.

    Half-precision tensors are drawn in float32, clamped so that rounding (monotone)
    cannot carry a value past a bound, and rounded.
    """
    torch = _torch()
    work = _work_dtype(out.dtype)
    plan = _truncation(dist, "float64" if work == torch.float64 else "float32", out.numel())
    lo, hi = plan.lo, plan.hi
    buf = out if out.dtype == work else torch.empty(out.shape, dtype=work, device=out.device)
    if buf is not out:
        lo, hi = _half_bounds(dist, sampling.dtype_name(out.dtype), lo, hi)
    flat = buf.view(-1)
    if plan.method == "inverse_cdf":
        flat.uniform_(plan.v_lo, plan.v_hi, generator=rng)
        flat.erfinv_()
        flat.mul_(_SQRT2 * dist.scale)
        if dist.loc != 0.0:
            flat.add_(dist.loc)
        flat.clamp_(lo, hi)
    elif plan.method == "normal":
        flat.normal_(dist.loc, dist.scale, generator=rng)
        outside = _outside(flat, plan)
        if outside is not None:
            _fill_accepted(flat, outside, plan, dist, rng)
    else:
        _fill_accepted(flat, None, plan, dist, rng)
    if buf is not out:
        if plan.method != "inverse_cdf":  # (the inverse CDF above clamped already)
            flat.clamp_(lo, hi)
        out.copy_(buf)
    return out


def truncated_normal_(x: torch.Tensor, dist: D.TruncatedNormal, generator: Any = None) -> torch.Tensor:
    """Fill the contiguous floating tensor ``x`` with the truncated normal ``dist``, exactly,
    in place, and return it (see :func:`truncated_normal` for the methods).  Every value
    lies strictly inside ``(dist.low, dist.high)`` in float32/float64; raises
    ``interval_too_narrow`` when no number of the work dtype does.  Checks ``x`` and
    ``generator`` as :func:`sample_` does."""
    if not isinstance(dist, D.TruncatedNormal):
        raise SpecError.single("wrong_type", "truncated_normal_ draws a resolved truncated normal law; use sample_ "
                               "for other laws", loc=("dist",), value=type(dist).__name__)
    return sample_(x, dist, generator)


def _signs(r: Any) -> Any:
    """sign(diag R) as ±1 with sign(0) := +1, without a host sync."""
    return 1.0 - 2.0 * (_torch().diagonal(r) < 0).to(r.dtype)


def _haar(rows: int, cols: int, out: Any, rng: Any, haar: bool) -> Any:
    """A Haar-random (rows, cols) matrix in ``out``'s work dtype, on its device."""
    torch = _torch()
    z = torch.empty((max(rows, cols), min(rows, cols)), dtype=_work_dtype(out.dtype), device=out.device)
    z.normal_(0.0, 1.0, generator=rng)
    return sampling.haar(z, rows, cols, qr=torch.linalg.qr, signs=_signs, transpose=lambda q: q.T, correct=haar)


def orthogonal(dist: D.Orthogonal, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    q = _haar(dist.rows, dist.cols, out, rng, haar)
    if dist.gain != 1.0:
        q = q * dist.gain
    return out.copy_(q.reshape(dist.matrix_dims).permute(dist.inverse_perm))


def identity(dist: D.Identity, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    out.zero_()
    out.diagonal().fill_(dist.gain)
    return out


def dirac(dist: D.Dirac, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    out.zero_()
    positions = dist.one_positions()
    if positions:
        idx = _torch().tensor(positions, dtype=_torch().long, device=out.device).T  # a few index rows, not data
        out[tuple(idx)] = 1
    return out


def delta_orthogonal(dist: D.DeltaOrthogonal, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    out.zero_()
    block = dist.block
    m = _haar(block.rows, block.cols, out, rng, haar)
    if dist.gain != 1.0:
        m = m * dist.gain
    index: list[Any] = [slice(None)] * out.dim()
    for axis, c in zip(dist.spatial_axes, dist.centre):
        index[axis] = c
    out[tuple(index)] = m if dist.in_axis < dist.out_axis else m.T
    return out


def sparse(dist: D.Sparse, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    torch = _torch()
    out.normal_(0.0, dist.scale, generator=rng)
    z = dist.zeros_per_column
    if z:
        n_out, n_in = out.shape[dist.out_axis], out.shape[dist.in_axis]
        # z distinct rows per column, uniformly: the z largest of iid uniforms (float64: ties ~never)
        keys = torch.rand((n_in, n_out), dtype=torch.float64, device=out.device, generator=rng)
        rows = keys.topk(z, dim=1, sorted=False).indices
        out.permute(dist.in_axis, dist.out_axis).scatter_(1, rows, 0.0)
    return out


def complex_(dist: complexlaw.Complex, out: torch.Tensor, rng: Any, haar: bool) -> torch.Tensor:
    """A complex law ``dist`` (:mod:`initspec.complexlaw`) into the complex tensor ``out``: the real
    part then the imaginary part, each drawn as its real law in the part dtype (torch's own
    ``normal_``/``uniform_`` on a complex tensor draw the same laws, interleaved); or a
    modulus and an angle (the disks, as JAX's ``_complex_uniform``/``_complex_truncated_normal``)."""
    torch = _torch()
    part = torch.float64 if out.dtype == torch.complex128 else torch.float32
    pair = torch.view_as_real(out)  # (..., 2): the real and imaginary parts, in place

    def empty() -> Any:
        return torch.empty(out.shape, dtype=part, device=out.device)

    if dist.form == "parts":
        re_law, im_law = dist.parts
        re = DRAW[type(re_law)](re_law, empty(), rng, haar)
        im = re if dist.tied else DRAW[type(im_law)](im_law, empty(), rng, haar)
        pair[..., 0].copy_(re)
        pair[..., 1].copy_(im)
        return out
    r = empty().uniform_(0.0, 1.0, generator=rng)
    theta = empty().uniform_(0.0, 2.0 * math.pi, generator=rng)
    if dist.form == "disk":
        r.mul_(2.0).sqrt_().mul_(dist.scale)
    else:  # |w|² ~ Exp(1) cut at upper²: w² = -log(1 - (1 - e^-upper²)·u)
        r.mul_(math.expm1(-dist.upper * dist.upper)).log1p_().neg_().sqrt_().mul_(dist.scale / dist.correction)
    pair[..., 0].copy_(r * torch.cos(theta))
    pair[..., 1].copy_(r.mul_(torch.sin(theta)))
    return out


#: How each law is drawn: this module's function of the shared name (``_common.DRAW_NAMES``) for
#: each law type (tests check that every Distribution type has a row).
DRAW = draw_table(globals())


# ----------------------------------------------------------------------------- checks and the entry point


@functools.lru_cache(maxsize=4096)
def _check_dtype(dist: D.Distribution, dtype: Any) -> None:
    """:func:`initspec.sampling.check_dtype`, once per law and dtype (it raises, and an
    exception is never cached): the per-tensor cost of ``init_`` stays a dict lookup."""
    sampling.check_dtype(dist, dtype)


@functools.lru_cache(maxsize=1024)
def _check_float8(dist: D.Distribution, dtype: Any) -> None:
    """:func:`initspec.sampling.check_fits` for the float8 dtypes whose limits it knows."""
    try:
        sampling.float_info(dtype)
    except KeyError:
        return
    sampling.check_fits(dist, dtype)


def _check_meta(tensor: Any) -> None:
    if tensor.is_meta:
        raise SpecError.single(
            "meta_tensor",
            "a meta tensor has no storage to fill: materialise the module first (module.to_empty(device=...)) "
            "and then initialize it", loc=("tensor",), value=f"meta tensor of shape {tuple(tensor.shape)}")


def _overlaps(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """Whether two elements of a strided tensor may share memory: each stride (in increasing
    order, over the axes of size > 1) must step past every element the smaller strides reach.
    Exact for ``expand`` (a stride 0); an interleaving ``as_strided`` view that passes no
    element twice is refused too (no parameter is laid out so)."""
    reach = 0
    for stride, size in sorted((st, n) for n, st in zip(shape, strides) if n > 1):
        if stride <= reach:
            return True
        reach += (size - 1) * stride
    return False


def check_writable(tensor: Any) -> None:
    """Raise before anything is written when torch cannot fill ``tensor`` in place: a sparse
    tensor (``sparse_tensor``), an inference tensor outside ``torch.inference_mode()``
    (``inference_tensor``: torch writes such a tensor and only then raises), or a tensor whose
    elements share memory, e.g. an ``expand``-ed view (``internal_overlap``)."""
    torch = _torch()
    if is_dtensor(tensor):
        tensor = tensor.to_local()
    if tensor.layout != torch.strided:
        raise SpecError.single(
            "sparse_tensor", f"a {str(tensor.layout).replace('torch.', '')} tensor has no dense storage to fill in "
            "place: initialize a dense tensor, then convert it (init_(torch.empty(shape)).to_sparse())",
            loc=("tensor",), value=str(tensor.layout))
    if tensor.is_inference() and not torch.is_inference_mode_enabled():
        raise SpecError.single(
            "inference_tensor", "the tensor was made under torch.inference_mode(), and torch refuses to update it "
            "in place outside that mode: build the module outside inference mode (or clone the tensor), or "
            "initialize it inside `with torch.inference_mode():`", loc=("tensor",), value="inference tensor")
    if not tensor.is_contiguous() and _overlaps(tuple(tensor.shape), tuple(tensor.stride())):
        raise SpecError.single(
            "internal_overlap", f"elements of this tensor share memory (shape {tuple(tensor.shape)}, strides "
            f"{tuple(tensor.stride())}: an expand()-ed or as_strided view), so one draw would land on several "
            "elements: fill a tensor with its own memory (t.contiguous(), t.clone()), then expand that",
            loc=("tensor",), value=f"strides {tuple(tensor.stride())}")


def _check(tensor: Any, dist: D.Distribution, generator: Any, region: tuple[int, ...] | None = None) -> None:
    """Raise before anything is drawn: not a tensor, a meta tensor, a tensor torch cannot
    write in place (:func:`check_writable`), a dtype the law cannot fill
    (:func:`initspec.sampling.check_dtype`), a structured law resolved for another
    shape (``region``: the shape it fills, default the tensor's), a generator that is not one or
    sits on another device."""
    torch = _torch()
    if not isinstance(tensor, torch.Tensor):
        raise SpecError.single("wrong_type", "expected a torch.Tensor (or nn.Parameter) to fill in place",
                               loc=("tensor",), value=type(tensor).__name__)
    _check_meta(tensor)
    check_writable(tensor)
    dtype = tensor.dtype
    if dtype in _float_dtypes() or dist.random or not (dtype.is_floating_point or dtype.is_complex):
        _check_dtype(dist, dtype)  # (the fixed laws also fill float8 and complex tensors, as fill_ does)
    elif dtype.is_floating_point:  # float8: a constant or identity gain must fit it (fill_ raises, or rounds to 0)
        _check_float8(dist, dtype)
    shape = getattr(dist, "shape", None)
    if shape is None and dist.derivation is not None:
        shape = dist.derivation.shape
    if shape is not None and tuple(shape) != (tuple(tensor.shape) if region is None else region):
        raise ShapeError.single("shape_mismatch",
                                f"the distribution was resolved for shape {tuple(shape)}; resolve it for the tensor's "
                                "shape", loc=("shape",), value=tuple(tensor.shape))
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise SpecError.single("bad_generator", "generator must be a torch.Generator (or None for torch's "
                                   "default generator)", loc=("generator",), value=type(generator).__name__)
        if generator.device.type != tensor.device.type:
            raise SpecError.single(
                "generator_device",
                f"the generator is on {generator.device.type} but the tensor on {tensor.device.type}: create it "
                f"with torch.Generator(device={str(tensor.device)!r})", loc=("generator",), value=str(generator.device))


def sample_(tensor: torch.Tensor, dist: D.Distribution, generator: torch.Generator | None = None, *,
            haar: bool = True) -> torch.Tensor:
    """Fill ``tensor`` in place from an already resolved distribution and return it.

    A ``DTensor`` (FSDP2, tensor parallel) is filled shard by shard, each rank writing only
    its local shard (:func:`fill_region`), from a seed taken from ``generator`` (one
    ``randint``: seed it alike on every rank).

    Runs under ``torch.no_grad()``, keeps the tensor's dtype, device and ``requires_grad``;
    zero-element tensors are left as they are.  ``generator=None`` uses torch's default
    generator of the tensor's device (``torch.manual_seed`` governs it).  ``haar=False``
    drops the Haar sign correction of orthogonal draws (the conformance suite's power gate
    uses it to prove it notices).  Raises :class:`~initspec.SpecError` for meta tensors,
    for integer/complex/bool dtypes with a random law, and for a generator on another
    device; :class:`~initspec.ShapeError` when a structured law was resolved for another
    shape.
    """
    _check(tensor, dist, generator)
    if tensor.numel() == 0:
        return tensor
    if tensor.dtype.is_complex and dist.random:  # its complex form (checked by _check)
        dist = complexlaw.complex_law(dist)
    draw = DRAW.get(type(dist))
    if draw is None:
        raise TypeError(f"the PyTorch backend cannot draw {type(dist).__name__}")
    if is_dtensor(tensor):  # each rank fills its own shard (see fill_region)
        local, _ = local_box(tensor)
        seed = _seed_from(generator, local.device)
        with _torch().no_grad():
            fill_region(tensor, dist, tuple(tensor.shape), (0,) * tensor.dim(), seed=seed, haar=haar)
        return tensor
    if tensor.requires_grad:  # a Parameter: fill it outside autograd, as torch.nn.init does
        with _torch().no_grad():
            _fill(draw, tensor, dist, generator, haar)
    else:
        _fill(draw, tensor, dist, generator, haar)
    return tensor


def _fill(draw: Any, tensor: Any, dist: D.Distribution, generator: Any, haar: bool) -> None:
    if tensor.is_contiguous() or not dist.random:
        draw(dist, tensor, generator, haar)
    else:  # same values as for a contiguous tensor, whatever the memory format
        buf = _torch().empty(tensor.shape, dtype=tensor.dtype, device=tensor.device)
        draw(dist, buf, generator, haar)
        tensor.copy_(buf)


# ----------------------------------------------------------------------------- sharded tensors, portable values

#: Laws whose shard cannot be drawn from its own elements (native seeding): the row's whole
#: tensor is drawn on every rank (the same seed, so the same tensor) and sliced.
_WHOLE = (D.Orthogonal, D.DeltaOrthogonal, D.Sparse)
#: Laws without randomness whose elements are computed where they sit.
_POSITIONAL = (D.Identity, D.Dirac, D.ConstantArray, D.STFTKernel)


def is_dtensor(tensor: Any) -> bool:
    """Whether ``tensor`` is a ``torch.distributed.tensor.DTensor`` (no import: none exists
    unless that module was imported)."""
    mod = sys.modules.get("torch.distributed.tensor")
    cls = getattr(mod, "DTensor", None) if mod is not None else None
    return cls is not None and isinstance(tensor, cls)


def local_box(tensor: Any) -> tuple[Any, tuple[int, ...]]:
    """(the tensor this rank holds, its global offset): a plain tensor is its own box at 0;
    a DTensor sharded by ``Shard(d)``/``Replicate`` placements on any mesh gives
    ``to_local()`` and the offset of that shard (uneven ``torch.chunk`` shards included, as
    FSDP2 makes them).  Other placements (``Partial``, FSDP+TP's strided shards) raise
    ``unsupported_placement``."""
    if not is_dtensor(tensor):
        return tensor, (0,) * tensor.dim()
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    bad = [p for p in tensor.placements if type(p) not in (Shard, Replicate)]
    if bad:
        raise SpecError.single(
            "unsupported_placement", f"initspec fills DTensors placed by Shard(dim) and Replicate() on each mesh "
            f"dimension; this one has {bad[0]!r}: redistribute it (dtensor.redistribute(mesh, [Shard(0)])) or "
            "initialize before composing the parallelisms", loc=("placements",), value=repr(tensor.placements))
    shape, offset = compute_local_shape_and_global_offset(tuple(tensor.shape), tensor.device_mesh, tensor.placements)
    local = tensor.to_local()
    if tuple(local.shape) != tuple(shape):  # pragma: no cover - torch's own bookkeeping disagrees
        raise SpecError.single("unsupported_placement", f"the local shard has shape {tuple(local.shape)}, its "
                               f"placements say {tuple(shape)}", loc=("placements",), value=repr(tensor.placements))
    return local, tuple(int(o) for o in offset)


def _seed_from(generator: Any, device: Any) -> int:
    """A 63-bit seed from ``generator`` (None: torch's default generator of ``device``)."""
    torch = _torch()
    dev = generator.device if generator is not None else device
    return int(torch.randint(0, 2**63 - 1, (1,), generator=generator, device=dev, dtype=torch.int64))


def _overlap(shape: tuple[int, ...], start: tuple[int, ...], offset: tuple[int, ...],
             held: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Where the region ``[start, start + shape)`` meets the held box ``[offset, offset +
    held)``: (slices of the held tensor, slices of the region), or None."""
    loc, rel = [], []
    for n, s0, o, m in zip(shape, start, offset, held):
        lo, hi = max(s0, o), min(s0 + n, o + m)
        if lo >= hi:
            return None
        loc.append(slice(lo - o, hi - o))
        rel.append(slice(lo - s0, hi - s0))
    return tuple(loc), tuple(rel)


def _copy_values(view: Any, x: np.ndarray) -> None:
    """Copy NumPy values (any strides) into a tensor view (bfloat16 through a uint16 view)."""
    torch = _torch()
    if view.dtype == torch.bfloat16:
        src = torch.from_numpy(x.view(np.uint16)).view(torch.bfloat16)
    else:
        src = torch.from_numpy(np.asarray(x))
    view.copy_(src)


def _host_array(view: Any) -> np.ndarray | None:
    """``view``'s memory as a NumPy array, when values can be written straight into it."""
    torch = _torch()
    if view.device.type != "cpu" or not view.is_contiguous():
        return None
    if view.dtype in (torch.float32, torch.float64, torch.float16):
        return view.detach().numpy()
    if view.dtype == torch.bfloat16:
        return view.detach().view(torch.int16).numpy().view(sampling.np_dtype("bfloat16"))
    return None


def fill_region(tensor: Any, dist: D.Distribution, shape: tuple[int, ...], start: tuple[int, ...], *, seed: int,
                portable_seeding: bool = False, layout: Any = None, haar: bool = True) -> None:
    """Draw ``dist`` (resolved for ``shape``) into the region ``[start, start + shape)`` of
    ``tensor`` (a whole tensor, or a fused block) - on a DTensor, only into the part this
    rank holds (:func:`local_box`), touching nothing else.  ``seed``: the row's seed.

    Portable seeding: the held elements' values from :func:`initspec.portable.draw_stored`
    (in the canonical order of ``layout``), written straight into CPU memory where it can
    be, else copied in - the same bytes whatever the sharding.  Native seeding: a region
    held whole is drawn as a plain tensor with ``Generator().manual_seed(seed)``; a part of
    it (a shard) is drawn with the seed folded with the part's offset and shape
    (:func:`initspec.portable.shard_seed`), so shards are independent and replicas equal;
    orthogonal, delta-orthogonal and sparse draw the region whole on every rank (the same
    seed, so the same tensor) and keep their part; identity and dirac compute their part.
    Call under ``torch.no_grad()``."""
    torch = _torch()
    seed = sampling.check_seed(seed)
    _check_meta(tensor)
    local, offset = local_box(tensor)
    hit = _overlap(shape, start, offset, tuple(local.shape))
    if hit is None:
        return
    loc, rel = hit
    view = local[loc]
    if view.numel() == 0:
        return
    if view.dtype.is_complex and dist.random and not portable_seeding:
        sampling.check_dtype(dist, view.dtype)
        dist = complexlaw.complex_law(dist)
    if portable_seeding:
        dt = sampling.dtype_name(view.dtype)
        direct = _host_array(view)
        if direct is not None and portable.canonical_order(shape, layout) == tuple(range(len(shape))):
            portable.draw_stored(dist, shape, dt, row_seed=seed, layout=layout, index=rel, out=direct)
        else:
            _copy_values(view, portable.draw_stored(dist, shape, dt, row_seed=seed, layout=layout, index=rel))
        return
    draw = DRAW[type(dist)]

    def gen(s: int) -> Any:
        return torch.Generator(device=view.device).manual_seed(s)

    if all(r.start == 0 and r.stop == n for r, n in zip(rel, shape)):
        _fill(draw, view, dist, gen(seed), haar)
    elif isinstance(dist, _POSITIONAL):
        _copy_values(view, portable.draw_stored(dist, shape, sampling.dtype_name(view.dtype), row_seed=seed,
                                                index=rel))
    elif isinstance(dist, _WHOLE):
        whole = torch.empty(shape, dtype=view.dtype, device=view.device)
        draw(dist, whole, gen(seed), haar)
        view.copy_(whole[rel])
    else:
        _fill(draw, view, dist, gen(portable.shard_seed(seed, [r.start for r in rel], tuple(view.shape))), haar)
