"""What a model walker reports about each parameter, framework-free.

Each backend's walker (``initspec.adapters.<backend>.model.walk``) turns a model into
:class:`ParamInfo` records; plans match, resolve and explain them without touching the
framework.  Paths are normalized: ``.``-separated, and the last component named by role
(``kernel`` and ``weight`` are both ``weight``; a norm layer's ``weight``/``gamma``/``scale``
is ``scale`` and its ``bias``/``beta`` is ``offset``; an embedding table is ``embedding``),
so one plan serves the same architecture in several frameworks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .layout import Fans, Layout
from .spec import Axes

__all__ = ["Block", "ParamInfo", "LEAF_BY_ROLE", "ROLE_BY_LEAF", "IN0_OUT1", "normalize_path"]

#: The role of a parameter by its leaf name, for layers a walker does not know (and for
#: NumPy mappings): kernel/weight/w, bias/b, gamma/scale, beta/offset, embedding(s).
ROLE_BY_LEAF = {"weight": "weight", "kernel": "weight", "w": "weight", "bias": "bias", "b": "bias",
                "scale": "scale", "gamma": "scale", "beta": "offset", "offset": "offset",
                "embedding": "embedding", "embeddings": "embedding", "recurrent_kernel": "recurrent_weight"}
#: The real layout of an embedding table (num, dim) - a dense weight applied to one-hot rows -
#: and of torch's ConvTranspose weight (in, out/groups, *k).
IN0_OUT1 = Axes(in_axes=(0,), out_axes=(1,))

#: The normalized leaf name of each role.
LEAF_BY_ROLE = {"weight": "weight", "bias": "bias", "scale": "scale", "offset": "offset", "embedding": "embedding",
                "recurrent_weight": "recurrent_weight"}
#: Leaf names that are renamed to their role's name; any other leaf name is kept as is
#: (``in_proj_weight``, ``weight_ih_l0`` ...).
SYNONYMS = frozenset({"weight", "kernel", "bias", "gamma", "beta", "scale", "offset", "embedding", "embeddings",
                      "recurrent_kernel", "w", "b"})


def normalize_path(parts: list[str] | tuple[str, ...], role: str) -> str:
    """``("encoder", "layers_0", "kernel"), "weight"`` -> ``"encoder.layers_0.weight"``.

    A leaf that is a common synonym (kernel/weight, gamma/scale, beta/offset, embeddings)
    takes its role's name; other leaves are kept."""
    parts = [str(p) for p in parts if str(p) != ""]
    leaf = LEAF_BY_ROLE.get(role)
    if leaf is not None and parts and parts[-1] in SYNONYMS:
        parts[-1] = leaf
    return ".".join(parts)


@dataclass(frozen=True)
class Block:
    """A fused sub-tensor: ``[start, stop)`` along ``axis`` (e.g. the q/k/v thirds of a packed
    attention projection, or one LSTM gate)."""

    name: str
    axis: int
    start: int
    stop: int

    def shape_in(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        out = list(shape)
        out[self.axis] = self.stop - self.start
        return tuple(out)


@dataclass(frozen=True, eq=False)
class ParamInfo:
    """One parameter of a model, as a walker reports it."""

    path: str
    """Normalized path (the one rules match)."""
    native_path: str
    """The framework's own name (``encoder.0.weight``, ``dense_1/kernel``, ``params/Dense_0/kernel``)."""
    shape: tuple[int, ...]
    dtype: str
    kind: str
    role: str
    type: str
    """Native layer type name (Linear, Conv2d, Dense, ...)."""
    layout: Layout
    """The layer's real layout: fans as the layer computes (the same in every framework)."""
    native_layout: Layout
    """How the framework's own initializers read this tensor's fans."""
    blocks: tuple[Block, ...] = ()
    layer_fans: Fans | None = None
    """Fans of the layer's weight in its real layout (biases: for torch.default_bias)."""
    layer_native_fans: Fans | None = None
    """The same under the framework's native reading."""
    hidden_size: int | None = None
    """Recurrent layers: the hidden size (for torch.recurrent_default)."""
    aliases: tuple[str, ...] = ()
    """Other normalized paths of the same tensor (tied parameters are planned once, under ``path``)."""
    notes: tuple[str, ...] = ()
    """What the backend does besides drawing the law (e.g. torch's zeroed ``padding_idx`` row)."""
    scale_offset: float = 0.0
    """A norm's scale whose layer multiplies by ``scale_offset + scale`` (Gemma's RMSNorm:
    ``1 + weight``, so 1): its neutral init is zeros, and a law of mean near one doubles
    the gain (``offset_norm_ones``).  0 for every other parameter."""
    handle: Any = field(default=None, repr=False)
    """The backend's own reference to the tensor (opaque to the core)."""

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n
