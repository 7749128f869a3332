"""One timing protocol for every benchmark: initspec and the native call, alternated.

``time_pair(native, ours, repeats)`` warms each side up once (JAX compiles there), then
runs ``repeats`` rounds, alternating which side goes first, and returns every time.
Rows report the *fastest* time of each side - on a shared machine interference only ever
slows a run down, so the minimum is the least disturbed estimate (timeit's convention) -
and the ratio of the medians beside it, so a reader sees how much the noise moved things.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Timing", "time_pair", "time_one", "torch_table"]


@dataclass(frozen=True)
class Timing:
    native: list[float]
    ours: list[float]

    @property
    def native_s(self) -> float:
        return min(self.native)

    @property
    def initspec_s(self) -> float:
        return min(self.ours)

    @property
    def ratio(self) -> float:
        """initspec / native, fastest against fastest (below 1: initspec is faster)."""
        return self.initspec_s / self.native_s

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.native)

    def row(self, **fields: Any) -> dict[str, Any]:
        """A benchmark row: ``fields`` plus native_s, initspec_s, ratio, median_ratio."""
        return {**fields, "native_s": self.native_s, "initspec_s": self.initspec_s, "ratio": self.ratio,
                "median_ratio": self.median_ratio}


def time_pair(native: Callable[[], Any], ours: Callable[[], Any], repeats: int) -> Timing:
    """``repeats`` alternating timings of each side, after one warm-up of each."""
    native()
    ours()
    tn: list[float] = []
    to: list[float] = []
    for i in range(repeats):
        for fn, acc in ((native, tn), (ours, to)) if i % 2 == 0 else ((ours, to), (native, tn)):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    return Timing(tn, to)


def time_one(fn: Callable[[], Any], repeats: int) -> list[float]:
    """``repeats`` timings of one function after a warm-up (for rows with no native side)."""
    fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def torch_table(argv: list[str] | None, doc: str, run: Callable[..., list[dict[str, Any]]], head: str,
                format_row: Callable[[dict[str, Any]], str], *, quick: str, repeats: str) -> list[dict[str, Any]]:
    """The torch benchmarks' command line (``--quick`` and ``--repeats`` with these helps,
    ``--threads``): prints the versions, the table's ``head`` and each row as
    ``run(quick, repeats=..., on_row=...)`` makes it; returns the rows."""
    import torch

    import initspec

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--repeats", type=int, default=None, help=repeats)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's own); 1 is steadier on a busy machine")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, initspec {initspec.__version__}, {torch.get_num_threads()} threads, CPU")
    print(head, "-" * len(head), sep="\n", flush=True)
    return run(args.quick, repeats=args.repeats, on_row=lambda r: print(format_row(r), flush=True))
