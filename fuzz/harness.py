"""The fuzz target: one input in, every public path it reaches exercised, invariants checked.

An input is a byte string (from atheris, hypothesis or a corpus file).  Its first byte picks
a *mode*; the rest is read by :class:`Reader`, which turns bytes into choices (a scheme name,
a field value, a shape, a dtype ...), so coverage-guided mutation of the bytes explores the
choices.  Every input is first *decoded* into a :class:`Case` - plain data, saved as JSON in
the regression corpus (``tests/fuzz_corpus/``) - and then *run*: decoding and running are
separate so a corpus case replays the same way whatever the byte decoder becomes later.

Modes:

``text``   the bytes as a YAML or JSON file: ``initspec.loads`` (spec, plan or either), then
           the spec pipeline below on what parses
``spec``   a spec built field by field from the scheme's model (valid values, extreme
           numbers, wrong types, unknown keys), then the spec pipeline
``plan``   a plan (rules, defaults, seed) and a small NumPy model (several dtypes, read-only,
           shared and overlapping arrays): ``initspec.plan``, then ``initspec.apply``

The spec pipeline: ``parse`` -> ``resolve`` (shape, layout) -> ``explain``'s text and the
native calls -> the NumPy initializer (dtype, seed).

Invariants (a violation is a :class:`Finding`):

* only :class:`initspec.SpecError` escapes the public API;
* every resolved law's numbers are finite (mean, std, bounds where finite by nature);
* no drawn tensor holds inf or NaN, a random law never fills a tensor of 64 or more
  elements with one repeated value (all zeros), an integer constant is written exactly;
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
DTYPES = ("float32", "float64", "float16", "bfloat16", "int8", "uint8", "int32", "bool")
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
    return re.findall(r"'([^']*)'", str(annotation))


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
    if "int" in text.lower() and "float" not in text.lower():
        return r.pick(INTS)
    if choices:
        return r.pick(choices)
    return r.float()


def _spec(r: Reader) -> dict[str, Any]:
    from initspec.schemes import model_of, scheme_names

    scheme = r.pick(sorted(scheme_names()))
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
    return {"shape": _shape(r), "layout": r.pick(LAYOUTS), "dtype": r.pick(DTYPES),
            "seed": r.pick((0, 1, 7, -1, 2**64, 2**70, True, "0", 12345))}


def _plan(r: Reader) -> dict[str, Any]:
    plan: dict[str, Any] = {}
    if r.chance(2):
        plan["seed"] = r.pick((0, 3, -1, 2**64, 2**63, 10**5000, True, 1.5))
    if r.chance(2):
        plan["defaults"] = {r.pick(ROLES): _spec(r) for _ in range(1 + r.below(3))}
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
        rules.append({"match": match, "init": _spec(r), **({"fans": "native"} if r.chance(6) else {})})
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
                       "dtype": r.pick(("float32", "float32", "float64", "float16", "int32", "int8", "bool")),
                       "read_only": r.chance(12), "share": None})
    if len(arrays) > 1 and r.chance(6):  # the same array under two names, or an overlapping view
        a, b = r.below(len(arrays)), r.below(len(arrays))
        if a != b:
            arrays[b]["share"] = {"of": arrays[a]["name"], "view": r.pick(("same", "same", "row", "transpose"))}
    return {"arrays": arrays, "layout": r.pick(("jax", "torch")), "nested": r.chance(3)}


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
        return {"mode": "spec", "spec": _spec(r), "draw": _draw_args(r)}
    return {"mode": "plan", "plan": _plan(r), "model": _model(r), "transactional": r.chance(2),
            "seed": r.pick((None, None, 0, 5, -1, 2**64))}


# ----------------------------------------------------------------------------- corpus encoding


def _enc(x: Any) -> Any:
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


def _dec(x: Any) -> Any:
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
    bad = {k: v for k, v in numbers.items() if not math.isfinite(v)}
    if bad:
        raise Finding(f"resolved law with non-finite numbers {bad}: {dist.describe()}")


def _check_drawn(x: np.ndarray, dist: Any, dtype: str) -> None:
    if x.dtype.kind == "f" or dtype == "bfloat16":
        f = x.astype(np.float64)
        if not np.all(np.isfinite(f)):
            raise Finding(f"drew non-finite values for {dist.describe()} in {dtype}")
        if dist.random and f.size >= 64 and np.all(f == f.flat[0]) and dist.kind not in ("sparse",):
            raise Finding(f"a random law filled {f.size} values with one value {f.flat[0]!r}: {dist.describe()} "
                          f"in {dtype}")
    elif dist.kind == "constant" and x.size and not np.all(x.astype(np.float64) == dist.value):
        raise Finding(f"constant {dist.value!r} written as {x.flat[0]!r} in {dtype}")


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
    _check_drawn(x, dist, draw["dtype"])


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
    for row in manifest.table.rows:
        arr = flat.get(row.param.native_path)
        if arr is None:
            continue
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise Finding(f"apply wrote non-finite values into {row.path}: {row.distribution.describe()}")


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
