"""Complex dtypes: the law a complex64/complex128 tensor gets, as data.

:func:`initspec.resolve` gives the real law of a spec; a complex tensor of it is drawn from
:func:`complex_law` of that law, a :class:`Complex` - one of three forms:

``parts``           z = x + i·y with x ~ ``real`` and y ~ ``imag`` independent (real laws)
``disk``            z = scale·√(2u)·e^{iθ}: uniform in the disk of radius scale·√2, E|z|² = scale²
``truncated_disk``  z = scale·r·e^{iθ}/correction with r² ~ Exp(1) cut at upper² (JAX's complex
                    truncated normal, ``_complex_truncated_normal``)

θ ~ U[0, 2π) and u ~ U[0, 1) independent.  Which form a law takes follows the framework the
scheme names (docs/frameworks.md, "Complex dtypes"):

* ``torch.*`` presets - torch's ``normal_`` and ``uniform_`` on a complex tensor: a normal's
  variance is split evenly between independent parts (each std/√2) and its **mean is added to
  both parts**; a uniform's parts are each U(low, high) (so ``kaiming_uniform_`` gives twice
  the real E|w|²).  ``trunc_normal_`` and ``orthogonal_`` raise in torch: refused.
* ``jax.*``/``flax.*`` presets - ``jax.nn.initializers``: a normal's variance split evenly
  between the parts; variance scaling's ``uniform`` is the disk and its ``truncated_normal``
  the truncated disk, both with E|z|² set by the variance (the truncated disk keeps JAX's
  constant, so E|z|² = 1.0187·variance).  ``uniform`` and ``truncated_normal`` raise in JAX:
  refused.
* generic schemes - JAX's definitions, the one framework that defines complex variance
  scaling: ``normal`` splits the variance (its mean is the complex mean, mean + 0i); the
  variance-scaling family (``variance_scaling``, ``glorot``, ``he``, ``lecun``) draws the
  disk and the truncated disk; plain ``uniform`` and ``truncated_normal`` are refused (JAX
  has no complex form of them; ``torch.uniform`` is torch's).
* ``keras.*`` presets, and orthogonal, delta-orthogonal and sparse laws: refused.

Constant, identity and dirac fill complex tensors with value + 0i (as every framework's fill
does) and are never mapped here.  Plain Python and NumPy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from . import distributions as D
from .errors import SpecError

__all__ = ["COMPLEX_DTYPES", "PART_DTYPES", "JAX_TRUNC_CORRECTION", "Complex", "complex_law", "rule_of"]

#: The complex dtypes, and the real dtype of each one's parts.
COMPLEX_DTYPES = ("complex64", "complex128")
PART_DTYPES = {"complex64": "float32", "complex128": "float64"}

#: JAX divides its complex truncated normal by this ("stddev of complex standard normal
#: truncated to 2", ``jax.nn.initializers.variance_scaling``).  It is not the law's own
#: spread: E|w|² = (1 - 5e⁻⁴)/(1 - e⁻⁴)/0.95311² = 1.0187, which initspec keeps, as JAX does.
JAX_TRUNC_CORRECTION = 0.95311164380491208

Form = Literal["parts", "disk", "truncated_disk"]
Rule = Literal["generic", "torch", "jax", "keras"]


@dataclass(frozen=True, kw_only=True)
class Complex(D._Unbounded, D.Distribution):
    """The law of one element of a complex tensor (see the module docstring for the forms).

    ``rule`` records whose definition applies; ``tied`` (imaginary part = real part) is
    never resolved - it is one of the power gate's wrong samplers."""

    kind: ClassVar[str] = "complex"
    form: Form
    rule: Rule = "generic"
    real: D.Distribution | None = None
    imag: D.Distribution | None = None
    scale: float = 1.0
    correction: float = 1.0
    upper: float = 2.0
    tied: bool = False

    @property
    def parts(self) -> tuple[D.Distribution, D.Distribution]:
        """The laws of the real and imaginary parts (``parts`` form)."""
        if self.real is None or self.imag is None:
            raise ValueError(f"a {self.form} law has no separate parts")
        return self.real, self.imag

    @property
    def mean(self) -> complex:  # type: ignore[override]
        if self.form == "parts":
            re, im = self.parts
            return complex(re.mean, im.mean)
        return 0j

    @property
    def var(self) -> float:
        """E|z - E z|²."""
        if self.form == "parts":
            re, im = self.parts
            return re.var + (re.var if self.tied else im.var)
        if self.form == "disk":
            return self.scale * self.scale
        cut = self.upper * self.upper  # E r² of Exp(1) cut at upper²
        m = 1.0 - cut * math.exp(-cut) / -math.expm1(-cut)
        return self.scale * self.scale * m / (self.correction * self.correction)

    @property
    def radius(self) -> float:
        """The largest |z| (disk forms)."""
        if self.form == "disk":
            return self.scale * math.sqrt(2.0)
        return self.scale * self.upper / self.correction

    def modulus_pit(self, x: Any) -> np.ndarray:
        """P(|z|² <= x) (disk forms), continued past 1 beyond the disk: |z|² of a correct draw
        mapped through it is U(0, 1), and a draw outside the disk maps above 1."""
        x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
        if self.form == "disk":
            return x / (2.0 * self.scale * self.scale)
        if self.form == "truncated_disk":
            w = x * (self.correction / self.scale) ** 2
            return -np.expm1(-w) / -math.expm1(-self.upper * self.upper)
        raise ValueError("a parts law has no modulus law")

    def describe(self) -> str:
        if self.form == "parts":
            re, im = self.parts
            return f"complex ({self.rule}): re ~ {re.describe()}, im ~ {'re' if self.tied else im.describe()}"
        if self.form == "disk":
            return f"complex ({self.rule}): uniform in the disk |z| <= {self.radius:.6g} (E|z|² = {self.var:.6g})"
        return (f"complex ({self.rule}): truncated normal, |z| <= {self.radius:.6g} (scale {self.scale:.6g} / "
                f"{self.correction:.6g}, E|z|² = {self.var:.6g})")


