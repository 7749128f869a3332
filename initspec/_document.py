"""Safe, position-tracking loading of YAML and JSON spec files.

A spec file is pure data, so the loaders accept only plain data and turn every problem
into a :class:`~initspec.errors.SpecError` with a stable code and a 1-based
``line:col`` (columns count characters, not bytes). The rules, applied to both formats
where they make sense:

* size is capped (``too_large``, checked on the raw bytes before decoding or parsing);
  input must be UTF-8 (``not_utf8``; a leading BOM is allowed and stripped);
* exactly one document (``empty_document``: nothing but blanks/comments, or a bare
  ``---``; ``multiple_documents``);
* nesting is capped (``too_deep``; each open list/mapping is a level, the root mapping
  is level 1); both parsers build values on an explicit stack, so no input, however
  deep, can raise :class:`RecursionError`;
* duplicate keys are errors that name both lines (``duplicate_key``); YAML keys must be
  strings (``non_string_key``);
* NaN and infinities, including numbers that overflow to infinity, are rejected
  (``non_finite``);
* YAML anchors, aliases and merge keys (a plain ``<<`` key) are rejected as soon as
  they are scanned (``yaml_alias``: no billion laughs, no shared values), as are all
  explicit tags (``yaml_tag``: nothing is ever constructed from a tag).

YAML is read with PyYAML's pure-Python Reader/Scanner/Parser; its resolver and
constructor are never used. Plain scalars follow the YAML 1.2 *core* schema, not
PyYAML's YAML 1.1 rules: only ``true``/``false`` (also ``True``/``TRUE``...) are bools,
so ``yes``/``no``/``on``/``off`` are strings; ``null``/``~``/empty are null; ints are
decimal, ``0o`` octal or ``0x`` hex (no ``_``, no ``1:20``; ``010`` is decimal 10);
``1e-3`` is a float; ``.inf``/``.nan`` (any case) are refused; anything else (dates,
``=``, ``nan``, ``inf``) is a string. Quoted and block scalars are always strings.
JSON is read by a small strict parser (no comments, trailing commas, single quotes or
NaN/Infinity; ints stay ints).

Speed: YAML is read by libyaml's event parser where PyYAML has it (a 1 MiB file of flat
``key: value`` lines in about 0.1 s); a file it cannot read is read again by PyYAML's
pure-Python parser (~200k tokens/s: about 1.4 s for 1 MiB), whose messages and positions are
the ones documented, so every refused file reads the same with or without libyaml.  JSON is
read by a strict parser of ours, in about 0.3 s per MiB.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field
from json.decoder import JSONDecodeError, scanstring
from json.scanner import NUMBER_RE
from typing import Any, Literal

import yaml
from yaml import events as ev
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.scanner import Scanner

try:  # libyaml, through PyYAML's C extension (an event parser only: nothing is ever constructed)
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _CParser = None

from .errors import ErrorDetail, SpecError

__all__ = ["MAX_BYTES_DEFAULT", "MAX_DEPTH_DEFAULT", "Document", "load_text", "load_path"]

MAX_BYTES_DEFAULT = 1 << 20  # 1 MiB
MAX_DEPTH_DEFAULT = 32  # containers open at once; the root mapping is depth 1

KeyPath = tuple["str | int", ...]
Pos = tuple[int, int]


class _Node:
    """A container being built on a parser's explicit stack, and later its position record:
    ``pos`` is where it starts, ``kids`` holds the children's positions (a ``_Node`` or a
    ``(line, col)`` pair), ``keys`` the key positions of a mapping, ``key`` the key whose
    value is being read."""

    __slots__ = ("value", "pos", "kids", "keys", "key")

    def __init__(self, is_map: bool, pos: Pos):
        self.value: dict | list = {} if is_map else []
        self.pos = pos
        self.kids: dict | list = {} if is_map else []
        self.keys: dict[str, Pos] | None = {} if is_map else None
        self.key: str | None = None

    def set_key(self, key: str, pos: Pos, file: str | None) -> None:
        if (first := self.keys.get(key)) is not None:
            raise _error("duplicate_key", f"duplicate key {key!r} (first at line {first[0]}, again at line "
                         f"{pos[0]}); each key may appear only once in a mapping", file, pos)
        self.keys[key] = pos
        self.key = key

    def add(self, value: Any, loc: Any) -> None:
        if self.keys is None:
            self.value.append(value)
            self.kids.append(loc)
        else:
            self.value[self.key] = value
            self.kids[self.key] = loc
            self.key = None


@dataclass(frozen=True)
class Document:
    """Plain data loaded from a file, plus where each value and key came from."""

    data: Any
    filename: str | None = None
    _locs: Any = field(default=None, repr=False, compare=False)

    def _node(self, path: KeyPath) -> Any:
        node = self._locs
        for part in path:
            if not isinstance(node, _Node):
                return None
            kids = node.kids
            if isinstance(kids, dict) and isinstance(part, str) and part in kids:
                node = kids[part]
            elif (isinstance(kids, list) and isinstance(part, int)
                  and not isinstance(part, bool) and 0 <= part < len(kids)):
                node = kids[part]
            else:
                return None
        return node

    def locate(self, path: KeyPath) -> Pos | None:
        """1-based ``(line, col)`` of the value at ``path`` (``()`` = root), or None."""
        node = self._node(tuple(path))
        return node.pos if isinstance(node, _Node) else node

    def locate_key(self, path: KeyPath) -> Pos | None:
        """1-based ``(line, col)`` of the key token of the mapping entry ``path``, or None."""
        path = tuple(path)
        if not path:
            return None
        parent = self._node(path[:-1])
        if isinstance(parent, _Node) and parent.keys is not None:
            return parent.keys.get(path[-1])
        return None


# --------------------------------------------------------------------------- shared bits

def _error(code: str, message: str, file: str | None, pos: Pos | None = None, **value: Any) -> SpecError:
    line, col = pos if pos is not None else (None, None)
    return SpecError(ErrorDetail(code=code, message=message, file=file, line=line, col=col, **value))


def _linecol(text: str, index: int) -> Pos:
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _too_large(size: int, max_bytes: int, file: str | None) -> SpecError:
    return _error("too_large", f"input is {size} bytes, over the {max_bytes}-byte cap; split the spec or "
                  "pass a larger max_bytes= to the loader", file, value=size)


def _too_deep(max_depth: int, file: str | None, pos: Pos) -> SpecError:
    return _error("too_deep", f"nesting is deeper than {max_depth} levels; flatten the spec or pass a "
                  "larger max_depth= to the loader", file, pos)


def _non_finite(text: str, file: str | None, pos: Pos, hint: str = "") -> SpecError:
    return _error("non_finite", f"NaN and infinite numbers are not allowed; numbers must be finite{hint}",
                  file, pos, value=text)


def _too_many_digits(text: str, syntax_code: str, file: str | None, pos: Pos) -> SpecError:
    return _error(syntax_code, f"integer literal with {len(text)} digits is too long to read",
                  file, pos, value=text[:20] + "...")


def _decode(raw: str | bytes, file: str | None, max_bytes: int) -> str:
    """Check the size cap, decode UTF-8, drop a BOM."""
    if isinstance(raw, str):
        # A str's UTF-8 size is between len and 4 * len; encode only when it matters.
        size = len(raw) if len(raw) > max_bytes or 4 * len(raw) <= max_bytes \
            else len(raw.encode("utf-8", "surrogatepass"))
    elif isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        size = len(raw)
    else:
        raise _error("wrong_type", f"the text to read must be a str or bytes, not {type(raw).__name__}", file,
                     value=type(raw).__name__)
    if size > max_bytes:
        raise _too_large(size, max_bytes, file)
    if isinstance(raw, bytes):
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            good = raw[: exc.start].decode("utf-8")
            pos = _linecol(good, len(good))
            raise _error("not_utf8", f"input is not valid UTF-8 (bad byte 0x{raw[exc.start]:02x}); save "
                         "the file as UTF-8", file, pos, value=raw[exc.start: exc.end]) from None
    if match := re.search("[\ud800-\udfff]", raw):
        raise _error("not_utf8", "text contains a lone surrogate code point, which is not valid UTF-8",
                     file, _linecol(raw, match.start()), value=match.group())
    return raw[1:] if raw.startswith("\ufeff") else raw


# --------------------------------------------------------------------------- YAML

_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NON_FINITE = re.compile(r"[-+]?\.(?:inf|nan)", re.IGNORECASE)


def _plain_scalar(text: str, file: str | None, pos: Pos) -> Any:
    """Resolve an untagged plain scalar with the YAML 1.2 core schema."""
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        try:
            return int(text[2:] if base != 10 else text, base)
        except ValueError:  # more digits than sys.get_int_max_str_digits()
            raise _too_many_digits(text, "yaml_syntax", file, pos) from None
    if _FLOAT.fullmatch(text):
        value = float(text)
        if math.isinf(value):
            raise _non_finite(text, file, pos, " (quote it if you meant a string)")
        return value
    if _NON_FINITE.fullmatch(text):
        raise _non_finite(text, file, pos, " (quote it if you meant a string)")
    return text


class _YamlEvents(Reader, Scanner, Parser):
    """PyYAML's pure-Python event parser, refusing anchors, aliases and tags as it scans."""

    def __init__(self, text: str, file: str | None):
        self.file = file
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)

    def _refuse(self, code: str, what: str, scan: Any) -> None:
        mark = self.get_mark()
        try:
            token = scan()
            value = token.value if isinstance(token.value, str) else "".join(p or "" for p in token.value)
        except yaml.YAMLError:
            value = self.peek()
        raise _error(code, what, self.file, (mark.line + 1, mark.column + 1), value=value)

    def fetch_alias(self) -> None:
        self._refuse("yaml_alias", "YAML aliases (*name) are not allowed; write the value out in full",
                     lambda: self.scan_anchor(yaml.AliasToken))

    def fetch_anchor(self) -> None:
        self._refuse("yaml_alias", "YAML anchors (&name) are not allowed; write each value out in full",
                     lambda: self.scan_anchor(yaml.AnchorToken))

    def fetch_tag(self) -> None:
        self._refuse("yaml_tag", "YAML tags (!name, !!type) are not allowed; a spec file is plain data",
                     self.scan_tag)

    # Speed: the parser asks check_token() several times per token and PyYAML re-runs
    # need_more_tokens() every time; its answer cannot change until a token is taken or
    # fetched, so remember it. This makes a 1 MiB file load ~25% faster.
    _ready = False

    def _fill(self) -> None:
        if not self._ready:
            while self.need_more_tokens():
                self.fetch_more_tokens()
            self._ready = True

    def check_token(self, *choices: type) -> bool:
        self._fill()
        return bool(self.tokens) and (not choices or isinstance(self.tokens[0], choices))

    def peek_token(self) -> Any:
        self._fill()
        return self.tokens[0] if self.tokens else None

    def get_token(self) -> Any:
        self._fill()
        if self.tokens:
            self._ready = False
            self.tokens_taken += 1
            return self.tokens.pop(0)
        return None


