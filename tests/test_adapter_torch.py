"""The PyTorch adapter: conformance of every scheme, power gate, determinism, RNG hygiene,
real modules, errors, and two-sample equivalence with the native ``torch.nn.init`` calls.
Statistics follow docs/conformance.md: n >= 65,536 per case (R draws pooled, with
seeds derived from a crc32 of the case id) and the suite's per-assertion level."""

from __future__ import annotations

import math
import os
import zlib

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

import initspec  # noqa: E402
from initspec import ShapeError, SpecError  # noqa: E402
from initspec import distributions as D  # noqa: E402
from initspec.adapters import torch as ist  # noqa: E402
from initspec.adapters._common import derive_seed  # noqa: E402
from initspec.testing import N_SAMPLES, check_samples, check_two_sample  # noqa: E402

from _shared import RANDOM_SPECS, layout_cases, scaled, wrong_samplers  # noqa: E402
from _shared import he as _he  # noqa: E402

nn = torch.nn
C = D.TRUNC2_STD  # std of N(0, 1) truncated to [-2, 2]

#: Re-roll every seed with INITSPEC_SEED_SALT=<int> ("is this luck?"); a real bug fails under every salt.
#: Seeds are crc32(case id) ^ salt, as in initspec.testing.cases.
SALT = int(os.environ.get("INITSPEC_SEED_SALT", "0") or "0", 0)
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device"))]


def seed_of(case_id: str) -> int:
    return zlib.crc32(case_id.encode()) ^ SALT


def gen(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def draws(fill, shape, case_id, *, dtype=torch.float32, repeats=None, device="cpu", n=N_SAMPLES):
    """``repeats`` tensors of ``shape`` filled by ``fill(tensor, generator)``, enough to pool ``n`` elements."""
    r = repeats or max(1, math.ceil(n / max(1, math.prod(shape))))
    base = seed_of(case_id)
    return [fill(torch.empty(shape, dtype=dtype, device=device), gen(derive_seed(base, i), device)) for i in range(r)]


def assert_passes(result):
    assert result.passed, result.report()


def assert_rejected(result):
    assert not result.passed, "the wrong sampler was NOT caught:\n" + result.report()


# ============================================================================ conformance table

VS = "variance_scaling"
TORCH_LINEAR, TORCH_CONV, TORCH_CONVT = (512, 256), (64, 32, 3, 3), (32, 16, 4, 4)
KERAS_DENSE, KERAS_CONV = (256, 512), (3, 3, 32, 64)

# (id, spec, layout, shape); orthogonal-family cases draw 64 matrices (Haar sign check).
CASES = layout_cases("torch", {"dense": TORCH_LINEAR, "conv": TORCH_CONV, "convT": TORCH_CONVT}) + [
    ("trunc_2sigma", {"scheme": "truncated_normal", "std": 0.3}, "torch", TORCH_LINEAR),
    ("vs_trunc_avg", {"scheme": VS, "scale": 1.5, "mode": "fan_avg", "distribution": "truncated_normal"}, "torch",
     TORCH_CONVT),
    ("vs_trunc_avg_keras", {"scheme": VS, "scale": 1.5, "mode": "fan_avg", "distribution": "truncated_normal"},
     "keras", KERAS_CONV),
    ("glorot_normal_keras", {"scheme": "glorot", "distribution": "normal"}, "keras", KERAS_DENSE),
    ("glorot_trunc_jax", {"scheme": "glorot", "distribution": "truncated_normal", "gain": "tanh"}, "jax", KERAS_CONV),
    ("he_trunc_jax", {"scheme": "he", "distribution": "truncated_normal"}, "jax", KERAS_CONV),
    ("lecun_trunc_keras", {"scheme": "lecun", "distribution": "truncated_normal"}, "keras", KERAS_DENSE),
    ("orthogonal_conv", {"scheme": "orthogonal"}, "torch", (32, 16, 3, 3)),
    ("orthogonal_keras_conv", {"scheme": "orthogonal", "gain": "relu"}, "keras", (3, 3, 16, 32)),
    ("orthogonal_jax", {"scheme": "orthogonal"}, "jax", (128, 64)),
    ("identity", {"scheme": "identity", "gain": 1.5}, "torch", (64, 96)),
    ("identity_keras", {"scheme": "identity"}, "keras", (96, 64)),
    ("dirac_groups", {"scheme": "dirac", "groups": 4}, "torch", (64, 8, 3, 3)),
    ("dirac_keras", {"scheme": "dirac"}, "keras", (3, 3, 32, 64)),
    ("delta_orthogonal", {"scheme": "delta_orthogonal"}, "torch", (64, 32, 3, 3)),
    ("delta_orthogonal_jax", {"scheme": "delta_orthogonal", "gain": 1.5}, "jax", (3, 3, 32, 64)),
    ("sparse_keras", {"scheme": "sparse", "sparsity": 0.5}, "keras", KERAS_DENSE),
]
STRUCTURED_HAAR = ("orthogonal", "delta_orthogonal")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case_id,spec,layout,shape", CASES, ids=[c[0] for c in CASES])
def test_conformance(case_id, spec, layout, shape, dtype):
    init = ist.initializer(spec, layout=layout)
    dist = init.resolve(shape)
    repeats = 64 if spec["scheme"] in STRUCTURED_HAAR else None
    samples = draws(init, shape, f"conformance/{case_id}/{dtype}", dtype=DTYPES[dtype], repeats=repeats)
    assert all(s.dtype == DTYPES[dtype] and tuple(s.shape) == shape for s in samples)
    assert_passes(check_samples(samples, dist, context=f"torch {case_id} {dtype}"))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case_id", ["he_trunc", "trunc_far_tail", "orthogonal_tall", "sparse", "dirac_groups"])
def test_conformance_on_device(case_id, device):
    _, spec, layout, shape = next(c for c in CASES if c[0] == case_id)
    init = ist.initializer(spec, layout=layout)
    repeats = 64 if spec["scheme"] in STRUCTURED_HAAR else None
    samples = draws(init, shape, f"device/{case_id}", repeats=repeats, device=device)
    assert all(s.device.type == device for s in samples)
    assert_passes(check_samples(samples, init.resolve(shape), context=f"torch {case_id} {device}"))


# ============================================================================ power gate

SHAPE = (256, 128)  # non-square: fan_in (128) != fan_out (256) in the torch layout


def _wrong(init, transform):
    """A fill function that draws ``transform`` of the law ``init`` resolves (a wrong sampler)."""
    return lambda t, g: ist.sample_(t, transform(init.resolve(t.shape)), g)


WRONG_SAMPLERS = wrong_samplers("keras") + [
    ("trunc_std_x0.95", _he("truncated_normal"), lambda d: scaled(d, 0.95)),
    ("bounds_sigma_not_absolute", {"scheme": "truncated_normal", "std": 0.5, "low": -0.5, "high": 0.5,
                                   "bounds": "absolute"},
     lambda d: D.TruncatedNormal(loc=d.loc, scale=d.scale, low=-0.25, high=0.25)),
]


@pytest.mark.parametrize("name,spec,transform", WRONG_SAMPLERS, ids=[w[0] for w in WRONG_SAMPLERS])
def test_power_gate_rejects_wrong_sampler(name, spec, transform):
    init = ist.initializer(spec)
    dist = init.resolve(SHAPE)
    right = check_samples(draws(init, SHAPE, f"gate/{name}"), dist)
    assert_passes(right)  # the same seeds pass with the real sampler
    assert_rejected(check_samples(draws(_wrong(init, transform), SHAPE, f"gate/{name}"), dist))


@pytest.mark.parametrize("shape", [(64, 128), (128, 64), (32, 16, 3, 3)])
def test_power_gate_catches_missing_haar_sign_correction(shape):
    init = ist.initializer({"scheme": "orthogonal"})
    dist = init.resolve(shape)
    assert_passes(check_samples(draws(init, shape, f"gate/haar/{shape}", repeats=64), dist))
    no_correction = lambda t, g: ist.sample_(t, dist, g, haar=False)  # noqa: E731
    result = check_samples(draws(no_correction, shape, f"gate/haar/{shape}", repeats=64), dist)
    assert_rejected(result)
    assert not result["haar_sign"].passed and result["orthogonality"].passed


def test_power_gate_two_sample_tells_truncated_from_untruncated_he_normal():
    """kaiming_normal_ (untruncated) and the Keras/JAX He normal have the same variance but
    are different laws: the two-sample test must say so."""
    ours = ist.initializer(_he("truncated_normal"))
    native = draws(lambda w, g: nn.init.kaiming_normal_(w, generator=g), SHAPE, "gate/2s/native", n=4 * N_SAMPLES)
    assert_rejected(check_two_sample(draws(ours, SHAPE, "gate/2s/ours", n=4 * N_SAMPLES), native))


# ============================================================================ determinism and RNG hygiene

def _shape_for(name):
    return (64, 32, 3, 3) if name == "delta_orthogonal" else (128, 64)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(RANDOM_SPECS))
