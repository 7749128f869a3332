"""The ``initspec`` command line: a thin layer over the Python API.

::

    initspec validate init.yaml other.json          # exit 1 on any error, one line each
    initspec explain '{scheme: he, distribution: normal}' --shape 256,128 --layout torch
    initspec schema --kind spec                     # the JSON Schema
    initspec sample he.yaml --shape 256,128 --backend torch --plot he.png
    initspec plan init.yaml --model mypkg.models:make_model [--apply --manifest m.json]
    initspec inspect --model mypkg.models:make_model [--plan init.yaml] [--format json]
    initspec conformance --backend numpy --format markdown
    initspec convert keras '{"class_name": "HeNormal", "config": {"seed": null}}'
    initspec convert native he.yaml --shape 256,128 --layout torch
    initspec propagate he.yaml '{scheme: glorot, distribution: normal}' --activation relu --plot p.png
    initspec propagate --model mypkg.models:make_model --plan init.yaml --input-shape 64,784 --check

Every problem is one line ``loc (file:line:col): message (got ...) [code]`` on stderr
(``validate`` writes them to stdout: they are its output), capped at 20 plus "and N
more"; ``--debug`` shows tracebacks.  Exit status: 0 ok, 1 invalid input or a failed
check, 2 bad usage (unknown option or backend, malformed ``--shape``).  Needs the ``cli``
extra (``pip install 'initspec[cli]'``); ``--plot`` needs ``plot``, the verdict of
``sample`` needs ``conformance``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import backends
from ._version import __version__
from .errors import MAX_RENDERED, ErrorDetail, SpecError
from .sampling import FLOAT_DTYPES, check_seed

__all__ = ["app", "main"]

app = typer.Typer(
    name="initspec", help="Declare weight initialization once, as data; validate, explain, sample and convert it.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
convert_app = typer.Typer(help="Convert from Keras configs, or to native calls.", no_args_is_help=True,
                          rich_markup_mode=None)
app.add_typer(convert_app, name="convert")


class Layout(str, Enum):
    torch = "torch"
    keras = "keras"
    jax = "jax"
    flax = "flax"


#: The backends of the registry (initspec.backends), as a command-line choice.
Backend = Enum("Backend", {name: name for name in backends.names()}, type=str)  # type: ignore[misc]


class Fmt(str, Enum):
    text = "text"
    json = "json"


class Kind(str, Enum):
    spec = "spec"
    plan = "plan"


_DTYPES = FLOAT_DTYPES


# ----------------------------------------------------------------------------- plumbing


#: Set by the global --debug option (or INITSPEC_DEBUG=1).
_STATE = {"debug": False}


def _debug() -> bool:
    return _STATE["debug"] or os.environ.get("INITSPEC_DEBUG", "") not in ("", "0")


def _err(text: str) -> None:
    typer.echo(text, err=True)


def _error_lines(errors: list[ErrorDetail], limit: int = MAX_RENDERED) -> list[str]:
    lines = [e.render() for e in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"and {len(errors) - limit} more")
    return lines


@contextlib.contextmanager
def _errors(json_out: bool = False) -> Iterator[None]:
    """Turn user errors into one line each on stderr and exit 1; --debug adds the traceback.

    With ``json_out`` (``--format json``) the problems are also printed on stdout as the
    JSON list ``validate --format json`` prints, so a program reading stdout sees them."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except SpecError as exc:
        if _debug():
            traceback.print_exc()
        if exc.title:
            _err(exc.title)
        for line in _error_lines(exc.errors):
            _err(f"error: {line}")
        if json_out:
            typer.echo(json.dumps([e.to_dict() for e in exc.errors], indent=2))
        raise typer.Exit(1) from None
    except ImportError as exc:
        if _debug():
            traceback.print_exc()
        _err(f"error: {exc}")
        if json_out:
            typer.echo(json.dumps([ErrorDetail("missing_dependency", str(exc)).to_dict()], indent=2))
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a CLI
        if _debug():
            traceback.print_exc()
        detail = _internal(exc)
        _err(f"error: {detail.render()}")
        if json_out:
            typer.echo(json.dumps([detail.to_dict()], indent=2))
        raise typer.Exit(1) from None


def _internal(exc: BaseException, file: str | None = None) -> ErrorDetail:
    """An exception that is not a SpecError escaped: initspec's bug, reported as one line."""
    return ErrorDetail("internal_error", f"{type(exc).__name__}: {str(exc)[:300]} - a bug in initspec, please "
                       "report it with this file (`initspec --debug ...` shows the traceback)", file=file)


