"""The fuzz target: one input in, every public path it reaches exercised, invariants checked.

An input is a byte string (from atheris, hypothesis or a corpus file).  Its first byte picks
a *mode*; the rest is read by :class:`Reader`, which turns bytes into choices (a scheme name,
a field value, a shape, a dtype ...), so coverage-guided mutation of the bytes explores the
choices.  Every input is first *decoded* into a :class:`Case` - plain data, saved as JSON in
the regression corpus (``tests/fuzz_corpus/``) - and then *run*: decoding and running are
separate so a corpus case replays the same way whatever the byte decoder becomes later.  NumPy
arrays and scalars in a case are stored as ``{"$ndarray": ...}``/``{"$np": ...}`` (dtype, shape,
bytes, order, writeable flag).

Modes:

``text``   the bytes as a YAML or JSON file: ``initspec.loads`` (spec, plan or either), then
           the spec pipeline below on what parses
``spec``   a spec built field by field from the scheme's model (valid values, extreme
           numbers, wrong types, unknown keys; array values - nested lists regular, ragged
           or mixed, NumPy arrays of several dtypes - for a constant's ``value`` and an STFT
           window, with the drawn shape often one they fit), then the spec pipeline
``plan``   a plan (rules, defaults, seed - on and past the edges of [0, 2**64 - 1]) and a
           small NumPy model (several dtypes complex included, read-only, shared and
           overlapping arrays, a Conv1D kernel): ``initspec.plan``, then ``initspec.apply``

The spec pipeline: ``parse`` -> ``resolve`` (shape, layout) -> ``explain``'s text and the
native calls -> the NumPy initializer (dtype, seed).

Invariants (a violation is a :class:`Finding`):

* only :class:`initspec.SpecError` escapes the public API;
* every resolved law's numbers are finite (mean, std, bounds where finite by nature);
* a drawn tensor has the shape and dtype asked for and holds no inf or NaN (complex: in
  either part); a random law never fills a tensor of 64 or more elements with one repeated
  value (all zeros); a constant - a number or an array broadcast - is written exactly where
  the dtype holds it (else rounded to it; never into an integer dtype that does not hold
  it), with imaginary part 0; an STFT kernel is within its dtype's tolerance of the float64
  kernel;
* a failed ``apply`` leaves every array byte-identical (default mode included: every plan
  error surfaces before anything is drawn); a manifest is strict JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

import initspec
from initspec import SpecError

__all__ = ["Finding", "Reader", "decode", "run_case", "one_input", "signature", "encode_case", "decode_case"]

MODES = ("text", "spec", "plan")
DTYPES = ("float32", "float64", "float16", "bfloat16", "int8", "uint8", "int32", "bool", "complex64", "complex128")
LAYOUTS: tuple[Any, ...] = (None, "torch", "keras", "jax", "flax", {"in_axes": [0], "out_axes": [1]},
                            {"in_axes": [], "out_axes": [-1], "batch_axes": [0]})
#: Numbers that sit on edges: zero, signs, tiny and huge, float limits, integer limits.
FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, 1e-5, 1e-9, 1e-38, 1e-45, 1e-50, 1e-300, 5e-324, 1e5, 7e4,
          65504.0, 65520.0, 3.4e38, 3.5e38, 1e200, 1e300, 1.7976931348623157e308, 1.00000001, 0.95, 0.999999,
          math.inf, -math.inf, math.nan, 1e-3, 0.02, 0.05, -1e-5, 300.0, 127.0, 128.0, 255.0, 256.0)
INTS = (0, 1, -1, 2, 3, 300, 255, 256, -129, 2**31, 2**63, 2**64, 2**70, 2**1024, 10**4299, 10**5000)
STRINGS = ("he", "normal", "uniform", "fan_in", "fan_avg", "relu", "leaky_relu", "tanh", "gelu", "std",
           "absolute", "result", "parent", "truncated_normal", "", "\u0441", "x" * 50, "1e5", "nan")
PATHS = ("*", "enc.*", "dec.*", "*.weight", "*.bias", "norm.scale", "enc.weight", "dec.weight", "nope.*",
         "enc.wieght")
ROLES = ("weight", "bias", "scale", "offset", "embedding", "other")
#: Tensors at most this big are drawn (bigger ones are only resolved).
MAX_DRAW = 4096
#: The schemes that take arrays (a constant's value, an STFT window).
ARRAY_SCHEMES = ("constant", "keras.constant", "jax.constant", "flax.constant", "keras.stft", "keras.stft")
#: Specs that plans usually apply (so a plan draws often enough to exercise seeds and dtypes).
PLAIN_SPECS = ({"scheme": "normal", "std": 0.02}, {"scheme": "zeros"}, {"scheme": "he"}, {"scheme": "glorot"},
               {"scheme": "torch.kaiming_uniform"}, {"scheme": "jax.truncated_normal"}, {"scheme": "constant", "value": 3},
               {"scheme": "constant", "value": [1.0, 2.0]}, {"scheme": "constant", "value": [[0.5], [-1.0]]},
               {"scheme": "keras.constant", "value": [[[1, 2]]]}, {"scheme": "keras.stft", "window": "hamming"},
               {"scheme": "keras.stft", "side": "imag", "scaling": "spectrum", "periodic": True})
#: Seeds on the edges of ``sampling.check_seed``'s [0, 2**64 - 1] (and past them).
SEEDS = (0, 1, 7, 12345, 2**31 - 1, 2**32 - 1, 2**32, 2**32 + 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -1, -2**63,
         2**64, 2**70, 10**5000, True, "0", 1.5, None)
#: The dtypes of NumPy arrays given as values (``>f8``: big-endian).
ARRAY_DTYPES = ("float64", "float32", "float16", "int8", "int32", "int64", "uint8", "uint64", "bool", "complex64",
                ">f8", "bfloat16")
#: Array entries on the edges: integers float64 holds exactly and ones it does not, dtype limits.
ARRAY_INTS = (0, 1, -1, 2, 3, 127, 128, -128, -129, 255, 256, 65504, 65520, 2**24 + 1, 2**31 - 1, -2**31, 2**53,
              2**53 + 1, 2**53 + 2, 2**63 - 1, -2**63, 2**64 - 1, 2**64, 2**1024, 10**400)


class Finding(AssertionError):
    """An invariant the input broke (or an exception other than SpecError)."""


class Reader:
    """Bytes as a stream of choices; reads past the end give zeros (the first choice)."""

    def __init__(self, data: bytes):
        self.data, self.i = data, 0

    def byte(self) -> int:
        if self.i >= len(self.data):
            return 0
        self.i += 1
        return self.data[self.i - 1]

    def below(self, n: int) -> int:
        if n <= 1:
            return 0
        v = self.byte() if n <= 256 else self.byte() | self.byte() << 8
        return v % n

    def pick(self, seq: Any) -> Any:
        seq = list(seq)
        return seq[self.below(len(seq))]

    def chance(self, k: int) -> bool:
        """True with probability about 1/k."""
        return self.below(k) == 0

    def rest(self) -> bytes:
        out, self.i = self.data[self.i:], len(self.data)
        return out

    def float(self) -> float:
        how = self.below(4)
        if how == 0 and self.i + 8 <= len(self.data):
            raw = self.data[self.i:self.i + 8]
            self.i += 8
            return float(np.frombuffer(raw, dtype="<f8")[0])
        if how == 1:
            return self.pick(FLOATS) * self.pick((1, -1, 10, 0.1, 3))
        return self.pick(FLOATS)

    def number(self) -> Any:
        return self.pick(INTS) if self.chance(3) else self.float()


# ----------------------------------------------------------------------------- decoding


def _choices(annotation: Any) -> list[str]:
    """The strings of the ``Literal[...]`` parts of an annotation (not the quoted class name of
    ``<class 'float'>``, nor a pydantic ``Tag``'s)."""
    return [c for lit in re.findall(r"Literal\[([^\]]*)\]", str(annotation)) for c in re.findall(r"'([^']*)'", lit)]


def _value(r: Reader, annotation: Any) -> Any:
    """A value for a field: usually what the annotation wants, sometimes something else."""
    text = str(annotation)
    choices = _choices(annotation)
    kind = r.below(10)
    if kind == 0:
        return r.pick((True, None, "x", [], {}, [1, 2], {"a": 1}))
    if kind == 1:
        return r.number()
    if kind == 2:
        return r.pick(STRINGS)
    if "Gain" in text or "ActivationGain" in text or "HeNonlinearity" in text:
        form = r.below(4)
        if form == 0:
            return {"nonlinearity": "leaky_relu", "negative_slope": r.float()}
        if form == 1:
            return {"activation": r.pick(("gelu", "elu", "relu", "tanh", "silu", "nope")),
                    **({"alpha": r.float()} if r.chance(2) else {})}
        if form == 2 and choices:
            return r.pick(choices)
        return r.float()
    if "Axes" in text and "tuple" not in text:
        return r.pick(LAYOUTS[5:])
    if "tuple" in text:  # axis tuples
        return [r.pick((-3, -2, -1, 0, 1, 2, 7)) for _ in range(r.below(3))]
    if "ArrayValue" in text and r.chance(2):  # a constant's value, an STFT window
        return _array_value(r)
    if re.search(r"\bbool\b", text):
        return r.pick((True, False))
    # "int" as a word: "initspec.arrays.ArrayValue" is not an integer field
    if re.search(r"\bint\b", text) and not re.search(r"\bfloat\b", text):
        return r.pick(INTS)
    if choices:
        return r.pick(choices)
    return r.float()


# ----------------------------------------------------------------------------- array values


def _array_shape(r: Reader) -> list[int]:
    """A small shape: mostly 1-3 axes of lengths that meet the drawn shapes (1 broadcasts)."""
    return [r.pick((1, 2, 3, 4, 1, 0, 5, 8, 10, 16)) for _ in range(1 + r.below(3))]


def _entry(r: Reader) -> Any:
    """One entry of a nested list: mostly a number, sometimes an integer beyond float64, a
    bool, a string, a list, a NumPy scalar."""
    k = r.below(16)
    if k < 8:
        v = r.float()
        return v if math.isfinite(v) else 1.0
    if k < 12:
        return r.pick(ARRAY_INTS[:16])
    if k == 12:
        return r.pick(ARRAY_INTS)
    if k == 13:
        return r.pick((True, False, None, "1", "nan", [], [1.0], {"a": 1}))
    if k == 14:
        return _np_scalar(r)
    return r.float()  # inf and NaN too


def _np_scalar(r: Reader) -> Any:
    name = r.pick(("float32", "float64", "float16", "int64", "uint64", "int8", "bool", "complex128"))
    value = r.pick((0, 1, -1, 2, 0.5, 3e38, 70000.0, 2**63 - 1, math.inf, math.nan))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return np.array(value).astype(name)[()]
        except (OverflowError, ValueError):
            return np.dtype(name).type(0)


def _nested(r: Reader, shape: list[int], fill: Any) -> Any:
    if not shape:
        return fill()
    return [_nested(r, shape[1:], fill) for _ in range(shape[0])]


def _fill(r: Reader) -> Any:
    """How the entries of an array are chosen: all the same, counting, or each its own."""
    how = r.below(4)
    if how == 0:
        same = _entry(r)
        return lambda: same
    if how == 1:
        count = iter(range(10**6))
        step = r.pick((1, 0.5, -0.25, 1e-3, 1e5))
        return lambda: next(count) * step
    return lambda: _entry(r)


def _array_value(r: Reader) -> Any:
    """An array value: a nested list (regular, ragged, mixed depths, empty) or a NumPy array
    (several dtypes, 0-d, Fortran order, read-only)."""
    if r.chance(3):
        return _np_array(r)
    shape = _array_shape(r)
    value = _nested(r, shape, _fill(r))
    if r.chance(6):  # ragged: one row one entry short or long, or a number where a row goes
        if len(shape) >= 2 and value and value[0]:
            row = value[r.below(len(value))]
            how = r.below(3)
            if how == 0 and row:
                row.pop()
            elif how == 1:
                row.append(row[0] if row else 1.0)
            else:
                value[r.below(len(value))] = 1.0
        elif value:
            value[r.below(len(value))] = [1.0, 2.0] if r.chance(2) else []
    if r.chance(32):
        value = r.pick(([], [[]], [[], []], [[[]]], [[1.0], [[2.0]]]))
    return value


def _np_array(r: Reader) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _np_array_quiet(r)


def _np_array_quiet(r: Reader) -> np.ndarray:
    name = r.pick(ARRAY_DTYPES)
    shape = [] if r.chance(8) else _array_shape(r)
    n = math.prod(shape)
    if name in ("int8", "int32", "int64", "uint8", "uint64"):
        info = np.iinfo(name)
        fill = _fill(r)
        raw = []
        for _ in range(n):
            v = fill()
            if isinstance(v, float):
                v = int(v) if math.isfinite(v) and abs(v) < 1e30 else r.pick(ARRAY_INTS)
            elif not isinstance(v, int):
                v = r.pick(ARRAY_INTS)
            raw.append(min(max(v, int(info.min)), int(info.max)))
        a = np.array(raw, dtype=name).reshape(shape)
    else:
        fill = _fill(r)
        raw = []
        for _ in range(n):
            v = fill()
            ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_))
            raw.append(float(v) if ok and abs(v) < 1e308 else r.float())
        a = np.array(raw, dtype=np.float64).reshape(shape).astype(_np_dtype(name))
    if a.ndim >= 2 and r.chance(4):
        a = np.asfortranarray(a)
    if r.chance(6):
        a.setflags(write=False)
    return a


