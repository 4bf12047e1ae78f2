"""What :func:`pytest_fairquant.evaluate.predict` returns: one model's outputs on one split."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .tasks.base import TaskKind


@dataclass(frozen=True, eq=False)
class Predictions:
    """One model's outputs on one :class:`~pytest_fairquant.data.DemographicSplit`, aligned by sample.

    ``scores`` are the raw outputs (see :class:`~pytest_fairquant.tasks.Task` for their shape per
    ``kind``); ``pred`` the predicted labels ((n,) class ids or (n, L) 0/1), ``probs`` the
    probabilities ((n, C) softmax, (n, L) sigmoid), both ``None`` for embeddings and retrieval.
    ``method`` is ``"dense"`` or the compression method id. ``metadata`` holds the device, batch
    size, wall time, compression info, noise floor and anything else a report should show.
    """

    scores: NDArray[np.float32]
    pred: NDArray[np.int64] | None
    probs: NDArray[np.float64] | None
    kind: TaskKind
    task: str
    method: str
    model_fingerprint: str
    split_fingerprint: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def positive_prob(self) -> NDArray[np.float64]:
        """P(class 1) per sample, for binary tasks."""
        if self.kind != "binary" or self.probs is None:
            raise ValueError(
                f"positive_prob needs binary predictions with probabilities; these are {self.kind}"
            )
        return self.probs[:, 1] if self.probs.ndim == 2 else self.probs

    @property
    def confidence(self) -> NDArray[np.float64]:
        """Probability of the predicted class (top-label confidence)."""
        if self.probs is None or self.pred is None or self.probs.ndim != 2 or self.pred.ndim != 1:
            raise ValueError(
                f"confidence needs single-label predictions with probabilities; these are {self.kind}"
            )
        return self.probs[np.arange(len(self.pred)), self.pred]
