"""The documentation runs: every code example in README.md and docs/*.md is executed.

Rules (the pydantic-settings ``tests/test_docs.py`` way, plus a few of our own):

* Every ```` ```python ```` block runs; the blocks of one file share a namespace, in order, in
  a fresh temporary directory.
* A ```` ```yaml ```` block whose first line is ``# <name>.yaml`` is written to that directory
  first, so the Python blocks after it can load it (the README's ``he_normal.yaml``).
* Lines ``#> text`` in a Python block are the output it prints; they must match exactly.
  Random values are never printed literally: examples assert on them or print round numbers.
* Every ``$ initspec ...`` line in a ```` ```console ```` block runs through the CLI, in a
  temporary copy of the repository's ``examples/`` and ``docs/`` (so paths read as from the
  repository root, and files the commands write land in the copy); the output pasted below
  it must mostly match (at least 80 % of its lines appear in the real output).
  ``<!-- docs-test: numbers vary -->`` before a console block (timings, p-values) compares
  its lines with every number masked instead.
* ``<!-- docs-test: skip REASON -->`` on the line before a block skips it; the reason is
  required and skips are only for blocks that need something unavailable here.

And the reference pages stay true: docs/schemes.md is what ``python -m initspec._docgen``
renders now, and every error code the package can raise has its section in docs/errors.md.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b\s*(.*?)\s*-->")
NUMBERS_VARY = re.compile(r"<!--\s*docs-test:\s*numbers vary\s*-->")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")
OPTIONAL = {"torch", "tensorflow", "keras", "jax", "jaxlib", "flax", "matplotlib", "scipy", "typer"}


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None  # the reason, when marked
    numbers_vary: bool = False


def blocks(path: Path) -> list[Block]:
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        body = []
        i += 1
        while i < len(lines) and not re.match(rf"^{indent}```\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        prev = lines[start - 1] if start > 0 else ""
        marker = SKIP.search(prev)
        out.append(Block(lang, textwrap.dedent("\n".join(body)) + "\n", start + 1,
                         marker.group(1) if marker else None, bool(NUMBERS_VARY.search(prev))))
        i += 1
    return out


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_skip_markers_give_a_reason(path: Path) -> None:
    for b in blocks(path):
        assert b.skip is None or b.skip.strip(), f"{_id(path)}:{b.line}: docs-test skip needs a reason"


# ----------------------------------------------------------------------------- python blocks


@pytest.mark.parametrize("path", [p for p in FILES if any(b.lang == "python" for b in blocks(p))], ids=_id)
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))  # `import docs.mlp`, as from the repository root
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for b in blocks(path):
        if b.skip is not None:
            continue
        first = b.code.splitlines()[0] if b.code.strip() else ""
        if b.lang in ("yaml", "yml") and (m := re.fullmatch(r"#\s*([\w.-]+\.ya?ml)\s*", first)):
            (tmp_path / m.group(1)).write_text(b.code, encoding="utf-8")
            continue
        if b.lang != "python":
            continue
        expected = [line[3:] if line.startswith("#> ") else "" for line in b.code.splitlines()
                    if line.startswith("#>")]
        out = io.StringIO()
        try:
            code = compile(b.code, f"{_id(path)}:{b.line}", "exec")
            with contextlib.redirect_stdout(out):
                exec(code, namespace)  # noqa: S102 - the docs are ours
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in OPTIONAL:
                pytest.skip(f"{_id(path)}:{b.line} needs {exc.name}")
            raise
        except Exception as exc:
            raise AssertionError(f"{_id(path)}, block at line {b.line} failed: {type(exc).__name__}: {exc}") \
                from exc
        if expected:
            got = [line.rstrip() for line in out.getvalue().rstrip("\n").splitlines()]
            assert got == [e.rstrip() for e in expected], f"{_id(path)}:{b.line}: printed output differs"


# ----------------------------------------------------------------------------- console blocks


def _commands(b: Block) -> list[tuple[str, list[str]]]:
    """(command line, pasted output lines) for each ``$ initspec ...`` in a console block."""
    out: list[tuple[str, list[str]]] = []
    for line in b.code.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return [(cmd, lines) for cmd, lines in out if cmd.startswith("initspec ")]


CONSOLE = [(p, b, cmd, expected) for p in FILES for b in blocks(p) if b.lang == "console" and b.skip is None
           for cmd, expected in _commands(b)]


@pytest.mark.parametrize("path, block, command, expected", CONSOLE,
                         ids=[f"{_id(p)}:{b.line}:{c[:50]}" for p, b, c, _ in CONSOLE])
def test_console_commands_match_pasted_output(path: Path, block: Block, command: str, expected: list[str],
                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    typer_testing = pytest.importorskip("typer.testing")
    from initspec.cli import app

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("img", "__pycache__"))
    monkeypatch.chdir(tmp_path)
    head = None
    if m := re.fullmatch(r"(.*?)\s*\|\s*head -(?:n\s*)?(\d+)", command):
        command, head = m.group(1), int(m.group(2))
    args = shlex.split(command)[1:]
    result = typer_testing.CliRunner().invoke(app, args)
    if isinstance(result.exception, ModuleNotFoundError):
        pytest.skip(f"needs {result.exception.name}")
    got = result.output.splitlines()[:head] if head else result.output.splitlines()
    assert any(line.strip() for line in expected), f"{_id(path)}:{block.line}: paste the output of `{command}`"
    assert output_matches(expected, got, numbers_vary=block.numbers_vary), (
        f"{_id(path)}:{block.line}: `{command}` printed\n" + "\n".join(got))


def output_matches(expected: list[str], got: list[str], *, numbers_vary: bool = False) -> bool:
    """At least 80 % of the pasted non-blank lines appear in the real output (numbers masked
    when they vary)."""
    def norm(line: str) -> str:
        return " ".join(NUMBER.sub("#", line).split()) if numbers_vary else line.rstrip()

    want = [norm(line) for line in expected if line.strip()]
    got_set = {norm(line) for line in got}
    return sum(line in got_set for line in want) >= 0.8 * len(want)


def test_output_comparison_can_fail() -> None:
    law = ["spec: {'scheme': 'he'}", "fans: fan_in=256", "law: U(-0.0625, 0.0625)", "  mean 0, std 0.0360844"]
    pasted = [*law, "done in 1.2s"]
    assert output_matches(pasted, [*law, "done in 3.4s"])                       # one line of five differs
    wrong = ["spec: {'scheme': 'he'}", "fans: fan_in=64", "law: U(-0.125, 0.125)", "  mean 0, std 0.0721688"]
    assert not output_matches(pasted, [*wrong, "done in 1.2s"])
    assert output_matches(pasted, [*wrong, "done in 9s"], numbers_vary=True)    # same lines, other numbers
    assert not output_matches(pasted, ["law: N(0, 0.125²)", "done"], numbers_vary=True)


# ----------------------------------------------------------------------------- reference pages


def test_schemes_page_is_current() -> None:
    from initspec import _docgen

    committed = (DOCS / _docgen.FILENAME).read_text(encoding="utf-8")
    assert committed == _docgen.render(), "docs/schemes.md is stale: run python -m initspec._docgen --write docs"


#: Callables whose first argument is an error code.
_CODE_FACTORIES = {"ErrorDetail", "single", "PydanticCustomError", "_error", "_fail", "_refuse"}


def codes_in_source() -> dict[str, list[str]]:
    """Every error code a literal in initspec/ or adapters/ can produce -> where."""
    found: dict[str, list[str]] = {}

    def add(code: object, where: str) -> None:
        if isinstance(code, str) and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code):  # x64_disabled too
            found.setdefault(code, []).append(where)

    for folder in ("initspec", "adapters"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            rel = path.relative_to(ROOT)
            for node in ast.walk(tree):
                where = f"{rel}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Call):
                    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                    if name in _CODE_FACTORIES and node.args and isinstance(node.args[0], ast.Constant):
                        add(node.args[0].value, where)
                    for kw in node.keywords:
                        if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                            add(kw.value.value, where)
                elif isinstance(node, ast.Assign):
                    for target in node.targets:  # code = "x"  /  code, message = "x", "..."
                        names = target.elts if isinstance(target, ast.Tuple) else [target]
                        values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                        for t, v in zip(names, values):
                            if isinstance(t, ast.Name) and t.id == "code" and isinstance(v, ast.Constant):
                                add(v.value, where)
                        if isinstance(target, ast.Name) and target.id == "_CODE_BY_TYPE":
                            for v in node.value.values:  # type: ignore[attr-defined]
                                add(v.value, where)
    return found


def test_codes_found_in_source() -> None:
    codes = codes_in_source()  # the extractor itself must keep finding the known ones
    for code in ("unknown_scheme", "missing_field", "duplicate_key", "uncovered_parameter", "bad_seed",
                 "yaml_alias", "unknown_keras_class", "shape_too_small", "invalid_choice"):
        assert code in codes, code
    assert len(codes) >= 50


def test_every_error_code_is_documented() -> None:
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z0-9_]+)`", text, flags=re.M))
    codes = codes_in_source()
    codes.setdefault("invalid_value", ["initspec/parsing.py (fallback for other pydantic errors)"])
    missing = {c: w[:2] for c, w in codes.items() if c not in documented}
    assert not missing, f"error codes without a section (### `code`) in docs/errors.md: {missing}"
    stale = documented - set(codes)
    assert not stale, f"docs/errors.md documents codes the package no longer raises: {sorted(stale)}"


# ----------------------------------------------------------------------------- links

#: Pages other work streams write; a link to them may exist before the page does.
PENDING_PAGES = {"conformance.md"}


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, flags=re.M)}


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_relative_links_resolve(path: Path) -> None:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            if dest.name not in PENDING_PAGES:
                broken.append(target)
            continue
        if anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{_id(path)}: broken links {broken}"