def _np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _value_shape(value: Any) -> list[int] | None:
    """The shape of a regular nested list or array value (None for anything else)."""
    if isinstance(value, np.ndarray):
        return list(value.shape)
    if not isinstance(value, list):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.array(value, dtype=object)
    except (ValueError, TypeError):
        return None
    return list(a.shape) if all(not isinstance(x, list) for x in a.ravel()) else None


def _fit_shape(r: Reader, draw: dict[str, Any], spec: Any) -> None:
    """Often make the drawn shape one the spec's array can fill: a constant's value broadcast
    (axes of length 1 stretched, leading axes added), an STFT kernel (frame_length, 1, fft_bins)."""
    if not isinstance(spec, dict):
        return
    scheme = spec.get("scheme")
    if scheme == "keras.stft" and not r.chance(4):
        window = _value_shape(spec.get("window"))
        t = window[0] if window and len(window) == 1 and not r.chance(8) else r.pick((1, 2, 3, 4, 5, 8, 16, 64, 400))
        f = r.pick((2, 3, 5, 9, 17, 1, 0, 65))
        if r.chance(2):
            draw["layout"] = "torch"
            draw["shape"] = [f, 1, t]
        else:
            draw["layout"] = r.pick((None, "jax", "keras", "flax"))
            draw["shape"] = [t, 1, f]
        return
    shape = _value_shape(spec.get("value"))
    if shape is None or r.chance(4):
        return
    out = [d if d != 1 else r.pick((1, 2, 3)) for d in shape]
    draw["shape"] = [r.pick((1, 2, 3)) for _ in range(r.below(3))] + out


