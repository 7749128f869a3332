"""``seeding: portable`` through every backend's plan writer: the same plan and seed give
byte-identical weights in NumPy, PyTorch, Keras and Flax (linen and nnx), after the layout
transpose - the writers draw each row with :func:`initspec.portable.draw_stored` in one
canonical element order (torch's (out, in, *k)) and copy the values in.

The models are named alike in every framework (torch attribute = Keras layer name = Flax
module name), so their normalized paths - which seed each parameter - match.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import initspec
from initspec import distributions as D
from initspec import portable
from initspec.errors import SpecError
from initspec.writer import fail_at

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
jax = pytest.importorskip("jax")
fnn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

nn = torch.nn
L = keras.layers

#: The issue's plan: he truncated normal, glorot uniform, lecun normal, uniform biases, ones/zeros norms.
PLAN = {"seed": 3, "seeding": "portable", "rules": [
    {"match": {"path": "fc1.weight"}, "init": {"scheme": "he", "distribution": "truncated_normal"}},
    {"match": {"path": "fc2.weight"}, "init": {"scheme": "glorot", "distribution": "uniform"}},
    {"match": {"path": "head.weight"}, "init": {"scheme": "lecun", "distribution": "normal"}},
    {"match": {"role": "bias"}, "init": {"scheme": "uniform", "low": -0.1, "high": 0.1}},
    {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
    {"match": {"role": "offset"}, "init": {"scheme": "zeros"}},
]}
IN, H1, H2, OUT = 16, 48, 40, 10


# ----------------------------------------------------------------------------- one MLP, five ways


class TorchMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.ln = nn.Linear(IN, H1), nn.LayerNorm(H1)
        self.fc2, self.head = nn.Linear(H1, H2), nn.Linear(H2, OUT)


class LinenMLP(fnn.Module):
    @fnn.compact
    def __call__(self, x):
        x = fnn.LayerNorm(name="ln")(fnn.Dense(H1, name="fc1")(x))
        return fnn.Dense(OUT, name="head")(fnn.Dense(H2, name="fc2")(x))


class NnxMLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.fc1, self.ln = nnx.Linear(IN, H1, rngs=rngs), nnx.LayerNorm(H1, rngs=rngs)
        self.fc2, self.head = nnx.Linear(H1, H2, rngs=rngs), nnx.Linear(H2, OUT, rngs=rngs)


def _torch(plan=PLAN, **kw) -> dict[str, np.ndarray]:
    m = TorchMLP()
    initspec.apply(plan, m, **kw)
    return {k: v.detach().numpy() for k, v in m.state_dict().items()}


def _keras(plan=PLAN) -> dict[str, np.ndarray]:
    m = keras.Sequential([keras.Input((IN,)), L.Dense(H1, name="fc1"), L.LayerNormalization(name="ln"),
                          L.Dense(H2, name="fc2"), L.Dense(OUT, name="head")], name="mlp")
    initspec.apply(plan, m)
    names = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
    return {f"{v.path.split('/')[-2]}.{names[v.path.split('/')[-1]]}": keras.ops.convert_to_numpy(v)
            for v in m.weights}


def _linen(plan=PLAN) -> dict[str, np.ndarray]:
    variables = LinenMLP().init(jax.random.key(0), np.zeros((1, IN), np.float32))
    params = initspec.apply(plan, variables).params["params"]
    names = {"kernel": "weight", "bias": "bias", "scale": "weight"}
    return {f"{m}.{names[k]}": np.asarray(v) for m, leaves in params.items() for k, v in leaves.items()}


def _nnx(plan=PLAN) -> dict[str, np.ndarray]:
    m = NnxMLP(nnx.Rngs(0))
    initspec.apply(plan, m)
    names = {"kernel": "weight", "bias": "bias", "scale": "weight"}
    return {f"{mod}.{names[leaf]}": np.asarray(getattr(getattr(m, mod), leaf).get_value())
            for mod in ("fc1", "ln", "fc2", "head") for leaf in ("kernel", "scale", "bias")
            if getattr(getattr(m, mod), leaf, None) is not None}


def _numpy(plan=PLAN) -> dict[str, np.ndarray]:
    z = np.zeros
    tree = {"fc1": {"weight": z((IN, H1), np.float32), "bias": z(H1, np.float32)},
            "ln": {"scale": z(H1, np.float32), "bias": z(H1, np.float32)},
            "fc2": {"weight": z((H1, H2), np.float32), "bias": z(H2, np.float32)},
            "head": {"weight": z((H2, OUT), np.float32), "bias": z(OUT, np.float32)}}
    initspec.apply(plan, tree)
    names = {"weight": "weight", "bias": "bias", "scale": "weight"}
    return {f"{m}.{names[k]}": v for m, leaves in tree.items() for k, v in leaves.items()}


def _torch_layout(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(in, out) kernels as torch's (out, in)."""
    return {k: np.ascontiguousarray(v.T) if v.ndim == 2 else v for k, v in weights.items()}


