"""initspec.expressions: the formula language of numeric plan fields and the {name} captures of path globs."""

from __future__ import annotations

import fnmatch
import math
import random
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from initspec.errors import ErrorDetail, SpecError
from initspec.expressions import (
    EXPRESSION_PATTERN,
    EXPRESSION_SCHEMA,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    Expression,
    ExpressionError,
    ExpressionErrorDetail,
    compile_capture_glob,
    compile_expression,
    count_captures,
    match_captures,
)

VARS = {"x": 1.5, "y": -2.0, "i": 3, "N": 12, "width": 1024, "base_width": 256}
COUNTS = {"i": 12}


def value(text: str, variables: dict | None = None, counts: dict | None = None) -> float:
    return compile_expression(text).evaluate(VARS if variables is None else variables,
                                             COUNTS if counts is None else counts)


def error(text: str, variables: dict | None = None, counts: dict | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        value(text, variables, counts)
    return info.value


# ---------------------------------------------------------------- parsing and evaluation

@pytest.mark.parametrize("text, expected", [
    ("1", 1.0), ("0.02", 0.02), (".5", 0.5), ("3.", 3.0), ("1e-3", 0.001), ("2.5E+2", 250.0), ("007", 7.0),
    ("1 + 2 * 3", 7.0), ("(1 + 2) * 3", 9.0), ("10 - 4 - 3", 3.0), ("2 * 3 / 4", 1.5), ("8 / 4 / 2", 1.0),
    ("2 ** 3 ** 2", 512.0), ("(2 ** 3) ** 2", 64.0), ("-2 ** 2", -4.0), ("(-2) ** 2", 4.0), ("2 ** -1", 0.5),
    ("-2 ** -2", -0.25), ("--2", 2.0), ("+-+2", -2.0), ("- - 2", 2.0), ("2 * -3", -6.0), ("-x ** 2", -2.25),
    ("2 ** 3 * 2", 16.0), ("2 * 3 ** 2", 18.0), ("1 - -1", 2.0), ("(-8) ** 3", -512.0), ("0 ** 0", 1.0),
    ("sqrt(16)", 4.0), ("log(1)", 0.0), ("exp(0)", 1.0), ("abs(-3)", 3.0), ("floor(2.7)", 2.0),
    ("ceil(2.1)", 3.0), ("floor(-2.5)", -3.0), ("min(3, 1, 2)", 1.0), ("max(3, 1, 2)", 3.0),
    ("min(x, y)", -2.0), ("max(1, 2) ** 2", 4.0), ("sqrt(2 * count(i))", math.sqrt(24)), ("count(i) + i", 15.0),
    (" \t1\n+\r2 ", 3.0), ("(((1)))", 1.0), ("sqrt( ( 4 ) )", 2.0), ("min(1,2)", 1.0), ("x*y", -3.0),
    ("2**2", 4.0), ("1e308 / 10", 1e307), ("1e-400", 0.0),
])
def test_evaluates(text: str, expected: float) -> None:
    result = value(text)
    assert isinstance(result, float)
    assert result == pytest.approx(expected, rel=1e-15, abs=0)


@pytest.mark.parametrize("text, canonical", [
    ("0.02/sqrt(2*count( i ))", "0.02 / sqrt(2 * count(i))"),
    ("(8*N)**-0.25", "(8 * N) ** -0.25"),
    ("((a+b))*c", "(a + b) * c"),
    ("a-(b-c)", "a - (b - c)"),
    ("(a-b)-c", "a - b - c"),
    ("a/(b*c)", "a / (b * c)"),
    ("(a*b)/c", "a * b / c"),
    ("a+(b*c)", "a + b * c"),
    ("-(a**b)", "-a ** b"),
    ("(-a)**b", "(-a) ** b"),
    ("a**(b**c)", "a ** b ** c"),
    ("(a**b)**c", "(a ** b) ** c"),
    ("a**(-b)", "a ** -b"),
    ("-(a+b)", "-(a + b)"),
    ("min( a ,b,  c)", "min(a, b, c)"),
    ("1e-3 + .5", "1e-3 + .5"),
])
def test_canonical_text(text: str, canonical: str) -> None:
    expr = compile_expression(text)
    assert str(expr) == canonical
    assert str(compile_expression(canonical)) == canonical
    assert expr.text == text


@pytest.mark.parametrize("text, variables, counts, expected", [
    ("0.02 / sqrt(2 * count(i))", {}, {"i": 12}, 0.02 / math.sqrt(2 * 12)),           # GPT-2, 12 layers
    ("0.02 / sqrt(2 * (i + 1))", {"i": 5}, None, 0.02 / math.sqrt(2 * 6)),             # torchtitan depth init
    ("1 / sqrt(2 * (i + 1))", {"i": 0}, None, 1 / math.sqrt(2)),                        # BEiT layer 0
    ("1 / sqrt(2 * (i + 1))", {"i": 11}, None, 1 / math.sqrt(24)),                      # BEiT layer 11
    ("(8 * N) ** -0.25", {"N": 6}, None, (8 * 6) ** -0.25),                             # DeepNet encoder beta
    ("base_width / width", {"width": 1024, "base_width": 256}, None, 0.25),             # muP
])
def test_real_model_formulas(text: str, variables: dict, counts: dict | None, expected: float) -> None:
    assert compile_expression(text).evaluate(variables, counts) == pytest.approx(expected, rel=1e-15)


def test_gpt2_std_numbers() -> None:
    expr = compile_expression("0.02 / sqrt(2 * count(i))")
    assert expr.evaluate({}, {"i": 12}) == pytest.approx(0.004082482904638631)  # GPT-2 small
    assert expr.evaluate({}, {"i": 48}) == pytest.approx(0.0020412414523193153)  # GPT-2 XL


def test_names_counted_and_identity() -> None:
    expr = compile_expression("0.02 / sqrt(2 * count(i)) * i + scale - count(j)")
    assert expr.names == frozenset({"i", "scale"})
    assert expr.counted == frozenset({"i", "j"})
    assert compile_expression("1").names == frozenset() and compile_expression("1").counted == frozenset()
    assert compile_expression("2*i") is compile_expression("2*i")  # cached
    assert compile_expression("2*i") == compile_expression("2*i") and compile_expression("2*i") != "2*i"
    assert compile_expression("2*i") != compile_expression("2 * i")  # equality is on the text received
    assert hash(compile_expression("2*i")) == hash(Expression("2*i", frozenset({"i"}), frozenset(), None, (), ""))
    assert len({compile_expression("x"), compile_expression("x"), compile_expression("y")}) == 2
    assert "2*i" in repr(compile_expression("2*i"))
    with pytest.raises(AttributeError):
        compile_expression("x").text = "y"  # type: ignore[misc]


def test_extra_variables_and_numpy_values_are_fine() -> None:
    np = pytest.importorskip("numpy")
    expr = compile_expression("x * count(i)")
    assert expr.evaluate({"x": np.float32(0.5), "unused": "text"}, {"i": np.int64(4), "k": 9}) == 2.0
    assert compile_expression("x").evaluate({"x": 10**300}) == 1e300


def test_long_flat_expressions_do_not_recurse() -> None:
    text = "+".join(["1"] * 500)  # 999 characters, a 499-deep left-leaning tree
    expr = compile_expression(text)
    assert expr.evaluate({}) == 500.0
    assert compile_expression(str(expr)).evaluate({}) == 500.0  # canonical form (more spaces) compiles again
    chain = "*".join(["x"] * 500)
    assert compile_expression(chain).evaluate({"x": 1.0}) == 1.0


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("text, code, column, fragment", [
    ("", "bad_expression", 1, "empty expression"),
    ("   ", "bad_expression", 1, "empty expression"),
    ("1 +", "bad_expression", 4, "expected a number, a name or '(' at column 4, got the end of the expression"),
    ("(1 + 2", "bad_expression", 7, "expected ')' to close the '(' at column 1, got the end of the expression"),
    ("2 * (x + sqrt(4)", "bad_expression", 17, "expected ')' to close the '(' at column 5"),
    ("min(1, 2", "bad_expression", 9, "expected ',' or ')' to close the '(' at column 4"),
    ("1 + 2)", "bad_expression", 6, "unmatched ')'"),
    ("1 2", "bad_expression", 3, "unexpected '2' at column 3; expected an operator"),
    ("x y", "bad_expression", 3, "unexpected 'y'"),
    ("2 # 3", "bad_expression", 3, "unexpected character '#'"),
    ("2 ^ 3", "bad_expression", 3, "unexpected character '^'"),
    ("x.y", "bad_expression", 2, "unexpected character '.'"),
    ("2x", "bad_expression", 1, "malformed number '2x'"),
    ("1e", "bad_expression", 1, "malformed number '1e'"),
    ("1.2.3", "bad_expression", 1, "malformed number '1.2.3'"),
    ("3 * * 4", "bad_expression", 5, "expected a number, a name or '('"),
    ("2 *** 3", "bad_expression", 5, "expected a number"),
    ("()", "bad_expression", 2, "got ')'"),
    ("nan", "bad_expression", 1, "NaN and infinities"),
    ("1 + Inf", "bad_expression", 5, "NaN and infinities"),
    ("-infinity", "bad_expression", 2, "NaN and infinities"),
    ("1" + "0" * 400, "bad_expression", 1, "too large for a float"),
    ("sqrt", "bad_expression", 1, "'sqrt' is a function at column 1; call it as sqrt(...)"),
    ("sqrt()", "bad_expression", 6, "expected a number"),
    ("sqrt(1, 2)", "bad_expression", 1, "sqrt() takes 1 argument, got 2"),
    ("min(1)", "bad_expression", 1, "min() takes at least 2 arguments, got 1"),
    ("count(2)", "bad_expression", 7, "count() takes the name of a path capture"),
    ("count(i + 1)", "bad_expression", 7, "count() takes the name"),
    ("count(sqrt)", "bad_expression", 7, "count() takes the name"),
    ("count", "bad_expression", 1, "is a function"),
    ("sqr(2)", "unknown_function", 1, ("unknown function 'sqr' at column 1; did you mean 'sqrt'?; known functions: "
                                        "sqrt, log, exp, abs, floor, ceil, min, max, count")),
    ("1 + pow(2, 3)", "unknown_function", 5, "unknown function 'pow'"),
    ("Sqrt(2)", "unknown_function", 1, "did you mean 'sqrt'?"),
    ("1/0", "math_error", 2, "division by zero (1 / 0) at column 2"),
    ("x / (i - 3)", "math_error", 3, "division by zero"),
    ("sqrt(-1)", "math_error", 1, "sqrt of a negative number (-1)"),
    ("1 + log(0)", "math_error", 5, "log of a number that is not positive (0)"),
    ("log(-2)", "math_error", 1, "not positive"),
    ("0 ** -1", "math_error", 3, "0 ** (-1) is undefined (0 to a negative power)"),
    ("(-8) ** (1 / 3)", "math_error", 6, "(-8) ** 0.333333 is undefined (a negative number to a fractional power)"),
    ("10 ** 10 ** 10", "math_error", 4, "10 ** 1e+10 overflows a float at column 4"),
    ("10 ** 400", "math_error", 4, "overflows a float"),
    ("exp(1000)", "math_error", 1, "exp(1000) overflows a float"),
    ("1e308 * 10", "math_error", 7, "1e+308 * 10 overflows a float"),
    ("1e308 + 1e308", "math_error", 7, "overflows"),
    ("-1e308 - 1e308", "math_error", 8, "overflows"),
    ("1 / 1e-310", "math_error", 3, "overflows"),
    ("1 / (1e308 * 10)", "math_error", 12, "overflows"),  # an intermediate inf is refused, not divided away
])
def test_errors(text: str, code: str, column: int, fragment: str) -> None:
    exc = error(text)
    assert isinstance(exc, SpecError) and isinstance(exc, ValueError)
    assert exc.codes == [code]
    assert exc.column == column and exc.offset == column - 1
    detail = exc.errors[0]
    assert isinstance(detail, ExpressionErrorDetail)
    assert detail.column == column and detail.offset == column - 1
    assert detail.value == text
    assert f"at column {column}" in detail.message
    assert fragment in detail.message, detail.message
    assert detail.file is None and detail.line is None and detail.col is None


def test_unknown_variables_all_reported_with_suggestions() -> None:
    exc = error("widht * 2 + width / widht + count(j) + bogus", {"width": 1, "base_width": 2}, {"i": 3})
    assert exc.codes == ["unknown_variable"] * 3
    first, counted, bogus = exc.errors
    assert first.message == ("unknown variable 'widht' at column 1; did you mean 'width'?; known variables: "
                             "base_width, width")
    assert counted.message == ("count(j) at column 29: no count for capture 'j'; known captures with a count: i")
    assert bogus.column == 40 and "did you mean" not in bogus.message
    exc = error("x", {}, {})
    assert "no variables are defined" in exc.errors[0].message
    with pytest.raises(ExpressionError) as info:
        compile_expression("count(i)").evaluate({"i": 1})  # no counts given
    assert "no captures with a count are defined" in info.value.errors[0].message
    assert compile_expression("count(i)").evaluate({}, {"i": 0}) == 0.0


@pytest.mark.parametrize("variables, counts, code, fragment", [
    ({"x": True}, {"i": 1}, "bool_as_number", "variable 'x' at column 1 is a boolean"),
    ({"x": "1"}, {"i": 1}, "wrong_type", "variable 'x' at column 1 is str; expected a number"),
    ({"x": None}, {"i": 1}, "wrong_type", "is NoneType"),
    ({"x": math.nan}, {"i": 1}, "non_finite", "is nan; values must be finite"),
    ({"x": -math.inf}, {"i": 1}, "non_finite", "is -inf"),
    ({"x": 10**400}, {"i": 1}, "non_finite", "too large for a float"),
    ({"x": 1}, {"i": 2.0}, "wrong_type", "count(i) at column 5 is float; expected an integer"),
    ({"x": 1}, {"i": -1}, "out_of_range", "a count cannot be negative"),
    ({"x": 1}, {"i": False}, "bool_as_number", "count(i) at column 5 is a boolean"),
])
def test_bad_values(variables: dict, counts: dict, code: str, fragment: str) -> None:
    exc = error("x + count(i)", variables, counts)
    assert exc.codes == [code]
    assert fragment in exc.errors[0].message
    assert exc.errors[0].value == "x + count(i)"


def test_numpy_bool_is_not_a_number() -> None:
    np = pytest.importorskip("numpy")
    assert error("x", {"x": np.bool_(True)}).codes == ["bool_as_number"]


@pytest.mark.parametrize("text, code", [(1.5, "wrong_type"), (None, "wrong_type"), (True, "bool_as_number"),
                                        (["1"], "wrong_type")])
def test_not_a_string(text: object, code: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)  # type: ignore[arg-type]
    assert info.value.codes == [code] and info.value.column is None


def test_error_detail_keeps_its_offset_when_relocated() -> None:
    detail = error("0.02 / sqrt(2 * count(k))").errors[0]
    moved = detail.with_prefix(("rules", 3, "init", "std")).with_location("init.yaml", 7, 12 + detail.offset)
    assert isinstance(moved, ExpressionErrorDetail) and moved.offset == 16
    assert moved.render().startswith("rules[3].init.std (init.yaml:7:28): count(k) at column 17")
    assert moved.to_dict()["offset"] == 16 and moved.to_dict()["col"] == 28
    assert moved.render().endswith("[unknown_variable]")
    assert "(got '0.02 / sqrt(2 * count(k))')" in str(SpecError([moved, ErrorDetail("x", "y")]))


# ---------------------------------------------------------------- limits

def test_length_limit() -> None:
    ok = "1" + "+1" * ((MAX_LENGTH - 1) // 2)
    assert len(ok) == MAX_LENGTH - 1 and value(ok) == MAX_LENGTH // 2
    assert value("1" * 300 + "e-300" + " " * 2000) == pytest.approx(1.111111111111111e-1)  # whitespace is free
    exc = error("1" * (MAX_LENGTH + 1))
    assert exc.codes == ["expression_too_complex"] and exc.column == MAX_LENGTH + 1
    assert f"limit of {MAX_LENGTH} characters" in exc.errors[0].message
    exc = error(" 1" * (MAX_LENGTH + 1))
    assert exc.codes == ["expression_too_complex"] and exc.column == 2 * MAX_LENGTH + 2
    exc = error("1" + " " * (4 * MAX_LENGTH))
    assert exc.codes == ["expression_too_complex"] and exc.column == 4 * MAX_LENGTH + 1


@pytest.mark.parametrize("make", [
    lambda n: "(" * n + "1" + ")" * n,
    lambda n: "-" * n + "1",
    lambda n: "sqrt(" * n + "1" + ")" * n,
    lambda n: "1 ** " * n + "1",
    lambda n: "min(1, " * n + "1" + ")" * n,
])
def test_depth_limit(make) -> None:
    assert value(make(MAX_DEPTH)) == 1.0
    exc = error(make(MAX_DEPTH + 1))
    assert exc.codes == ["expression_too_complex"]
    assert f"nesting deeper than {MAX_DEPTH} levels" in exc.errors[0].message
    assert exc.column is not None and exc.column > MAX_DEPTH


def test_deep_junk_never_overflows_the_stack() -> None:
    for text in ("(" * 5000, "-" * 999 + "1", "sqrt(" * 200, "2**" * 300 + "2"):
        with pytest.raises(SpecError):
            value(text)


@pytest.mark.parametrize("text", ["10**10**10", "9**9**9**9", "2**1024", "(10**308)*10", "exp(exp(exp(10)))",
                                  "1e200 * 1e200", "exp(710)", "10 ** 309", "2 ** 2 ** 2 ** 2 ** 2 ** 2"])
def test_huge_results_are_errors_never_inf(text: str) -> None:
    assert error(text).codes == ["math_error"]


# ---------------------------------------------------------------- properties

_LEAF_NUMBERS = st.one_of(st.integers(0, 40).map(str),
                          st.sampled_from(["0.5", "0.02", "1e-3", "2.5e2", ".25", "3.", "1E1", "1e300"]))
_LEAVES = st.one_of(_LEAF_NUMBERS.map(lambda t: ("num", t)), st.sampled_from(["x", "y", "i"]).map(lambda n: ("var", n)),
                    st.just(("count", "i")))


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/", "**"]), children, children).map(lambda t: ("bin",) + t),
        st.tuples(st.sampled_from(["-", "+"]), children).map(lambda t: ("unary",) + t),
        st.tuples(st.sampled_from(["sqrt", "log", "exp", "abs", "floor", "ceil"]), children).map(
            lambda t: ("call", t[0], (t[1],))),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(children, min_size=2, max_size=3)).map(
            lambda t: ("call", t[0], tuple(t[1]))),
    )


