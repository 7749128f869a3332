"""Render ``docs/schemes.md`` - every scheme and preset, its law and citation - from the models.

The text comes from the code, so the reference cannot drift from it:

* each plain scheme's docstring (the law and the paper) and its fields - type, default,
  description - from the pydantic models of :mod:`initspec.spec` (their JSON Schema);
* each preset's ``native`` string, docstring, fields with the native defaults, and what it
  expands to (:meth:`initspec.presets.Preset.expand`);
* an example law for each, computed by :func:`initspec.resolve` when the page is rendered;
* the gain tables: the classic names from :mod:`initspec.gain` beside the activation gains
  of :mod:`initspec.activations` (each computed when the page is rendered).

Fields that carry no docstring in the models are described by :data:`GLOSSARY` below.

::

    python -m initspec._docgen --write docs     # regenerate docs/schemes.md
    python -m initspec._docgen --check docs     # exit 1 when the committed file is stale

``tests/test_docs.py`` runs the check.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import activations as A
from .gain import GAIN_TABLE, nonlinearity_gain
from .parsing import parse
from .presets import NAMED, PRESET_ALIASES, PRESETS, Preset, native_call
from .resolution import expand, resolve
from .spec import PLAIN_SCHEMES, SCHEME_ALIASES

__all__ = ["render", "write", "check", "main", "FILENAME"]

FILENAME = "schemes.md"

#: Descriptions of fields the models leave undocumented: (scheme, field) first, then field
#: (a ``flax.`` scheme reads the ``jax.`` one's).
GLOSSARY: dict[Any, str] = {
    "value": "The value of every element: a number, or an array (a nested list) of the tensor's shape or one "
             "that broadcasts to it by NumPy's rules (as Keras' `Constant` does), in the tensor's storage order.",
    "low": "Lower bound.",
    "high": "Upper bound.",
    "mean": "Mean of the (parent) normal.",
    "std": "Standard deviation (of the parent normal, for truncated laws).",
    "distribution": "`uniform`, `normal` (never truncated) or `truncated_normal` (cut at ±2 parent std, "
                    "variance-corrected).",
    "scale": "The variance numerator: variance = scale / n.",
    "gain": "A number, a classic nonlinearity name (see the gain table), `{nonlinearity: leaky_relu, "
            "negative_slope: s}` or `{activation: NAME, ...}`.",
    "nonlinearity": "Sets the gain (see the gain table).",
    "groups": "Number of convolution groups.",
    "sparsity": "Fraction of each column set to zero.",
    "stddev": "Standard deviation.",
    "minval": "Lower bound.",
    "maxval": "Upper bound.",
    "lower": "Lower cut, in standard deviations.",
    "upper": "Upper cut, in standard deviations.",
    "in_axis": "Input axes (JAX `in_axis`).",
    "out_axis": "Output axes (JAX `out_axis`).",
    "batch_axis": "Batch axes, counted in neither fan (JAX `batch_axis`).",
    "column_axis": "The axis kept whole (JAX `column_axis`).",
    ("torch.uniform", "a"): "Lower bound.",
    ("torch.uniform", "b"): "Upper bound.",
    ("torch.trunc_normal", "a"): "Lower cut, an absolute value.",
    ("torch.trunc_normal", "b"): "Upper cut, an absolute value.",
    **{(f"torch.kaiming_{dist}", field): text for dist in ("uniform", "normal") for field, text in (
        ("a", "Negative slope of leaky_relu (torch's `a`)."),
        ("mode", "`fan_in` or `fan_out`."),
        ("nonlinearity", "A `torch.nn.init.calculate_gain` name (conv*d and linear mean gain 1)."))},
    ("keras.variance_scaling", "distribution"): "Keras' spelling: `normal` means the truncated normal, "
                                                "`untruncated_normal` the plain one.",
    ("keras.variance_scaling", "mode"): "`fan_in`, `fan_out` or `fan_avg`.",
    "mode": "Which fan n is: fan_in, fan_out, fan_avg = (fan_in+fan_out)/2 or fan_geo_avg = sqrt(fan_in*fan_out).",
    ("normal", "std"): "Standard deviation.",
    ("sparse", "std"): "Standard deviation of the entries that are not zeroed.",
    ("truncated_normal", "low"): "Lower cut, in the units `bounds` names.",
    ("truncated_normal", "high"): "Upper cut, in the units `bounds` names.",
    ("torch", "std"): "Standard deviation (torch's `std`).",
    ("torch.sparse", "std"): "Standard deviation of the entries that are not zeroed.",
    ("torch", "gain"): "Multiplies every weight (a number; torch's `gain`).",
    ("keras", "gain"): "Multiplies every weight (a number; Keras' `gain`).",
    ("jax", "scale"): "Multiplies every weight (JAX's `scale`).",
    ("jax.variance_scaling", "scale"): "The variance numerator: variance = scale / n.",
    ("jax.uniform", "scale"): "Upper bound; the lower bound is 0.",
}


def _describe(scheme: str, field: str) -> str:
    if scheme.startswith("flax."):  # Flax re-exports JAX's initializers: JAX's words describe them
        scheme = "jax." + scheme.removeprefix("flax.")
    namespace = scheme.split(".", 1)[0] if "." in scheme else ""
    return GLOSSARY.get((scheme, field)) or GLOSSARY.get((namespace, field)) or GLOSSARY.get(field, "")

#: Example (spec, shape, layout) per scheme; schemes not listed use {"scheme": name} on a
#: dense weight with fan_in 256 and fan_out 128.
EXAMPLES: dict[str, tuple[dict[str, Any], tuple[int, ...], str]] = {
    "constant": ({"scheme": "constant", "value": 0.5}, (256, 128), "jax"),
    "uniform": ({"scheme": "uniform", "low": -0.1, "high": 0.1}, (256, 128), "jax"),
    "normal": ({"scheme": "normal", "std": 0.02}, (256, 128), "jax"),
    "truncated_normal": ({"scheme": "truncated_normal", "std": 0.02}, (256, 128), "jax"),
    "variance_scaling": ({"scheme": "variance_scaling", "scale": 2.0, "mode": "fan_in", "distribution": "uniform"},
                         (256, 128), "jax"),
    "glorot": ({"scheme": "glorot", "distribution": "uniform"}, (256, 128), "jax"),
    "he": ({"scheme": "he", "distribution": "normal"}, (256, 128), "jax"),
    "lecun": ({"scheme": "lecun", "distribution": "truncated_normal"}, (256, 128), "jax"),
    "identity": ({"scheme": "identity"}, (256, 256), "jax"),
    "dirac": ({"scheme": "dirac"}, (16, 16, 3, 3), "torch"),
    "sparse": ({"scheme": "sparse", "sparsity": 0.1}, (256, 128), "jax"),
    "delta_orthogonal": ({"scheme": "delta_orthogonal"}, (3, 3, 16, 32), "jax"),
    "torch.default_bias": ({"scheme": "torch.default_bias", "fan_in": 256}, (128,), "torch"),
    "torch.recurrent_default": ({"scheme": "torch.recurrent_default", "hidden_size": 128}, (512, 128), "torch"),
    "torch.dirac": ({"scheme": "torch.dirac"}, (16, 16, 3, 3), "torch"),
    "torch.sparse": ({"scheme": "torch.sparse", "sparsity": 0.1}, (128, 256), "torch"),
    "torch.eye": ({"scheme": "torch.eye"}, (128, 256), "torch"),
    "flax.embed": ({"scheme": "flax.embed"}, (1000, 64), "flax"),
    "keras.stft": ({"scheme": "keras.stft"}, (512, 1, 257), "keras"),
    "torch.constant": ({"scheme": "torch.constant", "val": 0.5}, (128, 256), "torch"),
    "jax.constant": ({"scheme": "jax.constant", "value": [0.5, -0.5]}, (3, 2), "jax"),
    "flax.constant": ({"scheme": "flax.constant", "value": [0.5, -0.5]}, (3, 2), "flax"),
    "keras.constant": ({"scheme": "keras.constant", "value": 0.5}, (256, 128), "keras"),
    "jax.delta_orthogonal": ({"scheme": "jax.delta_orthogonal"}, (3, 3, 16, 32), "jax"),
    "flax.delta_orthogonal": ({"scheme": "flax.delta_orthogonal"}, (3, 3, 16, 32), "flax"),
}
for _ns in ("jax", "flax"):
    EXAMPLES[f"{_ns}.variance_scaling"] = ({"scheme": f"{_ns}.variance_scaling", "scale": 2.0, "mode": "fan_in",
                                            "distribution": "normal"}, (256, 128), _ns)

NAMESPACES = {"torch": "PyTorch (`torch.nn.init`, torch module defaults)",
              "keras": "Keras 3 / tf.keras (`keras.initializers`)",
              "jax": "JAX (`jax.nn.initializers`)",
              "flax": "Flax (`flax.linen.initializers`, Flax module defaults)"}

REFERENCES = [
    "Glorot, X. & Bengio, Y. (2010). *Understanding the difficulty of training deep feedforward neural "
    "networks.* AISTATS.",
    "He, K., Zhang, X., Ren, S. & Sun, J. (2015). *Delving deep into rectifiers: surpassing human-level "
    "performance on ImageNet classification.* ICCV.",
    "LeCun, Y., Bottou, L., Orr, G. B. & Müller, K.-R. (1998). *Efficient BackProp.* In Neural Networks: "
    "Tricks of the Trade, Springer.",
    "Saxe, A. M., McClelland, J. L. & Ganguli, S. (2014). *Exact solutions to the nonlinear dynamics of learning "
    "in deep linear neural networks.* ICLR.",
    "Martens, J. (2010). *Deep learning via Hessian-free optimization.* ICML.",
    "Xiao, L., Bahri, Y., Sohl-Dickstein, J., Schoenholz, S. S. & Pennington, J. (2018). *Dynamical isometry and "
    "a mean field theory of CNNs: how to train 10,000-layer vanilla convolutional neural networks.* ICML.",
    "Klambauer, G., Unterthiner, T., Mayr, A. & Hochreiter, S. (2017). *Self-normalizing neural networks.* "
    "NeurIPS.",
    "Mezzadri, F. (2007). *How to generate random matrices from the classical compact groups.* Notices of the "
    "AMS 54(5).",
]


# ----------------------------------------------------------------------------- text helpers


def _rst_to_md(text: str) -> str:
    """The few reST constructs the docstrings use, as Markdown."""
    text = inspect.cleandoc(text or "")
    text = re.sub(r":[a-z]+:`~?([\w.]+\.)?([\w]+)`", r"`\2`", text)
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*\.\. warning::\s*(.*)", line)
        if m:
            body = [m.group(1)] if m.group(1) else []
            i += 1
            while i < len(lines) and (lines[i].strip() or not body):  # up to the paragraph's end
                if lines[i].strip():
                    body.append(lines[i].strip())
                i += 1
            out.append("> **Warning:** " + " ".join(body))
            continue
        out.append(line.strip())
        i += 1
    return "\n".join(out).strip()


def _first_sentence(text: str) -> str:
    para = _rst_to_md(text).split("\n\n")[0].replace("\n", " ")
    return para


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type_text(prop: dict[str, Any]) -> str:
    if "anyOf" in prop or "oneOf" in prop:
        parts = [p for p in prop.get("anyOf", prop.get("oneOf")) if p.get("type") != "null"]
        text = " or ".join(_type_text(p) for p in parts)
        return text
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return {"Axes": "axes mapping `{in_axes, out_axes, batch_axes}`",
                "LeakyReluGain": "`{nonlinearity: leaky_relu, negative_slope: s}`",
                "ActivationGain": "`{activation: NAME, ...}`"}.get(name, name)
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type")
    if prop.get("title") == "NumberArray":
        return "array (a nested list of numbers)"
    if kind == "array":
        return f"list of {_type_text(prop.get('items', {}))}s"
    base = {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean"}.get(kind, str(kind))
    bounds = []
    if "exclusiveMinimum" in prop:
        bounds.append(f"> {prop['exclusiveMinimum']}")
    if "minimum" in prop:
        bounds.append(f"≥ {prop['minimum']}")
    if "exclusiveMaximum" in prop:
        bounds.append(f"< {prop['exclusiveMaximum']}")
    if "maximum" in prop:
        bounds.append(f"≤ {prop['maximum']}")
    return base + (" " + ", ".join(bounds) if bounds else "")


def _default_text(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop or prop["default"] is None:
        return "-"
    return f"`{json.dumps(prop['default'])}`"


def _fields_table(cls: type, scheme: str) -> list[str]:
    schema = cls.model_json_schema()
    props = {k: v for k, v in schema.get("properties", {}).items() if k != "scheme"}
    if not props:
        return []
    required = set(schema.get("required", ()))
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, prop in props.items():
        desc = prop.get("description") or _describe(scheme, name)
        rows.append(f"| `{name}` | {_cell(_type_text(prop))} | {_default_text(prop, name in required)} | "
                    f"{_cell(desc)} |")
    return rows


def _example(scheme: str) -> tuple[dict[str, Any], tuple[int, ...], str, str]:
    if scheme in EXAMPLES:
        spec, shape, layout = EXAMPLES[scheme]
    else:
        layout = scheme.split(".", 1)[0] if "." in scheme else "jax"
        spec, shape = {"scheme": scheme}, (128, 256) if layout == "torch" else (256, 128)
    return spec, shape, layout, resolve(spec, shape, layout).describe()


def _flow(spec: dict[str, Any]) -> str:
    """A spec as one line of YAML flow style: ``{scheme: he, distribution: normal}``."""
    def val(v: Any) -> str:
        if isinstance(v, dict):
            return _flow(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(v) if isinstance(v, str) and (not v or ":" in v or v != v.strip()) else str(v)
    return "{" + ", ".join(f"{k}: {val(v)}" for k, v in spec.items()) + "}"


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", name.lower().replace(" ", "-"))


# ----------------------------------------------------------------------------- the gain tables


def _params_text(act: A.Activation) -> str:
    if not act.params:
        return "-"
    return ", ".join(f"`{p.name}` = {p.default:g}" if isinstance(p.default, float) else
                     f"`{p.name}` = `{p.default}`" if p.default is not None else f"`{p.name}` (required)"
                     for p in act.params)


def _gain_text(act: A.Activation) -> str:
    if any(p.default is None for p in act.params):
        return "depends on " + ", ".join(p.name for p in act.params if p.default is None)
    return f"{A.activation_gain(act.name):.10f}"


def _gain_section() -> list[str]:
    """The classic table (``calculate_gain``), the comparison, and every activation gain."""
    out = ["## Gain table", "",
           "A `gain` (Glorot, orthogonal, identity, delta-orthogonal) or a `nonlinearity` (He) sets the weight's "
           "scale; the variance is multiplied by gain². It is written in one of two ways, which mean different "
           "things:", "",
           "* a **classic nonlinearity name** (`gain: tanh`, `nonlinearity: tanh`): the conventions of "
           "`torch.nn.init.calculate_gain`, reproduced exactly;",
           "* an **activation** (`gain: {activation: tanh}`, `nonlinearity: {activation: gelu}`, with the "
           "activation's parameters beside it: `{activation: elu, alpha: 0.5}`): the gain 1/sqrt(E[f(z)²]) for "
           "z ~ N(0, 1), which keeps the second moment of the activations at one when pre-activations have unit "
           "variance - the argument He et al. (2015) make for ReLU, applied to any f.", "",
           "They agree for ReLU (√2) and leaky ReLU, and differ elsewhere: 5/3 for tanh is a heuristic value, "
           f"while E[tanh(z)²] = {A.activation_gain('tanh') ** -2:.4f} gives "
           f"{A.activation_gain('tanh'):.4f}; `selu` is 3/4 in `calculate_gain` but 1 here, SELU's fixed point "
           "(Klambauer et al. 2017); `sigmoid` is 1 there, while its second moment gives "
           f"{A.activation_gain('sigmoid'):.4f} (sigmoid is not centred, so this is the second moment, not the "
           "variance).", "",
           "### Classic nonlinearity names", "",
           "| nonlinearity | gain |", "|---|---|"]
    for name, value in GAIN_TABLE.items():
        out.append(f"| `{name}` | {value:.6g} |")
    out += ["| `leaky_relu` | sqrt(2 / (1 + negative_slope²)); the slope must be given |", "",
            "> **Warning:** `torch.nn.init.calculate_gain(\"leaky_relu\")` assumes a slope of 0.01, while "
            "`kaiming_uniform_`/`kaiming_normal_` pass `a=0`. initspec makes you write the slope. The `selu` gain "
            "3/4 is PyTorch's choice; SELU's self-normalizing fixed point (Klambauer et al. 2017) needs variance "
            "1/fan_in, i.e. `lecun` (or `{activation: selu}`, gain 1).", "",
            "### Side by side", "",
            "| name | `gain: NAME` (classic) | `gain: {activation: NAME}` |", "|---|---|---|"]
    for name, value in GAIN_TABLE.items():
        if name in A.ACTIVATIONS:
            out.append(f"| `{name}` | {value:.10f} | {A.activation_gain(name):.10f} |")
    out += ["| `leaky_relu`, slope 0.01 | "
            f"{nonlinearity_gain('leaky_relu', 0.01):.10f} | {A.activation_gain('leaky_relu'):.10f} |", "",
            "### Activation gains", "",
            "Each gain is 1/sqrt(E[f(z)²]), computed by Gauss-Legendre quadrature split at the activation's kinks "
            "(`initspec.activations`; tested against `scipy.integrate.quad`). Parameters take the frameworks' "
            "names and defaults; aliases are stored under the first name. Python code can add its own with "
            "`initspec.activations.register_activation(name, fn, kinks=..., params=...)`.", "",
            "| activation | parameters | f(x) | gain | note |", "|---|---|---|---|---|"]
    for act in (A.ACTIVATIONS[name] for name in A.BUILTIN):
        names = f"`{act.name}`" + (" (" + ", ".join(f"`{a}`" for a in act.aliases) + ")" if act.aliases else "")
        out.append(f"| {names} | {_cell(_params_text(act))} | {_cell(act.formula)} | {_gain_text(act)} | "
                   f"{_cell(act.note)} |")
    warning = [line for line in _rst_to_md(A.__doc__ or "").splitlines() if line.startswith("> **Warning:**")]
    return out + [""] + [w for line in warning for w in (line, "")]


# ----------------------------------------------------------------------------- the page


def render() -> str:
    """The text of docs/schemes.md."""
    out = [
        "<!-- Generated by `python -m initspec._docgen --write docs` from initspec/spec.py, initspec/presets.py, "
        "initspec/gain.py and initspec/activations.py. Do not edit: edit the models. tests/test_docs.py fails when "
        "this file is stale. -->",
        "",
        "# Schemes",
        "",
        "Every `scheme` a spec may name: the plain schemes, which mean the same law in every framework, and the",
        "framework presets, which reproduce one named native initializer and expand to a plain spec.",
        "Plain names are literal: `normal` is never truncated. Aliases are rewritten to their canonical name",
        "when a spec is parsed: " + ", ".join(f"`{a}` → `{c}`" for a, c in SCHEME_ALIASES.items()) + ".",
        "",
        "Each **example** line was computed by `initspec.resolve(spec, shape, layout)` when this page was",
        "generated. A dense weight with fan_in 256 and fan_out 128 has shape `(256, 128)` in the `jax`/`keras`",
        "layouts and `(128, 256)` in the `torch` layout. [Concepts](concepts.md) explains layouts and fans.",
        "",
        "## Summary",
        "",
        "| scheme | law |",
        "|---|---|",
    ]
    for name, cls in PLAIN_SCHEMES.items():
        out.append(f"| [`{name}`](#{_anchor(name)}) | {_cell(_first_sentence(cls.__doc__ or ''))} |")
    out += ["", "Presets: " + ", ".join(f"[{title.split(' (')[0]}](#{_anchor('presets-' + ns)})"
                                         for ns, title in NAMESPACES.items()) + ". [Gain table](#gain-table). "
            "[References](#references).", "", "## Plain schemes", ""]
    for name, cls in PLAIN_SCHEMES.items():
        out.append(f"### {name}")
        out += ["", _rst_to_md(cls.__doc__ or ""), ""]
        table = _fields_table(cls, name)
        if table:
            out += table + [""]
        spec, shape, layout, law = _example(name)
        out += [f"Example: `{_flow(spec)}` on shape `{shape}`, layout `{layout}` → `{law}`", ""]
    for ns, title in NAMESPACES.items():
        out += [f"## Presets: {ns}", "", f"{title}. Each preset takes the native function's parameters, with the",
                "native defaults, and expands to the plain spec shown.", "",
                "| scheme | native call | expands to | example law |", "|---|---|---|---|"]
        names = [n for n in PRESETS if n.startswith(ns + ".")]
        aliases = [a for a, c in PRESET_ALIASES.items() if a.startswith(ns + ".")]
        if aliases:
            out[-2:-2] = [f"`{ns}.*` names of `jax.*` presets ({', '.join(f'`{a}`' for a in aliases)}) are aliases "
                          "of them (`flax.linen.initializers` re-exports `jax.nn.initializers`): they are stored "
                          "as the `jax.*` name.", ""]
        notes = []
        for name in names:
            cls = PRESETS[name]
            spec, shape, layout, law = _example(name)
            try:
                expanded = _flow(expand(parse(spec)).to_dict())
            except Exception as exc:  # pragma: no cover - every example expands (tested)
                expanded = f"({exc})"
            example = f"`{law}` on `{shape}` ({layout})"
            if spec != {"scheme": name}:
                example += f" with `{_flow({k: v for k, v in spec.items() if k != 'scheme'})}`"
            native = native_call(name)
            out.append(f"| `{name}` | `{_cell(native)}` | `{_cell(expanded)}` | {_cell(example)} |")
            if name in NAMED:
                doc, fields = NAMED[name].doc, []
            else:
                doc = cls.__doc__ if cls.__doc__ and cls.__doc__ is not Preset.__doc__ else ""
                fields = _fields_table(cls, name)
            if (doc and not doc.startswith(f"``{native}``")) or fields:
                notes.append((name, doc, fields))
        out.append("")
        for name, doc, fields in notes:
            out.append(f"#### {name}")
            out.append("")
            if doc and not doc.startswith("``" + native_call(name)):
                out += [_rst_to_md(doc), ""]
            if fields:
                out += fields + [""]
    out += _gain_section() + ["## References", ""]
    out += [f"- {r}" for r in REFERENCES]
    return "\n".join(out).rstrip() + "\n"


def write(folder: str | Path) -> Path:
    path = Path(folder) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path


def check(folder: str | Path) -> bool:
    path = Path(folder) / FILENAME
    return path.is_file() and path.read_text(encoding="utf-8") == render()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m initspec._docgen", description="Render docs/schemes.md.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DOCS", help="write DOCS/schemes.md")
    group.add_argument("--check", metavar="DOCS", help="exit 1 if DOCS/schemes.md is stale")
    args = parser.parse_args(argv)
    if args.write:
        print(f"wrote {write(args.write)}")
        return 0
    if check(args.check):
        return 0
    print(f"{Path(args.check) / FILENAME} is stale: run python -m initspec._docgen --write {args.check}",
          file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
