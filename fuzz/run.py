"""Run the fuzz target (fuzz/harness.py) for a while: ``make fuzz`` (``FUZZ_SECONDS=600 make fuzz``).

::

    python fuzz/run.py --seconds 60                # coverage-guided (atheris / libFuzzer)
    python fuzz/run.py --runs 200000 --seed 3      # a fixed number of inputs
    python fuzz/run.py --engine hypothesis ...     # where atheris cannot install

The run does not stop at the first finding: each new kind of finding (exception type and
innermost initspec frame, see :func:`harness.signature`) is written at once, as a decoded
case, to ``--findings`` (default ``fuzz/findings/``) - copy it to ``tests/fuzz_corpus/``
once fixed, and ``make test`` replays it (tests/test_fuzz_corpus.py).  Statistics (inputs
run, findings) go to ``<findings>/stats.json`` every few thousand inputs and at the end;
the exit status is 1 when anything was found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


class Recorder:
    """Counts inputs and keeps the smallest case of each finding signature."""

    def __init__(self, folder: Path, harness: object):
        self.folder, self.h = folder, harness
        folder.mkdir(parents=True, exist_ok=True)
        self.runs, self.start = 0, time.time()
        self.found: dict[str, tuple[int, str]] = {}  # signature -> (size, file)
        self.stats = folder / "stats.json"

    def __call__(self, data: bytes) -> None:
        self.runs += 1
        try:
            case = self.h.decode(data)
        except Exception as exc:  # noqa: BLE001 - the decoder itself must not fail
            self._keep(f"decoder {type(exc).__name__}: {exc}", {"mode": "raw", "bytes": data})
            return
        try:
            self.h.run_case(case)
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt from user code too
            if type(exc) is KeyboardInterrupt and os.environ.get("FUZZ_STOP_ON_INTERRUPT"):
                raise
            self._keep(self.h.signature(exc), case)
        if self.runs % 5000 == 0:
            self.write_stats()

    def _keep(self, sig: str, case: dict) -> None:
        text = self.h.encode_case(case)
        old = self.found.get(sig)
        if old is not None and old[0] <= len(text):
            return
        name = f"{self.h.case_id(case)}.json"
        if old is not None:
            (self.folder / old[1]).unlink(missing_ok=True)
        (self.folder / name).write_text(text, encoding="utf-8")
        self.found[sig] = (len(text), name)
        print(f"\nfuzz: finding [{sig}] -> {self.folder / name}", file=sys.stderr, flush=True)
        self.write_stats()

    def write_stats(self) -> None:
        self.stats.write_text(json.dumps({
            "runs": self.runs, "seconds": round(time.time() - self.start, 1),
            "findings": {sig: name for sig, (_, name) in sorted(self.found.items())}}, indent=1) + "\n")


def _seed_corpus(folder: Path) -> None:
    """Starting inputs: every example and schema example file as a text-mode input."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/*.json"), *ROOT.glob("schemas/examples/**/*.yaml"),
             *ROOT.glob("schemas/examples/**/*.json")]
    for i, f in enumerate(files):
        raw = f.read_bytes()
        if len(raw) > 4096:
            continue
        fmt = b"\x01" if f.suffix == ".json" else b"\x00"
        # mode text, format, kind (any), then draw arguments: shape (2, 3), layout, dtype, seed
        (folder / f"seed-{i}").write_bytes(b"\x00" + fmt + b"\x00" + b"\x02\x02\x03" + b"\x01\x00\x00" + raw)
    for i in range(64):  # the structured modes
        (folder / f"seed-s{i}").write_bytes(bytes([1 + i % 2]) + os.urandom(48))


def run_atheris(args: argparse.Namespace) -> int:
    import atheris

    with atheris.instrument_imports(include=["initspec", "yaml", "harness"]):
        sys.path.insert(0, str(HERE))
        import harness
    rec = Recorder(Path(args.findings), harness)
    corpus = Path(args.corpus)
    if not any(corpus.glob("*")):
        _seed_corpus(corpus)
    # libFuzzer's own crash/timeout/out-of-memory inputs go to the findings folder too
    argv = [sys.argv[0], str(corpus), f"-seed={args.seed}", "-max_len=4096", "-rss_limit_mb=4096",
            "-timeout=60", "-print_final_stats=1", f"-artifact_prefix={Path(args.findings).resolve()}/"]
    if args.runs:
        argv.append(f"-runs={args.runs}")
    if args.seconds:
        argv.append(f"-max_total_time={args.seconds}")
    import atexit

    atexit.register(rec.write_stats)
    atheris.Setup(argv, rec)
    try:
        atheris.Fuzz()
    finally:
        rec.write_stats()
    return 1 if rec.found else 0


def run_hypothesis(args: argparse.Namespace) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sys.path.insert(0, str(HERE))
    import harness

    rec = Recorder(Path(args.findings), harness)
    deadline = time.time() + (args.seconds or 1e9)

    @settings(max_examples=args.runs or 10**9, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=1024))
    def target(data: bytes) -> None:
        if time.time() > deadline:
            raise _Stop
        rec(data)

    class _Stop(Exception):
        pass

    try:
        target()
    except _Stop:
        pass
    rec.write_stats()
    print(f"fuzz: {rec.runs} inputs, {len(rec.found)} findings", file=sys.stderr)
    return 1 if rec.found else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "0") or 0))
    p.add_argument("--runs", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    p.add_argument("--corpus", default=str(HERE / "work" / "corpus"), help="libFuzzer's working corpus")
    p.add_argument("--findings", default=str(HERE / "findings"))
    args = p.parse_args()
    if not args.seconds and not args.runs:
        args.seconds = 60
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("fuzz: atheris is not installed (pip install atheris): using hypothesis, which is not "
                  "coverage-guided", file=sys.stderr)
            engine = "hypothesis"
        else:
            engine = "atheris"
    return run_atheris(args) if engine == "atheris" else run_hypothesis(args)


if __name__ == "__main__":
    sys.exit(main())
