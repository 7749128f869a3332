"""Layer-sequential unit-variance (LSUV) initialization, as data (Mishkin & Matas, ICLR 2016).

A plan may end with an ``lsuv:`` section::

    lsuv:
      match: {kind: [dense, conv], role: weight}   # which layers' weights to rescale
      target: 1.0                                 # the output variance to reach
      tol: 0.05                                   # |Var - target| <= tol * target
      max_iter: 10                                # forward passes per layer, at most

``initspec.apply(plan, model, data=batch)`` first draws the plan's laws, then goes through
the matched layers **in forward order** and rescales each one's weight until the variance
of its output on the batch (over the whole output blob, bias included, before any
activation that follows it - the layer's own output) is within ``tol`` of ``target``.
Biases are not changed.

How it is fast: a dense or convolution layer's output is affine in its weight's scale,
``y(c) = c·z + b`` with ``z = y - b``, so the moments of one output give
``Var(y(c)) = A c² + 2 B c + C`` exactly, and the scale that reaches the target solves a
quadratic (:func:`solve_scale`) - no guess-and-repeat.  And the fit needs no pass of its own:
a backend's probe **sweeps** the model (:class:`SweepProbe`) - one forward pass in which, at
each selected layer in turn, the hook measures the output, asks for the factor, rescales the
weight in place and passes ``c·z + b`` - what the rescaled weight gives - on to the rest of
the pass, so every later layer is measured with everything before it already fitted.  A
second sweep verifies every layer (and refits one that still misses: weights shared with a
later layer, an output that feeds back), up to ``max_iter`` sweeps.  So LSUV on any number of
layers costs **two forward passes** - against one pass per layer (or per iteration) for the
classic algorithm.

A probe that can only measure and rescale (:class:`Probe`: ``measure(upto)`` and
``scale(index, factor)``) is fitted layer by layer instead, each pass measuring the next
layer and verifying the one before: about *L* + 1 passes.

The backend supplies the probe (``adapters/<name>/signal.py``); this module is the
algorithm, framework-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Moments", "Probe", "SweepProbe", "LayerResult", "LsuvResult", "solve_scale", "run"]


@dataclass(frozen=True)
class Moments:
    """What one forward pass tells about a layer's output ``y = z + b`` (``z`` the weight's
    part, ``b`` the bias broadcast over the blob; all means over every element of the
    output blob, batch included).  A layer without a bias has ``b = 0``."""

    mean_z: float
    mean_zz: float
    mean_b: float = 0.0
    mean_bb: float = 0.0
    mean_zb: float = 0.0

    @property
    def variance(self) -> float:
        """Var(y) of the output as it is (scale 1)."""
        a, b, c = self.quadratic
        return a + 2.0 * b + c

    @property
    def quadratic(self) -> tuple[float, float, float]:
        """(A, B, C) with Var(c·z + b) = A c² + 2 B c + C."""
        a = self.mean_zz - self.mean_z ** 2
        b = self.mean_zb - self.mean_z * self.mean_b
        c = self.mean_bb - self.mean_b ** 2
        return max(a, 0.0), b, max(c, 0.0)

    @classmethod
    def of(cls, z: Any, b: Any = None) -> Moments:
        """Moments from NumPy arrays (``b`` broadcast against ``z``; None: no bias)."""
        import numpy as np

        z = np.asarray(z, dtype=np.float64)
        if b is None:
            return cls(float(z.mean()), float(np.mean(z * z)))
        b = np.broadcast_to(np.asarray(b, dtype=np.float64), z.shape)
        return cls(float(z.mean()), float(np.mean(z * z)), float(b.mean()), float(np.mean(b * b)),
                   float(np.mean(z * b)))


def solve_scale(m: Moments, target: float) -> float | None:
    """The factor ``c > 0`` that makes Var(c·z + b) equal ``target`` (None when no positive
    factor can: the weight's part is zero, or the bias alone is more variable than the
    target and scaling the weight cannot lower it enough)."""
    a, b, c = m.quadratic
    if a <= 0.0 or not math.isfinite(a):
        return None
    disc = b * b - a * (c - target)
    if disc < 0.0:
        return None
    root = (-b + math.sqrt(disc)) / a
    return root if root > 0.0 and math.isfinite(root) else None


class Probe(Protocol):
    """A backend's view of one model and one batch for LSUV (its ``signal.py`` builds it)."""

    #: The matched layers, in forward order (their normalized weight paths).
    layers: Sequence[str]

    def measure(self, upto: int) -> dict[int, Moments]:
        """One forward pass on the batch; the output moments of every matched layer it
        reached, by index.  It may stop once layer ``upto`` has been measured."""

    def scale(self, index: int, factor: float) -> None:
        """Multiply layer ``index``'s weight by ``factor`` in place."""


