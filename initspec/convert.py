"""Convert a Keras initializer config into an initspec spec (no Keras import needed).

Keras serializes an initializer (``keras.initializers.serialize``, and every layer's
``kernel_initializer`` in a saved model's ``config.json``) as::

    {"module": "keras.initializers", "class_name": "GlorotNormal",
     "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null}

(``keras/src/saving/serialization_lib.py``), Keras 2 / ``tf.keras`` wrote
``{"class_name": ..., "config": {...}}``, and layers also accept the short string form
(``"glorot_uniform"``, ``"he_normal"``, ``"normal"``, ``"zero"`` ...; the names of
``keras/src/initializers/__init__.py::ALL_OBJECTS_DICT``).  Each becomes the matching
``keras.*`` preset, so the Keras meaning - not the name - is kept::

    >>> from initspec.convert import from_keras
    >>> from_keras("glorot_normal").to_dict()
    {'scheme': 'keras.glorot_normal'}
    >>> from_keras({"class_name": "VarianceScaling", "config": {"scale": 2.0, "distribution": "normal"}}).expand().to_dict()["distribution"]
    'truncated_normal'

.. warning::
   Keras reads ``VarianceScaling(distribution="normal")`` as the *truncated* normal.  The
   conversion keeps that quirk as ``keras.variance_scaling`` (whose ``normal`` expands to
   ``truncated_normal``); write ``scheme: variance_scaling`` to mean the plain normal.

Seeds are not part of a spec (a plan's seed derives each parameter's stream); a Keras
``seed`` is dropped with a note.

A whole layer or model config (a saved model's ``config.json``, or the ``.keras`` file
itself) converts with :func:`convert_keras_config`: every ``*_initializer`` argument of every
layer, keyed ``<layer path>.<argument>``::

    >>> from initspec.convert import convert_keras_config
    >>> layer = {"class_name": "Dense", "config": {"name": "fc1", "units": 4,
    ...          "kernel_initializer": "he_normal", "bias_initializer": "zeros"}}
    >>> [(where, c.spec.scheme) for where, c in convert_keras_config(layer)]
    [('fc1.kernel_initializer', 'keras.he_normal'), ('fc1.bias_initializer', 'zeros')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ErrorDetail, SpecError, did_you_mean
from .parsing import parse
from .spec import BaseSpec

__all__ = ["KERAS_CLASSES", "Conversion", "from_keras", "convert_keras", "convert_keras_config",
           "is_initializer_config"]

_VS = ("seed", "input_axes", "output_axes")

#: Keras class name -> (initspec scheme, the config keys Keras' get_config writes).
KERAS_CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "GlorotUniform": ("keras.glorot_uniform", _VS),
    "GlorotNormal": ("keras.glorot_normal", _VS),
    "HeUniform": ("keras.he_uniform", _VS),
    "HeNormal": ("keras.he_normal", _VS),
    "LecunUniform": ("keras.lecun_uniform", _VS),
    "LecunNormal": ("keras.lecun_normal", _VS),
    "VarianceScaling": ("keras.variance_scaling", ("scale", "mode", "distribution", *_VS)),
    "RandomNormal": ("keras.random_normal", ("mean", "stddev", "seed")),
    "RandomUniform": ("keras.random_uniform", ("minval", "maxval", "seed")),
    "TruncatedNormal": ("keras.truncated_normal", ("mean", "stddev", "seed")),
    "Orthogonal": ("keras.orthogonal", ("gain", "seed")),
    "Identity": ("keras.identity", ("gain",)),
    "Constant": ("constant", ("value",)),
    "STFT": ("keras.stft", ("side", "window", "scaling", "periodic")),
    "Zeros": ("zeros", ()),
    "Ones": ("ones", ()),
}
#: Keras' own aliases (``keras/src/initializers/__init__.py``).
_ALIASES = {"IdentityInitializer": "Identity", "OrthogonalInitializer": "Orthogonal", "normal": "RandomNormal",
            "uniform": "RandomUniform", "one": "Ones", "zero": "Zeros", "STFTInitializer": "STFT",
            "stft_initializer": "STFT"}
#: Keras initializers with no initspec law.
_UNSUPPORTED = {"Initializer": "the abstract base class"}
#: scipy.signal.get_window's other spellings of the windows keras.stft names canonically.
_WINDOW_ALIASES = {"han": "hann", "hamm": "hamming", "ham": "hamming", "black": "blackman", "blk": "blackman",
                   "bart": "bartlett", "brt": "bartlett", "box": "boxcar", "ones": "boxcar", "rect": "boxcar",
                   "rectangular": "boxcar", "brthan": "barthann", "bth": "barthann", "blackharr": "blackmanharris",
                   "bkh": "blackmanharris", "bman": "bohman", "bmn": "bohman", "halfcosine": "cosine",
                   "poisson": "exponential", "flat": "flattop", "flt": "flattop", "sinc": "lanczos", "nutl": "nuttall",
                   "nut": "nuttall", "parz": "parzen", "par": "parzen", "taylorwin": "taylor", "triangle": "triang",
                   "tri": "triang", "tuk": "tukey"}


def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


_UNSUPPORTED.update({_snake(k): v for k, v in list(_UNSUPPORTED.items())})
_BY_NAME: dict[str, str] = {**{c: c for c in KERAS_CLASSES}, **{_snake(c): c for c in KERAS_CLASSES}, **_ALIASES}


@dataclass(frozen=True)
class Conversion:
    """A converted spec and what the conversion had to say about it."""

    spec: BaseSpec
    keras_class: str
    notes: list[str] = field(default_factory=list)


def _fail(code: str, message: str, loc: tuple[str | int, ...], value: Any) -> SpecError:
    return SpecError([ErrorDetail(code=code, message=message, loc=loc, value=value)])


def convert_keras(obj: Any, *, document: Any = None) -> Conversion:
    """Convert a Keras initializer config (a dict or a short string) into a spec.

    ``document`` (from :mod:`initspec._document`) adds file:line:col to errors.
    """
    try:
        return _convert(obj)
    except SpecError as exc:
        if document is None:
            raise
        raise SpecError(_located(exc.errors, document)) from None


def _located(errors: list[ErrorDetail], document: Any) -> list[ErrorDetail]:
    """``errors`` with the file:line:col of what they name (an unknown key: the key itself)."""
    if document is None:
        return list(errors)
    out = []
    for e in errors:
        find = document.locate_key if e.code == "unknown_field" else document.locate
        pos = find(e.loc) or (document.locate(e.loc[:-1]) if e.loc else None)
        out.append(e.with_location(document.filename, *(pos or (None, None))))
    return out


def _convert(obj: Any) -> Conversion:
    if isinstance(obj, str):
        name, config, loc = obj, {}, ()
    elif isinstance(obj, dict):
        if "class_name" not in obj:
            raise _fail("missing_field", "a Keras initializer config has a 'class_name' (and usually 'config'), e.g. "
                        '{"class_name": "GlorotUniform", "config": {"seed": null}}', ("class_name",), obj)
        unknown = set(obj) - {"module", "class_name", "config", "registered_name", "shared_object_id"}
        if unknown:
            key = sorted(unknown)[0]
            raise _fail("unknown_field", f"unknown key {key!r} in a Keras initializer config"
                        f"{did_you_mean(key, ['module', 'class_name', 'config', 'registered_name'])}", (key,),
                        obj[key])
        name, config, loc = obj["class_name"], obj.get("config") or {}, ("config",)
        if name == "InitSpecInitializer" or str(obj.get("registered_name")).startswith("initspec>"):
            return _from_initspec(config)
        module = obj.get("module")
        if module is not None and not (isinstance(module, str) and module.split(".")[0] in ("keras", "tensorflow")):
            raise _fail("unknown_keras_class", "not a Keras built-in initializer (a custom or third-party class); "
                        "write its spec by hand", ("module",), module)
        if not isinstance(config, dict):
            raise _fail("wrong_type", "'config' must be a mapping of the initializer's arguments", ("config",), config)
    else:
        raise _fail("wrong_type", "expected a Keras initializer config (a mapping with class_name and config) or its "
                    "short name such as 'glorot_uniform'", (), obj)
    if not isinstance(name, str):
        raise _fail("wrong_type", "class_name must be a string", ("class_name",), name)
    if name in _UNSUPPORTED:
        raise _fail("unsupported_keras_class", f"Keras {name} has no initspec equivalent: {_UNSUPPORTED[name]}",
                    ("class_name",), name)
    cls = _BY_NAME.get(name)
    if cls is None:
        known = sorted(set(_BY_NAME) | set(_UNSUPPORTED))
        raise _fail("unknown_keras_class", f"unknown Keras initializer {name!r}{did_you_mean(name, known, n=2)}; "
                    f"known: {', '.join(KERAS_CLASSES)}", ("class_name",), name)
    scheme, keys = KERAS_CLASSES[cls]
    notes: list[str] = []
    spec_data: dict[str, Any] = {"scheme": scheme}
    allowed = keys
    for key, value in config.items():
        if key not in allowed:
            raise _fail("unknown_field", f"Keras {cls} has no argument {key!r}{did_you_mean(key, allowed)}"
                        + (f"; allowed: {', '.join(allowed)}" if allowed else ""), (*loc, key), value)
        if key == "seed":
            if value is not None:
                notes.append(f"Keras seed {value!r} dropped: in initspec a plan's seed derives each parameter's stream")
        elif key in ("input_axes", "output_axes"):
            if value is not None:
                raise _fail("unsupported_field", f"{key} (Keras >= 3.15) counts fans without the remaining axes, "
                            "which no keras.* preset reproduces; write a variance_scaling spec with axes by hand",
                            (*loc, key), value)
        else:
            spec_data[key] = _plain_value(value)
    if cls == "STFT" and isinstance(spec_data.get("window"), str) and spec_data["window"] in _WINDOW_ALIASES:
        alias = spec_data["window"]
        spec_data["window"] = _WINDOW_ALIASES[alias]
        notes.append(f"window {alias!r} is scipy's other name of {spec_data['window']!r}")
    if cls == "Constant":
        spec_data.setdefault("value", 0.0)  # Keras' default: Constant(value=0.0)
    if cls == "VarianceScaling" and spec_data.get("distribution") == "normal":
        notes.append("Keras reads distribution 'normal' as a truncated normal; keras.variance_scaling keeps that "
                     "meaning (use scheme: variance_scaling for an untruncated normal)")
    spec = parse(spec_data, loc=loc)
    return Conversion(spec=spec, keras_class=cls, notes=notes)


def _plain_value(value: Any) -> Any:
    """A config value as data: Keras serializes a NumPy array (``Constant(np.array(...))``, an
    STFT window) as ``{"class_name": "__numpy__", "config": {"value": [...], "dtype": ...}}``
    (``__tensor__`` for a backend tensor); the nested list is the value."""
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        inner = value.get("config")
        if isinstance(inner, dict) and "value" in inner:
            return inner["value"]
    return value


def _from_initspec(config: Any) -> Conversion:
    """initspec's own Keras initializer: its config is the spec plus layout and seed."""
    if not isinstance(config, dict):
        raise _fail("wrong_type", "'config' must be a mapping", ("config",), config)
    notes = []
    if config.get("layout") is not None:
        notes.append(f"layout {config['layout']!r} dropped: a spec is a law; the layout comes with the tensor")
    if config.get("seed") is not None:
        notes.append(f"seed {config['seed']!r} dropped: in initspec a plan's seed derives each parameter's stream")
    body = {k: v for k, v in config.items() if k not in ("layout", "seed")}
    return Conversion(spec=parse(body, loc=("config",)), keras_class="InitSpecInitializer", notes=notes)


