"""The power gate's wrong samplers (docs/conformance.md, "the power gate").

Each :class:`Mutant` is a bug a real adapter could have, as a
:class:`~initspec.testing.items.Bug` handed to the engine: most are a rewrite of the
resolved law (a pure ``Distribution -> Distribution`` transform) that the backend's driver
draws instead of the law (so the shapes, seeds and checks are exactly those of the real
suite); the others draw orthogonal matrices without the Haar sign correction or make a
plan reuse one seed for two parameters.  :func:`run_mutant` runs the suite's own case
runner on the mutant's target cases - the same checks, seeds and α - and every target must
fail (``tests/test_power_gate.py``).  Nothing is patched.

==========================  ==============================================================
mutant                      bug
==========================  ==============================================================
std_up, std_down            standard deviation ×1.05 / ×0.95 (gain for orthogonal)
fans_swapped                fan_in and fan_out exchanged (non-square shapes)
layout_misread              torch (out, in, *k) read as (*k, in, out), or the reverse
uniform_for_normal          a uniform with the right variance instead of a normal
truncation_missing          a truncated normal drawn untruncated
correction_missing          the 1/0.8796 variance correction of ±2σ truncation dropped
bounds_std_as_absolute      bounds in σ units read as absolute values
bounds_absolute_as_std      absolute bounds read as σ units
normal_as_truncated         "normal" silently turned into a (variance-kept) truncated normal
mean_shift                  mean shifted by 0.05σ
haar_off                    orthogonal without the Haar sign correction
seed_reuse                  one seed reused for two parameters of one plan
complex_std_up/_down        a complex law's spread ×1.05 / ×0.95
complex_real_only           all the variance in the real part, the imaginary part constant
complex_imag_is_real        the imaginary part a copy of the real part
complex_full_std_each       each part with the full std (E|z|² doubled; for the disks, each
                            part the real law)
complex_parts_for_disk      JAX's disks drawn as independent parts of the same variance
                            (torch's rule where JAX's applies)
complex_correction_missing  JAX's 1/0.95311 complex truncation constant dropped
complex_mean_one_part       torch.normal's mean added to the real part only
==========================  ==============================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from .. import distributions as D
from ..complexlaw import Complex, complex_law
from ..plans import derive_seed
from ..resolution import resolve
from ..spec import Axes
from . import engine
from .backends import backend_names, get_backend
from .drivers import Transform
from .items import INDEPENDENCE_CASES, Bug, ItemResult

__all__ = ["Mutant", "MUTANTS", "run_mutant", "scale_std", "shift_mean"]


# ----------------------------------------------------------------------------- law rewrites


def scale_std(factor: float) -> Transform:
    """Every random law's spread times ``factor`` around its centre (gain for orthogonal)."""

    def t(d: D.Distribution) -> D.Distribution:
        if isinstance(d, D.Normal):
            return replace(d, scale=d.scale * factor)
        if isinstance(d, D.Uniform):
            mid, half = (d.low + d.high) / 2, (d.high - d.low) / 2
            return replace(d, low=mid - half * factor, high=mid + half * factor)
        if isinstance(d, D.TruncatedNormal):
            return replace(d, scale=d.scale * factor, low=d.loc + (d.low - d.loc) * factor,
                           high=d.loc + (d.high - d.loc) * factor)
        if isinstance(d, (D.Orthogonal, D.DeltaOrthogonal)):
            return replace(d, gain=d.gain * factor)
        if isinstance(d, D.Sparse):
            return replace(d, scale=d.scale * factor)
        return d

    return t


def shift_mean(sigmas: float) -> Transform:
    """The law moved by ``sigmas`` of its own standard deviation."""

    def t(d: D.Distribution) -> D.Distribution:
        delta = sigmas * d.std
        if isinstance(d, D.Normal):
            return replace(d, loc=d.loc + delta)
        if isinstance(d, D.Uniform):
            return replace(d, low=d.low + delta, high=d.high + delta)
        if isinstance(d, D.TruncatedNormal):
            return replace(d, loc=d.loc + delta, low=d.low + delta, high=d.high + delta)
        return d

    return t