#: ``decide(index, moments)``: the factor to rescale layer ``index`` by now, or None.
Decide = Callable[[int, Moments], "float | None"]


class SweepProbe(Protocol):
    """A probe that fits every layer in one forward pass (see the module docstring)."""

    #: The matched layers, in forward order (complete after the first sweep).
    layers: Sequence[str]

    def sweep(self, decide: Decide) -> None:
        """One forward pass on the batch.  At the first call of each matched layer, in
        forward order (which fixes its index), take the moments ``m`` of its output
        ``y = z + b``; if ``factor = decide(index, m)`` is not None, multiply the layer's
        weight by it in place and pass ``factor·z + b`` on instead of ``y``."""


class ProbeBase:
    """What every backend's :class:`SweepProbe` keeps: the selected layers (``_all``, each
    with a ``path``), their places in the forward order as the sweeps first call them
    (``layers``) and the ones no sweep has called (``unreached``).  A backend appends its
    layers to ``_all``, runs the model's forward pass in ``_forward`` and, at each call of a
    selected layer, asks :meth:`_first_call` whether to measure it."""

    def __init__(self) -> None:
        self._all: list[Any] = []
        self._index: dict[int, int] = {}  # id(layer) -> forward position
        self._seen: set[int] = set()
        self._decide: Any = None
        self.layers: list[str] = []

    @property
    def unreached(self) -> list[str]:
        """The selected layers no sweep has called."""
        return [x.path for x in self._all if id(x) not in self._index]

    def _first_call(self, x: Any) -> int | None:
        """The layer ``x``'s place in the forward order (fixed at its first call ever) at its
        first call in this sweep; None when this sweep calls it again (measured at its first)."""
        index = self._index.get(id(x))
        if index is None:
            index = self._index[id(x)] = len(self.layers)
            self.layers.append(x.path)
        if index in self._seen:
            return None
        self._seen.add(index)
        return index

    def sweep(self, decide: Decide) -> None:
        self._decide, self._seen = decide, set()
        try:
            self._forward()
        finally:
            self._decide = None

    def _forward(self) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class LayerResult:
    """What LSUV did to one layer."""

    path: str
    scale: float
    """The product of every factor applied to the weight."""
    iterations: int
    """Forward passes that measured this layer before it was within tolerance (or gave up)."""
    variance: float
    """The output variance on the batch after the last rescale."""
    initial_variance: float
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "scale": self.scale, "iterations": self.iterations, "variance": self.variance,
                "initial_variance": self.initial_variance, "converged": self.converged}


@dataclass(frozen=True)
class LsuvResult:
    target: float
    tol: float
    max_iter: int
    layers: tuple[LayerResult, ...]
    passes: int
    """Forward passes run in all."""
    notes: tuple[str, ...] = field(default=())

    @property
    def converged(self) -> bool:
        return all(r.converged for r in self.layers)

    @property
    def failures(self) -> list[LayerResult]:
        return [r for r in self.layers if not r.converged]

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "tol": self.tol, "max_iter": self.max_iter, "passes": self.passes,
                "converged": self.converged, "layers": [r.to_dict() for r in self.layers]}


def _within(var: float, target: float, tol: float) -> bool:
    return math.isfinite(var) and abs(var - target) <= tol * target


