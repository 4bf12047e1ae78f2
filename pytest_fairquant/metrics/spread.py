"""Compression error spread (Blakeney et al., "Simon Says"): CEV and SDE over classes.

Per class c (one-vs-rest), ΔFPR_c = 100·(FPR_c,compressed − FPR_c,dense)/FPR_c,dense, and the
same for FNR. With a population of compressed models (seeds), each class's FPR and FNR are
averaged over the population first, as the paper's published numbers are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._arrays import as_labels
from ..errors import InputError
from ..undefined import Undefined
from ._confusion import confusion_tables, rates
from ._inputs import MSG_SHAPE, class_count, prediction_labels


@dataclass(frozen=True)
class ErrorSpread:
    """CEV and SDE with the per-class deltas behind them and the classes left out."""

    cev: float
    sde: float
    classes: tuple[int, ...]
    delta_fpr: tuple[float, ...]
    delta_fnr: tuple[float, ...]
    excluded_classes: tuple[int, ...]
    n_models: int

    @property
    def notes(self) -> tuple[str, ...]:
        if not self.excluded_classes:
            return ()
        return (
            f"classes {list(self.excluded_classes)} excluded: their dense FPR or FNR is 0 or undefined",
        )

    def to_dict(self) -> dict[str, Any]:
        def plain(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return {
            "cev": plain(self.cev),
            "sde": plain(self.sde),
            "reason": getattr(self.cev, "reason", None),
            "classes": list(self.classes),
            "delta_fpr": list(self.delta_fpr),
            "delta_fnr": list(self.delta_fnr),
            "excluded_classes": list(self.excluded_classes),
            "n_models": self.n_models,
            "notes": list(self.notes),
        }


def _population(
    compressed_pred: Any, truth: NDArray[np.int64], n_classes: int
) -> NDArray[np.int64]:
    """(models, n) labels from one array, a (models, n) array or a list of arrays."""
    stacked = as_labels(compressed_pred, name="compressed_pred")
    if stacked.ndim == 1:
        stacked = stacked[None, :]
    if stacked.ndim != 2 or stacked.shape[1] != len(truth):
        raise InputError(
            MSG_SHAPE.format(
                name="compressed_pred",
                got=stacked.shape,
                want=f"({len(truth)},) or (models, {len(truth)})",
            )
        )
    for model in stacked:
        prediction_labels(model, truth, n_classes, name="compressed_pred")
    return stacked


def error_spread_details(
    y_true: Any, dense_pred: Any, compressed_pred: Any, *, n_classes: int | None = None
) -> ErrorSpread:
    """CEV, SDE and the per-class relative changes of FPR and FNR, in one confusion pass."""
    truth = as_labels(y_true, name="y_true")
    if truth.ndim != 1:
        raise InputError(MSG_SHAPE.format(name="y_true", got=truth.shape, want="(n,) class ids"))
    known = class_count(truth, n_classes)
    dense = prediction_labels(dense_pred, truth, known, name="dense_pred")
    population = _population(compressed_pred, truth, known)
    n_models = len(population)
    models = np.concatenate([dense[None, :], population])
    codes = np.repeat(np.arange(n_models + 1), len(truth))
    table = confusion_tables(
        np.tile(truth, n_models + 1), models.ravel(), codes, n_models + 1, known
    )
    r = rates(table)
    dense_fpr, dense_fnr = r["fpr"][0], r["fnr"][0]
    fpr, fnr = r["fpr"][1:].mean(axis=0), r["fnr"][1:].mean(axis=0)
    usable = (dense_fpr > 0) & (dense_fnr > 0)  # False for NaN too
    classes = tuple(int(c) for c in np.flatnonzero(usable))
    excluded = tuple(int(c) for c in np.flatnonzero(~usable))
    if not classes:
        missing = Undefined(
            "all_classes_excluded", "every class has a dense FPR or FNR of 0 (or no samples)"
        )
        return ErrorSpread(missing, missing, (), (), (), excluded, n_models)
    delta_fpr = 100.0 * (fpr[usable] - dense_fpr[usable]) / dense_fpr[usable]
    delta_fnr = 100.0 * (fnr[usable] - dense_fnr[usable]) / dense_fnr[usable]
    cev = (float(np.var(delta_fpr)) + float(np.var(delta_fnr))) / 2
    sde = float(np.mean(np.abs(delta_fpr - delta_fnr)) / math.sqrt(2))
    return ErrorSpread(
        cev,
        sde,
        classes,
        tuple(map(float, delta_fpr)),
        tuple(map(float, delta_fnr)),
        excluded,
        n_models,
    )


def cev(
    y_true: Any, dense_pred: Any, compressed_pred: Any, *, n_classes: int | None = None
) -> float:
    """Compression Error Variance: (Var(ΔFPR) + Var(ΔFNR)) / 2 over classes (ddof 0)."""
    return error_spread_details(y_true, dense_pred, compressed_pred, n_classes=n_classes).cev


def sde(
    y_true: Any, dense_pred: Any, compressed_pred: Any, *, n_classes: int | None = None
) -> float:
    """Speciality Difference Error: mean_c |ΔFPR_c − ΔFNR_c| / √2."""
    return error_spread_details(y_true, dense_pred, compressed_pred, n_classes=n_classes).sde