def test_same_seed_bit_identical_different_seed_differs(name, dtype, device):
    init = ist.initializer(RANDOM_SPECS[name])
    shape, dt = _shape_for(name), DTYPES[dtype]
    a = init(torch.empty(shape, dtype=dt, device=device), generator=gen(7, device))
    b = init(torch.empty(shape, dtype=dt, device=device), generator=gen(7, device))
    c = init(torch.empty(shape, dtype=dt, device=device), generator=gen(8, device))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(RANDOM_SPECS))
def test_generator_leaves_global_rng_untouched(name, device):
    init = ist.initializer(RANDOM_SPECS[name])
    cpu_before = torch.get_rng_state()
    cuda_before = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    init(torch.empty(_shape_for(name), device=device), generator=gen(3, device))
    assert torch.equal(torch.get_rng_state(), cpu_before)
    if cuda_before is not None:
        assert all(torch.equal(x, y) for x, y in zip(torch.cuda.get_rng_state_all(), cuda_before))


def test_sparse_zero_pattern_comes_from_the_generator_unlike_native():
    init = ist.initializer({"scheme": "sparse", "sparsity": 0.3})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        a = init(torch.empty(128, 64), generator=gen(5))
        torch.manual_seed(2)  # another global state: ours must not care
        b = init(torch.empty(128, 64), generator=gen(5))
        assert torch.equal(a, b)
        # torch.nn.init.sparse_ takes its zero pattern from the global RNG
        torch.manual_seed(1)
        n1 = nn.init.sparse_(torch.empty(128, 64), 0.3, generator=gen(5))
        torch.manual_seed(2)
        n2 = nn.init.sparse_(torch.empty(128, 64), 0.3, generator=gen(5))
        assert not torch.equal(n1 == 0, n2 == 0)