def run(probe: Probe | SweepProbe, *, target: float = 1.0, tol: float = 0.05, max_iter: int = 10,
        on_scale: Callable[[str], None] | None = None) -> LsuvResult:
    """Fit every layer of ``probe`` in forward order (see the module docstring).
    ``on_scale(path)`` is called before each rescale (it may raise: fault injection)."""
    if hasattr(probe, "sweep"):
        return _run_sweeps(probe, target, tol, max_iter, on_scale)  # type: ignore[arg-type]
    return _run_layers(probe, target, tol, max_iter, on_scale)  # type: ignore[arg-type]


def _factor(m: Moments, target: float) -> float | None:
    factor = solve_scale(m, target)
    if factor is None:
        var = m.variance
        factor = math.sqrt(target / var) if var > 0 and math.isfinite(var) else None
    return factor


@dataclass
class _State:
    scale: float = 1.0
    iterations: int = 0
    initial: float = math.nan
    final: float = math.nan
    done: bool = False


def _scaled_variance(m: Moments, factor: float) -> float:
    a, b, c = m.quadratic
    return a * factor * factor + 2.0 * b * factor + c


def _run_sweeps(probe: SweepProbe, target: float, tol: float, max_iter: int,
                on_scale: Callable[[str], None] | None) -> LsuvResult:
    states: dict[int, _State] = {}
    changed = [False]

    def decide(index: int, m: Moments) -> float | None:
        st = states.setdefault(index, _State())
        var = m.variance
        if st.iterations == 0:
            st.initial = var
        st.final = var
        if not st.done and st.iterations < max_iter:
            st.iterations += 1
        st.done = _within(var, target, tol)
        if st.done or st.iterations >= max_iter:
            return None  # within tolerance, or given up
        factor = _factor(m, target)
        if factor is None:
            st.iterations = max_iter  # nothing a scale can do: give up now
            return None
        if on_scale is not None:
            on_scale(probe.layers[index])
        st.scale *= factor
        st.final = _scaled_variance(m, factor)
        changed[0] = True
        return factor

    passes = 0
    while True:
        changed[0] = False
        probe.sweep(decide)
        passes += 1
        if not changed[0] or passes >= max_iter:
            break
    n = len(probe.layers)
    missing = [k for k in range(n) if k not in states]
    if missing:
        raise RuntimeError(f"the forward pass never reached {probe.layers[missing[0]]}: is it used by the model's "
                           "forward on this batch?")
    results = tuple(LayerResult(probe.layers[k], states[k].scale, states[k].iterations, states[k].final,
                                states[k].initial, states[k].done and _within(states[k].final, target, tol))
                    for k in range(n))
    return LsuvResult(target, tol, max_iter, results, passes)


def _run_layers(probe: Probe, target: float, tol: float, max_iter: int,
                on_scale: Callable[[str], None] | None) -> LsuvResult:
    """The layer-by-layer fit, for probes that can only measure and rescale."""
    n = len(probe.layers)
    scales = [1.0] * n
    iters = [0] * n
    initial: list[float | None] = [None] * n
    final = [math.nan] * n
    done = [False] * n
    passes = 0
    pending: dict[int, Moments] = {}  # moments of layers measured by the last pass
    for k in range(n):
        while True:
            m = pending.get(k)
            if m is None:  # measure k, and the next layer too: its fit needs that pass anyway
                pending = probe.measure(min(k + 1, n - 1))
                passes += 1
                m = pending.get(k)
                if m is None:
                    raise RuntimeError(f"the forward pass never reached {probe.layers[k]}: is it used by the model's "
                                       "forward on this batch?")
                # the same pass re-measured the layers before k after their rescale
                for j in range(k):
                    if j in pending:
                        final[j] = pending[j].variance
            iters[k] += 1
            var = m.variance
            if initial[k] is None:
                initial[k] = var
            final[k] = var
            if _within(var, target, tol):
                done[k] = True
                break
            if iters[k] >= max_iter:
                break
            factor = _factor(m, target)
            if factor is None:
                break
            if on_scale is not None:
                on_scale(probe.layers[k])
            probe.scale(k, factor)
            scales[k] *= factor
            pending = {}  # the next measurement of k needs a new pass
    results = tuple(LayerResult(probe.layers[k], scales[k], iters[k], final[k], float(initial[k] or math.nan),
                                done[k] and _within(final[k], target, tol)) for k in range(n))
    return LsuvResult(target, tol, max_iter, results, passes)
