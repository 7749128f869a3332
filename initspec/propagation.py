"""Signal propagation through a deep stack of dense layers, under each initialization.

:func:`propagate` pushes a batch of standard-normal inputs through ``depth`` dense layers of
``width`` units (no biases), ``x_l = act(x_{l-1} @ W_l)``, with every ``W_l`` drawn by
initspec's NumPy adapter from the spec being compared, then back-propagates a random
standard-normal upstream gradient through the same stack by hand.  Per layer it records

* the **activation variance** ``Var(x_l)`` (forward), and
* the **gradient variance** ``Var(∂L/∂h_l)`` of the gradient at the layer's pre-activation
  ``h_l = x_{l-1} @ W_l`` (backward; the weight gradient is ``x_{l-1}ᵀ · ∂L/∂h_l``),

so the vanishing and exploding behaviour the classic papers describe can be read off a
table (:meth:`PropagationReport.to_text`) or a plot (:meth:`PropagationReport.plot`):
Glorot & Bengio (2010) for tanh, He et al. (2015) for ReLU, Saxe et al. (2014) for
orthogonal weights and Klambauer et al. (2017) for SELU with LeCun's variance 1/fan_in.

>>> from initspec.propagation import propagate
>>> r = propagate({"he": {"scheme": "he", "distribution": "normal"}}, depth=10, width=64, activation="relu", batch=128)
>>> r.runs[0].verdict
'stable'

Layer ``l`` of trial ``t`` uses the same random stream for every spec (seeded from
``(seed, t, l)``), and so do the inputs and the upstream gradient, so schemes are compared
on the same draws.  The
arithmetic is float64 and overflow is recorded, not raised: a run whose values reach
infinity says so in its verdict.  NumPy only; the plot needs matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError, did_you_mean
from .parsing import parse
from .spec import BaseSpec

__all__ = ["ACTIVATIONS", "PropagationRun", "PropagationReport", "propagate", "forward_backward", "label_of",
           "tutorial_specs", "write_figures", "main"]

# SELU's fixed-point constants (Klambauer et al. 2017, eq. 14): with weights of variance
# 1/fan_in they make mean 0 / variance 1 an attracting fixed point.
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _selu(h: np.ndarray) -> np.ndarray:
    return SELU_SCALE * np.where(h > 0, h, SELU_ALPHA * np.expm1(np.minimum(h, 0.0)))


def _selu_grad(h: np.ndarray) -> np.ndarray:
    return SELU_SCALE * np.where(h > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(h, 0.0)))


def _sigmoid(h: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * h))  # overflow-free logistic


#: name -> (activation, its derivative), both elementwise on the pre-activation.
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "linear": (lambda h: h, np.ones_like),
    "relu": (lambda h: np.maximum(h, 0.0), lambda h: (h > 0).astype(h.dtype)),
    "tanh": (np.tanh, lambda h: 1.0 - np.tanh(h) ** 2),
    "sigmoid": (_sigmoid, lambda h: _sigmoid(h) * (1.0 - _sigmoid(h))),
    "selu": (_selu, _selu_grad),
}

# A run's overall change in variance beyond these factors is called exploding or vanishing:
# one decade either way.  He + ReLU over 50 layers of width 256 moved by 0.43x-0.80x (seeds
# 0-9, geometric mean of 8 stacks each); badly scaled laws move by 10^15 or more.
GROW_FACTOR = 10.0
SHRINK_FACTOR = 0.1
# Units count as identical when they differ by less than this, relative to their size.
_SYMMETRY_RTOL = 1e-9


def label_of(spec: BaseSpec) -> str:
    """A short label: the scheme and the fields that differ from their defaults."""
    fields = spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    fields.pop("scheme", None)
    if not fields:
        return spec.scheme
    return f"{spec.scheme}(" + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                        for k, v in fields.items()) + ")"


@dataclass(frozen=True)
class PropagationRun:
    """One spec pushed through the stack (``trials`` independent stacks)."""

    label: str
    spec: BaseSpec
    law: str
    """The resolved law of one (width, width) weight, e.g. ``N(0, 0.0883883²)``."""
    act_var_trials: np.ndarray
    """Shape (trials, depth + 1): column 0 is the input's variance, column l that of layer l's output."""
    grad_var_trials: np.ndarray
    """Shape (trials, depth): column l - 1 is the variance of the gradient at layer l's pre-activation."""
    symmetric: bool
    """Every unit of the last layer is identical on every input, in every trial (symmetric
    weights never break the tie, so the layer acts like a single unit)."""

    @property
    def act_var(self) -> np.ndarray:
        """Activation variance per layer (index 0: the input), geometric mean over trials."""
        return _geomean(self.act_var_trials)

    @property
    def grad_var(self) -> np.ndarray:
        """Gradient variance per layer (index l - 1: layer l), geometric mean over trials."""
        return _geomean(self.grad_var_trials)

    @property
    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.act_var_trials)) and np.all(np.isfinite(self.grad_var_trials)))

    @property
    def growth(self) -> float:
        """Activation variance of the last layer over that of the first."""
        return _ratio(self.act_var[-1], self.act_var[1])

    @property
    def grad_growth(self) -> float:
        """Gradient variance at the first layer over that at the last (growth on the way back)."""
        return _ratio(self.grad_var[0], self.grad_var[-1])

    @property
    def verdict(self) -> str:
        """``overflow``, ``symmetric``, ``explodes`` (a variance grows over :data:`GROW_FACTOR`
        across the stack, forward or backward), ``vanishes`` (shrinks below
        :data:`SHRINK_FACTOR`) or ``stable``."""
        if not self.finite:
            return "overflow"
        if self.symmetric:
            return "symmetric"
        if max(self.growth, self.grad_growth) > GROW_FACTOR:
            return "explodes"
        if min(self.growth, self.grad_growth) < SHRINK_FACTOR:
            return "vanishes"
        return "stable"