@pytest.mark.parametrize("name", list(RANDOM_SPECS))
def test_no_generator_draws_from_the_default_generator_like_torch_nn_init(name):
    """generator=None uses torch's default generator of the device, so torch.manual_seed
    governs it: the result equals a fresh Generator seeded the same way, and the global
    state advances."""
    init = ist.initializer(RANDOM_SPECS[name])
    shape = _shape_for(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        before = torch.get_rng_state()
        a = init(torch.empty(shape))
        assert not torch.equal(torch.get_rng_state(), before)
        torch.manual_seed(11)
        b = init(torch.empty(shape))
    assert torch.equal(a, b)
    assert torch.equal(a, init(torch.empty(shape), generator=gen(11)))


# ============================================================================ real modules


def _picker(generator):
    """An init function that picks initializers by module type, for ``module.apply``."""
    glorot = ist.initializer({"scheme": "glorot", "distribution": "uniform"})
    he_out = ist.initializer({"scheme": "he", "distribution": "normal", "mode": "fan_out"})  # torchvision style
    default_w = ist.initializer({"scheme": "torch.default_weight"})
    embed = ist.initializer({"scheme": "normal", "std": 0.02})
    zeros, ones = ist.initializer({"scheme": "zeros"}), ist.initializer({"scheme": "ones"})

    def fn(m):
        if isinstance(m, nn.Linear):
            glorot(m.weight, generator)
            zeros(m.bias)
        elif isinstance(m, nn.Conv2d):
            he_out(m.weight, generator)
            zeros(m.bias)
        elif isinstance(m, nn.ConvTranspose2d):
            default_w(m.weight, generator)
            fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
            ist.initializer({"scheme": "torch.default_bias", "fan_in": fan_in})(m.bias, generator)
        elif isinstance(m, nn.Embedding):
            embed(m.weight, generator)
        elif isinstance(m, nn.LayerNorm):
            ones(m.weight)
            zeros(m.bias)

    return fn, {nn.Linear: glorot, nn.Conv2d: he_out, nn.ConvTranspose2d: default_w, nn.Embedding: embed}


def _model():
    with torch.random.fork_rng(devices=[]):  # the constructors' default init must not move the global RNG
        return nn.Sequential(nn.Embedding(1024, 64), nn.LayerNorm(64), nn.Linear(512, 256), nn.Conv2d(64, 128, 3),
                             nn.ConvTranspose2d(128, 64, 4))


def test_module_apply_on_a_real_sequential():
    model = _model()
    params_before = {n: (p, p.data_ptr()) for n, p in model.named_parameters()}
    fn, inits = _picker(gen(seed_of("apply")))
    model.apply(fn)
    for name, p in model.named_parameters():  # same Parameter objects, filled in place, still trainable
        assert p is params_before[name][0] and p.data_ptr() == params_before[name][1]
        assert isinstance(p, nn.Parameter) and p.requires_grad and p.grad_fn is None
    for m in model:
        if type(m) in inits:
            assert_passes(check_samples(m.weight, inits[type(m)].resolve(m.weight.shape), context=type(m).__name__))
    ln, lin, conv, convt = model[1], model[2], model[3], model[4]
    assert torch.equal(ln.weight, torch.ones(64)) and not ln.bias.any() and not lin.bias.any() and not conv.bias.any()
    bound = 1 / math.sqrt(64 * 16)  # ConvTranspose2d(128 -> 64, 4): torch's fan_in is dim 1 (64) x 16
    assert convt.weight.abs().max() <= bound and convt.bias.abs().max() <= bound and convt.bias.abs().max() > 0
    # reproducible: the same seed gives the same model
    other = _model()
    other.apply(_picker(gen(seed_of("apply")))[0])
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), other.parameters()))


class HeLinear(nn.Linear):
    """A layer whose reset_parameters uses initspec (nn.Linear.__init__ calls it)."""

    weight_init = ist.initializer({"scheme": "he", "distribution": "normal"})

    def reset_parameters(self) -> None:
        self.weight_init(self.weight)
        if self.bias is not None:
            ist.initializer({"scheme": "torch.default_bias", "fan_in": self.in_features})(self.bias)


def test_reset_parameters_override():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_of("reset_parameters"))
        layer = HeLinear(512, 256)
        torch.manual_seed(seed_of("reset_parameters"))
        again = HeLinear(512, 256)
    assert layer.weight.requires_grad and torch.equal(layer.weight, again.weight)
    assert_passes(check_samples(layer.weight, HeLinear.weight_init.resolve((256, 512))))
    # the default U(±1/√512) would fail the same check: the override really ran
    with torch.random.fork_rng(devices=[]):
        default = nn.Linear(512, 256)
    assert not check_samples(default.weight, HeLinear.weight_init.resolve((256, 512))).passed
    assert 0 < layer.bias.abs().max() <= 1 / math.sqrt(512)


def test_parameter_outside_no_grad_keeps_requires_grad():
    p = nn.Parameter(torch.empty(64, 32))
    assert torch.is_grad_enabled()
    out = ist.initializer({"scheme": "orthogonal"})(p, gen(0))
    assert out is p and p.requires_grad and p.grad_fn is None and p.is_leaf
    (p.sum() * 2).backward()
    assert torch.equal(p.grad, torch.full_like(p, 2.0))


