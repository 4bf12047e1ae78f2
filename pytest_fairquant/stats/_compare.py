"""The gate's comparison: dense vs compressed per group, with a verdict a person can act on.

:func:`compare` returns a :class:`Comparison`; :func:`assess_gap` does the same for one model
against a fixed threshold, :func:`compare_units` for matched units (queries, classes, models)
through a paired t-test, and :func:`group_intervals` gives bootstrap intervals per group for
reports and snapshots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

from .._arrays import as_array, as_finite
from ..errors import InputError
from ..metrics._confusion import rates
from ..metrics._inputs import (
    LabelData,
    check_binary,
    check_two_groups,
    encode_groups,
    prediction_labels,
    prepare,
)
from ..metrics.bias import bias_amplification
from ..metrics.registry import check_gap, check_metric
from ..undefined import Undefined
from ._decisions import (
    adjust,
    check_correction,
    minimum_detectable_effect,
    paired_drop_test,
    paired_ttest,
    permutation_gap_test,
    swap_permutation_test,
)
from ._resample import (
    BootstrapResult,
    PairedCells,
    TableStatistic,
    as_interval,
    bootstrap_cells,
    check_interval,
    check_n_boot,
)

Verdict = Literal["pass", "fail", "inconclusive", "insufficient_data", "error"]

MSG_ALPHA = "alpha must be a number strictly between 0 and 1 (e.g. 0.05); got {got!r}"
MSG_TOLERANCE = (
    "tolerance must be a finite number >= 0, in the gap's units (e.g. 0.02 for two accuracy "
    "points); got {got!r}"
)
MSG_THRESHOLD = "threshold must be a finite number >= 0, in the gap's units; got {got!r}"
MSG_MIN_SUPPORT = "{name} must be an int >= 1; got {got!r}"
MSG_NOISE_FLOOR = "noise_floor must be a flip rate in [0, 1] (or None); got {got!r}"
MSG_UNIT_GAP = (
    "gap {gap!r} is measured per query, not per sample: compute it per query for both models "
    "and call compare_units(base_values, compressed_values, ...)"
)
MSG_BA_TRAIN = (
    "gap='bias_amplification' needs train_y_true= and train_sensitive_features= (BA takes its "
    "direction from the training labels); pass both"
)
MSG_DROP_METRIC = "gap='accuracy_drop' compares metric in {known}; got metric={got!r}"
MSG_MULTILABEL = (
    "compare takes one label per sample; for a multi-label task compare each label column "
    "separately (y_true[:, j], base_pred[:, j], compressed_pred[:, j])"
)
MSG_ASSESS_GAP = "assess_gap supports gap in {known}; got {got!r}"
MSG_N_PERMUTATIONS = "n_permutations must be an int >= 1; got {got!r}"

#: Per-group metrics whose increase is the harm; for the others a decrease is.
LOWER_IS_BETTER = frozenset({"fpr", "fnr"})
_DROP_METRICS = ("accuracy", "tpr", "fpr", "fnr")
_ASSESS_GAPS = ("fvo", "tpr", "fpr", "demographic_parity", "equalized_odds")
#: The per-group metric each gap is built from (``accuracy_drop`` takes ``metric``).
_GAP_METRIC = {
    "fvo": "accuracy",
    "tpr": "tpr",
    "fpr": "fpr",
    "equalized_odds": "tpr",
    "demographic_parity": "selection_rate",
    "bias_amplification": "selection_rate",
}


def _versions() -> tuple[tuple[str, str], ...]:
    import scipy

    from .. import __version__

    return (
        ("numpy", np.__version__),
        ("pytest-fairquant", __version__),
        ("scipy", scipy.__version__),
    )


def _plain(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return float(value)


def _why(value: float | None) -> dict[str, str] | None:
    if isinstance(value, Undefined):
        return value.to_dict()
    if isinstance(value, float) and math.isnan(value):
        return {"reason": "nan", "detail": "undefined"}
    return None


def _interval_list(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [float(interval[0]), float(interval[1])]


def harm(metric: str, delta: float) -> float:
    """How much worse a change makes a group (positive = worse)."""
    if metric in LOWER_IS_BETTER:
        return delta
    if metric == "selection_rate":
        return abs(delta)
    return -delta


@dataclass(frozen=True)
class GroupComparison:
    """One group's metric for the dense (``base``) and compressed model.

    ``delta = compressed − base`` in the metric's own direction (see :func:`harm`); ``p_value``
    tests that this group got worse beyond the tolerance (for ``fvo``: worse than the rest of
    the groups), ``p_adjusted`` after the correction; ``mde`` is the smallest change a
    one-sided test at ``alpha`` (Bonferroni over the groups) detects with 80 % power, from the
    bootstrap standard error of the group's delta.
    """

    group: str
    n: int
    positives: int | None
    base: float | None
    compressed: float
    delta: float
    interval: tuple[float, float] | None
    p_value: float | None
    p_adjusted: float | None
    mde: float | None

    def to_dict(self) -> dict[str, Any]:
        undefined = {
            name: why
            for name in ("base", "compressed", "delta")
            if (why := _why(getattr(self, name))) is not None
        }
        return {
            "group": self.group,
            "n": self.n,
            "positives": self.positives,
            "base": _plain(self.base),
            "compressed": _plain(self.compressed),
            "delta": _plain(self.delta),
            "interval": _interval_list(self.interval),
            "p_value": _plain(self.p_value),
            "p_adjusted": _plain(self.p_adjusted),
            "mde": _plain(self.mde),
            "undefined": undefined,
        }


@dataclass(frozen=True)
class Comparison:
    """The outcome of a gate: verdict, the gap before and after, the test and its reasons.

    ``delta = compressed_gap − base_gap`` (positive = amplification); for ``accuracy_drop`` it is
    the largest per-group harm and the gap fields are None; for :func:`assess_gap` the base
    fields and ``delta`` are None, ``compressed_gap`` is the model's gap and ``tolerance`` the
    threshold. ``interval`` is the bootstrap interval of ``delta`` (of the gap for
    :func:`assess_gap`); ``required_n`` is about how many samples per group would decide an
    inconclusive gate.
    """

    verdict: Verdict
    gap: str
    metric: str
    attribute: str | None
    base_gap: float | None
    compressed_gap: float | None
    delta: float | None
    interval: tuple[float, float] | None
    interval_method: str
    p_value: float | None
    test: str
    correction: str
    tolerance: float
    alpha: float
    n_boot: int
    seed: int
    groups: tuple[GroupComparison, ...]
    reasons: tuple[str, ...]
    required_n: int | None
    noise_floor: float | None
    n: int
    versions: tuple[tuple[str, str], ...] = field(default_factory=_versions)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def worst_group(self) -> GroupComparison | None:
        """The group the change hurt most (None without groups)."""
        scored = [g for g in self.groups if not math.isnan(g.delta)]
        if not scored:
            return None
        return max(scored, key=lambda g: harm(self.metric, g.delta))

    def downgraded(self, reason: str) -> Comparison:
        """This comparison made inconclusive, e.g. when a failure does not survive a correction
        across attributes."""
        return replace(self, verdict="inconclusive", reasons=(*self.reasons, reason))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain floats, NaN as null with its reason under ``undefined``."""
        undefined = {
            name: why
            for name in ("base_gap", "compressed_gap", "delta")
            if (why := _why(getattr(self, name))) is not None
        }
        worst = self.worst_group
        return {
            "verdict": self.verdict,
            "gap": self.gap,
            "metric": self.metric,
            "attribute": self.attribute,
            "base_gap": _plain(self.base_gap),
            "compressed_gap": _plain(self.compressed_gap),
            "delta": _plain(self.delta),
            "interval": _interval_list(self.interval),
            "interval_method": self.interval_method,
            "p_value": _plain(self.p_value),
            "test": self.test,
            "correction": self.correction,
            "tolerance": self.tolerance,
            "alpha": self.alpha,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "n": self.n,
            "required_n": self.required_n,
            "noise_floor": self.noise_floor,
            "worst_group": None if worst is None else worst.group,
            "groups": [g.to_dict() for g in self.groups],
            "reasons": list(self.reasons),
            "undefined": undefined,
            "versions": dict(self.versions),
        }