def rule_of(dist: D.Distribution) -> Rule:
    """Whose complex definition applies to ``dist``: the namespace of the scheme it was
    resolved from (``torch.``, ``jax.``/``flax.``, ``keras.``), else ``generic``."""
    der = dist.derivation
    scheme = der.spec.scheme if der is not None else ""
    for prefix, rule in (("torch.", "torch"), ("jax.", "jax"), ("flax.", "jax"), ("keras.", "keras")):
        if scheme.startswith(prefix):
            return rule  # type: ignore[return-value]
    return "generic"


def _refuse(dist: D.Distribution, why: str, dtype: str) -> SpecError:
    der = dist.derivation
    scheme = der.spec.scheme if der is not None else dist.kind
    return SpecError.single("unsupported_dtype", f"{scheme} has no complex form: {why}; use one of float16, "
                            "bfloat16, float32, float64 (docs/frameworks.md#complex-dtypes lists the complex laws)",
                            loc=("dtype",), value=dtype)


def complex_law(dist: D.Distribution, dtype: str = "complex64") -> Complex:
    """The :class:`Complex` law a complex tensor of the real law ``dist`` gets (a
    :class:`Complex` is returned as it is); raises an ``unsupported_dtype``
    :class:`~initspec.SpecError` where the scheme has no complex form (``dtype``: the
    complex dtype asked for, named in the error)."""
    if isinstance(dist, Complex):
        return dist
    rule = rule_of(dist)
    if rule == "keras":
        raise _refuse(dist, "Keras initializers draw real floats only", dtype)
    vs = dist.derivation is not None and dist.derivation.variance is not None  # a variance-scaling law
    if isinstance(dist, D.Normal):
        part = dist.scale / math.sqrt(2.0)  # the variance split evenly: E|z - mean|² = std²
        imag_loc = dist.loc if rule == "torch" else 0.0  # torch's normal_ adds the mean to both parts
        return Complex(form="parts", rule=rule, real=D.Normal(loc=dist.loc, scale=part),
                       imag=D.Normal(loc=imag_loc, scale=part), derivation=dist.derivation)
    if isinstance(dist, D.Uniform):
        if rule == "torch":  # uniform_: each part U(low, high)
            part_law = D.Uniform(low=dist.low, high=dist.high)
            return Complex(form="parts", rule=rule, real=part_law, imag=part_law, derivation=dist.derivation)
        if vs and dist.low == -dist.high:  # JAX's _complex_uniform × sqrt(variance)
            return Complex(form="disk", rule=rule, scale=dist.std, derivation=dist.derivation)
        raise _refuse(dist, "a uniform on an interval is real (JAX's uniform refuses complex dtypes); "
                      "torch.uniform draws each part U(a, b), variance scaling a uniform disk", dtype)
    if isinstance(dist, D.TruncatedNormal):
        if rule != "torch" and vs and dist.derivation is not None and dist.derivation.correction is not None:
            # JAX's _complex_truncated_normal(upper=2) × sqrt(variance) / 0.95311...
            return Complex(form="truncated_disk", rule=rule, scale=dist.scale * D.TRUNC2_STD,
                           correction=JAX_TRUNC_CORRECTION, upper=2.0, derivation=dist.derivation)
        raise _refuse(dist, "torch's trunc_normal_ and JAX's truncated_normal refuse complex dtypes; "
                      "variance scaling's truncated_normal has JAX's complex form", dtype)
    if isinstance(dist, (D.Orthogonal, D.DeltaOrthogonal)):
        raise _refuse(dist, "unitary matrices (JAX's complex QR) are not supported yet, and torch's orthogonal_ "
                      "refuses complex tensors", dtype)
    raise _refuse(dist, f"initspec draws {dist.kind} laws in real dtypes only", dtype)
