"""JSON Schemas of initspec's file formats, generated from the pydantic models.

A spec file is the spec's own fields plus a required integer ``format_version`` at the top
level (see :mod:`initspec.files`).  The schema is JSON Schema Draft 2020-12, generated from
the models in :mod:`initspec.spec` and :mod:`initspec.presets` (the ``Spec`` union of
:mod:`initspec.parsing`), so editors can validate and complete ``init.yaml``::

    # yaml-language-server: $schema=https://.../schemas/spec.schema.json
    format_version: 1
    scheme: he
    distribution: truncated_normal

The committed copies under ``schemas/`` are written by::

    python -m initspec.schema --write schemas      # or: make schema
    python -m initspec.schema --check schemas      # exit 1 when a committed file is stale

and ``tests/test_schema.py`` fails when they drift from the models.  ``initspec schema``
prints the same text, generated at run time: the models are the one source of truth.

How the union is written.  pydantic renders the ``scheme``-discriminated union as a plain
``oneOf`` over ~60 branches, which makes validators report one error per branch.  Here the
root instead lists every ``scheme`` name in one ``enum`` and dispatches with
``if``/``then`` on that name, so an unknown scheme is one error ("not one of ...") and a
bad field is reported only against the branch that ``scheme`` selects.  Each branch keeps
``additionalProperties: false``; ``format_version`` is added to the root branches of the
spec schema, since it is the one key a file adds to the spec.

Formulas.  In the plan schema every numeric field of a spec (and of a gain mapping inside
one) takes a number or an ``Expression`` string (``"0.02 / sqrt(2 * count(i))"``); the spec
schema takes numbers only, as spec files do.  The expression's grammar, names and values are
checked by initspec, not the schema (whose pattern only admits the characters one can hold).

The schema checks what a schema can: names, types (a boolean is not a number), required
fields, unknown keys, ranges.  Cross-field rules - ``low < high``, a truncated normal's
bound units, ``negative_slope`` only with ``leaky_relu`` - are left to
:func:`initspec.load`, which reports them with file positions.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from .files import FORMAT_VERSION

__all__ = ["DRAFT", "KINDS", "available_kinds", "generate", "dumps", "write", "check", "main"]

#: The JSON Schema dialect of every generated schema.
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _format_version() -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": FORMAT_VERSION,
        "title": "Format version",
        "description": (f"Version of the file format (this initspec writes {FORMAT_VERSION}). Required, checked "
                        "first: a newer version asks you to upgrade initspec, an older one is migrated."),
    }


# ----------------------------------------------------------------------------- roots


def _spec_root() -> Any:
    from .parsing import Spec

    return Spec


def _plan_root() -> Any:
    from .plans import Plan  # noqa: PLC0415 - optional until initspec.plans exists

    return Plan


#: kind -> (root type, title, description).  Adding a file kind is one entry here.
KINDS: dict[str, tuple[Callable[[], Any], str, str]] = {
    "spec": (_spec_root, "initspec spec file",
             "One weight initializer, declared as data: a 'scheme' (a plain scheme such as he, glorot, "
             "truncated_normal, or a framework preset such as keras.he_normal or torch.default_weight), its "
             "parameters, and the file's format_version."),
    "plan": (_plan_root, "initspec plan file",
             "A model-level initialization plan: seed, variables, declared layer types, defaults per parameter "
             "role and ordered rules that select parameters and give each a spec; a spec's numeric fields may be "
             "expressions over the variables and the rule's path captures."),
}


def available_kinds() -> list[str]:
    """The kinds whose models can be imported in this installation."""
    out = []
    for kind, (root, _, _) in KINDS.items():
        try:
            root()
        except ImportError:
            continue
        out.append(kind)
    return out


# ----------------------------------------------------------------------------- generation


def _name_scheme_defs(raw: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Key each scheme model's definition by its class name (pydantic names the JAX/Flax preset
    classes, made in a factory, by their qualified name), give every preset a description
    naming the native call it reproduces, and rewrite the references."""
    from .presets import Preset, native_call
    from .schemes import model_of

    renames: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, node in defs.items():
        names = _scheme_names(node)
        cls = model_of(names[0]) if names else None
        new = key
        if cls is not None:
            new = cls.__name__
            node["title"] = new
            if issubclass(cls, Preset):
                doc = node.get("description", "")
                calls = [(n, native_call(n)) for n in names if native_call(n) not in doc]
                if len(names) == 1 and calls:
                    node["description"] = (doc + "\n\n" if doc else "") + f"Reproduces ``{calls[0][1]}``."
                elif calls:
                    node["description"] = (doc + "\n\n" if doc else "") + "Reproduces:\n" + "\n".join(
                        f"- ``{n}``: ``{c}``" for n, c in calls)
        if new in out:  # pragma: no cover - class names of scheme models are unique
            raise ValueError(f"two scheme models are both named {new}")
        renames[key] = new
        out[new] = node
    text = json.dumps({"root": raw, "defs": out})
    for old, new in renames.items():
        if old != new:
            text = text.replace(f'"#/$defs/{old}"', f'"#/$defs/{new}"')
    both = json.loads(text)
    return both["root"], both["defs"]