# --------------------------------------------------------------------------- validation


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError(MSG_ALPHA.format(got=alpha))
    return float(alpha)


def _check_nonnegative(value: Any, message: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InputError(message.format(got=value))
    return float(value)


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(MSG_MIN_SUPPORT.format(name=name, got=value))
    return int(value)


def _check_noise_floor(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InputError(MSG_NOISE_FLOOR.format(got=value))
    return float(value)


# --------------------------------------------------------------------------- table statistics


def group_metric(table: NDArray[np.float64], metric: str) -> NDArray[np.float64]:
    """Per-group ``metric`` of ``(..., G, C, C)`` tables: class 1 of a binary task, else the
    macro average over the classes where the rate is defined (as ``metrics`` reports it)."""
    values = rates(table)[metric]
    if metric == "accuracy":
        return values
    if table.shape[-1] == 2:
        return values[..., 1]
    defined = np.isfinite(values)
    count = defined.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(defined, values, 0.0).sum(axis=-1) / count, dtype=np.float64)


def _spread(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(values.max(axis=-1) - values.min(axis=-1), dtype=np.float64)


def _ba(table: NDArray[np.float64], group: int) -> NDArray[np.float64]:
    """Paper 004's BA of binary ``(..., 2, 2, 2)`` tables with identity ``group`` favoured."""
    predicted = table[..., :, :, 1].sum(axis=-1)
    actual = table[..., :, 1, :].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = predicted[..., group] / predicted.sum(axis=-1)
        return np.asarray(share - actual[..., group] / actual.sum(axis=-1), dtype=np.float64)


def gap_of(gap: str, table: NDArray[np.float64], ba_group: int = 1) -> NDArray[np.float64]:
    """The value of ``gap`` for tables ``(..., G, C, C)``: shape ``(...)``."""
    if gap == "equalized_odds":
        return np.maximum(_spread(group_metric(table, "tpr")), _spread(group_metric(table, "fpr")))
    if gap == "bias_amplification":
        return _ba(table, ba_group)
    return _spread(group_metric(table, _GAP_METRIC[gap]))


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Paired:
    data: LabelData
    compressed: NDArray[np.int64]
    names: tuple[str, ...]
    sizes: NDArray[np.int64]
    cells: PairedCells


def _paired_inputs(
    y_true: Any, base_pred: Any, compressed_pred: Any, sensitive_features: Any, sample_weight: Any
) -> _Paired:
    data = prepare(
        y_true, base_pred, sensitive_features=sensitive_features, sample_weight=sample_weight
    )
    if data.multilabel:
        raise InputError(MSG_MULTILABEL)
    compressed = prediction_labels(
        compressed_pred, data.y_true, data.n_classes, name="compressed_pred"
    )
    groups = data.groups
    check_two_groups(groups, "compare")
    cells = PairedCells.build(
        data.y_true,
        data.y_pred,
        compressed,
        groups.codes,
        groups.n_groups,
        data.n_classes,
        data.weights,
    )
    sizes = np.bincount(groups.codes, minlength=groups.n_groups)
    return _Paired(data, compressed, tuple(str(n) for n in groups.names), sizes, cells)


def _support(
    paired: _Paired, needs: Sequence[str], min_group_size: int, min_positives: int
) -> tuple[list[str], list[int | None]]:
    """Reasons for insufficient support, and the positives per group (binary tasks)."""
    data = paired.data
    c = data.n_classes
    per_class = np.bincount(
        data.groups.codes * c + data.y_true, minlength=len(paired.names) * c
    ).reshape(-1, c)
    positives: list[int | None] = (
        [int(v) for v in per_class[:, 1]] if c == 2 else [None] * len(paired.names)
    )
    reasons = []
    for g, name in enumerate(paired.names):
        n_g = int(paired.sizes[g])
        if n_g < min_group_size:
            reasons.append(f"group {name}: {n_g} samples, needs {min_group_size}")
            continue
        # Multiclass one-vs-rest: the rarest class is the binding positive count.
        pos = int(per_class[g, 1]) if c == 2 else int(per_class[g].min())
        neg = int(per_class[g, 0]) if c == 2 else int(n_g - per_class[g].max())
        if "positives" in needs and pos < min_positives:
            reasons.append(f"group {name}: {pos} positives, needs {min_positives}")
        if "negatives" in needs and neg < min_positives:
            reasons.append(f"group {name}: {neg} negatives, needs {min_positives}")
    return reasons, positives


def _needs(gap: str, metric: str) -> tuple[str, ...]:
    if gap in ("tpr", "bias_amplification") or (
        gap == "accuracy_drop" and metric in ("tpr", "fnr")
    ):
        return ("positives",)
    if gap == "fpr" or (gap == "accuracy_drop" and metric == "fpr"):
        return ("negatives",)
    if gap == "equalized_odds":
        return ("positives", "negatives")
    return ()


def _outcome_counts(paired: _Paired, metric: str) -> tuple[NDArray[np.float64], ...]:
    """Per group: (harmed, helped, n) of the paired per-sample outcome behind ``metric``.

    accuracy: correct on all samples; tpr/fnr: predicted positive among positives; fpr:
    predicted positive among negatives. With sample weights the counts are effective (Kish)
    counts, so the tests below see the information the weighted sample carries.
    """
    data = paired.data
    y, base, comp = data.y_true, data.y_pred, paired.compressed
    if metric == "accuracy":
        subset, ub, uc = np.ones(len(y), bool), base == y, comp == y
    else:
        subset = y == (0 if metric == "fpr" else 1)
        ub, uc = base == 1, comp == 1
    worse = uc > ub if metric == "fpr" else uc < ub
    better = (uc != ub) & ~worse
    g = data.groups.codes
    w = np.ones(len(y)) if data.weights is None else data.weights
    size = len(paired.names)

    def total(mask: NDArray[np.bool_], values: NDArray[np.float64]) -> NDArray[np.float64]:
        sums = np.bincount(g, weights=np.where(mask & subset, values, 0.0), minlength=size)
        return sums.astype(np.float64)

    s0, ssq = total(subset, w), total(subset, w * w)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = np.where(ssq > 0, s0 * s0 / ssq, 0.0)
        scale = np.where(s0 > 0, n_eff / s0, 0.0)
    return total(worse, w) * scale, total(better, w) * scale, n_eff


def _drop_tests(
    paired: _Paired, metric: str, tolerance: float, correction: str
) -> tuple[list[float], list[float]]:
    harmed, helped, n = _outcome_counts(paired, metric)
    raw = [
        paired_drop_test(round(h), round(k), max(1, round(m)), tolerance)
        for h, k, m in zip(harmed, helped, n, strict=True)
    ]
    return raw, adjust(raw, correction)


# --------------------------------------------------------------------------- compare


def _bootstrap(
    cells: PairedCells,
    statistic: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]],
    n_boot: int,
    seed: int,
    alpha: float,
    interval: str,
) -> BootstrapResult:
    return bootstrap_cells(
        cells, statistic, n_boot=n_boot, seed=seed, alpha=alpha, method=check_interval(interval)
    )


