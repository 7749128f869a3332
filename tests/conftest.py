"""Shared test setup.

Frameworks are imported in a fixed order - torch before TensorFlow, which can crash when
loaded the other way round in one process - and only when installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# The helpers the per-backend tests share (tests/_shared.py) import as ``_shared``.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  - must precede tensorflow

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


import pytest  # noqa: E402


@pytest.fixture
def fault_sweep():
    """Fail ``initspec.apply`` at each of its checkpoints in turn (one before every draw,
    passed as ``checkpoint=`` - :func:`initspec.writer.fail_at`) and check what the model
    holds afterwards: ``transactional=True`` (and a failure at the first step) must leave
    every byte as it was; the default mode must have drawn exactly the rows before the
    failure.  The same for every backend.

    ``sweep(plan, make_model, state_bytes=..., row_values=..., equal=..., transactional=...)``
    returns the checkpoints ``[(stage, path), ...]`` of one clean apply, for the caller to
    check against its backend (how many draws it makes)."""
    import initspec
    from initspec.writer import fail_at

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
        initspec.apply(plan, make_model(), seed=2, transactional=transactional,
                       checkpoint=lambda stage, path: steps.append((stage, path)))
        assert steps, "initspec.apply passed no checkpoint"
        assert {stage for stage, _ in steps} == {"draw"}
        for k in range(len(steps)):
            with pytest.raises(RuntimeError, match="injected"):
                initspec.apply(plan, model, seed=2, transactional=transactional, checkpoint=fail_at(k))
            if transactional or k == 0:
                assert state_bytes(model) == before, f"step {k} {steps[k]}"
            else:  # the default mode drew exactly the rows before step k
                now = row_values(model)
                for j, path in enumerate(order):
                    assert equal(now[path], new[path] if j < k else old[path]), (k, path)
                initspec.apply(plan, model, seed=1)  # back to the reference weights
                assert state_bytes(model) == before
        return steps

    return sweep