def test_channels_last_conv_weight():
    conv = nn.Conv2d(32, 64, 3).to(memory_format=torch.channels_last)
    w = conv.weight
    assert not w.is_contiguous() and w.is_contiguous(memory_format=torch.channels_last)
    for spec in ({"scheme": "he", "distribution": "truncated_normal"}, {"scheme": "orthogonal"},
                 {"scheme": "dirac"}, {"scheme": "torch.default_weight"}):
        init = ist.initializer(spec)
        init(w, gen(21))
        ref = init(torch.empty(w.shape), gen(21))
        assert torch.equal(w, ref), spec  # same values as a contiguous tensor: memory format does not matter
        assert w.is_contiguous(memory_format=torch.channels_last)
    init = ist.initializer({"scheme": "he", "distribution": "normal"})
    samples = draws(lambda t, g: init(t.to(memory_format=torch.channels_last), g), (64, 32, 3, 3), "channels_last")
    assert_passes(check_samples(samples, init.resolve((64, 32, 3, 3))))


def test_transposed_view_is_filled_as_its_logical_shape():
    base = torch.zeros(256, 512)
    view = base.t()  # logical (512, 256), non-contiguous
    init = ist.initializer({"scheme": "orthogonal"})
    init(view, gen(4))
    assert torch.equal(base, init(torch.empty(512, 256), gen(4)).t())
    m = view.double()  # (out=512, in=256): more outputs than inputs, so the 256 columns are orthonormal
    assert torch.allclose(m.T @ m, torch.eye(256, dtype=torch.float64), atol=1e-5)


def test_zero_element_tensors_are_a_no_op():
    for spec in ({"scheme": "he", "distribution": "normal"}, {"scheme": "orthogonal"}, {"scheme": "uniform", "low": 0,
                                                                                         "high": 1}):
        t = torch.empty(0, 16)
        assert ist.initializer(spec)(t, gen(0)) is t and t.shape == (0, 16)


def test_sample_low_level_fills_from_a_resolved_distribution():
    t = ist.sample_(torch.empty(300, 300), D.Uniform(low=2.0, high=3.0), gen(1))
    assert 2.0 <= float(t.min()) and float(t.max()) < 3.0
    dist = initspec.resolve({"scheme": "orthogonal"}, (64, 32), "torch")
    with pytest.raises(ShapeError) as exc:
        ist.sample_(torch.empty(32, 64), dist)
    assert exc.value.codes == ["shape_mismatch"]


def test_initializer_api():
    init = ist.initializer({"scheme": "kaiming", "distribution": "normal"}, layout="keras")
    assert init.spec == initspec.parse({"scheme": "he", "distribution": "normal"}) and init.layout == "keras"
    assert init.resolve((3, 3, 16, 32)) == initspec.resolve(init.spec, (3, 3, 16, 32), "keras")
    text = repr(init)
    assert text.startswith("initspec.adapters.torch.initializer(") and "'he'" in text and "layout='keras'" in text
    t = torch.empty(3, 3, 16, 32)
    assert init(t, gen(0)) is t


def test_truncated_normal_support_is_open_in_float32():
    # bounds that are not float32 numbers, and a law that piles up mass near them
    dist = D.TruncatedNormal(loc=0.0, scale=1.0, low=-0.1000000001, high=0.1000000001)
    x = ist.sample_(torch.empty(1 << 20), dist, gen(9))
    assert float(x.min()) > dist.low and float(x.max()) < dist.high
    lo32, hi32 = torch.tensor(dist.low, dtype=torch.float32), torch.tensor(dist.high, dtype=torch.float32)
    assert not ((x == lo32) | (x == hi32)).any()


def test_truncated_normal_interval_without_a_float32_inside_is_an_error():
    dist = D.TruncatedNormal(loc=0.0, scale=1.0, low=1.0, high=1.0 + 1e-8)  # mass 2.4e-9: resolvable
    with pytest.raises(SpecError) as exc:  # (a ShapeError from initspec.sampling.truncation)
        ist.sample_(torch.empty(16), dist, gen(0))
    assert exc.value.codes == ["interval_too_narrow"]
    x = ist.sample_(torch.empty(16, dtype=torch.float64), dist, gen(0))  # float64 has numbers inside
    assert bool(((x > 1.0) & (x < 1.0 + 1e-8)).all())


def test_truncated_normal_tiny_std_never_clamps_to_the_bounds():
    """The torch <= 2.11 inverse-CDF defect (pytorch#155588): std << |bounds| gave clamped ±2 outliers."""
    x = ist.initializer({"scheme": "torch.trunc_normal", "std": 0.001})(torch.empty(1 << 21), gen(2))
    assert float(x.abs().max()) < 0.01


