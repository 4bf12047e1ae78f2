"""Retrieval skew (Geyik et al.; paper 000's FairFace protocol): Skew, MaxSkew and MinSkew at k.

For each query the items are ranked by score and exactly k are kept (ties at the k-th score are
broken by item index, stable), then Skew_a@k = ln(P_topk(a) / P_desired(a)) per attribute value.
P_desired is the value's share of the whole item set by default (``reference="prior"``, paper 000
§3: "estimated from true rates in the full dataset", so MaxSkew 0 means the top k mirrors the
data), or 1/#values (``reference="equal"``). The per-query values are kept because the statistics
layer pairs queries across models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .._arrays import MSG_EMPTY, as_array, as_finite
from ..errors import InputError
from ._inputs import encode_groups

MSG_K = "k must be an int in 1..{n_items} (the number of items ranked per query); got {got!r}"
MSG_REFERENCE = (
    "reference must be 'prior' (each value's share of all items, paper 000) or 'equal' "
    "(1/#values); got {got!r}"
)
MSG_SCORES = "scores must be a (queries, items) matrix of similarities; got shape {shape}"
MSG_TOP = (
    "top must be a (queries, k) matrix of item indices in rank order; got shape {shape} "
    "and dtype {dtype}"
)
MSG_TOP_INDEX = (
    "top holds item index {index}, outside 0..{last}: sensitive_features must cover every item"
)

SkewReference = Literal["prior", "equal"]


@dataclass(frozen=True, eq=False)
class SkewDetails:
    """MaxSkew@k / MinSkew@k (means over queries) with everything behind them.

    ``skew[q, a]`` is Skew_a@k of query q for attribute value ``values[a]``. A value absent
    from a query's top k (share 0, skew −inf) gets the share 1/k, capped at half its desired
    share so that its skew stays negative (1/k exceeds the desired share when k is small):
    ``n_substituted`` such cells, said in ``notes``.
    """

    max_skew: float
    min_skew: float
    per_query_max: NDArray[np.float64]
    per_query_min: NDArray[np.float64]
    skew: NDArray[np.float64]
    values: tuple[str, ...]
    desired: NDArray[np.float64]
    k: int
    reference: SkewReference
    n_substituted: int

    @property
    def notes(self) -> tuple[str, ...]:
        if not self.n_substituted:
            return ()
        return (
            f"{self.n_substituted} (query, value) cells had no item in the top {self.k}; "
            f"their share 0 was replaced by 1/k = {1 / self.k:.6g}, capped at half the value's "
            "desired share (below the desired share, so an absent value's skew stays negative)",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_skew": self.max_skew,
            "min_skew": self.min_skew,
            "per_query_max": self.per_query_max.tolist(),
            "per_query_min": self.per_query_min.tolist(),
            "values": list(self.values),
            "desired": self.desired.tolist(),
            "k": self.k,
            "reference": self.reference,
            "n_substituted": self.n_substituted,
            "notes": list(self.notes),
        }


def _check_k_reference(k: Any, n_items: int, reference: str) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n_items:
        raise InputError(MSG_K.format(n_items=n_items, got=k))
    if reference not in ("prior", "equal"):
        raise InputError(MSG_REFERENCE.format(got=reference))
    return int(k)


def skew_details(
    scores: Any, *, sensitive_features: Any, k: int, reference: SkewReference = "prior"
) -> SkewDetails:
    """Skew of every attribute value for every query; ``scores`` is (queries, items) or (items,)."""
    sims = as_finite(scores, name="scores")
    sims = sims[None, :] if sims.ndim == 1 else sims
    if sims.ndim != 2:
        raise InputError(MSG_SCORES.format(shape=sims.shape))
    k = _check_k_reference(k, sims.shape[1], reference)
    groups = encode_groups(sensitive_features, sims.shape[1], ref_name="the items of scores")
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return topk_skew_details(top, sensitive_features=groups, k=k, reference=reference)


def topk_skew_details(
    top: Any,
    *,
    sensitive_features: Any,
    k: int,
    reference: SkewReference = "prior",
) -> SkewDetails:
    """Skew from each query's top-k item indices, (queries, >= k) in rank order (streaming top-k).

    ``sensitive_features`` covers every item, so the attribute values and the prior come from
    the whole collection, not from the retrieved items.
    """
    ranked = np.asarray(as_array(top, name="top"))
    if ranked.ndim != 2 or ranked.dtype.kind not in "iu":
        raise InputError(MSG_TOP.format(shape=ranked.shape, dtype=ranked.dtype))
    if ranked.shape[0] == 0:
        raise InputError(MSG_EMPTY.format(name="top"))
    groups = encode_groups(sensitive_features, None)
    n_items = len(groups.codes)
    outside = (ranked < 0) | (ranked >= n_items)
    if outside.any():
        raise InputError(MSG_TOP_INDEX.format(index=int(ranked[outside][0]), last=n_items - 1))
    k = _check_k_reference(k, min(n_items, ranked.shape[1]), reference)
    n_queries, n_values = ranked.shape[0], groups.n_groups
    keys = (np.arange(n_queries)[:, None] * n_values + groups.codes[ranked[:, :k]]).ravel()
    counts = np.bincount(keys, minlength=n_queries * n_values).reshape(n_queries, n_values)
    missing = counts == 0
    if reference == "equal":
        desired = np.full(n_values, 1.0 / n_values)
    else:
        desired = groups.counts() / n_items
    substitute = np.minimum(1.0 / k, desired / 2)
    share = np.where(missing, substitute[None, :], counts / k)
    skew = np.log(share / desired)
    per_max, per_min = skew.max(axis=1), skew.min(axis=1)
    return SkewDetails(
        max_skew=float(per_max.mean()),
        min_skew=float(per_min.mean()),
        per_query_max=per_max,
        per_query_min=per_min,
        skew=skew,
        values=groups.names,
        desired=desired,
        k=k,
        reference=reference,
        n_substituted=int(missing.sum()),
    )


def max_skew(
    scores: Any, *, sensitive_features: Any, k: int, reference: SkewReference = "prior"
) -> float:
    """MaxSkew@k = max_a Skew_a@k, averaged over queries (paper 000)."""
    details = skew_details(scores, sensitive_features=sensitive_features, k=k, reference=reference)
    return details.max_skew


def min_skew(
    scores: Any, *, sensitive_features: Any, k: int, reference: SkewReference = "prior"
) -> float:
    """MinSkew@k = min_a Skew_a@k, averaged over queries (paper 000)."""
    details = skew_details(scores, sensitive_features=sensitive_features, k=k, reference=reference)
    return details.min_skew
