"""pytest plugin of the conformance suite (registered as the ``initspec`` pytest11 entry point).

Run the shipped suite from the installed package::

    pytest --pyargs initspec.testing.suite -n 2
    pytest --pyargs initspec.testing.suite --initspec-backend torch --initspec-device cuda

Options (each also usable in ``addopts``):

``--initspec-backend NAME``  backends to test, repeatable (default: every registered one)
``--initspec-device NAME``   devices or platforms (``cpu``, ``cuda``, ``cuda:1``), repeatable
``--initspec-salt INT``      re-roll every seed (default: ``$INITSPEC_SEED_SALT`` or 0)
``--initspec-case GLOB``     select case ids, repeatable
``--initspec-coverage``      ``full`` or ``covering`` case table for every backend
``--initspec-skips PATH``    an extra skip/xfail YAML file, repeatable

The plugin parametrizes any test that asks for ``initspec_case`` (one test id per case ×
backend × device, e.g. ``test_conformance[torch-cpu-he_normal-conv2d-float16]``),
``initspec_agreement``, ``initspec_independence`` or ``initspec_device`` (absent backends and
devices appear there, skipped with the reason).  Entries of the skip/xfail lists become
``skip``/strict ``xfail`` marks; stale entries, per-device counts and the worst p-values are
printed in the terminal summary.  The Bonferroni count is checked at collection.

Nothing is imported from any framework until a conformance test is collected.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import pytest

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def _share_threads(config: pytest.Config) -> None:
    """Under pytest-xdist every worker runs its own BLAS/OpenMP pools: on a small CI machine
    they oversubscribe the cores and a 288x64 QR takes 50 ms instead of 1 ms.  The
    controller gives each worker its share of the cores through the environment the
    workers inherit (read when they import NumPy/torch), unless the user set these."""
    workers = getattr(config.option, "numprocesses", None)
    if os.environ.get("PYTEST_XDIST_WORKER") or not workers:
        return
    count = workers if isinstance(workers, int) else (os.cpu_count() or 1)  # "auto"/"logical": one per core
    share = str(max(1, (os.cpu_count() or 1) // max(1, count)))
    for var in THREAD_VARS:
        os.environ.setdefault(var, share)


FIXTURES = {"initspec_case": "conformance", "initspec_agreement": "agreement",
            "initspec_independence": "independence", "initspec_device": "device"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("initspec", "initspec conformance suite")
    group.addoption("--initspec-backend", action="append", default=None, metavar="NAME",
                    help="backend to test (repeatable; default: every registered backend)")
    group.addoption("--initspec-device", action="append", default=None, metavar="NAME",
                    help="device name or platform: cpu, cuda, cuda:1 (repeatable; default: every device found)")
    group.addoption("--initspec-salt", type=int, default=None, metavar="INT",
                    help="re-roll every seed (default: $INITSPEC_SEED_SALT or 0)")
    group.addoption("--initspec-case", action="append", default=None, metavar="GLOB",
                    help="glob over case ids, e.g. 'he_*-conv2d-*' (repeatable)")
    group.addoption("--initspec-coverage", choices=("full", "covering"), default=None,
                    help="case table for every backend (default: full for numpy/torch, covering for keras/jax)")
    group.addoption("--initspec-skips", action="append", default=None, metavar="PATH",
                    help="an extra skip/xfail YAML file (repeatable; also $INITSPEC_SKIPS)")


class _State:
    """The selection of this session, built on first use."""

    current: _State | None = None

    def __init__(self, config: pytest.Config):
        self.config = config
        self._selection: Any = None
        self._skips: Any = None
        self.results: dict[tuple[str, str], dict[str, Any]] = defaultdict(
            lambda: {"passed": 0, "failed": 0, "skipped": 0, "worst_p": None, "worst_id": ""})
        self.seen = False

    @property
    def salt(self) -> int:
        salt = self.config.getoption("initspec_salt")
        if salt is not None:
            return int(salt)
        raw = os.environ.get("INITSPEC_SEED_SALT", "0") or "0"
        try:
            return int(raw, 0)
        except ValueError:
            raise pytest.UsageError(f"INITSPEC_SEED_SALT must be an integer (got {raw!r})") from None

    @property
    def skips(self) -> Any:
        if self._skips is None:
            from .skips import default_skip_files, load_skips

            self._skips = load_skips(default_skip_files() + list(self.config.getoption("initspec_skips") or []))
        return self._skips

    @property
    def selection(self) -> Any:
        if self._selection is None:
            from .engine import BudgetError, SelectionError, make_selection

            opt = self.config.getoption
            try:
                sel = make_selection(opt("initspec_backend"), opt("initspec_device"), opt("initspec_case"),
                                     coverage=opt("initspec_coverage"))
                sel.check_budget()
            except (BudgetError, SelectionError) as exc:
                raise pytest.UsageError(str(exc)) from None
            for backend in sel.backends.values():
                backend.prepare()
            self._selection = sel
        return self._selection


def _state(config: pytest.Config) -> _State:
    st = getattr(config, "_initspec_state", None)
    if st is None:
        st = _State(config)
        config._initspec_state = st  # type: ignore[attr-defined]
    return st


def pytest_configure(config: pytest.Config) -> None:
    _State.current = _state(config)
    _share_threads(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _State.current is getattr(config, "_initspec_state", None):
        _State.current = None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = [f for f in FIXTURES if f in metafunc.fixturenames]
    if not wanted:
        return
    from .skips import find_entry

    st = _state(metafunc.config)
    st.seen = True
    sel = st.selection
    for fixture in wanted:
        test = FIXTURES[fixture]
        params = []
        for item in sel.items:
            if item.test != test:
                continue
            entry = find_entry(st.skips, test, item.id)
            marks: list[Any] = []
            if entry is not None:
                marks.append(pytest.mark.skip(reason=entry.describe()) if entry.kind == "skip"
                             else pytest.mark.xfail(reason=entry.describe(), strict=True))
            params.append(pytest.param(item, id=item.id, marks=marks))
        if test == "device":  # absent backends and devices: visible, skipped, with the reason
            params += [pytest.param(a, id=a.id, marks=pytest.mark.skip(reason=a.reason)) for a in sel.absent]
        if not params:  # say why rather than pytest's "got empty parameter set"
            why = ("agreement compares other backends with numpy: none selected" if test == "agreement"
                   else f"no {test} tests in this selection")
            params = [pytest.param(None, id="none", marks=pytest.mark.skip(reason=why))]
        metafunc.parametrize(fixture, params)


@pytest.fixture(scope="session")
def initspec_run(request: pytest.FixtureRequest) -> Any:
    """``run(item) -> ItemResult`` for this session's selection and salt."""
    from .engine import run_item

    st = _state(request.config)

    def run(item: Any) -> Any:
        return run_item(st.selection, item, st.salt)

    return run