def _scheme_names(branch: dict[str, Any]) -> list[str]:
    prop = branch.get("properties", {}).get("scheme", {})
    if "const" in prop:
        return [prop["const"]]
    return list(prop.get("enum", []))


def _dispatch_on_scheme(schema: dict[str, Any], defs: dict[str, Any], *, add_format_version: bool) -> dict[str, Any]:
    """Rewrite a ``oneOf`` of scheme branches as one ``scheme`` enum plus ``if``/``then`` per branch."""
    names: list[str] = []
    rules: list[dict[str, Any]] = []
    for ref in schema["oneOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        branch = defs[name]
        schemes = _scheme_names(branch)
        if not schemes:  # pragma: no cover - every branch has a literal scheme
            raise ValueError(f"union branch {name} has no literal scheme")
        names.extend(schemes)
        if add_format_version:
            branch["properties"] = {"format_version": {"$ref": "#/$defs/FormatVersion"}, **branch["properties"]}
        cond = {"const": schemes[0]} if len(schemes) == 1 else {"enum": schemes}
        rules.append({"if": {"properties": {"scheme": cond}, "required": ["scheme"]}, "then": {"$ref": ref["$ref"]}})
    return {
        "type": "object",
        "required": ["scheme"],
        "properties": {"scheme": {"type": "string", "enum": names,
                                  "description": "The initializer: a plain scheme, an alias (xavier, kaiming) "
                                                 "or a framework preset (torch.*, keras.*, jax.*, flax.*)."}},
        "allOf": rules,
    }


def _strip_titles(node: Any) -> None:
    """Drop pydantic's auto-generated property titles ("Negative Slope"): they repeat the key."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for value in props.values():
                if isinstance(value, dict):
                    value.pop("title", None)
        for value in node.values():
            _strip_titles(value)
    elif isinstance(node, list):
        for value in node:
            _strip_titles(value)


def generate(kind: str = "spec") -> dict[str, Any]:
    """The JSON Schema (a dict) of a file kind: ``"spec"`` or ``"plan"``."""
    if kind not in KINDS:
        raise ValueError(f"unknown schema kind {kind!r}; known: {', '.join(KINDS)}")
    root_fn, title, description = KINDS[kind]
    raw = TypeAdapter(root_fn()).json_schema(mode="validation")
    raw = copy.deepcopy(raw)
    defs: dict[str, Any] = raw.pop("$defs", {})
    raw, defs = _name_scheme_defs(raw, defs)
    defs["FormatVersion"] = _format_version()
    if "oneOf" in raw:  # a scheme union at the root (spec files)
        body = _dispatch_on_scheme(raw, defs, add_format_version=True)
        body["required"] = ["format_version", *body["required"]]
        body["properties"] = {"format_version": {"$ref": "#/$defs/FormatVersion"}, **body["properties"]}
    else:  # a model at the root (plan files)
        body = raw
        props = body.setdefault("properties", {})
        props.pop("format_version", None)
        body["properties"] = {"format_version": {"$ref": "#/$defs/FormatVersion"}, **props}
        body["required"] = ["format_version", *[r for r in body.get("required", []) if r != "format_version"]]
        body.pop("title", None)
        body.pop("description", None)
    # Nested scheme unions (e.g. specs inside plan rules) get the same readable dispatch.
    for name, node in list(defs.items()):
        _rewrite_nested_unions(node, defs)
    _rewrite_nested_unions(body, defs)
    if kind == "plan":
        _formulas_in_specs(defs)
    _strip_titles(defs)
    _strip_titles(body)
    return {
        "$schema": DRAFT,
        "$id": f"urn:initspec:schema:{kind}:v{FORMAT_VERSION}",
        "title": title,
        "description": description,
        **body,
        "$defs": dict(sorted(defs.items())),
    }


def _takes_number(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") in ("number", "integer")


def _with_expression(node: dict[str, Any]) -> dict[str, Any]:
    """A property schema that takes a number, also taking an expression string."""
    ref = {"$ref": "#/$defs/Expression"}
    if _takes_number(node):
        outer = {k: v for k, v in node.items() if k in ("default", "description", "title")}
        inner = {k: v for k, v in node.items() if k not in outer}
        return {**outer, "anyOf": [inner, ref]}
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list) and any(_takes_number(n) for n in node[key]) and ref not in node[key]:
            return {**node, key: [*node[key], ref]}
    return node


def _numeric_properties(node: Any) -> None:
    """Every numeric property below ``node`` (properties of an object schema, the per-activation
    ``then`` branches included) also takes an expression."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for name, value in props.items():
                if isinstance(value, dict):
                    props[name] = _with_expression(value)
        for key, value in node.items():
            if key != "properties":
                _numeric_properties(value)
    elif isinstance(node, list):
        for value in node:
            _numeric_properties(value)


def _formulas_in_specs(defs: dict[str, Any]) -> None:
    """Plans only: each numeric field of a spec (and of a gain mapping inside one) takes a number
    or an expression string ("0.02 / sqrt(2 * count(i))"); spec files take numbers only."""
    from .expressions import EXPRESSION_SCHEMA
    from .gain import ActivationGain, LeakyReluGain

    nested = {ActivationGain.__name__, LeakyReluGain.__name__}
    for name, node in defs.items():
        if _scheme_names(node) or name in nested:
            _numeric_properties(node)
    defs["Expression"] = {
        **EXPRESSION_SCHEMA, "title": "Expression",
        "description": "A formula for a numeric field of a spec inside a plan: " + EXPRESSION_SCHEMA["description"]
        + ". Names are the plan's vars and the {captures} of the rule's path (docs/formulas.md)."}


def _is_scheme_union(node: dict[str, Any], defs: dict[str, Any]) -> bool:
    one_of = node.get("oneOf")
    if not isinstance(one_of, list) or len(one_of) < 2:
        return False
    for ref in one_of:
        if not isinstance(ref, dict) or set(ref) != {"$ref"}:
            return False
        target = defs.get(ref["$ref"].rsplit("/", 1)[-1], {})
        if not _scheme_names(target):
            return False
    return True


def _rewrite_nested_unions(node: Any, defs: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if isinstance(value, dict) and _is_scheme_union(value, defs):
                extra = {k: v for k, v in value.items() if k != "oneOf"}
                node[key] = {**extra, **_dispatch_on_scheme(value, defs, add_format_version=False)}
            _rewrite_nested_unions(node[key], defs)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict) and _is_scheme_union(value, defs):
                extra = {k: v for k, v in value.items() if k != "oneOf"}
                node[i] = {**extra, **_dispatch_on_scheme(value, defs, add_format_version=False)}
            _rewrite_nested_unions(node[i], defs)


def dumps(kind: str = "spec") -> str:
    """The schema of ``kind`` as the exact text committed under ``schemas/``."""
    return json.dumps(generate(kind), indent=2, ensure_ascii=False) + "\n"


def _path(directory: Path, kind: str) -> Path:
    return directory / f"{kind}.schema.json"


def write(directory: str | Path, kinds: list[str] | None = None) -> list[Path]:
    """Write ``<kind>.schema.json`` for every available kind into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for kind in kinds or available_kinds():
        path = _path(directory, kind)
        path.write_text(dumps(kind), encoding="utf-8")
        out.append(path)
    return out


def check(directory: str | Path, kinds: list[str] | None = None) -> list[str]:
    """Names of the committed schema files that are missing or differ from the models."""
    stale = []
    for kind in kinds or available_kinds():
        path = _path(Path(directory), kind)
        if not path.is_file() or path.read_text(encoding="utf-8") != dumps(kind):
            stale.append(str(path))
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m initspec.schema", description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="DIR", help="write <kind>.schema.json files into DIR")
    group.add_argument("--check", metavar="DIR", help="exit 1 if the files in DIR differ from the models")
    parser.add_argument("--kind", choices=list(KINDS), action="append", help="only this kind (repeatable)")
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.write, args.kind):
            print(f"wrote {path}")
        return 0
    if args.check:
        stale = check(args.check, args.kind)
        for path in stale:
            print(f"stale: {path} (regenerate with: python -m initspec.schema --write {args.check})")
        return 1 if stale else 0
    for kind in args.kind or ["spec"]:
        sys.stdout.write(dumps(kind))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
