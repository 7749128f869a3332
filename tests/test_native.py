"""The native calls printed by ``explain`` are executed in each framework and their samples
tested against the resolved law (docs/conformance.md checks, n >= 65,536, fixed seeds).

Every case draws at a shape of at least 65,536 elements, so one call is one full sample.
The torch snippet acts on a tensor ``w`` in torch's layout and is seeded through
``torch.random.fork_rng`` (global state restored); Keras initializers are re-created from
their config with an explicit seed; JAX and NumPy snippets define ``init`` taking a key/rng.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest

import initspec
from initspec import distributions as D
from initspec.native import NativeCall, frameworks, native_calls

pytest.importorskip("scipy")
from initspec.testing import N_SAMPLES, check_samples, check_two_sample  # noqa: E402

# (id, spec, shape, layout)
CASES: list[tuple[str, dict[str, Any], tuple[int, ...], str]] = [
    ("he_normal_torch", {"scheme": "he", "distribution": "normal"}, (512, 128), "torch"),
    ("he_uniform_fan_out_torch", {"scheme": "kaiming", "distribution": "uniform", "mode": "fan_out"}, (512, 128),
     "torch"),
    ("he_trunc_torch", {"scheme": "he", "distribution": "truncated_normal"}, (512, 128), "torch"),
    ("he_leaky_normal_keras", {"scheme": "he", "distribution": "normal", "nonlinearity": "leaky_relu",
                               "negative_slope": 0.2}, (512, 128), "keras"),
    ("glorot_uniform_tanh_conv_keras", {"scheme": "glorot", "distribution": "uniform", "gain": "tanh"},
     (3, 3, 64, 128), "keras"),
    ("xavier_normal_jax", {"scheme": "xavier", "distribution": "normal"}, (128, 512), "jax"),
    ("glorot_trunc_jax", {"scheme": "glorot", "distribution": "truncated_normal"}, (128, 512), "jax"),
    ("lecun_trunc_conv_jax", {"scheme": "lecun", "distribution": "truncated_normal"}, (3, 3, 64, 128), "jax"),
    ("lecun_uniform_torch", {"scheme": "lecun", "distribution": "uniform"}, (512, 128), "torch"),
    ("torch_default_weight_conv", {"scheme": "torch.default_weight"}, (128, 64, 3, 3), "torch"),
    ("vs_geo_avg_normal_jax", {"scheme": "variance_scaling", "mode": "fan_geo_avg", "distribution": "normal"},
     (128, 512), "jax"),
    ("vs_half_fan_out_uniform_torch", {"scheme": "variance_scaling", "scale": 0.5, "mode": "fan_out",
                                       "distribution": "uniform"}, (128, 512), "torch"),
    ("vs_scale3_uniform_torch", {"scheme": "variance_scaling", "scale": 3.0, "mode": "fan_in",
                                 "distribution": "uniform"}, (512, 128), "torch"),
    ("vs_axes_attention_jax", {"scheme": "variance_scaling", "mode": "fan_avg", "distribution": "uniform",
                               "axes": {"in_axes": [0], "out_axes": [1, 2]}}, (64, 8, 128), "jax"),
    ("flax_embed", {"scheme": "flax.embed"}, (1024, 64), "flax"),
    ("keras_vs_normal_is_truncated", {"scheme": "keras.variance_scaling", "scale": 2.0, "distribution": "normal"},
     (512, 128), "keras"),
    ("keras_truncated_normal", {"scheme": "keras.truncated_normal", "stddev": 0.1}, (512, 128), "keras"),
    ("uniform_asymmetric", {"scheme": "uniform", "low": -0.1, "high": 0.3}, (512, 128), "torch"),
    ("uniform_symmetric", {"scheme": "uniform", "low": -0.05, "high": 0.05}, (512, 128), "keras"),
    ("uniform_from_zero", {"scheme": "jax.uniform", "scale": 0.5}, (512, 128), "jax"),
    ("normal_shifted", {"scheme": "normal", "mean": 0.5, "std": 0.1}, (512, 128), "torch"),
    ("torch_trunc_normal_wide", {"scheme": "torch.trunc_normal", "std": 0.02}, (512, 128), "torch"),
    ("trunc_asymmetric_shifted", {"scheme": "truncated_normal", "mean": 0.2, "std": 0.5, "low": -1.0, "high": 3.0,
                                  "bounds": "std"}, (512, 128), "torch"),
    ("jax_truncated_normal", {"scheme": "jax.truncated_normal", "stddev": 0.5, "lower": -1.0, "upper": 1.5},
     (512, 128), "jax"),
    ("trunc_result_std", {"scheme": "truncated_normal", "std": 0.05, "low": -3.0, "high": 3.0, "bounds": "std",
                          "std_of": "result"}, (512, 128), "keras"),
    ("orthogonal_torch", {"scheme": "orthogonal", "gain": 2.0}, (512, 128), "torch"),
    ("orthogonal_conv_keras", {"scheme": "orthogonal"}, (3, 3, 64, 128), "keras"),
    ("identity", {"scheme": "identity", "gain": 1.5}, (512, 128), "torch"),
    ("constant", {"scheme": "constant", "value": 0.25}, (16, 8), "torch"),
    ("zeros", {"scheme": "zeros"}, (16, 8), "keras"),
    ("ones_1d", {"scheme": "ones"}, (16,), "jax"),
    ("dirac_keras", {"scheme": "dirac"}, (3, 3, 16, 32), "keras"),
    ("sparse_torch", {"scheme": "sparse", "sparsity": 0.1, "std": 0.01}, (512, 128), "torch"),
    ("delta_orthogonal_jax", {"scheme": "delta_orthogonal"}, (3, 3, 64, 128), "jax"),
]


def _seed(case_id: str, framework: str) -> int:
    return zlib.crc32(f"native/{case_id}/{framework}".encode())


def _exec(code: str, namespace: dict[str, Any]) -> dict[str, Any]:
    exec(compile(code, "<native call>", "exec"), namespace)  # noqa: S102 - the code under test
    return namespace


def _draw(call: NativeCall, seed: int) -> np.ndarray:
    """Run ``call.code`` and return one sample in the framework's layout, as NumPy."""
    assert call.code is not None
    if call.framework == "torch":
        torch = pytest.importorskip("torch")
        w = torch.empty(call.shape)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _exec(call.code, {"w": w})
        return w.numpy()
    if call.framework == "keras":
        pytest.importorskip("tensorflow")
        pytest.importorskip("keras")
        ns = _exec(call.code, {})
        init = ns["init"]
        cfg = init.get_config()
        if "seed" in cfg:  # re-create the same initializer with a fixed seed
            init = type(init).from_config({**cfg, "seed": seed % 2**31})
        return np.asarray(init(call.shape))
    if call.framework == "jax":
        jax = pytest.importorskip("jax")
        ns = _exec(call.code, {})
        return np.asarray(ns["init"](jax.random.key(seed), call.shape))
    ns = _exec(call.code, {})
    return np.asarray(ns["init"](np.random.default_rng(seed)))


