"""A tiny MLP as a mapping of NumPy arrays, for the plan examples in docs/plans.md and docs/cli.md.

``initspec plan examples/init.yaml --model docs.mlp:numpy_mlp`` imports it from the
repository root.  Leaf names give the roles (kernel/weight, bias, scale); the arrays start
at zero so you can see what a plan writes.
"""

from __future__ import annotations

import numpy as np

from initspec.adapters.numpy import Params


def numpy_mlp(d_in: int = 64, hidden: int = 128, d_out: int = 10) -> Params:
    """fc1 (64 -> 128), a layer norm, and a head (128 -> 10), stored (in, out) like Flax."""
    return Params({
        "fc1": {"kernel": np.zeros((d_in, hidden), np.float32), "bias": np.zeros(hidden, np.float32)},
        "ln": {"scale": np.zeros(hidden, np.float32), "bias": np.zeros(hidden, np.float32)},
        "head": {"kernel": np.zeros((hidden, d_out), np.float32), "bias": np.zeros(d_out, np.float32)},
    }, layout="jax")
