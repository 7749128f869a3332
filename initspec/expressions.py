"""Numeric spec fields as formulas: the expression language and the ``{name}`` captures of path globs.

A numeric field of a spec inside a plan may be a string such as ``"0.02 / sqrt(2 * count(i))"``
instead of a number. This module parses, checks and evaluates those strings with a small
tokenizer and a recursive-descent parser; nothing is ever handed to ``eval``, ``exec`` or
Python's ``ast`` module, so a plan file cannot run code, reach attributes or allocate huge
integers.

Grammar (EBNF; ``**`` is right-associative and binds tighter than a unary sign on its left,
as in Python: ``-2**2 == -4``, ``2**-1 == 0.5``, ``2**3**2 == 512``)::

    expression = term , { ("+" | "-") , term } ;
    term       = factor , { ("*" | "/") , factor } ;
    factor     = ("+" | "-") , factor | power ;
    power      = primary , [ "**" , factor ] ;
    primary    = NUMBER | NAME | call | "(" , expression , ")" ;
    call       = FUNCTION , "(" , expression , { "," , expression } , ")"
               | "count" , "(" , NAME , ")" ;
    NUMBER     = digits [ "." [digits] ] [ exponent ] | "." digits [ exponent ] ;   (1, 0.02, .5, 1e-3)
    NAME       = letter_or_underscore , { letter_or_underscore | digit } ;          (ASCII)
    FUNCTION   = "sqrt" | "log" | "exp" | "abs" | "floor" | "ceil" | "min" | "max" ;

``log`` is the natural logarithm; ``min`` and ``max`` take two or more arguments, the others
one. A NAME is a plan variable (``vars: {width: 1024}``) or a path capture (``{i}`` in
``match.path``); ``count(i)`` is the number of distinct values the capture ``i`` takes in the
model, which the caller supplies. Function names and ``nan``/``inf``/``infinity`` (any case)
cannot be names. Whitespace may appear anywhere between tokens. Arithmetic is IEEE double
precision throughout and :meth:`Expression.evaluate` returns a ``float``.

Examples (``N`` layers, layer index ``i`` from 0)::

    0.02 / sqrt(2 * count(i))     GPT-2: residual projections scaled by 1/sqrt(2 N)
    0.02 / sqrt(2 * (i + 1))      torchtitan: depth-scaled init per layer
    1 / sqrt(2 * (i + 1))         BEiT: rescale layer i's output projections
    (8 * N) ** -0.25              DeepNet (encoder-only beta)
    base_width / width            muP: scale by the width multiplier

Refused, with a :class:`~initspec.errors.SpecError` (an :class:`ExpressionError`): text over
:data:`MAX_LENGTH` non-blank characters or nested deeper than :data:`MAX_DEPTH` parentheses,
signs, calls or powers (``expression_too_complex``) - which also bounds the parser's recursion;
syntax errors, NaN/infinity and numbers too large for a float (``bad_expression``); unknown
functions (``unknown_function``); names with no value (``unknown_variable``); booleans,
non-numbers and non-finite values given for names (``bool_as_number``, ``wrong_type``,
``non_finite``, ``out_of_range`` for a negative count); division by zero, ``sqrt`` of a
negative, ``log`` of a non-positive number, a negative number to a fractional power and any
overflow - each intermediate result must be finite, so ``10**10**10`` is refused, never
``inf`` (``math_error``); bad ``{name}`` captures in a path glob (``bad_capture``).

Locating errors: every detail is an :class:`ExpressionErrorDetail` whose ``offset`` is the
0-based index of the offending character in the string (``column`` = offset + 1, also written
as "at column N" in the message). Its ``file``/``line``/``col`` stay empty: a caller that knows
where the string sits in a file computes the file column itself, e.g. ``scalar_col + offset``
(+1 for an opening quote) for a one-line YAML scalar, and applies ``with_location``; ``offset``
survives ``with_location``/``with_prefix``.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import numbers
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from .errors import ErrorDetail, SpecError, did_you_mean

__all__ = ["EXPRESSION_DESCRIPTION", "EXPRESSION_PATTERN", "EXPRESSION_SCHEMA", "FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH",
           "Expression", "ExpressionError", "ExpressionErrorDetail", "compile_capture_glob", "compile_expression",
           "count_captures", "match_captures"]

#: Longest expression accepted, in characters other than whitespace (and 4 * MAX_LENGTH in all,
#: so the canonical text, which adds spaces, always compiles again).
MAX_LENGTH = 1000
#: Deepest nesting of parentheses, signs, powers and calls accepted.
MAX_DEPTH = 64
#: Function name -> (fewest arguments, most arguments or None for no limit).
FUNCTIONS: Mapping[str, tuple[int, int | None]] = MappingProxyType({
    "sqrt": (1, 1), "log": (1, 1), "exp": (1, 1), "abs": (1, 1), "floor": (1, 1), "ceil": (1, 1),
    "min": (2, None), "max": (2, None), "count": (1, 1)})
_NOT_NUMBERS = frozenset({"nan", "inf", "infinity"})  # compared lower-cased

EXPRESSION_DESCRIPTION = ("an expression over numbers, + - * / ** and parentheses, the functions sqrt log exp abs "
                          "floor ceil min max, plan vars, path captures such as {i} and count(name), "
                          "e.g. '0.02 / sqrt(2 * count(i))'")
#: A loose JSON Schema ``pattern`` (the characters an expression may hold); the parser decides.
EXPRESSION_PATTERN = r"^[0-9A-Za-z_.+\-*/(),\s]+$"
#: The JSON Schema of an expression string, for the plan schema's numeric fields.
EXPRESSION_SCHEMA: Mapping[str, Any] = MappingProxyType({
    "type": "string", "minLength": 1, "maxLength": 4 * MAX_LENGTH, "pattern": EXPRESSION_PATTERN,
    "description": EXPRESSION_DESCRIPTION})


@dataclass(frozen=True)
class ExpressionErrorDetail(ErrorDetail):
    """An :class:`ErrorDetail` that also knows where in the expression (or glob) string it is."""

    offset: int | None = None
    """0-based index of the offending character in the string received (``value``)."""

    @property
    def column(self) -> int | None:
        """1-based column inside the string (``offset + 1``)."""
        return None if self.offset is None else self.offset + 1

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "offset": self.offset}


class ExpressionError(SpecError):
    """A :class:`SpecError` raised for an expression or a capture glob; details are :class:`ExpressionErrorDetail`."""

    @property
    def offset(self) -> int | None:
        """The first problem's 0-based offset in the string."""
        return getattr(self.errors[0], "offset", None)

    @property
    def column(self) -> int | None:
        """The first problem's 1-based column in the string."""
        return None if self.offset is None else self.offset + 1