def _geomean(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.exp(np.mean(np.log(np.asarray(v, dtype=np.float64)), axis=0))


def _ratio(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.nan
    if b == 0:
        return math.inf if a > 0 else 1.0
    return float(a / b)


@dataclass(frozen=True)
class PropagationReport:
    """Per-layer activation and gradient variances of each spec (see :func:`propagate`)."""

    runs: tuple[PropagationRun, ...]
    depth: int
    width: int
    activation: str
    batch: int
    seed: int
    trials: int = 1

    def run(self, label: str) -> PropagationRun:
        for r in self.runs:
            if r.label == label:
                return r
        raise KeyError(label)

    def to_text(self, layers: Sequence[int] | None = None) -> str:
        """A summary per spec, then the variances at a few layers (default: 1, 2, 5, 10, 20, ... depth)."""
        head = (f"{self.depth} dense layers of width {self.width}, activation {self.activation}, "
                f"batch {self.batch}, seed {self.seed}"
                + (f", geometric mean of {self.trials} trials" if self.trials > 1 else ""))
        cols = ("spec", "law of one weight", "act var L1", f"act var L{self.depth}", "grad var L1",
                f"grad var L{self.depth}", "verdict")
        rows = [(r.label, r.law, _num(r.act_var[1]), _num(r.act_var[-1]), _num(r.grad_var[0]), _num(r.grad_var[-1]),
                 r.verdict) for r in self.runs]
        out = [head, "", *_table(cols, rows)]
        layers = list(layers) if layers is not None else _default_layers(self.depth)
        per = [(str(l), *(f"{_num(r.act_var[l])} / {_num(r.grad_var[l - 1])}" for r in self.runs)) for l in layers]
        out += ["", "activation variance / gradient variance per layer:",
                *_table(("layer", *(r.label for r in self.runs)), per)]
        return "\n".join(out)

    __str__ = to_text

    def to_json(self) -> dict[str, Any]:
        """JSON-compatible: the settings and, per spec, the variances (non-finite values as null)."""
        def floats(v: np.ndarray) -> list[float | None]:
            return [float(x) if math.isfinite(x) else None for x in np.asarray(v, dtype=np.float64).ravel()]

        return {"depth": self.depth, "width": self.width, "activation": self.activation, "batch": self.batch,
                "seed": self.seed, "trials": self.trials,
                "runs": [{"label": r.label, "spec": r.spec.to_dict(), "law": r.law, "verdict": r.verdict,
                          "symmetric": r.symmetric, "growth": floats(np.array([r.growth]))[0],
                          "grad_growth": floats(np.array([r.grad_growth]))[0],
                          "act_var": floats(r.act_var), "grad_var": floats(r.grad_var)} for r in self.runs]}

    def plot(self, path: str | Path, title: str | None = None,
             zoom: tuple[float, float] | None = (1e-2, 1e2)) -> Path:
        """Write a PNG of the activation variance (left) and gradient variance (right) per
        layer on log axes, one line per spec (with several trials: their geometric mean and a
        band from the lowest to the highest).  The top row shows the whole range; a second
        row zooms into ``zoom`` (default 10⁻² to 10², where a trainable network lives)."""
        try:
            import matplotlib
        except ImportError as exc:
            raise ImportError("PropagationReport.plot needs matplotlib: pip install 'initspec[plot]'") from exc
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        rows = 2 if zoom else 1
        height = 4.2 * rows + 1.2
        fig, axes = plt.subplots(rows, 2, figsize=(12, height), dpi=110, squeeze=False)
        layers = np.arange(0, self.depth + 1)
        styles = ("-", "--", "-.", ":")
        first_with_law: dict[str, str] = {}
        for i, r in enumerate(self.runs):
            style = dict(lw=2, color=f"C{i % 10}", ls=styles[i % len(styles)])
            label = f"{r.label}  [{r.verdict}]"
            if r.law in first_with_law:  # identical curves hide each other: say so
                label += f"  (same law as {first_with_law[r.law]})"
            first_with_law.setdefault(r.law, r.label)
            for row in range(rows):
                ax_f, ax_b = axes[row]
                ax_f.plot(layers, _plottable(r.act_var), label=label if row == 0 else None, **style)
                ax_b.plot(layers[1:], _plottable(r.grad_var), **style)
                if self.trials > 1:
                    band = dict(color=style["color"], alpha=0.15, lw=0)
                    ax_f.fill_between(layers, _plottable(r.act_var_trials.min(0)),
                                      _plottable(r.act_var_trials.max(0)), **band)
                    ax_b.fill_between(layers[1:], _plottable(r.grad_var_trials.min(0)),
                                      _plottable(r.grad_var_trials.max(0)), **band)
        for row in range(rows):
            ax_f, ax_b = axes[row]
            what = "" if row == 0 else f" (zoom: {zoom[0]:g} to {zoom[1]:g})"  # type: ignore[index]
            ax_f.set_title("forward: activation variance" + what)
            ax_f.set_ylabel("Var(output of layer l)\n(l = 0: the input)")
            ax_b.set_title("backward: gradient variance" + what)
            ax_b.set_ylabel("Var(dL/dh_l), h_l = pre-activation\n(upstream gradient enters at the top)")
            for ax in (ax_f, ax_b):
                ax.set_yscale("log")
                ax.set_xlabel("layer l")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set_xlim(0, self.depth)
                if row == 1:
                    ax.set_ylim(*zoom)  # type: ignore[misc]
                _decade_ticks(ax)
                ax.grid(alpha=0.3)
        trials = f"; geometric mean of {self.trials} stacks, band = lowest to highest" if self.trials > 1 else ""
        fig.suptitle(title or f"{self.depth} dense layers of width {self.width}, activation {self.activation} "
                              f"(batch {self.batch}, seed {self.seed}{trials})", fontsize=12)
        handles, labels = axes[0][0].get_legend_handles_labels()
        ncol = min(3, max(1, len(labels)))
        legend_rows = math.ceil(len(labels) / ncol)
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9.5, frameon=False,
                   handlelength=3)
        fig.tight_layout(rect=(0, (0.2 + 0.22 * legend_rows) / height, 1, 1))  # inches kept for the legend
        path = Path(path)
        fig.savefig(path)
        plt.close(fig)
        return path


def _decade_ticks(ax: Any) -> None:
    """Major ticks on whole decades, at most ~8 of them (a step of 1, 2, 5, 10, 20 ... decades);
    a range under two decades gets plain numbers at 1, 2, 5 x 10^k instead."""
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, LogLocator, NullLocator

    lo, hi = ax.get_ylim()
    decades = math.log10(hi) - math.log10(lo)
    if decades < 2:
        mantissas = ((1, 2, 5) if decades >= 1 else (1, 1.5, 2, 3, 5, 7) if decades >= 0.3
                     else (1, 1.1, 1.2, 1.3, 1.5, 1.7, 2, 2.5, 3, 4, 5, 6, 7, 8, 9))
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                 for m in mantissas if lo <= m * 10.0**e <= hi]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_locator(NullLocator())
        return
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500) if decades / s <= 8)
    ax.yaxis.set_major_locator(LogLocator(base=10.0**step))
    if step > 1:
        ax.yaxis.set_minor_locator(NullLocator())


