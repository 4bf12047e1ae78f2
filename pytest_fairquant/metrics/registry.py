"""The metric and gap names other modules accept (gates, settings, reports), checked in one place."""

from __future__ import annotations

from ..errors import InputError

MSG_UNKNOWN_METRIC = "unknown metric {name!r}; known: {known}"
MSG_UNKNOWN_GAP = "unknown gap {name!r}; known: {known}"

#: Per-group metric names, with what they measure (docs/metrics.md has the definitions).
METRICS: dict[str, str] = {
    "accuracy": "share of correct predictions",
    "tpr": "true positive rate (recall), one-vs-rest per class",
    "fpr": "false positive rate, one-vs-rest per class",
    "fnr": "false negative rate, one-vs-rest per class",
    "ppv": "positive predictive value (precision), one-vs-rest per class",
    "selection_rate": "share of samples predicted as the class",
    "kappa": "Cohen's kappa",
    "auc": "ROC-AUC of the probabilities (needs y_prob)",
    "ece": "expected calibration error, 10 equal-width bins (needs y_prob)",
    "uncertainty": "share of probabilities in (0.1, 0.9) (needs y_prob)",
    "flip_rate": "share of predictions that differ from the dense model's (needs base_pred)",
}

#: Gap names: how a comparison across groups (or between dense and compressed) is summarised.
GAPS: dict[str, str] = {
    "fvo": "max minus min per-group accuracy (paper 002)",
    "equalized_odds": "fairlearn's equalized odds: max(|ΔTPR|, |ΔFPR|) across groups",
    "tpr": "max minus min per-group TPR; paper 003's equalized odds is this |ΔTPR|",
    "fpr": "max minus min per-group FPR",
    "demographic_parity": "max minus min per-group selection rate",
    "bias_amplification": (
        "Bias Amplification of a binary attribute, direction from the training rates (paper 004)"
    ),
    "accuracy_drop": "per-group accuracy drop from dense to compressed",
    "max_skew": "MaxSkew@k of retrieval against the dataset prior, mean over queries (paper 000)",
    "min_skew": "MinSkew@k of retrieval against the dataset prior, mean over queries (paper 000)",
}


def metric_names() -> tuple[str, ...]:
    return tuple(METRICS)


def gap_names() -> tuple[str, ...]:
    return tuple(GAPS)


def check_metric(name: str) -> str:
    """Return ``name`` if it is a known metric, else raise the one standard message."""
    if name not in METRICS:
        raise InputError(MSG_UNKNOWN_METRIC.format(name=name, known=", ".join(METRICS)))
    return name


def check_gap(name: str) -> str:
    if name not in GAPS:
        raise InputError(MSG_UNKNOWN_GAP.format(name=name, known=", ".join(GAPS)))
    return name