#: A law for each method of initspec.sampling.truncation: (method in float32, in float64, law).
TRUNC_METHODS = [
    ("inverse_cdf", "inverse_cdf", D.TruncatedNormal(loc=0.1, scale=0.3, low=0.1 - 0.6, high=0.1 + 0.6)),  # ±2σ
    ("normal", "normal", D.TruncatedNormal(loc=0.0, scale=0.02, low=-2.0, high=2.0)),  # never cuts: check once
    ("normal", "inverse_cdf", D.TruncatedNormal(loc=0.0, scale=1.0, low=-1.0, high=4.5)),  # past erfinv's f32 reach
    ("normal", "normal", D.TruncatedNormal(loc=0.0, scale=1.0, low=-1.0, high=6.5)),  # past its f64 reach
    ("uniform", "inverse_cdf", D.TruncatedNormal(loc=0.0, scale=1.0, low=-0.03, high=0.03)),  # f32 can't resolve it
    ("uniform", "uniform", D.TruncatedNormal(loc=0.0, scale=1.0, low=6.2, high=6.3)),  # a narrow far window
    ("exponential", "exponential", D.TruncatedNormal(loc=0.5, scale=2.0, low=0.5 + 5.0, high=0.5 + 14.0)),
    ("exponential", "exponential", D.TruncatedNormal(loc=0.0, scale=1.0, low=-7.0, high=-4.0)),  # mirrored
]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("m32,m64,dist", TRUNC_METHODS, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(TRUNC_METHODS)])
def test_truncated_normal_every_method_stays_inside_the_bounds(m32, m64, dist, dtype):
    """Every value strictly inside (low, high) in float32/float64; in float16/bfloat16 never
    past a bound (a value may sit on a bound the dtype represents: the rounding of the reals
    next to it).  The laws themselves are checked by the conformance table above."""
    from initspec import sampling

    n = 1 << 18
    assert sampling.truncation(dist, sampling.work_dtype(dtype), n).method == (m64 if dtype == "float64" else m32)
    x = ist.sample_(torch.empty(n, dtype=DTYPES[dtype]), dist, gen(seed_of(f"methods/{dist}/{dtype}")))
    x64 = x.double()
    assert bool(torch.isfinite(x64).all())
    if dtype in ("float32", "float64"):
        assert float(x64.min()) > dist.low and float(x64.max()) < dist.high
    else:
        assert float(x64.min()) >= dist.low and float(x64.max()) <= dist.high


def test_half_precision_bounds_round_like_ml_dtypes():
    """The bfloat16 bounds the torch backend clamps to come from initspec.sampling.inward,
    which needs no ml_dtypes (torch installs lack it): the same numbers ml_dtypes gives."""
    import numpy as np

    from initspec import sampling

    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)
    values = [0.0, 1.0, -2.0, 0.1, -0.1, 1.0 + 2**-9, 3.14159, -1e-3, 65504.0, 1e-38, -2.5e-39]
    for value in values:
        for direction in (1, -1):
            for strict in (False, True):
                v = np.array(value, dtype=np.float64).astype(bf16)
                off = (float(v) - value) * direction
                if off < 0 or (strict and off == 0):
                    v = np.nextafter(v, np.array(direction * np.inf, dtype=bf16))
                assert sampling.inward(value, "bfloat16", direction, strict=strict) == float(v), (value, direction)


def test_draw_table_covers_every_distribution():
    import dataclasses
    import inspect

    from initspec.adapters.torch.random import DRAW

    laws = {cls for _, cls in inspect.getmembers(D, inspect.isclass)
            if issubclass(cls, D.Distribution) and dataclasses.is_dataclass(cls) and cls.kind
            and not inspect.isabstract(cls)}
    assert len(laws) >= 9
    assert laws <= set(DRAW), f"no draw function for {sorted(c.__name__ for c in laws - set(DRAW))}"
    assert all(fn.__module__ == "initspec.adapters.torch.random" for fn in DRAW.values())


# ============================================================================ errors


def test_meta_tensor_error():
    init = ist.initializer({"scheme": "he", "distribution": "normal"})
    with pytest.raises(SpecError) as exc:
        init(nn.Linear(8, 4, device="meta").weight)
    assert exc.value.codes == ["meta_tensor"] and "to_empty" in str(exc.value)
    with pytest.raises(SpecError, match="meta_tensor"):
        ist.initializer({"scheme": "zeros"})(torch.empty(3, device="meta"))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool])  # complex64: tests/test_complex.py
@pytest.mark.parametrize("spec", [_he("normal"), {"scheme": "uniform", "low": 0, "high": 1}, {"scheme": "orthogonal"},
                                  {"scheme": "sparse", "sparsity": 0.1}, _he("truncated_normal")])
def test_random_schemes_reject_integer_and_complex_dtypes(spec, dtype):
    with pytest.raises(SpecError) as exc:
        ist.initializer(spec)(torch.zeros(8, 4, dtype=dtype), gen(0))
    assert exc.value.codes == ["unsupported_dtype"]
    assert "float32" in str(exc.value)


def test_fixed_schemes_fill_integer_tensors():
    assert torch.equal(ist.initializer({"scheme": "constant", "value": 3})(torch.zeros(4, dtype=torch.int64)),
                       torch.full((4,), 3))
    assert torch.equal(ist.initializer({"scheme": "identity"})(torch.zeros(3, 3, dtype=torch.int32)),
                       torch.eye(3, dtype=torch.int32))
    with pytest.raises(SpecError) as exc:
        ist.initializer({"scheme": "constant", "value": 0.5})(torch.zeros(4, dtype=torch.int64))
    assert exc.value.codes == ["lossy_cast"]