#: ``_decide_unclear``'s "group" for unit-level (paired t-test) comparisons.
UNITS = "of units"


def _decide_unclear(
    mde: float | None,
    n_smallest: int,
    smallest: str,
    tolerance: float,
    interval: tuple[float, float] | None,
    p_value: float | None,
    alpha: float,
) -> tuple[list[str], int | None]:
    """Why neither pass nor fail, and about how many samples per group would decide it."""
    reasons = []
    span = "undefined" if interval is None else f"[{interval[0]:+.4f}, {interval[1]:+.4f}]"
    p_text = "n/a" if p_value is None else f"{p_value:.4g}"
    reasons.append(
        f"the interval {span} reaches above the tolerance {tolerance:g}, "
        f"but the harm is not significant (p = {p_text} >= alpha {alpha:g})"
        if p_value is None or p_value >= alpha
        else f"the harm is significant (p = {p_text}) but its point estimate is within "
        f"the tolerance {tolerance:g}, and the interval {span} reaches above it"
    )
    if tolerance == 0:
        reasons.append(
            "a tolerance of 0 passes only when the interval lies at or below 0; "
            "set a tolerance the change may use (e.g. 0.01)"
        )
        return reasons, None
    if mde is None or not math.isfinite(mde) or mde <= tolerance:
        return reasons, None
    required = math.ceil(n_smallest * (mde / tolerance) ** 2)
    where = (
        f"({n_smallest} matched units): about {required:,} units would decide it"
        if smallest == UNITS
        else f"(group {smallest}, n={n_smallest}): about {required:,} samples would decide it"
    )
    reasons.append(f"minimum detectable effect {mde:.3f} > tolerance {tolerance:g} {where}")
    return reasons, required


