"""Complex dtypes (issue 13 item 9): which law a complex64/complex128 tensor gets
(initspec.complexlaw), that NumPy, torch and JAX draw it, that the frameworks' own complex
initializers pass the same checks (initspec.testing.complex_checks), and that the checks
reject wrong complex samplers.  Fixed seeds throughout; each sample is 65,536 draws."""

from __future__ import annotations

import math
import zlib
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch  # (before any TensorFlow import)
from initspec.adapters import numpy as isnp

import initspec
from initspec import complexlaw as CL
from initspec import distributions as D
from initspec.errors import SpecError
from initspec.native import native_calls

pytest.importorskip("scipy")
from initspec.testing.complex_checks import check_complex

SHAPE = (512, 128)  # 65,536 elements: one tensor is one full sample


def _seed(tag: str) -> int:
    return zlib.crc32(f"complex/{tag}".encode()) & 0x7FFF_FFFF


def _law(spec: dict[str, Any], layout: str = "torch", dtype: str = "complex64") -> CL.Complex:
    return CL.complex_law(initspec.resolve(spec, SHAPE, layout), dtype)


# ----------------------------------------------------------------------------- the rules


def test_which_definition_each_scheme_takes() -> None:
    var = 2.0 / 128  # he, fan_in 128 (torch layout (512, 128))
    normal = _law({"scheme": "normal", "mean": 0.1, "std": 0.3})
    assert (normal.form, normal.rule) == ("parts", "generic")
    assert normal.real == D.Normal(loc=0.1, scale=0.3 / math.sqrt(2)) and normal.imag == D.Normal(loc=0.0,
                                                                                                  scale=0.3 / math.sqrt(2))
    torch_normal = _law({"scheme": "torch.normal", "mean": 0.1, "std": 0.3})  # torch: the mean on both parts
    assert torch_normal.rule == "torch" and torch_normal.imag == D.Normal(loc=0.1, scale=0.3 / math.sqrt(2))
    disk = _law({"scheme": "he", "distribution": "uniform"})
    assert (disk.form, disk.rule) == ("disk", "generic") and disk.var == pytest.approx(var)
    assert disk.radius == pytest.approx(math.sqrt(2 * var))
    trunc = _law({"scheme": "he", "distribution": "truncated_normal"})
    assert trunc.form == "truncated_disk" and trunc.correction == CL.JAX_TRUNC_CORRECTION
    assert trunc.var == pytest.approx(1.0187 * var, rel=1e-4)  # JAX's constant, kept: E|z|² = 1.0187·variance
    assert trunc.radius == pytest.approx(2 * math.sqrt(var) / CL.JAX_TRUNC_CORRECTION)
    jax_disk = _law({"scheme": "jax.he_uniform"}, "jax")
    assert (jax_disk.form, jax_disk.rule) == ("disk", "jax")
    assert _law({"scheme": "flax.default_kernel"}, "flax").form == "truncated_disk"
    torch_uniform = _law({"scheme": "torch.kaiming_uniform"})  # uniform_: each part U(-L, L), twice E|w|²
    bound = math.sqrt(3 * var)
    assert torch_uniform.form == "parts" and torch_uniform.real == torch_uniform.imag
    assert torch_uniform.real.high == pytest.approx(bound) and torch_uniform.real.low == -torch_uniform.real.high
    assert torch_uniform.var == pytest.approx(2 * var)
    assert _law({"scheme": "torch.default_weight"}).real.high == pytest.approx(1 / math.sqrt(128))


@pytest.mark.parametrize("spec, why", [
    ({"scheme": "uniform", "low": -0.1, "high": 0.1}, "torch.uniform"),
    ({"scheme": "truncated_normal", "std": 0.1}, "truncated_normal"),
    ({"scheme": "torch.trunc_normal", "std": 0.02}, "trunc_normal_"),
    ({"scheme": "jax.uniform"}, "JAX's uniform"),
    ({"scheme": "jax.truncated_normal"}, "truncated_normal"),
    ({"scheme": "keras.he_normal"}, "Keras"),
    ({"scheme": "orthogonal"}, "unitary"),
    ({"scheme": "jax.orthogonal"}, "unitary"),
    ({"scheme": "sparse", "sparsity": 0.1}, "real dtypes only"),
])
def test_laws_without_a_complex_form_are_refused(spec: dict[str, Any], why: str) -> None:
    dist = initspec.resolve(spec, SHAPE, "torch")
    for dtype in CL.COMPLEX_DTYPES:
        with pytest.raises(SpecError) as err:
            isnp.sample(dist, np.random.default_rng(0), dtype)
        assert err.value.codes == ["unsupported_dtype"] and why in str(err.value)
        assert dtype in str(err.value) and "float32" in str(err.value)  # what was asked, and the fix


