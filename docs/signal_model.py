"""The model of docs/signal.md, and the script that draws the tutorial's figures.

``gelu_mlp()`` is a 12-layer GELU MLP of width 256 in PyTorch, with PyTorch's default
initialization (seeded, without touching the global random state).  The figures::

    python -m docs.signal_model --write docs/img

write ``signal_default.png`` (PyTorch's default init), ``signal_gain.png`` (orthogonal with the
GELU gain, examples/signal/gelu.yaml) and ``signal_lsuv.png`` (the same plus LSUV,
examples/signal/gelu_lsuv.yaml), each the diagnosis of one batch of 256 standard normal inputs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "signal"
BATCH = (256, 256)


def gelu_mlp(depth: int = 12, width: int = 256, seed: int = 0):
    """``depth`` × (Linear(width, width), GELU), as ``nn.Sequential`` with torch's defaults."""
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.GELU()]
        return nn.Sequential(*layers)


def batch(seed: int = 1):
    """The tutorial's data: 256 standard normal inputs."""
    import torch

    return torch.randn(*BATCH, generator=torch.Generator().manual_seed(seed))


def write_figures(folder: str | Path) -> list[Path]:
    import initspec

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x = batch()
    out = []
    for name, plan, what in (("default", None, "PyTorch's default init"),
                             ("gain", EXAMPLES / "gelu.yaml", "orthogonal, GELU gain"),
                             ("lsuv", EXAMPLES / "gelu_lsuv.yaml", "orthogonal, GELU gain, LSUV")):
        model = gelu_mlp()
        diagnosis = initspec.diagnose(model, x, plan=None if plan is None else str(plan))
        title = f"12-layer GELU MLP, {what}: {diagnosis.verdict}"
        out.append(diagnosis.plot(folder / f"signal_{name}.png", title=title))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="FOLDER", required=True, help="where to write the PNG files")
    for path in write_figures(parser.parse_args(argv).write):
        print(path)


if __name__ == "__main__":
    main()