TREES = st.recursive(_LEAVES, _extend, max_leaves=12)
_TEST_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}


class Undefined(Exception):
    """The reference's math error."""


def reference(tree: tuple, env: dict[str, float], count_i: int) -> float:
    """The test's own tree walk (plain Python float arithmetic); Undefined where the module must refuse."""
    kind = tree[0]
    if kind == "num":
        return float(tree[1])
    if kind == "var":
        return float(env[tree[1]])
    if kind == "count":
        return float(count_i)
    if kind == "unary":
        v = reference(tree[2], env, count_i)
        return -v if tree[1] == "-" else v
    if kind == "bin":
        a, b = reference(tree[2], env, count_i), reference(tree[3], env, count_i)
        try:
            result = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
                      "**": lambda: a ** b}[tree[1]]()
        except (ZeroDivisionError, OverflowError) as exc:
            raise Undefined from exc
    else:
        args = [reference(t, env, count_i) for t in tree[2]]
        fn = {"sqrt": math.sqrt, "log": math.log, "exp": math.exp, "abs": abs, "floor": math.floor, "ceil": math.ceil,
              "min": min, "max": max}[tree[1]]
        try:
            result = fn(*args)
        except (ValueError, OverflowError) as exc:
            raise Undefined from exc
    if isinstance(result, complex) or not math.isfinite(result):
        raise Undefined
    return float(result)


