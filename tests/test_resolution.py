"""Resolution against closed forms and the frameworks' equivalence table."""

from __future__ import annotations

import math

import pytest

import initspec
from initspec import Axes, ShapeError, SpecError
from initspec import distributions as D

C = 0.87962566103423978  # std of N(0,1) truncated to [-2, 2]


def R(spec, shape, layout="jax"):
    return initspec.resolve(spec, shape, layout=layout)


def test_issue_acceptance_example():
    d = R({"scheme": "variance_scaling", "scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"},
          (256, 128), "torch")
    assert d.std == pytest.approx(math.sqrt(2 / 128), rel=1e-12)
    assert d.high == pytest.approx(2 * math.sqrt(2 / 128) / C, rel=1e-12)
    assert d.low == -d.high
    assert d.derivation.fans.fan_in == 128 and d.derivation.fans.in_axes == (1,)


def test_truncation_constant_is_the_std_of_the_unit_truncated_normal():
    unit = D.TruncatedNormal(loc=0.0, scale=1.0, low=-2.0, high=2.0)
    assert unit.std == pytest.approx(C, rel=1e-14)
    assert D.TRUNC2_STD == C


@pytest.mark.parametrize("layout,shape,fi,fo", [
    ("torch", (64, 32), 32, 64),
    ("torch", (64, 16, 3, 3), 16 * 9, 64 * 9),
    ("keras", (32, 64), 32, 64),
    ("jax", (3, 3, 16, 64), 16 * 9, 64 * 9),
    ("flax", (5, 8, 4), 8 * 5, 4 * 5),
    (Axes(in_axes=(0,), out_axes=(1, 2)), (64, 8, 16), 64, 128),
    (Axes(in_axes=(1,), out_axes=(2,), batch_axes=(0,)), (8, 64, 32), 64, 32),  # stacked experts
    (Axes(in_axes=(-1,), out_axes=(0,)), (1000, 64), 64, 1000),  # Flax Embed
])
def test_fans(layout, shape, fi, fo):
    fans = initspec.compute_fans(shape, initspec.layout.normalize_layout(layout))
    assert (fans.fan_in, fans.fan_out) == (fi, fo)


def test_transposed_conv_fans_follow_each_framework():
    # torch ConvTranspose2d(64 -> 128, 3): weight (in=64, out=128, 3, 3); torch reads dim 1 as fan_in
    torch_w = R({"scheme": "torch.default_weight"}, (64, 128, 3, 3), "torch")
    assert torch_w.high == pytest.approx(1 / math.sqrt(128 * 9))  # docs/frameworks.md
    # Keras Conv2DTranspose kernel (*k, filters, in): fan_in = k * filters
    assert initspec.compute_fans((3, 3, 128, 64), "keras").fan_in == 9 * 128
    # Flax ConvTranspose kernel (*k, in, out): fan_in counts input channels
    assert initspec.compute_fans((3, 3, 64, 128), "flax").fan_in == 9 * 64


def test_degenerate_shapes():
    spec = {"scheme": "glorot", "distribution": "uniform"}
    for layout in ("torch", "jax", "flax"):
        for shape in ((), (10,)):
            with pytest.raises(ShapeError) as e:
                R(spec, shape, layout)
            assert e.value.errors[0].code == "shape_too_small"
    # Keras: 0-D -> (1, 1), 1-D (n,) -> (n, n) (keras.src.initializers.random_initializers.compute_fans)
    assert R(spec, (), "keras").high == pytest.approx(math.sqrt(6 / 2))
    assert R(spec, (10,), "keras").high == pytest.approx(math.sqrt(6 / 20))
    # fan-free schemes take any shape, 0-D included
    assert R({"scheme": "normal", "std": 0.5}, (), "torch").std == 0.5
    assert R({"scheme": "zeros"}, (7,), None).mean == 0.0


def test_empty_tensor_resolves():
    d = R({"scheme": "he", "distribution": "normal"}, (0, 5), "jax")
    assert math.isfinite(d.std)
    assert any("empty" in n for n in d.derivation.notes)


