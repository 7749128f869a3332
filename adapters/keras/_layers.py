"""What the Keras walker knows about norm layers outside ``keras.layers``: a small registry of
keras-hub classes (by module and name) and the structural test with a probe, as the PyTorch
walker does (:mod:`initspec.adapters.torch._layers`, docs/models.md).

A layer is a norm when it passes the **structural test** - no sub-layers, its own trainable
variables are one 1-D scale (``scale``/``gamma``/``weight``) and optionally a 1-D shift
(``beta``/``bias``/``offset``) of the same size, and it has an ``epsilon``/``eps`` attribute -
and the **probe** tells whether its gain is ``scale`` or ``1 + scale``: the layer is run with
``layer.stateless_call`` (Keras 3's functional call: the layer's variables are never assigned)
with the scale and shift at zero on a small NumPy random input whose last dimension is the
scale's size.  An output that is exactly zero means gain = scale; one that vanishes with the
scale at -1 means gain = 1 + scale (keras-hub's Gemma ``RMSNormalization``: neutral init
zeros).  A layer that cannot be run that way, or fits neither, is not taken for a norm.
"""

from __future__ import annotations

import warnings
from typing import Any

from .._common import Norm, norm_weights

__all__ = ["HUB_NORMS", "OFFSET_NOTE", "Norm", "norm_of"]

#: keras-hub norm classes by (module, class name) -> the offset of their gain (from keras-hub's
#: source: Gemma's ``RMSNormalization`` multiplies by 1 + scale with scale initialised to zeros;
#: the generic ``RMSNormalization`` by scale).  keras-hub is not a test dependency (it pulls a
#: second TensorFlow): any other class is decided by the probe.
HUB_NORMS: dict[tuple[str, str], int] = {
    ("keras_hub.src.models.gemma.rms_normalization", "RMSNormalization"): 1,
    ("keras_hub.src.layers.modeling.rms_normalization", "RMSNormalization"): 0,
}
OFFSET_NOTE = "scale = 1 + scale: the neutral init is zeros (ones would double the gain)"

_SCALE_NAMES = ("scale", "gamma", "weight")
_SHIFT_NAMES = ("beta", "bias", "offset")
_EPS_NAMES = ("epsilon", "eps", "variance_epsilon")


def _leaf(variable: Any) -> str:
    return str(variable.name).rsplit("/", 1)[-1]


def _structure(layer: Any, own: list[Any]) -> tuple[str, str | None] | None:
    if getattr(layer, "_layers", None) or not any(hasattr(layer, e) for e in _EPS_NAMES):
        return None
    shapes = {_leaf(v): tuple(v.shape) for v in own}
    if len(shapes) != len(own):
        return None
    return norm_weights(shapes, _SCALE_NAMES, _SHIFT_NAMES)


def probe(keras: Any, layer: Any, scale: str) -> int | None:
    """The offset of ``layer``'s gain (0 or 1), or None when it cannot be told."""
    import numpy as np

    trainable = list(layer.trainable_variables)
    frozen = list(layer.non_trainable_variables)
    size = int(next(v for v in trainable if _leaf(v) == scale).shape[0])
    x = np.random.default_rng(0).standard_normal((2, 3, size)).astype("float32")

    def run(fill: float) -> Any:
        values = [np.full(tuple(int(d) for d in v.shape), fill if _leaf(v) == scale else 0.0,
                          dtype=keras.backend.standardize_dtype(v.dtype)) for v in trainable]
        y, _ = layer.stateless_call(values, [keras.ops.convert_to_numpy(v) for v in frozen], x)
        if isinstance(y, (tuple, list)):
            y = y[0]
        return np.asarray(keras.ops.convert_to_numpy(y), dtype="float64")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zero = run(0.0)
            if zero.shape != x.shape or not np.isfinite(zero).all():
                return None
            if float(np.abs(zero).max()) == 0.0:
                return 0
            minus = run(-1.0)
    except Exception:  # noqa: BLE001 - a layer that cannot run that way: not taken for a norm
        return None
    if minus.shape == x.shape and float(np.abs(minus).max()) <= 1e-6 * max(1.0, size ** 0.5):
        return 1
    return None


def norm_of(keras: Any, layer: Any, own: list[Any], cache: dict[Any, Any]) -> Norm | None:
    """``layer`` (not a ``keras.layers`` norm) as a norm - registry or structural test + probe - or None."""
    found = _structure(layer, own)
    if found is None:
        return None
    cls = type(layer)
    known = HUB_NORMS.get((cls.__module__, cls.__name__))
    if known is not None:
        return Norm(found[0], found[1], known, "registry")
    key = (cls, tuple(sorted((k, v) for k, v in vars(layer).items()
                             if isinstance(v, (bool, int, float, str)) and not k.startswith("_") and k != "name")),
           tuple(tuple(int(d) for d in v.shape) for v in own))
    if key not in cache:
        cache[key] = probe(keras, layer, found[0])
    offset = cache[key]
    return None if offset is None else Norm(found[0], found[1], offset, "probe")
