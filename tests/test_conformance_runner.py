"""The runner, its report, the command line, skip/xfail lists, absent devices, third-party
backends, and the suite run from the installed package (subprocesses)."""

from __future__ import annotations

from typing import Any

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from initspec.testing import Device, Driver, command, engine, register_backend
from initspec.testing.backends import unregister_backend
from initspec.testing.cases import Case
from initspec.testing.skips import load_skips

pytest.importorskip("scipy")
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None
SMALL = ["he_normal-square-float32", "orthogonal-square-float32", "uniform-bias-float16"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "INITSPEC_"))}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return env


def test_a_run_reports_counts_worst_p_values_and_agreement() -> None:
    backends = ["numpy", "torch"] if HAS_TORCH else ["numpy"]
    report = engine.run(backends, ["cpu"], cases=SMALL)
    assert report.passed, report.to_text()
    counts = report.counts()
    assert counts["passed"] == len(report.results) and counts["failed"] == 0
    assert report.p_values == report.planned_p_values > 0  # the Bonferroni count is honest
    text = report.to_text()
    assert "Per scheme" in text and "numpy    cpu" in text.replace("  ", "  ")
    assert "alpha_each=5e-08" in text
    data = json.loads(report.to_json())
    assert data["passed"] is True and {r["scheme"] for r in data["rows"]} >= {"he_normal", "orthogonal", "uniform"}
    assert all(r["worst_p"] is None or 0 < r["worst_p"] <= 1 for r in data["rows"])
    md = report.to_markdown()
    assert md.startswith("# initspec conformance report") and "| backend | device | scheme |" in md
    if HAS_TORCH:
        assert "Agreement with numpy" in text and data["agreement"]["columns"] == ["torch-cpu vs numpy"]
        assert "orthogonal-square-float32" in data["agreement"]["rows"]


def test_global_rng_state_is_untouched() -> None:
    state = np.random.get_state()[1].copy()
    if HAS_TORCH:
        import torch

        torch_state = torch.get_rng_state().clone()
    engine.run(["numpy", "torch"] if HAS_TORCH else ["numpy"], ["cpu"], cases=SMALL[:1])
    assert np.array_equal(np.random.get_state()[1], state)
    if HAS_TORCH:
        assert torch.equal(torch.get_rng_state(), torch_state)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_absent_devices_and_backends_show_as_skipped_with_the_reason() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    report = engine.run(["torch", "no_such_backend"], ["cuda"], cases=SMALL[:1])
    reasons = {(a.backend, a.device): a.reason for a in report.absent}
    assert reasons[("torch", "cuda")].startswith("no CUDA device")
    assert "unknown backend 'no_such_backend'" in reasons[("no_such_backend", "*")]
    # nothing could be tested: visible as skipped, and not a pass
    assert report.results == [] and not report.tested and not report.passed
    assert "TESTED NOTHING" in report.summary_line() and report.to_dict()["passed"] is False
    assert "skipped: no CUDA device" in report.to_text()
    if HAS_JAX:
        assert engine.make_selection(["jax"], ["cuda"]).absent[0].reason == "no CUDA device"
    plan = engine.make_selection(["numpy"], ["tpu"], SMALL[:1])
    assert [a.reason for a in plan.absent] == ["no device 'tpu' (found: cpu)"]


def test_the_budget_is_checked() -> None:
    plan = engine.make_selection(["numpy"], ["cpu"], SMALL)
    plan.check_budget()
    with pytest.raises(engine.BudgetError, match="Bonferroni budget"):
        plan.check_budget(limit=plan.p_values - 1)


def test_skip_xfail_and_stale_entries(tmp_path: Path) -> None:
    f = tmp_path / "skips.yaml"
    f.write_text(
        "entries:\n"
        "  - {match: 'numpy-cpu-he_normal-square-*', kind: skip, reason: 'not today', link: 'https://x.test/1'}\n"
        "  - {match: 'numpy-cpu-uniform-bias-*', kind: xfail, reason: 'believed broken'}\n"
        "  - {match: 'numpy-cpu-no_such_scheme-*', kind: xfail, reason: 'long fixed'}\n", encoding="utf-8")
    report = engine.run(["numpy"], ["cpu"], cases=SMALL, skip_files=[str(f)])
    status = {r.item.id: (r.status, r.reason) for r in report.results if r.item.test == "conformance"}
    assert status["numpy-cpu-he_normal-square-float32"] == ("skipped", "not today (https://x.test/1)")
    assert status["numpy-cpu-uniform-bias-float16"][0] == "xpassed"  # strict: an xfail that passes fails
    assert not report.passed
    assert [e.match for e in report.stale] == ["numpy-cpu-no_such_scheme-*"]
    assert "Stale skip/xfail entries" in report.to_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - {match: 'x', kind: maybe, reason: 'r'}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="kind must be 'skip' or 'xfail'"):
        load_skips([str(bad)])
    assert load_skips() == []  # the shipped list is empty: every built-in case passes on CPU


