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

from typing import Any

import numpy as np

from ... import distributions as D
from ... import sampling
from ...errors import SpecError
from ...resolution import resolve
from .._common import prepare
from .model import Params
from .random import sample, truncated_standard_normal

__all__ = ["initializer", "sample", "NumpyInitializer", "Params", "truncated_standard_normal"]


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    try:
        return np.random.default_rng(sampling.check_seed(seed))
    except SpecError:
        raise SpecError.single("bad_seed", "seed must be an integer from 0 to 2**64 - 1 or a numpy.random.Generator",
                               loc=("seed",), value=_shown(seed)) from None


def _shown(seed: Any) -> Any:
    if isinstance(seed, int) and not isinstance(seed, bool) and seed.bit_length() > 64:
        return f"an integer of {seed.bit_length()} bits"
    return seed


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
