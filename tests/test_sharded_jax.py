"""Flax variables sharded over 8 host CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``,
in a subprocess: the flag must be set before JAX starts) under a plan.

With ``seeding: portable`` each parameter is built by ``jax.make_array_from_callback``: every
device's shard is computed alone from its own index, the result keeps the input's sharding,
and the values equal the unsharded draw (and torch's) byte for byte.  Native seeding keeps the
sharding too and equals JAX's own unsharded draw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    import flax.linen as fnn
    from flax import nnx
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import initspec
    from initspec import portable

    assert jax.device_count() == 8, jax.devices()
    PLAN = {"seed": 4, "rules": [
        {"match": {"path": "fc1.weight"}, "init": {"scheme": "he", "distribution": "truncated_normal"}},
        {"match": {"path": "fc2.weight"}, "init": {"scheme": "orthogonal"}},
        {"match": {"path": "head.weight"}, "init": {"scheme": "glorot", "distribution": "uniform"}},
        {"match": {"role": "bias"}, "init": {"scheme": "uniform", "low": -0.1, "high": 0.1}},
        {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
        {"match": {"role": "offset"}, "init": {"scheme": "zeros"}},
    ]}

    class MLP(fnn.Module):
        @fnn.compact
        def __call__(self, x):
            x = fnn.LayerNorm(name="ln")(fnn.Dense(64, name="fc1")(x))
            return fnn.Dense(24, name="head")(fnn.Dense(40, name="fc2")(x))

    devices = np.array(jax.devices())
    mesh1 = Mesh(devices, ("x",))
    mesh2 = Mesh(devices.reshape(4, 2), ("a", "b"))
    specs = {  # kernels (in, out): sharded on one axis, on both, replicated; biases on 8 or 2
        "fc1": {"kernel": NamedSharding(mesh1, P(None, "x")), "bias": NamedSharding(mesh1, P("x"))},
        "ln": {"scale": NamedSharding(mesh2, P("a")), "bias": NamedSharding(mesh2, P(None))},
        "fc2": {"kernel": NamedSharding(mesh2, P("a", "b")), "bias": NamedSharding(mesh1, P("x"))},
        "head": {"kernel": NamedSharding(mesh2, P("b", "a")), "bias": NamedSharding(mesh2, P("b"))},
    }
    variables = MLP().init(jax.random.key(0), np.zeros((1, 32), np.float32))
    sharded = {"params": {m: {k: jax.device_put(v, specs[m][k]) for k, v in leaves.items()}
                          for m, leaves in variables["params"].items()}}
    report = {}
    for mode in ("portable", "native"):
        out = initspec.apply(PLAN, sharded, seeding=mode).params["params"]
        ref = initspec.apply(PLAN, variables, seeding=mode).params["params"]
        table = initspec.plan(PLAN, variables)
        for m, leaves in out.items():
            for k, v in leaves.items():
                want = np.asarray(ref[m][k])
                key = f"{mode}:{m}.{k}"
                shards_ok = True
                if mode == "portable":  # every device holds exactly its slice of the core's draw
                    row = table.row(f"{m}.{ {'kernel': 'weight', 'scale': 'scale', 'bias': 'offset' if m == 'ln' else 'bias'}[k] }")
                    for s in v.addressable_shards:
                        part = portable.draw_stored(row.distribution, row.shape, "float32", row_seed=row.seed,
                                                    layout=row.param.layout, index=s.index)
                        shards_ok &= np.asarray(s.data).tobytes() == np.ascontiguousarray(part).tobytes()
                report[key] = {
                    "same_sharding": v.sharding == specs[m][k],
                    "n_shards": len({tuple((sl.start, sl.stop) for sl in s.index) for s in v.addressable_shards}),
                    "equal_unsharded": np.asarray(v).tobytes() == want.tobytes(),
                    "shards_are_slices": bool(shards_ok),
                }
    # nnx: a module whose params are sharded in place
    class NnxMLP(nnx.Module):
        def __init__(self, rngs):
            self.fc1, self.ln = nnx.Linear(32, 64, rngs=rngs), nnx.LayerNorm(64, rngs=rngs)
            self.fc2, self.head = nnx.Linear(64, 40, rngs=rngs), nnx.Linear(40, 24, rngs=rngs)
    m = NnxMLP(nnx.Rngs(0))
    m.fc2.kernel.set_value(jax.device_put(m.fc2.kernel.get_value(), specs["fc2"]["kernel"]))
    initspec.apply(PLAN, m, seeding="portable")
    ref = initspec.apply(PLAN, variables, seeding="portable").params["params"]
    report["nnx:fc2.kernel"] = {
        "same_sharding": m.fc2.kernel.get_value().sharding == specs["fc2"]["kernel"],
        "equal_unsharded": np.asarray(m.fc2.kernel.get_value()).tobytes() == np.asarray(ref["fc2"]["kernel"]).tobytes(),
    }
    print("REPORT" + json.dumps(report))
""")


@pytest.fixture(scope="module")
def report() -> dict[str, dict[str, object]]:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu",
           "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("REPORT")]
    assert lines, out.stderr[-4000:]
    return json.loads(lines[-1][len("REPORT"):])


def test_portable_plans_keep_the_sharding_and_equal_the_unsharded_draw(report) -> None:
    portable = {k: v for k, v in report.items() if k.startswith("portable:")}
    assert len(portable) == 8
    for key, r in portable.items():
        assert r["same_sharding"] and r["equal_unsharded"] and r["shards_are_slices"], (key, r)
    assert report["portable:fc2.kernel"]["n_shards"] == 8  # a 4x2 grid of distinct shards
    assert report["portable:fc1.kernel"]["n_shards"] == 8


def test_native_plans_keep_the_sharding_and_equal_jax_unsharded_draw(report) -> None:
    for key, r in report.items():
        if key.startswith("native:"):
            assert r["same_sharding"] and r["equal_unsharded"], (key, r)


def test_an_nnx_param_keeps_its_sharding(report) -> None:
    assert report["nnx:fc2.kernel"] == {"same_sharding": True, "equal_unsharded": True}