def compare(
    y_true: Any,
    base_pred: Any,
    compressed_pred: Any,
    *,
    sensitive_features: Any,
    gap: str = "fvo",
    metric: str = "accuracy",
    tolerance: float = 0.0,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    min_group_size: int = 30,
    min_positives: int = 10,
    correction: str = "holm",
    interval: str = "percentile",
    sample_weight: Any = None,
    train_y_true: Any = None,
    train_sensitive_features: Any = None,
    noise_floor: float | None = None,
    attribute: str | None = None,
    n_permutations: int = 1999,
    power: float = 0.8,
) -> Comparison:
    """Did compression widen ``gap`` between the groups of ``sensitive_features``?

    Verdicts: ``fail`` when the amplification is significant (the test's p < ``alpha`` after
    correction) and its point estimate exceeds ``tolerance``; ``pass`` when the bootstrap
    interval's upper bound of the amplification is ≤ ``tolerance``; ``inconclusive`` otherwise,
    with the minimum detectable effect of the smallest group and about how many samples would
    decide it; ``insufficient_data`` when a group has fewer than ``min_group_size`` samples (or,
    for rate gaps, fewer than ``min_positives`` positives/negatives); ``error`` when the gap
    cannot be computed on these inputs (e.g. BA's train-gap filter). None passes silently.

    Gaps and their tests:

    - ``fvo`` (max − min group accuracy). The FVO can only grow by as much as some group lost
      relative to the others (FVO' − FVO ≤ max_g drop_g − min_g drop_g), so the test asks
      whether a group lost more than the rest by more than τ: a permutation test of group labels
      over d_i = correct_compressed − correct_dense with the max-over-groups Welch-studentized
      statistic (family-wise over groups, single-step max-T adjusted p per group). A fail also
      needs the FVO itself to have grown by more than τ: a group that was the best and lost
      accuracy narrows the FVO (no fail, though its per-group p shows the harm); a group that
      was, or becomes, the worst widens it. Use ``accuracy_drop`` to fail on any group's own loss.
    - ``accuracy_drop``: fail if some group's own ``metric`` (accuracy, or tpr/fpr/fnr for a
      binary task) got worse by more than τ: per group a one-sided exact McNemar test on the
      discordant pairs (τ = 0) or Tango's score test of the paired difference (τ > 0), with
      ``correction`` across groups; ``delta`` is the largest per-group harm.
    - ``tpr``, ``fpr``, ``equalized_odds``, ``demographic_parity`` (max − min over groups;
      multiclass rates macro-averaged over classes within each group) and
      ``bias_amplification`` (needs ``train_y_true``/``train_sensitive_features``): the gap's
      change is tested with the paired swap permutation test (exact at τ = 0); per-group rows
      of binary tpr/fpr carry paired drop tests.

    An inconclusive verdict names the smallest group's minimum detectable effect (see
    :class:`GroupComparison`) and ``required_n = n_g · (mde / τ)²``, the group size at which the
    effect that test detects shrinks to the tolerance. Same inputs and seed give byte-identical
    ``to_dict()``.
    """
    gap = check_gap(gap)
    if gap in ("max_skew", "min_skew"):
        raise InputError(MSG_UNIT_GAP.format(gap=gap))
    metric = check_metric(metric)
    if gap == "accuracy_drop" and metric not in _DROP_METRICS:
        raise InputError(MSG_DROP_METRIC.format(known=", ".join(_DROP_METRICS), got=metric))
    shown = metric if gap == "accuracy_drop" else _GAP_METRIC[gap]
    alpha = _check_alpha(alpha)
    tolerance = _check_nonnegative(tolerance, MSG_TOLERANCE)
    n_boot = check_n_boot(n_boot)
    n_permutations = _check_count(n_permutations, "n_permutations")
    min_group_size = _check_count(min_group_size, "min_group_size")
    min_positives = _check_count(min_positives, "min_positives")
    correction = check_correction(correction)
    check_interval(interval)
    noise_floor = _check_noise_floor(noise_floor)
    if gap == "bias_amplification" and (train_y_true is None or train_sensitive_features is None):
        raise InputError(MSG_BA_TRAIN)

    paired = _paired_inputs(y_true, base_pred, compressed_pred, sensitive_features, sample_weight)
    data, cells = paired.data, paired.cells
    if data.n_classes != 2 and (
        gap == "bias_amplification" or (shown in ("tpr", "fpr", "fnr") and gap == "accuracy_drop")
    ):
        check_binary(data.y_true, name="y_true", metric=f"gap={gap!r}")
    if attribute is None:
        attribute = data.groups.attribute
    ba_group = 1
    base_ba: float | None = None
    compressed_ba: float | None = None
    if gap == "bias_amplification":
        ba_group, base_ba, compressed_ba = _ba_setup(paired, train_y_true, train_sensitive_features)

    def amplification(tb: NDArray[np.float64], tc: NDArray[np.float64]) -> NDArray[np.float64]:
        if gap == "accuracy_drop":
            change = group_metric(tc, shown) - group_metric(tb, shown)
            harmed = change if shown in LOWER_IS_BETTER else -change
            return np.asarray(harmed.max(axis=-1), dtype=np.float64)
        return gap_of(gap, tc, ba_group) - gap_of(gap, tb, ba_group)

    def statistic(tb: NDArray[np.float64], tc: NDArray[np.float64]) -> NDArray[np.float64]:
        per_group = group_metric(tc, shown) - group_metric(tb, shown)
        return np.concatenate([amplification(tb, tc)[..., None], per_group], axis=-1)

    tb, tc = cells.point_tables()
    base_values, compressed_values = group_metric(tb, shown), group_metric(tc, shown)
    if gap == "accuracy_drop":
        base_gap: float | None = None
        compressed_gap: float | None = None
    elif gap == "bias_amplification":
        base_gap, compressed_gap = base_ba, compressed_ba
    else:
        base_gap, compressed_gap = float(gap_of(gap, tb)), float(gap_of(gap, tc))
    delta = float(amplification(tb, tc))

    common = dict(
        gap=gap,
        metric=shown,
        attribute=attribute,
        base_gap=base_gap,
        compressed_gap=compressed_gap,
        tolerance=tolerance,
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
        noise_floor=noise_floor,
        n=int(paired.sizes.sum()),
        interval_method=interval,
    )
    notes = []
    if noise_floor:
        notes.append(
            f"the dense model's reruns disagree on {noise_floor:.2%} of samples (noise floor); "
            "flips at that rate are kernel noise, not compression"
        )
    support, positives = _support(paired, _needs(gap, shown), min_group_size, min_positives)
    if gap == "bias_amplification":
        for value in (base_ba, compressed_ba):
            if isinstance(value, Undefined) and value.reason == "ba_too_few_positives":
                support.append(value.detail)
    plain_groups = _group_rows(paired, base_values, compressed_values, positives)
    if support:
        return Comparison(
            verdict="insufficient_data",
            delta=delta,
            interval=None,
            p_value=None,
            test="none (insufficient support)",
            correction=correction,
            groups=plain_groups,
            reasons=(*dict.fromkeys(support), *notes),
            required_n=None,
            **common,  # type: ignore[arg-type]
        )
    undefined = [v for v in (base_gap, compressed_gap, delta) if v is not None and math.isnan(v)]
    if undefined:
        detail = getattr(undefined[0], "detail", None) or _undefined_detail(
            paired, base_values, compressed_values, shown
        )
        return Comparison(
            verdict="error",
            delta=delta,
            interval=None,
            p_value=None,
            test="none (the gap is undefined)",
            correction=correction,
            groups=plain_groups,
            reasons=(f"{gap} is undefined: {detail}", *notes),
            required_n=None,
            **common,  # type: ignore[arg-type]
        )

    boot = _bootstrap(cells, statistic, n_boot, seed, alpha, interval)
    se = boot.standard_error
    g_count = len(paired.names)
    if gap == "fvo":
        change = (paired.compressed == data.y_true).astype(np.float64) - (
            data.y_pred == data.y_true
        )
        perm = permutation_gap_test(
            change,
            data.groups.codes,
            g_count,
            tolerance=tolerance,
            n_permutations=n_permutations,
            seed=seed,
            weights=data.weights,
        )
        p_value: float | None = perm.p_value
        p_raw: list[float | None] = [float(p) for p in perm.p_group]
        p_adj: list[float | None] = [float(p) for p in perm.p_adjusted]
        failing = [
            g
            for g in range(g_count)
            if p_adj[g] is not None and p_adj[g] < alpha  # type: ignore[operator]
        ]
        test = (
            f"permutation test of group labels, max-over-groups Welch t of relative harm "
            f"({n_permutations} permutations)"
        )
        used_correction = "max-T permutation (Westfall-Young single-step, family-wise over groups)"
    elif gap == "accuracy_drop":
        raw, adjusted = _drop_tests(paired, shown, tolerance, correction)
        p_raw, p_adj = list(raw), list(adjusted)
        drops = [harm(shown, c - b) for b, c in zip(base_values, compressed_values, strict=True)]
        failing = [g for g in range(g_count) if adjusted[g] < alpha and drops[g] > tolerance]
        p_value = float(min(adjusted))
        test = (
            "one-sided exact McNemar per group"
            if tolerance == 0
            else f"one-sided Tango score test per group (drop > {tolerance:g})"
        )
        used_correction = correction
    else:
        p_value = swap_permutation_test(
            cells, amplification, tolerance=tolerance, n_permutations=n_permutations, seed=seed
        )
        if data.n_classes == 2 and gap in ("tpr", "fpr", "equalized_odds"):
            raw, adjusted = _drop_tests(paired, shown, tolerance, correction)
            p_raw, p_adj = list(raw), list(adjusted)
        else:
            p_raw = p_adj = [None] * g_count
        failing = []
        test = f"paired swap permutation test of the {gap} change ({n_permutations} permutations)"
        used_correction = "none (one test of the gap)"

    mde = [
        minimum_detectable_effect(
            1.0, variance=float(s) ** 2, alpha=alpha, power=power, tests=g_count
        )
        if math.isfinite(s)
        else None
        for s in se[1:]
    ]
    groups = tuple(
        replace(
            row,
            interval=as_interval(boot.low[1 + g], boot.high[1 + g]),
            p_value=p_raw[g],
            p_adjusted=p_adj[g],
            mde=mde[g],
        )
        for g, row in enumerate(plain_groups)
    )
    total_interval = as_interval(boot.low[0], boot.high[0])
    significant = p_value is not None and p_value < alpha
    reasons: list[str] = []
    required_n = None
    if significant and delta > tolerance:
        verdict: Verdict = "fail"
        worst = failing or [int(np.argmax([harm(shown, g.delta) for g in groups]))]
        for g in worst:
            row = groups[g]
            p_text = "n/a" if row.p_adjusted is None else f"{row.p_adjusted:.4g}"
            reasons.append(
                f"group {row.group}: {shown} {row.base:.4f} -> {row.compressed:.4f} "
                f"(delta {row.delta:+.4f}, p_adj = {p_text})"
            )
        reasons.insert(
            0, f"{gap} change {delta:+.4f} > tolerance {tolerance:g} (p = {p_value:.4g})"
        )
    elif total_interval is not None and total_interval[1] <= tolerance:
        verdict = "pass"
    else:
        verdict = "inconclusive"
        smallest = int(np.argmin(paired.sizes))
        reasons, required_n = _decide_unclear(
            mde[smallest],
            int(paired.sizes[smallest]),
            paired.names[smallest],
            tolerance,
            total_interval,
            p_value,
            alpha,
        )
    return Comparison(
        verdict=verdict,
        delta=delta,
        interval=total_interval,
        p_value=p_value,
        test=test,
        correction=used_correction,
        groups=groups,
        reasons=(*reasons, *notes),
        required_n=required_n,
        **common,  # type: ignore[arg-type]
    )


