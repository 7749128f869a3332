"""Errors raised by initspec's public API.

Every problem with user input - a bad file, an unknown scheme, a value out of range, a
shape a scheme cannot take - is reported as :class:`SpecError` (a :class:`ValueError`)
carrying a list of :class:`ErrorDetail`. Each detail names the field path, the file
location when there is one, the value received, what is wrong and how to fix it, and a
stable ``code`` documented in ``docs/errors.md``.

The rendered text is one line per error::

    he.mode (init.yaml:3:9): unknown value 'fan_inn'; did you mean 'fan_in'? (got 'fan_inn') [invalid_choice]

capped at :data:`MAX_RENDERED` lines plus "and N more".
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["ErrorDetail", "SpecError", "ShapeError", "did_you_mean", "format_loc", "MAX_RENDERED", "NO_VALUE",
           "safe_value", "check_writable"]

#: How many errors the rendered message lists before "and N more".
MAX_RENDERED = 20

#: Marks an ErrorDetail without a received value.
NO_VALUE: Any = object()


#: Words longer than this get no "did you mean" (difflib is quadratic in the length).
SUGGEST_MAX_LEN = 64


def _big_int(value: int) -> str:
    """A huge integer, described without converting it to decimal (Python refuses to write
    more than ``sys.get_int_max_str_digits()`` digits, and the digits would say nothing)."""
    digits = int(abs(value).bit_length() * 0.30102999566398120) + 1
    return f"{'-' if value < 0 else ''}an integer of about {digits} digits"


def _short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters - never raising, whatever the value (huge
    integers, objects whose ``__repr__`` fails, deep containers)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return _big_int(value)
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int over the digit limit inside a container, a deep one
        text = f"<{type(value).__name__}>"
    except Exception:  # noqa: BLE001 - a user object with a broken __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def safe_value(value: Any) -> Any:
    """``value`` as strict JSON can carry it: finite numbers, strings, bools and None as they
    are, anything else (huge ints, inf/NaN, containers, objects) as a short repr."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 200 else _big_int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return _short_repr(value)


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 1) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    if not isinstance(word, str) or len(word) > SUGGEST_MAX_LEN:
        return ""
    choices = list(choices)
    matches = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(m) for m in matches) + "?"


def format_loc(loc: Sequence[str | int]) -> str:
    """``("rules", 0, "init", "std")`` -> ``rules[0].init.std``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


@dataclass(frozen=True)
class ErrorDetail:
    """One problem found in user input."""

    code: str
    message: str
    loc: tuple[str | int, ...] = ()
    value: Any = field(default=NO_VALUE, compare=False)
    file: str | None = None
    line: int | None = None
    col: int | None = None

    @property
    def has_value(self) -> bool:
        return self.value is not NO_VALUE

    @property
    def where(self) -> str:
        """``file:line:col`` (or the parts that are known)."""
        parts = [p for p in (self.file, self.line, self.col) if p is not None]
        return ":".join(str(p) for p in parts)

    def with_location(self, file: str | None, line: int | None, col: int | None) -> ErrorDetail:
        return replace(self, file=file if file is not None else self.file, line=line, col=col)

    def with_prefix(self, prefix: Sequence[str | int]) -> ErrorDetail:
        return replace(self, loc=tuple(prefix) + self.loc)

    def render(self) -> str:
        text = format_loc(self.loc)
        if self.where:
            text += f" ({self.where})"
        text += f": {self.message}"
        if self.has_value:
            text += f" (got {_short_repr(self.value)})"
        return text + f" [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (used by ``initspec validate --format json``)."""
        out: dict[str, Any] = {
            "loc": list(self.loc),
            "path": format_loc(self.loc),
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "message": self.message,
            "code": self.code,
        }
        if self.has_value:
            out["got"] = safe_value(self.value)
        return out


class SpecError(ValueError):
    """Invalid initspec input. ``.errors`` lists every problem found."""

    def __init__(self, errors: ErrorDetail | Sequence[ErrorDetail], *, title: str | None = None):
        if isinstance(errors, ErrorDetail):
            errors = [errors]
        self.errors: list[ErrorDetail] = list(errors)
        if not self.errors:
            raise ValueError("SpecError needs at least one ErrorDetail")
        self.title = title
        super().__init__(self.render())

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]

    def render(self, limit: int = MAX_RENDERED) -> str:
        n = len(self.errors)
        head = self.title or f"{n} error{'s' if n != 1 else ''} in initspec input"
        lines = [head] + ["  " + e.render() for e in self.errors[:limit]]
        if n > limit:
            lines.append(f"  and {n - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:  # keep in sync when errors are relocated
        return self.render()

    @classmethod
    def single(cls, code: str, message: str, *, loc: Sequence[str | int] = (), value: Any = NO_VALUE,
               file: str | None = None, line: int | None = None, col: int | None = None) -> SpecError:
        return cls([ErrorDetail(code=code, message=message, loc=tuple(loc), value=value,
                                file=file, line=line, col=col)])


class ShapeError(SpecError):
    """A spec cannot take the requested tensor shape (e.g. identity on a 3-D tensor)."""


def check_writable(body: Any) -> None:
    """Refuse integers too long to write as decimal text (Python's ``int`` -> ``str`` digit
    limit, the same limit the loaders read with): a spec or plan made in Python may hold one
    (``initspec.dumps``, a plan table's ``to_json``)."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, dict):
            stack += [(v, loc + (k,)) for k, v in node.items()]
        elif isinstance(node, (list, tuple)):
            stack += [(v, loc + (i,)) for i, v in enumerate(node)]
        elif isinstance(node, int) and not isinstance(node, bool) and node.bit_length() > 1000:
            try:
                str(node)
            except ValueError:
                raise SpecError.single("out_of_range", "this integer has more digits than a file can hold (Python "
                                       "writes and reads at most sys.get_int_max_str_digits() digits)", loc=loc,
                                       value=safe_value(node)) from None