def _check_output(path: Path | None, option: str) -> None:
    """Refuse an output path whose folder does not exist before any work is done."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise typer.BadParameter(f"{str(path)!r}: the folder {str(parent)!r} does not exist", param_hint=option)
    if path.is_dir():
        raise typer.BadParameter(f"{str(path)!r} is a directory; give a file name", param_hint=option)


def _parse_shape(text: str) -> tuple[int, ...]:
    """``256,128``, ``256x128``, ``(3,)`` or ``()``; anything else is a usage error."""
    body = text.strip().removeprefix("(").removesuffix(")").removeprefix("[").removesuffix("]").strip()
    if body == "":
        return ()
    # spaces may surround a separator ("256, 128") but never replace one: "256 128" is refused
    parts = [p.strip() for p in re.split(r"[,x]", body.removesuffix(",").rstrip())]
    shown = text if len(text) <= 40 else text[:37] + "..."
    # ASCII digits only: str.isdigit() also accepts '²' and other digits int() refuses
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise typer.BadParameter(f"{shown!r} is not a shape; give non-negative integers separated by commas, "
                                 "e.g. --shape 256,128")
    if any(len(p.lstrip("0")) > 19 for p in parts):  # beyond 2**63 - 1 (and int()'s digit limit)
        raise typer.BadParameter(f"{shown!r}: a dimension is at most 2**63 - 1 (9223372036854775807)")
    return tuple(int(p) for p in parts)


def _shape_callback(value: str | None) -> tuple[int, ...] | None:
    return None if value is None else _parse_shape(value)


ShapeOpt = Annotated[Any, typer.Option("--shape", callback=_shape_callback, metavar="D1,D2,...", show_default=False,
                                       help="tensor shape, e.g. 256,128 or 64,3,3,3")]


def _layout_callback(value: str | None) -> Layout | None:
    if value is None:
        return None
    try:
        return Layout(value)
    except ValueError:
        from .errors import did_you_mean

        raise typer.BadParameter(f"unknown layout {value!r}{did_you_mean(value, [m.value for m in Layout])}; use "
                                 "torch, keras, jax or flax") from None


LayoutOpt = Annotated[Optional[str], typer.Option(
    "--layout", callback=_layout_callback, metavar="torch|keras|jax|flax",
    help="how the shape is laid out: torch (out, in, *k) or keras/jax/flax (*k, in, out)")]
FmtOpt = Annotated[Fmt, typer.Option("--format", help="output format")]


def _exists(text: str) -> bool:
    """Whether ``text`` names something on disk (never raising: a long inline spec is not a
    file name the system accepts)."""
    try:
        os.stat(text)
    except (OSError, ValueError):
        return False
    return True


def _read_spec(text: str) -> Any:
    """A spec from a file path or inline YAML/JSON (``'{scheme: he, distribution: normal}'``).
    Something on disk with that name is always read as a file (``'br{ace}/s.yaml'``)."""
    from . import load, parse
    from ._document import load_text

    path = Path(text)
    one_line = "\n" not in text and "{" not in text and len(text) < 4096
    looks_like_file = _exists(text) or (one_line and (path.suffix.lower() in (".yaml", ".yml", ".json")
                                                      or "/" in text or os.sep in text))
    if looks_like_file:
        return load(path, kind="spec")
    doc = load_text(text, fmt="yaml", filename="<inline spec>")
    return parse(doc.data, document=doc)


def _resolve(spec: Any, shape: tuple[int, ...], layout: str | None) -> Any:
    from .resolution import resolve

    try:
        return resolve(spec, shape, layout)
    except SpecError as exc:
        if "layout_required" in exc.codes:
            raise SpecError.single("layout_required", f"{spec.scheme} reads the tensor's fans: add --layout torch, "
                                   "keras, jax or flax", loc=("layout",)) from None
        raise


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _law_dict(dist: Any) -> dict[str, Any]:
    return {"kind": dist.kind, "describe": dist.describe(), "mean": dist.mean, "std": dist.std,
            "low": _finite(dist.low), "high": _finite(dist.high)}


# ----------------------------------------------------------------------------- root


def _version(value: bool) -> None:
    if value:
        typer.echo(f"initspec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print the version and exit")] = False,
          debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False) -> None:
    _STATE["debug"] = debug


# ----------------------------------------------------------------------------- validate


@app.command()
def validate(files: Annotated[list[str], typer.Argument(metavar="FILE...", help="spec or plan files (.yaml, .yml, .json)")],
             fmt: FmtOpt = Fmt.text,
             quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only errors")] = False) -> None:
    """Check spec and plan files; one line per error, exit 1 if any."""
    from . import load

    errors: list[ErrorDetail] = []
    ok_lines = []
    for name in files:
        try:
            obj = load(name)
        except SpecError as exc:
            errors.extend(exc.errors)
            continue
        except ImportError as exc:
            errors.append(ErrorDetail("missing_dependency", str(exc), file=name))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug of ours: one clean line, never a traceback
            if _debug():
                traceback.print_exc()
            errors.append(_internal(exc, name))
            continue
        what = f"spec (scheme {obj.scheme})" if hasattr(obj, "scheme") else type(obj).__name__.lower()
        ok_lines.append(f"{name}: ok, {what}")
    if fmt is Fmt.json:
        typer.echo(json.dumps([e.to_dict() for e in errors], indent=2))
    else:
        if not quiet:
            for line in ok_lines:
                typer.echo(line)
        for line in _error_lines(errors):
            typer.echo(line)
        if errors:
            bad = len({e.file for e in errors})
            _err(f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {bad} of {len(files)} "
                 f"file{'s' if len(files) != 1 else ''}")
    if errors:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- explain / convert native


def _native_text(calls: dict[str, Any]) -> list[str]:
    out = []
    for fw, call in calls.items():
        status = "exact" if call.exact else ("no native equivalent" if not call.available
                                             else "approximate")
        out.append(f"--- {fw} ({status})")
        if call.code is not None:
            out.extend(call.code.splitlines())
        if call.note:
            out.append(f"# note: {call.note}")
        out.append("")
    return out


@app.command()
def explain(spec: Annotated[str, typer.Argument(metavar="FILE|SPEC", help="a spec file, or inline YAML/JSON such as "
                                                     "'{scheme: he, distribution: normal}'")],
            shape: ShapeOpt, layout: LayoutOpt = None, fmt: FmtOpt = Fmt.text) -> None:
    """Show the resolved law (fans, std, bounds) and the native call in each framework."""
    from .native import native_calls

    with _errors(fmt is Fmt.json):
        parsed = _read_spec(spec)
        dist = _resolve(parsed, shape, layout.value if layout else None)
        calls = native_calls(dist)
    lines = dist.derivation.lines()
    if fmt is Fmt.json:
        typer.echo(json.dumps({"spec": parsed.to_dict(), "shape": list(shape),
                               "layout": layout.value if layout else None, "derivation": lines,
                               "law": _law_dict(dist), "native": {k: c.to_dict() for k, c in calls.items()}},
                              indent=2))
        return
    support = f"[{dist.low:.6g}, {dist.high:.6g}]" if math.isfinite(dist.low) else "unbounded"
    text = [*lines, "", f"law: {dist.describe()}", f"  mean {dist.mean:.6g}, std {dist.std:.6g}, support {support}",
            "", "native calls (exact: the same law for this tensor; numbers computed for this shape):",
            *_native_text(calls)]
    typer.echo("\n".join(text).rstrip())


@convert_app.command("native")
def convert_native(spec: Annotated[str, typer.Argument(metavar="FILE|SPEC", help="a spec file or inline YAML/JSON")], shape: ShapeOpt,
                   layout: LayoutOpt = None, fmt: FmtOpt = Fmt.text) -> None:
    """Print the equivalent native code in each framework."""
    from .native import native_calls

    with _errors(fmt is Fmt.json):
        dist = _resolve(_read_spec(spec), shape, layout.value if layout else None)
        calls = native_calls(dist)
    if fmt is Fmt.json:
        typer.echo(json.dumps({k: c.to_dict() for k, c in calls.items()}, indent=2))
    else:
        typer.echo("\n".join(_native_text(calls)).rstrip())


def _keras_archive_config(path: str) -> Any:
    """The ``config.json`` inside a saved ``.keras`` model (a zip file), as a located document."""
    import zipfile

    from ._document import MAX_BYTES_DEFAULT, load_text

    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
            if info.file_size > MAX_BYTES_DEFAULT:
                raise SpecError.single("too_large", f"config.json is {info.file_size} bytes, over the "
                                       f"{MAX_BYTES_DEFAULT}-byte cap", file=path, value=info.file_size)
            raw = zf.read(info)
    except FileNotFoundError:
        raise SpecError.single("file_not_found", "no such file; check the path", file=path) from None
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise SpecError.single("file_unreadable", f"not a saved Keras model (.keras zip with config.json): {exc}",
                               file=path) from None
    return load_text(raw, fmt="json", filename=f"{path}:config.json")


@convert_app.command("keras")
def convert_keras_cmd(config: Annotated[str, typer.Argument(
        metavar="CONFIG", help="a Keras initializer config (a .json file, inline JSON, or a short name such as "
                               "glorot_uniform), or a layer/model config: a saved model's config.json or .keras file")],
        fmt: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
        output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write the spec file here")] = None,
        ) -> None:
    """Convert Keras initializer configs into initspec specs (keras.* presets)."""
    from ._document import load_path, load_text
    from .convert import convert_keras, convert_keras_config, is_initializer_config
    from .files import dumps, write_atomic

    if fmt not in ("yaml", "json"):
        raise typer.BadParameter(f"{fmt!r}: use yaml or json", param_hint="--format")
    _check_output(output, "--output")
    if output is not None:  # the file's suffix decides its format
        fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(output.suffix.lower(), "")
        if not fmt:
            raise typer.BadParameter(f"{str(output)!r}: the file name must end in .yaml, .yml or .json",
                                     param_hint="--output")
    with _errors():
        text = config.strip()
        doc = None
        if text.lower().endswith(".keras") and "{" not in text:
            doc = _keras_archive_config(text)
        elif text.lower().endswith(".json") and "{" not in text:
            doc = load_path(text)
        elif text.startswith(("{", "[", '"')):
            doc = load_text(text, fmt="yaml", filename="<inline config>")
        data = doc.data if doc is not None else text
        if not is_initializer_config(data):
            if output is not None:
                raise SpecError.single("wrong_type", "--output writes one spec; this is a layer or model config with "
                                       "several initializers (drop --output to list them all)", file=config)
            _print_conversions(convert_keras_config(data, document=doc), fmt, config)
            return
        conv = convert_keras(data, document=doc)
        comments = [f"converted from Keras {conv.keras_class}", *conv.notes]
        body = dumps(conv.spec, fmt=fmt)
        if fmt == "yaml":  # the notes travel with the spec, as comments
            body = "".join(f"# {c}\n" for c in comments) + body
        if output is not None:
            write_atomic(output, body)
    if fmt == "json":  # JSON has no comments: the notes go to stderr
        for note in conv.notes:
            _err(f"note: {note}")
    if output is not None:
        _err(f"wrote {output}")
        return
    typer.echo(body.rstrip("\n"))


def _print_conversions(found: list[tuple[str, Any]], fmt: str, source: str) -> None:
    """Every initializer of a Keras layer/model config: ``<layer path>.<argument>: spec``."""
    if fmt == "json":
        typer.echo(json.dumps({where: conv.spec.to_dict() for where, conv in found}, indent=2))
        for where, conv in found:
            for note in conv.notes:
                _err(f"note: {where}: {note}")
        return
    lines = [f"# {len(found)} initializer{'s' if len(found) != 1 else ''} in the Keras config {source}, as initspec "
             "specs (<layer path>.<argument>: spec)"]
    for where, conv in found:
        lines += [f"# {where}: {note}" for note in conv.notes]
        lines.append(f"{json.dumps(where)}: {json.dumps(conv.spec.to_dict())}")
    typer.echo("\n".join(lines))


# ----------------------------------------------------------------------------- schema


@app.command()
def schema(kind: Annotated[Kind, typer.Option("--kind", help="which file format")] = Kind.spec) -> None:
    """Print the JSON Schema (Draft 2020-12) of spec or plan files."""
    from . import schema as schema_mod

    with _errors():
        text = schema_mod.dumps(kind.value)
    typer.echo(text.rstrip("\n"))


# ----------------------------------------------------------------------------- sample


def _draw(backend: str, spec: Any, shape: tuple[int, ...], layout: str, seed: int, dtype: str) -> Any:
    """One tensor drawn on the CPU through ``backend``'s public initializer (its conformance
    driver knows how), as a NumPy array."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .testing.backends import get_backend

    return get_backend(backend).sample(spec, shape, layout, seed, dtype)


