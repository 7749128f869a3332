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