def render(tree: tuple, rng: random.Random, *, floats: bool = False) -> str:
    """Text with the fewest parentheses Python's precedence needs, plus random redundant ones and spaces."""
    def sp() -> str:
        return rng.choice(["", "", " ", "  ", "\t"])

    def prec(t: tuple) -> int:
        return _TEST_PREC[t[1]] if t[0] == "bin" else 3 if t[0] == "unary" else 5

    def go(t: tuple, need: bool) -> str:
        text = leaf(t)
        return f"({sp()}{text}{sp()})" if need or (t[0] in ("bin", "unary") and rng.random() < 0.15) else text

    def leaf(t: tuple) -> str:
        kind = t[0]
        if kind == "num":
            return repr(float(t[1])) if floats else t[1]
        if kind == "var":
            return t[1]
        if kind == "count":
            return f"count({sp()}i{sp()})"
        if kind == "unary":
            return t[1] + sp() + go(t[2], prec(t[2]) < 3)
        if kind == "call":
            return t[1] + "(" + ",".join(sp() + go(a, False) + sp() for a in t[2]) + ")"
        op, left, right = t[1], t[2], t[3]
        if op == "**":
            return go(left, prec(left) <= 4) + sp() + "**" + sp() + go(right, prec(right) < 3)
        p = _TEST_PREC[op]
        return go(left, prec(left) < p) + sp() + op + sp() + go(right, prec(right) <= p)

    return sp() + go(tree, False) + sp()


