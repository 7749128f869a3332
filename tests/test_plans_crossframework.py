"""One plan file, the same architecture in PyTorch, Keras (and Flax): the same law for every
parameter.

How paths line up
    Each walker names a parameter by the chain of module/layer names from the model (the
    model itself excluded) and the parameter's role: torch attribute names, Keras layer
    names (``name=``) and Flax module names (``name=``) are chosen identically below, so
    ``fc1.weight`` is torch's ``fc1.weight`` (out, in), Keras' ``fc1/kernel`` (in, out) and
    Flax's ``params/fc1/kernel`` (in, out).  Norm layers' ``weight``/``gamma``/``scale`` is
    ``scale`` and ``bias``/``beta`` is ``offset`` everywhere.

Where the architectures genuinely differ (asserted below, not papered over)
    * Attention: torch's ``nn.MultiheadAttention`` packs q/k/v into one (3E, E)
      ``in_proj_weight`` (blocks q, k, v; paths ``attn.in_proj_weight[q]`` ...) and its output
      projection is a Linear (kind ``dense``, ``attn.out_proj.weight``); Keras and Flax keep
      separate (E, H, D) kernels ``attn.query.weight`` ... and an (H, D, E) output kernel
      (``attn.attention_output`` in Keras, ``attn.out`` in Flax, kind ``attention``).  The
      test maps these paths to common keys.  With the layer's real fans (the default,
      ``fans: layer``) a rule on attention weights gives each projection the same law in
      every framework (fans E / E); torch's own default (``fused: true, fans: native`` on
      the packed matrix, fan_out 3E) is a different law, and the test shows it.
    * Depthwise convolution: torch's ``Conv2d(groups=C)``, Flax's
      ``Conv(feature_group_count=C)`` and Keras' ``DepthwiseConv2D`` all report fan_in = rf
      and the grouped-conv fan_out = rf·C·m.
    * LSTM/GRU gate blocks carry torch's names everywhere (i, f, g, o; r, z, n).

Flax: the linen models are ``initspec.adapters.jax.Linen(module, variables, x)`` (the
variables with every submodule's class, so ConvTranspose and depthwise Conv are known
exactly), and the same architectures also run as ``flax.nnx`` modules (framework ``nnx``);
the Flax cases skip with a reason where flax or the Flax walker is missing.
"""

from __future__ import annotations

import importlib
import math

import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import initspec  # noqa: E402

nn = torch.nn
L = keras.layers


def _flax_ready() -> str | None:
    """None when Flax is installed, else why the Flax cases skip."""
    if importlib.util.find_spec("flax") is None:
        return "flax is not installed"
    return None


# ============================================================================ architectures
# Identical names in every framework: torch attribute = Keras layer name = Flax module name.


class TorchMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(64, 256), nn.Linear(256, 256), nn.Linear(256, 10)


def keras_mlp():
    return keras.Sequential([keras.Input((64,)), L.Dense(256, name="fc1"), L.Dense(256, name="fc2"),
                             L.Dense(10, name="head")], name="mlp")