def _yaml_error(exc: yaml.YAMLError, text: str, file: str | None) -> SpecError:
    if isinstance(exc, ReaderError):
        code = ord(exc.character) if isinstance(exc.character, str) else int(exc.character)
        return _error("yaml_syntax", f"character U+{code:04X} is not allowed in YAML",
                      file, _linecol(text, min(max(exc.position, 0), len(text))))
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        parts = [exc.context, exc.problem]
        if exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            parts[0] = f"{exc.context} (from line {exc.context_mark.line + 1})"
        message = ": ".join(" ".join(str(p).split()) for p in parts if p)
        pos = (mark.line + 1, mark.column + 1) if mark is not None else None
        return _error("yaml_syntax", message or "invalid YAML", file, pos)
    return _error("yaml_syntax", " ".join(str(exc).split()) or "invalid YAML", file)


#: Where libyaml accepts what PyYAML's pure parser refuses, or places a key elsewhere (found by
#: differential fuzzing): tabs as separators, explicit '?' keys, '#' right after a block scalar
#: indicator.  Texts with these are read by the pure parser only.
_LIBYAML_DIFFERS = re.compile(r"[\t?]|[|>][-+0-9]*#")


def _load_yaml(text: str, file: str | None, max_depth: int) -> Document:
    """One YAML document.  libyaml's event parser (PyYAML's C extension) reads it when it is
    installed - some 15x faster - and any problem it meets, or any document it reads that
    does not build, is read again by the pure-Python parser below, whose messages and
    positions are the ones documented; so a refused file reads the same either way and an
    accepted one costs a fraction of a second per MiB.  Both refuse anchors, aliases and tags
    at the first one, and build values on an explicit stack (:func:`_build_yaml`)."""
    if _CParser is not None and not _LIBYAML_DIFFERS.search(text):
        try:
            return _load_events(_CParser(text), file, max_depth)
        except Exception:  # noqa: BLE001 - the pure parser below says what is wrong, as documented
            pass
    return _load_pure(text, file, max_depth)


