"""Packaging: every package folder is listed, and a built wheel installs `initspec.adapters`
(never a top-level `adapters`, a name another PyPI project owns)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def listed_packages() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(data["tool"]["setuptools"]["packages"])


def package_folders() -> set[str]:
    found = set()
    for top, name in (("initspec", "initspec"), ("adapters", "initspec.adapters")):
        for d in [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]:
            if d.name == "__pycache__" or not any(f.is_file() for f in d.iterdir()):
                continue
            rel = d.relative_to(ROOT / top).parts
            found.add(".".join((name, *rel)))
    return found


def test_every_package_folder_is_listed_in_pyproject():
    assert package_folders() == listed_packages()


def test_the_wheel_installs_adapters_under_initspec(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("initspec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not any(n.startswith("adapters/") for n in names)
    from initspec import backends

    required = ["initspec/plans/defaults/torch-defaults.yaml", "initspec/testing/suite.py", "initspec/py.typed"]
    required += [f"initspec/adapters/{b}/{f}.py" for b in backends.names() for f in backends.FILES]
    for path in required:
        assert path in names, path
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry).decode()
    assert "initspec = initspec.cli:main" in text and "initspec.testing.plugin" in text
