"""Shared test setup.

Frameworks are imported in a fixed order - torch before TensorFlow, which can crash when
loaded the other way round in one process - and only when installed.
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  - must precede tensorflow

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


import pytest  # noqa: E402


@pytest.fixture
def fault_sweep(monkeypatch):
    """Fail ``initspec.apply`` at each of its checkpoints in turn (every draw, and every
    commit when transactional) and check what the model holds afterwards:
    ``transactional=True`` (and a failure at the first step) must leave every byte as it was;
    the default mode must have drawn exactly the rows before the failure.

    ``sweep(plan, make_model, state_bytes=..., row_values=..., equal=..., transactional=...)``
    returns the checkpoints ``[(stage, path), ...]`` of one clean apply, for the caller to
    check against its backend (how many draws and commits it makes)."""
    import initspec
    from initspec.plans import faults

    def sweep(plan, make_model, *, state_bytes, row_values, equal, transactional):
        model = make_model()
        initspec.apply(plan, model, seed=1)
        before = state_bytes(model)
        old = row_values(model)
        fresh = make_model()
        initspec.apply(plan, fresh, seed=2)  # in-place backends; functional ones: the manifest
        new = row_values(fresh)
        order = [r.path for r in initspec.plan(plan, model)]
        steps: list[tuple[str, str]] = []
        monkeypatch.setattr(faults, "HOOK", lambda stage, path: steps.append((stage, path)))
        initspec.apply(plan, make_model(), seed=2, transactional=transactional)
        assert steps, "initspec.apply passed no checkpoint"
        for k in range(len(steps)):
            monkeypatch.setattr(faults, "HOOK", faults.fail_at(k))
            with pytest.raises(RuntimeError, match="injected"):
                initspec.apply(plan, model, seed=2, transactional=transactional)
            if transactional or k == 0:
                assert state_bytes(model) == before, f"step {k} {steps[k]}"
            else:  # the default mode drew exactly the rows before step k
                now = row_values(model)
                for j, path in enumerate(order):
                    assert equal(now[path], new[path] if j < k else old[path]), (k, path)
                monkeypatch.setattr(faults, "HOOK", None)
                initspec.apply(plan, model, seed=1)  # back to the reference weights
                assert state_bytes(model) == before
        monkeypatch.setattr(faults, "HOOK", None)
        return steps

    return sweep
