"""The records of a conformance run: what is tested (:class:`Item`), what is absent
(:class:`Absent`), what a test gave (:class:`ItemResult`), and a bug injected on purpose
(:class:`Bug`, the power gate's mutants)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import cases as C
from .drivers import Transform

__all__ = ["Item", "Absent", "ItemResult", "Bug", "REFERENCE", "AGREEMENT_CASES", "INDEPENDENCE_CASES",
           "PARAM_PATHS"]

#: The backend the agreement tests compare against.
REFERENCE = "numpy"
#: Cases with no closed form the suite trusts alone (orthogonal entries): two-sample tests.
AGREEMENT_CASES = (
    "orthogonal-square-float32", "orthogonal-wide-float32", "orthogonal-tall-float32", "orthogonal-conv2d-float32",
    "orthogonal-large-float32", "orthogonal_gain-conv1d-float64", "orthogonal-square-float16",
    "orthogonal_gain-square-bfloat16",
)
#: Two parameters of one plan drawn with the same spec; their draws must be independent.
INDEPENDENCE_CASES = ("he_normal-square-float32", "normal-bias-float16")
#: Parameter paths of the two draws of an independence test.
PARAM_PATHS = ("encoder.layers.0.weight", "encoder.layers.1.weight")


@dataclass(frozen=True)
class Bug:
    """A bug injected into a run on purpose (the power gate): draw ``transform(law)``
    instead of the law, drop the Haar sign correction, or derive a plan's parameter seeds
    with ``param_seed`` instead of :func:`initspec.plans.derive_seed`."""

    transform: Transform | None = None
    haar: bool = True
    param_seed: Callable[[int, str], int] | None = None


@dataclass(frozen=True)
class Item:
    """One test: ``test`` kind, backend, device name and (except for ``device``) a case."""

    test: str
    backend: str
    device: str
    case: C.Case | None = None
    planned: int = 0

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.device}" + (f"-{self.case.id}" if self.case else "")

    @property
    def scheme(self) -> str:
        return self.case.scheme if self.case else "(device)"


@dataclass(frozen=True)
class Absent:
    """A backend or device that is not there: shown as skipped with the reason."""

    backend: str
    device: str
    reason: str

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.device}"



@dataclass
class ItemResult:
    item: Item
    status: str  # passed | failed | error | skipped | xfailed | xpassed
    reason: str = ""
    min_p: float | None = None
    p_values: int = 0
    seconds: float = 0.0
    detail: str = ""
    salt: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped", "xfailed")

    @property
    def repro(self) -> str:
        it = self.item
        case = f" --case '{it.case.id}'" if it.case else " --case '<none>'"
        return (f"python -m initspec.testing --backend {it.backend} --device {it.device}{case} --salt {self.salt}"
                f"  # {it.test}")
