"""PyTorch backend: in-place initializers in the style of :mod:`torch.nn.init`.

>>> import torch
>>> from initspec.adapters import torch as ist
>>> init_ = ist.initializer({"scheme": "he", "distribution": "normal"})   # layout="torch": (out, in, *k)
>>> w = init_(torch.empty(256, 128), generator=torch.Generator().manual_seed(0))
>>> w.shape, abs(float(w.std()) - (2 / 128) ** 0.5) < 0.005     # N(0, 2/128)
(torch.Size([256, 128]), True)

``init_(tensor, generator=None)`` fills ``tensor`` in place under ``torch.no_grad()`` and
returns it, in the tensor's own dtype and on its own device, so it works with
``module.apply``, inside ``reset_parameters`` overrides and on ``nn.Parameter`` s (which
keep ``requires_grad``).  The law is :func:`initspec.resolve` ``(spec, tensor.shape,
layout)``; this module only draws from it.

Randomness
    ``generator=None`` draws from torch's *default* generator of the tensor's device,
    exactly like ``torch.nn.init`` - so ``torch.manual_seed`` governs it.  With a
    ``torch.Generator`` (on the tensor's device) every draw - including the zero pattern
    of ``sparse`` - comes from that generator and the global RNG state is left untouched.
    Same generator state, device and dtype -> bit-identical values; CPU and CUDA streams
    differ.

How each law is drawn (all on the tensor's device, no host round trip)
    ==================  =================================================================
    constant            ``fill_``
    uniform             ``uniform_(low, high)``: U[low, high)
    normal              ``normal_(mean, std)``
    truncated normal    exact, open support (in float32/float64 every value lies
                        strictly inside the bounds), by the method :mod:`initspec.sampling`
                        picks: where erfinv resolves the interval (e.g. ±2σ), the
                        inverse CDF ``uniform_`` → ``erfinv_`` → ``mul_`` → ``clamp_``
                        into the bounds rounded inward (about 1.2x ``normal_``); where
                        the bounds almost never cut, ``normal_`` and one min/max pass;
                        elsewhere ``normal_`` and a redraw of only the elements outside,
                        or a uniform or translated-exponential proposal (Robert 1995)
                        when the interval holds < 25% of the parent's mass
    orthogonal          Haar QR of a Gaussian matrix with the sign correction of Mezzadri
                        (2007), in float32 (float64 for float64 tensors), then cast
    identity / dirac    zero, then write the ones (``diagonal().fill_`` / index put)
    delta_orthogonal    zero, then an orthogonal matrix at the centre tap
    sparse              ``normal_``, then a uniformly random set of zeros per column from
                        ``rand(...).topk`` with the same generator
    ==================  =================================================================

Non-contiguous tensors (``channels_last``, transposed views) are drawn into a contiguous
buffer and copied in, as torch's own ``Conv`` initialization does, so the values do not
depend on the memory format.

.. warning::
   ``torch.nn.init.trunc_normal_(w, std=0.02)`` cuts at the *absolute* values ±2, i.e. at
   ±100σ - it never truncates.  initspec's ``truncated_normal`` says which units it means
   (``bounds: std|absolute``); the ``torch.trunc_normal`` preset reproduces torch's.

.. warning::
   ``torch.nn.init.sparse_`` draws its zero pattern from the *global* RNG even when a
   ``generator`` is passed; here the generator decides everything.

.. warning::
   ``torch.nn.init.orthogonal_`` fails on float16/bfloat16 tensors (no half-precision QR);
   here the matrix is computed in float32 and cast.

Half-precision tensors (float16, bfloat16) get a uniform or truncated normal drawn in float32
and rounded to nearest (torch's own half-precision ``uniform_`` is biased at the upper bound);
a truncated normal is clamped first so that the rounding never carries a value past a bound.

Files
    ``random.py`` draws each law (the ``DRAW`` table, :func:`sample_`); ``model.py`` walks
    and writes an ``nn.Module`` for :func:`initspec.plan` and :func:`initspec.apply`
    (``walk`` / ``write``); ``conformance.py`` is the conformance suite's driver;
    ``native.py`` prints the ``torch.nn.init`` call of a law.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import distributions as D
from ...errors import SpecError
from ...resolution import resolve
from .._common import prepare
from .random import _torch, sample_, truncated_normal_

if TYPE_CHECKING:
    import torch

__all__ = ["initializer", "sample_", "TorchInitializer", "truncated_normal_"]


class TorchInitializer:
    """``init_(tensor, generator=None) -> tensor``, in place, for one spec and layout."""

    backend = "torch"

    def __init__(self, spec: Any, layout: Any = "torch"):
        self.spec, self.layout = prepare(spec, layout)

    def resolve(self, shape: Any) -> D.Distribution:
        """The law this initializer draws for a tensor of ``shape``."""
        return resolve(self.spec, tuple(shape), self.layout)

    def __call__(self, tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not isinstance(tensor, _torch().Tensor):
            raise SpecError.single("wrong_type", "expected a torch.Tensor (or nn.Parameter) to fill in place; "
                                   "for a shape, use .resolve(shape) or the NumPy adapter",
                                   loc=("tensor",), value=type(tensor).__name__)
        return sample_(tensor, resolve(self.spec, tuple(tensor.shape), self.layout), generator)

    def __repr__(self) -> str:
        layout = self.layout.model_dump() if hasattr(self.layout, "model_dump") else self.layout
        return f"initspec.adapters.torch.initializer({self.spec.to_dict()!r}, layout={layout!r})"


def initializer(spec: Any, layout: Any = "torch") -> TorchInitializer:
    """Compile ``spec`` into an in-place PyTorch initializer for tensors stored in ``layout``
    (default ``"torch"``: ``(out, in, *kernel)``, ``ConvTranspose`` as torch reads it).

    >>> import torch
    >>> from initspec.adapters import torch as ist
    >>> lin = torch.nn.Linear(512, 256)
    >>> _ = ist.initializer({"scheme": "glorot", "distribution": "uniform"})(lin.weight)
    >>> bool(lin.weight.abs().max() <= (6 / 768) ** 0.5), lin.weight.requires_grad
    (True, True)
    """
    return TorchInitializer(spec, layout)
