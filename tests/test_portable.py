"""Portable seeding (initspec.portable): values that depend only on (seed, path, element,
law, dtype) - whatever the slicing, chunking or thread count - drawn from the right law."""

from __future__ import annotations

import hashlib
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from initspec import distributions as D
from initspec import portable as P
from initspec.errors import SpecError

scipy_special = pytest.importorskip("scipy.special")
from initspec.testing import check_samples

TRUNC2 = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]
HE = math.sqrt(2.0 / 512) / TRUNC2  # He's corrected parent std, fan_in 512

#: Laws of every kind, each at a shape it can take (structured laws carry theirs).
LAWS: dict[str, tuple[D.Distribution, tuple[int, ...]]] = {
    "normal": (D.Normal(loc=0.1, scale=0.02), (64, 48)),
    "uniform": (D.Uniform(low=-0.3, high=0.1), (64, 48)),
    "truncated_he": (D.TruncatedNormal(loc=0.0, scale=HE, low=-2 * HE, high=2 * HE), (64, 48)),
    "truncated_offset": (D.TruncatedNormal(loc=0.1, scale=0.05, low=0.12, high=0.2), (64, 48)),
    "sparse": (D.Sparse(shape=(64, 48), scale=0.02, sparsity=0.25, zeros_per_column=16, out_axis=0, in_axis=1),
               (64, 48)),
    "sparse_rows": (D.Sparse(shape=(48, 64), scale=0.02, sparsity=0.1, zeros_per_column=7, out_axis=1, in_axis=0),
                    (48, 64)),
    "orthogonal": (D.Orthogonal(shape=(64, 48), gain=1.5, out_axes=(1,)), (64, 48)),
    "orthogonal_conv": (D.Orthogonal(shape=(3, 3, 8, 16), gain=1.0, out_axes=(3,)), (3, 3, 8, 16)),
    "delta_orthogonal": (D.DeltaOrthogonal(shape=(3, 3, 8, 16), gain=1.0, in_axis=2, out_axis=3,
                                           spatial_axes=(0, 1)), (3, 3, 8, 16)),
    "identity": (D.Identity(shape=(40, 48), gain=2.0), (40, 48)),
    "dirac": (D.Dirac(shape=(16, 8, 3, 3), groups=2, out_axis=0, in_axis=1, spatial_axes=(2, 3)), (16, 8, 3, 3)),
    "constant": (D.Constant(value=0.25), (64, 48)),
}
DTYPES = ["float32", "float64", "float16", "bfloat16"]


def _draw(name: str, dtype: str = "float32", **kw: object) -> np.ndarray:
    law, shape = LAWS[name]
    kw.setdefault("seed", 7)
    kw.setdefault("path", f"model.{name}.weight")
    return P.draw(law, shape, dtype, **kw)  # type: ignore[arg-type]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _shards(shape: tuple[int, ...], grid: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Block shards of ``shape`` on a ``grid`` (uneven sizes allowed, as torch.chunk)."""
    cuts = [np.linspace(0, n, g + 1).astype(int) for n, g in zip(shape, grid)]
    out: list[tuple[slice, ...]] = [()]
    for c in cuts:
        out = [s + (slice(int(a), int(b)),) for s in out for a, b in itertools.pairwise(c)]
    return out


def _assemble(name: str, dtype: str, shards: list[tuple[slice, ...]]) -> np.ndarray:
    shape = LAWS[name][1]
    full = np.zeros(shape, dtype=np.dtype(P.np_dtype(dtype)))
    for index in shards:
        full[index] = _draw(name, dtype, index=index)
    return full


# ----------------------------------------------------------------------------- determinism and sharding


@pytest.mark.parametrize("name", LAWS)
def test_same_inputs_give_the_same_bytes(name: str) -> None:
    assert _same(_draw(name), _draw(name))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LAWS)
