"""Importing initspec imports no framework; each adapter imports only its own, lazily.

Run in fresh subprocesses so nothing the test session imported leaks in
(array-api-compat's tests/test_no_dependencies.py does the same).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "jaxlib", "flax", "scipy", "matplotlib", "typer")


def imported_after(code: str) -> set[str]:
    script = (
        "import sys, json\n" + code + "\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(FRAMEWORKS)!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_initspec_imports_no_framework():
    assert imported_after("import initspec") == set()


def test_core_api_use_imports_no_framework():
    code = (
        "import initspec\n"
        "s = initspec.parse({'scheme': 'he', 'distribution': 'truncated_normal'})\n"
        "initspec.resolve(s, (256, 128), layout='torch')\n"
        "initspec.dumps(s)\n"
        "from initspec.adapters import numpy as isnp\n"
        "isnp.initializer(s)((4, 4), seed=0)\n"
    )
    assert imported_after(code) == set()


@pytest.mark.parametrize("adapter", ["torch", "keras", "jax"])
def test_importing_an_adapter_module_imports_no_framework(adapter):
    assert imported_after(f"import initspec.adapters.{adapter}") == set()


@pytest.mark.parametrize("adapter,allowed", [
    ("torch", {"torch"}),
    ("jax", {"jax", "jaxlib"}),
])
def test_each_adapter_imports_only_its_own_framework(adapter, allowed):
    pytest.importorskip(adapter)
    code = (
        f"from initspec.adapters import {adapter} as a\n"
        "a.initializer({'scheme': 'normal', 'std': 1.0})\n"
    )
    got = imported_after(code)
    assert got <= allowed | {"scipy"}, got
    assert not got & {"tensorflow", "keras", "flax"} - allowed