def _spec(r: Reader) -> dict[str, Any]:
    from initspec.schemes import model_of, scheme_names

    scheme = r.pick(sorted(scheme_names()))
    if r.chance(6):  # the schemes with array values and the STFT kernel, more often
        scheme = r.pick(ARRAY_SCHEMES)
    model = model_of(scheme)
    spec: dict[str, Any] = {"scheme": scheme}
    for name, info in model.model_fields.items():
        if name != "scheme" and not r.chance(4):
            spec[name] = _value(r, info.annotation)
    if r.chance(16):
        spec[r.pick(("stddev", "sсheme", "extra", "Std"))] = r.float()
    if r.chance(32):
        spec["scheme"] = r.pick((None, 3, "hee", "torch.unifrom", "\U0010ffff"))
    return spec


def _shape(r: Reader) -> list[int]:
    shape = [r.pick((0, 1, 2, 3, 4, 5, 8, 10, 16)) for _ in range(r.below(5))]
    if r.chance(16):
        shape.append(r.pick((2**31, 10**6, 2**64, 2**1024)))
    return shape


def _draw_args(r: Reader) -> dict[str, Any]:
    return {"shape": _shape(r), "layout": r.pick(LAYOUTS), "dtype": r.pick(DTYPES), "seed": r.pick(SEEDS)}


