"""The protocol every task implements: how a batch of split inputs becomes model outputs.

A task turns raw items from :meth:`DemographicSplit.input_batch` into a model-ready batch
(``collate``), binds to one model once (``bind``: e.g. a CLIP zero-shot task computes its class
text embeddings there, once per model), and turns the concatenated raw outputs into predicted
labels and probabilities (``finalize``). :func:`pytest_fairquant.evaluate.predict` drives it and
moves batches to the device; tasks never loop over the data themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import torch

TaskKind = Literal["binary", "multiclass", "multilabel", "embedding", "retrieval"]


@runtime_checkable
class Task(Protocol):
    """How one kind of model output is produced and read.

    ``kind`` says what ``scores`` hold: (n, C) logits for ``binary``/``multiclass`` (a binary
    task may also emit (n, 1) logits), (n, L) logits for ``multilabel``, (n, D) embeddings for
    ``embedding``, (n, Q) similarities to Q text queries for ``retrieval``.
    """

    kind: TaskKind

    def fingerprint(self) -> str:
        """A stable string naming the task and every setting that changes its outputs."""
        ...

    def collate(self, items: Any) -> Any:
        """Turn the inputs of one batch (an array/tensor slice or a list of items) into a model batch."""
        ...

    def bind(self, model: Any, device: torch.device) -> Callable[[Any], torch.Tensor]:
        """Prepare for one model (once) and return ``forward(batch) -> scores`` for device-resident batches."""
        ...

    def finalize(
        self, scores: NDArray[np.float32]
    ) -> tuple[NDArray[np.int64] | None, NDArray[np.float64] | None]:
        """``(pred, probs)`` from all scores; ``(None, None)`` where labels make no sense (embeddings)."""
        ...