def test_shapes_a_scheme_cannot_take():
    with pytest.raises(ShapeError) as exc:
        ist.initializer({"scheme": "identity"})(torch.empty(4, 4, 3))
    assert exc.value.codes == ["unsupported_shape"] and "dirac" in str(exc.value)
    with pytest.raises(ShapeError) as exc:
        ist.initializer({"scheme": "dirac"})(torch.empty(64, 32))
    assert exc.value.codes == ["unsupported_shape"] and "identity" in str(exc.value)
    with pytest.raises(ShapeError) as exc:
        ist.initializer(_he("normal"))(torch.empty(64))  # a bias has no fans in the torch layout
    assert exc.value.codes == ["shape_too_small"]


def test_bad_arguments():
    import numpy as np

    init = ist.initializer(_he("normal"))
    with pytest.raises(SpecError) as exc:
        init(np.zeros((4, 4), dtype=np.float32))
    assert exc.value.codes == ["wrong_type"]
    with pytest.raises(SpecError) as exc:
        init(torch.empty(4, 4), generator=123)
    assert exc.value.codes == ["bad_generator"]
    with pytest.raises(SpecError) as exc:
        ist.initializer({"scheme": "he"})
    assert "distribution" in str(exc.value)
    with pytest.raises(SpecError) as exc:
        ist.initializer(_he("normal"), layout="pytorch")
    assert exc.value.codes == ["unknown_layout"] and "torch" in str(exc.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_generator_on_another_device():
    with pytest.raises(SpecError) as exc:
        ist.initializer(_he("normal"))(torch.empty(4, 4, device="cuda"), generator=gen(0))
    assert exc.value.codes == ["generator_device"]


# ======================================================================= equivalence with torch.nn.init


def _fans(w):
    return nn.init._calculate_fan_in_and_fan_out(w)  # torch's own fans, not initspec's


def _computed_trunc(var_of):
    """trunc_normal_ with σ' = √var / c cut at ±2σ', var computed from torch's fans."""

    def fill(w, g):
        s = math.sqrt(var_of(*_fans(w))) / C
        return nn.init.trunc_normal_(w, 0.0, s, -2 * s, 2 * s, generator=g)

    return fill


def _computed_uniform(var_of):
    """uniform_ with L = √(3·var), var computed from torch's fans."""

    def fill(w, g):
        bound = math.sqrt(3 * var_of(*_fans(w)))
        return nn.init.uniform_(w, -bound, bound, generator=g)

    return fill


def _vs(scale, mode, distribution):
    return {"scheme": VS, "scale": scale, "mode": mode, "distribution": distribution}


EQUIVALENT = [
    # variance scaling, general form
    ("vs_uniform_kaiming_a", _vs(0.5, "fan_in", "uniform"),
     lambda w, g: nn.init.kaiming_uniform_(w, a=math.sqrt(2 / 0.5 - 1), generator=g)),
    ("vs_uniform_fan_out", _vs(2.0, "fan_out", "uniform"),
     lambda w, g: nn.init.kaiming_uniform_(w, mode="fan_out", generator=g)),
    ("vs_normal_kaiming_a", _vs(0.5, "fan_out", "normal"),
     lambda w, g: nn.init.kaiming_normal_(w, a=math.sqrt(3.0), mode="fan_out", generator=g)),
    ("vs_trunc", _vs(1.5, "fan_in", "truncated_normal"), _computed_trunc(lambda fi, fo: 1.5 / fi)),
    ("vs_geo_avg_uniform", _vs(2.0, "fan_geo_avg", "uniform"),
     _computed_uniform(lambda fi, fo: 2 / math.sqrt(fi * fo))),
    # named schemes
    ("glorot_uniform", {"scheme": "glorot", "distribution": "uniform"},
     lambda w, g: nn.init.xavier_uniform_(w, generator=g)),
    ("glorot_normal", {"scheme": "glorot", "distribution": "normal"},
     lambda w, g: nn.init.xavier_normal_(w, generator=g)),
    ("glorot_trunc", {"scheme": "glorot", "distribution": "truncated_normal"},
     _computed_trunc(lambda fi, fo: 2 / (fi + fo))),
    ("he_uniform", _he("uniform"), lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g)),
    ("he_normal", _he("normal"), lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)),
    ("he_normal_fan_out", {"scheme": "he", "distribution": "normal", "mode": "fan_out"},
     lambda w, g: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g)),
    ("he_trunc", _he("truncated_normal"), _computed_trunc(lambda fi, fo: 2 / fi)),
    ("lecun_uniform", {"scheme": "lecun", "distribution": "uniform"},
     lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="linear", generator=g)),
    ("lecun_normal", {"scheme": "lecun", "distribution": "normal"},
     lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="linear", generator=g)),
    ("lecun_trunc", {"scheme": "lecun", "distribution": "truncated_normal"}, _computed_trunc(lambda fi, fo: 1 / fi)),
    ("torch_default_weight", {"scheme": "torch.default_weight"},
     lambda w, g: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)),
    ("torch_default_weight_as_vs", _vs(1 / 3, "fan_in", "uniform"),
     lambda w, g: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)),
    # plain laws
    ("uniform_ab", {"scheme": "uniform", "low": -0.2, "high": 0.6}, lambda w, g: nn.init.uniform_(w, -0.2, 0.6, g)),
    ("uniform_0s", {"scheme": "jax.uniform", "scale": 0.1}, lambda w, g: nn.init.uniform_(w, 0.0, 0.1, g)),
    ("normal", {"scheme": "normal", "std": 0.3}, lambda w, g: nn.init.normal_(w, 0.0, 0.3, g)),
    ("normal_mean", {"scheme": "normal", "mean": 0.5, "std": 0.3}, lambda w, g: nn.init.normal_(w, 0.5, 0.3, g)),
    ("trunc_2sigma_uncorrected", {"scheme": "truncated_normal", "mean": 0.1, "std": 0.3},
     lambda w, g: nn.init.trunc_normal_(w, 0.1, 0.3, 0.1 - 0.6, 0.1 + 0.6, generator=g)),
    ("trunc_other_k", {"scheme": "truncated_normal", "std": 0.3, "low": -1.0, "high": 3.0, "bounds": "std"},
     lambda w, g: nn.init.trunc_normal_(w, 0.0, 0.3, -0.3, 0.9, generator=g)),
    ("trunc_normal_std0.02_abs2", {"scheme": "truncated_normal", "std": 0.02, "low": -2.0, "high": 2.0,
                                   "bounds": "absolute"},
     lambda w, g: nn.init.trunc_normal_(w, std=0.02, generator=g)),
    ("orthogonal", {"scheme": "orthogonal", "gain": 1.5}, lambda w, g: nn.init.orthogonal_(w, gain=1.5, generator=g)),
]
TORCH_SHAPES = {"linear": (256, 128), "conv": (64, 32, 3, 3), "convT": (32, 16, 4, 4)}