def _group_rows(
    paired: _Paired,
    base_values: NDArray[np.float64] | None,
    compressed_values: NDArray[np.float64],
    positives: Sequence[int | None],
) -> tuple[GroupComparison, ...]:
    rows = []
    for g, name in enumerate(paired.names):
        base = None if base_values is None else float(base_values[g])
        comp = float(compressed_values[g])
        rows.append(
            GroupComparison(
                group=name,
                n=int(paired.sizes[g]),
                positives=positives[g],
                base=base,
                compressed=comp,
                delta=comp - (base if base is not None else comp),
                interval=None,
                p_value=None,
                p_adjusted=None,
                mde=None,
            )
        )
    return tuple(rows)


def _undefined_detail(
    paired: _Paired, base: NDArray[np.float64], comp: NDArray[np.float64], metric: str
) -> str:
    for g, name in enumerate(paired.names):
        if math.isnan(base[g]) or math.isnan(comp[g]):
            return f"{metric} of group {name} has a zero denominator"
    return "a zero denominator"


def _ba_setup(
    paired: _Paired, train_y_true: Any, train_sensitive_features: Any
) -> tuple[int, float, float]:
    """BA's favoured identity (from the training labels) and its value for both models."""
    data = paired.data
    features = data.groups
    base = bias_amplification(
        data.y_true,
        data.y_pred,
        sensitive_features=features.codes,
        train_y_true=train_y_true,
        train_sensitive_features=_train_codes(train_sensitive_features, features.names),
    )
    compressed = bias_amplification(
        data.y_true,
        paired.compressed,
        sensitive_features=features.codes,
        train_y_true=train_y_true,
        train_sensitive_features=_train_codes(train_sensitive_features, features.names),
    )
    train = np.asarray(train_y_true)
    codes = _train_codes(train_sensitive_features, features.names)
    rate = [train[codes == i].mean() if (codes == i).any() else 0.0 for i in (0, 1)]
    return (1 if rate[1] > rate[0] else 0), base, compressed  # type: ignore[return-value]