class TorchCNN(nn.Module):
    """(N, 3, 8, 8) -> conv1 6x6x16 -> bn1 -> dw (depthwise) 4x4x16 -> conv2 2x2x32 -> up 3x3x8 -> fc."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, groups=16)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.up = nn.ConvTranspose2d(32, 8, 2)
        self.fc = nn.Linear(72, 10)


def keras_cnn():
    return keras.Sequential([
        keras.Input((8, 8, 3)), L.Conv2D(16, 3, name="conv1"), L.BatchNormalization(name="bn1"),
        L.DepthwiseConv2D(3, name="dw"), L.Conv2D(32, 3, name="conv2"), L.Conv2DTranspose(8, 2, name="up"),
        L.Flatten(), L.Dense(10, name="fc")], name="cnn")


D_MODEL, HEADS = 64, 4


class TorchBlock(nn.Module):
    def __init__(self, d=D_MODEL, heads=HEADS):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)


def keras_block(d=D_MODEL, heads=HEADS):
    x = inp = keras.Input((8, d))
    h = L.LayerNormalization(name="ln1")(x)
    x = x + L.MultiHeadAttention(heads, d // heads, name="attn")(h, h)
    h = L.LayerNormalization(name="ln2")(x)
    x = x + L.Dense(d, name="fc2")(L.Dense(4 * d, activation="gelu", name="fc1")(h))
    return keras.Model(inp, x, name="block")


def _flax_model(kind: str):
    """Each architecture in Flax linen, module names as above: its variables wrapped in
    ``Linen`` (which records every submodule's class, so the walker knows a ConvTranspose or
    a depthwise Conv exactly instead of inferring it from a bare variables tree)."""
    import jax
    import jax.numpy as jnp
    from flax import linen as fnn

    class MLP(fnn.Module):
        @fnn.compact
        def __call__(self, x):
            x = fnn.Dense(256, name="fc1")(x)
            x = fnn.Dense(256, name="fc2")(x)
            return fnn.Dense(10, name="head")(x)

    class CNN(fnn.Module):
        @fnn.compact
        def __call__(self, x):
            x = fnn.Conv(16, (3, 3), padding="VALID", name="conv1")(x)
            x = fnn.BatchNorm(use_running_average=True, name="bn1")(x)
            x = fnn.Conv(16, (3, 3), padding="VALID", feature_group_count=16, name="dw")(x)
            x = fnn.Conv(32, (3, 3), padding="VALID", name="conv2")(x)
            x = fnn.ConvTranspose(8, (2, 2), padding="VALID", name="up")(x)
            return fnn.Dense(10, name="fc")(x.reshape((x.shape[0], -1)))

    class Block(fnn.Module):
        @fnn.compact
        def __call__(self, x):
            h = fnn.LayerNorm(name="ln1")(x)
            x = x + fnn.MultiHeadDotProductAttention(num_heads=HEADS, name="attn")(h, h)
            h = fnn.LayerNorm(name="ln2")(x)
            return x + fnn.Dense(D_MODEL, name="fc2")(fnn.gelu(fnn.Dense(4 * D_MODEL, name="fc1")(h)))

    module, x = {"mlp": (MLP(), jnp.zeros((1, 64))), "cnn": (CNN(), jnp.zeros((1, 8, 8, 3))),
                 "block": (Block(), jnp.zeros((1, 8, D_MODEL)))}[kind]
    from initspec.adapters.jax import Linen

    return Linen(module, module.init(jax.random.PRNGKey(0), x), x)


def _nnx_model(kind: str):
    """The same architectures as flax.nnx modules (attribute names as above; exact types)."""
    from flax import nnx

    rngs = nnx.Rngs(0)

    class MLP(nnx.Module):
        def __init__(self):
            self.fc1, self.fc2 = nnx.Linear(64, 256, rngs=rngs), nnx.Linear(256, 256, rngs=rngs)
            self.head = nnx.Linear(256, 10, rngs=rngs)

    class CNN(nnx.Module):
        def __init__(self):
            self.conv1, self.bn1 = nnx.Conv(3, 16, (3, 3), padding="VALID", rngs=rngs), nnx.BatchNorm(16, rngs=rngs)
            self.dw = nnx.Conv(16, 16, (3, 3), padding="VALID", feature_group_count=16, rngs=rngs)
            self.conv2 = nnx.Conv(16, 32, (3, 3), padding="VALID", rngs=rngs)
            self.up = nnx.ConvTranspose(32, 8, (2, 2), padding="VALID", rngs=rngs)
            self.fc = nnx.Linear(72, 10, rngs=rngs)

    class Block(nnx.Module):
        def __init__(self):
            self.ln1, self.ln2 = nnx.LayerNorm(D_MODEL, rngs=rngs), nnx.LayerNorm(D_MODEL, rngs=rngs)
            self.attn = nnx.MultiHeadAttention(num_heads=HEADS, in_features=D_MODEL, decode=False, rngs=rngs)
            self.fc1 = nnx.Linear(D_MODEL, 4 * D_MODEL, rngs=rngs)
            self.fc2 = nnx.Linear(4 * D_MODEL, D_MODEL, rngs=rngs)

    return {"mlp": MLP, "cnn": CNN, "block": Block}[kind]()


BUILDERS = {
    "torch": {"mlp": TorchMLP, "cnn": TorchCNN, "block": TorchBlock},
    "keras": {"mlp": keras_mlp, "cnn": keras_cnn, "block": keras_block},
    "flax": {k: (lambda k=k: _flax_model(k)) for k in ("mlp", "cnn", "block")},
    "nnx": {k: (lambda k=k: _nnx_model(k)) for k in ("mlp", "cnn", "block")},
}

#: Each framework's attention paths -> common keys (every other path is the same already).
ATTENTION_KEYS = {
    "torch": {**{f"attn.in_proj_weight[{p}]": f"attn.{p}.weight" for p in "qkv"},
              **{f"attn.in_proj_bias[{p}]": f"attn.{p}.bias" for p in "qkv"},
              "attn.out_proj.weight": "attn.out.weight", "attn.out_proj.bias": "attn.out.bias"},
    "keras": {**{f"attn.{n}.{r}": f"attn.{n[0]}.{r}" for n in ("query", "key", "value") for r in ("weight", "bias")},
              "attn.attention_output.weight": "attn.out.weight", "attn.attention_output.bias": "attn.out.bias"},
    "flax": {**{f"attn.{n}.{r}": f"attn.{n[0]}.{r}" for n in ("query", "key", "value") for r in ("weight", "bias")},
             "attn.out.weight": "attn.out.weight", "attn.out.bias": "attn.out.bias"},
    "nnx": {**{f"attn.{n}.{r}": f"attn.{n[0]}.{r}" for n in ("query", "key", "value") for r in ("weight", "bias")},
            "attn.out.weight": "attn.out.weight", "attn.out.bias": "attn.out.bias"},
}

# ============================================================================ the plan files

PLANS = {
    "mlp": """format_version: 1
