"""Plans for JAX/Flax: the walker (``walk``) and the writer (``write``).

Three forms of model are walked:

``variables`` - what ``Module.init`` returns (``dict`` or ``FrozenDict``)
    Only the ``params`` collection holds parameters (``batch_stats``, ``cache`` ... are left
    alone); a tree without a ``params`` key is read as the params collection itself.  Paths
    drop the collection name: ``params/fc1/kernel`` is ``fc1.weight``.  A variables tree
    holds no layer types, so kinds and roles are **inferred from names and shapes** (table
    below).  Leaves may be ``jax.Array``, NumPy arrays, ``jax.ShapeDtypeStruct`` (planning
    ``jax.eval_shape(module.init, ...)`` without drawing anything) or boxed
    (``nn.Partitioned`` ...).
``Linen(module, variables, *inputs, method=None, rngs=None, **kwargs)`` - the precise form
    The same variables with every submodule's class: the wrapper runs
    ``module.apply(variables, *inputs, mutable=True, ...)`` under ``jax.eval_shape`` (shapes
    only, nothing is computed) inside ``flax.linen.intercept_methods`` and records each
    module's class and configuration (DenseGeneral axes, Conv groups, ConvTranspose
    ``transpose_kernel``, Einsum equation) by its scope path - which is its parameters'
    path.  The inputs are example arrays (only their shapes matter); extra streams for
    ``make_rng`` fall back to ``params`` as in Flax.  A parameter of a module the run did
    not reach is inferred as above.  It is a read-only mapping over ``variables``.
``flax.nnx`` modules
    Walked with ``nnx.iter_graph``: every ``nnx.Param`` (LoRA's ``LoRAParam`` included;
    ``BatchStat``, ``Cache``, RNG state are not parameters) with its owning module's exact
    type.  A Param reached by several paths is reported once, under the first path
    ``iter_graph`` gives (it visits attributes in sorted order), with the others as
    ``aliases``.

Kinds, roles and layouts
    =================================  =========================  ======================  =====================
    layer (linen / nnx)                kernel shape               real fans (``layout``)  Flax's own reading
    =================================  =========================  ======================  =====================
    Dense / Linear                     (in, out)                  in / out                the same
    DenseGeneral / LinearGeneral       (*batch, *in, *out)        prod(in) / prod(out),   flattened 2-D kernel:
                                                                  batch axes excluded     prod(batch)·prod(in)
    MultiHeadDotProductAttention /     q, k, v (E, H, D);         E / H·D;  H·D / E       the same (no batch
    MultiHeadAttention (kind           out (H, D, E)                                      dims)
    ``attention``)
    Einsum                             from the equation          kernel letters not in   the conv heuristic
                                                                  the output / in it      on the full shape
    Conv (kind ``depthwise_conv``      (*k, in/g, out)            rf·in/g / rf·out        the same
    when groups = in channels)
    ConvLocal                          (*out_pos, rf·in, out)     rf·in / out per pos.    out_pos counted as rf
    ConvTranspose                      (*k, in, out)              rf·in / rf·out          the same
    ConvTranspose(transpose_kernel)    (*k, out, in)              rf·in / rf·out          rf·out / rf·in
    Embed                              (num, features)            num / features          (jax: num / features)
    =================================  =========================  ======================  =====================

    A layer stacked by ``nn.scan``/``nnx.vmap`` (a kernel with more leading axes than its
    layer makes) gets those axes as batch axes: each slice is one layer, as Flax initializes
    it.  ConvTranspose's *real* fan_in counts the input channels - Flax's own reading too,
    unlike torch and Keras.  Norm layers (LayerNorm, BatchNorm, GroupNorm, RMSNorm,
    InstanceNorm): ``scale`` -> role ``scale``, ``bias`` -> ``offset``.  Every parameter of a
    layer with a kernel carries the kernel's fans (``layer_fans`` / ``layer_native_fans``).

Recurrent cells (kind ``recurrent``, type = the cell's class, ``hidden_size`` = H)
    linen ``LSTMCell``/``OptimizedLSTMCell`` and nnx ``LSTMCell`` keep one Dense per gate:
    ``ii if ig io`` (in, H) are role ``weight``, ``hi hf hg ho`` (H, H) role
    ``recurrent_weight`` with their biases (nnx names ``if`` ``if_``).  linen ``GRUCell``:
    ``ir iz in`` / ``hr hz hn``; ``MGUCell``: ``if in`` / ``hf hn``; ``SimpleCell``:
    ``i`` / ``h``.  Each gate's tensors carry one block named by the gate (covering the
    whole tensor), so ``match: {block: f}`` selects the forget gate in linen, in nnx's fused
    cells and in torch alike (torch and Flax both name the gates i, f, g, o and r, z, n).
    nnx ``OptimizedLSTMCell`` and ``GRUCell`` are fused: ``dense_i`` (in, G·H) and
    ``dense_h`` (H, G·H) split into gate blocks along the last axis.  linen
    ``ConvLSTMCell``'s ``ih``/``hh`` are plain Conv layers (kind ``conv``), as Flax
    initializes them.

Inferred kinds (a bare variables tree)
    A module's leaves decide: ``kernel`` 2-D -> Dense; ``kernel`` >= 3-D -> Conv (a
    DenseGeneral/Einsum kernel, a ConvTranspose or a depthwise Conv look the same: these
    rows carry a note; wrap the module in :class:`Linen` for exact kinds); ``embedding``
    2-D -> Embed; ``scale`` (and ``bias``) -> a norm (type BatchNorm when ``batch_stats``
    holds its ``mean``/``var``, else ``Norm``).  Sibling patterns are recognized exactly:
    ``query key value out`` with 3-D kernels -> MultiHeadDotProductAttention; the gate sets
    of LSTMCell, GRUCell, MGUCell and SimpleCell (``i``/``h`` with a square bias-free
    ``h``).  Anything else is kind ``other``, type ``Param``, role by leaf name.

Writing
    ``write`` goes through the one plan writer (:func:`initspec.writer.write`): it checks
    every row first (handles, shapes, dtypes: the problems raise one
    :class:`~initspec.SpecError` before anything is drawn), then draws each row with
    :func:`initspec.adapters.jax.sample` from the key
    ``fold_in(jax.random.key(seed & 0xFFFFFFFF), seed >> 32)`` of the row's 63-bit seed
    (every bit used, the same key with and without ``jax_enable_x64``); blocks are placed
    with ``.at[...].set``.  Values keep each parameter's dtype and sharding.

    * variables (and :class:`Linen`) are immutable: the result is a **new** tree of the
      same container type (``manifest.params``); the input is never modified, so
      ``transactional`` changes nothing for them.
    * nnx modules are written in place (``Param.set_value``) after validation, row by row.
      ``transactional=True`` first keeps every touched Param's current value (JAX arrays
      are immutable: keeping the reference is the copy) and puts them all back if anything
      raises (an exception, a fault, Ctrl-C).

Plans run eagerly, parameter by parameter: ``initspec.apply`` is not meant to be traced
under ``jax.jit`` (the jitted part is each draw).  To initialize inside a jitted ``init``,
give the layers :func:`initspec.adapters.jax.initializer` instead.

.. warning::
   linen gate parameters are separate tensors, so ``fused: true`` on them draws each gate
   alone (orthogonal per gate, as linen's own default); nnx's fused cells draw the fused
   matrix whole (rows orthonormal across gates, as nnx's default).  The same plan therefore
   gives linen and nnx cells different recurrent laws where the frameworks differ too.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import portable, sampling, writer
from ...errors import ErrorDetail, SpecError
from ...params import ParamInfo
from .._common import require
from ._layers import Layer, Param, describe_all, flatten, inferred_layers, layer_of
from .random import sample, seed_key, x64_disabled

__all__ = ["Linen", "walk", "write"]


@dataclass(frozen=True)
class _TreeHandle:
    """A parameter of a variables tree: its key path (collection included)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class _NnxHandle:
    """A parameter of an nnx module: the ``nnx.Param`` itself."""

    param: Any