@pytest.mark.parametrize("shape_id", ["linear", "conv"])
@pytest.mark.parametrize("row,spec,native", EQUIVALENT, ids=[e[0] for e in EQUIVALENT])
def test_two_sample_against_native(row, spec, native, shape_id):
    shape = TORCH_SHAPES[shape_id]
    repeats = 64 if spec["scheme"] == "orthogonal" else None
    ours = draws(ist.initializer(spec), shape, f"equiv/{row}/{shape_id}/initspec", repeats=repeats)
    theirs = draws(native, shape, f"equiv/{row}/{shape_id}/native", repeats=repeats)
    assert_passes(check_two_sample(ours, theirs, context=f"{row} {shape_id}"))


EMBEDDING = [
    ("torch_embedding", {"scheme": "torch.embedding"}, lambda w, g: nn.init.normal_(w, generator=g)),
    ("flax_embed", {"scheme": "flax.embed"}, lambda w, g: nn.init.normal_(w, 0.0, 1 / math.sqrt(w.shape[1]), g)),
    ("keras_embedding", {"scheme": "keras.embedding"}, lambda w, g: nn.init.uniform_(w, -0.05, 0.05, g)),
]


@pytest.mark.parametrize("row,spec,native", EMBEDDING, ids=[e[0] for e in EMBEDDING])
def test_embedding_rows_against_native(row, spec, native):
    shape = (1000, 64)  # nn.Embedding(1000, 64).weight
    ours = draws(ist.initializer(spec), shape, f"embed/{row}/initspec")
    assert_passes(check_two_sample(ours, draws(native, shape, f"embed/{row}/native"), context=row))


def test_default_bias_against_native():
    fan_in = 128
    bound = 1 / math.sqrt(fan_in)
    ours = draws(ist.initializer({"scheme": "torch.default_bias", "fan_in": fan_in}), (512,), "bias/initspec")
    theirs = draws(lambda b, g: nn.init.uniform_(b, -bound, bound, g), (512,), "bias/native")
    assert_passes(check_two_sample(ours, theirs))


def test_sparse_against_native():
    shape = (256, 128)
    ours = draws(ist.initializer({"scheme": "torch.sparse", "sparsity": 0.25, "std": 0.02}), shape, "sparse/initspec")
    with torch.random.fork_rng(devices=[]):  # sparse_ takes its zero pattern from the global RNG
        torch.manual_seed(seed_of("sparse/native"))
        theirs = draws(lambda w, g: nn.init.sparse_(w, 0.25, 0.02, g), shape, "sparse/native")
    assert all(torch.equal((a == 0).sum(0), (b == 0).sum(0)) for a, b in zip(ours, theirs))
    assert_passes(check_two_sample([a[a != 0] for a in ours], [b[b != 0] for b in theirs]))


@pytest.mark.parametrize("spec,native,shape", [
    ({"scheme": "constant", "value": 0.25}, lambda w: nn.init.constant_(w, 0.25), (64, 32)),
    ({"scheme": "zeros"}, nn.init.zeros_, (64, 32)),
    ({"scheme": "ones"}, nn.init.ones_, (64, 32, 3)),
    ({"scheme": "identity"}, nn.init.eye_, (64, 96)),
    ({"scheme": "torch.eye"}, nn.init.eye_, (96, 64)),
    ({"scheme": "dirac"}, nn.init.dirac_, (64, 32, 3, 3)),
    ({"scheme": "dirac"}, nn.init.dirac_, (16, 32, 4)),  # out < in, even kernel (centre k//2)
    ({"scheme": "torch.dirac", "groups": 2}, lambda w: nn.init.dirac_(w, groups=2), (64, 16, 3, 3, 3)),
], ids=["constant", "zeros", "ones", "identity", "torch.eye", "dirac", "dirac_even", "dirac_groups"])
def test_fixed_schemes_equal_native_exactly(spec, native, shape):
    assert torch.equal(ist.initializer(spec)(torch.empty(shape)), native(torch.empty(shape)))