def _error(code: str, text: Any, offset: int | None, message: str) -> ExpressionErrorDetail:
    where = f" at column {offset + 1}" if offset is not None else ""
    return ExpressionErrorDetail(code=code, message=message.replace("{at}", where), value=text, offset=offset)


def _fail(code: str, text: Any, offset: int | None, message: str) -> ExpressionError:
    """An error whose message has ``{at}`` where " at column N" belongs."""
    return ExpressionError(_error(code, text, offset, message))


# ---------------------------------------------------------------- syntax tree, tokens

@dataclass(frozen=True)
class _Node:
    """kind num (name: canonical text), var, count (name: the capture), unary/binary (name: the
    operator), call (name: the function); ``offset``: where its token starts in the text."""

    kind: str
    name: str
    offset: int
    args: tuple[_Node, ...] = ()
    value: float = 0.0


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}  # unary signs are 3, atoms 5


def _prec(node: _Node) -> int:
    return _PREC[node.name] if node.kind == "binary" else 3 if node.kind == "unary" else 5


def _render(node: _Node) -> str:
    """Canonical text: single spaces around binary operators, only the parentheses needed.

    A left-associative chain (``a + b - c * d / e``) is walked down its left spine in a loop,
    so a long flat sum does not recurse; recursion follows the parser's bounded nesting."""
    def wrap(child: _Node, paren: bool) -> str:
        return f"({_render(child)})" if paren else _render(child)

    if node.kind in ("num", "var"):
        return node.name
    if node.kind == "count":
        return f"count({node.name})"
    if node.kind == "call":
        return f"{node.name}({', '.join(map(_render, node.args))})"
    if node.kind == "unary":
        return node.name + wrap(node.args[0], _prec(node.args[0]) < 3)
    if node.name == "**":
        left, right = node.args
        return f"{wrap(left, _prec(left) <= 4)} ** {wrap(right, _prec(right) < 3)}"
    tail, p = [], _PREC[node.name]
    while node.kind == "binary" and node.name != "**" and _prec(node) >= p:
        p = _PREC[node.name]
        tail.append(f" {node.name} {wrap(node.args[1], _prec(node.args[1]) <= p)}")
        node = node.args[0]
    return wrap(node, _prec(node) < p) + "".join(reversed(tail))