class _Strict:
    """A libyaml event parser that gives up (for the pure parser) on an empty plain value: libyaml
    places it at the next token, PyYAML right after its key (found by the fuzzer: ``"":`` then a
    newline), and error messages quote that position."""

    def __init__(self, parser: Any):
        self.parser = parser
        self.check_event, self.peek_event = parser.check_event, parser.peek_event

    def get_event(self) -> Any:
        event = self.parser.get_event()
        if type(event) is ev.ScalarEvent and not event.style and event.value == "":
            raise ValueError("an empty plain scalar")
        return event


def _load_events(parser: Any, file: str | None, max_depth: int) -> Document:
    """A document from a libyaml event parser that must read it without a single problem."""
    parser = _Strict(parser)
    parser.get_event()  # StreamStart
    if parser.check_event(ev.StreamEndEvent):
        raise ValueError("empty")
    parser.get_event()  # DocumentStart
    data, locs = _build_yaml(parser, file, max_depth)
    parser.get_event()  # DocumentEnd
    if not parser.check_event(ev.StreamEndEvent):
        raise ValueError("more than one document")
    return Document(data, file, locs)


def _load_pure(text: str, file: str | None, max_depth: int) -> Document:
    try:
        parser = _YamlEvents(text, file)
        parser.get_event()  # StreamStart
        if parser.check_event(ev.StreamEndEvent):
            raise _error("empty_document", "the document is empty (nothing but blanks and comments)",
                         file, (1, 1))
        parser.get_event()  # DocumentStart
        data, locs = _build_yaml(parser, file, max_depth)
        parser.get_event()  # DocumentEnd
        if not parser.check_event(ev.StreamEndEvent):
            mark = parser.peek_event().start_mark
            raise _error("multiple_documents", "the file holds more than one YAML document (separated by "
                         "'---'); put the whole spec in a single document", file,
                         (mark.line + 1, mark.column + 1))
    except yaml.YAMLError as exc:
        if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
            raise _error("empty_document", "the document is empty (nothing but blanks and comments)",
                         file, (1, 1)) from None  # PyYAML refuses some blank lines, e.g. with tabs
        raise _yaml_error(exc, text, file) from None
    except (ValueError, OverflowError, IndexError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, SpecError):
            raise
        # PyYAML's scanner itself fails on a few inputs (an escape beyond Unicode such as
        # "\U0011FFFF" raises ValueError from chr()): report where it stopped
        try:
            mark = parser.get_mark()
            pos: Pos | None = (mark.line + 1, mark.column + 1)
        except Exception:  # noqa: BLE001 - the parser may be half built
            pos = None
        detail = str(exc)
        if "chr()" in detail:
            detail = "an escape sequence names a character beyond Unicode (the last is \\U0010FFFF)"
        raise _error("yaml_syntax", f"invalid YAML: {detail}", file, pos) from None
    return Document(data, file, locs)