def _plan_spec(r: Reader) -> Any:
    if r.chance(3):
        return dict(r.pick(PLAIN_SPECS))
    return _spec(r)


def _plan(r: Reader) -> dict[str, Any]:
    plan: dict[str, Any] = {}
    if r.chance(4):  # one rule for every parameter: a plan that usually draws (seeds, dtypes, arrays)
        if r.chance(2):
            plan["seed"] = r.pick(SEEDS)
        plan["rules"] = [{"match": {"path": "*"}, "init": _spec(r) if r.chance(4) else dict(r.pick(PLAIN_SPECS))}]
        return plan
    if r.chance(2):
        plan["seed"] = r.pick((0, 3, *SEEDS))
    if r.chance(2):
        plan["defaults"] = {r.pick(ROLES): _plan_spec(r) for _ in range(1 + r.below(3))}
    if r.chance(8):
        plan["base"] = r.pick(("torch-defaults", "keras-defaults", "flax-defaults", "nope"))
    rules = []
    for _ in range(r.below(4)):
        match: dict[str, Any] = {}
        if r.chance(2):
            match["path"] = r.pick(PATHS)
        if r.chance(3):
            match["role"] = r.pick(ROLES)
        if r.chance(6):
            match["kind"] = r.pick(("dense", "conv", "norm", "other"))
        rules.append({"match": match, "init": _plan_spec(r), **({"fans": "native"} if r.chance(6) else {})})
    if rules or not plan:
        plan["rules"] = rules
    return plan