_TOKEN = re.compile(r"(?P<ws>\s+)|(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/(),])")
_WORDISH = re.compile(r"[A-Za-z0-9_.]+")
class _Tok(NamedTuple):
    kind: str
    text: str
    offset: int  # kind: num, name, op, end


def _describe(tok: _Tok) -> str:
    return "the end of the expression" if tok.kind == "end" else repr(tok.text)


def _tokenize(text: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _fail("bad_expression", text, pos, f"unexpected character {text[pos]!r}{{at}}")
        if m.lastgroup == "num" and _WORDISH.match(text, m.end()):
            word = _WORDISH.match(text, pos).group()  # type: ignore[union-attr]
            raise _fail("bad_expression", text, pos, f"malformed number {word!r}{{at}}; write numbers like 3, "
                        "0.02 or 1e-3, and products with * (2 * x)")
        if m.lastgroup != "ws":
            tokens.append(_Tok(m.lastgroup or "", m.group(), pos))
        pos = m.end()
    return tokens + [_Tok("end", "", len(text))]


class _Parser:
    """Recursive descent over the grammar in the module docstring; ``depth`` guards the nesting."""

    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.pos, self.depth = text, _tokenize(text), 0, -1  # top level: 0

    def peek(self) -> _Tok:
        return self.tokens[self.pos]

    def take(self) -> _Tok:
        tok = self.tokens[self.pos]
        self.pos += tok.kind != "end"
        return tok

    def at(self, *ops: str) -> bool:
        return self.peek().kind == "op" and self.peek().text in ops

    def error(self, tok: _Tok, message: str) -> ExpressionError:
        """A syntax error (``bad_expression``) at ``tok``."""
        return _fail("bad_expression", self.text, tok.offset, message)

    def parse(self) -> _Node:
        node, tok = self.expression(), self.peek()
        if tok.text == ")":
            raise self.error(tok, "unmatched ')'{at}")
        if tok.kind != "end":
            raise self.error(tok, f"unexpected {_describe(tok)}{{at}}; expected an operator (+ - * / **) "
                             "or the end of the expression")
        return node

    def expression(self) -> _Node:
        return self.left_assoc(("+", "-"), self.term)

    def term(self) -> _Node:
        return self.left_assoc(("*", "/"), self.factor)

    def left_assoc(self, ops: tuple[str, ...], operand) -> _Node:
        """``operand (op operand)*`` for the operators ``ops`` of one precedence level, grouped
        from the left."""
        node = operand()
        while self.at(*ops):
            op = self.take()
            node = _Node("binary", op.text, op.offset, (node, operand()))
        return node

    def factor(self) -> _Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _fail("expression_too_complex", self.text, self.peek().offset, f"nesting deeper than "
                            f"{MAX_DEPTH} levels{{at}}; simplify the expression")
            if self.at("+", "-"):
                op = self.take()
                return _Node("unary", op.text, op.offset, (self.factor(),))
            node = self.primary()
            if self.at("**"):  # right side is a factor: 2**-1, 2**3**2
                op = self.take()
                node = _Node("binary", "**", op.offset, (node, self.factor()))
            return node
        finally:
            self.depth -= 1

    def primary(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            value = float(tok.text)
            if not math.isfinite(value):
                raise self.error(tok, f"the number {tok.text[:20]}... is too large for a float{{at}}")
            return _Node("num", tok.text, tok.offset, value=value)  # canonical text keeps numbers as written
        if tok.kind == "name":
            if self.at("("):
                return self.call(tok)
            if tok.text in FUNCTIONS:
                raise self.error(tok, f"{tok.text!r} is a function{{at}}; call it as {tok.text}(...)")
            if tok.text.lower() in _NOT_NUMBERS:
                raise self.error(tok, f"{tok.text!r}{{at}} is not allowed: NaN and infinities are not numbers "
                                 "here; every value must be finite")
            return _Node("var", tok.text, tok.offset)
        if tok.text == "(":
            node = self.expression()
            self.close(tok, "')'")
            return node
        raise self.error(tok, f"expected a number, a name or '('{{at}}, got {_describe(tok)}")

    def close(self, opening: _Tok, expected: str) -> None:
        tok = self.take()
        if tok.text != ")":
            raise self.error(tok, f"expected {expected} to close the '(' at column {opening.offset + 1}, "
                             f"got {_describe(tok)}{{at}}")

    def call(self, name: _Tok) -> _Node:
        func = name.text
        if func not in FUNCTIONS:
            raise _fail("unknown_function", self.text, name.offset, f"unknown function {func!r}{{at}}"
                        f"{did_you_mean(func, FUNCTIONS)}; known functions: {', '.join(FUNCTIONS)}")
        opening = self.take()
        if func == "count":
            arg = self.take()
            if arg.kind != "name" or arg.text in FUNCTIONS or not self.at(")"):
                raise self.error(arg, "count() takes the name of a path capture, e.g. count(i){at}")
            self.take()
            return _Node("count", arg.text, name.offset)
        args = [self.expression()]
        while self.at(","):
            self.take()
            args.append(self.expression())
        self.close(opening, "',' or ')'" if func in ("min", "max") else "')'")
        low, high = FUNCTIONS[func]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = f"at least {low} arguments" if high is None else "1 argument"
            raise self.error(name, f"{func}() takes {wanted}, got {len(args)}{{at}}")
        return _Node("call", func, name.offset, tuple(args))


# ---------------------------------------------------------------- evaluation

class _MathFault(Exception):
    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset, self.message = offset, message


def _g(x: float) -> str:
    return f"({x:g})" if x < 0 else f"{x:g}"


_FUNCS: dict[str, Callable[..., Any]] = {"sqrt": math.sqrt, "log": math.log, "exp": math.exp, "abs": abs,
                                         "floor": math.floor, "ceil": math.ceil, "min": min, "max": max}


def _apply(node: _Node, args: list[float]) -> float:
    op, x = node.name, args[0]
    if node.kind == "binary":
        y = args[1]
        if op == "/" and y == 0:
            raise _MathFault(node.offset, f"division by zero ({_g(x)} / 0){{at}}")
        if op == "**" and x == 0 and y < 0:
            raise _MathFault(node.offset, f"0 ** {_g(y)} is undefined (0 to a negative power){{at}}")
        if op == "**" and x < 0 and y != math.floor(y):
            raise _MathFault(node.offset, f"{_g(x)} ** {_g(y)} is undefined (a negative number to a "
                             "fractional power){at}")
        what = f"{_g(x)} {op} {_g(y)}"
        fn: Callable[..., Any] = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
                                  "**": math.pow}[op]
    else:
        if op == "sqrt" and x < 0:
            raise _MathFault(node.offset, f"sqrt of a negative number ({x:g}){{at}}")
        if op == "log" and x <= 0:
            raise _MathFault(node.offset, f"log of a number that is not positive ({x:g}){{at}}")
        what, fn = f"{op}({', '.join(f'{a:g}' for a in args)})", _FUNCS[op]
    try:
        value = float(fn(*args))
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise _MathFault(node.offset, f"{what} overflows a float{{at}}")
    return value


def _postorder(tree: _Node) -> tuple[_Node, ...]:
    """Children before parents, left to right: the program :func:`_run` executes."""
    order, stack = [], [tree]
    while stack:
        node = stack.pop()
        order.append(node)
        stack += node.args
    return tuple(reversed(order))


def _run(program: tuple[_Node, ...], env: Mapping[str, float]) -> float:
    """Evaluate on a value stack (no recursion, however long the expression)."""
    stack: list[float] = []
    for node in program:
        if node.kind == "num":
            stack.append(node.value)
        elif node.kind in ("var", "count"):
            stack.append(env[node.name if node.kind == "var" else f"count({node.name})"])
        elif node.kind == "unary":
            stack[-1] = -stack[-1] if node.name == "-" else stack[-1]
        else:
            args = stack[len(stack) - len(node.args):]
            del stack[len(stack) - len(node.args):]
            stack.append(_apply(node, args))
    return stack[0]


def _number(value: Any, *, integer: bool) -> tuple[str, str] | float:
    """The value as a float, or (code, problem) when it is not an acceptable number."""
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):  # numpy's too
        return "bool_as_number", "is a boolean; expected a number"
    if not isinstance(value, numbers.Integral if integer else numbers.Real):
        return "wrong_type", f"is {type(value).__name__}; expected {'an integer' if integer else 'a number'}"
    try:
        number = float(value)
    except OverflowError:
        return "non_finite", "is too large for a float; values must be finite"
    if not math.isfinite(number):
        return "non_finite", f"is {number}; values must be finite"
    if integer and number < 0:
        return "out_of_range", f"is {value!r}; a count cannot be negative"
    return number