@app.command()
def sample(spec: Annotated[str, typer.Argument(metavar="FILE|SPEC", help="a spec file or inline YAML/JSON")], shape: ShapeOpt,
           backend: Annotated[Backend, typer.Option("--backend", help="which adapter draws")] = Backend.numpy,
           layout: LayoutOpt = None,
           seed: Annotated[int, typer.Option("--seed", help="the draw's seed")] = 0,
           dtype: Annotated[str, typer.Option("--dtype", help=", ".join(_DTYPES))] = "float32",
           plot: Annotated[Optional[Path], typer.Option("--plot", help="write a histogram with the law's density "
                                                                         "(PNG; needs matplotlib)")] = None,
           ) -> None:
    """Draw one tensor with a backend and compare its statistics with the resolved law."""
    if dtype not in _DTYPES:
        raise typer.BadParameter(f"{dtype!r}: use one of {', '.join(_DTYPES)}", param_hint="--dtype")
    _check_output(plot, "--plot")
    lay = layout.value if layout else backends.get(backend.value).layout
    verbose = sys.stderr.isatty()
    with _errors():
        check_seed(seed, "--seed")
        parsed = _read_spec(spec)
        dist = _resolve(parsed, shape, lay)
        if verbose:
            _err(f"initspec: drawing {math.prod(shape):,} values with {backend.value} ...")
        x = _draw(backend.value, parsed, shape, lay, seed, dtype)
    typer.echo(f"law: {dist.describe()}  [{backend.value}, {dtype}, shape {shape}, layout {lay}, seed {seed}]")
    bad = _non_finite_count(x)
    if bad:  # never a statistical verdict on inf/NaN: the draw itself failed
        typer.echo(f"verdict: FAIL - {bad:,} of {x.size:,} values are inf or NaN ({backend.value} drew a tensor "
                   "the law cannot produce)")
        raise typer.Exit(1)
    from .plot import summary_table

    typer.echo(summary_table(x, dist))
    failed = False
    try:
        from .testing import check_samples
    except ImportError:  # pragma: no cover - scipy is in the conformance extra
        typer.echo("verdict: skipped (pip install 'initspec[conformance]' for the statistical checks)")
    else:
        with _errors():
            result = check_samples(x, dist, dtype)
        typer.echo("verdict (initspec.testing.check_samples): " + result.report())
        failed = not result.passed
    if plot is not None:
        from .plot import plot_samples

        with _errors():
            plot_samples(x, dist, plot, title=f"{parsed.scheme} on shape {shape} (layout {lay}), drawn by {backend.value}, "
                                       f"{dtype}, seed {seed}")
        _err(f"wrote {plot}")
    if failed:
        raise typer.Exit(1)


