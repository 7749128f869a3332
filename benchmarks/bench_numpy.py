"""initspec's NumPy backend against NumPy's own generator calls for the same law.

    python benchmarks/bench_numpy.py [--quick]

Native side: ``np.random.default_rng(s).standard_normal(shape, dtype=np.float32)`` scaled
in place (normal), ``rng.random(shape, dtype=np.float32)`` mapped onto [low, high)
(uniform) - the fastest way NumPy offers to draw each law.  initspec side: the NumPy
adapter's initializer for the same spec (resolution cached, as in a plan).  NumPy has no
truncated normal, so that row compares against ``scipy.stats.truncnorm.rvs`` with the same
bounds.  Times are the fastest of the repeats (native and initspec alternate; the ratio of
the medians beside, ``benchmarks/_timing.py``); ratio = initspec / native.  Prints a table; asserts nothing.  ``run(quick)`` returns the rows.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
from _timing import time_pair

from initspec.adapters import numpy as isnp


def run(quick: bool = False) -> list[dict[str, Any]]:
    side = 1024 if quick else 4096
    shape = (side, side)
    repeats = 3 if quick else 7
    std = math.sqrt(2.0 / side)
    bound = math.sqrt(6.0 / (2 * side))

    def native_normal() -> Any:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        x *= std
        return x

    def native_uniform() -> Any:
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        x *= 2 * bound
        x -= bound
        return x

    def native_truncated() -> Any:
        from scipy.stats import truncnorm

        parent = std / 0.87962566103423978
        return truncnorm.rvs(-2.0, 2.0, scale=parent, size=shape, random_state=np.random.default_rng(0)).astype(
            np.float32)

    cases = [
        ("he normal (untruncated)", {"scheme": "he", "distribution": "normal"}, native_normal),
        ("glorot uniform", {"scheme": "glorot", "distribution": "uniform"}, native_uniform),
        ("he truncated normal vs scipy truncnorm", {"scheme": "he", "distribution": "truncated_normal"},
         native_truncated),
    ]
    rows = []
    for law, spec, native in cases:
        init = isnp.initializer(spec)
        init(shape, seed=0)  # resolve once
        timing = time_pair(native, lambda init=init: init(shape, seed=0), repeats)
        rows.append(timing.row(backend="numpy", law=law, case=f"{side}x{side}"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1024x1024 and fewer repeats")
    args = parser.parse_args(argv)
    print(f"{'law':40} {'case':10} {'native ms':>10} {'initspec ms':>12} {'ratio':>7} {'median':>7}")
    for r in run(args.quick):
        print(f"{r['law']:40} {r['case']:10} {1e3 * r['native_s']:10.2f} {1e3 * r['initspec_s']:12.2f} "
              f"{r['ratio']:7.3f} {r['median_ratio']:7.3f}")


if __name__ == "__main__":
    main()