FRAMEWORKS = {"keras": _keras, "linen": _linen, "nnx": _nnx, "numpy": _numpy}


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return _torch()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_same_mlp_gets_the_same_bytes_in_every_framework(framework: str, reference) -> None:
    got = _torch_layout(FRAMEWORKS[framework]())
    assert sorted(got) == sorted(reference)
    for k, want in reference.items():
        assert got[k].dtype == np.float32 and got[k].shape == want.shape, k
        assert got[k].tobytes() == want.tobytes(), (framework, k)


def test_the_values_follow_each_law(reference) -> None:
    w1, w2, w3 = reference["fc1.weight"], reference["fc2.weight"], reference["head.weight"]
    he = math.sqrt(2 / IN)
    assert np.abs(w1).max() < 2 * he / 0.87962566103423978 and abs(w1.std() / he - 1) < 0.15
    bound = math.sqrt(6 / (H1 + H2))
    assert np.abs(w2).max() <= bound and abs(w2.std() / (bound / math.sqrt(3)) - 1) < 0.15
    assert abs(w3.std() / math.sqrt(1 / H2) - 1) < 0.2
    assert all(np.abs(reference[k]).max() <= 0.1 for k in ("fc1.bias", "fc2.bias", "head.bias"))
    assert (reference["ln.weight"] == 1).all() and (reference["ln.bias"] == 0).all()


def test_a_row_is_the_core_draw_in_the_canonical_order(reference) -> None:
    """torch's (out, in) is the canonical order: fc1.weight is draw(...) of (out, in) itself."""
    table = initspec.plan(PLAN, TorchMLP())
    row = table.row("fc1.weight")
    want = portable.draw(row.distribution, (H1, IN), "float32", seed=3, path="fc1.weight")
    assert want.tobytes() == reference["fc1.weight"].tobytes()
    assert row.seed == portable.derive_seed(3, "fc1.weight")


# ----------------------------------------------------------------------------- plan field and overrides


def test_native_is_the_default_and_apply_overrides_the_plan() -> None:
    native_plan = {**PLAN, "seeding": "native"}
    assert initspec.plans.parse_plan({k: v for k, v in PLAN.items() if k != "seeding"}).seeding == "native"
    native = _torch(native_plan)
    overridden = _torch(native_plan, seeding="portable")
    assert overridden["fc1.weight"].tobytes() != native["fc1.weight"].tobytes()
    assert overridden["fc1.weight"].tobytes() == _torch()["fc1.weight"].tobytes()
    assert _torch(PLAN, seeding="native")["fc1.weight"].tobytes() == native["fc1.weight"].tobytes()


def test_the_manifest_records_the_seeding() -> None:
    m = TorchMLP()
    body = initspec.apply(PLAN, m).to_json()
    assert body["seeding"] == "portable" and body["plan"]["seeding"] == "portable"
    body = initspec.apply(PLAN, m, seeding="native").to_json()
    assert body["seeding"] == "native"
    plain = {k: v for k, v in PLAN.items() if k != "seeding"}
    assert "seeding" not in initspec.plans.parse_plan(plain).to_dict()  # files written before the field


def test_a_plan_file_says_seeding(tmp_path) -> None:
    path = tmp_path / "init.yaml"
    path.write_text("format_version: 1\nseed: 3\nseeding: portable\nrules:\n"
                    "  - {match: {role: weight}, init: {scheme: he, distribution: truncated_normal}}\n"
                    "  - {match: {kind: norm}, init: {scheme: ones}}\n"
                    "  - {match: {role: bias}, init: {scheme: zeros}}\n", encoding="utf-8")
    manifest = initspec.apply(str(path), TorchMLP())
    assert manifest.seeding == "portable"
    assert initspec.load(path, kind="plan").seeding == "portable"


@pytest.mark.parametrize("bad", ["Portable", 1, True])
def test_a_bad_seeding_is_an_error_before_anything_is_drawn(bad) -> None:
    m = TorchMLP()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(SpecError) as exc:
        initspec.apply(PLAN, m, seeding=bad)
    assert exc.value.errors[0].code == "invalid_choice"
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    with pytest.raises(SpecError):
        initspec.plans.parse_plan({**PLAN, "seeding": "threefry"})


