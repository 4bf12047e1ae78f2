"""Recovery fine-tuning after compression, and gradual magnitude pruning (``gmp-S``) during it.

Papers 001 and 004 prune while training; one-shot pruning at high sparsity without recovery
does not resemble their results. ``compress(model, id, finetune=FineTune(fn, data, steps))``
calls the user's training loop ``fn(variant, data, steps)`` on the compressed variant:

- a pruned variant keeps its masks: after every optimizer step of an optimizer over the
  variant's parameters, each pruned weight is multiplied by its keep-mask again (a global
  ``torch.optim`` step post-hook, so any optimizer in ``fn`` is covered without ``fn`` knowing);
- ``gmp-S`` (Zhu & Gupta, 2017, "To prune, or not to prune"; paper 004's schedule) starts
  dense and, after optimizer step t of T = ``steps``, prunes to the global-magnitude sparsity
  ``S·(1 − (1 − t/T)³)``, reaching S exactly at the end (a last pruning at S follows ``fn``);
- quantized layers are left as their backend allows: their non-float weights get no mask, and
  whatever ``fn`` can update is updated.

``fn`` may return a mapping (e.g. ``{"loss_before": 0.9, "loss_after": 0.4}``): its number
and text values are recorded with the steps in ``info.details["finetune"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    import torch
    from torch import nn

MSG_BAD_STEPS = "FineTune(steps=...) must be an integer >= 1; got {steps!r}"
MSG_NOT_CALLABLE = "FineTune(fn=...) must be callable as fn(model, data, steps); got {kind}"


@dataclass(frozen=True)
class FineTune:
    """What recovery fine-tuning runs: ``fn(model, data, steps)`` (see the module docstring)."""

    fn: Callable[..., Any]
    data: Any
    steps: int = 200

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise InputError(MSG_NOT_CALLABLE.format(kind=type(self.fn).__name__))
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise InputError(MSG_BAD_STEPS.format(steps=self.steps))


def cubic_sparsity(final: float, step: int, steps: int) -> float:
    """Zhu & Gupta's schedule: 0 at step 0, ``final`` from step ``steps`` on."""
    progress = min(1.0, max(0.0, step / steps))
    return final * (1.0 - (1.0 - progress) ** 3)


def _data_identity(data: Any) -> str:
    fingerprint = getattr(data, "fingerprint", None)
    if isinstance(fingerprint, str):  # a DemographicSplit
        return fingerprint
    return type(data).__name__


def run_finetune(
    variant: nn.Module,
    finetune: FineTune,
    weights: list[torch.Tensor],
    masks_at: Callable[[int], list[torch.Tensor]],
) -> dict[str, Any]:
    """Call ``finetune.fn`` on ``variant``; after each optimizer step over its parameters, and
    once after ``fn``, multiply ``weights`` by ``masks_at(steps taken)`` (a pruned variant's
    fixed masks, or the gradual schedule's). What happened, for ``info.details``."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from ..fingerprint import value_identity

    own = {id(p) for p in variant.parameters()}
    taken = 0

    def apply(step: int) -> None:
        with torch.no_grad():
            for w, keep in zip(weights, masks_at(step), strict=True):
                w.mul_(keep.to(w.dtype))

    def after_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        nonlocal taken
        if not any(id(p) in own for group in optimizer.param_groups for p in group["params"]):
            return  # another model's optimizer (a teacher, the user's own code)
        taken += 1
        apply(taken)

    handle = register_optimizer_step_post_hook(after_step)
    try:
        result = finetune.fn(variant, finetune.data, finetune.steps)
    finally:
        handle.remove()
    apply(max(taken, finetune.steps))
    variant.eval()
    reported = result if isinstance(result, Mapping) else {}
    return {
        "fn": value_identity(finetune.fn),
        "data": _data_identity(finetune.data),
        "steps": finetune.steps,
        "optimizer_steps": taken,
        **{
            str(k): v
            for k, v in reported.items()
            if isinstance(v, (int, float, str)) and not isinstance(v, bool)
        },
    }
