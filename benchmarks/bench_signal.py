"""LSUV and diagnostics on real models, beside AnyInit's empirical mode on the same model and batch.

    python benchmarks/bench_signal.py [--quick] [--models gpt2,resnet50] [--seq 128] [--no-anyinit]

Models (random weights, built from configs - nothing is downloaded), batch 16:

* GPT-2 small: ``GPT2Model(GPT2Config())`` - 124M parameters, 48 ``Conv1D`` projections;
  the batch is 16 sequences of ``--seq`` token ids.  Plan: Hugging Face's GPT-2 laws (N(0, 0.02)
  weights and embeddings, zero biases, unit LayerNorm scales; the walker reads ``Conv1D`` as a
  dense (in, out) layer), then ``lsuv: {}`` - every Conv1D to unit output variance, tol 0.05.
* ResNet-50: ``ResNetForImageClassification(ResNetConfig())`` - 23.5M parameters (2 labels), 53
  convolutions and the classifier; the batch is 16 standard normal 3×224×224 images.  Plan:
  He normal (fan_out, as torchvision) convolutions, LeCun normal classifier, BatchNorm scale 1
  and offset 0, then ``lsuv: {}`` - every convolution and the classifier.

After one untimed forward pass (torch's first calls are slow), one run of each, with its wall
time and the process's CPU time over all threads (on a shared machine the steadier measure):
``draw`` (``initspec.apply`` of the plan without its lsuv section), ``apply + LSUV`` (the whole
plan with ``data=batch``: draws, then LSUV; forward passes and layers beside), ``diagnose``
(``initspec.diagnose(model, batch)``: one forward and backward pass with hooks), and AnyInit
0.4's ``anyinit.initialize(model, "empirical", batch)`` on a fresh model of the same config and
the same batch - or the error it raised.  The ratios are AnyInit's time over initspec's
``apply + LSUV`` and over ``diagnose``, in wall and in CPU time.  AnyInit is not a dependency of
initspec: install it into the environment to run the comparison (``pip install
anyinit==0.4.0``); without it the AnyInit rows say so.  Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
import traceback
import warnings
from typing import Any

import initspec

GPT2_PLAN = {"seed": 0, "rules": [
    {"match": {"role": ["weight", "embedding"]}, "init": {"scheme": "normal", "std": 0.02}},
    {"match": {"role": ["bias", "offset"]}, "init": {"scheme": "zeros"}},
    {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
]}
RESNET_PLAN = {"seed": 0, "rules": [
    {"match": {"kind": "conv", "role": "weight"},
     "init": {"scheme": "he", "distribution": "normal", "mode": "fan_out"}},
    {"match": {"kind": "dense", "role": "weight"}, "init": {"scheme": "lecun", "distribution": "normal"}},
    {"match": {"role": ["bias", "offset"]}, "init": {"scheme": "zeros"}},
    {"match": {"role": "scale"}, "init": {"scheme": "ones"}},
]}
LSUV = {"lsuv": {"target": 1.0, "tol": 0.05, "max_iter": 10}}


def gpt2(quick: bool) -> Any:
    import transformers as T

    T.logging.set_verbosity_error()
    config = T.GPT2Config(n_layer=2, n_embd=64, n_head=2) if quick else T.GPT2Config()
    return T.GPT2Model(config)


def resnet50(quick: bool) -> Any:
    import transformers as T

    T.logging.set_verbosity_error()
    config = (T.ResNetConfig(embedding_size=16, hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1])
              if quick else T.ResNetConfig())
    return T.ResNetForImageClassification(config)


def gpt2_batch(quick: bool, seq: int) -> Any:
    import torch

    return torch.randint(0, 50257, (16, 16 if quick else seq), generator=torch.Generator().manual_seed(0))


def resnet_batch(quick: bool, seq: int) -> Any:
    import torch

    side = 64 if quick else 224
    return torch.randn(16, 3, side, side, generator=torch.Generator().manual_seed(0))


MODELS = {
    "gpt2": ("GPT-2 small", gpt2, gpt2_batch, GPT2_PLAN),
    "resnet50": ("ResNet-50", resnet50, resnet_batch, RESNET_PLAN),
}


class _Clock:
    """Wall time and this process's CPU time (all threads) of one call: on a shared machine
    the CPU time is what the work cost, the wall time what waiting for the cores added."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[tuple[float, float], Any]:
    clock = _Clock()
    out = fn(*args, **kwargs)
    return clock.stop(), out