def _reresolve(layout_of: Callable[[D.Distribution], object]) -> Transform:
    def t(d: D.Distribution) -> D.Distribution:
        der = d.derivation
        if der is None or der.fans is None:
            return d
        return resolve(der.spec, der.shape, layout_of(d))

    return t


def _swapped_axes(d: D.Distribution) -> Axes:
    fans = d.derivation.fans  # type: ignore[union-attr]
    return Axes(in_axes=fans.out_axes, out_axes=fans.in_axes, batch_axes=fans.batch_axes)


def _other_layout(d: D.Distribution) -> str:
    return "jax" if d.derivation.layout == "torch" else "torch"  # type: ignore[union-attr]


def _uniform_for_normal(d: D.Distribution) -> D.Distribution:
    if not isinstance(d, D.Normal):
        return d
    half = d.scale * math.sqrt(3.0)  # same variance
    return D.Uniform(low=d.loc - half, high=d.loc + half, derivation=d.derivation)


def _untruncated(d: D.Distribution) -> D.Distribution:
    if not isinstance(d, D.TruncatedNormal):
        return d
    return D.Normal(loc=d.loc, scale=d.scale, derivation=d.derivation)


def _no_correction(d: D.Distribution) -> D.Distribution:
    if not isinstance(d, D.TruncatedNormal) or d.derivation is None or d.derivation.correction is None:
        return d
    c = D.TRUNC2_STD  # the parent std is sqrt(variance), not sqrt(variance)/0.8796
    return replace(d, scale=d.scale * c, low=d.loc + (d.low - d.loc) * c, high=d.loc + (d.high - d.loc) * c)


def _std_bounds_as_absolute(d: D.Distribution) -> D.Distribution:
    if not isinstance(d, D.TruncatedNormal):
        return d
    return replace(d, low=d.alpha, high=d.beta)  # "-2, 2" meant σ, taken as values


def _absolute_bounds_as_std(d: D.Distribution) -> D.Distribution:
    if not isinstance(d, D.TruncatedNormal):
        return d
    return replace(d, low=d.loc + d.low * d.scale, high=d.loc + d.high * d.scale)


def _normal_as_truncated(d: D.Distribution) -> D.Distribution:
    if not isinstance(d, D.Normal):
        return d
    parent = d.scale / D.TRUNC2_STD  # Keras' rewrite keeps the variance: only the shape differs
    return D.TruncatedNormal(loc=d.loc, scale=parent, low=d.loc - 2 * parent, high=d.loc + 2 * parent,
                             derivation=d.derivation)


def _complex(rewrite: Callable[[Complex, D.Distribution], Complex]) -> Transform:
    """A rewrite of the complex form of a law (``rewrite(complex law, real law)``)."""

    def t(d: D.Distribution) -> D.Distribution:
        return rewrite(complex_law(d), d)

    return t


_SQRT2 = math.sqrt(2.0)


def _real_only(law: Complex, d: D.Distribution) -> Complex:
    re, im = law.parts
    return replace(law, real=scale_std(_SQRT2)(re), imag=D.Constant(value=im.mean))


def _full_std_each(law: Complex, d: D.Distribution) -> Complex:
    if law.form == "parts":
        re, im = law.parts
        return replace(law, real=scale_std(_SQRT2)(re), imag=scale_std(_SQRT2)(im))
    real = d if law.form == "truncated_disk" else D.Uniform(low=-math.sqrt(3.0) * law.scale,
                                                            high=math.sqrt(3.0) * law.scale)
    return Complex(form="parts", rule=law.rule, real=real, imag=real, derivation=d.derivation)


def _parts_for_disk(law: Complex, d: D.Distribution) -> Complex:
    half = scale_std(1.0 / _SQRT2)(d)  # each part the real law with half the variance
    return Complex(form="parts", rule=law.rule, real=half, imag=half, derivation=d.derivation)