def _to_source(x: np.ndarray, call: NativeCall) -> np.ndarray:
    return x.transpose(np.argsort(call.perm))


#: (case, framework) pairs with no native call - each framework lacks the initializer (or its
#: truncation) entirely; asserted below so a regression that drops a call cannot hide.
NO_NATIVE = {
    ("trunc_asymmetric_shifted", "keras"), ("jax_truncated_normal", "keras"), ("trunc_result_std", "keras"),
    ("identity", "jax"),
    ("dirac_keras", "keras"), ("dirac_keras", "jax"), ("dirac_keras", "numpy"),
    ("sparse_torch", "keras"), ("sparse_torch", "jax"), ("sparse_torch", "numpy"),
    ("delta_orthogonal_jax", "torch"), ("delta_orthogonal_jax", "keras"), ("delta_orthogonal_jax", "numpy"),
}
#: Calls that match the law only to float precision (wide truncations; see initspec.native).
INEXACT = {("torch_trunc_normal_wide", "keras"), ("torch_trunc_normal_wide", "jax")}


def _params() -> list[Any]:
    out = []
    for case_id, spec, shape, layout in CASES:
        for fw in frameworks():
            if (case_id, fw) not in NO_NATIVE:
                out.append(pytest.param(case_id, spec, shape, layout, fw, id=f"{case_id}-{fw}"))
    return out


