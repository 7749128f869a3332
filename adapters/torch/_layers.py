"""What the PyTorch walker knows about layers outside ``torch.nn``: Hugging Face's ``Conv1D``,
RMSNorm-style norms (by a registry of known classes and by a structural test), and learned
token/position tables held directly by a module.  The rules are documented in
:mod:`initspec.adapters.torch.model` and docs/models.md.

Norms
    A norm's gain is ``offset + weight``: ``offset`` 0 for LayerNorm, ``nn.RMSNorm``, Llama's,
    Mistral's, Qwen2's ... RMSNorm (neutral init: ones), 1 for Gemma's ``1 + weight`` RMSNorm
    (neutral init: zeros).  Known Hugging Face classes are looked up by name
    (:data:`HF_NORMS`, for classes defined in ``transformers``); any other module is a norm
    when it passes the **structural test** - a leaf module whose parameters are one 1-D scale
    (``weight``/``gamma``/``scale``) and optionally a 1-D shift (``bias``/``beta``/``offset``)
    of the same size, with an ``eps``/``variance_epsilon``/``epsilon`` attribute - and the
    **probe** tells its offset: the module's ``forward`` is run on a shallow copy whose
    parameters are zeros (float32, on the CPU; the model's own tensors are never written, the
    global RNG is not advanced, hooks do not run) with a small random input whose last (or
    channel) dimension is the scale's size.  An output that is exactly zero means gain =
    weight; an output that vanishes with the scale at -1 instead means gain = 1 + weight.
    A module that cannot be run that way, or that fits neither, is not taken for a norm.
    Subclasses of ``torch.nn`` norms with their own ``forward`` (``NemotronLayerNorm1P``) are
    probed the same way.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

from ...params import IN0_OUT1
from ...spec import Axes
from .._common import Norm, norm_weights

__all__ = [
    "HF_DENSE_IN_OUT",
    "HF_NORMS",
    "OFFSET_NOTE",
    "TOKEN_NAMES",
    "Norm",
    "hf_conv1d",
    "norm_of",
    "token_layout",
]

#: Hugging Face norm classes (defined in ``transformers``) -> the offset of their gain
#: (0: ``weight * x̂``, neutral init ones; 1: ``(1 + weight) * x̂``, neutral init zeros).  Checked
#: against the structural probe on every class of transformers 5.23 that can be built
#: (tests/test_real_models.py); the gated ones take a second input and are not probed.
HF_NORMS: dict[str, int] = {
    # gain = weight
    "LlamaRMSNorm": 0, "MistralRMSNorm": 0, "MixtralRMSNorm": 0, "Qwen2RMSNorm": 0, "Qwen2MoeRMSNorm": 0,
    "Qwen3RMSNorm": 0, "Qwen3MoeRMSNorm": 0, "Phi3RMSNorm": 0, "Olmo2RMSNorm": 0, "Olmo3RMSNorm": 0,
    "OlmoeRMSNorm": 0, "T5LayerNorm": 0, "MT5LayerNorm": 0, "UMT5LayerNorm": 0, "LongT5LayerNorm": 0,
    "Gemma3nRMSNorm": 0, "Gemma4RMSNorm": 0, "CohereLayerNorm": 0, "DeepseekV2RMSNorm": 0, "DeepseekV3RMSNorm": 0,
    "GraniteRMSNorm": 0, "Llama4TextRMSNorm": 0, "MllamaTextRMSNorm": 0, "Qwen2VLRMSNorm": 0,
    "Qwen2_5_VLRMSNorm": 0, "SmolLM3RMSNorm": 0, "MambaRMSNorm": 0, "Mamba2RMSNorm": 0, "JambaRMSNorm": 0,
    "IdeficsRMSNorm": 0, "Idefics2RMSNorm": 0, "Idefics3RMSNorm": 0, "PixtralRMSNorm": 0, "GlmRMSNorm": 0,
    "Glm4RMSNorm": 0, "HeliumRMSNorm": 0, "GptOssRMSNorm": 0, "ImageGPTLayerNorm": 0,
    # gain = weight, with a second (gate) input: not probed
    "Qwen3NextRMSNormGated": 0, "Qwen3_5RMSNormGated": 0, "Qwen3_5MoeRMSNormGated": 0, "MambaRMSNormGated": 0,
    "BambaRMSNormGated": 0, "Zamba2RMSNormGated": 0, "NemotronHRMSNormGated": 0, "GraniteMoeHybridRMSNormGated": 0,
    "OlmoHybridRMSNormGated": 0, "KimiLinearRMSNormGated": 0, "BailingHybridRMSNormGated": 0,
    "Glm5NextTextRMSNormGated": 0, "Qwen4ExpTextRMSNormGated": 0, "FalconH1RMSNormGated": 0,
    # gain = 1 + weight: the neutral init is zeros
    "GemmaRMSNorm": 1, "Gemma2RMSNorm": 1, "Gemma3RMSNorm": 1, "RecurrentGemmaRMSNorm": 1, "T5GemmaRMSNorm": 1,
    "T5Gemma2RMSNorm": 1, "VaultGemmaRMSNorm": 1, "Qwen3NextRMSNorm": 1, "Qwen3_5RMSNorm": 1,
    "Qwen3_5MoeRMSNorm": 1, "Qwen4ExpTextRMSNorm": 1, "NemotronLayerNorm1P": 1, "VideoPrismLayerNorm": 1,
    "MiniMaxM3VLRMSNorm": 1, "Step3p7RMSNorm": 1, "MuseGlimmerTextCenteredRMSNorm": 1,
    "MuseSparkTextCenteredRMSNorm": 1, "MuseSparkTextInputScaledRMSNorm": 1,
}
#: Hugging Face layers that are dense layers storing their weight (in, out): ``Conv1D``
#: (``transformers.pytorch_utils``: GPT-2, openai-gpt, ImageGPT, Decision Transformer, CLVP).
HF_DENSE_IN_OUT = frozenset({"Conv1D"})
#: Parameters held directly by a module that are learned token or position tables (ViT's
#: ``cls_token``/``position_embeddings``, CLIP's ``class_embedding``, timm's
#: ``pos_embed``/``reg_token``, Swin's ``relative_position_bias_table`` ...): kind and role
#: ``embedding``, read as a (rows, dim) table behind leading axes of size one (a 1-D one is a
#: single learned vector).
TOKEN_NAMES = frozenset({"cls_token", "mask_token", "dist_token", "distillation_token", "reg_token", "register_tokens",
                         "class_embedding", "pos_embed", "pos_embedding", "position_embedding", "position_embeddings",
                         "absolute_pos_embed", "relative_position_bias_table", "query_tokens", "latents"})
OFFSET_NOTE = "scale = 1 + weight: the neutral init is zeros (ones would double the gain)"

_SCALE_NAMES = ("weight", "gamma", "scale")
_SHIFT_NAMES = ("bias", "beta", "offset")
_EPS_NAMES = ("eps", "variance_epsilon", "epsilon")


def _from_transformers(cls: type) -> bool:
    return cls.__module__.startswith("transformers.")


def hf_conv1d(module: Any) -> bool:
    """Hugging Face's ``Conv1D`` (or a subclass): a dense layer with weight (nx, nf) = (in, out)."""
    if not any(c.__name__ in HF_DENSE_IN_OUT and _from_transformers(c) for c in type(module).__mro__):
        return False
    w = module._parameters.get("weight")
    nx, nf = getattr(module, "nx", None), getattr(module, "nf", None)
    return w is not None and w.dim() == 2 and (nx is None or nf is None or tuple(w.shape) == (nx, nf))


