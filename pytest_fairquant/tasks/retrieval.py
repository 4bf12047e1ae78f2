"""Text-to-image retrieval with a CLIP model, and MaxSkew@k / MinSkew@k over its rankings (paper 000).

:class:`RetrievalTask` embeds a list of text queries once per model in ``bind`` and scores each
image batch by cosine similarity, so ``Predictions.scores`` is (n_images, Q). The skew of each
query's top k (METRICS.md "Retrieval skew") comes from the metrics module; this module adds the
ranking side: :func:`streaming_topk` keeps a running top k per query across score batches (ties
broken by image index, as a stable sort of the full column would), so a large image set never
needs its full similarity matrix, and :func:`stream_topk` runs a model over a split that way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from .._arrays import as_finite
from ..errors import InputError
from .clip import (
    ClipAdapter,
    FamilySetting,
    check_family_setting,
    collate_images,
    embed_texts,
    similarity_forward,
    tokenizer_identity,
    unit_rows,
)
from .zeroshot import settings_digest

if TYPE_CHECKING:
    import torch

    from ..data.split import DemographicSplit
    from ..metrics import SkewDetails
    from ..metrics.skew import SkewReference

MSG_NO_QUERIES = "queries is empty: retrieval needs at least one text query"
MSG_BAD_K = "k must be a positive int no larger than the number of images ({n}); got {k!r}"
MSG_SCORE_COLUMNS = (
    "score batch {i} has {got} columns but earlier batches have {want}: one column per query"
)
MSG_NO_BATCHES = "no score batches: the image set is empty"
MSG_RANKING = (
    "ranking must be the (n_images={n}, n_queries) score matrix or (n_queries, k) top-k image "
    "indices; got shape {shape}"
)


class RetrievalTask:
    """Rank images for each of ``queries`` by cosine similarity with a CLIP model.

    ``scores`` are (n_images, Q) cosine similarities (dot products when ``normalize`` is off);
    ``finalize`` returns ``(None, None)``: a ranking has no predicted label.
    """

    kind: Literal["retrieval"] = "retrieval"

    def __init__(
        self,
        queries: Sequence[str],
        *,
        tokenizer: Any = None,
        normalize: bool = True,
        family: FamilySetting = "auto",
        preprocess: Callable[[Any], Any] | None = None,
        text_batch_size: int = 256,
    ) -> None:
        found = tuple(str(q) for q in queries)
        if not found:
            raise InputError(MSG_NO_QUERIES)
        self.queries = found
        self.tokenizer = tokenizer
        self.normalize = normalize
        self.family = check_family_setting(family)
        self.preprocess = preprocess
        self.text_batch_size = text_batch_size

    def fingerprint(self) -> str:
        settings = {
            "queries": self.queries,
            "normalize": self.normalize,
            "family": self.family,
            "tokenizer": tokenizer_identity(self.tokenizer),
            "preprocess": repr(self.preprocess) if self.preprocess is not None else None,
        }
        return f"clip-retrieval-v1:{settings_digest(settings)}"

    def collate(self, items: Any) -> torch.Tensor:
        return collate_images(items, self.preprocess)

    def query_embeddings(self, adapter: ClipAdapter, device: torch.device) -> torch.Tensor:
        """(Q, D) query embeddings, unit-normed when ``normalize``."""
        emb = embed_texts(adapter, self.queries, device, batch_size=self.text_batch_size)
        return unit_rows(emb) if self.normalize else emb

    def bind(self, model: Any, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
        adapter = ClipAdapter.wrap(model, tokenizer=self.tokenizer, family=self.family)
        return similarity_forward(
            adapter, self.query_embeddings(adapter, device), normalize=self.normalize, scale=1.0
        )

    def finalize(self, scores: NDArray[np.float32]) -> tuple[None, None]:
        return None, None


# ---------------------------------------------------------------------------- top-k rankings


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= n:
        raise InputError(MSG_BAD_K.format(n=n, k=k))
    return int(k)


def dense_topk(scores: Any, k: int) -> NDArray[np.int64]:
    """(Q, k) image indices of each query's k best scores from a full (n_images, Q) matrix.

    Highest score first; equal scores in index order (a stable sort), exactly k per query.
    """
    s = as_finite(scores, name="scores")
    if s.ndim != 2:
        raise InputError(f"scores must be (n_images, n_queries); got shape {s.shape}")
    k = _check_k(k, s.shape[0])
    return np.argsort(-s.T, axis=1, kind="stable")[:, :k].astype(np.int64)


def streaming_topk(score_batches: Iterable[Any], k: int) -> NDArray[np.int64]:
    """:func:`dense_topk` over batches of rows, holding at most (k + batch) scores per query.

    ``score_batches`` yields (B_i, Q) similarity blocks for consecutive images (as
    :func:`stream_topk` or any batched loop produces); the result equals ``dense_topk`` of their
    concatenation, ties included.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(MSG_BAD_K.format(n="the image count", k=k))
    best_scores: NDArray[np.float64] | None = None
    best_index: NDArray[np.int64] | None = None
    offset = 0
    for i, batch in enumerate(score_batches):
        block = as_finite(batch, name=f"score batch {i}")
        if block.ndim != 2:
            raise InputError(f"score batch {i} must be (batch, n_queries); got shape {block.shape}")
        rows = np.arange(offset, offset + block.shape[0], dtype=np.int64)
        offset += block.shape[0]
        cand_scores = block.T
        cand_index = np.broadcast_to(rows, cand_scores.shape)
        if best_scores is not None and best_index is not None:
            if block.shape[1] != best_scores.shape[0]:
                raise InputError(
                    MSG_SCORE_COLUMNS.format(i=i, got=block.shape[1], want=best_scores.shape[0])
                )
            cand_scores = np.concatenate([best_scores, cand_scores], axis=1)
            cand_index = np.concatenate([best_index, cand_index], axis=1)
        # Sort by score descending, then by image index: the order a stable sort of the whole
        # column gives, so the kept k never depend on the batch size.
        order = np.lexsort((cand_index, -cand_scores), axis=1)[:, :k]
        best_scores = np.take_along_axis(cand_scores, order, axis=1)
        best_index = np.take_along_axis(cand_index, order, axis=1)
    if best_index is None:
        raise InputError(MSG_NO_BATCHES)
    _check_k(k, offset)
    return best_index