def test_which_calls_exist() -> None:
    missing, inexact = set(), set()
    for case_id, spec, shape, layout in CASES:
        for fw, call in native_calls(spec, shape, layout).items():
            if not call.available:
                assert not call.exact and call.note, "a missing native call must say why"
                missing.add((case_id, fw))
            elif not call.exact:
                inexact.add((case_id, fw))
    assert missing == NO_NATIVE
    assert inexact == INEXACT


@pytest.mark.parametrize(("case_id", "spec", "shape", "layout", "framework"), _params())
def test_native_call_draws_the_resolved_law(case_id: str, spec: dict[str, Any], shape: tuple[int, ...], layout: str,
                                            framework: str) -> None:
    dist = initspec.resolve(spec, shape, layout)
    call = native_calls(dist)[framework]
    x = _to_source(_draw(call, _seed(case_id, framework)), call)
    assert x.shape == tuple(shape)
    if dist.random and not isinstance(dist, (D.Orthogonal, D.DeltaOrthogonal)):
        assert x.size >= N_SAMPLES
    result = check_samples(x, dist, context=f"{case_id} {framework}: {call.call}")
    assert result.passed, result.report() + "\n" + call.code


@pytest.mark.parametrize("framework", ["torch", "keras", "jax", "numpy"])
def test_harness_rejects_a_wrong_call(framework: str) -> None:
    """The same execution and checks catch a native call whose std is 5% off."""
    dist = initspec.resolve({"scheme": "normal", "std": 0.1}, (512, 128), "torch")
    call = native_calls(dist)[framework]
    wrong = NativeCall(call.framework, call.code.replace("0.1", "0.105"), True, "", call.shape, call.perm)
    assert wrong.code != call.code
    result = check_samples(_to_source(_draw(wrong, _seed("wrong", framework)), wrong), dist)
    assert not result.passed and "second_moment" in [c.name for c in result.failures]


@pytest.mark.parametrize("framework", ["torch", "keras", "jax"])
def test_orthogonal_agrees_with_numpy_adapter(framework: str) -> None:
    """No closed form is needed for a two-sample check: pool 8 native draws against initspec's NumPy draws."""
    from initspec.adapters import numpy as isnp

    spec, shape = {"scheme": "orthogonal"}, (96, 96, 8)
    dist = initspec.resolve(spec, shape, "jax")
    call = native_calls(dist)[framework]
    native = [_to_source(_draw(call, _seed(f"ortho2/{i}", framework)), call) for i in range(8)]
    reference = [isnp.initializer(spec, "jax")(shape, seed=_seed(f"ortho2/{i}", "ref")) for i in range(8)]
    result = check_two_sample(native, reference)
    assert result.passed, result.report()


# ----------------------------------------------------------------------------- what is printed


def _calls(spec: dict[str, Any], shape: tuple[int, ...], layout: str) -> dict[str, NativeCall]:
    return native_calls(spec, shape, layout)


def test_same_name_different_law() -> None:
    """He normal (untruncated) maps to kaiming_normal_, but never to Keras HeNormal or JAX he_normal."""
    calls = _calls({"scheme": "he", "distribution": "normal"}, (256, 128), "torch")
    assert calls["torch"].call == 'kaiming_normal_(w, nonlinearity="relu")'
    assert 'distribution="untruncated_normal"' in calls["keras"].call and "HeNormal" not in calls["keras"].call
    assert calls["jax"].call == 'variance_scaling(2.0, "fan_in", "normal")'
    trunc = _calls({"scheme": "he", "distribution": "truncated_normal"}, (256, 128), "torch")
    assert trunc["keras"].call == "HeNormal()" and trunc["jax"].call == "he_normal()"
    assert trunc["torch"].call.startswith("trunc_normal_(w, mean=0.0, std=0.1421")


def test_layout_is_translated_and_said() -> None:
    calls = _calls({"scheme": "he", "distribution": "normal"}, (3, 3, 16, 32), "keras")
    assert calls["torch"].shape == (32, 16, 3, 3) and calls["torch"].perm == (3, 2, 0, 1)
    assert "keras-layout tensor (3, 3, 16, 32)" in calls["torch"].note
    assert calls["keras"].shape == (3, 3, 16, 32) and calls["keras"].note == ""
    assert "# w: a torch tensor of shape (32, 16, 3, 3)" in calls["torch"].code


