"""Activation gains (initspec.activations) and the ``{activation: NAME}`` form of gains.

* every built-in gain against ``scipy.integrate.quad`` (breakpoints given as ``points``);
* closed forms, the required values and the frameworks' own definitions of each f;
* parameters, user functions, errors; specs, files and the JSON Schema.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import initspec
from initspec import SpecError
from initspec.activations import ACTIVATIONS, ALIASES, BUILTIN, activation_gain, register_activation, second_moment
from initspec.gain import GAIN_TABLE, ActivationGain, gain_value

ROOT = Path(__file__).resolve().parents[1]
SQRT2 = math.sqrt(2.0)

#: Parameters for the activations that have required ones.
REQUIRED = {"threshold": {"threshold": 0.3, "value": -0.5}}
#: Non-default parameters per activation, to check the quadrature away from the defaults.
OTHER = {"leaky_relu": {"negative_slope": 0.37}, "prelu": {"negative_slope": -0.6}, "rrelu": {"lower": 0.1, "upper": 0.7},
         "elu": {"alpha": 0.3}, "celu": {"alpha": 2.5}, "gelu": {"approximate": "tanh"}, "swish": {"beta": 7.3},
         "softplus": {"beta": 0.4}, "hard_tanh": {"min_val": -0.35, "max_val": 2.2}, "squareplus": {"b": 0.0},
         "soft_shrink": {"lambd": 1.3}, "hard_shrink": {"lambd": 0.3}, "threshold": {"threshold": -1.7, "value": 2.0},
         "star_relu": {"scale": 1.0, "bias": 0.0}}


def _quad_moment(name: str, params: dict) -> float:
    from scipy.integrate import quad

    act = ACTIVATIONS[name]
    full = {**act.defaults(), **params}
    kinks = sorted({k for k in act.breakpoints(**full) if -30 < k < 30})

    def integrand(z: float) -> float:
        return float(act.fn(np.array([z]), **full)[0]) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    value, _ = quad(integrand, -30.0, 30.0, points=kinks or None, epsabs=0.0, epsrel=1e-13, limit=2000)
    return value


# ----------------------------------------------------------------------------- against scipy


def test_the_table_is_large_and_self_consistent() -> None:
    assert len(BUILTIN) >= 30
    assert set(BUILTIN) <= set(ACTIVATIONS)
    for alias, name in ALIASES.items():
        assert alias not in ACTIVATIONS and name in ACTIVATIONS


@pytest.mark.parametrize("name", BUILTIN)
def test_gain_matches_scipy_quad(name: str) -> None:
    params = REQUIRED.get(name, {})
    gain = activation_gain(name, **params)
    assert abs(gain * gain * _quad_moment(name, params) - 1.0) <= 1e-12


@pytest.mark.parametrize("name", sorted(OTHER))
def test_gain_with_parameters_matches_scipy_quad(name: str) -> None:
    gain = activation_gain(name, **OTHER[name])
    assert abs(gain / activation_gain(name, **REQUIRED.get(name, {})) - 1) > 1e-6  # the parameter counts
    assert abs(gain * gain * _quad_moment(name, OTHER[name]) - 1.0) <= 1e-12


# ----------------------------------------------------------------------------- closed forms and required values

PHI = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
Q = lambda x: 0.5 * math.erfc(x / SQRT2)  # noqa: E731  P(z > x)

#: E[f(z)²] in closed form.
CLOSED = [
    ("linear", {}, 1.0),
    ("relu", {}, 0.5),
    ("abs", {}, 1.0),
    ("relu_squared", {}, 1.5),  # E[relu(z)^4] = 3/2
    ("squareplus", {}, 1.5),  # ((z + sqrt(z² + 4))/2)² has mean (2 + 4)/4
    ("star_relu", {"scale": 2.0, "bias": -1.0}, 4 * 1.5 - 2 * 2 * 0.5 + 1),
    ("sin", {}, (1 - math.exp(-2)) / 2),
    ("cos", {}, (1 + math.exp(-2)) / 2),
    ("erf", {}, 2 / math.pi * math.asin(2 / 3)),
    ("exponential", {}, math.e**2),
    ("hard_shrink", {"lambd": 0.3}, 2 * (0.3 * PHI(0.3) + Q(0.3))),
    ("threshold", {"threshold": 0.0, "value": 0.0}, 0.5),
    ("relu6", {}, 0.5 - (6 * PHI(6) + Q(6)) + 36 * Q(6)),
    ("hard_tanh", {}, 1 - 2 * (Q(1) + PHI(1)) + 2 * Q(1)),  # E[z²; |z|<1] + P(|z|>1)
]


@pytest.mark.parametrize(("name", "params", "moment"), CLOSED, ids=[c[0] for c in CLOSED])
def test_closed_forms(name: str, params: dict, moment: float) -> None:
    assert activation_gain(name, **params) == pytest.approx(1 / math.sqrt(moment), rel=1e-12, abs=0)


REQUIRED_VALUES = {"gelu": 1.5335304412, "silu": 1.6765324703, "mish": 1.4868475813, "tanh": 1.5925374197,
                   "selu": 1.0, "relu": SQRT2}


@pytest.mark.parametrize("name", sorted(REQUIRED_VALUES))
def test_required_values_through_resolve(name: str) -> None:
    spec = {"scheme": "glorot", "distribution": "normal", "gain": {"activation": name}}
    std = initspec.resolve(spec, (128, 256), layout="torch").std
    assert std == pytest.approx(REQUIRED_VALUES[name] * math.sqrt(2 / 384), rel=1e-9, abs=0)


def test_relu_and_selu_exactly() -> None:
    assert abs(activation_gain("relu") - SQRT2) <= 1e-12 * SQRT2
    assert abs(activation_gain("selu") - 1.0) <= 1e-12  # Klambauer et al. 2017: the constants make E[selu(z)²] = 1


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 0.5, 1.0, 3.0, -0.7])
def test_leaky_relu_slope(slope: float) -> None:
    exact = math.sqrt(2 / (1 + slope * slope))
    assert activation_gain("leaky_relu", negative_slope=slope) == pytest.approx(exact, rel=1e-12, abs=0)
    assert activation_gain("prelu", negative_slope=slope) == pytest.approx(exact, rel=1e-12, abs=0)


def test_parameters_that_coincide() -> None:
    assert activation_gain("gelu", approximate="tanh") == activation_gain("gelu_tanh")
    assert activation_gain("swish", beta=1.0) == activation_gain("silu")
    assert activation_gain("swish", beta=1.702) == pytest.approx(activation_gain("quick_gelu"), rel=1e-14)
    assert activation_gain("rrelu", lower=0.1, upper=0.3) == pytest.approx(
        activation_gain("leaky_relu", negative_slope=0.2), rel=1e-14)
    assert activation_gain("celu", alpha=1.0) == pytest.approx(activation_gain("elu"), rel=1e-14)
    assert activation_gain("squareplus", b=0.0) == pytest.approx(SQRT2, rel=1e-12)  # b = 0 is relu
    assert activation_gain("hardswish") == activation_gain("hard_swish")  # an alias
    # E[f(z)²] = E[f(-z)²]: softplus(-x) = -log_sigmoid(x)
    assert activation_gain("softplus") == pytest.approx(activation_gain("log_sigmoid"), rel=1e-14)


def test_classic_names_are_unchanged() -> None:
    assert GAIN_TABLE["tanh"] == 5 / 3 and GAIN_TABLE["selu"] == 0.75
    for spec in ({"scheme": "glorot", "distribution": "normal", "gain": "tanh"},
                 {"scheme": "he", "distribution": "normal", "mode": "fan_avg", "nonlinearity": "tanh"}):
        assert initspec.resolve(spec, (128, 256), layout="torch").std == pytest.approx(5 / 3 * math.sqrt(2 / 384))
    he = {"scheme": "he", "distribution": "normal", "nonlinearity": {"activation": "tanh"}}
    assert initspec.resolve(he, (128, 256), layout="torch").std == pytest.approx(1.5925374197 / 16, rel=1e-9)
    he_selu = {"scheme": "he", "distribution": "normal", "nonlinearity": {"activation": "selu"}}
    lecun = {"scheme": "lecun", "distribution": "normal"}
    assert initspec.resolve(he_selu, (64, 32), layout="torch").std == pytest.approx(
        initspec.resolve(lecun, (64, 32), layout="torch").std, rel=1e-12)


@pytest.mark.parametrize("scheme", ["orthogonal", "identity", "delta_orthogonal"])
def test_every_gain_field_takes_an_activation(scheme: str) -> None:
    shape = (3, 3, 16, 32) if scheme == "delta_orthogonal" else (32, 32)
    d = initspec.resolve({"scheme": scheme, "gain": {"activation": "elu", "alpha": 0.5}}, shape, layout="jax")
    assert d.gain == activation_gain("elu", alpha=0.5)


# ----------------------------------------------------------------------------- the frameworks' definitions

X = np.linspace(-9.0, 9.0, 3601)  # includes every kink of the defaults (step 0.005)

#: name -> (torch.nn.functional call on a float64 tensor, our parameters).
TORCH = {
    "relu": (lambda F, t: F.relu(t), {}), "leaky_relu": (lambda F, t: F.leaky_relu(t), {}),
    "prelu": (lambda F, t: F.prelu(t, t.new_tensor([0.25])), {}),
    "rrelu": (lambda F, t: F.rrelu(t, training=False), {}), "relu6": (lambda F, t: F.relu6(t), {}),
    "elu": (lambda F, t: F.elu(t, alpha=0.7), {"alpha": 0.7}), "celu": (lambda F, t: F.celu(t, alpha=2.0), {"alpha": 2.0}),
    "selu": (lambda F, t: F.selu(t), {}), "gelu": (lambda F, t: F.gelu(t), {}),
    "gelu_tanh": (lambda F, t: F.gelu(t, approximate="tanh"), {}), "silu": (lambda F, t: F.silu(t), {}),
    "mish": (lambda F, t: F.mish(t), {}), "softplus": (lambda F, t: F.softplus(t, beta=2.0), {"beta": 2.0}),
    "sigmoid": (lambda F, t: F.sigmoid(t), {}), "hard_sigmoid": (lambda F, t: F.hardsigmoid(t), {}),
    "tanh": (lambda F, t: F.tanh(t), {}),
    "hard_tanh": (lambda F, t: F.hardtanh(t, -0.5, 2.0), {"min_val": -0.5, "max_val": 2.0}),
    "hard_swish": (lambda F, t: F.hardswish(t), {}), "softsign": (lambda F, t: F.softsign(t), {}),
    "log_sigmoid": (lambda F, t: F.logsigmoid(t), {}), "tanh_shrink": (lambda F, t: F.tanhshrink(t), {}),
    "soft_shrink": (lambda F, t: F.softshrink(t, 0.7), {"lambd": 0.7}),
    "hard_shrink": (lambda F, t: F.hardshrink(t, 0.7), {"lambd": 0.7}),
    "threshold": (lambda F, t: F.threshold(t, 0.4, -2.0), {"threshold": 0.4, "value": -2.0}),
}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_definition_matches_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    call, params = TORCH[name]
    act = ACTIVATIONS[name]
    expected = call(torch.nn.functional, torch.from_numpy(X.copy())).numpy()
    np.testing.assert_allclose(act.fn(X, **{**act.defaults(), **params}), expected, rtol=1e-12, atol=1e-14)


JAX = ["relu", "relu6", "sigmoid", "softplus", "sparse_plus", "sparse_sigmoid", "softsign", "silu", "mish",
       "log_sigmoid", "leaky_relu", "hard_sigmoid", "hard_silu", "hard_tanh", "elu", "celu", "selu", "squareplus",
       "gelu", "identity"]


@pytest.mark.parametrize("name", JAX)
def test_definition_matches_jax(name: str) -> None:
    """jax.nn in float32 (enabling x64 would change the process for every other test)."""
    jax = pytest.importorskip("jax")
    act = ACTIVATIONS[ALIASES.get(name, name)]
    params = act.defaults()
    special = {"gelu": lambda x: jax.nn.gelu(x, approximate=False), "softsign": jax.nn.soft_sign}
    fn = special[name] if name in special else getattr(jax.nn, name)
    got = np.asarray(fn(X.astype(np.float32)), dtype=np.float64)
    np.testing.assert_allclose(act.fn(X.astype(np.float32).astype(np.float64), **params), got, rtol=2e-6, atol=2e-6)
    if name == "gelu":  # jax's default is the tanh form
        np.testing.assert_allclose(ACTIVATIONS["gelu_tanh"].fn(X), np.asarray(jax.nn.gelu(X.astype(np.float32))),
                                   rtol=2e-6, atol=2e-6)


# ----------------------------------------------------------------------------- user functions


def test_user_function_equals_the_builtin() -> None:
    assert activation_gain(np.tanh) == activation_gain("tanh")
    relu6 = activation_gain(lambda x: np.clip(x, 0.0, 6.0), kinks=(0.0, 6.0))
    assert relu6 == activation_gain("relu6")
    elu = activation_gain(lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), kinks=(0,),
                          alpha=0.4)
    assert elu == pytest.approx(activation_gain("elu", alpha=0.4), rel=1e-14)


def test_undeclared_jump_still_converges() -> None:
    """A jump missing from kinks is found by halving panels (slower, still accurate)."""
    closed = 1 / math.sqrt(2 * (0.3 * PHI(0.3) + Q(0.3)))
    assert activation_gain(lambda x: np.where(np.abs(x) > 0.3, x, 0.0)) == pytest.approx(closed, rel=1e-10)


def test_register_activation_is_usable_in_specs() -> None:
    act = register_activation("test_scaled_tanh", lambda x, a: a * np.tanh(x), params={"a": 1.7159},
                              formula="a·tanh(x)")
    assert act.name in ACTIVATIONS and act.name not in BUILTIN
    assert activation_gain("test_scaled_tanh") == pytest.approx(activation_gain("tanh") / 1.7159, rel=1e-14)
    assert activation_gain("test_scaled_tanh", a=2.0) == pytest.approx(activation_gain("tanh") / 2, rel=1e-14)
    spec = {"scheme": "glorot", "distribution": "normal", "gain": {"activation": "test_scaled_tanh", "a": 2.0}}
    assert initspec.resolve(spec, (4, 4), layout="torch").derivation.gain == pytest.approx(
        activation_gain("tanh") / 2, rel=1e-14)
    with pytest.raises(ValueError, match="already exists"):
        register_activation("test_scaled_tanh", np.tanh)
    with pytest.raises(ValueError, match="already exists"):
        register_activation("hardswish", np.tanh)  # an alias is taken too
    with pytest.raises(SpecError) as info:  # a bad function fails when registered, and is not kept
        register_activation("test_blows_up", lambda x: np.exp(x * x))
    assert info.value.codes == ["bad_activation"] and "test_blows_up" not in ACTIVATIONS


# ----------------------------------------------------------------------------- errors


def _error(fn) -> SpecError:
    with pytest.raises(SpecError) as info:
        fn()
    return info.value


@pytest.mark.parametrize(("typo", "meant"), [("gelu_tanhh", "gelu_tanh"), ("sillu", "silu"), ("hardswsh", "hardswish")])
def test_misspelt_name(typo: str, meant: str) -> None:
    err = _error(lambda: activation_gain(typo)).errors[0]
    assert (err.code, err.loc, err.value) == ("unknown_activation", ("activation",), typo)
    assert f"did you mean '{meant}'?" in err.message
    spec = {"scheme": "glorot", "distribution": "normal", "gain": {"activation": typo}}
    err = _error(lambda: initspec.parse(spec)).errors[0]
    assert (err.code, err.loc, err.value) == ("unknown_activation", ("gain", "activation"), typo)
    assert f"did you mean '{meant}'?" in err.message


BAD_PARAMS = [
    ("elu", {"alpha": -1.0}, "alpha", "> 0"),
    ("elu", {"alpah": 1.0}, "alpah", "did you mean 'alpha'?; allowed: alpha"),
    ("relu", {"alpha": 1.0}, "alpha", "relu takes no parameters"),
    ("gelu", {"approximate": "tanhh"}, "approximate", "did you mean 'tanh'?"),
    ("leaky_relu", {"negative_slope": True}, "negative_slope", "must be a number"),
    ("leaky_relu", {"negative_slope": float("nan")}, "negative_slope", "finite"),
    ("softplus", {"beta": 0}, "beta", "> 0"),
    ("hard_tanh", {"min_val": 2.0}, "min_val", "min_val must be less than max_val"),
    ("threshold", {"value": 1.0}, "threshold", "required"),
]


@pytest.mark.parametrize(("name", "params", "key", "text"), BAD_PARAMS, ids=[f"{b[0]}-{b[2]}" for b in BAD_PARAMS])
def test_bad_parameter(name: str, params: dict, key: str, text: str) -> None:
    err = _error(lambda: activation_gain(name, **params)).errors[0]
    assert (err.code, err.loc) == ("bad_activation_param", (key,)) and text in err.message
    spec = {"scheme": "he", "distribution": "normal", "nonlinearity": {"activation": name, **params}}
    err = _error(lambda: initspec.parse(spec)).errors[0]
    assert (err.code, err.loc) == ("bad_activation_param", ("nonlinearity", key)) and text in err.message


@pytest.mark.parametrize(("fn", "text"), [
    (lambda x: x / np.where(x > 1, 0.0, 1.0), "not finite"),
    (lambda x: np.exp(x * x), "not finite"),
    (lambda x: np.exp(x * x / 3), "does not converge"),
    (lambda x: np.zeros_like(x), "E[f(z)²] = 0"),
    (lambda x: np.where(x == 0.5, 1.0, 0.0), "E[f(z)²] = 0"),  # non-zero on a null set only
    (lambda x: x[:3], "vectorised"),
], ids=["inf", "overflow", "divergent", "zero", "zero-masked", "not-vectorised"])
def test_bad_user_function(fn, text: str) -> None:
    err = _error(lambda: activation_gain(fn)).errors[0]
    assert err.code == "bad_activation" and text in err.message


def test_kinks_only_with_a_function() -> None:
    with pytest.raises(TypeError, match="kinks"):
        activation_gain("relu", kinks=(0.0,))


def test_classic_name_that_is_an_activation_points_to_the_mapping() -> None:
    err = _error(lambda: initspec.parse({"scheme": "glorot", "distribution": "normal", "gain": "gelu"})).errors[0]
    assert err.code == "unknown_nonlinearity" and "{activation: gelu}" in err.message and "selu" not in err.message[
        :err.message.index("known:")]
    err = _error(lambda: initspec.parse({"scheme": "he", "distribution": "normal", "nonlinearity": "mish"})).errors[0]
    assert err.code == "invalid_choice" and "{activation: mish}" in err.message
    err = _error(lambda: initspec.parse({"scheme": "he", "distribution": "normal", "nonlinearity": "tanhh"})).errors[0]
    assert err.code == "invalid_choice" and "did you mean 'tanh'?" in err.message


def test_errors_in_files_are_located() -> None:
    text = "format_version: 1\nscheme: glorot\ndistribution: normal\ngain:\n  activation: elu\n  alpha: -2\n"
    err = _error(lambda: initspec.loads(text)).errors[0]
    assert (err.code, err.loc, err.line, err.value) == ("bad_activation_param", ("gain", "alpha"), 6, -2)


# ----------------------------------------------------------------------------- specs, files, schema


def test_yaml_round_trip_keeps_the_mapping() -> None:
    text = "format_version: 1\nscheme: glorot\ndistribution: normal\ngain:\n  activation: gelu\n"
    spec = initspec.loads(text)
    assert spec.to_dict()["gain"] == {"activation": "gelu"}  # defaults are not written in
    assert initspec.dumps(spec) == text and initspec.loads(initspec.dumps(spec)) == spec
    he = initspec.parse({"scheme": "kaiming", "distribution": "normal",
                         "nonlinearity": {"activation": "hardswish", }})
    assert he.to_dict()["nonlinearity"] == {"activation": "hard_swish"}  # aliases are canonicalised
    again = initspec.loads(initspec.dumps(initspec.parse({"scheme": "orthogonal",
                                                           "gain": {"activation": "elu", "alpha": 0.5}})))
    assert again.gain == ActivationGain(activation="elu", alpha=0.5) and gain_value(again.gain) == activation_gain(
        "elu", alpha=0.5)


def test_json_schema_describes_activation_gains() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "spec.schema.json").read_text()))

    def ok(spec: dict) -> bool:
        return validator.is_valid({"format_version": 1, **spec})

    glorot = {"scheme": "glorot", "distribution": "normal"}
    assert ok({**glorot, "gain": {"activation": "gelu"}}) and ok({**glorot, "gain": "tanh"})
    assert ok({**glorot, "gain": {"activation": "gelu", "approximate": "tanh"}})
    assert ok({"scheme": "he", "distribution": "normal", "nonlinearity": {"activation": "elu", "alpha": 0.5}})
    assert ok({"scheme": "orthogonal", "gain": {"activation": "threshold", "threshold": 0, "value": 0}})
    for bad in ({"activation": "sillu"}, {"activation": "elu", "alpha": -1}, {"activation": "elu", "alpah": 1},
                {"activation": "threshold"}, {"activation": "gelu", "approximate": "tanhh"}):
        assert not ok({**glorot, "gain": bad}), bad
        with pytest.raises(SpecError):
            initspec.parse({**glorot, "gain": bad})
    defs = json.loads((ROOT / "schemas" / "spec.schema.json").read_text())["$defs"]
    assert set(defs["ActivationGain"]["properties"]["activation"]["enum"]) == set(BUILTIN) | set(ALIASES)