class _ThirdParty(Driver):
    """A backend from outside initspec: draws torch-layout tensors with its own seeding."""

    name = "third_party"
    layout = "torch"
    factor = 1.0  # available() and devices(): the Driver defaults, the CPU alone

    def sample(self, spec: Any, shape: tuple[int, ...], layout: Any, seed: int, dtype: str,
               device: Device | None = None) -> np.ndarray:
        from initspec.adapters import numpy as isnp

        dist = isnp.initializer(spec, layout).resolve(shape)
        x = isnp.sample(dist, np.random.Generator(np.random.PCG64DXSM(seed)), dtype)
        return (x * self.factor).astype(x.dtype)


class _Buggy(_ThirdParty):
    name = "third_party_buggy"
    factor = 1.1  # std 10% too large


def test_a_third_party_backend_runs_the_same_suite() -> None:
    register_backend(_ThirdParty())
    register_backend(_Buggy())
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_backend(_ThirdParty())
        good = engine.run(["third_party"], cases=["he_*-conv2d-float*", "orthogonal-wide-float32"])
        assert good.passed, good.to_text()
        assert {r.item.backend for r in good.results} == {"third_party"}
        assert any(r.item.test == "agreement" for r in good.results)
        bad = engine.run(["third_party_buggy"], cases=["he_normal-conv2d-*"])
        assert not bad.passed
        assert {r.item.id for r in bad.failures} >= {f"third_party_buggy-cpu-he_normal-conv2d-{d}"
                                                      for d in ("float32", "float64", "float16", "bfloat16")}
        assert "repro: python -m initspec.testing --backend third_party_buggy" in bad.to_text()
    finally:
        unregister_backend("third_party")
        unregister_backend("third_party_buggy")


def test_main_writes_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert command.main(["--backend", "numpy", "--case", SMALL[0], "--format", "json", "--output", str(out),
                        "--quiet"]) == 0
    assert json.loads(out.read_text())["passed"] is True
    assert command.main(["--backend", "numpy", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "numpy    cpu" in listing and "p-valued assertions" in listing
    assert command.main(["--backend", "numpy", "--case", SMALL[0], "--format", "markdown", "--quiet"]) == 0
    assert "# initspec conformance report" in capsys.readouterr().out


def _python(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env or _env(), capture_output=True, text=True,
                          timeout=timeout)


def test_the_installed_package_runs_the_suite_and_prints_the_report(tmp_path: Path) -> None:
    """From an empty directory (no tests/, no conftest): the module entry point..."""
    proc = _python(["-m", "initspec.testing", "--backend", "numpy", "--case", "he_*-square-float32",
                    "--format", "text"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "initspec conformance PASSED" in proc.stdout and "he_truncated_normal" in proc.stdout
    assert "[" in proc.stderr  # progress on stderr


def test_the_installed_package_runs_under_pytest_with_one_id_per_case_backend_device(tmp_path: Path) -> None:
    """...and the shipped pytest suite, through the registered plugin."""
    backends = ["--initspec-backend", "numpy"] + (["--initspec-backend", "torch"] if HAS_TORCH else [])
    proc = _python(["-m", "pytest", "--pyargs", "initspec.testing.suite", "-v", "-rs", "-p", "no:cacheprovider",
                    *backends, "--initspec-case", "he_normal-square-*", "--initspec-salt", "7"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    out = proc.stdout
    assert "test_conformance[numpy-cpu-he_normal-square-float16] PASSED" in out
    assert "initspec conformance (salt 7): backend x device" in out
    if HAS_TORCH:
        assert "test_conformance[torch-cpu-he_normal-square-bfloat16] PASSED" in out
        import torch

        if not torch.cuda.is_available():
            assert "test_device[torch-cuda] SKIPPED (no CUDA device" in out


@pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
def test_every_jax_host_device_is_tested(tmp_path: Path) -> None:
    """Four host-platform CPU devices exercise the per-device path without a GPU."""
    env = _env()
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    proc = _python(["-m", "initspec.testing", "--backend", "jax", "--device", "cpu", "--case",
                    "he_normal-square-float32", "--case", "orthogonal-tall-bfloat16", "--format", "json", "--quiet"],
                   tmp_path, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    ids = {r["id"] for r in data["results"] if r["test"] == "conformance"}
    assert ids == {f"jax-cpu:{i}-{c}" for i in range(4) for c in ("he_normal-square-float32",
                                                                  "orthogonal-tall-bfloat16")}
    assert all(r["status"] == "passed" for r in data["results"])
    assert {(row["device"]) for row in data["rows"]} == {f"cpu:{i}" for i in range(4)}