def _non_finite_count(x: Any) -> int:
    import numpy as np

    arr = np.asarray(x)
    if arr.dtype.kind not in "fc" and arr.dtype.name != "bfloat16":
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr.astype(np.float64))))


# ----------------------------------------------------------------------------- plan


def _check_target(target: str) -> None:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise typer.BadParameter(f"{target!r}: expected package.module:callable", param_hint="--model")


def _import_factory(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the current directory's modules import
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError.single("model_import", f"cannot import {module_name!r} ({exc})", loc=("--model",),
                               value=target) from None
    except BaseException as exc:  # noqa: BLE001 - user code: SystemExit and Ctrl-C at import are failures too
        if _debug():
            traceback.print_exc()
        raise SpecError.single("model_import", f"importing {module_name!r} failed: {_user_failure(exc)}",
                               loc=("--model",), value=target) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SpecError.single("model_import", f"{module_name!r} has no attribute {attr!r}", loc=("--model",),
                                   value=target)
        obj = getattr(obj, part)
    if not callable(obj):
        raise SpecError.single("model_import", f"{target} is not callable", loc=("--model",), value=target)
    return obj


def _build_model(factory: Any, target: str) -> Any:
    """Call the ``--model`` factory; its own failure is reported as such, not as ours."""
    try:
        return factory()
    except BaseException as exc:  # noqa: BLE001 - any error of user code, sys.exit() and Ctrl-C included
        if _debug():
            traceback.print_exc()
        raise SpecError.single(
            "model_import", f"calling {target}() failed: {_user_failure(exc)} (the factory must build the "
            "model with no arguments; `initspec --debug ...` shows the traceback)", loc=("--model",),
            value=target) from None


def _user_failure(exc: BaseException) -> str:
    """What user code did instead of returning: an exit (even ``sys.exit(0)``: no model was
    built, so nothing was planned - never a pass), an interrupt, or an exception."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}) instead of returning a model"
    if isinstance(exc, KeyboardInterrupt):
        return "it was interrupted (KeyboardInterrupt)"
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = ""
    return f"{type(exc).__name__}: {text[:500]}"


def _locate_plan_errors(exc: SpecError, doc: Any) -> SpecError:
    """The plan's errors with the file:line:col of what they name: the rule (or default), the
    field of its spec, the character of a formula; a declared type."""
    from .plans.formulas import shift_columns
    from .plans.rules import error_path

    out = []
    for e in exc.errors:
        where = error_path(e.loc) if e.loc and e.file is None else None
        pos = None
        while where and pos is None:
            pos = doc.locate_key(where) if where[0] == "types" and len(where) == 2 else doc.locate(where)
            where = where[:-1] if pos is None else where
        out.append(e.with_location(doc.filename, *pos) if pos else e)
    return SpecError(shift_columns(out, {}, doc), title=exc.title)


def _plans() -> Any:
    try:
        return importlib.import_module("initspec.plans")
    except ImportError as exc:
        raise ImportError(f"plans are not available in this initspec ({exc})") from exc


@app.command("plan")
def plan_cmd(plan_file: Annotated[str, typer.Argument(metavar="PLAN", help="a plan file (.yaml, .json)")],
             model: Annotated[str, typer.Option("--model", help="package.module:factory returning the model")],
             apply: Annotated[bool, typer.Option("--apply", help="initialize the model's weights too")] = False,
             manifest: Annotated[Optional[Path], typer.Option("--manifest", help="with --apply: write the "
                                                                                  "manifest (JSON) here")] = None,
             seed: Annotated[Optional[int], typer.Option("--seed", min=0, help="override the plan's seed")] = None,
             strict: Annotated[bool, typer.Option("--strict/--no-strict", help="--no-strict: an uncovered "
                                                  "parameter or a rule that matches nothing is a warning, "
                                                  "not an error")] = True,
             fmt: FmtOpt = Fmt.text) -> None:
    """Dry-run a plan against a model: which rule gives each parameter which law."""
    if manifest is not None and not apply:
        raise typer.BadParameter("--manifest needs --apply", param_hint="--manifest")
    _check_target(model)
    _check_output(manifest, "--manifest")
    with _errors(fmt is Fmt.json):
        factory = _import_factory(model)
        plans = _plans()
        from ._document import load_path
        from .files import from_document

        doc = load_path(plan_file)
        parsed = from_document(doc, "plan")
        net = _build_model(factory, model)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", plans.PlanWarning)  # the table lists them
                if apply:  # apply resolves the plan first and returns that table with the manifest
                    result = plans.apply(parsed, net, seed=seed, strict=strict)
                    table = result.table
                else:
                    result, table = None, plans.plan(parsed, net, seed=seed, strict=strict)
        except SpecError as exc:
            raise _locate_plan_errors(exc, doc) from None
        if result is not None and manifest is not None:
            result.write(manifest)
    if fmt is Fmt.json:
        typer.echo(json.dumps(table.to_json(), indent=2, default=str))
    else:
        typer.echo(table.to_text())
    if result is not None:
        _err(f"applied: {len(table)} parameters initialized" + (f"; manifest written to {manifest}"
                                                                 if manifest is not None else ""))


@app.command("inspect")
def inspect_cmd(model: Annotated[str, typer.Option("--model", help="package.module:factory returning the model")],
                plan_file: Annotated[Optional[str], typer.Option(
                    "--plan", metavar="PLAN", help="apply this plan's `types:` declarations first")] = None,
                fmt: FmtOpt = Fmt.text) -> None:
    """List every parameter as plans see it: normalized path, shape, dtype, kind/role, native
    type and layout - what rules can match, without writing a plan."""
    _check_target(model)
    with _errors(fmt is Fmt.json):
        factory = _import_factory(model)
        plans = _plans()
        parsed = None
        if plan_file is not None:
            from ._document import load_path
            from .files import from_document

            parsed = from_document(load_path(plan_file), "plan")
        result = plans.inspect(_build_model(factory, model), parsed)
    if fmt is Fmt.json:
        typer.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        typer.echo(result.to_text())


# ----------------------------------------------------------------------------- conformance


_CONFORMANCE_EPILOG = (
    "Case ids read <scheme>-<family>-<dtype>, e.g. 'he_*-conv2d-*'. "
    "Exit status: 0 passed, 1 a failure or nothing tested, 2 bad usage. See docs/conformance.md.")


@app.command(epilog=_CONFORMANCE_EPILOG)
def conformance(backend: Annotated[Optional[list[str]], typer.Option(
                    "--backend", help="numpy, torch, keras, jax or a registered one (repeatable; default all)")] = None,
                device: Annotated[Optional[list[str]], typer.Option("--device", help="e.g. cpu, cuda (repeatable)")]
                = None,
                case: Annotated[Optional[list[str]], typer.Option(
                    "--case", help="glob over case ids, e.g. 'he_*-conv2d-*' (repeatable)")] = None,
                salt: Annotated[Optional[int], typer.Option("--salt", help="re-roll every seed")] = None,
                coverage: Annotated[Optional[str], typer.Option(
                    "--coverage", help="full or covering case table for every backend")] = None,
                fmt: Annotated[str, typer.Option("--format", help="text, json or markdown")] = "text",
                output: Annotated[Optional[Path], typer.Option("--output", help="write the report here")] = None,
                skips: Annotated[Optional[list[str]], typer.Option(
                    "--skips", help="an extra skip/xfail YAML file (repeatable)")] = None,
                list_backends: Annotated[bool, typer.Option(
                    "--list", help="list backends, devices and the number of tests, then exit")] = False,
                list_cases: Annotated[bool, typer.Option(
                    "--list-cases", help="list the case ids the selection runs, then exit")] = False,
                quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
                power_gate: Annotated[bool, typer.Option(
                    "--power-gate", help="run the power gate's wrong samplers instead: is each one rejected?")]
                = False,
                ) -> None:
    """Run the statistical conformance suite on every installed backend and device."""
    if fmt not in ("text", "json", "markdown"):
        raise typer.BadParameter(f"{fmt!r}: use text, json or markdown", param_hint="--format")
    if coverage not in (None, "full", "covering"):
        raise typer.BadParameter(f"{coverage!r}: use full or covering", param_hint="--coverage")
    _check_output(output, "--output")
    with _errors():
        try:
            command = importlib.import_module("initspec.testing.command")
        except ImportError as exc:
            raise ImportError(f"the conformance suite needs SciPy: pip install 'initspec[conformance]' ({exc})") \
                from exc
        known = command.engine.backend_names()
    for b in backend or []:
        if b not in known:
            from .errors import did_you_mean

            raise typer.BadParameter(f"unknown backend {b!r}{did_you_mean(b, known)}; registered: "
                                     f"{', '.join(known)}", param_hint="--backend")
    with _errors():
        code = command.conformance(command.Options(
            backend, device, case, salt, coverage, fmt, str(output) if output is not None else None, skips,
            list_backends, list_cases, quiet, power_gate))
    raise typer.Exit(code or 0)


# ----------------------------------------------------------------------------- propagate


class Activation(str, Enum):
    """The activations of :data:`initspec.propagation.ACTIVATIONS`."""

    linear = "linear"
    relu = "relu"
    tanh = "tanh"
    sigmoid = "sigmoid"
    selu = "selu"


@app.command("propagate")
def propagate_cmd(specs: Annotated[Optional[list[str]], typer.Argument(
                      metavar="SPEC", help="spec files or inline YAML/JSON (a synthetic dense stack); "
                      "leave out with --model", show_default=False)] = None,
                  model: Annotated[Optional[str], typer.Option(
                      "--model", help="package.module:factory returning your model: measure it instead of a "
                      "synthetic stack")] = None,
                  plan_file: Annotated[Optional[str], typer.Option(
                      "--plan", metavar="PLAN", help="with --model: apply this plan first")] = None,
                  input_shape: Annotated[Any, typer.Option(
                      "--input-shape", callback=_shape_callback, metavar="B,D,...", show_default=False,
                      help="with --model: the shape of the standard normal input batch, e.g. 64,784")] = None,
                  check: Annotated[bool, typer.Option("--check", help="with --model: exit 1 unless the verdict is "
                                                      "healthy (for CI)")] = False,
                  depth: Annotated[int, typer.Option("--depth", min=1, help="number of dense layers")] = 50,
                  width: Annotated[int, typer.Option("--width", min=1, help="units per layer")] = 256,
                  activation: Annotated[Activation, typer.Option("--activation", help="the nonlinearity after "
                                                                 "every layer")] = Activation.relu,
                  batch: Annotated[int, typer.Option("--batch", min=1, help="random inputs per trial")] = 512,
                  seed: Annotated[int, typer.Option("--seed", min=0, help="seed of inputs and weights")] = 0,
                  trials: Annotated[int, typer.Option("--trials", min=1, help="independent stacks per spec "
                                                      "(geometric mean)")] = 1,
                  plot: Annotated[Optional[Path], typer.Option("--plot", help="write the variance curves (PNG; "
                                                               "needs matplotlib)")] = None,
                  fmt: FmtOpt = Fmt.text) -> None:
    """Activation and gradient variance per layer: of your model on one batch (--model), with a
    verdict, or of a deep dense stack for each spec."""
    if model is not None:
        if specs:
            raise typer.BadParameter("give either specs (a synthetic stack) or --model, not both",
                                     param_hint="SPEC...")
        _propagate_model(model, plan_file, input_shape, check, seed, plot, fmt)
        return
    if plan_file is not None or input_shape is not None or check:
        raise typer.BadParameter("--plan, --input-shape and --check go with --model", param_hint="--model")
    if not specs:
        raise typer.BadParameter("give one or more specs, or --model package.module:factory", param_hint="SPEC...")
    from .propagation import propagate

    _check_output(plot, "--plot")
    with _errors(fmt is Fmt.json):
        labelled: dict[str, Any] = {}
        for text in specs:
            spec = _read_spec(text)
            label = text if Path(text).suffix.lower() in (".yaml", ".yml", ".json") else None
            if label is None:
                from .propagation import label_of

                label = label_of(spec)
            while label in labelled:
                label += "'"
            labelled[label] = spec
        report = propagate(labelled, depth=depth, width=width, activation=activation.value, batch=batch,
                           seed=seed, trials=trials)
        if plot is not None:
            report.plot(plot)
    _print_report(report, fmt, plot)


def _print_report(report: Any, fmt: Fmt, plot: Path | None) -> None:
    """A propagation or diagnosis report on stdout, as JSON or text, and the plot it wrote."""
    if fmt is Fmt.json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        typer.echo(report.to_text())
    if plot is not None:
        _err(f"wrote {plot}")


def _propagate_model(target: str, plan_file: str | None, input_shape: tuple[int, ...] | None, check: bool,
                     seed: int, plot: Path | None, fmt: Fmt) -> None:
    """``propagate --model``: initspec.diagnose on the factory's model (docs/signal.md)."""
    _check_target(target)
    if not input_shape or any(d < 1 for d in input_shape):
        raise typer.BadParameter("give the input batch's shape, positive integers, e.g. --input-shape 64,784",
                                 param_hint="--input-shape")
    _check_output(plot, "--plot")
    with _errors(fmt is Fmt.json):
        from .diagnose import diagnose

        factory = _import_factory(target)
        parsed = doc = None
        if plan_file is not None:
            from ._document import load_path
            from .files import from_document

            doc = load_path(plan_file)
            parsed = from_document(doc, "plan")
        net = _build_model(factory, target)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", _plans().PlanWarning)
                result = diagnose(net, input_shape=input_shape, plan=parsed, seed=seed)
        except SpecError as exc:
            raise (_locate_plan_errors(exc, doc) if doc is not None else exc) from None
        except (ImportError, typer.Exit):
            raise
        except Exception as exc:  # noqa: BLE001 - the user's model failed on the batch
            if _debug():
                traceback.print_exc()
            raise SpecError.single(
                "model_failed", f"running {target}() forward and backward on a batch of shape "
                f"{','.join(map(str, input_shape))} failed: {type(exc).__name__}: {str(exc)[:500]} (check "
                "--input-shape; `initspec --debug ...` shows the traceback)", loc=("--model",), value=target) from None
        if plot is not None:
            result.plot(plot)
    _print_report(result, fmt, plot)
    if check and not result.healthy:
        raise typer.Exit(1)


def _hoist_debug(argv: list[str]) -> list[str]:
    """``--debug`` is a global option; accept it after the command too (``initspec explain ... --debug``)."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" not in argv[:end]:
        return argv
    return ["--debug"] + [a for i, a in enumerate(argv) if not (a == "--debug" and i < end)]


def main() -> None:
    """Console-script entry point (``initspec``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter, when a command loads it
    app(args=_hoist_debug(sys.argv[1:]), prog_name="initspec")


if __name__ == "__main__":  # pragma: no cover
    main()