def token_layout(shape: tuple[int, ...]) -> Any:
    """A token/position table (…, rows, dim): rows in, dim out, leading axes batch."""
    n = len(shape)
    if n < 2:
        return "torch"  # one learned vector: no fans
    if n == 2:
        return IN0_OUT1
    return Axes(in_axes=(n - 2,), out_axes=(n - 1,), batch_axes=tuple(range(n - 2)))


def _structure(module: Any) -> tuple[str, str | None] | None:
    """(scale name, shift name) when ``module`` passes the structural test, else None."""
    if module._modules and any(m is not None for m in module._modules.values()):
        return None
    if not any(hasattr(module, e) for e in _EPS_NAMES):
        return None
    shapes = {k: tuple(v.shape) for k, v in module._parameters.items() if v is not None}
    return norm_weights(shapes, _SCALE_NAMES, _SHIFT_NAMES)


def _signature(module: Any) -> tuple[Any, ...]:
    """A probe's cache key: the class and its plain configuration (sizes, eps, flags)."""
    plain = tuple(sorted((k, v) for k, v in vars(module).items()
                         if isinstance(v, (bool, int, float, str)) and k != "training"))
    shapes = tuple((k, tuple(v.shape)) for k, v in module._parameters.items() if v is not None)
    return type(module), plain, shapes