seed: 0
defaults:
  bias: {scheme: zeros}
rules:
  - match: {kind: dense, role: weight}
    init: {scheme: he, distribution: normal}
  - match: {path: head.weight}
    init: {scheme: glorot, distribution: uniform}
  - match: {path: fc2.bias}
    init: {scheme: uniform, low: -0.1, high: 0.1}
""",
    "cnn": """format_version: 1
seed: 1
defaults:
  bias: {scheme: zeros}
  scale: {scheme: ones}
  offset: {scheme: zeros}
rules:
  - match: {kind: conv, role: weight}
    init: {scheme: he, distribution: normal, mode: fan_out}
  - match: {kind: depthwise_conv, role: weight}
    init: {scheme: he, distribution: uniform}          # fan_in: the same rf in every framework
  - match: {kind: conv_transpose, role: weight}
    init: {scheme: he, distribution: truncated_normal}  # real fan_in: input channels x rf
  - match: {kind: dense, role: weight}
    init: {scheme: lecun, distribution: normal}
  - match: {kind: norm, role: scale}
    init: {scheme: normal, mean: 1.0, std: 0.02}
""",
    "block": """format_version: 1
seed: 2
defaults:
  bias: {scheme: zeros}
  scale: {scheme: ones}
  offset: {scheme: zeros}
rules:
  - match: {role: weight}
    init: {scheme: normal, std: 0.02}
  - name: q/k/v projections (torch blocks of in_proj; Keras/Flax query, key, value kernels)
    match: {kind: attention, role: weight}
    init: {scheme: glorot, distribution: uniform}
  - name: output projection (torch out_proj is a Linear; Keras/Flax an attention kernel)
    match: {path: [attn.out_proj.weight, attn.attention_output.weight, attn.out.weight]}
    init: {scheme: glorot, distribution: uniform}
  - match: {path: fc1.weight}
    init: {scheme: he, distribution: truncated_normal}