def test_a_failed_portable_write_restores_the_model() -> None:
    m = TorchMLP()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(RuntimeError, match="injected"):
        initspec.apply(PLAN, m, transactional=True, checkpoint=fail_at(4))
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


# ----------------------------------------------------------------------------- layouts, dtypes, memory formats


CONV_PLAN = {"seed": 1, "seeding": "portable", "rules": [
    {"match": {"path": "conv1.weight"}, "init": {"scheme": "he", "distribution": "normal"}},
    {"match": {"path": "conv2.weight"}, "init": {"scheme": "orthogonal"}},
    {"match": {"path": "conv3.weight"}, "init": {"scheme": "delta_orthogonal"}},
    {"match": {"kind": "embedding"}, "init": {"scheme": "normal", "std": 0.02}},
    {"match": {"role": "bias"}, "init": {"scheme": "zeros"}},
]}


def test_conv_kernels_and_embeddings_agree_after_the_layout_transpose() -> None:
    """torch (out, in, kh, kw) = Keras/Flax (kh, kw, in, out) transposed; embedding tables are
    (num, dim) everywhere - for elementwise laws and for whole-tensor ones (orthogonal,
    delta-orthogonal), whose axes are renumbered into the canonical order."""

    class T(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(20, 6)
            self.conv1, self.conv2, self.conv3 = nn.Conv2d(6, 8, 3), nn.Conv2d(8, 12, (3, 2)), nn.Conv2d(12, 12, 3)

    class F(fnn.Module):
        @fnn.compact
        def __call__(self, ids):
            x = fnn.Embed(20, 6, name="emb")(ids)
            x = fnn.Conv(8, (3, 3), name="conv1")(x)
            x = fnn.Conv(12, (3, 2), name="conv2")(x)
            return fnn.Conv(12, (3, 3), name="conv3")(x)

    t = T()
    initspec.apply(CONV_PLAN, t)
    km = keras.Sequential([keras.Input((5, 5), dtype="int32"), L.Embedding(20, 6, name="emb"),
                           L.Conv2D(8, 3, name="conv1", padding="same"), L.Conv2D(12, (3, 2), name="conv2"),
                           L.Conv2D(12, 3, name="conv3", padding="same")], name="cnn")
    initspec.apply(CONV_PLAN, km)
    kv = {"/".join(v.path.split("/")[-2:]): keras.ops.convert_to_numpy(v) for v in km.weights}
    fv = initspec.apply(CONV_PLAN, F().init(jax.random.key(0), np.zeros((1, 5, 5), np.int32))).params["params"]
    emb = t.emb.weight.detach().numpy()
    assert emb.tobytes() == kv["emb/embeddings"].tobytes() == np.asarray(fv["emb"]["embedding"]).tobytes()
    for name in ("conv1", "conv2", "conv3"):
        want = getattr(t, name).weight.detach().numpy().transpose(2, 3, 1, 0)
        assert want.tobytes() == np.ascontiguousarray(kv[f"{name}/kernel"]).tobytes(), name
        assert want.tobytes() == np.ascontiguousarray(fv[name]["kernel"]).tobytes(), name
    w = t.conv2.weight.detach().numpy().reshape(12, -1).astype(np.float64)
    assert np.allclose(w @ w.T, np.eye(12), atol=1e-5)  # orthogonal rows in torch's reading


def test_half_precision_is_the_float32_draw_rounded() -> None:
    m = TorchMLP().to(torch.bfloat16)
    initspec.apply(PLAN, m)
    f32 = _torch()
    for k, v in m.state_dict().items():
        want = torch.from_numpy(f32[k]).to(torch.bfloat16)
        assert torch.equal(v.view(torch.int16), want.view(torch.int16)), k
    h = TorchMLP().half()
    initspec.apply(PLAN, h)
    assert np.array_equal(h.fc1.weight.detach().numpy(), f32["fc1.weight"].astype(np.float16))


def test_memory_formats_and_blocks_do_not_change_values() -> None:
    conv = nn.Conv2d(4, 6, 3)
    last = nn.Conv2d(4, 6, 3).to(memory_format=torch.channels_last)
    plan = {"seeding": "portable", "rules": [{"match": {}, "init": {"scheme": "uniform", "low": -1, "high": 1}}]}
    initspec.apply(plan, conv)
    initspec.apply(plan, last)
    assert torch.equal(conv.weight, last.weight) and not last.weight.is_contiguous()
    # fused blocks (torch LSTM gates): each block is drawn alone under its own seed
    lstm = nn.LSTM(5, 7)
    table = initspec.apply({"seeding": "portable", "rules": [{"match": {}, "init": {"scheme": "normal",
                                                                                    "std": 1.0}}]}, lstm).table
    for row in table:
        if row.block is not None and row.param.path.endswith("weight_ih_l0"):
            want = portable.draw_stored(row.distribution, row.shape, "float32", row_seed=row.seed,
                                        layout=row.param.layout)
            got = lstm.weight_ih_l0.detach()[row.block.start:row.block.stop].numpy()
            assert got.tobytes() == np.ascontiguousarray(want).tobytes(), row.path


# ----------------------------------------------------------------------------- the core's storage helpers


@pytest.mark.parametrize(("shape", "layout", "perm"), [
    ((8, 4), "torch", (0, 1)), ((4, 8), "jax", (1, 0)), ((4, 8), "keras", (1, 0)),
    ((8, 4, 3, 3), "torch", (0, 1, 2, 3)), ((3, 3, 4, 8), "flax", (3, 2, 0, 1)),
    ((7,), "jax", (0,)), ((7,), "keras", (0,)), ((2, 3), None, (0, 1)),
])
def test_canonical_order(shape, layout, perm) -> None:
    assert portable.canonical_order(shape, layout) == perm


@pytest.mark.parametrize("law", [
    D.Orthogonal(shape=(3, 3, 4, 8), gain=1.0, out_axes=(3,)),
    D.DeltaOrthogonal(shape=(3, 3, 4, 8), gain=1.0, in_axis=2, out_axis=3, spatial_axes=(0, 1)),
    D.Dirac(shape=(3, 3, 4, 8), groups=1, out_axis=3, in_axis=2, spatial_axes=(0, 1)),
    D.Normal(loc=0.0, scale=1.0),
])
def test_draw_stored_is_the_canonical_draw_transposed_for_any_shard(law) -> None:
    shape, perm = (3, 3, 4, 8), (3, 2, 0, 1)
    full = portable.draw_stored(law, shape, "float32", row_seed=9, layout="jax")
    canon = portable.draw_stored(portable.canonical_law(law, perm), (8, 4, 3, 3), "float32", row_seed=9)
    assert np.ascontiguousarray(full).tobytes() == np.ascontiguousarray(canon.transpose(2, 3, 1, 0)).tobytes()
    index = (slice(1, 3), slice(None), slice(0, 2), slice(3, 8))
    part = portable.draw_stored(law, shape, "float32", row_seed=9, layout="jax", index=index)
    assert np.array_equal(part, full[index])
    out = np.empty((2, 3, 2, 5), np.float32)
    assert portable.draw_stored(law, shape, "float32", row_seed=9, layout="jax", index=index, out=out) is out
    assert np.array_equal(out, full[index])


def test_draw_writes_into_out_without_a_copy() -> None:
    law = D.Normal(loc=0.0, scale=1.0)
    out = np.empty((300, 500), np.float32)
    assert portable.draw(law, (300, 500), "float32", seed=1, path="w", out=out) is out
    assert out.tobytes() == portable.draw(law, (300, 500), "float32", seed=1, path="w").tobytes()
    with pytest.raises(SpecError):
        portable.draw(law, (300, 500), "float32", seed=1, path="w", out=np.empty((300, 500)))


def test_shard_seeds_differ_by_offset_and_shape() -> None:
    s = {portable.shard_seed(7, (0, 0), (4, 4)), portable.shard_seed(7, (4, 0), (4, 4)),
         portable.shard_seed(7, (0, 0), (4, 3)), portable.shard_seed(8, (0, 0), (4, 4))}
    assert len(s) == 4 and all(0 <= x < 2**63 for x in s)


def test_a_dtype_numpy_lacks_is_refused_before_anything_is_drawn() -> None:
    m = nn.Linear(3, 4).to(torch.float8_e4m3fn)
    before = m.weight.detach().view(torch.uint8).clone()
    with pytest.raises(SpecError) as exc:
        initspec.apply({"seeding": "portable", "rules": [{"match": {}, "init": {"scheme": "zeros"}}]}, m)
    assert {e.code for e in exc.value.errors} == {"unsupported_dtype"}  # (the plan or the portable writer says it)
    assert torch.equal(m.weight.detach().view(torch.uint8), before)