# torch presets (initspec/presets.py) against the native call they name
PRESETS = [
    ("torch.uniform", {"a": -0.2, "b": 0.6}, lambda w, g: nn.init.uniform_(w, -0.2, 0.6, g), "linear"),
    ("torch.normal", {"mean": 0.1, "std": 0.3}, lambda w, g: nn.init.normal_(w, 0.1, 0.3, g), "linear"),
    ("torch.trunc_normal", {"std": 0.02}, lambda w, g: nn.init.trunc_normal_(w, std=0.02, generator=g), "linear"),
    ("torch.trunc_normal", {"std": 1.0}, lambda w, g: nn.init.trunc_normal_(w, std=1.0, generator=g), "conv"),
    ("torch.trunc_normal", {"mean": 0.5, "std": 0.4, "a": 0.0, "b": 1.0},
     lambda w, g: nn.init.trunc_normal_(w, 0.5, 0.4, 0.0, 1.0, generator=g), "linear"),
    ("torch.xavier_uniform", {"gain": 1.3}, lambda w, g: nn.init.xavier_uniform_(w, 1.3, g), "conv"),
    ("torch.xavier_normal", {"gain": 0.7}, lambda w, g: nn.init.xavier_normal_(w, 0.7, g), "linear"),
    ("torch.kaiming_uniform", {}, lambda w, g: nn.init.kaiming_uniform_(w, generator=g), "conv"),
    ("torch.kaiming_uniform", {"a": 0.2, "mode": "fan_out"},
     lambda w, g: nn.init.kaiming_uniform_(w, a=0.2, mode="fan_out", generator=g), "convT"),
    ("torch.kaiming_uniform", {"nonlinearity": "tanh"},
     lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="tanh", generator=g), "linear"),
    ("torch.kaiming_normal", {}, lambda w, g: nn.init.kaiming_normal_(w, generator=g), "linear"),
    ("torch.kaiming_normal", {"mode": "fan_out", "nonlinearity": "relu"},
     lambda w, g: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g), "conv"),
    ("torch.kaiming_normal", {"nonlinearity": "selu"},
     lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="selu", generator=g), "linear"),
    ("torch.kaiming_normal", {"nonlinearity": "conv2d"},
     lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="conv2d", generator=g), "conv"),
    ("torch.default_weight", {}, lambda w, g: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g), "convT"),
    ("torch.recurrent_default", {"hidden_size": 128},
     lambda w, g: nn.init.uniform_(w, -1 / math.sqrt(128), 1 / math.sqrt(128), g), "linear"),
    ("torch.embedding", {}, lambda w, g: nn.init.normal_(w, generator=g), "linear"),
    ("torch.orthogonal", {"gain": 2.0}, lambda w, g: nn.init.orthogonal_(w, 2.0, g), "conv"),
]


@pytest.mark.parametrize("scheme,params,native,shape_id", PRESETS,
                         ids=[f"{p[0]}-{i}" for i, p in enumerate(PRESETS)])
def test_torch_presets_against_native(scheme, params, native, shape_id):
    shape = TORCH_SHAPES[shape_id]
    repeats = 64 if "orthogonal" in scheme else None
    case = f"preset/{scheme}/{params}/{shape_id}"
    ours = draws(ist.initializer({"scheme": scheme, **params}), shape, case + "/initspec", repeats=repeats)
    theirs = draws(native, shape, case + "/native", repeats=repeats)
    assert_passes(check_two_sample(ours, theirs, context=case))


@pytest.mark.parametrize("make", [lambda: nn.Linear(256, 128), lambda: nn.Conv2d(32, 64, 3),
                                  lambda: nn.ConvTranspose2d(32, 16, 4)], ids=["Linear", "Conv2d", "ConvTranspose2d"])
def test_default_presets_against_real_module_construction(make):
    """torch.default_weight / torch.default_bias against what the module's own constructor draws."""
    ours_w, ours_b, theirs_w, theirs_b = [], [], [], []
    proto = make()
    fan_in = _fans(proto.weight)[0]
    w_init = ist.initializer({"scheme": "torch.default_weight"})
    b_init = ist.initializer({"scheme": "torch.default_bias", "fan_in": fan_in})
    reps = math.ceil(N_SAMPLES / proto.weight.numel())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_of(f"module/{type(proto).__name__}"))
        for _ in range(reps):
            m = make()
            theirs_w.append(m.weight.detach().clone())
            theirs_b.append(m.bias.detach().clone())
    for i in range(reps):
        g = gen(derive_seed(seed_of(f"module/{type(proto).__name__}/initspec"), i))
        ours_w.append(w_init(torch.empty_like(proto.weight), g))
        ours_b.append(b_init(torch.empty_like(proto.bias), g))
    assert_passes(check_two_sample(ours_w, theirs_w))
    bound = 1 / math.sqrt(fan_in) * (1 + 1e-6)  # float32 rounding of the bound
    assert all(float(b.abs().max()) <= bound for b in ours_b + theirs_b)
    assert_passes(check_samples(ours_w, w_init.resolve(proto.weight.shape)))