def _model(r: Reader) -> dict[str, Any]:
    """A recipe for a small NumPy model: arrays (name, shape, dtype, flags) and sharing."""
    arrays = []
    names = ["enc.weight", "enc.bias", "dec.weight", "dec.bias", "norm.scale", "norm.bias", "emb.embedding"]
    for name in names[: 1 + r.below(len(names))]:
        leaf = name.rsplit(".", 1)[1]
        shape = [r.pick((1, 2, 3, 4, 8, 10))] if leaf in ("bias", "scale") else [r.pick((1, 2, 3, 4, 8, 10)),
                                                                                 r.pick((1, 2, 3, 4, 8, 10))]
        arrays.append({"name": name, "shape": shape,
                       "dtype": r.pick(("float32", "float32", "float64", "float16", "int32", "int8", "bool",
                                        "complex64", "complex128")),
                       "read_only": r.chance(12), "share": None})
    if len(arrays) > 1 and r.chance(6):  # the same array under two names, or an overlapping view
        a, b = r.below(len(arrays)), r.below(len(arrays))
        if a != b:
            arrays[b]["share"] = {"of": arrays[a]["name"], "view": r.pick(("same", "same", "row", "transpose"))}
    layout = r.pick(("jax", "torch"))
    if r.chance(3):  # a Conv1D kernel, often the (frame_length, 1, fft_bins) of an STFT
        t, c, f = r.pick((1, 2, 4, 5, 8, 16)), r.pick((1, 1, 2)), r.pick((2, 3, 5, 9, 1))
        arrays.append({"name": "conv.weight", "shape": [f, c, t] if layout == "torch" else [t, c, f],
                       "dtype": r.pick(("float32", "float64", "float16", "complex64", "int8")),
                       "read_only": False, "share": None})
    return {"arrays": arrays, "layout": layout, "nested": r.chance(3)}


def decode(data: bytes) -> dict[str, Any]:
    """The case an input stands for (plain data)."""
    r = Reader(data)
    mode = MODES[r.below(len(MODES))]
    if mode == "text":
        fmt = r.pick(("yaml", "json"))
        kind = r.pick((None, "spec", "plan"))
        draw = _draw_args(r)
        return {"mode": "text", "fmt": fmt, "kind": kind, "draw": draw, "text": r.rest()}
    if mode == "spec":
        spec, draw = _spec(r), _draw_args(r)
        _fit_shape(r, draw, spec)
        return {"mode": "spec", "spec": spec, "draw": draw}
    return {"mode": "plan", "plan": _plan(r), "model": _model(r), "transactional": r.chance(2),
            "seed": r.pick((None, None, *SEEDS))}


# ----------------------------------------------------------------------------- corpus encoding