def _mean_one_part(law: Complex, d: D.Distribution) -> Complex:
    re, im = law.parts
    return replace(law, imag=shift_mean(-im.mean / im.std)(im))


# ----------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Mutant:
    """A wrong sampler and the case ids on which the suite must reject it."""

    name: str
    bug: str
    targets: tuple[str, ...]
    transform: Transform | None = None
    kind: Literal["sampler", "haar", "seed"] = "sampler"

    @property
    def test(self) -> str:
        return "independence" if self.kind == "seed" else "conformance"

    @property
    def injected(self) -> Bug:
        """What the engine injects."""
        if self.kind == "haar":
            return Bug(haar=False)
        if self.kind == "seed":
            return Bug(param_seed=lambda seed, path: derive_seed(seed, "<one path for every parameter>"))
        return Bug(transform=self.transform)


_SCALE_TARGETS = ("he_normal-square-float32", "glorot_uniform-conv2d-float32", "truncated_normal-bias-float32",
                  "lecun_truncated_normal-tall-bfloat16", "orthogonal-wide-float32", "sparse-square-float32",
                  "uniform-bias-float16")

_COMPLEX_SCALE_TARGETS = ("he_normal-square-complex64", "he_uniform-conv2d-complex64",
                          "he_truncated_normal-wide-complex128", "torch.default_weight-square-complex128")

MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("std_up", "std ×1.05", _SCALE_TARGETS, scale_std(1.05)),
    Mutant("std_down", "std ×0.95", _SCALE_TARGETS, scale_std(0.95)),
    Mutant("fans_swapped", "fan_in/fan_out swapped on a non-square shape",
           ("he_normal-wide-float32", "lecun_uniform-tall-float32", "vs_fan_out_truncated_normal-conv2d-float32",
            "he_uniform-large-float16"), _reresolve(_swapped_axes)),
    Mutant("layout_misread", "torch (out, in) read as (in, out) (and the reverse)",
           ("he_uniform-conv2d-float32", "torch.default_weight-wide-float32", "lecun_normal-conv1d-float32",
            "glorot_normal-conv3d-bfloat16"), _reresolve(_other_layout)),
    Mutant("uniform_for_normal", "uniform with the right variance instead of normal",
           ("he_normal-square-float32", "normal-bias-float32", "glorot_normal-conv3d-float16"), _uniform_for_normal),
    Mutant("truncation_missing", "truncation missing",
           ("he_truncated_normal-square-float32", "truncated_normal-bias-float32",
            "lecun_truncated_normal-conv1d-bfloat16", "truncated_normal_result-wide-float16"), _untruncated),
    Mutant("correction_missing", "the 1/0.8796 truncation correction missing",
           ("he_truncated_normal-square-float32", "flax.default_kernel-conv2d-float32", "keras.he_normal-tall-float16",
            "vs_fan_avg_truncated_normal-large-bfloat16"), _no_correction),
    Mutant("bounds_std_as_absolute", "bounds in absolute units where σ-units were meant",
           ("truncated_normal-square-float32", "truncated_normal-bias-float16", "he_truncated_normal-conv2d-float32",
            "truncated_normal_result-tall-bfloat16"), _std_bounds_as_absolute),
    Mutant("bounds_absolute_as_std", "bounds in σ-units where absolute values were meant",
           ("truncated_normal_abs-square-float32", "torch.trunc_normal-bias-float32",
            "truncated_normal_abs-conv3d-bfloat16"), _absolute_bounds_as_std),
    Mutant("normal_as_truncated", '"normal" silently turned into truncated normal',
           ("he_normal-square-float32", "normal-bias-float32", "glorot_normal-large-float16",
            "vs_fan_in_normal-conv2d-bfloat16"), _normal_as_truncated),
    Mutant("mean_shift", "mean shifted by 0.05σ",
           ("normal-square-float32", "uniform-bias-float32", "he_truncated_normal-wide-float32",
            "glorot_normal-conv1d-float16"), shift_mean(0.05)),
    Mutant("haar_off", "orthogonal without sign correction",
           ("orthogonal-square-float32", "orthogonal-large-float32", "orthogonal_gain-conv2d-float16",
            "delta_orthogonal-conv2d-float32"), kind="haar"),
    Mutant("seed_reuse", "the same seed reused for two parameters of one plan",
           INDEPENDENCE_CASES, kind="seed"),
    # complex dtypes (initspec.complexlaw): the checks of initspec.testing.complex_checks
    *(Mutant(f"complex_std_{way}", f"complex: std ×{f}", _COMPLEX_SCALE_TARGETS, scale_std(f))
      for way, f in (("up", 1.05), ("down", 0.95))),
    Mutant("complex_real_only", "complex: all the variance in the real part",
           ("normal-bias-complex64", "he_normal-square-complex128", "torch.default_weight-square-complex64"),
           _complex(_real_only)),
    Mutant("complex_imag_is_real", "complex: the imaginary part equal to the real part",
           ("he_normal-square-complex64", "torch.normal-bias-complex128", "torch.kaiming_uniform-conv2d-complex64"),
           _complex(lambda law, d: replace(law, tied=True))),
    Mutant("complex_full_std_each", "complex: each part with the full std",
           ("normal-bias-complex128", "he_normal-square-complex64", "he_uniform-conv2d-complex64",
            "he_truncated_normal-wide-complex128"), _complex(_full_std_each)),
    Mutant("complex_parts_for_disk", "complex: independent parts instead of JAX's disk (same variance)",
           ("he_uniform-conv2d-complex128", "jax.glorot_uniform-square-complex64", "he_truncated_normal-wide-complex64",
            "flax.default_kernel-conv1d-complex64"), _complex(_parts_for_disk)),
    Mutant("complex_correction_missing", "complex: JAX's 1/0.95311 truncation constant missing",
           ("he_truncated_normal-wide-complex64", "flax.default_kernel-conv1d-complex128"),
           _complex(lambda law, d: replace(law, correction=1.0))),
    Mutant("complex_mean_one_part", "complex: torch.normal's mean added to the real part only",
           ("torch.normal-bias-complex64", "torch.normal-bias-complex128"), _complex(_mean_one_part)),
)}


