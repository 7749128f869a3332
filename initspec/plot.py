"""Looking at samples: a summary table and a histogram against the resolved law.

:func:`summary_table` prints n, mean, std, min, max and kurtosis of a sample beside the
law's; :func:`plot_samples` draws the histogram over the law's density (closed form for
uniform/normal/truncated normal, finite differences of the cdf otherwise), counts of each
value for fixed laws (constant, identity, dirac), and for laws with a point mass at zero
(sparse, delta-orthogonal) the non-zero part with the zero share in the legend.  Used by
``initspec sample``; needs matplotlib for the plot (``pip install 'initspec[plot]'``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["kurtosis", "summary_table", "plot_samples"]


def kurtosis(dist: Any) -> float:
    """The law's kurtosis E[(X-m)^4]/var^2 (normal 3, uniform 1.8, ±2σ truncated normal 2.37)."""
    m1, m2, m3, m4 = (dist.moment(k) for k in (1, 2, 3, 4))
    var = m2 - m1 * m1
    mu4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1**4
    return mu4 / (var * var) if var > 0 else math.nan


def summary_table(x: Any, dist: Any) -> str:
    """n, mean, std, min, max and kurtosis of a sample next to the law's (a text table)."""
    import numpy as np

    v = np.asarray(x, dtype=np.float64).ravel()
    var = float(v.var()) if v.size else math.nan
    kurt = float(np.mean((v - v.mean()) ** 4) / var**2) if v.size and var > 0 else math.nan
    try:
        law_kurt = kurtosis(dist)
    except (NotImplementedError, IndexError):
        law_kurt = math.nan

    def row(name: str, vals: list[Any]) -> str:
        cells = [f" {c:>12}" if isinstance(c, str) else f" {c:>12.6g}" for c in vals]
        return f"{name:<8}" + "".join(cells)

    head = f"{'':<8}" + "".join(f" {h:>12}" for h in ("n", "mean", "std", "min", "max", "kurtosis"))
    sample = row("sample", [str(v.size), float(v.mean()) if v.size else math.nan, math.sqrt(var),
                            float(v.min()) if v.size else math.nan, float(v.max()) if v.size else math.nan, kurt])
    law = row("law", ["-", dist.mean, dist.std, dist.low, dist.high, law_kurt])
    return "\n".join([head, sample, law])


def _density(dist: Any, grid: Any) -> Any:
    """The law's density on ``grid``: closed form, else finite differences of its cdf (None if neither)."""
    import numpy as np

    from . import distributions as D

    if isinstance(dist, D.Normal):
        return np.exp(-0.5 * ((grid - dist.loc) / dist.scale) ** 2) / (dist.scale * math.sqrt(2 * math.pi))
    if isinstance(dist, D.Uniform):
        return np.where((grid >= dist.low) & (grid <= dist.high), 1.0 / (dist.high - dist.low), 0.0)
    if isinstance(dist, D.TruncatedNormal):
        pdf = np.exp(-0.5 * ((grid - dist.loc) / dist.scale) ** 2) / (dist.scale * math.sqrt(2 * math.pi) * dist.mass)
        return np.where((grid >= dist.low) & (grid <= dist.high), pdf, 0.0)
    try:
        return np.gradient(dist.cdf(grid), grid[1] - grid[0])
    except (NotImplementedError, ImportError):
        return None


def plot_samples(x: Any, dist: Any, path: str | Path, title: str = "") -> None:
    """Histogram of the sample over the law's density; counts of each value for fixed laws;
    laws with a point mass at 0 (sparse, delta-orthogonal) show their non-zero part and the zero share."""
    import numpy as np

    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("--plot needs matplotlib: pip install 'initspec[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import distributions as D

    v = np.asarray(x, dtype=np.float64).ravel()
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    ax.set_title(f"{title}\nlaw: {dist.describe()}", fontsize=10)
    ax.set_xlabel("weight value")
    if not dist.random:  # constant / identity / dirac: which values, how often
        values, counts = np.unique(v, return_counts=True)
        expected = dist.expected().ravel() if hasattr(dist, "expected") else np.full(v.size, dist.value)
        e_values, e_counts = np.unique(expected, return_counts=True)
        width = 0.05 * max(1.0, float(np.ptp(np.concatenate([values, e_values]))))
        ax.bar(values, counts, width=width, color="#9ecae1", edgecolor="#6baed6", label=f"samples (n={v.size:,})")
        ax.plot(e_values, e_counts, "o", color="#d62728", ms=8, label="count expected by the law")
        ax.set_ylabel("count")
    else:
        law, share = dist, 1.0
        if isinstance(dist, (D.Sparse, D.DeltaOrthogonal)):
            law = dist.nonzero if isinstance(dist, D.Sparse) else dist.block
            share = 1.0 - dist.zero_fraction if isinstance(dist, D.Sparse) else \
                dist.block.rows * dist.block.cols / max(v.size, 1)
            zeros = int(np.sum(v == 0))
            v = v[v != 0]
            ax.plot([], [], " ", label=f"zeros: {zeros:,} ({zeros / max(zeros + v.size, 1):.1%}; law {1 - share:.1%}), "
                                       "not drawn")
        lo, hi = (float(v.min()), float(v.max())) if v.size else (-1.0, 1.0)
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        bins = int(min(120, max(10, math.sqrt(max(v.size, 1)))))
        n_all = v.size / share if share > 0 else v.size
        weights = np.full(v.size, 1.0 / (max(n_all, 1) * (hi - lo) / bins))  # area = share of non-zeros
        ax.hist(v, bins=bins, range=(lo, hi), weights=weights, color="#9ecae1", edgecolor="#6baed6",
                label=f"samples (n={v.size:,})")
        pad = 0.05 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, 801)
        density = _density(law, grid)
        if density is not None:
            ax.plot(grid, share * density, color="#d62728", lw=2, label="density of the resolved law")
        if isinstance(dist, (D.Uniform, D.TruncatedNormal)):
            for bound in (dist.low, dist.high):
                ax.axvline(bound, color="#555555", ls="--", lw=1)
            ax.plot([], [], color="#555555", ls="--", lw=1, label="support bounds")
        ax.set_ylabel("density")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # headroom so the legend never hides the bars
    ax.legend(loc="upper right", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