# ----------------------------------------------------------------------------- variables trees


def _is_box(leaf: Any) -> bool:
    """A ``flax.core.meta.AxisMetadata`` box (``nn.Partitioned`` ...), recognized without importing flax."""
    return hasattr(leaf, "unbox") and hasattr(leaf, "replace_boxed")


def _unbox(leaf: Any) -> Any:
    return leaf.unbox() if _is_box(leaf) else leaf


def _params_of(variables: Mapping) -> tuple[tuple[Any, ...], Mapping]:
    """(key prefix, params tree): the ``params`` collection, or the whole tree if it has none."""
    params = variables.get("params")
    return (("params",), params) if isinstance(params, Mapping) else ((), variables)


def _tree_params(variables: Mapping) -> list[Param]:
    prefix, tree = _params_of(variables)
    out = []
    for keys, leaf in flatten(tree):
        value = _unbox(leaf)
        shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
        parts = tuple(str(k) for k in keys)
        native = "/".join(str(k) for k in prefix + keys)
        if shape is None or dtype is None:
            raise SpecError.single(
                "unsupported_model", f"{native} is a {type(value).__name__}, not an array: a variables tree holds "
                "jax.Array, NumPy arrays or jax.ShapeDtypeStruct leaves", loc=(native,), value=type(value).__name__)
        module = parts[:-1]
        out.append(Param(parts=parts, module=module, parent=module[:-1] if module else None, leaf=parts[-1],
                         shape=tuple(int(d) for d in shape), dtype=dtype, native_path=native,
                         handle=_TreeHandle(prefix + keys)))
    return out