def _plottable(v: np.ndarray) -> np.ndarray:
    """Zeros and non-finite values cannot be drawn on a log axis: leave gaps."""
    v = np.asarray(v, dtype=np.float64).copy()
    v[~np.isfinite(v) | (v <= 0)] = np.nan
    return v


def _num(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)


def _default_layers(depth: int) -> list[int]:
    picks = [l for l in (1, 2, 5, 10, 20, 30, 40, 50, 100, 200, 500, 1000) if l <= depth]
    return picks + ([depth] if depth not in picks else [])


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return [s.rstrip() for s in (fmt.format(*head), fmt.format(*("-" * w for w in widths)),
                                 *(fmt.format(*r) for r in rows))]


def _specs(spec_or_specs: Any) -> list[tuple[str, BaseSpec]]:
    if isinstance(spec_or_specs, Mapping) and "scheme" not in spec_or_specs:
        items = [(str(k), parse(v, loc=(str(k),))) for k, v in spec_or_specs.items()]
    elif isinstance(spec_or_specs, (BaseSpec, Mapping)):
        spec = parse(spec_or_specs)
        items = [(label_of(spec), spec)]
    elif isinstance(spec_or_specs, Sequence) and not isinstance(spec_or_specs, str):
        items = []
        for i, s in enumerate(spec_or_specs):
            spec = parse(s, loc=(i,))
            items.append((label_of(spec), spec))
    else:
        raise SpecError.single("wrong_type", "give a spec, a list of specs, or a mapping of labels to specs",
                               value=type(spec_or_specs).__name__)
    if not items:
        raise SpecError.single("wrong_type", "give at least one spec to propagate", value=spec_or_specs)
    labels = [k for k, _ in items]
    if len(set(labels)) != len(labels):
        raise SpecError.single("wrong_type", "two specs have the same label: pass a mapping {label: spec}",
                               value=labels)
    return items


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SpecError.single("out_of_range", f"{name} must be a positive integer", loc=(name,), value=value)
    return int(value)