def iter_scores(
    model: Any, split: DemographicSplit, task: Any, *, device: Any = "auto", batch_size: int = 64
) -> Iterator[NDArray[np.float32]]:
    """Yield the task's (B, Q) score block for each batch of ``split``; nothing is kept.

    The model is placed as :func:`~pytest_fairquant.evaluate.predict` places it (a plain CPU
    model visits the accelerator and comes back; bitsandbytes and torch.ao models stay put).
    """
    import torch

    from ..evaluate import placed, to_device

    with placed(model, device) as target, torch.no_grad():
        forward = task.bind(model, target)
        for _rows, items in split.iter_batches(batch_size):
            out = forward(to_device(task.collate(items), target))
            yield out.detach().float().cpu().numpy()


def stream_topk(
    model: Any,
    split: DemographicSplit,
    task: RetrievalTask,
    *,
    k: int,
    device: Any = "auto",
    batch_size: int = 64,
) -> NDArray[np.int64]:
    """(Q, k) top-k image indices for every query of ``task``, without the full similarity matrix."""
    return streaming_topk(iter_scores(model, split, task, device=device, batch_size=batch_size), k)


# ---------------------------------------------------------------------------- skew


def retrieval_skew(
    ranking: Any,
    split: DemographicSplit,
    attributes: Sequence[str] | str,
    *,
    k: int,
    reference: SkewReference = "prior",
) -> dict[str, SkewDetails]:
    """MaxSkew@k / MinSkew@k per attribute (METRICS.md "Retrieval skew"), from metrics' functions.

    ``ranking`` is either the (n_images, Q) score matrix (``Predictions.scores``, read by
    :func:`skew_details`) or the (Q, k) top-k image indices of :func:`streaming_topk` /
    :func:`stream_topk` (read by :func:`topk_skew_details`); both give the same numbers.
    ``reference`` is the desired share of each value: its share of the whole split ("prior",
    paper 000) or 1/#values ("equal").
    """
    from ..metrics import skew_details, topk_skew_details

    names = (attributes,) if isinstance(attributes, str) else tuple(attributes)
    arr = np.asarray(ranking)
    if arr.dtype.kind in "iu":
        return {
            a: topk_skew_details(
                arr, sensitive_features=split.sensitive_features(a), k=k, reference=reference
            )
            for a in names
        }
    scores = as_finite(arr, name="scores")
    if scores.ndim != 2 or scores.shape[0] != len(split):
        raise InputError(MSG_RANKING.format(n=len(split), shape=scores.shape))
    return {
        a: skew_details(
            scores.T, sensitive_features=split.sensitive_features(a), k=k, reference=reference
        )
        for a in names
    }