class Linen(Mapping):
    """Flax linen ``variables`` together with the class of every submodule of ``module``.

    ``Linen(module, variables, *inputs, method=None, rngs=None, **kwargs)`` runs
    ``module.apply(variables, *inputs, method=method, rngs=rngs, mutable=True, **kwargs)``
    once under ``jax.eval_shape`` (abstractly: nothing is computed or allocated) inside
    ``flax.linen.intercept_methods``, and records each module's class and configuration by
    its scope path.  Plans then know every layer exactly (DenseGeneral's axes, Conv groups,
    ConvTranspose, attention, cells) instead of inferring them from names and shapes::

        variables = model.init(key, x)
        manifest = initspec.apply("init.yaml", Linen(model, variables, x))
        variables = manifest.params          # a new tree; `variables` is unchanged

    It reads as the variables mapping itself (``Linen(...)["params"]``).  ``rngs`` defaults
    to ``{"params": jax.random.key(0)}`` (other streams fall back to it, as in Flax; only
    shapes are traced).
    """

    def __init__(self, module: Any, variables: Any, *inputs: Any, method: Any = None, rngs: Any = None,
                 **kwargs: Any):
        jax = require("jax")
        nn = require("flax.linen")
        if not isinstance(module, nn.Module):
            raise SpecError.single("unsupported_model", "Linen(module, variables, *inputs) takes a flax.linen.Module",
                                   loc=("module",), value=type(module).__name__)
        if not isinstance(variables, Mapping):
            raise SpecError.single("unsupported_model", "Linen(module, variables, *inputs) takes the variables "
                                   "module.init returns", loc=("variables",), value=type(variables).__name__)
        layers: dict[tuple[str, ...], Layer] = {}

        def record(next_fun: Any, args: Any, kw: Any, context: Any) -> Any:
            scope = context.module.scope
            if scope is not None:
                layers.setdefault(tuple(str(k) for k in scope.path), layer_of(context.module))
            return next_fun(*args, **kw)

        def run(v: Any) -> Any:
            with nn.intercept_methods(record):
                return module.apply(v, *inputs, method=method, rngs=rngs or {"params": jax.random.key(0)},
                                    mutable=True, **kwargs)

        try:
            jax.eval_shape(run, variables)
        except Exception as exc:  # the user's module failed on these inputs: say so, keep the cause
            raise SpecError.single(
                "bad_inputs", f"could not trace {type(module).__name__}.apply on these inputs to learn its layer "
                f"types ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}): pass example inputs "
                "the module accepts (and its call's keyword arguments)", loc=("inputs",)) from exc
        self.module, self.variables, self.layers = module, variables, layers

    def __getitem__(self, key: Any) -> Any:
        return self.variables[key]

    def __iter__(self) -> Any:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def __repr__(self) -> str:
        return f"Linen({type(self.module).__name__}, {len(self.layers)} modules recorded)"


def _walk_tree(variables: Mapping, recorded: dict[tuple[str, ...], Layer] | None) -> list[ParamInfo]:
    params = _tree_params(variables)
    layers = inferred_layers(params, variables)
    if recorded:
        layers.update(recorded)
    return describe_all(params, layers)


# ----------------------------------------------------------------------------- nnx


