"""The Keras adapter on the JAX and PyTorch Keras backends.

``KERAS_BACKEND`` is fixed once per process, so each backend runs in a subprocess
(``sys.executable -c SCRIPT``) that draws every family of scheme in each dtype and checks it
with ``initspec.testing.check_samples`` (docs/conformance.md: n >= 65,536, crc32-derived seeds),
checks determinism and the seeding semantics, that no global RNG state moves, that exact
truncation holds where the torch backend's own ``truncated_normal`` leaks,
that a model saves and loads there, and that a model saved on the TensorFlow backend (in
this process) loads there with the same specs.  The script prints one JSON line that the
test asserts on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("scipy")

from initspec.adapters import keras as ik  # noqa: E402

MARK = "INITSPEC_RESULT "

SCRIPT = r'''
import json, math, os, pickle, random, sys, tempfile, zlib

backend = os.environ["KERAS_BACKEND"]
if backend == "torch":
    import torch
import numpy as np
import keras

import initspec
from initspec import SpecError
from initspec.adapters import keras as ik
from initspec.adapters._common import derive_seed
from initspec.testing import N_SAMPLES, check_samples

saved_path, expected_configs = sys.argv[1], json.loads(sys.argv[2])
SALT = os.environ.get("INITSPEC_SEED_SALT", "")
ops = keras.ops
out = {"backend": keras.backend.backend(), "failures": [], "cases": 0}


def fail(msg):
    out["failures"].append(msg)


def seeds(case_id, r):
    base = zlib.crc32(f"{case_id}|{SALT}".encode())
    return [derive_seed(base, i) % 2**31 for i in range(r)]


def npy(x):
    return ops.convert_to_numpy(x)


def same(a, b):
    return bool(np.array_equal(npy(a).astype(np.float64), npy(b).astype(np.float64)))


# ---------------------------------------------------------------- conformance
DTYPES = ["float16", "bfloat16", "float32"] + (["float64"] if backend == "torch" else [])
CASES = [
    ("constant", {"scheme": "constant", "value": 0.375}, (64, 32)),
    ("uniform", {"scheme": "uniform", "low": -0.3, "high": 0.7}, (256, 256)),
    ("normal", {"scheme": "normal", "mean": 0.1, "std": 0.5}, (256, 256)),
    ("trunc_2sigma", {"scheme": "truncated_normal", "mean": 0.2, "std": 0.3}, (256, 256)),
    ("he_trunc_conv", {"scheme": "he", "distribution": "truncated_normal"}, (3, 3, 32, 64)),
    ("trunc_result_std", {"scheme": "truncated_normal", "std": 0.05, "low": -1.0, "high": 1.5, "bounds": "std",
                          "std_of": "result"}, (256, 256)),
    ("trunc_narrow_centre", {"scheme": "truncated_normal", "std": 1.0, "low": -0.2, "high": 0.25, "bounds": "std"},
     (256, 256)),
    ("trunc_far_tail", {"scheme": "truncated_normal", "mean": 0.5, "std": 2.0, "low": 2.5, "high": 6.0,
                        "bounds": "std"}, (256, 256)),
    ("trunc_left_tail", {"scheme": "truncated_normal", "std": 1.0, "low": -7.0, "high": -4.0, "bounds": "std"},
     (256, 256)),
    ("glorot_uniform_conv", {"scheme": "glorot", "distribution": "uniform"}, (3, 3, 32, 64)),
    ("lecun_normal", {"scheme": "lecun", "distribution": "normal"}, (256, 512)),
    ("he_normal_torch_layout", {"scheme": "he", "distribution": "normal"}, (512, 256), "torch"),
    ("orthogonal", {"scheme": "orthogonal", "gain": 2.0}, (64, 32)),
    ("orthogonal_wide_conv", {"scheme": "orthogonal"}, (3, 3, 4, 64)),
    ("delta_orthogonal", {"scheme": "delta_orthogonal"}, (3, 3, 16, 32)),
    ("identity", {"scheme": "identity", "gain": 1.5}, (48, 32)),
    ("dirac", {"scheme": "dirac", "groups": 2}, (3, 3, 8, 16)),
    ("sparse", {"scheme": "sparse", "sparsity": 0.25, "std": 0.02}, (256, 256)),
]
for case in CASES:
    cid, spec, shape = case[:3]
    layout = case[3] if len(case) > 3 else "keras"
    dist = initspec.resolve(spec, shape, layout)
    for dt in DTYPES:
        r = 64 if spec["scheme"] in ("orthogonal", "delta_orthogonal") else max(1, math.ceil(N_SAMPLES / math.prod(shape)))
        xs = [ik.initializer(spec, layout=layout, seed=s)(shape, dt) for s in seeds(f"{backend}/{cid}/{dt}", r)]
        got = {keras.backend.standardize_dtype(x.dtype) for x in xs}
        if got != {dt} or any(tuple(x.shape) != shape for x in xs):
            fail(f"{cid} {dt}: got dtypes {got}, shapes {set(tuple(x.shape) for x in xs)}")
        res = check_samples(xs, dist, context=f"keras[{backend}] {cid} {dt}")
        out["cases"] += 1
        if not res.passed:
            fail(res.report())

# float64 on JAX needs x64 (Keras would silently give float32)
if backend == "jax":
    try:
        ik.initializer({"scheme": "normal", "std": 1.0})((4, 4), "float64")
        fail("jax float64 without x64 did not raise")
    except SpecError as e:
        out["jax_float64_error"] = e.errors[0].code
    import jax

    out["jax_x64_cases"] = 0
    with jax.enable_x64(True):  # ... and float64 works with x64 on
        for cid, spec, shape in [c[:3] for c in CASES if c[0] in ("uniform", "trunc_2sigma", "trunc_far_tail", "orthogonal")]:
            dist = initspec.resolve(spec, shape, "keras")
            r = 64 if spec["scheme"] == "orthogonal" else max(1, math.ceil(N_SAMPLES / math.prod(shape)))
            xs = [ik.initializer(spec, seed=s)(shape, "float64") for s in seeds(f"jax-x64/{cid}", r)]
            res = check_samples(xs, dist, context=f"keras[jax, x64] {cid} float64")
            if not res.passed or keras.backend.standardize_dtype(xs[0].dtype) != "float64":
                fail(res.report())
            out["jax_x64_cases"] += 1

# ---------------------------------------------------------------- seeding and determinism
RANDOM = {
    "uniform": {"scheme": "uniform", "low": -1.0, "high": 1.0},
    "he_trunc": {"scheme": "he", "distribution": "truncated_normal"},
    "trunc_far_tail": {"scheme": "truncated_normal", "std": 1.0, "low": 3.0, "high": 6.0, "bounds": "std"},
    "orthogonal": {"scheme": "orthogonal"},
    "sparse": {"scheme": "sparse", "sparsity": 0.3},
}


def global_states():
    from keras.src.backend.common import global_state

    gen = global_state.get_global_attribute("global_seed_generator")
    states = [random.getstate(), pickle.dumps(np.random.get_state()),
              None if gen is None else npy(gen.state).tobytes()]
    if backend == "torch":
        states.append(torch.get_rng_state().numpy().tobytes())
    return states


before = global_states()
out["determinism_checked"] = 0
for name, spec in RANDOM.items():
    for dt in ("float32", "bfloat16"):
        a = ik.initializer(spec, seed=7)
        if not (same(a((64, 32), dt), a((64, 32), dt)) and same(a((64, 32), dt), ik.initializer(spec, seed=7)((64, 32), dt))):
            fail(f"{name} {dt}: int seed not bit-identical")
        if same(a((64, 32), dt), ik.initializer(spec, seed=8)((64, 32), dt)):
            fail(f"{name} {dt}: seeds 7 and 8 gave the same values")
        u = ik.initializer(spec)
        if same(u((64, 32), dt), u((64, 32), dt)):
            fail(f"{name} {dt}: unseeded initializer repeated itself")
        g1 = ik.initializer(spec, seed=keras.random.SeedGenerator(5))
        g2 = ik.initializer(spec, seed=keras.random.SeedGenerator(5))
        x1, x2, y1, y2 = g1((64, 32), dt), g1((64, 32), dt), g2((64, 32), dt), g2((64, 32), dt)
        if same(x1, x2) or not (same(x1, y1) and same(x2, y2)):
            fail(f"{name} {dt}: SeedGenerator sequence not 'different per call, reproducible'")
        out["determinism_checked"] += 1
after = global_states()
for what, b, a in zip(["python random", "numpy global", "keras global SeedGenerator", "torch global"], before, after):
    if a != b:
        fail(f"{what} state changed")

# ---------------------------------------------------------------- exact truncation on 2M elements
spec = {"scheme": "truncated_normal", "mean": 0.0, "std": 1.0}
x = npy(ik.initializer(spec, seed=1)((2_000_000,))).astype(np.float64)
out["trunc_outside"] = int(np.sum((x < -2.0) | (x > 2.0)))
native = npy(keras.random.truncated_normal((2_000_000,), seed=1)).astype(np.float64)
out["native_trunc_outside"] = int(np.sum(np.abs(native) > 2.0))

# ---------------------------------------------------------------- a model saved and loaded here
img = keras.Input((8, 8, 3))
tok = keras.Input((4,), dtype="int32")
h = keras.layers.Conv2D(4, 3, name="conv", kernel_initializer=ik.initializer(
    {"scheme": "he", "distribution": "truncated_normal"}, seed=1))(img)
e = keras.layers.Embedding(10, 6, name="emb", embeddings_initializer=ik.initializer({"scheme": "keras.embedding"}))(tok)
h = keras.layers.Concatenate()([keras.layers.Flatten()(h), keras.layers.Flatten()(e)])
o = keras.layers.Dense(3, name="dense", kernel_initializer=ik.initializer(
    {"scheme": "orthogonal"}, seed=keras.random.SeedGenerator(2)))(h)
model = keras.Model([img, tok], o)
path = os.path.join(tempfile.mkdtemp(), "m.keras")
model.save(path)
loaded = keras.models.load_model(path)
for lname, attr in (("conv", "kernel_initializer"), ("emb", "embeddings_initializer"), ("dense", "kernel_initializer")):
    a0, a1 = getattr(model.get_layer(lname), attr), getattr(loaded.get_layer(lname), attr)
    if type(a1) is not ik.InitSpecInitializer or a1.spec != a0.spec or a1.get_config() != a0.get_config():
        fail(f"{lname}.{attr} did not survive save/load: {a1!r}")
    for w0, w1 in zip(model.get_layer(lname).weights, loaded.get_layer(lname).weights):
        if not same(w0.value, w1.value):
            fail(f"{lname} weights changed through save/load")

# ---------------------------------------------------------------- a model saved by the TensorFlow backend
tf_model = keras.models.load_model(saved_path)
for lname, config in expected_configs.items():
    init = tf_model.get_layer(lname).kernel_initializer
    if init.get_config() != config or init.spec != initspec.parse({k: v for k, v in config.items() if k not in ("layout", "seed")}):
        fail(f"TF-saved {lname}: {init.get_config()} != {config}")
out["tf_model_layers"] = len(expected_configs)
print("INITSPEC_RESULT " + json.dumps(out))
'''


def _saved_tf_model(tmp_path):
    """A small model saved by this (TensorFlow-backend) process, and its initializer configs."""
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        keras.layers.Conv2D(3, 3, name="conv", kernel_initializer=ik.initializer(
            {"scheme": "glorot", "distribution": "truncated_normal"}, seed=3)),
        keras.layers.Flatten(),
        keras.layers.Dense(4, name="dense", kernel_initializer=ik.initializer(
            {"scheme": "torch.default_weight"}, layout={"in_axes": [0], "out_axes": [1]})),
    ])
    path = tmp_path / "tf_model.keras"
    model.save(path)
    return path, {name: model.get_layer(name).kernel_initializer.get_config() for name in ("conv", "dense")}


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_adapter_on_backend(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    path, configs = _saved_tf_model(tmp_path)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(path), json.dumps(configs)], env=env,
                          capture_output=True, text=True, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    assert proc.returncode == 0 and lines, f"rc={proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    result = json.loads(lines[-1][len(MARK):])
    assert result["backend"] == backend
    assert not result["failures"], "\n\n".join(result["failures"])
    n_dtypes = 4 if backend == "torch" else 3
    assert result["cases"] == 18 * n_dtypes  # every case in every dtype was checked
    assert result["determinism_checked"] == 10
    assert result["trunc_outside"] == 0  # exact support, even on torch where Keras' own TN leaks
    assert result["tf_model_layers"] == 2
    if backend == "jax":
        assert result["jax_float64_error"] == "x64_disabled"
        assert result["jax_x64_cases"] == 4
