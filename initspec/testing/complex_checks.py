"""Statistical checks of complex draws against their complex law (:mod:`initspec.complexlaw`).

A complex sample is tested as real samples of known laws, with the checks of
:func:`~initspec.testing.check_samples` (the same α, so the same power) and a correlation
test for independence:

* ``parts`` laws - the real parts against ``real``, the imaginary parts against ``imag``
  (each in the part dtype: float32 for complex64), and the two parts uncorrelated
  (:func:`~initspec.testing.check_independent`);
* disk laws - |z|² through its CDF and arg z / 2π (mod 1), each against U(0, 1), and the two
  uncorrelated.  A draw beyond the disk maps past 1 and fails the support check; a wrong
  radius, a square instead of a disk or a missing correction moves the moments and the KS
  distance of the modulus; parts that are not independent bend the angle.

Check names carry the quantity: ``re.mean``, ``im.ks``, ``re~im.correlation``,
``|z|².support``, ``arg.ks``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .. import distributions as D
from ..complexlaw import PART_DTYPES, Complex
from .stats import (
    ALPHA_EACH,
    Check,
    CheckResult,
    check_independent,
    check_samples,
    to_numpy,
)

__all__ = ["check_complex", "UNIT"]

#: The law of a probability-integral transform.
UNIT = D.Uniform(low=0.0, high=1.0)
#: |z|² of a complex64 draw is computed from float32 parts: relative rounding of a few eps
#: could carry a value on the edge of the disk just past it; the modulus is shrunk by this
#: many eps of the part dtype before the transform (a 1e-6 change the tests cannot see).
_EDGE_EPS = 8


def _quantities(z: np.ndarray, law: Complex, dtype: str) -> list[tuple[str, np.ndarray, D.Distribution, str]]:
    """(name, values, their law, the dtype they are tested in) of each real quantity."""
    part = PART_DTYPES[dtype]
    if law.form == "parts":
        re, im = law.parts
        return [("re", np.ascontiguousarray(z.real), re, part), ("im", np.ascontiguousarray(z.imag), im, part)]
    eps = float(np.finfo(np.dtype(part)).eps)
    mod2 = (z.real.astype(np.float64) ** 2 + z.imag.astype(np.float64) ** 2) / (1.0 + _EDGE_EPS * eps)
    pit = law.modulus_pit(mod2)
    angle = np.mod(np.angle(z.astype(np.complex128)) / (2.0 * np.pi), 1.0)
    return [("|z|²", pit, UNIT, "float64"), ("arg", angle, UNIT, "float64")]


def check_complex(samples: Any, law: Complex, dtype: str, *, alpha: float = ALPHA_EACH,
                  context: str = "") -> CheckResult:
    """Check complex tensors (one or a sequence, pooled) against the complex ``law`` drawn
    in ``dtype`` (complex64 or complex128); see the module docstring."""
    arrays = [to_numpy(s) for s in (samples if isinstance(samples, (list, tuple)) else [samples])]
    z = np.concatenate([a.ravel() for a in arrays]) if arrays else np.empty(0, np.complex64)
    checks: list[Check] = []
    if not np.iscomplexobj(z):
        checks.append(Check("complex", False, f"got {z.dtype} values, not complex"))
        return CheckResult(law.describe(), dtype, z.size, tuple(checks), context)
    named = _quantities(z, law, dtype)
    for name, values, part_law, part_dtype in named:
        res = check_samples(values, part_law, part_dtype, alpha=alpha)
        checks += [replace(c, name=f"{name}.{c.name}") for c in res.checks]
    (a, x, _, _), (b, y, _, _) = named
    pair = check_independent(x, y, alpha=alpha)
    checks += [replace(c, name=f"{a}~{b}.{c.name}") for c in pair.checks]
    return CheckResult(law.describe(), dtype, z.size, tuple(checks), context)