def test_numbers_are_computed_when_fans_differ() -> None:
    """Custom axes: torch's own fan rule would read the wrong axes, so the bound is computed."""
    spec = {"scheme": "lecun", "distribution": "uniform", "axes": {"in_axes": [0], "out_axes": [1, 2]}}
    calls = _calls(spec, (64, 8, 16), "jax")
    bound = (3 / 64) ** 0.5
    assert calls["torch"].call == f"uniform_(w, {-bound!r}, {bound!r})"
    assert calls["keras"].call == f"RandomUniform(minval={-bound!r}, maxval={bound!r})"
    assert calls["jax"].call == "lecun_uniform(in_axis=0, out_axis=(1, 2))"


def test_fan_geo_avg_keras_rewrite() -> None:
    calls = _calls({"scheme": "variance_scaling", "mode": "fan_geo_avg", "distribution": "uniform"}, (64, 256), "jax")
    assert calls["keras"].call == 'VarianceScaling(scale=0.5, mode="fan_in", distribution="uniform")'
    assert "fan_geo_avg" in calls["keras"].note and calls["keras"].exact
    assert '"fan_geo_avg"' in calls["jax"].call


def test_torch_default_weight_reads_like_torch() -> None:
    calls = _calls({"scheme": "torch.default_weight"}, (64, 32), "torch")
    assert calls["torch"].call == "kaiming_uniform_(w, a=math.sqrt(5))"
    assert calls["torch"].code.startswith("import math\nimport torch\n")


def test_no_native_equivalent_is_explained() -> None:
    dirac = _calls({"scheme": "dirac"}, (8, 8, 3, 3), "torch")
    assert dirac["torch"].call == "dirac_(w)"
    for fw in ("keras", "jax", "numpy"):
        assert dirac[fw].code is None and not dirac[fw].exact and "no dirac" in dirac[fw].note
    ident = _calls({"scheme": "identity"}, (8, 8), "torch")
    assert ident["jax"].code is None and "jnp.eye" in ident["jax"].note
    sparse = _calls({"scheme": "sparse", "sparsity": 0.5}, (8, 8), "torch")
    assert "global RNG" in sparse["torch"].note
    assert [fw for fw, c in sparse.items() if c.available] == ["torch"]


def test_wide_truncation_is_flagged_inexact() -> None:
    calls = _calls({"scheme": "torch.trunc_normal", "std": 0.02}, (64, 32), "torch")
    assert calls["torch"].exact and calls["torch"].call == "trunc_normal_(w, mean=0.0, std=0.02, a=-2.0, b=2.0)"
    assert not calls["keras"].exact and calls["keras"].call == "RandomNormal(mean=0.0, stddev=0.02)"
    assert not calls["jax"].exact and calls["jax"].call == "normal(0.02)" and "2^-23" in calls["jax"].note
    narrow = _calls({"scheme": "truncated_normal", "std": 1.0, "low": -1.0, "high": 2.5, "bounds": "std"}, (8, 8),
                    "torch")
    assert narrow["keras"].code is None and "mean ± 2·stddev" in narrow["keras"].note
    assert narrow["jax"].exact and narrow["jax"].call == "truncated_normal(1.0, lower=-1.0, upper=2.5)"


def test_accepts_spec_or_distribution() -> None:
    spec = initspec.parse({"scheme": "glorot", "distribution": "uniform"})
    a = native_calls(spec, (32, 16), "torch")
    b = native_calls(initspec.resolve(spec, (32, 16), "torch"))
    assert a == b
    assert set(a) == {"torch", "keras", "jax", "numpy"}
    assert a["torch"].to_dict()["call"] == "xavier_uniform_(w)"
    bare = D.Normal(loc=0.0, scale=0.5)
    assert native_calls(bare, (4, 4))["jax"].call == "normal(0.5)"
    with pytest.raises(ValueError, match="needs a shape"):
        native_calls(bare)


def test_importing_native_imports_no_framework() -> None:
    import subprocess
    import sys

    code = ("import sys, initspec.native as n; n.native_calls({'scheme': 'he', 'distribution': 'normal'}, (4, 4), "
            "'torch'); print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