def propagate(spec_or_specs: Any, *, depth: int = 50, width: int = 256, activation: str = "relu",
              batch: int = 512, seed: int = 0, trials: int = 1) -> PropagationReport:
    """Push ``batch`` standard-normal inputs through ``depth`` dense ``width x width`` layers
    drawn from each spec, forward and backward, and report the variances per layer.

    ``spec_or_specs`` is a spec (mapping or model), a list of them, or a mapping of labels to
    specs.  ``activation`` is one of :data:`ACTIVATIONS` (linear, relu, tanh, sigmoid, selu).
    Weights are drawn in the ``jax`` layout, ``(in, out)``, so ``x @ W`` is the layer; the
    fans are both ``width``, so fan_in, fan_out and fan_avg schemes agree here.

    ``trials`` independent stacks are drawn per spec and their variances combined by a
    geometric mean: one finite-width stack fluctuates (its log-variance spreads roughly like
    depth/width, Hanin & Rolnick 2018), so several trials show the typical behaviour.
    """
    items = _specs(spec_or_specs)
    depth, width, batch, trials = (_positive_int(n, v) for n, v in (
        ("depth", depth), ("width", width), ("batch", batch), ("trials", trials)))
    from .sampling import check_seed

    seed = check_seed(seed)  # the one seed rule: an integer from 0 to 2**64 - 1
    if activation not in ACTIVATIONS:
        raise SpecError.single("invalid_choice", f"unknown activation{did_you_mean(str(activation), ACTIVATIONS)}; "
                               f"expected one of {', '.join(ACTIVATIONS)}", loc=("activation",), value=activation)
    from . import backends

    isnp = backends.module("numpy")  # the reference backend draws the stacks

    shape = (width, width)
    runs = []
    for label, spec in items:
        init = isnp.initializer(spec, layout="jax")
        law = init.resolve(shape).describe()
        acts = np.empty((trials, depth + 1))
        grads = np.empty((trials, depth))
        symmetric = True
        for t in range(trials):
            # the same streams for every spec: inputs, upstream gradient, layer l's weights
            x0 = np.random.default_rng([seed, 0, t]).standard_normal((batch, width))
            upstream = np.random.default_rng([seed, 1, t]).standard_normal((batch, width))
            weights = [init(shape, seed=np.random.default_rng([seed, 2, t, l]), dtype=np.float64)
                       for l in range(depth)]
            symmetric &= _one_stack(x0, upstream, weights, activation, acts[t], grads[t])
        runs.append(PropagationRun(label, spec, law, acts, grads, symmetric))
    return PropagationReport(tuple(runs), depth, width, activation, batch, int(seed), trials)


