"""The conformance case table: coverage, shapes, seeds, pooling and the Bonferroni count."""

from __future__ import annotations

import math
import zlib
from collections import Counter

import pytest

from initspec import distributions as D
from initspec.spec import PLAIN_SCHEMES
from initspec.testing import cases as C
from initspec.testing.stats import HAAR_MIN_DIAGONAL, MAX_ASSERTIONS, N_SAMPLES

LAYOUTS = ("torch", "keras", "jax")


def test_every_case_resolves_in_every_native_layout() -> None:
    for case in C.all_cases():
        for layout in LAYOUTS:
            dist = case.resolve(layout)
            assert isinstance(dist, D.Distribution), case.id


def test_table_covers_every_plain_scheme_mode_and_distribution() -> None:
    used = {dict(s.spec)["scheme"] for s in C.SCHEMES.values()}
    assert set(PLAIN_SCHEMES) <= used | {"variance_scaling"}, set(PLAIN_SCHEMES) - used
    vs = {(dict(s.spec)["mode"], dict(s.spec)["distribution"]) for s in C.SCHEMES.values()
          if dict(s.spec)["scheme"] == "variance_scaling"}
    assert vs == {(m, d) for m in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
                  for d in ("uniform", "normal", "truncated_normal")}
    kinds = {type(C.Case(s, s_.families[0], "float32").resolve("jax")).__name__ for s, s_ in C.SCHEMES.items()}
    assert kinds == {"Constant", "Uniform", "Normal", "TruncatedNormal", "Orthogonal", "Identity", "Dirac",
                     "DeltaOrthogonal", "Sparse"}


def test_shape_families_are_rendered_in_each_native_layout() -> None:
    f = C.FAMILIES
    assert f["conv2d"].shape("torch") == (64, 32, 3, 3)
    assert f["conv2d"].shape("keras") == f["conv2d"].shape("jax") == (3, 3, 32, 64)
    assert f["conv_transpose2d"].shape("torch") == (64, 32, 4, 4)  # (in, out, *k)
    assert f["conv_transpose2d"].shape("keras") == (4, 4, 32, 64)  # (*k, out, in)
    assert f["conv_transpose2d"].shape("jax") == (4, 4, 64, 32)  # flax: (*k, in, out)
    assert f["wide"].shape("torch") == (512, 128) and f["wide"].shape("jax") == (128, 512)
    assert f["bias"].shape("torch") == (4096,)
    assert {fam.name for fam in f.values()} >= {"square", "wide", "tall", "conv1d", "conv2d", "conv3d",
                                                "conv_transpose2d", "bias", "large"}
    # the fans the families are meant to exercise
    he = C.Case("he_normal", "wide", "float32")
    assert he.resolve("torch").derivation.fans.fan_in == he.resolve("jax").derivation.fans.fan_in == 128
    assert C.Case("he_normal", "large", "float32").resolve("torch").derivation.fans.fan_in == 8192


def test_case_ids_are_unique_readable_and_round_trip() -> None:
    ids = [c.id for c in C.all_cases()]
    assert len(ids) == len(set(ids))
    assert "he_normal-conv2d-float16" in ids
    for cid in ids[::37]:
        assert C.case_by_id(cid).id == cid
    with pytest.raises(KeyError):
        C.case_by_id("he_normal-conv9d-float16")


def test_covering_table_keeps_every_pair() -> None:
    full, cover = C.all_cases(), C.cases_for("covering")
    assert len(cover) < len(full) / 3
    assert {(c.scheme, c.family) for c in cover} == {(c.scheme, c.family) for c in full}
    assert {(c.family, c.dtype) for c in cover} == {(c.family, c.dtype) for c in full}
    for s in C.SCHEMES.values():
        if len(s.families) >= len(C.DTYPES):
            assert {c.dtype for c in cover if c.scheme == s.label and not c.complex} == set(C.DTYPES), s.label
    assert C.cases_for("full") == full
    # the complex cases run whole in both tables: every (scheme, family) in complex64 and complex128
    complex_ = {(c.scheme, c.family, c.dtype) for c in cover if c.complex}
    assert complex_ == {(s, f, d) for s, f in C.COMPLEX_CASES for d in C.COMPLEX_DTYPES}


def test_seeds_come_from_crc32_of_the_case_id_xor_salt() -> None:
    seeds = C.draw_seeds("he_normal-conv2d-float16", 3)
    assert seeds[0] == zlib.crc32(b"he_normal-conv2d-float16") & C.SEED_MASK
    assert seeds == C.draw_seeds("he_normal-conv2d-float16", 3)  # deterministic
    assert len(set(seeds)) == 3 and all(0 <= s <= C.SEED_MASK for s in seeds)
    salted = C.draw_seeds("he_normal-conv2d-float16", 3, salt=12345)
    assert salted[0] == (zlib.crc32(b"he_normal-conv2d-float16") ^ 12345) & C.SEED_MASK
    assert not set(salted) & set(seeds)


def test_draw_count_pools_enough_at_the_real_shape() -> None:
    for case in C.all_cases():
        if case.dtype != "float32":
            continue
        for layout in LAYOUTS:
            dist, shape = case.resolve(layout), case.shape(layout)
            r = C.draw_count(dist, shape)
            if dist.random:
                assert r * math.prod(shape) >= N_SAMPLES, case.id
            block = dist.block if isinstance(dist, D.DeltaOrthogonal) else dist
            if isinstance(block, D.Orthogonal):
                assert r * min(block.rows, block.cols) >= HAAR_MIN_DIAGONAL, case.id
    assert C.draw_count(C.Case("normal", "bias", "float32").resolve("torch"), (4096,)) == 16
    assert C.draw_count(C.Case("orthogonal", "large", "float32").resolve("jax"), (8192, 8)) == HAAR_MIN_DIAGONAL // 8


def test_planned_p_values_per_family() -> None:
    count = {k: C.planned_p_values(C.Case(s, f, "float32").resolve("torch")) for k, (s, f) in {
        "normal": ("he_normal", "square"), "orthogonal": ("orthogonal", "square"), "sparse": ("sparse", "tall"),
        "delta": ("delta_orthogonal", "conv2d"), "zeros": ("zeros", "bias"), "dirac": ("dirac", "conv2d")}.items()}
    assert count == {"normal": 3, "orthogonal": 4, "sparse": 3, "delta": 1, "zeros": 0, "dirac": 0}
    # the bound-mass test is planned where the end values hold enough mass: half precision
    uniform = C.Case("uniform", "square", "bfloat16")
    assert C.planned_for(uniform, "torch") == 4
    assert C.planned_for(C.Case("uniform", "square", "float32"), "torch") == 3


def test_default_suite_fits_the_bonferroni_budget() -> None:
    """The default run (numpy/torch full, keras/jax covering, every device) stays within
    MAX_ASSERTIONS - also with one CUDA device for each of torch, keras and jax."""
    per_backend = Counter()
    for name, coverage, layout in (("numpy", "full", "jax"), ("torch", "full", "torch"),
                                   ("keras", "covering", "keras"), ("jax", "covering", "jax")):
        per_backend[name] = sum(C.planned_for(c, layout) for c in C.cases_for(coverage))
    cpu = sum(per_backend.values())
    with_cuda = cpu + per_backend["torch"] + per_backend["keras"] + per_backend["jax"]
    extra = 2 * 1 + 8 * 3  # independence and agreement tests per backend x device
    assert with_cuda + 7 * extra <= MAX_ASSERTIONS, (cpu, with_cuda)