ENV = {"x": 1.5, "y": -2.0, "i": 3}
COUNT_I = 7


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=TREES, seed=st.integers(0, 2**32 - 1))
def test_random_expressions_match_the_reference(tree: tuple, seed: int) -> None:
    text = render(tree, random.Random(seed))
    assume(sum(not c.isspace() for c in text) <= MAX_LENGTH)
    expr = compile_expression(text)
    try:
        expected = reference(tree, ENV, COUNT_I)
    except Undefined:
        with pytest.raises(ExpressionError) as info:
            expr.evaluate(ENV, {"i": COUNT_I})
        assert info.value.codes == ["math_error"]
        assert not text[info.value.offset].isspace()  # the column points at the failing token
        assert f"column {info.value.column}" in str(info.value)
        return
    got = expr.evaluate(ENV, {"i": COUNT_I})
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-300), text
    # the canonical text means the same and is a fixed point
    canonical = str(expr)
    assert str(compile_expression(canonical)) == canonical
    assert compile_expression(canonical).evaluate(ENV, {"i": COUNT_I}) == got
    # Python's own parser agrees on the test's generated text (trusted: built here, float literals so no huge ints)
    namespace = {"__builtins__": {}, **ENV, "count": lambda _: COUNT_I, "sqrt": math.sqrt, "log": math.log,
                 "exp": math.exp, "abs": abs, "floor": math.floor, "ceil": math.ceil, "min": min, "max": max}
    oracle = eval(render(tree, random.Random(seed), floats=True), namespace)  # the test's own text, not input
    assert float(oracle) == pytest.approx(got, rel=1e-12, abs=1e-300), text