def forward_backward(x0: np.ndarray, upstream: np.ndarray, weights: Sequence[np.ndarray],
                     activation: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One stack, by hand: the outputs ``x_l = act(x_{l-1} @ W_l)`` of every layer (index 0:
    the input) and the gradients ``∂L/∂h_l`` at every pre-activation (index l - 1: layer l)
    of the loss ``L = sum(upstream * x_depth)``."""
    act, dact = ACTIVATIONS[activation]
    xs, pre = [x0], []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for w in weights:
            pre.append(xs[-1] @ w)
            xs.append(act(pre[-1]))
        deltas: list[np.ndarray] = [np.empty(0)] * len(weights)
        g = upstream
        for l in range(len(weights), 0, -1):
            deltas[l - 1] = g * dact(pre[l - 1])
            g = deltas[l - 1] @ weights[l - 1].T
    return xs, deltas


def _var(x: np.ndarray) -> float:
    """The variance, or inf once values (or their squares) overflow float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = float(x.var()) if np.all(np.isfinite(x)) else math.inf
    return v if math.isfinite(v) else math.inf


def _one_stack(x0: np.ndarray, upstream: np.ndarray, weights: list[np.ndarray], activation: str,
               act_var: np.ndarray, grad_var: np.ndarray) -> bool:
    """Fill ``act_var`` and ``grad_var`` for one stack; return whether every unit of the last
    layer is identical on every input."""
    xs, deltas = forward_backward(x0, upstream, weights, activation)
    act_var[:] = [_var(x) for x in xs]
    grad_var[:] = [_var(d) for d in deltas]
    x = xs[-1]
    if not np.all(np.isfinite(x)) or x.shape[1] < 2:
        return False
    return bool(np.all(np.ptp(x, axis=1) <= _SYMMETRY_RTOL * np.max(np.abs(x), axis=1)))


# ----------------------------------------------------------------------------- tutorial figures

#: The schemes compared in docs/tutorial.md, per activation (labels -> specs).
def tutorial_specs(activation: str) -> dict[str, dict[str, Any]]:
    """The schemes docs/tutorial.md compares for ``activation``."""
    gain = {"tanh": "tanh", "relu": "relu", "selu": 1, "linear": 1}[activation]
    specs: dict[str, dict[str, Any]] = {
        "constant 0.01": {"scheme": "constant", "value": 0.01},
        "U(-1, 1)": {"scheme": "uniform", "low": -1.0, "high": 1.0},
        "Glorot normal": {"scheme": "glorot", "distribution": "normal"},
        "He normal": {"scheme": "he", "distribution": "normal"},
        "LeCun normal": {"scheme": "lecun", "distribution": "normal"},
        f"orthogonal (gain {gain})": {"scheme": "orthogonal", "gain": gain},
    }
    if activation == "tanh":
        specs["Glorot normal (gain tanh = 5/3)"] = {"scheme": "glorot", "distribution": "normal", "gain": "tanh"}
    if activation == "selu":
        specs["He normal (nonlinearity selu, gain 3/4)"] = {"scheme": "he", "distribution": "normal",
                                                           "nonlinearity": "selu"}
    return specs


def write_figures(folder: str | Path, *, depth: int = 50, width: int = 256, batch: int = 256,
                  seed: int = 0, trials: int = 4,
                  activations: Sequence[str] = ("tanh", "relu", "selu", "linear")) -> list[Path]:
    """Write the tutorial's figures (``propagation_<activation>.png``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for activation in activations:
        specs = tutorial_specs(activation)
        if activation == "linear":  # Saxe et al.: orthogonal vs Gaussian in a deep linear stack
            specs = {"LeCun normal (variance 1/n)": specs["LeCun normal"], "orthogonal (gain 1)": specs[
                "orthogonal (gain 1)"], "U(-1, 1)": specs["U(-1, 1)"]}
        report = propagate(specs, depth=depth, width=width, activation=activation, batch=batch, seed=seed,
                           trials=trials)
        zoom = (0.5, 2.0) if activation == "linear" else (1e-2, 1e2)  # linear: show the Gaussian's wobble
        out.append(report.plot(folder / f"propagation_{activation}.png", zoom=zoom))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m initspec.propagation --write docs/img``: regenerate the tutorial's figures."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m initspec.propagation", description=main.__doc__)
    parser.add_argument("--write", metavar="FOLDER", required=True, help="folder for the PNG files")
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--activation", action="append", choices=("tanh", "relu", "selu", "linear"),
                        help="only this figure (repeatable; default: all four)")
    args = parser.parse_args(argv)
    for path in write_figures(args.write, depth=args.depth, width=args.width, batch=args.batch, seed=args.seed,
                              trials=args.trials, activations=args.activation or ("tanh", "relu", "selu", "linear")):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