@pytest.mark.parametrize("dist,var", [("uniform", None), ("normal", None), ("truncated_normal", None)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
def test_variance_scaling_variance(dist, var, mode):
    shape = (3, 3, 24, 40)
    fi, fo = 9 * 24, 9 * 40
    n = {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2, "fan_geo_avg": math.sqrt(fi * fo)}[mode]
    d = R({"scheme": "variance_scaling", "scale": 1.7, "mode": mode, "distribution": dist}, shape, "jax")
    assert d.var == pytest.approx(1.7 / n, rel=1e-12)
    kind = {"uniform": D.Uniform, "normal": D.Normal, "truncated_normal": D.TruncatedNormal}[dist]
    assert type(d) is kind
    if dist == "uniform":
        assert d.high == pytest.approx(math.sqrt(3 * 1.7 / n))
    if dist == "truncated_normal":
        assert d.high == pytest.approx(2 * math.sqrt(1.7 / n) / C)


# docs/frameworks.md: (spec, shape, layout) -> (variance, kind, bound or None)
TABLE = [
    # Glorot uniform = xavier_uniform_ = GlorotUniform: L = sqrt(6/(fi+fo))
    ({"scheme": "glorot", "distribution": "uniform"}, (64, 32), "torch", "bound", math.sqrt(6 / 96)),
    ({"scheme": "torch.xavier_uniform", "gain": 2.0}, (64, 32), "torch", "bound", 2 * math.sqrt(6 / 96)),
    ({"scheme": "keras.glorot_uniform"}, (32, 64), "keras", "bound", math.sqrt(6 / 96)),
    ({"scheme": "jax.glorot_uniform"}, (32, 64), "jax", "bound", math.sqrt(6 / 96)),
    # Glorot normal: torch untruncated N(0, 2/(fi+fo)); keras/jax truncated with the same variance
    ({"scheme": "torch.xavier_normal"}, (64, 32), "torch", "std_untrunc", math.sqrt(2 / 96)),
    ({"scheme": "keras.glorot_normal"}, (32, 64), "keras", "std_trunc", math.sqrt(2 / 96)),
    # He uniform / normal (fan_in), and torchvision's fan_out
    ({"scheme": "torch.kaiming_uniform", "nonlinearity": "relu"}, (64, 32), "torch", "bound", math.sqrt(6 / 32)),
    ({"scheme": "torch.kaiming_uniform"}, (64, 32), "torch", "bound", math.sqrt(6 / 32)),  # a=0 leaky = relu
    ({"scheme": "keras.he_uniform"}, (32, 64), "keras", "bound", math.sqrt(6 / 32)),
    ({"scheme": "torch.kaiming_normal"}, (64, 32), "torch", "std_untrunc", math.sqrt(2 / 32)),
    ({"scheme": "torch.kaiming_normal", "mode": "fan_out", "nonlinearity": "relu"}, (64, 32, 3, 3), "torch",
     "std_untrunc", math.sqrt(2 / (64 * 9))),
    ({"scheme": "keras.he_normal"}, (32, 64), "keras", "std_trunc", math.sqrt(2 / 32)),
    ({"scheme": "jax.he_normal"}, (3, 3, 16, 8), "jax", "std_trunc", math.sqrt(2 / (16 * 9))),
    # LeCun
    ({"scheme": "torch.kaiming_uniform", "nonlinearity": "linear"}, (64, 32), "torch", "bound", math.sqrt(3 / 32)),
    ({"scheme": "keras.lecun_uniform"}, (32, 64), "keras", "bound", math.sqrt(3 / 32)),
    ({"scheme": "torch.kaiming_normal", "nonlinearity": "linear"}, (64, 32), "torch", "std_untrunc", math.sqrt(1 / 32)),
    ({"scheme": "flax.lecun_normal"}, (512, 10), "flax", "std_trunc", math.sqrt(1 / 512)),
    ({"scheme": "flax.default_kernel"}, (512, 10), "flax", "std_trunc", math.sqrt(1 / 512)),
    # torch default Linear weight = kaiming_uniform_(a=sqrt(5)) = U(±1/sqrt(in)) = VS(1/3, fan_in, uniform)
    ({"scheme": "torch.default_weight"}, (512, 1024), "torch", "bound", 1 / math.sqrt(1024)),
    ({"scheme": "variance_scaling", "scale": 1 / 3, "mode": "fan_in", "distribution": "uniform"}, (1024, 512),
     "keras", "bound", 1 / math.sqrt(1024)),
    ({"scheme": "torch.default_bias", "fan_in": 1024}, (512,), None, "bound", 1 / math.sqrt(1024)),
    ({"scheme": "torch.recurrent_default", "hidden_size": 64}, (256, 32), None, "bound", 1 / 8),
    # keras VS 'normal' is the truncated one; 'untruncated_normal' the plain one
    ({"scheme": "keras.variance_scaling", "scale": 2.0, "distribution": "normal"}, (32, 64), "keras", "std_trunc",
     math.sqrt(2 / 32)),
    ({"scheme": "keras.variance_scaling", "scale": 2.0, "distribution": "untruncated_normal"}, (32, 64), "keras",
     "std_untrunc", math.sqrt(2 / 32)),
    ({"scheme": "jax.variance_scaling", "scale": 2.0, "mode": "fan_in", "distribution": "normal"}, (32, 64), "jax",
     "std_untrunc", math.sqrt(2 / 32)),
    # embeddings: torch N(0,1), keras U(±0.05), flax N(0, 1/features)
    ({"scheme": "torch.embedding"}, (1000, 64), "torch", "std_untrunc", 1.0),
    ({"scheme": "keras.embedding"}, (1000, 64), "keras", "bound", 0.05),
    ({"scheme": "flax.embed"}, (1000, 64), "flax", "std_untrunc", 1 / 8),
    ({"scheme": "jax.normal", "stddev": 0.3}, (5, 5), "jax", "std_untrunc", 0.3),
    ({"scheme": "keras.random_normal"}, (5, 5), "keras", "std_untrunc", 0.05),
]


@pytest.mark.parametrize("spec,shape,layout,what,value", TABLE, ids=lambda v: v["scheme"] if isinstance(v, dict) else None)
def test_equivalence_table(spec, shape, layout, what, value):
    d = R(spec, shape, layout)
    if what == "bound":
        assert isinstance(d, D.Uniform)
        assert d.high == pytest.approx(value, rel=1e-12) and d.low == pytest.approx(-value, rel=1e-12)
    elif what == "std_untrunc":
        assert isinstance(d, D.Normal) and d.std == pytest.approx(value, rel=1e-12)
    else:
        assert isinstance(d, D.TruncatedNormal)
        assert d.std == pytest.approx(value, rel=1e-12)
        assert d.high == pytest.approx(2 * value / C, rel=1e-12)


def test_uncorrected_truncated_normals():
    # keras TruncatedNormal / jax truncated_normal: cut at ±2 parent σ, result std c·σ
    for spec in ({"scheme": "keras.truncated_normal", "stddev": 0.1}, {"scheme": "jax.truncated_normal", "stddev": 0.1}):
        d = R(spec, (10, 10))
        assert d.scale == 0.1 and d.high == pytest.approx(0.2) and d.std == pytest.approx(0.1 * C)
    # torch trunc_normal_(std=0.02) with absolute ±2 never truncates (±100σ)
    d = R({"scheme": "torch.trunc_normal", "std": 0.02}, (10, 10))
    assert d.high == 2.0 and d.std == pytest.approx(0.02, rel=1e-12)
    assert any("almost never cut" in n for n in d.derivation.notes)
    # keras TruncatedNormal with a mean cuts around the mean
    d = R({"scheme": "keras.truncated_normal", "mean": 1.0, "stddev": 0.5}, (3,))
    assert (d.low, d.high) == (0.0, 2.0)


def test_truncated_normal_std_of_result():
    d = R({"scheme": "truncated_normal", "std": 0.1, "std_of": "result"}, (4,))
    assert d.std == pytest.approx(0.1, rel=1e-12) and d.scale == pytest.approx(0.1 / C, rel=1e-12)
    d = R({"scheme": "truncated_normal", "std": 0.25, "low": -0.5, "high": 0.5, "bounds": "absolute",
           "std_of": "result"}, (4,))
    assert d.std == pytest.approx(0.25, rel=1e-9) and (d.low, d.high) == (-0.5, 0.5)
    with pytest.raises(ShapeError) as e:  # beyond the uniform's std (1/sqrt(12) ≈ 0.2887 for width 1)
        R({"scheme": "truncated_normal", "std": 0.29, "low": 0, "high": 1, "bounds": "absolute",
           "std_of": "result"}, (4,))
    assert e.value.errors[0].code == "unreachable_std"


def test_truncated_normal_asymmetric_and_far_interval():
    d = R({"scheme": "truncated_normal", "std": 1.0, "low": 3.0, "high": 9.0, "bounds": "std"}, (4,))
    # E[Z | Z > 3] = φ(3)/Q(3) (mass beyond 9 is negligible)
    phi3 = math.exp(-4.5) / math.sqrt(2 * math.pi)
    q3 = 0.5 * math.erfc(3 / math.sqrt(2))
    assert d.mean == pytest.approx(phi3 / q3, rel=1e-9)
    with pytest.raises(ShapeError) as e:
        R({"scheme": "truncated_normal", "std": 0.01, "low": 5.0, "high": 6.0, "bounds": "absolute"}, (4,))
    assert e.value.errors[0].code == "empty_truncation"


def test_gains():
    g = {"linear": 1, "conv": 1, "sigmoid": 1, "tanh": 5 / 3, "relu": math.sqrt(2), "selu": 0.75}
    for name, value in g.items():
        d = R({"scheme": "glorot", "distribution": "normal", "gain": name}, (10, 10))
        assert d.std == pytest.approx(value * math.sqrt(2 / 20))
    d = R({"scheme": "glorot", "distribution": "normal",
           "gain": {"nonlinearity": "leaky_relu", "negative_slope": 0.2}}, (10, 10))
    assert d.std == pytest.approx(math.sqrt(2 / 1.04) * math.sqrt(2 / 20))
    d = R({"scheme": "he", "distribution": "normal", "nonlinearity": "tanh"}, (10, 10))
    assert d.std == pytest.approx(5 / 3 / math.sqrt(10))


def test_structured_laws():
    o = R({"scheme": "orthogonal", "gain": 2.0}, (64, 16, 3, 3), "torch")
    assert o.out_axes == (0,) and (o.rows, o.cols) == (16 * 9, 64) and o.std == pytest.approx(2 / math.sqrt(144))
    o = R({"scheme": "orthogonal"}, (3, 3, 16, 64), "keras")
    assert o.out_axes == (3,) and (o.rows, o.cols) == (144, 64)
    o = R({"scheme": "jax.orthogonal", "column_axis": 0}, (8, 32))
    assert o.out_axes == (0,)
    i = R({"scheme": "identity", "gain": 3.0}, (4, 6))
    assert i.expected()[2, 2] == 3.0 and i.expected()[3, 5] == 0.0
    dr = R({"scheme": "dirac", "groups": 2}, (8, 4, 3, 4), "torch")
    assert (1, 1, 1, 2) in dr.one_positions() and (5, 1, 1, 2) in dr.one_positions()  # centre k//2
    assert len(dr.one_positions()) == 8
    dk = R({"scheme": "dirac"}, (3, 3, 4, 8), "keras")
    assert (1, 1, 2, 2) in dk.one_positions()
    do = R({"scheme": "delta_orthogonal"}, (4, 4, 8, 16), "jax")
    assert do.centre == (1, 1)  # (k-1)//2, as JAX
    sp = R({"scheme": "sparse", "sparsity": 0.1}, (100, 20), "torch")
    assert sp.zeros_per_column == 10 and sp.out_axis == 0


@pytest.mark.parametrize("spec,shape,layout,code", [
    ({"scheme": "identity"}, (3, 3, 3), "jax", "unsupported_shape"),
    ({"scheme": "dirac"}, (16, 16), "torch", "unsupported_shape"),
    ({"scheme": "dirac", "groups": 3}, (16, 16, 3), "torch", "unsupported_shape"),
    ({"scheme": "orthogonal"}, (16,), "jax", "unsupported_shape"),
    ({"scheme": "sparse", "sparsity": 0.5}, (4, 4, 4), "torch", "unsupported_shape"),
    ({"scheme": "delta_orthogonal"}, (3, 3, 32, 16), "jax", "unsupported_shape"),
    ({"scheme": "he", "distribution": "normal"}, (16, 16), None, "layout_required"),
    ({"scheme": "he", "distribution": "normal"}, (16, -1), "torch", "bad_shape"),
    ({"scheme": "he", "distribution": "normal"}, "16x16", "torch", "bad_shape"),
    ({"scheme": "he", "distribution": "normal"}, (16, 16), "pytorch", "unknown_layout"),
    ({"scheme": "he", "distribution": "normal", "axes": {"in_axes": [0], "out_axes": [5]}}, (16, 16), None, "bad_axis"),
    ({"scheme": "he", "distribution": "normal", "axes": {"in_axes": [0], "out_axes": [0]}}, (16, 16), None, "bad_axis"),
])
def test_shape_errors(spec, shape, layout, code):
    with pytest.raises(SpecError) as e:
        R(spec, shape, layout)
    assert e.value.errors[0].code == code
    assert isinstance(e.value, ValueError)


def test_unknown_layout_suggests():
    with pytest.raises(ShapeError, match="did you mean 'torch'"):
        R({"scheme": "zeros"}, (2, 2), "torhc")


def test_resolution_is_cached_and_pure():
    spec = initspec.parse({"scheme": "he", "distribution": "uniform"})
    a = initspec.resolve(spec, (64, 32), layout="torch")
    b = initspec.resolve(spec, [64, 32], layout="torch")
    assert a is b and a == b


def test_every_plain_scheme_and_preset_resolves():
    from initspec.parsing import SCHEMES
    from initspec.presets import PRESETS

    needs = {"constant": {"value": 0.5}, "uniform": {"low": -1, "high": 1}, "normal": {"std": 1},
             "truncated_normal": {"std": 1}, "variance_scaling": {"mode": "fan_in", "distribution": "normal"},
             "glorot": {"distribution": "uniform"}, "he": {"distribution": "uniform"},
             "lecun": {"distribution": "uniform"}, "sparse": {"sparsity": 0.1}, "torch.default_bias": {"fan_in": 4},
             "torch.recurrent_default": {"hidden_size": 4}, "torch.sparse": {"sparsity": 0.1},
             "jax.variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"},
             "flax.variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"},
             "torch.constant": {"val": 0.5}, "jax.constant": {"value": [0.5, 1.0, 2.0, 4.0]}}
    shapes = {"dirac": (4, 4, 3), "delta_orthogonal": (4, 4, 3), "torch.dirac": (4, 4, 3),
              "jax.delta_orthogonal": (4, 4, 3), "flax.delta_orthogonal": (4, 4, 3),
              "keras.stft": (5, 1, 8)}  # torch layout: (fft_bins, 1, frame_length)
    assert len(PRESETS) >= 40
    for name in SCHEMES:
        d = R({"scheme": name, **needs.get(name, {})}, shapes.get(name, (8, 4)), "torch")
        assert isinstance(d, D.Distribution) and d.derivation is not None
        assert math.isfinite(d.std) and d.std >= 0
