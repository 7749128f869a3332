"""The spec language: canonical forms, strictness and error messages."""

from __future__ import annotations

import math

import pytest

import initspec
from initspec import SpecError
from initspec.parsing import SCHEMES, scheme_names


def codes(exc: SpecError) -> list[str]:
    return [e.code for e in exc.errors]


def bad(obj) -> SpecError:
    with pytest.raises(SpecError) as e:
        initspec.parse(obj)
    assert isinstance(e.value, ValueError)
    return e.value


def test_aliases_are_canonicalised():
    s = initspec.parse({"scheme": "xavier", "distribution": "uniform"})
    assert s.scheme == "glorot" and s.to_dict()["scheme"] == "glorot"
    k = initspec.parse({"scheme": "kaiming", "distribution": "normal", "mode": "fan_out"})
    assert k.scheme == "he" and k.to_dict() == {"scheme": "he", "distribution": "normal", "mode": "fan_out",
                                                 "nonlinearity": "relu"}


def test_canonical_form_fills_defaults_and_round_trips():
    t = initspec.parse({"scheme": "truncated_normal", "std": 0.02})
    assert t.to_dict() == {"scheme": "truncated_normal", "mean": 0.0, "std": 0.02, "low": -2.0, "high": 2.0,
                           "bounds": "std", "std_of": "parent"}
    for name in SCHEMES:
        # every canonical form parses back to an equal model
        pass
    for obj in ({"scheme": "he", "distribution": "uniform"}, {"scheme": "keras.he_normal"},
                {"scheme": "glorot", "distribution": "normal", "gain": "tanh"},
                {"scheme": "glorot", "distribution": "normal", "gain": {"nonlinearity": "leaky_relu",
                                                                         "negative_slope": 0.1}},
                {"scheme": "variance_scaling", "mode": "fan_avg", "distribution": "uniform",
                 "axes": {"in_axes": [0], "out_axes": [1, 2]}}):
        s = initspec.parse(obj)
        assert initspec.parse(s.to_dict()) == s
        assert hash(s) == hash(initspec.parse(s.to_dict()))


def test_models_are_frozen():
    s = initspec.parse({"scheme": "normal", "std": 1.0})
    with pytest.raises(Exception):
        s.std = 2.0  # type: ignore[misc]
    assert s.std == 1.0


def test_presets_expand_to_plain_specs():
    s = initspec.parse({"scheme": "torch.default_weight"})
    plain = initspec.expand(s)
    assert plain.to_dict() == {"scheme": "he", "distribution": "uniform", "mode": "fan_in",
                               "nonlinearity": "leaky_relu", "negative_slope": math.sqrt(5)}
    assert initspec.expand(initspec.parse({"scheme": "keras.he_normal"})).to_dict()["distribution"] == \
        "truncated_normal"
    assert initspec.expand(initspec.parse({"scheme": "torch.kaiming_normal"})).to_dict()["distribution"] == "normal"
    # torch.kaiming_* pass `a` only to leaky_relu, as torch.nn.init.calculate_gain does
    e = initspec.expand(initspec.parse({"scheme": "torch.kaiming_uniform", "a": 3.0, "nonlinearity": "tanh"}))
    assert e.to_dict()["nonlinearity"] == "tanh" and "negative_slope" not in e.to_dict()


@pytest.mark.parametrize("value", [True, False, "0.5", None, [1.0], float("nan"), float("inf"), -float("inf")])
def test_numbers_are_strict(value):
    err = bad({"scheme": "normal", "std": value})
    assert err.errors[0].loc == ("std",)
    if isinstance(value, bool):
        assert codes(err) == ["bool_as_number"]
    elif isinstance(value, float):
        assert codes(err) == ["non_finite"]


def test_ints_are_accepted_as_reals():
    assert initspec.parse({"scheme": "normal", "std": 2}).std == 2.0


