"""Signal diagnostics on the user's own model: forward and backward variance, and a verdict.

One batch goes forward through the model in its own framework and one random upstream
gradient (standard normal, so the loss is ``sum(output * g)``) comes back; a backend's
``signal.py`` records, for every layer in forward order (by normalized path), the variance
of the layer's output and the variance of the gradient with respect to that output -
with hooks, never by tracing, so residual connections and models ``torch.fx`` cannot trace
are measured as they run.  :func:`verdict` reads the two curves:

=============  ============================================================================
verdict        when
=============  ============================================================================
exploding      a forward variance grows past ``EXPLODE`` × its reference, or a gradient
               variance past ``EXPLODE`` × its reference (or either is not finite)
vanishing      a forward or gradient variance falls below ``VANISH`` × its reference
saturating     a bounded activation (tanh, sigmoid, hard tanh, softsign, hard sigmoid,
               ReLU6) has more than ``SATURATED_FRACTION`` of its outputs within 2% of its
               range from a bound
healthy        none of these
=============  ============================================================================

Each problem names the layer where it **starts**: the first layer (in the direction the
signal travels) whose ratio leaves ``[1/DRIFT, DRIFT]``, on the way to crossing the
threshold.  Both directions are judged: a 50-layer tanh stack can keep its forward
variance and still send the input gradient's variance to 4e5.

References
    Forward, with a floating input batch, each layer's output variance is compared with the
    input's.  Every other comparison is with the **first layer of its kind** - the same type
    at the same path with the block numbers masked (``h.0.mlp.c_fc`` for ``h.11.mlp.c_fc``,
    ``net.0`` for ``net.14``): the first the signal reaches, in forward order forward and in
    backward order backward.  That is what vanishing and exploding are - a drift through
    depth - and it is blind to shape changes that are not: a gradient's per-element variance
    falls by (H·W)² across a global average pool, and a model fed integers (token ids) has
    no input variance, its layers' scales differing by design (an embedding of std 0.02 feeds
    a LayerNorm of unit output).  A kind that occurs once is not judged in that comparison.

Zero-initialized layers and other constant outputs
    A layer whose output is **the same for every sample** of the batch carries no signal:
    a residual branch's last layer at exactly zero (Fixup, ``zero_init_last``, ReZero,
    adaLN-zero), or an input-independent output such as a position embedding.  On its own
    that is not vanishing: when a later layer's output varies from sample to sample again,
    the signal went around it (through the residual connection); it is left out of the
    forward judgment and listed as **bypassed** - as it is when the model's own output
    varies (a zero-initialized last block: the residual sum is not a layer).  When neither
    a later layer nor the output varies (an exactly zero layer in a plain stack: everything
    after it is a constant), the signal is dead - vanishing, from the first such layer.
    Backward, the gradient inside such a branch, before its zero weight, is exactly zero:
    an exactly zero gradient of a layer that comes before a bypassed layer is bypassed
    too; anywhere else it is vanishing (ratio 0).  (``LayerStats.constant`` is exact
    equality across the batch, so it needs a batch of at least two samples; a zero
    variance counts as constant.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .errors import SpecError

__all__ = ["LayerStats", "Problem", "Diagnosis", "verdict", "diagnose", "saturated_bounds", "EXPLODE", "VANISH",
           "DRIFT", "SATURATED_FRACTION", "BOUNDS"]

#: A variance this many times the reference (input forward, output gradient backward) explodes.
EXPLODE = 100.0
#: ... this fraction of it vanishes.  Two decades either way: a healthy deep network drifts
#: by well under one (He + ReLU over 50 layers moved by 0.43x-0.80x in initspec.propagation).
VANISH = 0.01
#: Where a problem starts: the first layer whose ratio leaves [1/DRIFT, DRIFT].
DRIFT = 10.0
#: A bounded activation saturates when more than this fraction of its outputs sit at its bounds.
SATURATED_FRACTION = 0.5
#: The bounds of bounded activations, by normalized name (lower case, no ``_``); an output
#: within 2% of the range from a bound counts as saturated.
BOUNDS: dict[str, tuple[float, float]] = {
    "tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "hardtanh": (-1.0, 1.0), "softsign": (-1.0, 1.0),
    "hardsigmoid": (0.0, 1.0), "relu6": (0.0, 6.0),
}

Verdict = Literal["healthy", "vanishing", "exploding", "saturating"]


def saturated_bounds(name: str, layer: Any = None) -> tuple[float, float] | None:
    """The bounds of the activation called ``name`` (a class or function name: ``Tanh``,
    ``hard_tanh``, ``Hardtanh``...), or None when it is unbounded; a torch ``Hardtanh``'s own
    ``min_val``/``max_val`` when ``layer`` has them."""
    key = name.lower().replace("_", "")
    bounds = BOUNDS.get(key)
    if bounds is not None and layer is not None and hasattr(layer, "min_val") and hasattr(layer, "max_val"):
        return float(layer.min_val), float(layer.max_val)
    return bounds


@dataclass(frozen=True)
class LayerStats:
    """What one layer's forward and backward pass showed."""

    path: str
    type: str
    forward: float
    """Variance of the layer's output on the batch."""
    backward: float | None
    """Variance of the gradient of the loss with respect to that output (None: not reached)."""
    saturated: float | None = None
    """Bounded activations: the fraction of outputs within 2% of the bounds."""
    constant: bool = False
    """Whether the output is the same for every sample of the batch (it carries no signal)."""
    forward_ratio: float | None = None
    """``forward`` over its reference (set by :func:`verdict`; None: not judged)."""
    backward_ratio: float | None = None
    """``backward`` over its reference (set by :func:`verdict`; None: not judged)."""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "type": self.type, "forward_variance": _finite(self.forward),
                "gradient_variance": _finite(self.backward), "saturated_fraction": self.saturated,
                "constant": self.constant, "forward_ratio": _finite(self.forward_ratio),
                "gradient_ratio": _finite(self.backward_ratio)}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class Problem:
    kind: Verdict
    direction: Literal["forward", "backward", "-"]
    layer: str
    """Where it starts."""
    worst: str
    """The layer where it is worst."""
    ratio: float
    """The worst ratio to the reference variance (or the saturated fraction)."""
    reference: str = ""
    """What the ratio compares with (``input``, ``output``, ``first layer of its kind``)."""

    def describe(self) -> str:
        if self.kind == "saturating":
            return f"saturating: {self.ratio:.0%} of {self.layer}'s outputs sit at its bounds"
        if self.direction == "forward" and self.ratio == 0.0:
            return (f"vanishing activations: from {self.layer} on (to {self.worst}), every output is the same for "
                    "every sample - no signal reaches the output")
        what = "activation" if self.direction == "forward" else "gradient"
        ref = self.reference or "input"
        return (f"{self.kind} {what}s: starts at {self.layer}, worst at {self.worst} "
                f"({self.ratio:.3g}x the variance at the {ref})")