def test_any_sharding_reassembles_to_the_whole_tensor_byte_for_byte(name: str, dtype: str) -> None:
    shape = LAWS[name][1]
    whole = _draw(name, dtype)
    assert whole.shape == shape
    rows = _shards(shape, (8,) + (1,) * (len(shape) - 1))
    blocks = _shards(shape, (2, 4) + (1,) * (len(shape) - 2))
    assert _same(_assemble(name, dtype, rows), whole)
    assert _same(_assemble(name, dtype, blocks), whole)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    for _ in range(3):  # random slices with steps, on every dimension
        index = tuple(slice(int(a), None, int(s)) for a, s in zip(rng.integers(0, 3, len(shape)),
                                                                  rng.integers(1, 4, len(shape))))
        assert _same(_draw(name, dtype, index=index), whole[index])


def test_selection_paths_agree_merged_spans_separate_runs_and_strided_runs() -> None:
    """Column shards (runs merged into one span), runs too far apart to merge, a stepped
    axis before a whole trailing block, and pieces cut across chunk boundaries all give the
    whole tensor's bytes."""
    law = D.Normal(loc=0.0, scale=1.0)
    shape = (24, 5, 700)
    whole = P.draw(law, shape, "float32", seed=1, path="w")
    for index in [(slice(None), slice(None), slice(100, 196)),  # gaps of 604 < MERGE_GAP: one span
                  (slice(None), slice(1, 3)),  # runs of 1,400 with gaps of 2,100: drawn apart
                  (slice(2, 20, 3),),  # stepped axis before a whole (5, 700) block
                  (slice(None), slice(None, None, 2), slice(5, 600, 7)),
                  (slice(3, 4), slice(2, 3), slice(10, 11)),  # one element
                  (slice(5, 5),)]:  # nothing
        assert _same(P.draw(law, shape, "float32", seed=1, path="w", index=index), whole[index]), index
    n = 3 * P.CHUNK + 5  # three chunk boundaries, cut at odd offsets (and half words of float32)
    flat = P.draw(law, (n,), "float32", seed=1, path="f")
    for start, stop in [(1, n), (P.CHUNK - 3, 2 * P.CHUNK + 7), (n - 9, n - 1)]:
        assert _same(P.draw(law, (n,), "float32", seed=1, path="f", index=(slice(start, stop),)), flat[start:stop])


@pytest.mark.parametrize("name", ["normal", "truncated_he", "uniform", "sparse", "orthogonal"])
def test_the_thread_count_changes_no_value(name: str) -> None:
    law, _ = LAWS[name]
    shape = (256, 300) if not isinstance(law, (D.Sparse, D.Orthogonal)) else LAWS[name][1]
    one = P.draw(law, shape, "float32", seed=3, path="p", threads=1)
    assert _same(P.draw(law, shape, "float32", seed=3, path="p", threads=3), one)


def test_a_value_depends_on_seed_path_and_block_and_not_on_the_tensor_around_it() -> None:
    law = D.Normal(loc=0.0, scale=1.0)
    base = P.draw(law, (4, 1000), "float32", seed=0, path="a.weight")
    for other in [{"seed": 1, "path": "a.weight"}, {"seed": 0, "path": "b.weight"},
                  {"seed": 0, "path": "a.weight", "block": "q"}]:
        x = P.draw(law, (4, 1000), "float32", **other)  # type: ignore[arg-type]
        assert np.mean(x == base) < 0.01, other
    assert _same(P.draw(law, (4, 1000), "float32", seed=0, path="a.weight", block=""), base)  # as derive_seed
    # element i is element i: a longer flat tensor starts with the same values, reshaped alike
    assert _same(P.draw(law, (4000,), "float32", seed=0, path="a.weight")[:4000].reshape(4, 1000), base)
    assert _same(P.draw(law, (8, 1000), "float32", seed=0, path="a.weight")[:4], base)
    # the law's fields change values, the key does not: same uniforms, other scale
    assert _same(P.draw(D.Normal(loc=0.0, scale=2.0), (4, 1000), "float32", seed=0, path="a.weight"),
                 (base.astype(np.float64) * 2).astype(np.float32))