def _build_yaml(parser: _YamlEvents, file: str | None, max_depth: int) -> tuple[Any, Any]:
    """Consume the events of one node and build its value, with an explicit stack."""
    stack: list[_Node] = []
    while True:
        event = parser.get_event()
        kind = type(event)
        pos = (event.start_mark.line + 1, event.start_mark.column + 1)
        top = stack[-1] if stack else None
        wants_key = top is not None and top.keys is not None and top.key is None
        if kind is ev.SequenceEndEvent or kind is ev.MappingEndEvent:
            stack.pop()
            value, loc = top.value, top
            top = stack[-1] if stack else None
        elif kind is ev.AliasEvent:  # normally refused by the scanner already
            raise _error("yaml_alias", "YAML aliases (*name) are not allowed", file, pos, value=event.anchor)
        elif event.anchor is not None:
            raise _error("yaml_alias", "YAML anchors (&name) are not allowed", file, pos, value=event.anchor)
        elif event.tag is not None:
            raise _error("yaml_tag", "YAML tags are not allowed", file, pos, value=event.tag)
        elif kind is ev.ScalarEvent:
            value = _plain_scalar(event.value, file, pos) if not event.style else event.value
            loc = pos
            if wants_key:
                if not isinstance(value, str):
                    hint = f"quote the key: '\"{event.value}\": ...'" if event.value else "the key is empty"
                    kind = {bool: "a boolean", type(None): "null"}.get(type(value), "a number")
                    raise _error("non_string_key", f"mapping keys must be strings, not {kind}; {hint}",
                                 file, pos, value=value)
                if value == "<<" and not event.style:
                    raise _error("yaml_alias", "YAML merge keys (<<) are not allowed; write the keys out",
                                 file, pos, value=value)
                top.set_key(value, pos, file)
                continue
            if not stack and not event.style and event.value == "":
                raise _error("empty_document", "the document is empty", file, pos)
        else:  # SequenceStartEvent / MappingStartEvent
            is_map = kind is ev.MappingStartEvent
            if wants_key:
                raise _error("non_string_key", f"mapping keys must be strings, not a "
                             f"{'mapping' if is_map else 'list'}", file, pos)
            if len(stack) >= max_depth:
                raise _too_deep(max_depth, file, pos)
            stack.append(_Node(is_map, pos))
            continue
        if top is None:
            return value, loc
        top.add(value, loc)