def _enc(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return {"$ndarray": {"dtype": _dtype_key(x.dtype), "shape": list(x.shape),
                             "data": base64.b64encode(np.ascontiguousarray(x).tobytes()).decode(),
                             "fortran": bool(x.ndim >= 2 and x.flags.f_contiguous and not x.flags.c_contiguous),
                             "read_only": not x.flags.writeable}}
    if isinstance(x, np.generic):
        return {"$np": {"dtype": _dtype_key(x.dtype), "data": base64.b64encode(x.tobytes()).decode()}}
    if isinstance(x, bytes):
        return {"$bytes": base64.b64encode(x).decode()}
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return x if abs(x) < 2**53 else {"$int": hex(x)}
    if isinstance(x, float):
        return x if math.isfinite(x) else {"$float": repr(x)}
    if isinstance(x, dict):
        return {k: _enc(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_enc(v) for v in x]
    raise TypeError(type(x))


def _dtype_key(dt: np.dtype) -> str:
    return "bfloat16" if dt.name == "bfloat16" else dt.str


def _dec(x: Any) -> Any:
    if isinstance(x, dict) and set(x) == {"$ndarray"}:
        d = x["$ndarray"]
        a = np.frombuffer(base64.b64decode(d["data"]), dtype=_np_dtype(d["dtype"])).reshape(d["shape"]).copy()
        if d.get("fortran"):
            a = np.asfortranarray(a)
        a.setflags(write=not d.get("read_only"))
        return a
    if isinstance(x, dict) and set(x) == {"$np"}:
        d = x["$np"]
        return np.frombuffer(base64.b64decode(d["data"]), dtype=_np_dtype(d["dtype"]))[0]
    if isinstance(x, dict):
        if set(x) == {"$bytes"}:
            return base64.b64decode(x["$bytes"])
        if set(x) == {"$int"}:
            return int(x["$int"], 16)
        if set(x) == {"$float"}:
            return float(x["$float"])
        return {k: _dec(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_dec(v) for v in x]
    return x


def encode_case(case: dict[str, Any]) -> str:
    return json.dumps(_enc(case), indent=1, sort_keys=True, allow_nan=False) + "\n"


def decode_case(text: str) -> dict[str, Any]:
    return _dec(json.loads(text))


# ----------------------------------------------------------------------------- running


def _finite_law(dist: Any) -> None:
    from initspec import distributions as D

    numbers = {"mean": dist.mean, "std": dist.std}
    if not isinstance(dist, (D.Normal, D.Identity, D.Dirac, D.DeltaOrthogonal, D.Sparse)):
        numbers.update(low=dist.low, high=dist.high)
    for field in ("value", "loc", "scale", "gain"):
        if hasattr(dist, field):
            numbers[field] = getattr(dist, field)
    bad = {k: v for k, v in numbers.items()
           if not (np.all(np.isfinite(v.array)) if hasattr(v, "array") else math.isfinite(v))}
    if bad:
        raise Finding(f"resolved law with non-finite numbers {bad}: {dist.describe()}")


def _check_drawn(x: np.ndarray, dist: Any, dtype: str, shape: list[int]) -> None:
    if tuple(x.shape) != tuple(shape) or x.dtype != _np_dtype(dtype):
        raise Finding(f"drew a {x.dtype} {x.shape} tensor for a {dtype} {tuple(shape)} one: {dist.describe()}")
    if x.dtype.kind in "fc" or dtype == "bfloat16":
        f = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
        if not (np.all(np.isfinite(f.real)) and np.all(np.isfinite(f.imag))):
            raise Finding(f"drew non-finite values for {dist.describe()} in {dtype}")
        if dist.random and f.size >= 64 and np.all(f == f.flat[0]) and dist.kind not in ("sparse",):
            raise Finding(f"a random law filled {f.size} values with one value {f.flat[0]!r}: {dist.describe()} "
                          f"in {dtype}")
    if dist.kind in ("constant", "constant_array") and x.size:
        _check_written(x, dist, dtype)
    if dist.kind == "stft" and x.size:
        _check_stft(x, dist, dtype)


def _rounded(v: np.ndarray, dtype: str) -> list[np.ndarray]:
    """``v`` (float64) as a tensor of ``dtype`` stores it, read back as float64 (complex128 for
    complex dtypes): rounded once, and - half precision - through float32 as documented."""
    dt = _np_dtype(dtype)
    back = np.complex128 if dt.kind == "c" else np.float64
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = [v.astype(dt).astype(back)]
        if dtype in ("float16", "bfloat16"):
            out.append(v.astype(np.float32).astype(dt).astype(back))
    return out


def _check_written(x: np.ndarray, dist: Any, dtype: str) -> None:
    """A constant (scalar or array, broadcast) is written exactly where the dtype holds the
    value, rounded to a neighbour elsewhere, with imaginary part 0 in a complex tensor."""
    if dist.kind == "constant":
        want = np.full(x.shape, dist.value, dtype=np.float64)
    else:
        want = np.broadcast_to(dist.value.array, x.shape)
    got = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    if got.dtype.kind == "c" and np.any(got.imag != 0):
        raise Finding(f"{dist.kind} written with a nonzero imaginary part in {dtype}: {dist.describe()[:60]}")
    got = got.real
    options = _rounded(want, dtype)
    held = options[0] == want
    if x.dtype.kind in "iub" and not held.all():  # lossy_cast is refused before anything is written
        i = int(np.flatnonzero(~held)[0])
        raise Finding(f"{dist.kind} entry {want.flat[i]!r} written into {dtype}, which does not hold it")
    if not np.array_equal(got[held], want[held]):
        i = int(np.flatnonzero((got != want) & held)[0])
        raise Finding(f"{dist.kind} entry {want.flat[i]!r} written as {got.flat[i]!r} in {dtype} (which holds it)")
    ok = np.zeros(x.shape, dtype=bool)
    for o in options:
        ok |= got == o.real
    if not np.all(ok | held):
        i = int(np.flatnonzero(~(ok | held))[0])
        raise Finding(f"{dist.kind} entry {want.flat[i]!r} written as {got.flat[i]!r} in {dtype} (not a rounding "
                      "of it)")


#: How far an STFT kernel in a dtype may be from the float64 one (relative to its largest
#: entry): Keras computes it in float32 (4e-4 at frame_length 2048), then rounds.
STFT_TOLERANCE = {"float64": 1e-9, "complex128": 1e-9, "float32": 2e-3, "complex64": 2e-3, "float16": 3e-3,
                  "bfloat16": 1.6e-2}


def _check_stft(x: np.ndarray, dist: Any, dtype: str) -> None:
    import dataclasses

    ref = dist.values("float64")
    other = dataclasses.replace(dist, side="imag" if dist.side == "real" else "real").values("float64")
    got = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    if got.dtype.kind == "c":
        if np.any(got.imag != 0):
            raise Finding(f"STFT kernel written with a nonzero imaginary part in {dtype}")
        got = got.real
    top = max(float(np.max(np.abs(ref))), float(np.max(np.abs(other))))  # the scale of the kernel: w / s
    tol = STFT_TOLERANCE.get(dtype)
    if tol is None or not math.isfinite(top):
        return
    err = float(np.max(np.abs(got - ref)))
    if not err <= tol * top + 1e-300:
        raise Finding(f"STFT kernel in {dtype} is {err:.3g} from the float64 one (scale {top:.3g}): "
                      f"{dist.describe()[:80]}")


def _spec_pipeline(spec: Any, draw: dict[str, Any]) -> None:
    from initspec.adapters import numpy as isnp
    from initspec.native import native_calls

    parsed = initspec.parse(spec)
    for fmt in ("yaml", "json"):  # a parsed spec round-trips through its file text
        again = initspec.loads(initspec.dumps(parsed, fmt=fmt), fmt=fmt, kind="spec")
        if again != parsed:
            raise Finding(f"{fmt} round trip changed the spec: {parsed!r} -> {again!r}")
    dist = initspec.resolve(parsed, draw["shape"], draw["layout"])
    _finite_law(dist)
    dist.describe()
    if dist.derivation is not None:
        dist.derivation.lines()
    native_calls(dist)
    numel = math.prod(draw["shape"])
    if numel > MAX_DRAW:
        return
    layout = draw["layout"] if draw["layout"] is not None else "jax"
    x = isnp.initializer(parsed, layout=layout)(tuple(draw["shape"]), seed=draw["seed"], dtype=draw["dtype"])
    _check_drawn(x, dist, draw["dtype"], draw["shape"])


def _build_model(recipe: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    flat: dict[str, np.ndarray] = {}
    for a in recipe["arrays"]:
        share = a["share"]
        if share is not None and share["of"] in flat:
            base = flat[share["of"]]
            arr = {"same": base, "row": base[:1], "transpose": base.T}[share["view"]]
        else:
            arr = np.ones(a["shape"], dtype=a["dtype"])
        flat[a["name"]] = arr
    for a in recipe["arrays"]:
        if a["read_only"]:
            flat[a["name"]].flags.writeable = False
    if recipe["nested"]:
        tree: dict[str, Any] = {}
        for name, arr in flat.items():
            layer, leaf = name.split(".")
            tree.setdefault(layer, {})[leaf] = arr
    else:
        tree = dict(flat)
    from initspec.adapters.numpy import Params

    return Params(tree, layout=recipe["layout"]), flat


def _strict_json(text: str) -> Any:
    def bad(name: str) -> Any:
        raise Finding(f"the manifest is not strict JSON: it holds {name}")

    return json.loads(text, parse_constant=bad)


def _plan_pipeline(case: dict[str, Any]) -> None:
    model, flat = _build_model(case["model"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = initspec.plan(case["plan"], model, seed=case["seed"])
        except SpecError:
            table = None
        if table is not None:
            for row in table.rows:
                _finite_law(row.distribution)
            try:
                json.dumps(table.to_json(), allow_nan=False)
            except SpecError:  # (a ValueError) a number the table cannot write, said so: apply still runs
                pass
            except ValueError as exc:
                raise Finding(f"the plan table is not strict JSON: {str(exc)[:80]}") from None
            table.to_text()
        before = {k: (v.copy(), v.flags.writeable) for k, v in flat.items()}
        try:
            manifest = initspec.apply(case["plan"], model, seed=case["seed"], transactional=case["transactional"])
        except SpecError:
            changed = [k for k, (old, _) in before.items() if old.tobytes() != flat[k].tobytes()]
            if changed:
                raise Finding(f"apply raised SpecError after writing {changed}") from None
            return
    _strict_json(manifest.dumps())
    shared = {a["name"] for a in case["model"]["arrays"] if a["share"] is not None}
    shared |= {a["share"]["of"] for a in case["model"]["arrays"] if a["share"] is not None}
    for row in manifest.table.rows:
        arr = flat.get(row.param.native_path)
        if arr is None:
            continue
        if arr.dtype.kind in "fc" and not (np.all(np.isfinite(arr.real)) and np.all(np.isfinite(arr.imag))):
            raise Finding(f"apply wrote non-finite values into {row.path}: {row.distribution.describe()}")
        dist = row.distribution
        # a constant (array) written whole into an array no other name shares: exactly its value
        if (dist.kind in ("constant", "constant_array") and row.block is None and row.param.native_path not in shared
                and tuple(arr.shape) == tuple(getattr(dist, "shape", None) or arr.shape) and arr.size):
            _check_written(arr, dist, arr.dtype.name)


def _positions(node: Any, out: dict, path: tuple = ()) -> dict:
    from initspec import _document

    if isinstance(node, _document._Node):
        out[path] = node.pos
        if node.keys is not None:
            out.update({path + ("key", k): p for k, p in node.keys.items()})
            for k, v in node.kids.items():
                _positions(v, out, path + (k,))
        else:
            for i, v in enumerate(node.kids):
                _positions(v, out, path + (i,))
    else:
        out[path] = node
    return out


def _same_with_and_without_libyaml(data: bytes) -> None:
    """A YAML text libyaml reads (the fast path) reads the same - values and positions - with
    PyYAML's pure-Python parser, which decides every text libyaml refuses."""
    from initspec import _document

    if _document._CParser is None:
        return
    try:
        text = _document._decode(data, None, _document.MAX_BYTES_DEFAULT)
    except SpecError:
        return
    if _document._LIBYAML_DIFFERS.search(text):
        return
    try:
        fast = _document._load_events(_document._CParser(text), None, _document.MAX_DEPTH_DEFAULT)
    except Exception:  # noqa: BLE001 - the pure parser decides
        return
    try:
        pure = _document._load_pure(text, None, _document.MAX_DEPTH_DEFAULT)
    except SpecError as exc:
        raise Finding(f"libyaml reads a text the pure parser refuses: {exc.errors[0].message[:60]}") from None
    if repr(fast.data) != repr(pure.data) or _positions(fast._locs, {}) != _positions(pure._locs, {}):
        raise Finding("libyaml and the pure parser read a text differently")


def run_case(case: dict[str, Any]) -> None:
    """Run one decoded case; raises :class:`Finding` (or the escaping exception) on a violation."""
    try:
        if case["mode"] == "text":
            data = case["text"]
            if case["fmt"] == "yaml":
                _same_with_and_without_libyaml(data)
            try:
                obj = initspec.loads(data, fmt=case["fmt"], kind=case["kind"])
            except SpecError:
                return
            if isinstance(obj, initspec.BaseSpec):
                _spec_pipeline(obj, case["draw"])
        elif case["mode"] == "spec":
            _spec_pipeline(case["spec"], case["draw"])
        else:
            _plan_pipeline(case)
    except SpecError as exc:
        str(exc)  # rendering must not raise either
        json.dumps([e.to_dict() for e in exc.errors], allow_nan=False)
    except Finding:
        raise
    except RecursionError as exc:  # the message of a RecursionError's traceback is huge; keep it short
        raise Finding(f"RecursionError: {str(exc)[:200]}") from exc


def signature(exc: BaseException) -> str:
    """A short stable name for a finding: the exception type and the innermost initspec frame."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/initspec/" in f.filename or "/adapters/" in f.filename or "/fuzz/" in f.filename]
    where = f"{frames[-1].filename.rsplit('/', 2)[-2:]}:{frames[-1].lineno}" if frames else "?"
    text = str(exc) if isinstance(exc, Finding) else ""
    text = re.sub(r"[-+]?\d[\d.e+-]*", "N", text)[:80]
    return f"{type(exc).__name__} at {where} {text}".strip()


def one_input(data: bytes) -> None:
    """The fuzz target: decode, run; anything but a clean return or a SpecError propagates."""
    run_case(decode(data))


def case_id(case: dict[str, Any]) -> str:
    return hashlib.sha1(encode_case(case).encode()).hexdigest()[:12]


@dataclass
class Result:
    runs: int
    findings: dict[str, str]  # signature -> corpus file