_JUNK_TOKENS = ["1", "0", "2.5", ".5", "1e308", "1e-3", "x", "y", "i", "width", "widht", "+", "-", "*", "/", "**",
                "(", ")", ",", " ", "sqrt", "log", "exp", "min", "max", "count", "abs", "floor", "nan", "inf", "e",
                ".", "#", "{i}", "[", "'", "__import__", "os", "lambda", "True"]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(_JUNK_TOKENS), max_size=25).map("".join)))
def test_junk_only_ever_raises_spec_error(text: str) -> None:
    try:
        result = compile_expression(text).evaluate({"x": 1.5, "y": 0, "i": 2, "width": 8}, {"i": 4})
    except SpecError as exc:
        assert exc.codes and all(isinstance(e, ExpressionErrorDetail) for e in exc.errors)
        assert all(e.offset is None or 0 <= e.offset <= len(text) for e in exc.errors)
    else:
        assert isinstance(result, float) and math.isfinite(result)


# ---------------------------------------------------------------- capture globs

@pytest.mark.parametrize("pattern, path, expected", [
    ("transformer.h.{i}.*.c_proj.weight", "transformer.h.11.attn.c_proj.weight", {"i": 11}),
    ("transformer.h.{i}.*.c_proj.weight", "transformer.h.0.mlp.c_proj.weight", {"i": 0}),
    ("transformer.h.{i}.*.c_proj.weight", "transformer.h.3.a.b.c.c_proj.weight", {"i": 3}),  # * crosses dots
    ("transformer.h.{i}.*.c_proj.weight", "transformer.h.x.attn.c_proj.weight", None),
    ("transformer.h.{i}.*.c_proj.weight", "transformer.h.-1.attn.c_proj.weight", None),
    ("transformer.h.{i}.*.c_proj.weight", "transformer.h.1.attn.c_proj.bias", None),
    ("transformer.h.{i}.*.c_proj.weight", "prefix.transformer.h.1.attn.c_proj.weight", None),  # whole path
    ("transformer.h.{i}.*.c_proj.weight", "transformer.h.1.attn.c_proj.weight.extra", None),
    ("layers.{i}", "layers.007", {"i": 7}),
    ("layers.{i}", "layers.1.2", None),
    ("enc.{layer}.blocks.{block}.w", "enc.2.blocks.15.w", {"layer": 2, "block": 15}),
    ("*{i}*5*", "15", {"i": 1}),  # backtracking finds the only split
    ("*.{i}.*", "a.b.12.c.3.d", {"i": 12}),  # leftmost when several splits match
    ("*.{i}", "a.1.b.3", {"i": 3}),
    ("h.{i}?.w", "h.12x.w", {"i": 12}),
    ("h.[ab].{i}", "h.b.4", {"i": 4}),
    ("h.[!ab].{i}", "h.b.4", None),
    ("h.*", "h.anything.at.all", {}),
    ("plain.path", "plain.path", {}),
    ("plain.path", "plainXpath", None),
    ("a+b(c).{i}", "a+b(c).1", {"i": 1}),  # regex characters are literal
    ("h.{i}", "h.١", None),  # ASCII digits only
])
def test_match_captures(pattern: str, path: str, expected: dict | None) -> None:
    assert match_captures(pattern, path) == expected


