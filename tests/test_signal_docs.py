"""docs/signal.md shows the plan files the command line reads: each ```yaml block whose first
line is ``# examples/signal/NAME.yaml`` is that file, byte for byte (the tutorial's Python
blocks and its ``initspec propagate`` command read the files; the page must not drift)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_plans_shown_are_the_plan_files():
    text = (ROOT / "docs" / "signal.md").read_text(encoding="utf-8")
    shown = re.findall(r"```yaml\n# (examples/signal/[\w.]+\.yaml)\n(.*?)```", text, flags=re.S)
    assert {name for name, _ in shown} == {"examples/signal/gelu.yaml", "examples/signal/gelu_lsuv.yaml"}
    for name, body in shown:
        file = (ROOT / name).read_text(encoding="utf-8")
        strip = [re.sub(r"\s+#.*$", "", line).rstrip() for line in body.splitlines()]
        assert strip == file.splitlines(), name  # the page may add comments after a value
