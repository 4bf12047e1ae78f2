"""Ranking quality of a compressed retrieval model relative to its dense model.

A retrieval skew can shrink because the ranking went flat (every query returns an arbitrary
top k, so every group's share drifts to its prior). The utility guard of the retrieval gates
reads :func:`top_k_overlap`: per query, the share of the dense model's top k that the compressed
model still ranks in its own top k (1 = the same set, 0 = disjoint). Ties at the k-th score are
broken by item index, as in the skew metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._arrays import as_array
from ..errors import InputError

MSG_OVERLAP_SHAPES = (
    "dense and compressed scores must have the same shape (queries, items); got {a} and {b}"
)
MSG_OVERLAP_K = "k must be an int in [1, number of items = {items}]; got {k!r}"


def _top_k(scores: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    # A stable sort of the negated scores: ties go to the lower item index.
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def top_k_overlap(dense_scores: Any, compressed_scores: Any, *, k: int) -> NDArray[np.float64]:
    """Per query (row), |top_k(dense) ∩ top_k(compressed)| / k for ``(queries, items)`` scores."""
    dense = np.asarray(as_array(dense_scores, name="dense_scores"), dtype=np.float64)
    comp = np.asarray(as_array(compressed_scores, name="compressed_scores"), dtype=np.float64)
    if dense.shape != comp.shape or dense.ndim != 2:
        raise InputError(MSG_OVERLAP_SHAPES.format(a=dense.shape, b=comp.shape))
    items = dense.shape[1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= items:
        raise InputError(MSG_OVERLAP_K.format(items=items, k=k))
    k = int(k)
    top_dense, top_comp = _top_k(dense, k), _top_k(comp, k)
    member = np.zeros(dense.shape, dtype=bool)
    np.put_along_axis(member, top_dense, True, axis=1)
    return np.asarray(np.take_along_axis(member, top_comp, axis=1).sum(axis=1) / k)
