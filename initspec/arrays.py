"""Array values: ``{scheme: constant, value: [[1, 2], [3, 4]]}`` copies a given array.

A constant's ``value`` is a number or an array - a nested list in YAML/JSON, a NumPy array
(or nested lists) from Python.  Arrays are stored as an :class:`ArrayValue`: an immutable,
hashable float64 array (specs are frozen and hashed, so resolution can be cached).

**Shape rule** (Keras' ``Constant`` computes ``value * ones(shape)``): the value must
*broadcast* to the tensor's shape by NumPy's rules - equal axes, axes of length 1, or
missing leading axes - and is stretched to it; a value of the tensor's own shape is copied
as is.  Anything else is a ``shape_mismatch`` :class:`~initspec.ShapeError` naming both
shapes, raised when the spec is resolved for the tensor (before anything is written; plans
resolve every row first).  The array is in the tensor's *storage* order: nothing is
transposed between layouts.

Entries are checked on parse: every row the same length (``ragged_array``), no empty axis
before the last in a NumPy array (``bad_shape``: no nested list has that shape), numbers only
(``wrong_type``, ``bool_as_number``), finite (``non_finite``), and integers that float64
holds exactly (``out_of_range``).  Whether they fit the tensor's dtype (300 into int8, 1e39
into float32) is checked per dtype, element by element, like a scalar constant
(:func:`initspec.sampling.check_dtype`).

Big arrays stay out of messages and manifests: :meth:`ArrayValue.summary` shows arrays of
at most :data:`MAX_SHOWN` elements in full, larger ones by shape, range and SHA-256
(:meth:`ArrayValue.digest`, over the shape and the float64 little-endian bytes).
"""

from __future__ import annotations

import hashlib
import numbers
import reprlib
from typing import Annotated, Any

import numpy as np
from pydantic import Field
from pydantic_core import PydanticCustomError, core_schema

__all__ = ["MAX_SHOWN", "ArrayValue", "ConstantValue", "fits_shape", "or_array", "summarise_arrays", "to_array"]

#: Arrays with at most this many elements are shown in full (messages, ``explain``) and
#: recorded in full in manifests; larger ones by shape, range and SHA-256.
MAX_SHOWN = 64

_EXACT_INT = 2**53  # every integer of at most this magnitude is a float64 number


class ArrayValue:
    """An immutable float64 array, hashable and comparable by shape and bytes."""

    __slots__ = ("_array", "_digest", "_hash")

    def __init__(self, array: Any):
        a = np.array(array, dtype=np.float64, order="C", copy=True)
        a.setflags(write=False)
        self._array = a
        self._hash: int | None = None
        self._digest: str | None = None

    @property
    def array(self) -> np.ndarray:
        """The values (float64, read-only)."""
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._array.shape)

    @property
    def size(self) -> int:
        return int(self._array.size)

    def tolist(self) -> Any:
        return self._array.tolist()

    def digest(self) -> str:
        """``sha256:<hex>`` of the shape and the float64 little-endian bytes."""
        if self._digest is None:
            h = hashlib.sha256(repr(self.shape).encode())
            h.update(self._array.astype("<f8", copy=False).tobytes())
            self._digest = "sha256:" + h.hexdigest()
        return self._digest

    def summary(self) -> str:
        """The array in full when small, else ``array (512, 256), min -1, max 1, sha256:1a2b3c4d5e6f``."""
        if self.size <= MAX_SHOWN:
            return _compact(self.tolist())
        lo, hi = (float(self._array.min()), float(self._array.max())) if self.size else (0.0, 0.0)
        return f"array {_shape_text(self.shape)}, min {lo:.6g}, max {hi:.6g}, {self.digest()[:19]}"

    def record(self) -> Any:
        """What a manifest records: the nested list when small, else shape, range and digest."""
        if self.size <= MAX_SHOWN:
            return self.tolist()
        lo, hi = (float(self._array.min()), float(self._array.max())) if self.size else (0.0, 0.0)
        return {"shape": list(self.shape), "min": lo, "max": hi, "digest": self.digest()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArrayValue):
            return NotImplemented
        # by digest (cached), as the hash is: no copies of large arrays, -0.0 and 0.0 differ as in the hash
        return self is other or (self.shape == other.shape and self.digest() == other.digest())

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.digest())
        return self._hash

    def __repr__(self) -> str:
        return f"ArrayValue({self.summary()})"

    def __len__(self) -> int:
        return len(self._array)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            to_array, serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.tolist()))

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return array_json_schema()