def test_the_key_is_the_plans_derived_seed() -> None:
    table = pytest.importorskip("initspec.plans.table")
    for args in [(0, "encoder.0.weight", None), (2**40 + 3, "h.0.attn.c_attn.weight", "q")]:
        assert P.derive_seed(*args) == table.derive_seed(*args)
        assert P.portable_key(*args) == (table.derive_seed(*args), P.KEY_TAG)


# ----------------------------------------------------------------------------- the stream, pinned


def _reference_words(key: tuple[int, int], stream: int, start: int, count: int) -> np.ndarray:
    """The documented definition: word j of stream s = word j % 4 after
    Philox(key).jumped(s).advance(j // 4)."""
    bg = np.random.Philox(key=np.array(key, dtype=np.uint64)).jumped(stream)
    bg.advance(start // 4)
    return bg.random_raw(start % 4 + count)[start % 4:]


def test_bits_follow_the_documented_philox_stream() -> None:
    key = P.portable_key(5, "w")
    for stream, start, count in [(0, 0, 9), (0, 13, 30), (1, 1_000_003, 7), (0, 2**40 + 1, 5)]:
        words = P._SCRATCH.bits(key, stream, start, count, True)
        assert np.array_equal(words, _reference_words(key, stream, start, count))
    ref = _reference_words(key, 0, 6, 4)  # float32 elements 13..19: halves of words 6..9, low first
    halves = np.stack([ref & 0xFFFFFFFF, ref >> np.uint64(32)], axis=-1).reshape(-1).astype(np.uint32)
    assert np.array_equal(P._SCRATCH.bits(key, 0, 13, 7, False), halves[1:8])


def test_values_follow_the_documented_transforms() -> None:
    key = P.portable_key(11, "layer.w")
    w = _reference_words(key, 0, 0, 1000)
    u32 = ((w.view(np.uint32).astype(np.float64) + 0.5) * 2.0**-32)[:1000]
    u64 = ((w >> np.uint64(12)).astype(np.float64) + 0.5) * 2.0**-52
    uni = D.Uniform(low=-0.3, high=0.7)
    got = P.draw(uni, (1000,), "float64", seed=11, path="layer.w")
    assert np.array_equal(got, np.clip(-0.3 + 1.0 * u64, -0.3, 0.7))
    got = P.draw(uni, (1000,), "float32", seed=11, path="layer.w")
    assert np.array_equal(got, np.clip(-0.3 + 1.0 * u32, -0.3, 0.7).astype(np.float32))
    z = P.draw(D.Normal(loc=0.0, scale=1.0), (1000,), "float64", seed=11, path="layer.w")
    assert np.max(np.abs(z - scipy_special.ndtri(u64)) / np.spacing(np.abs(z))) <= 8
    assert np.array_equal(z, P.ndtri(u64))


#: SHA-256 (first 16 hex digits) of ``_draw(name, dtype, seed=1, path="pinned")``: the bytes of
#: stream version 1 on any IEEE machine.  A change here changes users' weights: bump
#: STREAM_VERSION (and KEY_TAG) on purpose, then update.  (Orthogonal laws are left out: their
#: QR runs in the host's LAPACK.)
PINNED = {
    ("normal", "float32"): "50f895e2975071a1", ("normal", "float64"): "c7f64f4884fc8b75",
    ("normal", "bfloat16"): "921677f3e61376ff", ("uniform", "float32"): "863c220a8b8ceef9",
    ("uniform", "float64"): "0f6aacffb3613bb9", ("uniform", "bfloat16"): "e79273d679d72e00",
    ("truncated_he", "float32"): "5b4631a7c444c42f", ("truncated_he", "float64"): "b3da2e98cb6c7498",
    ("truncated_he", "bfloat16"): "22fe5a6dcc108e05", ("truncated_offset", "float32"): "af53b969ce97300a",
    ("truncated_offset", "float64"): "52dc7472c973cfb7", ("truncated_offset", "bfloat16"): "175d1d5b1b087993",
    ("sparse", "float32"): "59d103d6e705575c", ("sparse", "float64"): "221f75e765925937",
    ("sparse", "bfloat16"): "742c977537e4558f",
}


@pytest.mark.parametrize("name, dtype", list(PINNED), ids=lambda v: str(v))
def test_stream_version_1_is_pinned(name: str, dtype: str) -> None:
    assert P.STREAM_VERSION == 1
    digest = hashlib.sha256(_draw(name, dtype, seed=1, path="pinned").tobytes()).hexdigest()[:16]
    assert digest == PINNED[name, dtype], "portable values changed: bump STREAM_VERSION if on purpose"


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("name", ["normal", "uniform", "truncated_offset", "sparse", "orthogonal", "identity"])
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_precision_is_the_float32_draw_rounded(name: str, half: str) -> None:
    x32 = _draw(name, "float32")
    assert _same(_draw(name, half), x32.astype(P.np_dtype(half)))


def test_an_orthogonal_float32_draw_is_the_float64_one_rounded() -> None:
    assert _same(_draw("orthogonal", "float32"), _draw("orthogonal", "float64").astype(np.float32))


def test_truncated_normal_values_lie_strictly_inside_the_bounds() -> None:
    law = D.TruncatedNormal(loc=0.0, scale=10.0, low=-1.0, high=1.0)  # nearly flat: much mass at the bounds
    for dtype in ("float32", "float64"):
        x = P.draw(law, (200_000,), dtype, seed=0, path="t")
        assert x.min() > -1.0 and x.max() < 1.0
    far = D.TruncatedNormal(loc=0.0, scale=1.0, low=-12.0, high=-11.0)  # Φ(-11) = 2e-28: the mirrored tail
    x = P.draw(far, (65_536,), "float64", seed=0, path="t")
    assert x.min() > -12.0 and x.max() < -11.0
    assert check_samples(x, far, "float64").passed


@pytest.mark.parametrize("dtype, code", [("int32", "unsupported_dtype"), ("complex64", "unsupported_dtype"),
                                         ("no_such_dtype", "unsupported_dtype")])
def test_random_laws_refuse_non_float_dtypes(dtype: str, code: str) -> None:
    with pytest.raises(SpecError) as info:
        P.draw(D.Normal(loc=0.0, scale=1.0), (4, 4), dtype, seed=0, path="w")
    assert info.value.codes == [code]
    assert info.value.errors[0].loc == ("dtype",)


def test_exact_laws_fill_integer_tensors_and_refuse_lossy_values() -> None:
    x = P.draw(D.Identity(shape=(3, 4), gain=2.0), (3, 4), "int32", seed=0, path="w")
    assert x.dtype == np.int32 and np.array_equal(x, 2 * np.eye(3, 4))
    with pytest.raises(SpecError) as info:
        P.draw(D.Constant(value=0.5), (2,), "int64", seed=0, path="b")
    assert info.value.codes == ["lossy_cast"]


@pytest.mark.parametrize("call, code", [
    (lambda: P.draw(D.Normal(loc=0.0, scale=1.0), (4,), "float32", seed=-1, path="w"), "bad_seed"),
    (lambda: P.draw(D.Normal(loc=0.0, scale=1.0), (4,), "float32", seed=True, path="w"), "bad_seed"),
    (lambda: P.draw(D.Normal(loc=0.0, scale=1.0), (4, -1), "float32", seed=0, path="w"), "bad_shape"),
    (lambda: P.draw(D.Normal(loc=0.0, scale=1.0), (4,), "float32", seed=0, path="w", index=(1,)), "bad_shape"),
    (lambda: P.draw(D.Normal(loc=0.0, scale=1.0), (4,), "float32", seed=0, path="w",
                    index=(slice(None), slice(None))), "bad_shape"),
    (lambda: P.draw(D.Normal(loc=0.0, scale=1.0), (4,), "float32", seed=0, path="w",
                    index=(slice(None, None, -1),)), "bad_shape"),
    (lambda: P.draw(LAWS["orthogonal"][0], (48, 64), "float32", seed=0, path="w"), "shape_mismatch"),
    (lambda: P.draw(D.Sparse(shape=(4, 4, 4), scale=1.0, sparsity=0.5, zeros_per_column=2, out_axis=0, in_axis=1),
                    (4, 4, 4), "float32", seed=0, path="w"), "unsupported_shape"),
    (lambda: P.draw(D.TruncatedNormal(loc=0.0, scale=1.0, low=1.0, high=1.00000001), (4,), "float32", seed=0,
                    path="w"), "interval_too_narrow"),
    (lambda: P.draw(D.TruncatedNormal(loc=0.0, scale=1.0, low=40.0, high=41.0), (4,), "float64", seed=0,
                    path="w"), "empty_truncation"),
])
def test_bad_inputs_are_spec_errors_with_a_code(call: object, code: str) -> None:
    with pytest.raises(SpecError) as info:
        call()  # type: ignore[operator]
    assert info.value.codes == [code]
    assert info.value.errors[0].has_value


def test_importing_the_core_imports_no_framework_and_no_scipy() -> None:
    code = ("import sys, initspec.portable; "
            "print(sorted(m for m in ('scipy', 'torch', 'jax', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ----------------------------------------------------------------------------- the laws


def _pool(law: D.Distribution, shape: tuple[int, ...], dtype: str, count: int, tag: str) -> list[np.ndarray]:
    """``count`` independent tensors: one path each, fixed seed."""
    return [P.draw(law, shape, dtype, seed=2024, path=f"{tag}.{i}") for i in range(count)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("name", ["normal", "uniform", "truncated_he", "truncated_offset"])
def test_elementwise_laws_pass_the_conformance_checks(name: str, dtype: str) -> None:
    law = LAWS[name][0]
    res = check_samples(P.draw(law, (256, 256), dtype, seed=99, path=name), law, dtype)
    assert res.passed, res.report()


@pytest.mark.parametrize("name", ["sparse", "sparse_rows", "orthogonal", "orthogonal_conv", "delta_orthogonal",
                                  "identity", "dirac", "constant"])
def test_structured_laws_pass_the_conformance_checks(name: str) -> None:
    law, shape = LAWS[name]
    diagonal = min(law.rows, law.cols) if isinstance(law, D.Orthogonal) else 8
    count = max(1, 65_536 // math.prod(shape), 512 // diagonal + 1)
    res = check_samples(_pool(law, shape, "float32", count, name), law, "float32")
    assert res.passed, res.report()
    if isinstance(law, D.Sparse):
        assert "zeros_per_column" in {c.name for c in res.checks}


def test_sparse_shards_agree_on_the_zero_pattern_and_count_it_exactly() -> None:
    law = LAWS["sparse"][0]
    whole = _draw("sparse")
    assert np.all(np.sum(whole == 0, axis=0) == law.zeros_per_column)
    top = _draw("sparse", index=(slice(0, 20),))
    assert _same(top, whole[:20])


def test_orthogonal_draws_are_orthogonal() -> None:
    x = _draw("orthogonal", "float64")
    assert np.allclose(x.T @ x, 1.5**2 * np.eye(48), atol=1e-12)


# ----------------------------------------------------------------------------- the power gate


@pytest.mark.parametrize("wrong, right", [
    (D.Normal(loc=0.0, scale=0.105), D.Normal(loc=0.0, scale=0.1)),  # std x 1.05
    (D.Normal(loc=0.005, scale=0.1), D.Normal(loc=0.0, scale=0.1)),  # mean shift 0.05σ
    (D.Uniform(low=-0.1 * 3**0.5, high=0.1 * 3**0.5), D.Normal(loc=0.0, scale=0.1)),  # uniform for normal
    (D.Normal(loc=0.0, scale=HE), LAWS["truncated_he"][0]),  # truncation missing
    (D.TruncatedNormal(loc=0.0, scale=HE * TRUNC2, low=-2 * HE * TRUNC2, high=2 * HE * TRUNC2),
     LAWS["truncated_he"][0]),  # correction missing
], ids=["std_up", "mean_shift", "uniform_for_normal", "truncation_missing", "correction_missing"])
def test_the_checks_reject_a_wrong_portable_sampler(wrong: D.Distribution, right: D.Distribution) -> None:
    """The same seeds and sizes that pass above fail when the sampler draws a wrong law."""
    assert check_samples(P.draw(right, (256, 256), "float32", seed=99, path="g"), right, "float32").passed
    res = check_samples(P.draw(wrong, (256, 256), "float32", seed=99, path="g"), right, "float32")
    assert not res.passed, res.report()


def test_the_checks_reject_a_wrong_zero_count_and_a_non_orthogonal_matrix() -> None:
    law, shape = LAWS["sparse"]
    fewer = D.Sparse(shape=shape, scale=0.02, sparsity=0.2, zeros_per_column=15, out_axis=0, in_axis=1)
    assert not check_samples(P.draw(fewer, shape, "float32", seed=1, path="s"), law, "float32").passed
    orth, shape = LAWS["orthogonal"]
    gauss = P.draw(D.Normal(loc=0.0, scale=1.5 / math.sqrt(64)), shape, "float32", seed=1, path="o")
    assert not check_samples(gauss, orth, "float32")["orthogonality"].passed


# ----------------------------------------------------------------------------- float64 math


def test_ndtri_matches_scipy_to_a_few_ulp_from_1e_300_to_1_minus_1e_16() -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate([10.0 ** rng.uniform(-300, -1, 20_000), rng.uniform(0.0, 1.0, 50_000),
                        1.0 - 10.0 ** rng.uniform(-16, -1, 5_000), [0.5, 1e-300, 1 - 1e-16, 0.075, 0.925]])
    ours, ref = P.ndtri(p), scipy_special.ndtri(p)
    ulp = np.abs(ours - ref) / np.spacing(np.abs(ref))
    assert ulp.max() <= 8 and ulp.mean() <= 1.5, (ulp.max(), p[np.argmax(ulp)], ulp.mean())
    assert P.ndtri(0.0) == -np.inf and P.ndtri(1.0) == np.inf and np.isnan(P.ndtri(1.5))


def test_ndtri_is_exactly_odd_on_the_unit_lattice() -> None:
    k = np.random.default_rng(1).integers(0, 2**31, 100_000).astype(np.float64)
    u = (k + 0.5) * 2.0**-32
    assert np.array_equal(P.ndtri(1.0 - u), -P.ndtri(u))


def test_the_logarithm_is_within_one_ulp() -> None:
    x = np.concatenate([10.0 ** np.random.default_rng(2).uniform(-320, 0, 50_000), [5e-324, 0.075, 0.5, 1.0]])
    out = P._log_into(x, np.empty_like(x), [np.empty_like(x) for _ in range(4)], np.empty(x.size, np.int32))
    ref = np.log(x)
    assert np.max(np.abs(out - ref) / np.spacing(np.maximum(np.abs(ref), 1e-300))) <= 1


def test_ndtr_matches_scipy_and_is_correctly_rounded() -> None:
    x = np.concatenate([np.linspace(-37.5, 8.5, 401), [-1e-300, 0.0, 1e-9, -2.0, 2.0]])
    ours = np.array([P.ndtr(v) for v in x])
    ref = scipy_special.ndtr(x)
    # SciPy goes through exp(-x²/2): its relative error grows as x² eps (2e-13 at x = -37)
    rtol = 4 * np.finfo(np.float64).eps * (4 + x * x)
    assert np.all(np.abs(ours - ref) <= rtol * ref)
    assert P.ndtr(-np.inf) == 0.0 and P.ndtr(np.inf) == 1.0 and math.isnan(P.ndtr(math.nan))
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        exact = [float(mpmath.ncdf(mpmath.mpf(float(v)))) for v in x[::7]]
    assert [P.ndtr(v) for v in x[::7]] == exact