""",
}


def _law(row):
    d = row.distribution
    return (d.kind, d.mean, d.std, d.low, d.high)


def _same_law(a, b) -> bool:
    return a[0] == b[0] and all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-15) for x, y in zip(a[1:], b[1:]))


def laws(framework: str, arch: str, tmp_path) -> tuple[dict, object]:
    """Apply the architecture's plan file to the framework's model: {common key: law}."""
    plan_file = tmp_path / f"{arch}.yaml"
    plan_file.write_text(PLANS[arch], encoding="utf-8")
    model = BUILDERS[framework][arch]()
    manifest = initspec.apply(plan_file, model)  # strict: every parameter covered, every rule used
    keys = ATTENTION_KEYS[framework]
    return {keys.get(r.path, r.path): _law(r) for r in manifest.table}, manifest


_NO_FLAX = pytest.mark.skipif(_flax_ready() is not None, reason=str(_flax_ready()))
FRAMEWORKS = ["keras", pytest.param("flax", marks=_NO_FLAX), pytest.param("nnx", marks=_NO_FLAX)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("arch", list(PLANS))
def test_same_plan_same_laws_as_torch(arch, framework, tmp_path):
    ref, _ = laws("torch", arch, tmp_path)
    got, manifest = laws(framework, arch, tmp_path)
    assert set(got) == set(ref), (sorted(set(got) ^ set(ref)))
    bad = {k: (ref[k], got[k]) for k in ref if not _same_law(ref[k], got[k])}
    assert not bad, bad
    assert manifest.table.backend == {"keras": "keras", "flax": "jax", "nnx": "jax"}[framework]


def test_attention_per_projection_law_is_the_same_but_torch_native_packing_differs(tmp_path):
    """Real fans: each q/k/v projection is (E -> E) everywhere, so Glorot's bound is
    sqrt(6 / 2E) for torch's in_proj blocks and Keras' (E, H, D) kernels alike.  torch's own
    default reads the packed (3E, E) matrix (fused, native fans): sqrt(6 / 4E)."""
    t, _ = laws("torch", "block", tmp_path)
    k, _ = laws("keras", "block", tmp_path)
    bound = math.sqrt(6 / (2 * D_MODEL))
    for key in ("attn.q.weight", "attn.k.weight", "attn.v.weight", "attn.out.weight"):
        assert t[key][4] == pytest.approx(bound) and k[key][4] == pytest.approx(bound), key
    packed = initspec.plan({"base": "torch-defaults", "rules": [
        {"match": {"kind": "attention", "role": "weight"}, "fused": True, "fans": "native",
         "init": {"scheme": "glorot", "distribution": "uniform"}}]}, TorchBlock()).row("attn.in_proj_weight")
    assert packed.shape == (3 * D_MODEL, D_MODEL) and packed.distribution.high == pytest.approx(
        math.sqrt(6 / (4 * D_MODEL)))
    # the frameworks' own defaults differ for the same reason (and others: Keras Glorot everywhere)
    td = initspec.plan({"base": "torch-defaults"}, TorchBlock()).row("attn.in_proj_weight")
    kd = initspec.plan({"base": "keras-defaults"}, keras_block()).row("attn.query.weight")
    assert td.distribution.high == pytest.approx(math.sqrt(6 / (4 * D_MODEL)))
    assert kd.distribution.high == pytest.approx(bound)


def test_depthwise_fans_agree(tmp_path):
    """fan_in = rf = 9 and fan_out = rf·C·m = 144 for the depthwise layer in every framework."""
    plan = _plan_from_text(PLANS["cnn"], tmp_path)
    frameworks = ["torch", "keras"] + (["flax"] if _flax_ready() is None else [])
    fans = {fw: initspec.plan(plan, BUILDERS[fw]["cnn"]()).row("dw.weight").fans for fw in frameworks}
    assert {fw: (f.fan_in, f.fan_out) for fw, f in fans.items()} == dict.fromkeys(frameworks, (9, 144))


def _plan_from_text(text: str, tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return initspec.load(path)
