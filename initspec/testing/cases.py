"""The conformance case table, as data.

A **case** is one spec drawn at one tensor shape in one dtype: ``scheme × shape family ×
dtype``.  The runner crosses it with a backend and a device and tests the samples against
``initspec.resolve(spec, shape, layout=<the backend's native layout>)`` (see ``docs/conformance.md``).

* :data:`SCHEMES` - every plain scheme, each fan mode × distribution of variance scaling,
  the named specialisations (Glorot, He, LeCun) and a few framework presets.
* :data:`FAMILIES` - shapes described by layer kind (in/out channels, kernel), rendered in
  each backend's native layout: square, wide, tall, conv 1-D/2-D/3-D, transposed conv,
  bias (1-D) and large fans.
* :data:`DTYPES` - float32, float64, float16, bfloat16.
* :data:`COMPLEX_CASES` - a few schemes × families in complex64 and complex128, each law in
  its complex form (:mod:`initspec.complexlaw`): the normal split between the parts, the
  variance-scaling disks, torch's uniform parts (a few rows of :data:`COMPLEX_SCHEMES`,
  which only these cases use).

Case ids are readable and stable, ``<scheme>-<family>-<dtype>`` (e.g.
``he_normal-conv2d-float16``); a test id prefixes backend and device
(``torch-cpu-he_normal-conv2d-float16``).  Seeds come from ``zlib.crc32`` of the case id
(never Python's ``hash()``) xor a *salt*, so every run is deterministic and a salt re-rolls
all of them at once.

Coverage: a backend gets either the ``full`` cross product or a ``covering`` subset that
keeps every scheme × family pair once, with the dtype rotating so that every scheme × dtype
and family × dtype pair also appears (see :func:`cases_for`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .. import distributions as D
from ..complexlaw import COMPLEX_DTYPES, PART_DTYPES, Complex, complex_law
from ..resolution import resolve
from .complex_checks import UNIT
from .stats import HAAR_MIN_DIAGONAL, N_SAMPLES, bound_regions

__all__ = [
    "DTYPES", "COMPLEX_DTYPES", "COMPLEX_SCHEMES", "COMPLEX_CASES", "Family", "FAMILIES", "SchemeCase", "SCHEMES",
    "Case", "Coverage", "all_cases", "cases_for", "case_by_id", "draw_count", "draw_seeds", "planned_p_values",
    "planned_for", "planned_complex", "SEED_MASK", "HAAR_MIN_DIAGONAL",
]

DTYPES: tuple[str, ...] = ("float32", "float64", "float16", "bfloat16")
Coverage = Literal["full", "covering"]
#: Seeds are kept to 31 bits: every backend's seeding accepts them.
SEED_MASK = 0x7FFF_FFFF

LayerKind = Literal["dense", "conv", "conv_transpose", "bias"]


@dataclass(frozen=True)
class Family:
    """A shape family: a layer kind with its channel counts and kernel size."""

    name: str
    kind: LayerKind
    in_ch: int
    out_ch: int
    kernel: tuple[int, ...] = ()
    note: str = ""

    def shape(self, layout: str) -> tuple[int, ...]:
        """The native tensor shape of this family in ``layout``.

        torch: dense (out, in), conv (out, in, *k), transposed conv (in, out, *k);
        keras: (in, out), (*k, in, out), transposed (*k, out, in);
        jax/flax: (in, out), (*k, in, out), transposed (*k, in, out).
        """
        k, i, o = self.kernel, self.in_ch, self.out_ch
        if self.kind == "bias":
            return (o,)
        if layout == "torch":
            return {"dense": (o, i), "conv": (o, i, *k), "conv_transpose": (i, o, *k)}[self.kind]
        if layout == "keras" and self.kind == "conv_transpose":
            return (*k, o, i)
        return (i, o) if self.kind == "dense" else (*k, i, o)

    @property
    def is_2d(self) -> bool:
        return self.kind == "dense"


#: Sizes keep about N_SAMPLES elements per tensor (fewer are pooled over draws).
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("square", "dense", 256, 256),
    Family("wide", "dense", 128, 512, note="fan_out > fan_in"),
    Family("tall", "dense", 512, 128, note="fan_in > fan_out"),
    Family("conv1d", "conv", 32, 64, (5,)),
    Family("conv2d", "conv", 32, 64, (3, 3)),
    Family("conv3d", "conv", 16, 32, (3, 3, 3)),
    Family("conv_transpose2d", "conv_transpose", 64, 32, (4, 4),
           note="fans differ by framework (torch/keras count out channels, flax in channels)"),
    Family("bias", "bias", 0, 4096),
    Family("large", "dense", 8192, 8, note="fan_in 8192"),
)}

_ALL = tuple(FAMILIES)
_WEIGHTS = tuple(f for f in FAMILIES if f != "bias")
_MATRICES = tuple(f for f, fam in FAMILIES.items() if fam.is_2d)
_CONVS = ("conv1d", "conv2d", "conv3d")


@dataclass(frozen=True)
class SchemeCase:
    """One row of the scheme table: a label, a spec, and the families it applies to."""

    label: str
    spec: Mapping[str, Any] = field(hash=False)
    families: tuple[str, ...]
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", MappingProxyType(dict(self.spec)))


def _vs(mode: str, dist: str) -> SchemeCase:
    return SchemeCase(f"vs_{mode}_{dist}", {"scheme": "variance_scaling", "scale": 2.0, "mode": mode,
                                             "distribution": dist}, _WEIGHTS)


#: The scheme table.  Fan-free laws also cover biases; fan-based ones cover every weight.
SCHEMES: dict[str, SchemeCase] = {s.label: s for s in (
    # exact values
    SchemeCase("zeros", {"scheme": "zeros"}, _ALL),
    SchemeCase("ones", {"scheme": "ones"}, _ALL),
    SchemeCase("constant", {"scheme": "constant", "value": 0.3}, _ALL),
    # plain laws, fan-free
    SchemeCase("uniform", {"scheme": "uniform", "low": -0.2, "high": 0.5}, _ALL),
    SchemeCase("normal", {"scheme": "normal", "mean": 0.1, "std": 0.3}, _ALL),
    SchemeCase("truncated_normal", {"scheme": "truncated_normal", "mean": 0.1, "std": 0.3}, _ALL,
               note="±2 parent std"),
    SchemeCase("truncated_normal_abs", {"scheme": "truncated_normal", "std": 0.2, "low": -0.1, "high": 0.3,
                                        "bounds": "absolute"}, _ALL, note="asymmetric absolute bounds"),
    SchemeCase("truncated_normal_result", {"scheme": "truncated_normal", "std": 0.1, "low": -1.5, "high": 1.5,
                                           "bounds": "std", "std_of": "result"}, _ALL,
               note="parent std solved for the result's"),
    # variance scaling: every mode x distribution
    *(_vs(m, d) for m in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
      for d in ("uniform", "normal", "truncated_normal")),
    # named specialisations
    *(SchemeCase(f"glorot_{d}", {"scheme": "glorot", "distribution": d}, _WEIGHTS)
      for d in ("uniform", "normal", "truncated_normal")),
    *(SchemeCase(f"he_{d}", {"scheme": "he", "distribution": d}, _WEIGHTS)
      for d in ("uniform", "normal", "truncated_normal")),
    SchemeCase("he_fan_out_leaky", {"scheme": "he", "distribution": "normal", "mode": "fan_out",
                                    "nonlinearity": "leaky_relu", "negative_slope": 0.2}, _WEIGHTS),
    *(SchemeCase(f"lecun_{d}", {"scheme": "lecun", "distribution": d}, _WEIGHTS)
      for d in ("uniform", "normal", "truncated_normal")),
    # framework presets
    SchemeCase("torch.default_weight", {"scheme": "torch.default_weight"}, _WEIGHTS),
    SchemeCase("torch.trunc_normal", {"scheme": "torch.trunc_normal", "std": 0.02}, _ALL,
               note="absolute ±2: never truncates"),
    SchemeCase("keras.he_normal", {"scheme": "keras.he_normal"}, _WEIGHTS),
    SchemeCase("flax.default_kernel", {"scheme": "flax.default_kernel"}, _WEIGHTS),
    # structured
    SchemeCase("orthogonal", {"scheme": "orthogonal"}, _WEIGHTS),
    SchemeCase("orthogonal_gain", {"scheme": "orthogonal", "gain": 2.5}, _WEIGHTS),
    SchemeCase("identity", {"scheme": "identity", "gain": 0.5}, _MATRICES),
    SchemeCase("dirac", {"scheme": "dirac"}, (*_CONVS, "conv_transpose2d")),
    SchemeCase("dirac_groups", {"scheme": "dirac", "groups": 2}, _CONVS),
    SchemeCase("delta_orthogonal", {"scheme": "delta_orthogonal", "gain": 1.5}, _CONVS),
    SchemeCase("sparse", {"scheme": "sparse", "sparsity": 0.1, "std": 0.02}, _MATRICES),
)}


#: Scheme rows only the complex cases use (framework presets whose complex rule differs).
COMPLEX_SCHEMES: dict[str, SchemeCase] = {s.label: s for s in (
    SchemeCase("torch.normal", {"scheme": "torch.normal", "mean": 0.1, "std": 0.3}, _ALL,
               note="torch adds the mean to both parts"),
    SchemeCase("torch.kaiming_uniform", {"scheme": "torch.kaiming_uniform"}, _WEIGHTS, note="each part U(-L, L)"),
    SchemeCase("jax.glorot_uniform", {"scheme": "jax.glorot_uniform"}, _WEIGHTS, note="uniform disk"),
)}

#: The complex cases: (scheme row, family), each in every one of COMPLEX_DTYPES.
COMPLEX_CASES: tuple[tuple[str, str], ...] = (
    ("normal", "bias"), ("he_normal", "square"), ("he_uniform", "conv2d"), ("vs_fan_avg_uniform", "tall"),
    ("he_truncated_normal", "wide"), ("flax.default_kernel", "conv1d"), ("torch.default_weight", "square"),
    ("torch.kaiming_uniform", "conv2d"), ("torch.normal", "bias"), ("jax.glorot_uniform", "square"),
)


def _complex_cases(chosen: Iterable[str] | None = None) -> list[Case]:
    keep = None if chosen is None else set(chosen)
    return [Case(s, f, d) for s, f in COMPLEX_CASES for d in COMPLEX_DTYPES if keep is None or s in keep]


@dataclass(frozen=True)
class Case:
    """One scheme at one shape family in one dtype (backend- and device-independent)."""

    scheme: str
    family: str
    dtype: str

    @property
    def id(self) -> str:
        return f"{self.scheme}-{self.family}-{self.dtype}"

    @property
    def spec(self) -> Mapping[str, Any]:
        return (SCHEMES.get(self.scheme) or COMPLEX_SCHEMES[self.scheme]).spec

    @property
    def complex(self) -> bool:
        """Whether the case draws a complex tensor (its law in complex form)."""
        return self.dtype in COMPLEX_DTYPES

    def shape(self, layout: str) -> tuple[int, ...]:
        return FAMILIES[self.family].shape(layout)

    def resolve(self, layout: str) -> D.Distribution:
        """The law the samples are tested against, for a backend with this native layout."""
        return resolve(dict(self.spec), self.shape(layout), layout)

    def __str__(self) -> str:
        return self.id


def all_cases() -> list[Case]:
    """The full cross product of the table (every scheme × its families × every dtype), then
    the complex cases."""
    return [Case(s.label, f, d) for s in SCHEMES.values() for f in s.families for d in DTYPES] + _complex_cases()


def cases_for(coverage: Coverage = "full", *, schemes: Iterable[str] | None = None) -> list[Case]:
    """The cases for one backend.

    ``full``: the cross product.  ``covering``: each scheme × family pair once, in the dtype
    ``DTYPES[(i + j) % 4]`` for the scheme's i-th row and its j-th family, so every scheme
    (with ≥ 4 families) meets every dtype and every family meets every dtype
    (``tests/test_conformance_cases.py`` checks both).  Both include every complex case.
    """
    chosen = set(SCHEMES) if schemes is None else set(schemes)
    out: list[Case] = []
    for i, s in enumerate(SCHEMES.values()):
        if s.label not in chosen:
            continue
        for j, f in enumerate(s.families):
            if coverage == "full":
                out.extend(Case(s.label, f, d) for d in DTYPES)
            else:
                out.append(Case(s.label, f, DTYPES[(i + j) % len(DTYPES)]))
    return out + _complex_cases(schemes)


def case_by_id(case_id: str) -> Case:
    """Parse ``<scheme>-<family>-<dtype>`` back into a :class:`Case`."""
    scheme, family, dtype = case_id.rsplit("-", 2)
    if dtype in COMPLEX_DTYPES and (scheme, family) in COMPLEX_CASES:
        return Case(scheme, family, dtype)
    if scheme not in SCHEMES or family not in FAMILIES or dtype not in DTYPES:
        raise KeyError(f"unknown case id {case_id!r}")
    return Case(scheme, family, dtype)


def draw_count(dist: D.Distribution, shape: Sequence[int]) -> int:
    """How many tensors to draw at the real ``shape``: enough to pool ``N_SAMPLES`` elements,
    and for orthogonal laws at least :data:`HAAR_MIN_DIAGONAL` diagonal entries."""
    numel = math.prod(shape)
    if numel == 0 or not dist.random:
        return 1
    r = math.ceil(N_SAMPLES / numel)
    block = dist.block if isinstance(dist, D.DeltaOrthogonal) else dist
    if isinstance(block, D.Orthogonal):
        r = max(r, math.ceil(HAAR_MIN_DIAGONAL / max(1, min(block.rows, block.cols))))
    return r


def draw_seeds(case_id: str, count: int, salt: int = 0) -> list[int]:
    """Seeds of the ``count`` pooled draws of a case: ``crc32(id) ^ salt``, then
    ``crc32(f"{id}/{r}") ^ salt`` (31 bits)."""
    seeds = [(zlib.crc32(case_id.encode()) ^ salt) & SEED_MASK]
    seeds += [(zlib.crc32(f"{case_id}/{r}".encode()) ^ salt) & SEED_MASK for r in range(1, count)]
    return seeds


def planned_p_values(dist: D.Distribution, dtype: str | None = None, n_elements: int | None = None) -> int:
    """The p-valued assertions :func:`~initspec.testing.check_samples` makes on ``dist``
    (at the sample sizes :func:`draw_count` chooses) - the Bonferroni count.  ``dtype`` and
    ``n_elements`` (the pooled element count) decide whether the bound-mass test runs."""
    if isinstance(dist, D.DeltaOrthogonal):
        return 1  # Haar sign
    if isinstance(dist, D.Sparse):
        return planned_p_values(dist.nonzero)
    if not dist.random:
        return 0
    m1, m2, m4 = dist.moment(1), dist.moment(2), dist.moment(4)
    n = int(m2 - m1 * m1 > 0)  # mean test when the variance is positive (as check_samples decides)
    n += int(m4 - m2 * m2 > 0)  # second-moment test unless x² is constant
    n += 1  # KS
    if dtype is not None and n_elements is not None:
        n += int(bool(bound_regions(dist, dtype, n_elements)))  # bound mass
    return n + int(isinstance(dist, D.Orthogonal))  # Haar sign


def planned_for(case: Case, layout: str) -> int:
    """:func:`planned_p_values` of a case drawn in ``layout`` (what the runner counts); a
    complex case counts :func:`planned_complex`."""
    dist, shape = case.resolve(layout), case.shape(layout)
    n = draw_count(dist, shape) * math.prod(shape)
    if case.complex:
        return planned_complex(complex_law(dist, case.dtype), case.dtype, n)
    return planned_p_values(dist, case.dtype, n)


def planned_complex(law: Complex, dtype: str, n: int) -> int:
    """The p-valued assertions :func:`~initspec.testing.complex_checks.check_complex` makes on
    ``n`` draws of the complex ``law``: those of its two real quantities (the parts, or the
    modulus and angle transforms, each U(0, 1)) and their correlation."""
    if law.form == "parts":
        laws: Sequence[tuple[D.Distribution, str]] = [(p, PART_DTYPES[dtype]) for p in law.parts]
    else:
        laws = [(UNIT, "float64"), (UNIT, "float64")]
    return sum(planned_p_values(p, dt, n) for p, dt in laws) + 1