@dataclass(frozen=True)
class Expression:
    """A compiled expression. Equal (and hashing alike) when the texts are equal.

    ``names`` are the free variables (outside ``count()``), ``counted`` the names inside ``count()``.
    """

    text: str
    names: frozenset[str]
    counted: frozenset[str]
    _tree: _Node = field(repr=False, compare=False)
    _program: tuple[_Node, ...] = field(repr=False, compare=False)
    _canonical: str = field(repr=False, compare=False)

    def __str__(self) -> str:
        return self._canonical

    def references(self) -> tuple[tuple[str, str, int], ...]:
        """Every name read, once each in source order: ``(kind, name, offset)`` with kind ``"var"``
        (a free name) or ``"count"`` (the name inside ``count()``) and the 0-based offset of its
        first use (of ``count`` for a count)."""
        seen: dict[tuple[str, str], int] = {}
        for node in self._program:
            if node.kind in ("var", "count"):
                key = (node.kind, node.name)
                seen[key] = min(seen.get(key, node.offset), node.offset)
        return tuple((kind, name, offset) for (kind, name), offset in sorted(seen.items(), key=lambda kv: kv[1]))

    def evaluate(self, variables: Mapping[str, float | int] = MappingProxyType({}),
                 counts: Mapping[str, int] | None = None) -> float:
        """The value as a finite float, given a value for every name and a count for every counted name.

        Raises :class:`ExpressionError` listing every missing name (``unknown_variable``, with the
        known ones) or bad value, or the first ``math_error`` met."""
        counts = counts if counts is not None else {}
        errors: list[ErrorDetail] = []
        env: dict[str, float] = {}
        reported: set[str] = set()
        for node in self._program:  # leaves come in source order
            counting = node.kind == "count"
            key = f"count({node.name})" if counting else node.name
            if node.kind not in ("var", "count") or key in env or key in reported:
                continue  # each name once, at its first use
            reported.add(key)
            source: Mapping[str, Any] = counts if counting else variables
            if node.name not in source:
                kind = "captures with a count" if counting else "variables"
                known = f"known {kind}: {', '.join(sorted(source))}" if source else f"no {kind} are defined"
                what = f"{key}{{at}}: no count for capture {node.name!r}" if counting else \
                    f"unknown variable {node.name!r}{{at}}"
                errors.append(_error("unknown_variable", self.text, node.offset,
                                      f"{what}{did_you_mean(node.name, source)}; {known}"))
                continue
            number = _number(source[node.name], integer=counting)
            if isinstance(number, tuple):
                label = key if counting else f"variable {node.name!r}"
                errors.append(_error(number[0], self.text, node.offset, f"{label}{{at}} {number[1]}"))
            else:
                env[key] = number
        if errors:
            raise ExpressionError(errors)
        try:
            return _run(self._program, env)
        except _MathFault as fault:
            raise _fail("math_error", self.text, fault.offset, fault.message) from None


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Expression:
    visible = [i for i, c in enumerate(text[:4 * MAX_LENGTH + 1]) if not c.isspace()]
    if len(visible) > MAX_LENGTH or len(text) > 4 * MAX_LENGTH:
        at = visible[MAX_LENGTH] if len(visible) > MAX_LENGTH else 4 * MAX_LENGTH
        raise _fail("expression_too_complex", text, at, f"the expression is over the limit of {MAX_LENGTH} "
                    f"characters besides whitespace ({4 * MAX_LENGTH} in all){{at}}; simplify it")
    if not text.strip():
        raise _fail("bad_expression", text, 0, "empty expression{at}; write a number or a formula")
    tree = _Parser(text).parse()
    program = _postorder(tree)
    return Expression(text, frozenset(n.name for n in program if n.kind == "var"),
                      frozenset(n.name for n in program if n.kind == "count"), tree, program, _render(tree))