def _nnx_paths(nnx: Any, model: Any, limit: int = 200_000) -> dict[int, list[tuple[str, ...]]]:
    """Every path that reaches each ``nnx.Param`` (shared modules and tied params included);
    empty if this Flax has no ``nnx.graph.get_node_impl``."""
    get_impl = getattr(getattr(nnx, "graph", None), "get_node_impl", None)
    paths: dict[int, list[tuple[str, ...]]] = {}
    if get_impl is None:  # pragma: no cover - other Flax versions: no aliases
        return paths
    stack: list[tuple[tuple[str, ...], Any, frozenset[int]]] = [((), model, frozenset())]
    while stack and limit > 0:
        limit -= 1
        path, node, above = stack.pop()
        if isinstance(node, nnx.Variable):
            if isinstance(node, nnx.Param):
                paths.setdefault(id(node), []).append(path)
            continue
        impl = get_impl(node)
        if impl is None or id(node) in above:
            continue
        for key, child in impl.node_dict(node).items():
            stack.append((path + (str(key),), child, above | {id(node)}))
    return paths


def _walk_nnx(nnx: Any, model: Any) -> list[ParamInfo]:
    modules: dict[tuple[str, ...], Any] = {}
    found: list[tuple[tuple[str, ...], Any]] = []
    for path, node in nnx.iter_graph(model):
        key = tuple(str(k) for k in path)
        if isinstance(node, nnx.Module):
            modules[key] = node
        elif isinstance(node, nnx.Param):
            found.append((key, node))
    layers = {m: layer_of(obj) for m, obj in modules.items()}
    everywhere = _nnx_paths(nnx, model)

    def owner(prefix: tuple[str, ...]) -> tuple[str, ...]:
        while prefix not in modules and prefix:
            prefix = prefix[:-1]
        return prefix

    params = []
    for path, param in found:
        value = param.get_value()
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):  # a list, None, a Python float ...
            native = "/".join(path)
            raise SpecError.single(
                "unsupported_model", f"{native} is an nnx.Param holding a {type(value).__name__}, not an array: "
                "give it a jax.Array (nnx.Param(jnp.asarray(value)))", loc=(native,), value=type(value).__name__)
        dtype = value.dtype
        module = owner(path[:-1])
        params.append(Param(parts=path, module=module, parent=owner(module[:-1]) if module else None, leaf=path[-1],
                            shape=tuple(int(d) for d in np.shape(value)), dtype=dtype, native_path="/".join(path),
                            handle=_NnxHandle(param), aliases=[p for p in everywhere.get(id(param), []) if p != path]))
    return describe_all(params, layers)


# ----------------------------------------------------------------------------- the walker


def _flax_module(name: str) -> Any:
    """``flax.nnx`` / ``flax.linen`` if the user has imported it (a model of it exists only then)."""
    return sys.modules.get(name)