def test_compile_capture_glob() -> None:
    regex, names = compile_capture_glob("transformer.h.{i}.*.c_proj.weight")
    assert names == ("i",) and isinstance(regex, re.Pattern)
    assert regex.fullmatch("transformer.h.5.attn.c_proj.weight").group("i") == "5"
    assert compile_capture_glob("a.{x}.{y}.*")[1] == ("x", "y")
    assert compile_capture_glob("a.*")[1] == ()
    assert compile_capture_glob("h.[{i}].w")[1] == ()  # inside [...] braces are plain characters, as in fnmatch
    assert compile_capture_glob("h.{i}") is compile_capture_glob("h.{i}")


def test_count_captures() -> None:
    paths = [f"transformer.h.{i}.{part}.c_proj.weight" for i in range(12) for part in ("attn", "mlp")]
    paths += ["transformer.wte.weight", "transformer.h.0.ln_1.weight"]
    assert count_captures("transformer.h.{i}.*.c_proj.weight", paths) == {"i": 12}
    assert count_captures("a.{i}.{j}", ["a.0.0", "a.0.1", "a.1.1", "b.5.5"]) == {"i": 2, "j": 2}
    assert count_captures("a.{i}", []) == {"i": 0}
    counts = count_captures("transformer.h.{i}.*.c_proj.weight", paths)
    assert compile_expression("0.02 / sqrt(2 * count(i))").evaluate({}, counts) == pytest.approx(0.02 / math.sqrt(24))