SUITE_TESTS = ("test_conformance[", "test_agreement[", "test_independence[", "test_device[")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count per backend × device and keep the worst p-value (also for xdist workers' reports)."""
    st = _State.current
    name = report.nodeid.rpartition("::")[2]
    if st is None or not name.startswith(SUITE_TESTS) or (report.when != "call" and not report.skipped):
        return
    st.seen = True
    test_id = name.partition("[")[2][:-1]
    backend, sep, rest = test_id.partition("-")
    if not sep:
        return
    row = st.results[(backend, rest.partition("-")[0])]
    row["passed" if report.passed else "skipped" if report.skipped else "failed"] += 1
    p = dict(report.user_properties).get("initspec_min_p")
    if p is not None and (row["worst_p"] is None or p < row["worst_p"]):
        row["worst_p"], row["worst_id"] = p, test_id


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    st = _state(config)
    if not st.seen:
        return
    tr = terminalreporter
    tr.write_sep("-", f"initspec conformance (salt {st.salt}): backend x device")
    for (b, d), row in sorted(st.results.items()):
        worst = "-" if row["worst_p"] is None else f"{row['worst_p']:.2g} ({row['worst_id']})"
        tr.write_line(f"{b:<8} {d:<8} passed {row['passed']:>5}  failed {row['failed']:>3}  "
                      f"skipped {row['skipped']:>4}  worst p {worst}")
    for a in st.selection.absent:
        tr.write_line(f"{a.backend:<8} {a.device:<8} skipped: {a.reason}")
    from .skips import stale_entries

    stale = stale_entries(st.skips, st.selection.universe)
    if stale:
        tr.write_sep("-", "initspec: stale skip/xfail entries (they match no test id)")
        for e in stale:
            tr.write_line(f"{e.source}: {e.test} {e.kind} {e.match!r}: {e.reason}")