def walk(model: Any) -> list[ParamInfo]:
    """Every parameter of ``model`` - Flax variables (dict or FrozenDict), a :class:`Linen`
    wrapper or an ``nnx.Module`` - as :class:`~initspec.params.ParamInfo`."""
    if isinstance(model, Linen):
        return _walk_tree(model.variables, model.layers)
    nnx = _flax_module("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        return _walk_nnx(nnx, model)
    linen = _flax_module("flax.linen")
    if linen is not None and isinstance(model, linen.Module):
        raise SpecError.single(
            "unsupported_model", "a flax.linen Module holds no parameters: plan its variables (module.init(key, x)), "
            "or initspec.adapters.jax.Linen(module, variables, x) for exact layer kinds", value=type(model).__name__)
    if isinstance(model, Mapping):
        return _walk_tree(model, None)
    raise SpecError.single("unsupported_model", "the JAX plan backend walks Flax variables (a mapping), "
                           "initspec.adapters.jax.Linen(module, variables, *inputs) or an nnx.Module",
                           value=type(model).__name__)


# ----------------------------------------------------------------------------- writing


def _check(jax: Any, row: Any, value: Any) -> list[ErrorDetail]:
    """The problems of the parameter's current ``value`` against the row (shape, dtype)."""
    shape = tuple(int(d) for d in np.shape(value))
    if shape != row.param.shape:
        return [ErrorDetail(
            "shape_mismatch", f"{row.path} was planned with shape {row.param.shape} but the parameter now has shape "
            f"{shape}: plan the model again", loc=(row.path,), value=shape)]
    if row.block is not None and getattr(value, "is_deleted", lambda: False)():  # a block keeps the rest
        return [ErrorDetail(
            "unsupported_model", f"{row.path} is a deleted jax.Array (donated to a jitted function, or .delete()d), "
            f"and its block {row.block.name} keeps the rest of it: plan the live parameters", loc=(row.path,),
            value="deleted jax.Array")]
    dt = np.dtype(value.dtype)
    canonical = np.dtype(jax.dtypes.canonicalize_dtype(dt))
    if canonical != dt:
        return x64_disabled(dt, canonical, loc=(row.path,), instead="cast the parameter to").errors
    try:
        sampling.check_dtype(row.distribution, dt)
    except SpecError as exc:
        return writer.row_errors(row, exc)
    return []


def _draw(jax: Any, row: Any, current: Any, seeding: str = "native") -> Any:
    """One row's values, in the parameter's dtype (a sharded parameter's full row is drawn
    straight into its sharding)."""
    sharding = getattr(current, "sharding", None)
    if seeding == "portable":
        return _draw_portable(jax, row, current, sharding)
    if row.block is None and sharding is not None and len(getattr(sharding, "device_set", ())) > 1:
        return sample(row.distribution, seed_key(row.seed), row.shape, current.dtype, out_sharding=sharding)
    return sample(row.distribution, seed_key(row.seed), row.shape, current.dtype)


def _draw_portable(jax: Any, row: Any, current: Any, sharding: Any) -> Any:
    """One row's values under portable seeding (:func:`initspec.portable.draw_stored`, in the
    canonical order).  A parameter sharded over several devices is built with
    ``jax.make_array_from_callback``: each device's shard is computed alone, from its own
    index, on the host (replicas of one shard are computed once)."""
    dtype = np.dtype(current.dtype)
    done: dict[Any, np.ndarray] = {}

    def values(index: Any = None) -> np.ndarray:
        key = None if index is None else tuple((s.start, s.stop, s.step) for s in index)
        if key not in done:
            done[key] = np.ascontiguousarray(portable.draw_stored(
                row.distribution, row.shape, dtype, row_seed=row.seed, layout=row.param.layout, index=index))
        return done[key]

    if row.block is None and sharding is not None and len(getattr(sharding, "device_set", ())) > 1:
        return jax.make_array_from_callback(row.shape, sharding, values)
    return jax.numpy.asarray(values())


def _placed(jax: Any, base: Any, row: Any, value: Any) -> Any:
    """The parameter's new full value: ``value``, or ``base`` with the row's block set."""
    if row.block is None:
        return value
    idx: list[Any] = [slice(None)] * len(row.param.shape)
    idx[row.block.axis] = slice(row.block.start, row.block.stop)
    return jax.numpy.asarray(base).at[tuple(idx)].set(value)


def _fit(jax: Any, value: Any, current: Any) -> Any:
    """``value`` on the devices (sharding) ``current`` lives on."""
    sharding = getattr(current, "sharding", None)
    if isinstance(current, jax.Array) and sharding is not None and value.sharding != sharding:
        return jax.device_put(value, sharding)
    return value


def _lookup(tree: Any, keys: tuple[Any, ...]) -> Any:
    for k in keys:
        tree = tree[k]
    return tree


def _rebuilt(node: Any, new: dict[tuple[Any, ...], Any], prefix: tuple[Any, ...] = ()) -> Any:
    """A copy of the tree's mappings (same types) with the leaves in ``new`` replaced."""
    if isinstance(node, Mapping):
        items = {k: _rebuilt(v, new, prefix + (k,)) for k, v in node.items()}
        if type(node) is dict:
            return items
        try:
            return type(node)(items)  # FrozenDict and other immutable mappings
        except TypeError:  # pragma: no cover - a mapping type that cannot be built from a dict
            return items
    if prefix in new:
        return node.replace_boxed(new[prefix]) if _is_box(node) else new[prefix]
    return node


class _TreeTarget:
    """The writer's view of a variables tree (or :class:`Linen`): functional - each draw
    goes into a table of new leaves, and :meth:`result` builds a new tree from it; the
    input is never written, so there is nothing to back up."""

    in_place = False

    def __init__(self, jax: Any, model: Any, seeding: str = "native"):
        self.jax, self.seeding = jax, seeding
        self.variables = model.variables if isinstance(model, Linen) else model
        self.current: dict[tuple[Any, ...], Any] = {}  # key path -> the leaf's value now (unboxed)
        self.new: dict[tuple[Any, ...], Any] = {}  # key path -> its new value

    def check(self, row: Any) -> list[ErrorDetail]:
        handle = row.param.handle
        if not isinstance(handle, _TreeHandle):
            raise SpecError.single("wrong_backend", "these plan rows were not made by the JAX walker for variables",
                                   loc=(row.path,), value=type(handle).__name__)
        try:
            current = _unbox(_lookup(self.variables, handle.keys))
        except (KeyError, TypeError):
            return [ErrorDetail("shape_mismatch", f"{row.path} ({'/'.join(map(str, handle.keys))}) is not in "
                                "these variables: plan them again", loc=(row.path,))]
        self.current[handle.keys] = current
        return _check(self.jax, row, current)

    def storage(self, row: Any) -> Any:
        return row.param.handle.keys

    def draw(self, row: Any) -> None:
        keys = row.param.handle.keys
        current = self.current[keys]
        value = _draw(self.jax, row, current, self.seeding)
        base = self.new.get(keys)
        if base is None and row.block is not None:  # the first block of a fused parameter
            base = current if hasattr(current, "__array__") else self.jax.numpy.zeros(current.shape, current.dtype)
        self.new[keys] = _placed(self.jax, base, row, value)

    def backup(self, storage: Any) -> Any:  # pragma: no cover - never called: in_place is False
        raise NotImplementedError

    def restore(self, storage: Any, old: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def result(self) -> Any:
        return _rebuilt(self.variables, {k: _fit(self.jax, v, self.current[k]) for k, v in self.new.items()})


class _NnxTarget:
    """The writer's view of an ``nnx.Module``: each row is drawn and assigned to its Param
    in place (``Param.set_value``); a backup is the Param's current value (JAX arrays are
    immutable)."""

    in_place = True

    def __init__(self, jax: Any, model: Any, seeding: str = "native"):
        self.jax, self.model, self.seeding = jax, model, seeding

    def check(self, row: Any) -> list[ErrorDetail]:
        handle = row.param.handle
        if not isinstance(handle, _NnxHandle):
            raise SpecError.single("wrong_backend", "these plan rows were not made by the JAX walker for nnx modules",
                                   loc=(row.path,), value=type(handle).__name__)
        return _check(self.jax, row, handle.param.get_value())

    def storage(self, row: Any) -> Any:
        return row.param.handle.param

    def draw(self, row: Any) -> None:
        param = row.param.handle.param
        current = param.get_value()
        value = _draw(self.jax, row, current, self.seeding)
        param.set_value(_fit(self.jax, _placed(self.jax, current, row, value), current))

    def backup(self, storage: Any) -> Any:
        return storage.get_value()

    def restore(self, storage: Any, old: Any) -> None:
        storage.set_value(old)

    def result(self) -> Any:
        return self.model


def write(model: Any, rows: Any, *, transactional: bool = False, checkpoint: writer.Checkpoint | None = None,
          seeding: str = "native") -> Any:
    """Draw every plan row: into a **new** variables tree (returned; ``model`` is untouched)
    for Flax variables and :class:`Linen`, in place for an ``nnx.Module`` (returned).

    nnx, default: check everything, then draw and assign row by row (a failure while
    drawing leaves the rows assigned so far changed).  ``transactional=True``: a failure
    puts every touched parameter's old value back.  See :func:`initspec.writer.write` for
    ``checkpoint``.  ``seeding``: ``native`` (JAX's threefry, drawn into each parameter's
    sharding) or ``portable`` (:func:`initspec.portable.draw_stored`, each shard from its own
    index).
    """
    jax = require("jax")
    nnx = _flax_module("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        target: Any = _NnxTarget(jax, model, seeding)
    elif isinstance(model, Mapping):
        target = _TreeTarget(jax, model, seeding)
    else:
        raise SpecError.single("unsupported_model", "the JAX plan backend writes Flax variables, Linen(...) or an "
                               "nnx.Module", value=type(model).__name__)
    return writer.write(target, rows, transactional=transactional, checkpoint=checkpoint)