def array_json_schema() -> dict[str, Any]:
    """A nested list of numbers (every row the same length - checked on parse, not by the schema)."""
    return {"title": "NumberArray", "type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "array"}]},
            "description": "A nested list of numbers, broadcast to the tensor's shape (NumPy rules)."}


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _compact(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_compact(v) for v in values) + "]"
    return f"{values:.6g}"


def _where(shape: tuple[int, ...], flat: int) -> str:
    """``value[1][0]`` for the element at C-order position ``flat`` of ``shape``."""
    if not shape:
        return "the value"
    return "entry " + "".join(f"[{int(i)}]" for i in np.unravel_index(flat, shape))


def _fail(code: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(code, message, ctx)


def _check_finite(a: np.ndarray) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise _fail("non_finite", "{where} is {got}: NaN and infinity are not allowed",
                    where=_where(a.shape, i), got=repr(float(a.ravel()[i])))


def _from_numpy(a: np.ndarray) -> ArrayValue:
    if a.dtype.kind == "b":
        raise _fail("bool_as_number", "expected numbers, got a boolean array", value_summary=f"bool array "
                    f"{_shape_text(a.shape)}")
    if a.dtype.kind not in "iuf":
        raise _fail("wrong_type", "expected an array of real numbers, got dtype {dtype}", dtype=str(a.dtype),
                    value_summary=f"{a.dtype} array {_shape_text(a.shape)}")
    if 0 in a.shape[:-1]:  # [[], []] reads back as (2, 0): the text of a spec would lose the axes after it
        raise _fail("bad_shape", "an array with an empty axis before its last ({shape}) has no nested-list form (it "
                    "would be written as one of shape {written}): give a non-empty array, or one whose only empty "
                    "axis is the last", shape=_shape_text(a.shape),
                    written=_shape_text(a.shape[:a.shape.index(0) + 1]),
                    value_summary=f"{a.dtype} array {_shape_text(a.shape)}")
    if a.dtype.kind in "iu" and a.size:
        big = np.abs(a.astype(np.float64)) > _EXACT_INT
        if big.any():
            as_float = a.astype(np.float64)
            lost = big & (as_float.astype(a.dtype) != a)
            if lost.any():
                i = int(np.flatnonzero(lost.ravel())[0])
                raise _fail("out_of_range", "{where} = {got} is not a float64 number (integers beyond 2**53 lose "
                            "digits); initspec stores arrays as float64", where=_where(a.shape, i),
                            got=str(a.ravel()[i]), value_summary=f"{a.dtype} array {_shape_text(a.shape)}")
    out = np.asarray(a, dtype=np.float64)
    _check_finite(out)
    return ArrayValue(out)


def _scalar(x: Any, where: str) -> float:
    if isinstance(x, (bool, np.bool_)):
        raise _fail("bool_as_number", "{where}: expected a number, got a boolean", where=where)
    if isinstance(x, numbers.Integral):
        x = int(x)
        if abs(x) > _EXACT_INT and (abs(x) > 1.7976931348623157e308 or int(float(x)) != x):
            raise _fail("out_of_range", "{where} is not a float64 number (integers beyond 2**53 lose digits); initspec "
                        "stores arrays as float64", where=where)
        return float(x)
    if isinstance(x, numbers.Real):
        return float(x)
    shown = repr(x) if len(repr(x)) <= 40 else repr(x)[:37] + "..."
    raise _fail("wrong_type", "{where}: expected a number (got {got})", where=where, got=shown)


def to_array(value: Any) -> ArrayValue:
    """An :class:`ArrayValue` from a nested list/tuple of numbers or a NumPy array; raises
    pydantic's ``PydanticCustomError`` (turned into a located ``SpecError`` on parse) whose
    context carries ``value_summary``, what the error shows instead of the whole input."""
    try:
        return _to_array(value)
    except PydanticCustomError as exc:
        ctx = dict(exc.context or {})
        if "value_summary" not in ctx:
            ctx["value_summary"] = _input_summary(value)
        raise PydanticCustomError(exc.type, exc.message_template, ctx) from None


def _input_summary(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array {_shape_text(value.shape)}"
    short = reprlib.Repr()
    short.maxlist = short.maxtuple = 6
    short.maxlevel, short.maxstring, short.maxother = 3, 30, 30
    return short.repr(value)


def _to_array(value: Any) -> ArrayValue:
    if isinstance(value, ArrayValue):
        return value
    if isinstance(value, np.ndarray):
        return _from_numpy(value)
    if not isinstance(value, (list, tuple)):
        raise _fail("wrong_type", "expected a nested list of numbers or a NumPy array")
    shape: list[int] = []
    level: list[Any] = [value]
    while level and all(isinstance(x, (list, tuple)) for x in level):
        n = len(level[0])
        for i, row in enumerate(level):
            if len(row) != n:
                where = _where(tuple(shape), i) if shape else "the value"
                raise _fail("ragged_array", "a ragged list: {where} has {got} entries where the first row has {n}; "
                            "every row needs the same length", where=where, got=len(row), n=n)
        shape.append(n)
        level = [x for row in level for x in row]
    if level and any(isinstance(x, (list, tuple)) for x in level):
        i = next(j for j, x in enumerate(level) if isinstance(x, (list, tuple)) != isinstance(level[0], (list, tuple)))
        raise _fail("ragged_array", "a ragged list: {where} mixes numbers and lists at one depth; every row needs "
                    "the same length", where=_where(tuple(shape), i))
    flat = np.empty(len(level), dtype=np.float64)
    for i, x in enumerate(level):
        flat[i] = x if type(x) is float else _scalar(x, _where(tuple(shape), i))
    out = flat.reshape(shape)
    _check_finite(out)
    return ArrayValue(out)


def fits_shape(value: ArrayValue, shape: tuple[int, ...]) -> bool:
    """Whether ``value`` broadcasts to ``shape`` (NumPy rules) without changing it."""
    if len(value.shape) > len(shape):
        return False
    return all(v in (1, s) for v, s in zip(reversed(value.shape), reversed(shape)))


def summarise_arrays(obj: Any) -> Any:
    """``obj`` (JSON data: a spec's or plan's ``to_dict()``) with every large array ``value``
    replaced by its :meth:`ArrayValue.record` (manifests stay small)."""
    if isinstance(obj, dict):
        return {k: (ArrayValue(v).record() if k in ("value", "window") and _big_list(v) else summarise_arrays(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [summarise_arrays(v) for v in obj]
    return obj


def _big_list(v: Any) -> bool:
    """Whether ``v`` is a nested list of more than :data:`MAX_SHOWN` numbers."""
    if not isinstance(v, list):
        return False
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.size > MAX_SHOWN


def or_array(inner: Any) -> Any:
    """``Annotated[Union[inner, ArrayValue], or_array(inner)]`` metadata: a list, tuple or
    NumPy array goes to :func:`to_array`, anything else to ``inner``'s own validation, so each
    keeps its own errors (a union would report both branches' for either)."""

    class _OrArray:
        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
            def route(value: Any, other: Any) -> Any:
                if isinstance(value, (list, tuple, ArrayValue)) or (isinstance(value, np.ndarray) and value.ndim):
                    return to_array(value)
                if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":  # a 0-d array is a number
                    value = value.item()
                return other(value)

            return core_schema.no_info_wrap_validator_function(
                route, handler.generate_schema(inner),
                serialization=core_schema.plain_serializer_function_ser_schema(
                    lambda v: v.tolist() if isinstance(v, ArrayValue) else v))

        @classmethod
        def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
            return {"anyOf": [handler(schema["schema"]), array_json_schema()]}

    return _OrArray


#: A number, or an array broadcast to the tensor's shape (``Constant.value``).
ConstantValue = Annotated[float | ArrayValue, or_array(Annotated[float, Field(strict=True, allow_inf_nan=False)])]