def test_a_complex_law_fills_only_complex_tensors() -> None:
    law = _law({"scheme": "normal", "std": 0.1})
    with pytest.raises(SpecError, match="complex law") as err:
        isnp.sample(replace(law, derivation=initspec.resolve({"scheme": "normal", "std": 0.1}, SHAPE).derivation),
                    np.random.default_rng(0), "float32")
    assert err.value.codes == ["unsupported_dtype"]


@pytest.mark.parametrize("spec", [{"scheme": "zeros"}, {"scheme": "constant", "value": 0.25},
                                  {"scheme": "identity", "gain": 1.5}])
def test_fixed_laws_fill_complex_tensors_with_a_zero_imaginary_part(spec: dict[str, Any]) -> None:
    import jax
    from initspec.adapters import jax as isj
    from initspec.adapters import torch as ist

    dist = initspec.resolve(spec, (16, 8), "torch")
    want = dist.expected() if isinstance(dist, D.Identity) else np.full((16, 8), dist.value)
    got = [isnp.sample(dist, np.random.default_rng(0), "complex64"),
           ist.sample_(torch.empty(16, 8, dtype=torch.complex64), dist).numpy(),
           np.asarray(isj.sample(dist, jax.random.key(0), (16, 8), "complex64"))]
    for x in got:
        assert x.dtype == np.complex64 and np.array_equal(x, want.astype(np.complex64))


# ----------------------------------------------------------------------------- drawing


CASES = {  # a scheme per complex form and rule
    "normal": ({"scheme": "normal", "mean": 0.1, "std": 0.3}, "torch"),
    "torch.normal": ({"scheme": "torch.normal", "mean": 0.1, "std": 0.3}, "torch"),
    "he_uniform": ({"scheme": "he", "distribution": "uniform"}, "torch"),
    "he_truncated_normal": ({"scheme": "he", "distribution": "truncated_normal"}, "jax"),
    "torch.kaiming_uniform": ({"scheme": "torch.kaiming_uniform"}, "torch"),
}


def _draw(backend: str, dist: D.Distribution, dtype: str, seed: int) -> np.ndarray:
    if backend == "numpy":
        return isnp.sample(dist, np.random.default_rng(seed), dtype)
    if backend == "torch":
        from initspec.adapters import torch as ist

        t = torch.empty(SHAPE, dtype=getattr(torch, dtype))
        return ist.sample_(t, dist, torch.Generator().manual_seed(seed)).numpy()
    import jax
    from initspec.adapters import jax as isj

    with jax.enable_x64(dtype == "complex128"):
        return np.asarray(isj.sample(dist, jax.random.key(seed), SHAPE, dtype))


@pytest.mark.parametrize("dtype", CL.COMPLEX_DTYPES)
@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("case", list(CASES))
def test_each_backend_draws_the_complex_law(case: str, backend: str, dtype: str) -> None:
    spec, layout = CASES[case]
    dist = initspec.resolve(spec, SHAPE, layout)
    x = _draw(backend, dist, dtype, _seed(f"{case}/{backend}/{dtype}"))
    assert x.dtype == np.dtype(dtype) and x.shape == SHAPE
    res = check_complex(x, CL.complex_law(dist, dtype), dtype)
    assert res.passed, res.report()


def test_torch_fills_parameters_and_strided_views_in_place() -> None:
    from initspec.adapters import torch as ist

    w = torch.nn.Parameter(torch.empty(128, 512, dtype=torch.complex64))
    ist.initializer({"scheme": "he", "distribution": "normal"})(w.T, torch.Generator().manual_seed(1))
    assert w.requires_grad and w.dtype == torch.complex64
    res = check_complex(w.detach().numpy(), _law({"scheme": "he", "distribution": "normal"}), "complex64")
    assert res.passed, res.report()