@dataclass(frozen=True)
class Diagnosis:
    """The per-layer table and the verdict."""

    layers: tuple[LayerStats, ...]
    input_variance: float | None
    """The input batch's variance (None: no floating input - layers compared by kind)."""
    output_gradient_variance: float
    problems: tuple[Problem, ...] = field(default=())
    model: str = ""
    bypassed: tuple[str, ...] = ()
    """Layers the signal goes around: an output the same for every sample (a zero-initialized
    weight, a position embedding) followed by layers that vary again, or an exactly zero
    gradient inside such a branch."""

    @property
    def verdict(self) -> Verdict:
        """``healthy`` or the first problem's kind (exploding before vanishing before saturating)."""
        order = {"exploding": 0, "vanishing": 1, "saturating": 2}
        return min((p.kind for p in self.problems), key=order.__getitem__, default="healthy")  # type: ignore[return-value]

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def by_kind(self) -> bool:
        """Whether layers were compared with the first layer of their kind (no floating input)."""
        return self.input_variance is None

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "model": self.model, "input_variance": _finite(self.input_variance),
                "output_gradient_variance": _finite(self.output_gradient_variance),
                "reference": {"forward": "first layer of its kind" if self.by_kind else "input",
                              "gradient": "first layer of its kind"},
                "problems": [{"kind": p.kind, "direction": p.direction, "starts_at": p.layer, "worst_at": p.worst,
                              "ratio": _finite(p.ratio), "message": p.describe()} for p in self.problems],
                "bypassed": list(self.bypassed),
                "layers": [s.to_dict() for s in self.layers]}

    def to_text(self) -> str:
        head = ("layer", "type", "forward var", "gradient var", "fwd ratio", "grad ratio")

        def g(x: float | None) -> str:
            return "-" if x is None else f"{x:.4g}"

        rows = [(s.path, s.type, g(s.forward), g(s.backward), g(s.forward_ratio), g(s.backward_ratio))
                for s in self.layers]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        fmt = "  ".join(f"{{:{w}}}" for w in widths)
        out = [fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)]
        if self.by_kind:
            out.append("ratios: to the first layer of the same kind (no floating input)")
        else:
            out.append(f"ratios: forward to the input's variance ({self.input_variance:.4g}), gradient to the "
                       "first layer of the same kind the gradient reaches")
        if self.bypassed:
            out.append(f"bypassed (the same for every sample, or a zero gradient inside such a branch; the signal "
                       f"goes around them): {', '.join(self.bypassed)}")
        out.append(f"verdict: {self.verdict}")
        out += [f"  {p.describe()}" for p in self.problems]
        return "\n".join(line.rstrip() for line in out)

    def plot(self, path: Any, *, title: str | None = None) -> Any:
        """Forward and gradient variance ratios per layer (log scale), written to ``path``
        (the title defaults to ``<model>: <verdict>``)."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        x = list(range(len(self.layers)))
        fig, ax = plt.subplots(figsize=(8, 4.5))

        def curve(values: list[float | None]) -> list[float]:
            return [v if v is not None and v > 0 and math.isfinite(v) else math.nan for v in values]

        fwd = curve([s.forward_ratio for s in self.layers])
        bwd = curve([s.backward_ratio for s in self.layers])
        ref_f, ref_b = ("first of its kind" if self.by_kind else "input's"), "first of its kind"
        ax.plot(x, fwd, marker="o", ms=4, label=f"activation variance / {ref_f}")
        ax.plot(x, bwd, marker="s", ms=4, label=f"gradient variance / {ref_b}")
        ax.set_yscale("log")
        ax.axhspan(VANISH, EXPLODE, color="0.93", zorder=0, label="healthy band")
        ax.axhline(1.0, color="0.6", lw=0.8, zorder=0)
        lo = min([v for v in fwd + bwd if math.isfinite(v)] + [VANISH])
        hi = max([v for v in fwd + bwd if math.isfinite(v)] + [EXPLODE])
        ax.set_ylim(lo / 3, hi * 3)
        if len(self.layers) <= 40:
            ax.set_xticks(x)
            ax.set_xticklabels([f"{s.path} ({s.type})" for s in self.layers], rotation=60, ha="right", fontsize=7)
        else:
            ax.set_xlabel("layer (forward order)")
        ax.set_ylabel("variance ratio")
        starts = sorted({k for p in self.problems if p.direction != "-"
                         for k, s in enumerate(self.layers) if s.path == p.layer})
        for n, i in enumerate(starts):
            ax.axvline(i, color="C3", lw=0.8, ls="--", label="a problem starts" if n == 0 else None)
        ax.set_title(title or f"{self.model or 'model'}: {self.verdict}")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _problem(kind: Verdict, direction: Literal["forward", "backward"], stats: Sequence[LayerStats],
             ratios: Sequence[float], references: Sequence[str]) -> Problem:
    worst = max(range(len(ratios)), key=lambda i: abs(math.log(ratios[i])) if ratios[i] > 0 else math.inf)
    start = next(i for i, r in enumerate(ratios) if not (1.0 / DRIFT <= r <= DRIFT) or not math.isfinite(r))
    return Problem(kind, direction, stats[start].path, stats[worst].path, ratios[worst], references[worst])


def _judge(direction: Literal["forward", "backward"], stats: Sequence[LayerStats], ratios: Sequence[float],
           references: Sequence[str]) -> list[Problem]:
    out = []
    if any(not math.isfinite(r) or r > EXPLODE for r in ratios):
        out.append(_problem("exploding", direction, stats, ratios, references))
    elif any(r < VANISH for r in ratios):
        out.append(_problem("vanishing", direction, stats, ratios, references))
    return out


_DIGITS = re.compile(r"\d+")


def _kind_key(s: LayerStats) -> tuple[str, str]:
    return _DIGITS.sub("#", s.path), s.type


def _ratios(items: Sequence[LayerStats], values: Sequence[float], reference: float | None
            ) -> tuple[list[float | None], list[str]]:
    """Each value over the reference, or (reference None) over the first of its kind's (a
    kind that occurs once is not judged: None); and what each is compared with."""
    if reference is not None:
        return [v / reference for v in values], ["input"] * len(values)
    first: dict[tuple[str, str], tuple[float, str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for s, v in zip(items, values):
        first.setdefault(_kind_key(s), (v, s.path))
        counts[_kind_key(s)] = counts.get(_kind_key(s), 0) + 1
    out: list[float | None] = []
    refs: list[str] = []
    for s, v in zip(items, values):
        ref, where = first[_kind_key(s)]
        ok = counts[_kind_key(s)] > 1 and ref > 0 and math.isfinite(ref)
        out.append(v / ref if ok else None)
        refs.append(f"first layer of its kind, {where}")
    return out, refs


def _judged(direction: Literal["forward", "backward"], items: list[LayerStats], values: list[float],
            reference: float | None) -> tuple[list[Problem], dict[str, float | None]]:
    ratios, refs = _ratios(items, values, reference)
    kept = [(s, r, w) for s, r, w in zip(items, ratios, refs) if r is not None]
    problems = (_judge(direction, [s for s, _, _ in kept], [r for _, r, _ in kept], [w for _, _, w in kept])
                if kept else [])
    return problems, {s.path: r for s, r in zip(items, ratios)}


def verdict(layers: Sequence[LayerStats], input_variance: float | None, output_gradient_variance: float,
            model: str = "", *, output_constant: bool = False) -> Diagnosis:
    """Judge the forward and backward curves (see the module docstring).  ``input_variance``
    None (a batch of token ids): each layer is compared with the first of its kind.
    ``output_constant``: whether the model's own output is the same for every sample (when it
    is not, the signal reaches the output, around any constant layer)."""
    problems: list[Problem] = []
    by_kind = input_variance is None
    # forward: layers whose output is the same for every sample carry no signal
    fwd = [s for s in layers if s.forward is not None and not math.isnan(s.forward)]
    flat = [s.constant or s.forward == 0.0 for s in fwd]
    last_live = len(fwd) if not output_constant else max((i for i, f in enumerate(flat) if not f), default=-1)
    around = [s for s, f in zip(fwd, flat) if f and fwd.index(s) < last_live]
    dead = [s for i, (s, f) in enumerate(zip(fwd, flat)) if f and i > last_live]
    if dead:
        problems.append(Problem("vanishing", "forward", dead[0].path, dead[-1].path, 0.0,
                                "input: no later layer's output varies from sample to sample"))
    live = [s for s, f in zip(fwd, flat) if not f]
    fwd_ratio: dict[str, float | None] = {}
    if live and (by_kind or input_variance > 0):  # type: ignore[operator]
        found, fwd_ratio = _judged("forward", live, [s.forward for s in live], input_variance)
        problems = found + problems
    # backward, in the order the gradient travels: an exactly zero gradient before a layer the
    # signal goes around (inside a zero-initialized branch) is that branch's, not a vanishing one
    position = {s.path: i for i, s in enumerate(layers)}
    last_around = max((position[s.path] for s in around), default=-1)
    bwd = [s for s in reversed(layers) if s.backward is not None and not math.isnan(s.backward)]
    quiet = [s for s in bwd if s.backward == 0.0 and position[s.path] < last_around]
    kept = [s for s in bwd if s not in quiet]
    bwd_ratio: dict[str, float | None] = {}
    if kept:
        found, bwd_ratio = _judged("backward", kept, [s.backward for s in kept], None)  # type: ignore[misc]
        problems += found
    for s in layers:
        if s.saturated is not None and s.saturated > SATURATED_FRACTION:
            problems.append(Problem("saturating", "-", s.path, s.path, s.saturated))
            break
    stats = tuple(replace(s, forward_ratio=fwd_ratio.get(s.path), backward_ratio=bwd_ratio.get(s.path))
                  for s in layers)
    excused = {s.path for s in around} | {s.path for s in quiet}
    return Diagnosis(stats, input_variance, output_gradient_variance, tuple(problems), model,
                     tuple(s.path for s in layers if s.path in excused))


# ----------------------------------------------------------------------------- on a model


def diagnose(model: Any, data: Any = None, *, input_shape: Sequence[int] | None = None, plan: Any = None,
             seed: int = 0) -> Diagnosis:
    """Run one batch forward and backward through ``model`` in its own framework and judge
    the signal (module docstring).

    ``model``: a ``torch.nn.Module``, a built Keras model, an ``nnx.Module`` or
    ``initspec.adapters.jax.Linen(module, variables, x)`` (a linen module with its
    variables).  ``data``: the batch (a tensor/array, a tuple of positional arguments or a
    mapping of keyword arguments), or ``input_shape`` for a standard normal batch drawn
    with ``seed``.  ``plan`` (a plan, mapping or path) is applied first - with its ``lsuv``
    section on the same batch.  The upstream gradient ``g`` (``loss = sum(output * g)``) is
    standard normal, drawn with ``seed``."""
    from . import backends

    if (data is None) == (input_shape is None):
        raise SpecError.single("diagnose_needs_input", "give diagnose() the batch (data=) or the shape of a "
                               "standard normal one (input_shape=), one of the two", loc=("data",))
    from .sampling import check_seed

    seed = check_seed(seed)  # the one seed rule: an integer from 0 to 2**64 - 1
    backend = backends.for_model(model)
    signal = _signal(backend.name, model)
    if data is None:
        shape = tuple(input_shape)  # type: ignore[arg-type]
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise SpecError.single("bad_shape", "input_shape is a tuple of positive integers, e.g. (64, 784)",
                                   loc=("input_shape",), value=str(input_shape))
        data = signal.random_input(model, shape, seed)
    result = None
    if plan is not None:
        from .files import _as_plan, apply
        from .plans import parse_plan

        parsed = parse_plan(_as_plan(plan))
        result = apply(parsed, model, data=data if parsed.lsuv is not None else None).params
    params = backend.module("model").walk(model)
    stats, input_var, grad_var, output_constant = signal.measure(model, result, data, params, seed)
    if not stats:
        raise SpecError.single("diagnose_no_layers", f"the forward pass of {type(model).__name__} called no layer "
                               "with parameters and no activation layer: nothing to measure",
                               value=type(model).__name__)
    return verdict(stats, input_var, grad_var, model=type(model).__name__, output_constant=output_constant)


def _signal(backend: str, model: Any) -> Any:
    from . import backends

    signal = backends.signal_module(backend)
    if signal is not None:
        return signal
    raise SpecError.single("unsupported_model", f"diagnostics run the model's forward pass, and the {backend} "
                           f"backend has none ({type(model).__name__} is a mapping of arrays): use a PyTorch, Keras "
                           "or Flax model", value=type(model).__name__)
