"""initspec: declare neural-network weight initialization once, as data, and get the same
law in NumPy, PyTorch, TensorFlow/Keras and JAX/Flax.

>>> import initspec
>>> spec = initspec.parse({"scheme": "he", "distribution": "normal"})
>>> d = initspec.resolve(spec, (256, 128), layout="torch")
>>> round(d.std, 5)
0.125

Importing initspec imports no framework; each adapter in :mod:`initspec.adapters` imports
only its own, when used.
"""

from __future__ import annotations

from .diagnose import Diagnosis, diagnose  # the function; `from initspec.diagnose import ...` reads the module
from .distributions import Derivation, Distribution
from .errors import ErrorDetail, ShapeError, SpecError
from .files import FORMAT_VERSION, apply, dump, dumps, load, loads, plan
from .layout import Fans, compute_fans
from ._embed import Spec
from .parsing import parse
from .plans import Manifest, Plan, PlanTable, parse_plan
from .resolution import expand, resolve
from .spec import Axes, BaseSpec

from ._version import __version__  # noqa: E402

__all__ = [
    "Axes", "BaseSpec", "Manifest", "Plan", "PlanTable", "apply", "parse_plan", "plan", "Derivation", "Distribution", "ErrorDetail", "FORMAT_VERSION", "Fans", "ShapeError",
    "Spec", "SpecError", "compute_fans", "dump", "dumps", "expand", "load", "loads", "parse", "resolve",
    "Diagnosis", "diagnose", "__version__",
]