def run_mutant(mutant: Mutant, backend: str, salt: int = 0, device: str = "cpu") -> list[ItemResult]:
    """Run the suite's own tests on ``mutant``'s targets with the bug injected into
    ``backend``; returns one result per target (each must have failed)."""
    sel = engine.make_selection([backend], [device], list(mutant.targets), coverage="full")
    return [engine.run_item(sel, i, salt, bug=mutant.injected) for i in sel.items if i.test == mutant.test]


def power_gate(backends: list[str] | None = None, salt: int = 0, device: str = "cpu",
               progress: Callable[[str], None] | None = None) -> list[dict[str, object]]:
    """Every mutant on every available backend: one row per (mutant, backend) with whether all
    targets were rejected, the number of targets and the largest (weakest) of their min
    p-values.  ``python -m initspec.testing --power-gate`` prints it."""
    rows: list[dict[str, object]] = []
    for name in backends or backend_names():
        b = get_backend(name)
        if not b.available()[0] or not b.mutable:
            continue
        for m in MUTANTS.values():
            res = run_mutant(m, name, salt, device)
            ps = [r.min_p for r in res if r.min_p is not None]
            rows.append({"mutant": m.name, "bug": m.bug, "backend": name, "targets": len(res),
                         "rejected": sum(r.status == "failed" for r in res),
                         "weakest_p": max(ps) if ps else None,
                         "passed_gate": bool(res) and all(r.status == "failed" for r in res)})
            if progress:
                progress(f"{name} {m.name}: {rows[-1]['rejected']}/{len(res)} rejected")
    return rows