# --------------------------------------------------------------------------- JSON

_WS = re.compile(r"[ \t\n\r]*")
_LITERALS = (("true", True), ("false", False), ("null", None))


class _Json:
    """Strict JSON with positions; explicit stack, so depth never recurses."""

    def __init__(self, text: str, file: str | None, max_depth: int):
        self.text, self.file, self.max_depth = text, file, max_depth
        self.i, self.line, self.line_start = 0, 1, 0

    def fail(self, message: str, index: int | None = None) -> SpecError:
        index = self.i if index is None else index
        return _error("json_syntax", message, self.file, _linecol(self.text, index))

    def found(self) -> str:
        return repr(self.text[self.i]) if self.i < len(self.text) else "end of input"

    def skip_ws(self) -> str:
        """Skip blanks, keep line numbers, return the next character ('' at the end)."""
        text, i = self.text, self.i
        j = _WS.match(text, i).end()
        if j > i and (count := text.count("\n", i, j)):
            self.line += count
            self.line_start = text.rfind("\n", i, j) + 1
        self.i = j
        return text[j] if j < len(text) else ""

    def pos(self) -> Pos:
        return self.line, self.i - self.line_start + 1

    def string(self) -> str:
        try:
            value, self.i = scanstring(self.text, self.i + 1, True)
        except JSONDecodeError as exc:
            message = exc.msg.removesuffix(" at")  # e.g. "Invalid \\escape", "Unterminated string starting"
            message = message[0].lower() + message[1:]
            if message.startswith("invalid control"):
                message += " in a string; escape it (\\n, \\t, \\u0000)"
            raise self.fail(message, exc.pos) from None
        return value

    def key(self, frame: _Node) -> None:
        """Read ``"key" :`` into ``frame``; the cursor is at the opening quote."""
        pos = self.pos()
        frame.set_key(self.string(), pos, self.file)
        if self.skip_ws() != ":":
            raise self.fail(f"expected ':' after object key, found {self.found()}")
        self.i += 1
        self.skip_ws()

    def scalar(self, pos: Pos) -> Any:
        text, i = self.text, self.i
        c = text[i] if i < len(text) else ""
        if c == '"':
            return self.string()
        for word in ("NaN", "Infinity", "-Infinity"):
            if text.startswith(word, i):
                raise _non_finite(word, self.file, pos)
        if match := NUMBER_RE.match(text, i):
            integer, frac, exp = match.groups()
            self.i = match.end()
            if frac is None and exp is None:
                try:
                    return int(integer)
                except ValueError:
                    raise _too_many_digits(integer, "json_syntax", self.file, pos) from None
            value = float(match.group())
            if math.isinf(value):
                raise _non_finite(match.group(), self.file, pos)
            return value
        for word, value in _LITERALS:
            if text.startswith(word, i):
                self.i += len(word)
                return value
        hint = "; strings need double quotes" if c == "'" else ""
        raise self.fail(f"expected a JSON value, found {self.found()}{hint}")

    def parse(self) -> Document:
        if self.skip_ws() == "":
            raise _error("empty_document", "the document is empty", self.file, (1, 1))
        stack: list[_Node] = []
        while True:
            # The cursor is at a value.
            pos, c = self.pos(), self.text[self.i] if self.i < len(self.text) else ""
            if c in ("{", "["):
                if len(stack) >= self.max_depth:
                    raise _too_deep(self.max_depth, self.file, pos)
                frame = _Node(c == "{", pos)
                self.i += 1
                nxt = self.skip_ws()
                if nxt != ("}" if c == "{" else "]"):
                    if c == "{":
                        if nxt != '"':
                            raise self.fail(f"expected a double-quoted key or '}}', found {self.found()}")
                        self.key(frame)
                    stack.append(frame)
                    continue
                self.i += 1
                value, loc = frame.value, frame
            else:
                value, loc = self.scalar(pos), pos
            # Attach the finished value; close every container it completes.
            while True:
                if not stack:
                    if self.skip_ws() != "":
                        raise self.fail(f"extra data after the JSON value: {self.found()}")
                    return Document(value, self.file, loc)
                top = stack[-1]
                top.add(value, loc)
                close = "]" if top.keys is None else "}"
                c = self.skip_ws()
                if c == ",":
                    self.i += 1
                    nxt = self.skip_ws()
                    if nxt in ("]", "}"):
                        raise self.fail("trailing comma before " + repr(nxt) + " is not allowed in JSON")
                    if top.keys is not None:
                        if nxt != '"':
                            raise self.fail(f"expected a double-quoted key, found {self.found()}")
                        self.key(top)
                    break
                if c != close:
                    raise self.fail(f"expected ',' or {close!r}, found {self.found()}")
                self.i += 1
                stack.pop()
                value, loc = top.value, top