@pytest.mark.parametrize("pattern, column, fragment", [
    ("h.{i}.{i}", 8, "capture {i} appears twice"),
    ("h.{sqrt}", 4, "'sqrt' at column 4 is reserved"),
    ("h.{count}.w", 4, "reserved"),
    ("h.{NaN}", 4, "reserved"),
    ("h.{1x}", 3, "'{1x}' at column 3 is not a capture"),
    ("h.{}", 3, "'{}' at column 3 is not a capture"),
    ("h.{a b}", 3, "is not a capture"),
    ("h.{i", 3, "'{' at column 3 is never closed"),
    ("h.}", 3, "unmatched '}' at column 3"),
    ("h.{{i}}", 3, "not a capture"),
])
def test_bad_captures(pattern: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_capture_glob(pattern)
    exc = info.value
    assert exc.codes == ["bad_capture"] and exc.column == column
    assert exc.errors[0].value == pattern
    assert fragment in exc.errors[0].message, exc.errors[0].message
    with pytest.raises(SpecError):
        match_captures(pattern, "h.1")


def test_capture_glob_not_a_string() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_capture_glob(3)  # type: ignore[arg-type]
    assert info.value.codes == ["wrong_type"]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab.*?[]!-", max_size=10), st.text(alphabet="ab.!-]", max_size=8))
