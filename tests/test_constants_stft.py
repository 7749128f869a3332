"""Array-valued constants and the ``keras.stft`` preset (issue 13, items 10 and 11).

``{scheme: constant, value: <array>}`` copies a given array, broadcast to the tensor's shape
by NumPy's rules (as Keras' ``Constant`` does): parsed, checked (ragged, non-numeric,
non-finite, shape, dtype), dumped and loaded, explained, recorded in manifests, drawn in the
four backends and in plans - always the exact array.  ``keras.stft`` is Keras 3's fixed DFT
kernel, computed once in NumPy and written by every backend, equal to Keras' own initializer.

Nothing here is random: values are compared exactly (or to a float32 ulp against Keras,
whose backend computes cos/sin with its own float32 functions).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch before tensorflow, in any one process

import initspec
from initspec import SpecError
from initspec import distributions as D
from initspec.arrays import MAX_SHOWN, ArrayValue
from initspec.convert import convert_keras, from_keras
from initspec.native import native_calls

ARRAY = [[1.5, -2.0, 3.25], [0.1, 4.0, -0.5]]
#: A float32/float16/bfloat16-exact array, so every dtype holds it exactly.
EXACT = [[1.5, -2.0, 3.25], [0.0, 4.0, -0.5]]


def codes(fn) -> list[str]:
    with pytest.raises(SpecError) as info:
        fn()
    return info.value.codes


def message(fn) -> str:
    with pytest.raises(SpecError) as info:
        fn()
    return str(info.value)


# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("value", [ARRAY, tuple(map(tuple, ARRAY)), np.array(ARRAY), np.array(ARRAY, np.float32)])
def test_value_takes_nested_lists_and_numpy_arrays(value) -> None:
    spec = initspec.parse({"scheme": "constant", "value": value})
    assert isinstance(spec.value, ArrayValue) and spec.is_array
    want = np.asarray(value, dtype=np.float64)
    np.testing.assert_array_equal(spec.value.array, want)
    assert spec.to_dict() == {"scheme": "constant", "value": want.tolist()}


def test_numbers_stay_numbers() -> None:
    assert initspec.parse({"scheme": "constant", "value": 0.5}).to_dict() == {"scheme": "constant", "value": 0.5}
    assert initspec.parse({"scheme": "constant", "value": np.array(2.0)}).value == 2.0  # 0-d: a number
    assert not initspec.parse({"scheme": "constant", "value": 3}).is_array


def test_array_specs_are_hashable_and_compare_by_value() -> None:
    a = initspec.parse({"scheme": "constant", "value": [[1, 2], [3, 4]]})
    b = initspec.parse({"scheme": "constant", "value": np.array([[1.0, 2.0], [3.0, 4.0]])})
    c = initspec.parse({"scheme": "constant", "value": [[1, 2, 3, 4]]})
    assert a == b and hash(a) == hash(b) and a != c
    assert initspec.resolve(a, (2, 2)) is initspec.resolve(b, (2, 2))  # the resolution cache serves both


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_dump_load_round_trip_is_exact(tmp_path, fmt) -> None:
    value = np.random.default_rng(0).standard_normal((3, 4, 5))  # full-precision float64 digits
    spec = initspec.parse({"scheme": "constant", "value": value})
    again = initspec.loads(initspec.dumps(spec, fmt=fmt))
    assert again == spec
    np.testing.assert_array_equal(again.value.array, value)
    path = tmp_path / f"spec.{fmt}"
    initspec.dump(spec, path)
    assert initspec.load(path) == spec


def test_values_in_a_yaml_file() -> None:
    spec = initspec.loads("format_version: 1\nscheme: constant\nvalue:\n  - [1, 2]\n  - [3, 4.5]\n")
    np.testing.assert_array_equal(spec.value.array, [[1, 2], [3, 4.5]])


@pytest.mark.parametrize(("value", "code", "where"), [
    ([[1, 2], [3]], "ragged_array", "entry [1] has 1 entries"),
    ([[1, 2], 3], "ragged_array", "entry [1] mixes numbers and lists"),
    ([[1, 2], [3, "a"]], "wrong_type", "entry [1][1]: expected a number"),
    ([1, True], "bool_as_number", "entry [1]: expected a number, got a boolean"),
    (np.array([True, False]), "bool_as_number", "boolean array"),
    (np.array(["a"]), "wrong_type", "real numbers"),
    (np.array([1 + 2j]), "wrong_type", "real numbers"),
    ([[0.0, float("nan")]], "non_finite", "entry [0][1] is nan"),
    ([float("-inf")], "non_finite", "entry [0] is -inf"),
    (np.array([1.0, np.inf]), "non_finite", "entry [1] is inf"),
    ([2**60 + 1], "out_of_range", "not a float64 number"),
    (np.array([2**60 + 1], dtype=np.int64), "out_of_range", "not a float64 number"),
])
def test_bad_arrays_are_refused_on_parse(value, code, where) -> None:
    with pytest.raises(SpecError) as info:
        initspec.parse({"scheme": "constant", "value": value})
    (err,) = info.value.errors
    assert err.code == code and err.loc == ("value",) and where in err.message, err.render()


def test_big_arrays_stay_out_of_messages() -> None:
    big = np.arange(100_000.0).reshape(100, 1000).tolist()
    big[99][999] = float("nan")
    text = message(lambda: initspec.parse({"scheme": "constant", "value": big}))
    assert "entry [99][999] is nan" in text and len(text) < 400, text
    big[99][999] = "x"
    text = message(lambda: initspec.parse({"scheme": "constant", "value": big}))
    assert "entry [99][999]" in text and len(text) < 400, text
    arr = np.zeros((300, 300))
    arr[5, 7] = np.inf
    text = message(lambda: initspec.parse({"scheme": "constant", "value": arr}))
    assert "entry [5][7] is inf" in text and "float64 array (300, 300)" in text and len(text) < 400


def test_a_scalar_constant_keeps_its_errors() -> None:
    assert codes(lambda: initspec.parse({"scheme": "constant", "value": "a"})) == ["wrong_type"]
    assert codes(lambda: initspec.parse({"scheme": "constant", "value": True})) == ["bool_as_number"]
    assert codes(lambda: initspec.parse({"scheme": "constant", "value": float("nan")})) == ["non_finite"]


def test_schema_accepts_arrays() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from initspec import schema

    validator = jsonschema.Draft202012Validator(schema.generate("spec"))
    v1 = {"format_version": 1}
    assert validator.is_valid({**v1, "scheme": "constant", "value": [[1, 2], [3, 4]]})
    assert validator.is_valid({**v1, "scheme": "keras.stft", "window": [0.5, 1.0], "scaling": "none"})
    assert not validator.is_valid({**v1, "scheme": "constant", "value": "x"})
    assert not validator.is_valid({**v1, "scheme": "keras.stft", "window": "hanning"})


# ----------------------------------------------------------------------------- the shape rule


@pytest.mark.parametrize(("value_shape", "shape"), [((2, 3), (2, 3)), ((3,), (2, 3)), ((1, 3), (2, 3)),
                                                     ((2, 1), (2, 3)), ((1,), (4, 2, 3)), ((2, 1, 3), (2, 5, 3)),
                                                     ((), (2, 3))])
def test_value_broadcasts_to_the_tensor(value_shape, shape) -> None:
    value = np.arange(1.0, 1.0 + np.prod(value_shape)).reshape(value_shape)
    spec = {"scheme": "constant", "value": value if value_shape else float(value)}
    dist = initspec.resolve(spec, shape)
    if value_shape:
        assert isinstance(dist, D.ConstantArray)
        np.testing.assert_array_equal(dist.values(), np.broadcast_to(value, shape))


@pytest.mark.parametrize(("value_shape", "shape"), [((2, 3), (3, 2)), ((4,), (2, 3)), ((2, 3), (3,)),
                                                     ((2, 2), (2, 3, 2, 4)), ((3,), ())])
def test_a_value_that_does_not_fit_is_a_shape_error(value_shape, shape) -> None:
    spec = {"scheme": "constant", "value": np.ones(value_shape)}
    with pytest.raises(initspec.ShapeError) as info:
        initspec.resolve(spec, shape)
    (err,) = info.value.errors
    assert err.code == "shape_mismatch" and err.loc == ("value",)
    assert f"shape {value_shape}" in err.message and str(shape).replace(",)", ")")[:-1] in err.message


def test_the_shape_error_summarises_a_big_value() -> None:
    text = message(lambda: initspec.resolve({"scheme": "constant", "value": np.ones((500, 400))}, (400, 500)))
    assert "(500, 400)" in text and "(400, 500)" in text and "sha256:" in text and len(text) < 600


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(("value", "dtype", "code"), [
    ([[1, 300]], "int8", "lossy_cast"), ([[1, -1]], "uint8", "lossy_cast"), ([[1, 0.5]], "int32", "lossy_cast"),
    ([[0, 2]], "bool", "lossy_cast"), ([[1, 1e39]], "float32", "dtype_overflow"),
    ([[1, 70000]], "float16", "dtype_overflow"), ([[0, 1e-50]], "float32", "dtype_underflow"),
])
def test_entries_that_do_not_fit_the_dtype(value, dtype, code) -> None:
    from initspec import sampling

    dist = initspec.resolve({"scheme": "constant", "value": value}, (3, 2))
    with pytest.raises(SpecError) as info:
        sampling.check_dtype(dist, dtype)
    assert info.value.codes == [code] and "an entry of constant array" in str(info.value)


def test_entries_that_fit() -> None:
    from initspec import sampling

    for value, dtype in [([[1, -128, 127]], "int8"), ([[0, 1]], "bool"), ([[1e38, -3]], "float32"),
                         ([[300, 2]], "int16"), ([[1e-40, 0]], "float32"),
                         ([[1e-50, 1]], "float32")]:  # an entry may round to 0 - not all of them
        sampling.check_dtype(initspec.resolve({"scheme": "constant", "value": value}, (2, len(value[0]))), dtype)


def test_a_torch_tensor_is_untouched_when_the_value_does_not_fit() -> None:
    import initspec.adapters.torch as it

    for tensor, spec in [(torch.full((2, 3), 7, dtype=torch.int8), {"scheme": "constant", "value": [[1, 300, 2]]}),
                         (torch.full((2, 3), 7.0), {"scheme": "constant", "value": [[1.0, 2.0]]})]:
        before = tensor.clone()
        with pytest.raises(SpecError):
            it.initializer(spec)(tensor)
        assert torch.equal(tensor, before)


# ----------------------------------------------------------------------------- the four backends


def _draw_all(spec, shape, dtype, layout="keras") -> dict[str, np.ndarray]:
    """The tensor ``spec`` gives in numpy, torch, keras and jax, as float64 (or int64)."""
    import initspec.adapters.jax as ij
    import initspec.adapters.keras as ik
    import initspec.adapters.numpy as inp
    import initspec.adapters.torch as it
    import jax

    from initspec import sampling

    kind = np.int64 if dtype.startswith("int") else np.float64
    out = {"numpy": np.asarray(inp.initializer(spec, layout)(shape, seed=0, dtype=sampling.np_dtype(dtype)))}
    t = torch.empty(shape, dtype=getattr(torch, dtype))
    it.initializer(spec, layout)(t)
    out["torch"] = (t.float() if dtype == "bfloat16" else t).numpy()
    k = ik.initializer(spec, layout)(shape, dtype=dtype)
    out["keras"] = np.asarray(k.numpy() if hasattr(k, "numpy") else k)
    with jax.enable_x64(True):
        out["jax"] = np.asarray(ij.initializer(spec, layout)(jax.random.key(0), shape, sampling.np_dtype(dtype)))
    return {k: np.asarray(v).astype(kind) for k, v in out.items()}


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize(("value", "shape"), [(EXACT, (2, 3)), ([[0.25], [-8.0]], (2, 3)), ([1.0, 2.0, 3.0], (4, 3))])
def test_array_constants_round_trip_in_all_four_backends(value, shape, dtype) -> None:
    pytest.importorskip("keras")
    pytest.importorskip("jax")
    want = np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
    for backend, got in _draw_all({"scheme": "constant", "value": value}, shape, dtype).items():
        assert got.shape == shape
        np.testing.assert_array_equal(got, want, err_msg=f"{backend} {dtype}")


def test_values_are_rounded_once_and_alike_in_every_backend() -> None:
    pytest.importorskip("keras")
    pytest.importorskip("jax")
    value = np.random.default_rng(1).standard_normal((4, 5))
    for dtype in ("float32", "float16", "float64"):
        want = value.astype(dtype).astype(np.float64)
        for backend, got in _draw_all({"scheme": "constant", "value": value}, (4, 5), dtype).items():
            np.testing.assert_array_equal(got, want, err_msg=f"{backend} {dtype}")


def test_integer_tensors_take_integer_arrays() -> None:
    pytest.importorskip("keras")
    pytest.importorskip("jax")
    value = [[1, -2, 300]]
    for backend, got in _draw_all({"scheme": "constant", "value": value}, (2, 3), "int32").items():
        np.testing.assert_array_equal(got, np.broadcast_to(value, (2, 3)), err_msg=backend)


def test_portable_draws_are_the_array() -> None:
    from initspec import portable

    dist = initspec.resolve({"scheme": "constant", "value": ARRAY}, (2, 3), "keras")
    got = portable.draw_stored(dist, (2, 3), "float32", row_seed=5, layout="keras")
    np.testing.assert_array_equal(got, np.asarray(ARRAY, np.float32))
    part = portable.draw_stored(dist, (2, 3), "float32", row_seed=5, layout="keras", index=(slice(1, 2), slice(0, 3, 2)))
    np.testing.assert_array_equal(part, np.asarray(ARRAY, np.float32)[1:2, ::2])


# ----------------------------------------------------------------------------- explain, manifests


def test_describe_and_explain_summarise() -> None:
    small = initspec.resolve({"scheme": "constant", "value": [[1, 2]]}, (3, 2))
    assert small.describe() == "constant array [[1, 2]] broadcast to (3, 2)"
    assert (small.mean, small.std, small.low, small.high) == (1.5, 0.5, 1.0, 2.0)
    value = np.linspace(-1.0, 1.0, 512 * 256).reshape(512, 256)
    big = initspec.resolve({"scheme": "constant", "value": value}, (512, 256))
    text = big.describe() + "\n".join(big.derivation.lines())
    assert "array (512, 256), min -1, max 1, sha256:" in text and len(text) < 800, text


def test_cli_explain_summarises(tmp_path) -> None:
    from typer.testing import CliRunner

    from initspec.cli import app

    path = tmp_path / "c.yaml"
    initspec.dump(initspec.parse({"scheme": "constant", "value": np.ones((100, 3))}), path)
    res = CliRunner().invoke(app, ["explain", str(path), "--shape", "100,3"])
    assert res.exit_code == 0, res.output
    assert "law: constant array (100, 3), min 1, max 1, sha256:" in res.output and len(res.output) < 4000


def _torch_model():
    from collections import OrderedDict

    return torch.nn.Sequential(OrderedDict(fc=torch.nn.Linear(3, 2), out=torch.nn.Linear(2, 100)))


def test_manifests_keep_small_arrays_and_a_digest_of_large_ones() -> None:
    model = _torch_model()
    big = np.arange(200.0).reshape(100, 2)
    plan = {"rules": [{"match": {"path": "fc.weight"}, "init": {"scheme": "constant", "value": EXACT}},
                      {"match": {"path": "out.weight"}, "init": {"scheme": "constant", "value": big}}],
            "defaults": {"bias": {"scheme": "zeros"}}}
    manifest = initspec.apply(plan, model)
    text = manifest.dumps()
    assert len(text) < 12_000
    data = json.loads(text)
    rows = {r["path"]: r for r in data["parameters"]}
    assert rows["fc.weight"]["spec"]["value"] == EXACT
    record = rows["out.weight"]["spec"]["value"]
    assert record == {"shape": [100, 2], "min": 0.0, "max": 199.0, "digest": ArrayValue(big).digest()}
    assert data["plan"]["rules"][1]["init"]["value"] == record
    assert len(EXACT) * len(EXACT[0]) <= MAX_SHOWN < big.size


# ----------------------------------------------------------------------------- plans on real models


def test_a_torch_plan_writes_the_exact_arrays() -> None:
    model = _torch_model()
    out_w = np.arange(200.0).reshape(100, 2) / 8
    plan = {"rules": [{"match": {"path": "fc.weight"}, "init": {"scheme": "constant", "value": EXACT}},
                      {"match": {"path": "fc.bias"}, "init": {"scheme": "constant", "value": [0.5, -0.5]}},
                      {"match": {"path": "out.weight"}, "init": {"scheme": "constant", "value": out_w}},
                      {"match": {"path": "out.bias"}, "init": {"scheme": "constant", "value": [3.0]}}]}
    for seeding in ("native", "portable"):
        initspec.apply({**plan, "seeding": seeding}, model)
        np.testing.assert_array_equal(model.fc.weight.detach().numpy(), EXACT)
        np.testing.assert_array_equal(model.fc.bias.detach().numpy(), [0.5, -0.5])
        np.testing.assert_array_equal(model.out.weight.detach().numpy(), out_w)
        np.testing.assert_array_equal(model.out.bias.detach().numpy(), np.full(100, 3.0))


def test_a_plan_checks_shapes_before_writing_anything() -> None:
    model = _torch_model()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    plan = {"rules": [{"match": {"path": "fc.weight"}, "init": {"scheme": "constant", "value": EXACT}},
                      {"match": {"path": "out.weight"}, "init": {"scheme": "constant", "value": np.ones((2, 100))}}],
            "defaults": {"bias": {"scheme": "ones"}}}
    with pytest.raises(SpecError) as info:
        initspec.plan(plan, model)
    # the plan names the rule (incompatible_spec) and says why: the shapes
    assert info.value.codes == ["incompatible_spec"] and "(2, 100) and does not broadcast" in str(info.value)
    assert "(100, 2)" in str(info.value)
    with pytest.raises(SpecError):
        initspec.apply(plan, model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_keras_plan_writes_the_exact_arrays() -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="fc")])
    kernel = np.asarray(EXACT).T  # Keras stores (in, out)
    plan = {"rules": [{"match": {"path": "fc.weight"}, "init": {"scheme": "constant", "value": kernel}},
                      {"match": {"path": "fc.bias"}, "init": {"scheme": "constant", "value": [0.5, -0.5]}}]}
    initspec.apply(plan, model)
    layer = model.get_layer("fc")
    np.testing.assert_array_equal(np.asarray(layer.kernel), kernel)
    np.testing.assert_array_equal(np.asarray(layer.bias), [0.5, -0.5])
    with pytest.raises(SpecError) as info:  # the torch-layout array does not fit the Keras kernel
        initspec.plan({"rules": [{"match": {"path": "fc.weight"}, "init": {"scheme": "constant", "value": EXACT}}],
                       "defaults": {"bias": {"scheme": "zeros"}}}, model)
    assert info.value.codes == ["incompatible_spec"] and "(2, 3) and does not broadcast" in str(info.value)


# ----------------------------------------------------------------------------- native calls


def _run_native(call) -> np.ndarray:
    ns: dict = {}
    if call.framework == "torch":
        ns["w"] = torch.empty(call.shape)
    exec(call.code, ns)  # noqa: S102 - the printed snippet, as test_native.py runs them
    w = ns["w"]
    return np.asarray(w.detach().numpy() if hasattr(w, "detach") else w, dtype=np.float64)


@pytest.mark.parametrize(("value", "shape", "layout"), [(EXACT, (2, 3), "torch"), ([[0.5], [2.0]], (2, 3), "keras"),
                                                        ([1.0, 2.0, 4.0], (2, 3), "jax")])
def test_native_calls_write_the_array(value, shape, layout) -> None:
    pytest.importorskip("keras")
    pytest.importorskip("jax")
    dist = initspec.resolve({"scheme": "constant", "value": value}, shape, layout)
    calls = native_calls(dist)
    assert "keras.initializers.Constant(value=value)" in calls["keras"].code
    assert "w.copy_(torch.as_tensor(value))" in calls["torch"].code
    assert "jax.nn.initializers.constant(value)" in calls["jax"].code
    for fw, call in calls.items():
        assert call.exact
        np.testing.assert_array_equal(_run_native(call), dist.values().transpose(call.perm), err_msg=fw)


def test_native_calls_do_not_print_big_arrays() -> None:
    dist = initspec.resolve({"scheme": "constant", "value": np.ones((64, 65))}, (64, 65), "keras")
    for fw, call in native_calls(dist).items():
        assert len(call.code) < 600 and "value = ...  # the spec's array" in call.code, fw
        assert "stands for the spec's array" in call.note


# ----------------------------------------------------------------------------- Keras conversion


def test_keras_constant_with_an_array_converts() -> None:
    keras = pytest.importorskip("keras")
    value = np.asarray(EXACT, dtype=np.float32)
    native = keras.initializers.Constant(value)
    config = json.loads(json.dumps(keras.initializers.serialize(native)))  # as a saved model holds it
    spec = from_keras(config)
    assert spec.is_array and spec.value.shape == (2, 3)
    np.testing.assert_array_equal(initspec.resolve(spec, (4, 2, 3)).values("float32"),
                                  np.asarray(native((4, 2, 3), dtype="float32")))


# ----------------------------------------------------------------------------- keras.stft

STFT_CASES = [
    ({}, (16, 1, 9)),
    ({}, (12, 1, 9)),  # frame_length < fft_length: zero padding
    ({"side": "imag"}, (16, 1, 9)),
    ({"side": "imag", "window": "hamming", "periodic": True}, (64, 1, 33)),
    ({"window": "blackman", "scaling": "spectrum"}, (32, 1, 17)),
    ({"window": "bartlett", "scaling": None}, (8, 1, 5)),
    ({"window": "boxcar", "periodic": True}, (8, 1, 5)),
    ({"window": "tukey"}, (32, 1, 17)),  # through scipy
    ({"window": None}, (8, 1, 5)),
    ({"window": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], "scaling": "spectrum"}, (10, 1, 6)),
    ({"side": "imag"}, (400, 1, 257)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("kwargs", "shape"), STFT_CASES)
def test_stft_equals_keras(kwargs, shape, dtype) -> None:
    keras = pytest.importorskip("keras")
    pytest.importorskip("scipy")
    want = np.asarray(keras.initializers.STFT(**kwargs)(shape, dtype=dtype), dtype=np.float64)
    got = initspec.resolve({"scheme": "keras.stft", **kwargs}, shape, "keras").values(dtype).astype(np.float64)
    assert got.shape == want.shape == shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 if dtype == "float32" else 1e-12)


def test_stft_follows_keras_rounding_at_large_frames() -> None:
    """Keras computes the argument in float32 (4e-4 from the exact DFT at T = 2048): so does
    the preset, so it stays within a float32 ulp of Keras there too."""
    keras = pytest.importorskip("keras")
    shape = (2048, 1, 1025)
    want = np.asarray(keras.initializers.STFT()(shape, dtype="float32"), dtype=np.float64)
    dist = initspec.resolve({"scheme": "keras.stft"}, shape, "keras")
    assert np.max(np.abs(dist.values("float32") - want)) <= 1e-7
    assert np.max(np.abs(dist.values("float64") - want)) > 1e-5  # the exact DFT is not what Keras writes


def test_stft_is_the_real_fft() -> None:
    """x·K_real + i·x·K_imag = rfft(x·w) / √Σw² (float64, exact to rounding)."""
    t, f = 32, 17
    real = initspec.resolve({"scheme": "keras.stft"}, (t, 1, f), "keras").values("float64")[:, 0, :]
    imag = initspec.resolve({"scheme": "keras.stft", "side": "imag"}, (t, 1, f), "keras").values("float64")[:, 0, :]
    x = np.random.default_rng(2).standard_normal(t)
    w = np.hanning(t)  # numpy's hanning is scipy's symmetric hann
    np.testing.assert_allclose(x @ real + 1j * (x @ imag), np.fft.rfft(x * w, n=2 * (f - 1)) / np.sqrt(np.sum(w * w)),
                               atol=1e-12)


def test_stft_in_all_four_backends_is_one_kernel() -> None:
    pytest.importorskip("keras")
    pytest.importorskip("jax")
    spec = {"scheme": "keras.stft", "side": "imag", "window": "hamming"}
    for dtype in ("float32", "float64", "float16"):
        want = initspec.resolve(spec, (16, 1, 9), "keras").values(dtype).astype(np.float64)
        for backend, got in _draw_all(spec, (16, 1, 9), dtype).items():
            np.testing.assert_array_equal(got, want, err_msg=f"{backend} {dtype}")


def test_stft_in_torch_layout_is_the_transposed_kernel() -> None:
    import initspec.adapters.torch as it

    conv = torch.nn.Conv1d(1, 9, 16, bias=False)  # weight (out=bins, in=1, k=frame_length)
    it.initializer({"scheme": "keras.stft"})(conv.weight)
    keras_kernel = initspec.resolve({"scheme": "keras.stft"}, (16, 1, 9), "keras").values("float32")
    np.testing.assert_array_equal(conv.weight.detach().numpy(), keras_kernel.transpose(2, 1, 0))


def test_stft_in_plans_on_torch_and_keras() -> None:
    keras = pytest.importorskip("keras")
    want = initspec.resolve({"scheme": "keras.stft"}, (16, 1, 9), "keras").values("float32")
    tmodel = torch.nn.ModuleDict({"stft": torch.nn.Conv1d(1, 9, 16, bias=False)})
    plan = {"rules": [{"match": {"path": "stft.weight"}, "init": {"scheme": "keras.stft"}}]}
    initspec.apply(plan, tmodel)
    np.testing.assert_array_equal(tmodel["stft"].weight.detach().numpy(), want.transpose(2, 1, 0))
    kmodel = keras.Sequential([keras.Input((64, 1)), keras.layers.Conv1D(9, 16, use_bias=False, name="stft")])
    initspec.apply(plan, kmodel)
    np.testing.assert_array_equal(np.asarray(kmodel.get_layer("stft").kernel), want)


@pytest.mark.parametrize(("spec", "shape", "layout", "code", "text"), [
    ({}, (16, 9), "keras", "unsupported_shape", "3-D convolution kernel"),
    ({}, (16, 3, 9), "keras", "unsupported_shape", "this one has 3"),
    ({}, (16, 1, 1), "keras", "unsupported_shape", "at least 2 frequency bins"),
    ({}, (9, 3, 16), "torch", "unsupported_shape", "(fft_bins, 1, frame_length) in torch's layout"),
    ({"window": [1.0, 2.0]}, (16, 1, 9), "keras", "unsupported_shape", "frame_length is 16"),
    ({"window": [0.0, 0.0, 0.0]}, (3, 1, 5), "keras", "non_finite_law", "the window sums to 0"),
])
def test_stft_shape_errors(spec, shape, layout, code, text) -> None:
    with pytest.raises(SpecError) as info:
        initspec.resolve({"scheme": "keras.stft", **spec}, shape, layout)
    assert info.value.codes == [code] and text in str(info.value), str(info.value)


@pytest.mark.parametrize(("field", "value", "code"), [("side", "both", "invalid_choice"),
                                                      ("window", "hanning", "invalid_choice"),
                                                      ("window", [[1.0], [2, 3]], "ragged_array"),
                                                      ("scaling", "l2", "invalid_choice"),
                                                      ("periodic", 1, "bool_parsing"),
                                                      ("fft_length", 512, "unknown_field")])
def test_stft_field_errors(field, value, code) -> None:
    with pytest.raises(SpecError) as info:
        initspec.parse({"scheme": "keras.stft", field: value})
    assert info.value.errors[0].loc == (field,), str(info.value)
    if code != "bool_parsing":
        assert info.value.codes[0] == code, str(info.value)


def test_stft_none_round_trips() -> None:
    spec = initspec.parse({"scheme": "keras.stft", "window": None, "scaling": None})
    assert (spec.window, spec.scaling) == ("none", "none")
    assert initspec.loads(initspec.dumps(spec)) == spec
    plan = initspec.loads(initspec.dumps(initspec.parse_plan({"rules": [{"init": spec.to_dict()}]})))
    assert plan.rules[0].init == spec


def test_stft_into_an_integer_tensor_is_refused() -> None:
    import initspec.adapters.torch as it

    w = torch.zeros(9, 1, 16, dtype=torch.int32)
    with pytest.raises(SpecError) as info:
        it.initializer({"scheme": "keras.stft"})(w)
    assert info.value.codes == ["lossy_cast"] and not w.any()


def test_stft_converts_from_keras_both_spellings() -> None:
    keras = pytest.importorskip("keras")
    native = keras.initializers.STFT("imag", "hamming", "spectrum", True)
    config = json.loads(json.dumps(keras.initializers.serialize(native)))
    conv = convert_keras(config)
    assert conv.spec.to_dict() == {"scheme": "keras.stft", "side": "imag", "window": "hamming",
                                   "scaling": "spectrum", "periodic": True}
    np.testing.assert_allclose(initspec.resolve(conv.spec, (32, 1, 17), "keras").values("float32"),
                               np.asarray(native((32, 1, 17))), rtol=0, atol=1e-6)
    for name in ("STFTInitializer", "stft", "stft_initializer"):
        assert from_keras(name).to_dict()["scheme"] == "keras.stft"
    noted = convert_keras({"class_name": "STFT", "config": {"window": "han", "scaling": None}})
    assert noted.spec.window == "hann" and noted.spec.scaling == "none" and "scipy's other name" in noted.notes[0]
    window = {"class_name": "__numpy__", "config": {"value": [0.5, 1.0, 0.5], "dtype": "float64"}}
    assert from_keras({"class_name": "STFT", "config": {"window": window}}).window.shape == (3,)


def test_stft_native_call_is_keras_stft() -> None:
    pytest.importorskip("keras")
    dist = initspec.resolve({"scheme": "keras.stft", "side": "imag", "window": None}, (9, 1, 16), "torch")
    calls = native_calls(dist)
    call = calls["keras"]
    assert call.call == 'STFT(side="imag", window=None, scaling="density", periodic=False)' and call.exact
    assert call.shape == (16, 1, 9)
    np.testing.assert_allclose(_run_native(call), dist.values("float32").transpose(2, 1, 0), atol=1e-6)
    for fw in ("torch", "jax", "numpy"):
        assert calls[fw].code is None and "no stft initializer" in calls[fw].note


# ----------------------------------------------------------------------------- the constant presets


def test_constant_presets_take_arrays_where_the_framework_does() -> None:
    keras = pytest.importorskip("keras")
    jax = pytest.importorskip("jax")
    value = np.asarray([[0.5], [-2.0]], np.float32)
    keras_law = initspec.resolve({"scheme": "keras.constant", "value": value}, (2, 3), "keras")
    np.testing.assert_array_equal(keras_law.values("float32"),
                                  np.asarray(keras.initializers.Constant(value)((2, 3), dtype="float32")))
    jax_law = initspec.resolve({"scheme": "flax.constant", "value": value}, (2, 3), "jax")
    np.testing.assert_array_equal(jax_law.values("float32"),
                                  np.asarray(jax.nn.initializers.constant(value)(jax.random.key(0), (2, 3))))
    assert initspec.parse({"scheme": "keras.constant"}).expand().to_dict() == {"scheme": "constant", "value": 0.0}
    assert initspec.parse({"scheme": "torch.constant", "val": 3}).expand().to_dict() == {"scheme": "constant",
                                                                                         "value": 3.0}
    # torch.nn.init.constant_ takes a number only
    assert codes(lambda: initspec.parse({"scheme": "torch.constant", "val": [1.0, 2.0]})) == ["wrong_type"]


def test_a_plan_reproduces_keras_stft_spectrogram_kernels() -> None:
    """Rules by path give an STFTSpectrogram layer the kernels Keras builds for it."""
    keras = pytest.importorskip("keras")
    layer = keras.layers.STFTSpectrogram(mode="log", frame_length=16, frame_step=4, fft_length=16, window="hamming",
                                         periodic=True, name="spec")
    model = keras.Sequential([keras.Input((64, 1)), layer])
    built = {k: np.asarray(getattr(layer, k)).copy() for k in ("real_kernel", "imag_kernel")}
    common = {"window": "hamming", "periodic": True}
    plan = {"rules": [{"match": {"path": "spec.real_kernel"}, "init": {"scheme": "keras.stft", **common}},
                      {"match": {"path": "spec.imag_kernel"}, "init": {"scheme": "keras.stft", "side": "imag",
                                                                        **common}}]}
    for k in built:
        getattr(layer, k).assign(np.zeros_like(built[k]))
    initspec.apply(plan, model)
    for k, want in built.items():
        np.testing.assert_allclose(np.asarray(getattr(layer, k)), want, rtol=0, atol=1e-6, err_msg=k)


def test_initspec_keras_initializers_serialize_arrays_and_stft() -> None:
    keras = pytest.importorskip("keras")
    import initspec.adapters.keras as ik

    for spec, shape in [({"scheme": "constant", "value": [[1.5], [2.0]]}, (2, 3)),
                        ({"scheme": "keras.stft", "side": "imag"}, (8, 1, 5))]:
        init = ik.initializer(spec)
        config = json.loads(json.dumps(keras.initializers.serialize(init)))
        again = keras.initializers.deserialize(config)
        np.testing.assert_array_equal(np.asarray(again(shape)), np.asarray(init(shape)))


def test_a_flax_plan_writes_the_exact_arrays() -> None:
    jax = pytest.importorskip("jax")
    nn = pytest.importorskip("flax.linen")
    variables = nn.Dense(3).init(jax.random.key(0), np.ones((1, 2), np.float32))
    kernel = np.asarray(EXACT)  # Flax stores (in, out): (2, 3)
    plan = {"rules": [{"match": {"role": "weight"}, "init": {"scheme": "constant", "value": kernel}},
                      {"match": {"role": "bias"}, "init": {"scheme": "jax.constant", "value": [0.5, 1.0, 2.0]}}]}
    for seeding in ("native", "portable"):
        params = initspec.apply({**plan, "seeding": seeding}, variables).params["params"]
        np.testing.assert_array_equal(np.asarray(params["kernel"]), kernel)
        np.testing.assert_array_equal(np.asarray(params["bias"]), [0.5, 1.0, 2.0])


def test_stft_half_precision_is_rounded_once() -> None:
    """float16/bfloat16 kernels: the float32 kernel rounded once (Keras' own float16 kernel
    is 0.04 off the DFT at frame_length 256; this one stays within rounding of float32)."""
    law = initspec.resolve({"scheme": "keras.stft"}, (256, 1, 129), "keras")
    for dtype in ("float16", "bfloat16"):
        got = law.values(dtype)
        assert got.dtype.name == dtype
        np.testing.assert_array_equal(got, law.values("float32").astype(got.dtype))
        assert np.max(np.abs(got.astype(np.float64) - law.values("float64"))) < 1e-3