# --------------------------------------------------------------------------- public API

def _check_limits(max_bytes: Any, max_depth: Any, file: str | None) -> None:
    for name, v in (("max_bytes", max_bytes), ("max_depth", max_depth)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise _error("wrong_type", f"{name} must be a positive integer", file, value=_short(v))


def _short(value: Any) -> Any:
    from .errors import safe_value

    return safe_value(value)


def load_text(text: str | bytes, *, fmt: Literal["yaml", "json"], filename: str | None = None,
              max_bytes: int = MAX_BYTES_DEFAULT, max_depth: int = MAX_DEPTH_DEFAULT) -> Document:
    """Parse YAML or JSON text (str or UTF-8 bytes) into a :class:`Document`."""
    if filename is not None and not isinstance(filename, str):
        raise _error("wrong_type", f"filename must be a str, not {type(filename).__name__}", None,
                     value=type(filename).__name__)
    if not isinstance(fmt, str) or fmt not in ("yaml", "json"):
        raise _error("unknown_format", f"unknown format {_short(fmt)!r}; use 'yaml' or 'json'", filename,
                     value=_short(fmt))
    _check_limits(max_bytes, max_depth, filename)
    decoded = _decode(text, filename, max_bytes)
    try:
        if fmt == "json":
            return _Json(decoded, filename, max_depth).parse()
        return _load_yaml(decoded, filename, max_depth)
    except RecursionError:  # not reachable with the explicit stacks; a last line of defence
        raise _error("too_deep", f"nesting is too deep to read (cap {max_depth})", filename) from None


_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


def _read_regular(name: str, max_bytes: int) -> bytes:
    """Up to ``max_bytes + 1`` bytes of the regular file ``name``.  Opened non-blocking and
    checked with fstat before any read, so a FIFO (whose open and read would wait for a
    writer forever) or a device is refused at once."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(name, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise _error("file_unreadable", f"this is {what}, not a regular file; initspec reads spec and plan files "
                         "only (save the text to a file, or pass it inline)", name)
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        raw = b"".join(chunks)
        if len(raw) > max_bytes:
            raise _too_large(max(st.st_size, len(raw)), max_bytes, name)
        return raw
    finally:
        os.close(fd)


def load_path(path: str | os.PathLike, *, fmt: Literal["yaml", "json"] | None = None,
              max_bytes: int = MAX_BYTES_DEFAULT, max_depth: int = MAX_DEPTH_DEFAULT) -> Document:
    """Read and parse a spec file; the format comes from the suffix unless ``fmt`` is given.

    Only regular files are read: a FIFO, a device or a socket is refused at once
    (``file_unreadable``), never waited on."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise _error("wrong_type", f"a file path is a str or os.PathLike, not {type(path).__name__}", None,
                     value=type(path).__name__)
    try:
        name = os.fsdecode(path)
    except (TypeError, ValueError, UnicodeError):
        raise _error("wrong_type", "a file path is a str or os.PathLike", None, value=_short(path)) from None
    if fmt is not None and (not isinstance(fmt, str) or fmt not in ("yaml", "json")):
        raise _error("unknown_format", f"unknown format {_short(fmt)!r}; use 'yaml' or 'json'", name, value=_short(fmt))
    _check_limits(max_bytes, max_depth, name)
    if fmt is None:
        fmt = _SUFFIXES.get(os.path.splitext(name)[1].lower())  # type: ignore[assignment]
        if fmt is None:
            if os.path.isdir(name):
                raise _error("file_unreadable", "this is a directory, not a spec file", name)
            if not os.path.exists(name):
                folder, base = os.path.split(name)
                try:
                    near = sorted(os.path.join(folder, f) for f in os.listdir(folder or ".")
                                  if os.path.splitext(f)[0] == base and os.path.splitext(f)[1].lower() in _SUFFIXES)
                except OSError:
                    near = []
                raise _error("file_not_found", "no such file; check the path"
                             + (f" (did you mean {', '.join(repr(n) for n in near[:3])}?)" if near else ""), name)
            raise _error("unknown_format", "cannot tell the format from the file name; use a .yaml, .yml "
                         "or .json suffix (or read the text yourself and call initspec.loads(text, fmt='yaml'))", name)
    try:
        if os.path.isdir(name):
            raise _error("file_unreadable", "this is a directory, not a spec file", name)
        raw = _read_regular(name, max_bytes)
    except SpecError:
        raise
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: NUL in the path
        raise _error("file_not_found", "no such file; check the path", name) from None
    except OSError as exc:
        raise _error("file_unreadable", f"cannot read the file ({exc.strerror or exc})", name) from None
    return load_text(raw, fmt=fmt, filename=name, max_bytes=max_bytes, max_depth=max_depth)