def test_keras_refuses_complex_random_laws() -> None:
    pytest.importorskip("keras")
    from initspec.adapters import keras as ik

    with pytest.raises(SpecError) as err:
        ik.initializer({"scheme": "he", "distribution": "normal"}, seed=1)((8, 8), "complex64")
    assert err.value.codes == ["unsupported_dtype"] and "Keras 3" in str(err.value)


# ----------------------------------------------------------------------------- the frameworks' own complex draws


def _native(spec: dict[str, Any], layout: str, framework: str, dtype: str, seed: int) -> np.ndarray:
    """The native call ``explain`` prints for ``spec``, run on a complex tensor."""
    call = native_calls(spec, SHAPE, layout)[framework]
    assert call.available and call.code is not None
    namespace: dict[str, Any] = {}
    if framework == "torch":
        w = torch.empty(call.shape, dtype=getattr(torch, dtype))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            exec(compile(call.code, "<native call>", "exec"), {"w": w})
        return w.numpy().transpose(np.argsort(call.perm))
    import jax

    exec(compile(call.code, "<native call>", "exec"), namespace)
    with jax.enable_x64(dtype == "complex128"):
        x = np.asarray(namespace["init"](jax.random.key(seed), call.shape, dtype))
    return x.transpose(np.argsort(call.perm))


NATIVE = [  # (spec, layout, framework): the framework's own initializer in a complex dtype
    ({"scheme": "he", "distribution": "normal"}, "jax", "jax"),  # jax.nn.initializers.variance_scaling(normal)
    ({"scheme": "he", "distribution": "uniform"}, "jax", "jax"),  # the uniform disk
    ({"scheme": "glorot", "distribution": "truncated_normal"}, "jax", "jax"),  # the complex truncated normal
    ({"scheme": "flax.default_kernel"}, "flax", "jax"),
    ({"scheme": "jax.normal", "stddev": 0.2}, "jax", "jax"),
    ({"scheme": "torch.normal", "mean": 0.1, "std": 0.3}, "torch", "torch"),  # normal_: the mean on both parts
    ({"scheme": "he", "distribution": "normal"}, "torch", "torch"),  # kaiming_normal_
    ({"scheme": "torch.kaiming_uniform"}, "torch", "torch"),  # uniform_: each part U(-L, L)
    ({"scheme": "torch.default_weight"}, "torch", "torch"),
]


@pytest.mark.parametrize("dtype", CL.COMPLEX_DTYPES)
@pytest.mark.parametrize("spec, layout, framework", NATIVE, ids=lambda v: v["scheme"] if isinstance(v, dict) else v)
def test_the_frameworks_own_complex_draws_pass_the_checks(spec: dict[str, Any], layout: str, framework: str,
                                                          dtype: str) -> None:
    x = _native(spec, layout, framework, dtype, _seed(f"native/{spec['scheme']}/{framework}/{dtype}"))
    assert x.dtype == np.dtype(dtype)
    res = check_complex(x, _law(spec, layout, dtype), dtype)
    assert res.passed, res.report()


# ----------------------------------------------------------------------------- the checks reject wrong samplers


def test_torch_and_jax_definitions_are_told_apart() -> None:
    """torch's kaiming_uniform_ on a complex tensor (independent parts, twice the variance)
    is not JAX's he_uniform (a disk), and the reverse - the checks see which is which."""
    torch_draw = _native({"scheme": "torch.kaiming_uniform", "a": math.sqrt(5)}, "torch", "torch", "complex64",
                         _seed("apart/torch"))
    torch_draw = torch_draw / math.sqrt(2)  # even with the variance made right
    disk = _law({"scheme": "he", "distribution": "uniform", "nonlinearity": "leaky_relu",
                 "negative_slope": math.sqrt(5)})
    assert not check_complex(torch_draw, disk, "complex64").passed
    jax_draw = _native({"scheme": "he", "distribution": "uniform"}, "jax", "jax", "complex64", _seed("apart/jax"))
    s = _law({"scheme": "he", "distribution": "uniform"}, "jax").scale  # parts of the disk's variance
    part = D.Uniform(low=-math.sqrt(1.5) * s, high=math.sqrt(1.5) * s)
    assert not check_complex(jax_draw, CL.Complex(form="parts", rule="torch", real=part, imag=part), "complex64").passed


