"""Classifiers whose forward returns logits: binary, multiclass and multi-label.

The model's output may be a tensor, a tuple (its first element is used), a Hugging Face output
with ``.logits``, or anything ``output`` picks (a key/attribute name or a callable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError

if TYPE_CHECKING:
    import torch

ClassificationKind = Literal["auto", "binary", "multiclass", "multilabel"]

MSG_KIND = "kind must be one of 'auto', 'binary', 'multiclass', 'multilabel'; got {kind!r}"
MSG_THRESHOLD = "threshold must be in (0, 1), a number or one per label; got {value!r}"
MSG_THRESHOLD_LABELS = "threshold has {got} values but the model emits {want} labels"
MSG_OUTPUT = (
    "cannot read logits from a {kind} output; pass ClassificationTask(output='key') or a "
    "callable output=lambda out: ... that returns the (n, C) logits tensor"
)
MSG_SCORES_SHAPE = "a {kind} task needs (n, C) logits{extra}; the model returned shape {shape}"
MSG_BINARY_HINT = (
    "; if the model has more classes than the split's labels show, give the split "
    "class_names for all of them or pass ClassificationTask('multiclass')"
)
MSG_AUTO_KIND = (
    "ClassificationTask(kind='auto') is resolved from the split by predict(); pass "
    "kind='binary'/'multiclass'/'multilabel' to use the task on its own"
)


def extract_tensor(output: Any, pick: str | Callable[[Any], Any] | None) -> torch.Tensor:
    """The logits tensor inside ``output`` (see the module docstring)."""
    import torch

    if callable(pick):
        output = pick(output)
    elif isinstance(pick, str):
        output = (
            output[pick]
            if isinstance(output, dict) or hasattr(output, "keys")
            else getattr(output, pick)
        )
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise InputError(MSG_OUTPUT.format(kind=type(output).__name__))


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic
    return out


def _softmax(x: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = np.exp(x - x.max(axis=1, keepdims=True))
    out: NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return out


class ClassificationTask:
    """Logits → labels and probabilities.

    ``binary``: (n, 2) logits (softmax) or (n, 1) logits (sigmoid); class 1 when its probability
    is ≥ ``threshold``.
    ``multiclass``: softmax, argmax. ``multilabel``: sigmoid per label, label on when p ≥ its
    threshold (one number or one per label). ``kind="auto"`` takes the split's
    :attr:`~pytest_fairquant.data.DemographicSplit.task_kind` (``predict`` resolves it).
    """

    def __init__(
        self,
        kind: ClassificationKind = "auto",
        threshold: float | Sequence[float] = 0.5,
        output: str | Callable[[Any], Any] | None = None,
    ) -> None:
        if kind not in ("auto", "binary", "multiclass", "multilabel"):
            raise InputError(MSG_KIND.format(kind=kind))
        values = np.atleast_1d(np.asarray(threshold, dtype=np.float64))
        if values.ndim != 1 or values.size == 0 or not np.all((values > 0) & (values < 1)):
            raise InputError(MSG_THRESHOLD.format(value=threshold))
        # "auto" until predict() resolves it from the split (see ``resolved``).
        self.kind: ClassificationKind = kind
        self.threshold = values
        self.output = output

    def resolved(self, split_kind: str) -> ClassificationTask:
        """This task with ``kind="auto"`` replaced by the split's kind."""
        if self.kind != "auto":
            return self
        kind: ClassificationKind = split_kind  # type: ignore[assignment]
        return ClassificationTask(kind, tuple(self.threshold.tolist()), self.output)

    def fingerprint(self) -> str:
        from ..fingerprint import value_identity

        # A callable picker is hashed by its code: an edited lambda is another task.
        named = value_identity(self.output) if callable(self.output) else self.output
        return f"classification-v2:{self.kind}:threshold={self.threshold.tolist()}:output={named}"

    def collate(self, items: Any) -> Any:
        import torch

        if isinstance(items, torch.Tensor):
            return items
        if isinstance(items, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(items))
        if isinstance(items, list) and items and all(isinstance(x, torch.Tensor) for x in items):
            return torch.stack(items)
        if isinstance(items, list) and items and all(isinstance(x, np.ndarray) for x in items):
            return torch.from_numpy(np.stack(items))
        return items

    def bind(self, model: Any, device: torch.device) -> Callable[[Any], torch.Tensor]:
        pick = self.output

        def forward(batch: Any) -> torch.Tensor:
            if isinstance(batch, dict) or hasattr(batch, "keys"):
                return extract_tensor(model(**batch), pick)
            return extract_tensor(model(batch), pick)

        return forward

    def finalize(
        self, scores: NDArray[np.float32]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        kind = self.kind
        if kind == "auto":
            raise InputError(MSG_AUTO_KIND)
        x = np.asarray(scores, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise InputError(MSG_SCORES_SHAPE.format(kind=kind, extra="", shape=scores.shape))
        if kind == "multilabel":
            if self.threshold.size not in (1, x.shape[1]):
                raise InputError(
                    MSG_THRESHOLD_LABELS.format(got=self.threshold.size, want=x.shape[1])
                )
            probs = _sigmoid(x)
            return (probs >= self.threshold[None, :]).astype(np.int64), probs
        if kind == "binary" and x.shape[1] == 1:
            p1 = _sigmoid(x[:, 0])
            probs = np.stack([1.0 - p1, p1], axis=1)
            return (p1 >= self.threshold[0]).astype(np.int64), probs
        if kind == "binary" and x.shape[1] != 2:
            raise InputError(
                MSG_SCORES_SHAPE.format(kind=kind, extra=" with C = 1 or 2", shape=scores.shape)
                + MSG_BINARY_HINT
            )
        probs = _softmax(x)
        if kind == "binary" and self.threshold[0] != 0.5:
            # Two logits: class 1 when its softmax probability reaches the threshold (at 0.5
            # this is the argmax, which is kept so ties resolve as before).
            return (probs[:, 1] >= self.threshold[0]).astype(np.int64), probs
        return x.argmax(axis=1).astype(np.int64), probs