def test_globs_without_captures_match_like_fnmatch(pattern: str, path: str) -> None:
    """The same reading as initspec's plain path globs (fnmatch.translate, case-sensitive)."""
    ours = compile_capture_glob(pattern)[0].fullmatch(path) is not None
    assert ours == (re.compile(fnmatch.translate(pattern)).fullmatch(path) is not None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=3), st.text(alphabet="ab.", min_size=1, max_size=6))
def test_captures_read_back_the_numbers(values: list[int], filler: str) -> None:
    names = [f"c{k}" for k in range(len(values))]
    pattern = "m." + ".*.".join("{" + n + "}" for n in names) + ".w"
    path = "m." + f".{filler}.".join(str(v) for v in values) + ".w"
    if filler:
        assert match_captures(pattern, path) == dict(zip(names, values))


# ---------------------------------------------------------------- schema constants

def test_schema_constants() -> None:
    assert EXPRESSION_SCHEMA["type"] == "string"
    assert "count(name)" in EXPRESSION_SCHEMA["description"]
    pattern = re.compile(EXPRESSION_PATTERN)
    for text in ("0.02 / sqrt(2 * count(i))", "(8*N)**-0.25", "base_width / width", "min(1, x)", "1e-3"):
        assert pattern.search(text)
    assert not pattern.search("__import__('os')") and not pattern.search("a[0]")
    assert set(FUNCTIONS) == {"sqrt", "log", "exp", "abs", "floor", "ceil", "min", "max", "count"}