def compile_expression(text: str) -> Expression:
    """Parse and check ``text`` (cached); raises :class:`ExpressionError` for anything malformed."""
    if not isinstance(text, str):
        code = "bool_as_number" if isinstance(text, bool) else "wrong_type"
        raise _fail(code, text, None, f"an expression must be a string, got {type(text).__name__}")
    return _compile(text)


# ---------------------------------------------------------------- path captures

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _glob_run(run: str) -> str:
    """fnmatch's regex for a run without ``*`` (``?`` and ``[...]`` as fnmatch reads them), unanchored."""
    return re.sub(r"\\[Zz]\Z", "", fnmatch.translate(run)) if run else ""


@functools.lru_cache(maxsize=1024)
def _compile_glob(pattern: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    parts, names, run, i, n = [], [], "", 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "[":  # a bracket set (kept whole, as fnmatch finds its end) stays in the run
            j = i + 1 + (pattern[i + 1:i + 2] == "!")
            j += pattern[j:j + 1] == "]"
            j = pattern.find("]", j)
            end = i + 1 if j < 0 else j + 1
            run, i = run + pattern[i:end], end
            continue
        if c == "*":
            if run or not parts or parts[-1] != ".*?":  # a run of stars is one; lazy: leftmost captures
                parts += [_glob_run(run), ".*?"]
            run = ""
        elif c == "{":
            j = pattern.find("}", i)
            name = pattern[i + 1:j] if j >= 0 else ""
            if j < 0:
                raise _fail("bad_capture", pattern, i, "'{'{at} is never closed; a capture is written {name}")
            if not _IDENT.fullmatch(name):
                raise _fail("bad_capture", pattern, i, f"{pattern[i:j + 1]!r}{{at}} is not a capture: write {{name}} "
                            "with a name of letters, digits and _ that does not start with a digit")
            if name in FUNCTIONS or name.lower() in _NOT_NUMBERS:
                raise _fail("bad_capture", pattern, i + 1, f"capture name {name!r}{{at}} is reserved (a function "
                            "name or NaN/infinity); choose another name")
            if name in names:
                raise _fail("bad_capture", pattern, i + 1, f"capture {{{name}}} appears twice{{at}}; each "
                            "capture needs its own name")
            parts += [_glob_run(run), f"(?P<{name}>[0-9]+)"]
            names.append(name)
            run, i = "", j + 1
            continue
        elif c == "}":
            raise _fail("bad_capture", pattern, i, "unmatched '}'{at}; a capture is written {name}")
        else:
            run += c
        i += 1
    parts.append(_glob_run(run))
    return re.compile("".join(parts), re.DOTALL), tuple(names)


def compile_capture_glob(pattern: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A path glob with ``{name}`` captures -> (regex to ``fullmatch``, capture names in order).

    ``{name}`` matches a non-negative integer (ASCII digits); ``*``, ``?`` and ``[...]`` are
    fnmatch's (``*`` crosses dots), so a glob without captures matches what initspec's plain
    globs match. Where a path matches in several ways, each ``*`` takes as little as it can, so
    captures bind leftmost (``*.{i}.*`` on ``a.12.b.3.c`` gives i = 12). Captures outside
    ``[...]`` need identifier names, unique, and not a function name (or nan/inf).
    """
    if not isinstance(pattern, str):
        raise _fail("wrong_type", pattern, None, f"a path glob must be a string, got {type(pattern).__name__}")
    return _compile_glob(pattern)


def match_captures(pattern: str, path: str) -> dict[str, int] | None:
    """The captures' values when ``path`` matches ``pattern`` as a whole (``{}`` with no captures), else None."""
    regex, names = compile_capture_glob(pattern)
    m = regex.fullmatch(path)
    return None if m is None else {name: int(m.group(name)) for name in names}


def count_captures(pattern: str, paths: Iterable[str]) -> dict[str, int]:
    """For ``count(name)``: how many distinct values each capture of ``pattern`` takes over ``paths``."""
    regex, names = compile_capture_glob(pattern)
    values: dict[str, set[int]] = {name: set() for name in names}
    for path in paths:
        m = regex.fullmatch(path)
        if m is not None:
            for name in names:
                values[name].add(int(m.group(name)))
    return {name: len(v) for name, v in values.items()}