def _train_codes(train_sensitive_features: Any, names: tuple[Any, ...]) -> NDArray[np.int64]:
    """Training identities coded like the test ones (0/1 in the order of the test groups)."""
    values = encode_groups(
        train_sensitive_features,
        len(np.asarray(train_sensitive_features)),
        name="train_sensitive_features",
    )
    lookup = {str(n): i for i, n in enumerate(names)}
    return np.array([lookup.get(str(values.names[c]), -1) for c in values.codes], dtype=np.int64)


# --------------------------------------------------------------------------- one model


def assess_gap(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    gap: str = "fvo",
    threshold: float,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    min_group_size: int = 30,
    min_positives: int = 10,
    interval: str = "percentile",
    sample_weight: Any = None,
    attribute: str | None = None,
) -> Comparison:
    """Is one model's ``gap`` below ``threshold``?

    ``pass`` when the bootstrap interval's upper bound is below the threshold; ``fail`` when
    the gap is significantly above it: some pair of groups (a, b) differs by more than the
    threshold, tested one-sided per ordered pair with a z statistic whose standard errors come
    from the stratified bootstrap (independent across groups), Bonferroni over the pairs (and
    over TPR and FPR for equalized odds). A max − min gap is above the threshold exactly when
    some pair is, so this union of pairwise tests is a valid test of the gap and does not
    inherit the upward bias of the bootstrapped maximum. ``inconclusive`` otherwise.
    """
    gap = check_gap(gap)
    if gap not in _ASSESS_GAPS:
        raise InputError(MSG_ASSESS_GAP.format(known=", ".join(_ASSESS_GAPS), got=gap))
    threshold = _check_nonnegative(threshold, MSG_THRESHOLD)
    alpha = _check_alpha(alpha)
    n_boot = check_n_boot(n_boot)
    min_group_size = _check_count(min_group_size, "min_group_size")
    min_positives = _check_count(min_positives, "min_positives")
    check_interval(interval)
    paired = _paired_inputs(y_true, y_pred, y_pred, sensitive_features, sample_weight)
    shown = _GAP_METRIC[gap]
    metrics = ("tpr", "fpr") if gap == "equalized_odds" else (shown,)

    def statistic(tb: NDArray[np.float64], tc: NDArray[np.float64]) -> NDArray[np.float64]:
        parts = [gap_of(gap, tc)[..., None]] + [group_metric(tc, m) for m in metrics]
        return np.concatenate(parts, axis=-1)

    tables = paired.cells.point_tables()[1]
    values = group_metric(tables, shown)
    value = float(gap_of(gap, tables))
    best = values.min() if shown in LOWER_IS_BETTER else values.max()
    support, positives = _support(paired, _needs(gap, shown), min_group_size, min_positives)
    rows = tuple(
        GroupComparison(
            name,
            int(paired.sizes[g]),
            positives[g],
            None,
            float(values[g]),
            float(values[g] - best),
            None,
            None,
            None,
            None,
        )
        for g, name in enumerate(paired.names)
    )
    common = dict(
        gap=gap,
        metric=shown,
        attribute=attribute if attribute is not None else paired.data.groups.attribute,
        base_gap=None,
        compressed_gap=value,
        delta=None,
        interval_method=interval,
        tolerance=threshold,
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
        noise_floor=None,
        n=int(paired.sizes.sum()),
        correction="bonferroni over group pairs",
        test="one-sided z test per ordered group pair (bootstrap standard errors)",
        required_n=None,
    )
    if support or math.isnan(value):
        problems = support or [
            f"{gap} is undefined: {_undefined_detail(paired, values, values, shown)}"
        ]
        return Comparison(
            verdict="insufficient_data" if support else "error",
            interval=None,
            p_value=None,
            groups=rows,
            reasons=tuple(problems),
            **common,  # type: ignore[arg-type]
        )
    boot = _bootstrap(paired.cells, statistic, n_boot, seed, alpha, interval)
    se = boot.standard_error
    g_count = len(paired.names)
    p_values = []
    for k, m in enumerate(metrics):
        v = group_metric(tables, m)
        s = se[1 + k * g_count : 1 + (k + 1) * g_count]
        diff = v[:, None] - v[None, :] - threshold
        scale = np.sqrt(s[:, None] ** 2 + s[None, :] ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(scale > 0, diff / scale, np.where(diff > 0, np.inf, -np.inf))
        off = ~np.eye(g_count, dtype=bool)
        p_values.append(sps.norm.sf(z[off]))
    pairs = np.concatenate(p_values)
    p_value = float(min(1.0, np.nanmin(pairs) * len(pairs)))
    gap_interval = as_interval(boot.low[0], boot.high[0])
    rows = tuple(
        replace(row, interval=as_interval(boot.low[1 + g], boot.high[1 + g]))
        for g, row in enumerate(rows)
    )
    reasons: list[str] = []
    if p_value < alpha and value > threshold:
        verdict: Verdict = "fail"
        reasons.append(f"{gap} {value:.4f} > threshold {threshold:g} (p = {p_value:.4g})")
    elif gap_interval is not None and gap_interval[1] < threshold:
        verdict = "pass"
    else:
        verdict = "inconclusive"
        span = (
            "undefined"
            if gap_interval is None
            else f"[{gap_interval[0]:.4f}, {gap_interval[1]:.4f}]"
        )
        reasons.append(
            f"{gap} {value:.4f}: the interval {span} straddles the threshold {threshold:g} "
            f"and the excess is not significant (p = {p_value:.4g})"
        )
    return Comparison(
        verdict=verdict,
        interval=gap_interval,
        p_value=p_value,
        groups=rows,
        reasons=tuple(reasons),
        **common,  # type: ignore[arg-type]
    )


def group_intervals(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    metrics: Sequence[str] = ("accuracy",),
    y_prob: Any = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    interval: str = "percentile",
    sample_weight: Any = None,
) -> dict[str, dict[str, tuple[float, float]]]:
    """Per-group bootstrap intervals of one model's confusion-based metrics.

    Returns ``{metric: {group: (low, high)}}`` for accuracy, tpr, fpr, fnr, ppv and
    selection_rate (binary: class 1; multiclass: macro average), the shape
    :meth:`GroupReport.with_intervals` takes. Metrics that are not functions of the confusion
    table (kappa, auc, ece, uncertainty, flip_rate) and intervals the resamples leave undefined
    are left out; ``y_prob`` is accepted for the caller's convenience and not used.
    """
    del y_prob  # probability metrics have no table-based bootstrap here
    names = [check_metric(m) for m in metrics]
    tabled = [m for m in names if m in ("accuracy", "tpr", "fpr", "fnr", "ppv", "selection_rate")]
    alpha = _check_alpha(alpha)
    n_boot = check_n_boot(n_boot)
    data = prepare(
        y_true, y_pred, sensitive_features=sensitive_features, sample_weight=sample_weight
    )
    if data.multilabel:
        raise InputError(MSG_MULTILABEL)
    groups = data.groups
    cells = PairedCells.build(
        data.y_true,
        data.y_pred,
        data.y_pred,
        groups.codes,
        groups.n_groups,
        data.n_classes,
        data.weights,
    )

    def statistic(tb: NDArray[np.float64], tc: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.stack([group_metric(tc, m) for m in tabled], axis=-2)

    if not tabled:
        return {}
    boot = _bootstrap(cells, statistic, n_boot, seed, alpha, interval)
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for k, m in enumerate(tabled):
        per = {}
        for g, name in enumerate(groups.names):
            span = as_interval(boot.low[k, g], boot.high[k, g])
            if span is not None:
                per[str(name)] = span
        out[m] = per
    return out


# --------------------------------------------------------------------------- matched units


def compare_units(
    base_values: Any,
    compressed_values: Any,
    *,
    units: Sequence[Any] | None = None,
    tolerance: float = 0.0,
    alpha: float = 0.05,
    higher_is_worse: bool | None = None,
    gap: str = "units",
    metric: str | None = None,
    attribute: str | None = None,
    power: float = 0.8,
) -> Comparison:
    """Paired t-test over matched units (queries, classes, models) of a per-unit measure.

    The harm per unit is ``compressed − base`` (``base − compressed`` when a lower value is
    worse; ``higher_is_worse=None`` takes that from ``gap``: ``min_skew`` is worse when lower).
    ``fail`` when the mean harm is significantly above ``tolerance`` (one-sided
    ``scipy.stats.ttest_rel`` against the margin) and its point estimate exceeds it; ``pass``
    when the two-sided ``1 - alpha`` t interval of the mean harm lies at or below it;
    ``inconclusive`` otherwise. Units with a NaN on either side are left out and counted.
    """
    alpha = _check_alpha(alpha)
    tolerance = _check_nonnegative(tolerance, MSG_TOLERANCE)
    base = as_finite_or_nan(base_values, "base_values")
    comp = as_finite_or_nan(compressed_values, "compressed_values")
    if base.shape != comp.shape or base.ndim != 1:
        from ._decisions import MSG_UNITS

        raise InputError(MSG_UNITS.format(nb=base.shape, nc=comp.shape))
    worse_high = higher_is_worse if higher_is_worse is not None else gap != "min_skew"
    keep = np.isfinite(base) & np.isfinite(comp)
    names = [str(u) for u in (units if units is not None else range(len(base)))]
    b, c = base[keep], comp[keep]
    harm_values = (c - b) if worse_high else (b - c)
    dropped = int((~keep).sum())
    notes = [f"{dropped} unit(s) with an undefined value left out"] if dropped else []
    rows = (
        tuple(
            GroupComparison(
                names[i],
                1,
                None,
                float(base[i]),
                float(comp[i]),
                float(comp[i] - base[i]),
                None,
                None,
                None,
                None,
            )
            for i in range(len(base))
        )
        if units is not None
        else ()
    )
    common = dict(
        gap=gap,
        metric=metric or gap,
        attribute=attribute,
        base_gap=float(b.mean()) if len(b) else None,
        compressed_gap=float(c.mean()) if len(c) else None,
        interval_method="t",
        test="paired t-test over matched units (scipy.stats.ttest_rel), one-sided against the tolerance",
        correction="none",
        tolerance=tolerance,
        alpha=alpha,
        n_boot=0,
        seed=0,
        groups=rows,
        noise_floor=None,
        n=int(keep.sum()),
    )
    if len(b) < 2:
        return Comparison(
            verdict="insufficient_data",
            delta=None,
            interval=None,
            p_value=None,
            reasons=(f"{len(b)} matched unit(s) with defined values, needs 2", *notes),
            required_n=None,
            **common,  # type: ignore[arg-type]
        )
    lo_side, hi_side = (b, c) if worse_high else (c, b)
    test = paired_ttest(lo_side, hi_side, alpha=alpha, alternative="greater", margin=tolerance)
    delta = test.mean_difference
    interval = test.interval
    required_n = None
    reasons: list[str] = []
    if not math.isfinite(test.p_value):
        # Identical differences everywhere: no spread, so the mean decides alone.
        p_value: float | None = None
        verdict: Verdict = "fail" if delta > tolerance else "pass"
        interval = (delta, delta)
    else:
        p_value = test.p_value
        if p_value < alpha and delta > tolerance:
            verdict = "fail"
            reasons.append(f"mean harm {delta:+.4f} > tolerance {tolerance:g} (p = {p_value:.4g})")
        elif interval[1] <= tolerance:
            verdict = "pass"
        else:
            verdict = "inconclusive"
            n_units = len(b)
            sd = float(np.std(harm_values, ddof=1))
            mde = float(
                (sps.t.ppf(1 - alpha, n_units - 1) + sps.t.ppf(power, n_units - 1))
                * sd
                / math.sqrt(n_units)
            )
            reasons, required_n = _decide_unclear(
                mde, n_units, UNITS, tolerance, interval, p_value, alpha
            )
    return Comparison(
        verdict=verdict,
        delta=delta,
        interval=interval,
        p_value=p_value,
        reasons=(*reasons, *notes),
        required_n=required_n,
        **common,  # type: ignore[arg-type]
    )


def as_finite_or_nan(values: Any, name: str) -> NDArray[np.float64]:
    """A float vector where NaN marks an undefined unit (inf is still an error)."""
    arr = np.asarray(as_array(values, name=name), dtype=np.float64)
    as_finite(np.where(np.isnan(arr), 0.0, arr), name=name)
    return arr


def paired_bootstrap(
    y_true: Any,
    base_pred: Any,
    compressed_pred: Any,
    *,
    sensitive_features: Any,
    statistic: str | TableStatistic,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    interval: str = "percentile",
    sample_weight: Any = None,
) -> BootstrapResult:
    """Paired, group-stratified bootstrap of any statistic of the two models' tables.

    ``statistic`` is a gap name (its change, compressed − dense) or a function of the dense and
    compressed per-group confusion tables ``(..., G, C, C)`` (rows true class, columns
    predicted), vectorised over leading axes, e.g. ``lambda b, c: group_metric(c, "tpr") -
    group_metric(b, "tpr")``. One resample plan serves both models.
    """
    paired = _paired_inputs(y_true, base_pred, compressed_pred, sensitive_features, sample_weight)
    if isinstance(statistic, str):
        name = check_gap(statistic)
        if name not in _GAP_METRIC or name == "bias_amplification":
            raise InputError(MSG_ASSESS_GAP.format(known=", ".join(_ASSESS_GAPS), got=name))

        def change(tb: NDArray[np.float64], tc: NDArray[np.float64]) -> NDArray[np.float64]:
            return gap_of(name, tc) - gap_of(name, tb)

        function: TableStatistic = change
    else:
        function = statistic
    return _bootstrap(
        paired.cells, function, check_n_boot(n_boot), seed, _check_alpha(alpha), interval
    )