def probe(module: Any, scale: str, shift: str | None, torch: Any) -> int | None:
    """The offset of ``module``'s gain (0 or 1), or None when it cannot be told (module docstring)."""
    size = int(module._parameters[scale].shape[0])
    gen = torch.Generator().manual_seed(0)
    shapes = ((2, 3, size), (2, size, 3), (2, size, 3, 3))

    def run(fill: float) -> list[Any]:
        clone = copy.copy(module)  # shallow: our own __dict__, the model's tensors untouched
        params = {k: (None if v is None else torch.nn.Parameter(
            torch.full(tuple(v.shape), fill if k == scale else 0.0, dtype=torch.float32), requires_grad=False))
            for k, v in module._parameters.items()}
        buffers = {k: (None if b is None else (torch.zeros(tuple(b.shape), dtype=b.dtype) if b.is_meta
                                               else b.detach().to("cpu", copy=True)))
                   for k, b in module._buffers.items()}
        object.__setattr__(clone, "_parameters", params)
        object.__setattr__(clone, "_buffers", buffers)
        object.__setattr__(clone, "training", False)
        outs = []
        for shape in shapes:
            x = torch.randn(shape, generator=gen)
            try:
                y = clone.forward(x)
            except TypeError:  # a gated norm: forward(x, gate)
                try:
                    y = clone.forward(x, torch.randn(shape, generator=gen))
                except Exception:  # noqa: BLE001, S112 - any failure: try the next input form
                    continue
            except Exception:  # noqa: BLE001, S112 - any failure: try the next input form
                continue
            if isinstance(y, (tuple, list)) and y:
                y = y[0]
            if isinstance(y, torch.Tensor) and tuple(y.shape) == shape:
                outs.append(y.detach().float())
                break
        return outs

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zero = run(0.0)
            if not zero or not bool(torch.isfinite(zero[0]).all()):
                return None
            if float(zero[0].abs().max()) == 0.0:
                return 0
            minus = run(-1.0)
    except Exception:  # noqa: BLE001 - a module whose copy cannot run: not taken for a norm
        return None
    if minus and float(minus[0].abs().max()) <= 1e-6 * max(1.0, math.sqrt(size)):
        return 1
    return None


def norm_of(module: Any, nn: Any, torch: Any, cache: dict[Any, Any]) -> Norm | None:
    """``module`` as a norm (registry, torch class or structural test + probe), or None."""
    cls = type(module)
    torch_norms = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.LocalResponseNorm,
                   getattr(nn, "RMSNorm", nn.LayerNorm))
    if _from_transformers(cls) and cls.__name__ in HF_NORMS:
        found = _structure(module)
        if found is not None:
            return Norm(found[0], found[1], HF_NORMS[cls.__name__], "registry")
    if isinstance(module, torch_norms):
        own_forward = next((c for c in cls.__mro__ if "forward" in vars(c)), None)
        if own_forward is None or own_forward.__module__.startswith("torch."):
            return Norm("weight", "bias", 0, "torch")
    found = _structure(module)
    if found is None:
        return None
    key = _signature(module)
    if key not in cache:
        cache[key] = probe(module, found[0], found[1], torch)
    offset = cache[key]
    if offset is None:
        if isinstance(module, torch_norms):  # a torch norm subclass that the probe cannot run
            return Norm("weight", "bias", 0, "torch")
        return None
    return Norm(found[0], found[1], offset, "probe")