def _anyinit(model: Any, batch: Any) -> tuple[tuple[float, float], str]:
    try:
        import anyinit
    except ImportError:
        return (float("nan"), float("nan")), "not installed (pip install anyinit==0.4.0)"
    clock = _Clock()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            anyinit.initialize(model, "empirical", batch)
    except Exception as exc:  # noqa: BLE001 - its failure is a result
        took = clock.stop()
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return took, f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:120]} ({last.name})"
    return clock.stop(), "ok"


def run(quick: bool = False, models: list[str] | None = None, seq: int = 128, with_anyinit: bool = True
        ) -> list[dict[str, Any]]:
    import torch

    rows = []
    for key in models or list(MODELS):
        name, make, make_batch, plan = MODELS[key]
        batch = make_batch(quick, seq)
        base = make(quick)
        n_params = sum(p.numel() for p in base.parameters())
        with torch.no_grad():  # warm-up, untimed: torch's first call of each kernel is slow
            base.eval()(batch)
        base.train()
        print(f"[{name}] draw ...", flush=True)
        draw_s, _ = _timed(initspec.apply, plan, copy.deepcopy(base))
        model = copy.deepcopy(base)
        print(f"[{name}] apply + LSUV ... (draw {_fmt(draw_s)})", flush=True)
        lsuv_s, manifest = _timed(initspec.apply, {**plan, **LSUV}, model, data=batch)
        res = manifest.lsuv
        print(f"[{name}] diagnose ... (LSUV {_fmt(lsuv_s)})", flush=True)
        diag_s, diagnosis = _timed(initspec.diagnose, model, batch)
        print(f"[{name}] AnyInit ... (diagnose {_fmt(diag_s)})", flush=True)
        del model
        if with_anyinit:
            any_s, any_status = _anyinit(copy.deepcopy(base), batch)
        else:
            any_s, any_status = (float("nan"), float("nan")), "skipped"
        rows.append({"model": name, "params": n_params, "batch": tuple(batch.shape), "draw_s": draw_s,
                     "lsuv_s": lsuv_s, "passes": res.passes, "layers": len(res.layers), "converged": res.converged,
                     "diagnose_s": diag_s, "diagnosed_layers": len(diagnosis.layers), "verdict": diagnosis.verdict,
                     "anyinit_s": any_s, "anyinit": any_status})
        del base
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return rows


def _fmt(t: tuple[float, float]) -> str:
    wall, cpu = t
    return "-" if wall != wall else f"{wall:8.2f} s wall {cpu:8.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny configs (a smoke test)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--seq", type=int, default=128, help="GPT-2 sequence length")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--no-anyinit", action="store_true", help="skip the AnyInit rows")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
          f", initspec {initspec.__version__}", end="")
    try:
        import anyinit

        print(f", anyinit {anyinit.__version__}")
    except ImportError:
        print(", anyinit not installed")
    rows = run(args.quick, args.models.split(","), args.seq, not args.no_anyinit)
    for r in rows:
        print(f"\n{r['model']} ({r['params'] / 1e6:.1f}M parameters), batch {'x'.join(map(str, r['batch']))}")
        print(f"  initspec draw (plan without lsuv)   {_fmt(r['draw_s'])}")
        print(f"  initspec apply + LSUV               {_fmt(r['lsuv_s'])}  ({r['passes']} forward passes, "
              f"{r['layers']} layers, converged: {r['converged']})")
        print(f"  initspec diagnose                   {_fmt(r['diagnose_s'])}  ({r['diagnosed_layers']} layers, "
              f"verdict {r['verdict']})")
        print(f"  AnyInit empirical                   {_fmt(r['anyinit_s'])}  ({r['anyinit']})")
        if r["anyinit"] == "ok":
            for i, what in enumerate(("wall", "CPU")):
                print(f"  ratio AnyInit / initspec LSUV ({what:4}) {r['anyinit_s'][i] / r['lsuv_s'][i]:6.1f}x; "
                      f"AnyInit / diagnose {r['anyinit_s'][i] / r['diagnose_s'][i]:6.1f}x")


if __name__ == "__main__":
    main()
