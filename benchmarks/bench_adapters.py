"""All adapter benchmarks in one run: initspec vs the native call for the same law.

    python benchmarks/bench_adapters.py [--quick] [--backends torch,keras,jax]

Each backend runs in its own subprocess (Keras' backend and XLA's threads are per
process, and torch must be imported before TensorFlow), then one table is printed with
ratio = initspec time / native time, fastest against fastest (below 1 is faster than
native), with the ratio of the medians beside (``benchmarks/_timing.py``).  Asserts nothing:
benchmarks report, tests check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = (
    "import json, sys; sys.path.insert(0, {here!r}); import {mod} as b; "
    "print('@@ROWS@@' + json.dumps(b.run({quick})))"
)


def run_backend(name: str, quick: bool) -> list[dict]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    code = SCRIPT.format(here=str(HERE), mod=f"bench_{name}", quick=quick)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("@@ROWS@@"):
            return json.loads(line[len("@@ROWS@@"):])
    print(f"[{name}] failed:\n{out.stderr[-2000:]}", file=sys.stderr)
    return []


def fmt_table(rows: list[dict]) -> str:
    head = ("backend", "law", "case", "native ms", "initspec ms", "ratio", "median ratio")
    body = [(r["backend"], r["law"], r["case"], f"{1e3 * r['native_s']:.2f}", f"{1e3 * r['initspec_s']:.2f}",
             f"{r['ratio']:.3f}", f"{r['median_ratio']:.3f}") for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    out = [line.format(*head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line.format(*b) for b in body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    parser.add_argument("--backends", default="numpy,torch,keras,jax")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    for name in args.backends.split(","):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += run_backend(name.strip(), args.quick)
    print(fmt_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