def from_keras(obj: Any) -> BaseSpec:
    """The spec of a Keras initializer config (see :func:`convert_keras` for the notes)."""
    return convert_keras(obj).spec


def is_initializer_config(obj: Any) -> bool:
    """Whether ``obj`` is one Keras initializer (a short name, or a config whose class is an
    initializer) rather than a layer or model config."""
    if isinstance(obj, str):
        return True
    if not isinstance(obj, dict):
        return False
    name = obj.get("class_name")
    if name == "InitSpecInitializer" or str(obj.get("registered_name")).startswith("initspec>"):
        return True
    if not isinstance(name, str):
        return not _initializer_args(obj)
    return name in _BY_NAME or name in _UNSUPPORTED or not _initializer_args(obj)


def _initializer_args(node: Any, path: tuple[str | int, ...] = (), names: tuple[str, ...] = ()) -> list[
        tuple[tuple[str | int, ...], str, Any, dict[str, Any]]]:
    """Every ``*_initializer`` argument below ``node``: (JSON path, "<layer path>.<argument>",
    value, the layer's config)."""
    out: list[tuple[tuple[str | int, ...], str, Any, dict[str, Any]]] = []
    if isinstance(node, dict):
        config = node.get("config")
        if isinstance(config, dict) and isinstance(node.get("class_name"), str):
            name = config.get("name")
            # a model's own name is not part of its parameters' paths (plans name them from the
            # model down); a layer's, or a nested model's, is
            is_root_model = not path and "layers" in config
            inner = (*names, name) if isinstance(name, str) and name and not is_root_model else names
            for key, value in config.items():
                if key.endswith("_initializer") and value is not None:
                    out.append(((*path, "config", key), ".".join((*inner, key)), value, config))
                else:
                    out += _initializer_args(value, (*path, "config", key), inner)
            return out
        for key, value in node.items():
            out += _initializer_args(value, (*path, key), names)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _initializer_args(value, (*path, i), names)
    return out


def convert_keras_config(obj: Any, *, document: Any = None) -> list[tuple[str, Conversion]]:
    """Convert every initializer argument of a Keras layer or model config.

    Returns ``[("<layer path>.<argument>", Conversion), ...]`` in file order (the layer
    path joins nested layer names with dots, as plans name parameters).  Every problem is
    collected into one :class:`~initspec.SpecError`, located in ``document`` when given.
    """
    found = _initializer_args(obj)
    if not found:
        raise _fail("no_initializers", "no layer in this config has an *_initializer argument; give a Keras "
                    "initializer config, a layer config or a model's config.json", (), type(obj).__name__)
    out: list[tuple[str, Conversion]] = []
    errors: list[ErrorDetail] = []
    for path, where, value, layer in found:
        try:
            conv = _convert(value)
            if path[-1] == "bias_initializer" and layer.get("unit_forget_bias"):
                conv.notes.append("unit_forget_bias=True: Keras sets the forget-gate quarter of this bias to 1 on "
                                  "top of the initializer (a plan with base: keras-defaults reproduces it)")
        except SpecError as exc:
            errors += _located([e.with_prefix(path) for e in exc.errors], document)
            continue
        out.append((where, conv))
    if errors:
        raise SpecError(errors)
    return out