@pytest.mark.parametrize("obj,code,loc,fragment", [
    ({"scheme": "he_normall"}, "unknown_scheme", ("scheme",), "did you mean"),
    ({"scheme": "glorot_uniform"}, "unknown_scheme", ("scheme",), "keras.glorot_uniform"),
    ({"distribution": "normal"}, "missing_scheme", (), "scheme"),
    ({"scheme": "he", "distribution": "normall"}, "invalid_choice", ("distribution",), "did you mean 'normal'"),
    ({"scheme": "he", "distribution": "normal", "mode": "fan_inn"}, "invalid_choice", ("mode",), "'fan_in'"),
    ({"scheme": "he", "distribution": "normal", "stdd": 1}, "unknown_field", ("stdd",), "allowed"),
    ({"scheme": "normal", "sdt": 1}, "unknown_field", ("sdt",), "did you mean 'std'"),
    ({"scheme": "normal"}, "missing_field", ("std",), "required"),
    ({"scheme": "normal", "std": -1}, "out_of_range", ("std",), "greater than 0"),
    ({"scheme": "uniform", "low": 1, "high": 0}, "bad_interval", ("high",), "greater than low"),
    ({"scheme": "truncated_normal", "std": 1, "low": -1, "high": 1}, "missing_bounds_unit", ("bounds",),
     "bounds: absolute"),
    ({"scheme": "truncated_normal", "std": 1, "low": -1}, "missing_bound", ("high",), "both"),
    ({"scheme": "he", "distribution": "normal", "nonlinearity": "leaky_relu"}, "missing_slope", ("negative_slope",),
     "negative_slope"),
    ({"scheme": "he", "distribution": "normal", "negative_slope": 0.1}, "unused_field", ("negative_slope",),
     "leaky_relu"),
    ({"scheme": "glorot", "distribution": "normal", "gain": "tanhh"}, "unknown_nonlinearity", ("gain",),
     "did you mean 'tanh'"),
    ({"scheme": "glorot", "distribution": "normal", "gain": "leaky_relu"}, "missing_slope", ("gain",), "slope"),
    ({"scheme": "glorot", "distribution": "normal", "gain": True}, "bool_as_number", ("gain",), "boolean"),
    ({"scheme": "glorot", "distribution": "normal", "gain": -1.0}, "out_of_range", ("gain",), ""),
    ({"scheme": "sparse", "sparsity": 1.0}, "out_of_range", ("sparsity",), "less than 1"),
    ({"scheme": "dirac", "groups": 0}, "out_of_range", ("groups",), ""),
    ({"scheme": "dirac", "groups": 1.5}, "wrong_type", ("groups",), "integer"),
    ({"scheme": "variance_scaling", "mode": "fan_in", "distribution": "uniform",
      "axes": {"in_axes": [0.5], "out_axes": [0]}}, "wrong_type", ("axes", "in_axes", 0), "integer"),
])
def test_errors(obj, code, loc, fragment):
    err = bad(obj)
    assert code in codes(err), err
    detail = next(e for e in err.errors if e.code == code)
    assert detail.loc == loc
    assert fragment in detail.message or fragment in err.render()


def test_error_rendering_format():
    err = bad({"scheme": "he", "distribution": "normall"})
    line = err.errors[0].render()
    assert line.startswith("distribution: unknown value 'normall'")
    assert line.endswith("(got 'normall') [invalid_choice]")


def test_many_errors_are_capped():
    from initspec.errors import ErrorDetail

    e = SpecError([ErrorDetail("x", f"problem {i}", loc=("f", i)) for i in range(45)])
    text = str(e)
    assert "problem 19" in text and "problem 20" not in text and text.rstrip().endswith("and 25 more")


def test_bare_string_and_wrong_types():
    assert codes(bad("he")) == ["wrong_type"]
    assert codes(bad(["he"])) == ["wrong_type"]
    assert "keras.glorot_uniform" in str(bad("glorot_uniform"))


def test_scheme_names_cover_aliases_and_presets():
    names = scheme_names()
    for n in ("xavier", "kaiming", "keras.he_normal", "torch.kaiming_uniform", "flax.lecun_normal", "flax.embed",
              "torch.default_bias", "jax.orthogonal", "delta_orthogonal"):
        assert n in names


def test_layer_dependent_presets_need_their_field_outside_plans():
    with pytest.raises(initspec.ShapeError) as e:
        initspec.resolve({"scheme": "torch.default_bias"}, (8,))
    assert e.value.errors[0].code == "needs_layer" and "fan_in" in str(e.value)


def test_format_version_in_a_mapping_is_checked():
    assert initspec.parse({"format_version": 1, "scheme": "zeros"}).scheme == "zeros"
    assert codes(bad({"format_version": 99, "scheme": "zeros"})) == ["format_version_newer"]