@pytest.mark.parametrize("wrong", ["real_only", "imag_is_real", "full_std_each", "real_dtype"])
def test_the_checks_reject_a_wrong_sampler(wrong: str) -> None:
    law = _law({"scheme": "he", "distribution": "normal"})
    rng = np.random.default_rng(_seed(f"wrong/{wrong}"))
    s = math.sqrt(law.var)
    if wrong == "real_only":  # all the variance in the real part
        z = (rng.normal(0, s, SHAPE) + 0j).astype(np.complex64)
    elif wrong == "imag_is_real":
        x = rng.normal(0, s / math.sqrt(2), SHAPE)
        z = (x + 1j * x).astype(np.complex64)
    elif wrong == "full_std_each":
        z = (rng.normal(0, s, SHAPE) + 1j * rng.normal(0, s, SHAPE)).astype(np.complex64)
    else:
        z = rng.normal(0, s, SHAPE).astype(np.float32)
    res = check_complex(z, law, "complex64")
    assert not res.passed, res.report()
    if wrong != "real_dtype":  # the same checks pass a right sampler at the same seed
        good = (rng.normal(0, s / math.sqrt(2), SHAPE) + 1j * rng.normal(0, s / math.sqrt(2), SHAPE))
        assert check_complex(good.astype(np.complex64), law, "complex64").passed


def test_a_plan_fills_a_complex_torch_module_natively_and_portable_seeding_refuses() -> None:
    m = torch.nn.Linear(512, 128, dtype=torch.complex64)
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "he", "distribution": "uniform"}},
                      {"match": {"role": "bias"}, "init": {"scheme": "zeros"}}], "seed": 3}
    initspec.apply(plan, m)
    law = CL.complex_law(initspec.resolve({"scheme": "he", "distribution": "uniform"}, (128, 512), "torch"))
    res = check_complex(m.weight.detach().numpy(), law, "complex64")
    assert res.passed, res.report()
    assert not m.bias.detach().abs().any()
    with pytest.raises(SpecError, match="portable seeding draws real floats") as err:
        initspec.apply({**plan, "seeding": "portable"}, m)
    assert err.value.codes == ["unsupported_dtype"]


@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_the_jax_adapter_draws_what_jax_draws_for_the_same_key(distribution: str) -> None:
    """Same key, same split into real/imaginary (or modulus/angle) keys, same transforms:
    initspec's complex variance scaling equals jax.nn.initializers' up to float32 rounding."""
    import jax

    from initspec.adapters import jax as isj

    key = jax.random.key(_seed(f"same-key/{distribution}"))
    ours = np.asarray(isj.initializer({"scheme": "he", "distribution": distribution})(key, (64, 32), "complex64"))
    theirs = np.asarray(jax.nn.initializers.variance_scaling(2.0, "fan_in", distribution)(key, (64, 32), "complex64"))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("order", ["keras_first", "generic_first"])
def test_equal_laws_from_different_namespaces_keep_their_complex_answer(order: str) -> None:
    """keras.he_normal and {he, truncated_normal} resolve to equal laws (a law's equality
    ignores its derivation), and the dtype check was cached by law: once keras.he_normal had
    been refused complex64, the generic scheme was refused too (the conformance suite failed
    in a full run and passed alone)."""
    from initspec.sampling import check_dtype

    keras = initspec.resolve({"scheme": "keras.he_normal"}, (64, 32), layout="keras")
    generic = initspec.resolve({"scheme": "he", "distribution": "truncated_normal"}, (64, 32), layout="keras")
    assert keras == generic
    for law in ([keras, generic] if order == "keras_first" else [generic, keras]):
        if law is keras:
            with pytest.raises(initspec.SpecError, match="keras.he_normal has no complex form"):
                check_dtype(law, "complex64")
        else:
            check_dtype(law, "complex64")
