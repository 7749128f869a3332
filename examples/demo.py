"""initspec in one minute: one YAML, four frameworks, one plan for a whole model.

Run with `make demo` (which sets everything up first) or `python examples/demo.py`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # keeps TensorFlow's start-up banner quiet
if importlib.util.find_spec("torch"):
    import torch  # noqa: F401  - import torch before TensorFlow

import numpy as np

import initspec
from initspec.testing.stats import check_samples, to_numpy

HERE = Path(__file__).parent


def rule(title: str) -> None:
    print(f"\n{title}\n{'=' * len(title)}")


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main() -> int:
    spec = initspec.load(HERE / "he_normal.yaml")
    rule("1. The spec (examples/he_normal.yaml), resolved for a 256-in, 128-out dense weight")
    dist = initspec.resolve(spec, (256, 128), layout="jax")
    print("\n".join(dist.derivation.lines()))
    print(f"law: {dist}")

    rule("2. The same law drawn by every framework (each in its own layout)")
    draws = {}
    from initspec.adapters import numpy as isnp

    draws["numpy"] = isnp.initializer(spec, layout="jax")((256, 128), seed=0)
    if have("torch"):
        import torch

        from initspec.adapters import torch as ist

        w = torch.empty(128, 256)  # torch stores (out, in)
        ist.initializer(spec, layout="torch")(w, generator=torch.Generator().manual_seed(0))
        draws["torch"] = w
    if have("keras"):
        from initspec.adapters import keras as isk

        draws["keras"] = isk.initializer(spec, layout="keras", seed=0)((256, 128))
    if have("jax"):
        import jax

        from initspec.adapters import jax as isj

        draws["jax"] = isj.initializer(spec, layout="jax")(jax.random.key(0), (256, 128))
    print(f"{'backend':8} {'std':>9} {'expected':>9} {'max|w|':>8} {'bound':>8}  statistical check")
    ok = True
    for name, w in draws.items():
        x = to_numpy(w).astype(np.float64)
        layout = "torch" if name == "torch" else "jax"
        law = initspec.resolve(spec, tuple(x.shape), layout=layout)
        res = check_samples(to_numpy(w), law)
        ok &= res.passed
        print(f"{name:8} {x.std():9.5f} {law.std:9.5f} {np.abs(x).max():8.4f} {law.high:8.4f}  "
              f"{'PASS' if res.passed else 'FAIL'} (KS p={res['ks'].p_value:.2f})")
    missing = [b for b in ("torch", "keras", "jax") if b not in draws]
    if missing:
        print(f"(not installed, skipped: {', '.join(missing)})")

    rule("3. Why it matters: the same name means different laws")
    for name in ("torch.kaiming_normal", "keras.he_normal"):
        d = initspec.resolve({"scheme": name}, (256, 128), layout="jax")
        print(f"{name:22} -> {d}   max|w| {'unbounded' if d.high == float('inf') else f'{d.high:.4f}'}")

    rule("4. One plan (examples/init.yaml) for a whole model, checked before anything is drawn")
    plan = initspec.load(HERE / "init.yaml")
    sys.path.insert(0, str(HERE))
    import models

    if have("torch"):
        model = models.torch_mlp()
        table = initspec.plan(plan, model)
        print(table.to_text())
        manifest = initspec.apply(plan, model)
        print(f"\napplied to a PyTorch MLP: {len(manifest.table.rows)} parameters; "
              f"seed {manifest.table.seed}; manifest has {len(manifest.to_json()['parameters'])} entries")
    if have("flax"):
        variables = models.flax_mlp_params()
        manifest = initspec.apply(plan, variables)  # Flax variables are immutable: a new tree comes back
        fc1 = manifest.params["params"]["fc1"]["kernel"]
        passed = check_samples(fc1, manifest.table.row("fc1.weight").distribution).passed
        ok &= passed
        print(f"applied to the Flax version: {len(manifest.table.rows)} parameters, same laws as PyTorch's: "
              f"{same_laws(plan, variables)}; new variables in manifest.params (fc1 kernel {fc1.shape}: "
              f"{'PASS' if passed else 'FAIL'})")

    rule("5. Bad input gets a clear error (examples/bad_spec.yaml)")
    try:
        initspec.load(os.path.relpath(HERE / "bad_spec.yaml"))
    except initspec.SpecError as exc:
        print(exc)
    print("\nNext: `initspec explain examples/he_normal.yaml --shape 256,128 --layout torch`,"
          " `initspec validate examples/*.yaml`, `initspec conformance`.")
    return 0 if ok else 1


def same_laws(plan, variables) -> bool:
    if not have("torch"):
        return True
    import models

    a = {r.path: r.distribution.describe() for r in initspec.plan(plan, models.torch_mlp())}
    b = {r.path: r.distribution.describe() for r in initspec.plan(plan, variables)}
    return a == b


if __name__ == "__main__":
    sys.exit(main())
