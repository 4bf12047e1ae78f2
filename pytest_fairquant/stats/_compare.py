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
from scipy.special import ndtri

from .._arrays import as_array, as_finite
from ..errors import InputError
from ..metrics._confusion import GAP_METRIC, table_gap, table_metric
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
from . import _bounds
from ._decisions import (
    adjust,
    holm,
    paired_drop_test,
    paired_ttest,
    swap_permutation_test,
)
from ._dist import norm_sf, t_ppf, ttest_1samp
from ._resample import (
    BootstrapResult,
    PairedCells,
    TableStatistic,
    as_interval,
    bootstrap_cells,
    check_interval,
    check_n_boot,
)
from .spec import (
    DROP_METRICS,
    MSG_TOLERANCE,
    MSG_UNIT_GAP,
    UNIT_GAPS,
    GateSpec,
    check_alpha,
    check_count,
    check_nonnegative,
    check_seed,
    check_utility_drop,
)

Verdict = Literal["pass", "fail", "inconclusive", "insufficient_data", "error"]

MSG_THRESHOLD = "threshold must be a finite number >= 0, in the gap's units; got {got!r}"
MSG_BA_TRAIN = (
    "gap='bias_amplification' needs train_y_true= and train_sensitive_features= (BA takes its "
    "direction from the training labels); pass both"
)
MSG_MULTILABEL = (
    "compare takes one label per sample; for a multi-label task compare each label column "
    "separately (y_true[:, j], base_pred[:, j], compressed_pred[:, j])"
)
MSG_ASSESS_GAP = "assess_gap supports gap in {known}; got {got!r}"
MSG_UTILITY_UNITS = (
    "utility must hold one value per unit, like base_values (shape {n}); got shape {got}"
)
MSG_DP_MULTICLASS = (
    "gap='demographic_parity' gates the positive-class selection rate of a binary task; with "
    "{n_classes} classes the macro-averaged selection rate is 1/{n_classes} in every group, so "
    "the gap is always 0 and the gate could only pass: compare one class against the rest "
    "(y == c, pred == c) for each class c instead"
)

#: Groups named in an insufficient-support verdict; the rest are counted.
_MAX_SUPPORT_REASONS = 5
#: Per-group metrics whose increase is the harm; for the others a decrease is.
LOWER_IS_BETTER = frozenset({"fpr", "fnr"})
_DROP_METRICS = DROP_METRICS
_ASSESS_GAPS = ("fvo", "tpr", "fpr", "demographic_parity", "equalized_odds")
#: The per-group metric each gap is built from (``accuracy_drop`` takes ``metric``).
_GAP_METRIC = GAP_METRIC


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
    #: The upper confidence bound of ``delta`` that decides a pass (of the gap itself for
    #: :func:`assess_gap`); None where no bound was computed.
    upper_bound: float | None = None
    utility: UtilityCheck | None = None
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
            "upper_bound": _plain(self.upper_bound),
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
            "utility": None if self.utility is None else self.utility.to_dict(),
            "undefined": undefined,
            "versions": dict(self.versions),
        }


# --------------------------------------------------------------------------- table statistics


#: Per-group metric of ``(..., G, C, C)`` tables (the one engine, shared with metrics).
group_metric = table_metric
#: The value of a gap for ``(..., G, C, C)`` tables.
gap_of = table_gap


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
    if len(reasons) > _MAX_SUPPORT_REASONS:
        # An ID-like attribute (a group per sample) would list every one of its groups.
        more = len(reasons) - _MAX_SUPPORT_REASONS
        reasons = [
            *reasons[:_MAX_SUPPORT_REASONS],
            f"... and {more:,} more groups below the minimum support ({len(paired.names):,} "
            "groups in all: is this attribute an identifier?)",
        ]
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


def _harm_counts(cells: PairedCells, metric: str) -> tuple[NDArray[np.float64], ...]:
    """Per group (and class): (harmed, helped, n) of the paired outcome behind ``metric``, in
    effective (Kish) counts with sample weights; the pass bound reads the same counts."""
    counts = _bounds.unit_counts(cells, metric)
    if metric in LOWER_IS_BETTER:
        return counts.up, counts.down, counts.n
    return counts.down, counts.up, counts.n


def _drop_tests(
    paired: _Paired, metric: str, tolerance: float, correction: str
) -> tuple[list[float], list[float]]:
    harmed, helped, n = (v[:, 0] for v in _harm_counts(paired.cells, metric))
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


#: ``_undecided``'s "group" for unit-level (paired t-test) comparisons.
UNITS = "of units"
#: Largest factor on the sample size a required-n answer searches (beyond it: out of reach).
_MAX_SCALE = 1e6


@dataclass(frozen=True)
class PassBound:
    """The upper confidence bound that decides a pass, and what it is made of.

    ``value`` bounds the change of the gap (of the largest harm for ``accuracy_drop``) at
    confidence 1 − alpha (see :mod:`._bounds` for the levels of its parts); ``group_harm[g]``
    is group g's own harm bound; ``required_scale`` is the factor on every
    group's size at which a model with these rates would pass with the stated power (None:
    out of reach, the observed change itself is beyond the tolerance).
    """

    value: float
    group_harm: tuple[float, ...]
    required_scale: float | None


def _bound_metrics(gap: str, shown: str) -> tuple[str, ...]:
    if gap == "equalized_odds":
        return ("tpr", "fpr")
    if gap == "bias_amplification":
        return ("selection_rate",)
    return (shown,)


def _bound_value(
    counts: Sequence[_bounds.UnitCounts],
    gap: str,
    z: tuple[float, float],
    ba_group: int,
) -> tuple[float, NDArray[np.float64]]:
    """The bound of ``gap``'s change for these counts at normal quantiles ``z`` (of the changes,
    of the dense rates), and the per-group harm bounds of the first metric."""
    bounds = [_bounds.group_bounds(c, *z) for c in counts]
    lower_better = counts[0].metric in LOWER_IS_BETTER
    harms = _bounds.harm_bound(bounds[0], lower_better)
    if gap == "accuracy_drop":
        return float(np.nanmax(harms)), harms
    if gap == "bias_amplification":
        return _ba_bound(bounds[0], counts[0], ba_group), harms
    if counts[0].metric == "selection_rate":
        harms = np.maximum(bounds[0].change_high, -bounds[0].change_low)
    return max(_bounds.spread_change_bound(b) for b in bounds), harms


def _ba_bound(
    bounds: _bounds.GroupBounds,
    counts: _bounds.UnitCounts,
    group: int,
) -> float:
    """Upper bound of BA's change: the favoured group's share of predicted positives is
    monotone in both groups' selection rates, so its supremum over the box is taken on a grid
    of dense rates with the changes at the corner that favours the group."""
    other = 1 - group
    n = counts.n[:, 0]
    grid = np.linspace(0.0, 1.0, 41)
    a_g = bounds.base_low[group] + grid * (bounds.base_high[group] - bounds.base_low[group])
    a_o = bounds.base_low[other] + grid * (bounds.base_high[other] - bounds.base_low[other])
    ag, ao = np.meshgrid(a_g, a_o, indexing="ij")
    with np.errstate(invalid="ignore", divide="ignore"):
        before = n[group] * ag / (n[group] * ag + n[other] * ao)
        sg = np.clip(ag + bounds.change_high[group], 0.0, 1.0)
        so = np.clip(ao + bounds.change_low[other], 0.0, 1.0)
        after = n[group] * sg / (n[group] * sg + n[other] * so)
    # BA's label term (the true share) is the same before and after, so it cancels.
    change = np.where(np.isfinite(after) & np.isfinite(before), after - before, np.inf)
    return float(change.max())


def _pass_bound(
    cells: PairedCells, gap: str, shown: str, alpha: float, ba_group: int
) -> tuple[PassBound, Callable[[float, float], float | None]]:
    """The pass bound, and a function ``(power, tolerance) -> required_scale`` that searches the
    sample-size factor (only an undecided gate needs it)."""
    counts = [_bounds.unit_counts(cells, m) for m in _bound_metrics(gap, shown)]
    classes = max(c.n.shape[1] for c in counts)
    if gap == "accuracy_drop":
        levels = (alpha, alpha)
    elif gap == "bias_amplification":
        levels = (alpha / 8, alpha / 8)  # the whole box: two groups, four bounds each
    else:
        levels = (alpha / (4 * classes), alpha / (4 * classes * cells.n_groups))
    z = (float(ndtri(1 - levels[0])), float(ndtri(1 - levels[1])))
    value, harms = _bound_value(counts, gap, z, ba_group)

    def required_scale(power: float, tolerance: float) -> float | None:
        extra = float(ndtri(power))
        planned = (z[0] + extra, z[1] + extra)

        def passes(scale: float) -> bool:
            scaled = [c.scaled(scale) for c in counts]
            return _bound_value(scaled, gap, planned, ba_group)[0] <= tolerance

        if tolerance <= 0 or not passes(_MAX_SCALE):
            return None
        lo, hi = 0.0, math.log(_MAX_SCALE)
        if passes(1.0):
            return 1.0
        for _ in range(20):  # the factor to 1e-5 of its logarithm
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if passes(math.exp(mid)) else (mid, hi)
        return math.exp(hi)

    bound = PassBound(value, tuple(float(h) for h in harms), None)
    return bound, required_scale


def _group_mde(
    cells: PairedCells, shown: str, tolerance: float, alpha: float, power: float
) -> list[float | None]:
    """Per group, the harm of its ``shown`` rate a one-sided test at alpha (Bonferroni over the
    groups) detects with ``power``, from the score variance at the tolerance (never 0 there)."""
    harmed, helped, n = _harm_counts(cells, shown)
    variance = _bounds.tango_variance(harmed, helped, n, tolerance)
    z_alpha = float(ndtri(1 - alpha / max(1, cells.n_groups)))
    z_power = float(ndtri(power))
    out: list[float | None] = []
    for g in range(cells.n_groups):
        defined = n[g] > 0
        if not defined.any():
            out.append(None)
            continue
        k = int(defined.sum())
        spread = float(np.sqrt(np.sum(variance[g][defined] / n[g][defined]))) / k
        out.append(_bounds.detectable(spread**2, 1.0, z_alpha, z_power))
    return out


@dataclass(frozen=True)
class UtilityCheck:
    """The utility guard of a comparison: did compression make the model much worse?

    ``status``: ``ok`` (no group's nor the overall ``metric`` dropped significantly by more than
    ``max_drop``), ``collapsed`` (one did: the comparison fails whatever its gap did), ``off``
    (disabled). ``worst`` names the group (or ``overall``) with the largest drop, ``drop`` its
    point estimate and ``p_value`` its test after Holm over the groups and the overall.
    """

    metric: str
    max_drop: float | None
    status: Literal["ok", "collapsed", "off"]
    worst: str | None
    drop: float | None
    p_value: float | None
    test: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "max_drop": self.max_drop,
            "status": self.status,
            "worst_group": self.worst,
            "drop": _plain(self.drop),
            "p_value": _plain(self.p_value),
            "test": self.test,
        }

    def describe(self) -> str:
        if self.status == "off":
            return "utility guard off"
        drop = "n/a" if self.drop is None else f"{self.drop:+.4f}"
        return (
            f"utility {self.status}: largest {self.metric} drop {drop} ({self.worst}), "
            f"limit {self.max_drop:g}"
        )


def _utility_metric(metric: str, n_classes: int) -> str:
    return (
        metric
        if metric in _DROP_METRICS and (metric == "accuracy" or n_classes == 2)
        else ("accuracy")
    )


def utility_check(
    cells: PairedCells,
    names: Sequence[str],
    metric: str,
    max_drop: float | None,
    alpha: float,
    min_group_size: int,
) -> UtilityCheck:
    """Per group (with at least ``min_group_size`` samples) and overall: a one-sided paired test
    of "the ``metric`` dropped by more than ``max_drop``" (Tango's score test; exact McNemar at
    0), Holm across them; collapsed when one is significant and its drop exceeds ``max_drop``."""
    test = "one-sided paired score test per group and overall, Holm"
    if max_drop is None:
        return UtilityCheck(metric, None, "off", None, None, None, "none")
    harmed, helped, n = _harm_counts(cells, metric)
    rows = [
        (names[g], float(harmed[g, 0]), float(helped[g, 0]), float(n[g, 0]))
        for g in range(len(names))
        if n[g, 0] >= min_group_size
    ]
    rows.append(("overall", float(harmed.sum()), float(helped.sum()), float(n.sum())))
    raw = [
        paired_drop_test(round(h), round(k), max(1, round(n)), max_drop)
        if max_drop == 0
        else paired_drop_test(h, k, max(n, 1.0), max_drop)  # type: ignore[arg-type]
        for _, h, k, n in rows
    ]
    adjusted = holm(raw)
    drops = [(h - k) / n if n > 0 else 0.0 for _, h, k, n in rows]
    worst = int(np.argmax(drops))
    collapsed = [
        i
        for i, (d, p) in enumerate(zip(drops, adjusted, strict=True))
        if p < alpha and d > max_drop
    ]
    if collapsed:
        worst = max(collapsed, key=lambda i: drops[i])
    return UtilityCheck(
        metric,
        max_drop,
        "collapsed" if collapsed else "ok",
        rows[worst][0],
        drops[worst],
        adjusted[worst],
        test,
    )


def _collapse_reason(utility: UtilityCheck, gap: str, delta: float, tolerance: float) -> str:
    where = "overall" if utility.worst == "overall" else f"group {utility.worst}"
    reason = (
        f"compression collapsed the model: {where} lost {utility.drop:.2f} {utility.metric} "
        f"(more than max_utility_drop {utility.max_drop:g}, p_adj = {utility.p_value:.4g})"
    )
    if not delta > tolerance:
        reason += (
            f"; the {gap} change {delta:+.4f} does not show it: a gap can narrow because every "
            "group got worse"
        )
    return reason


def _undecided(
    bound: PassBound,
    mde: float | None,
    n_smallest: int,
    smallest: str,
    tolerance: float,
    p_value: float | None,
    alpha: float,
    what: str,
) -> tuple[list[str], int | None]:
    """Why neither pass nor fail, and about how many samples per group would decide it."""
    p_text = "n/a" if p_value is None else f"{p_value:.4g}"
    reasons = [
        f"the upper {1 - alpha:.0%} confidence bound of the {what} is {bound.value:+.4f}, above "
        f"the tolerance {tolerance:g}, so harm beyond the tolerance is not ruled out; nor is it "
        f"shown (p = {p_text})"
    ]
    if tolerance == 0:
        reasons.append(
            "a pass needs a tolerance above 0: tolerance 0 asks to prove no change at all, which "
            "no finite sample can; set the change you accept (e.g. tolerance=0.01)"
        )
        return reasons, None
    mde_text = "" if mde is None else f"minimum detectable effect {mde:.3f} "
    where = (
        f"({n_smallest} matched units)"
        if smallest == UNITS
        else f"(group {smallest}, n={n_smallest})"
    )
    if bound.required_scale is None:
        reasons.append(
            f"{mde_text}{where}: a pass is out of reach, the observed change itself is at or "
            f"beyond the tolerance {tolerance:g}"
        )
        return reasons, None
    required = math.ceil(n_smallest * bound.required_scale)
    unit = "units" if smallest == UNITS else "samples"
    reasons.append(f"{mde_text}{where}: about {required:,} {unit} would decide it")
    return reasons, required


def _no_flip_notes(
    cells: PairedCells,
    names: Sequence[str],
    shown: str,
    bound: PassBound,
    alpha: float,
    tolerance: float,
) -> list[str]:
    """For each group whose own harm bound keeps the gate from passing: what was observed."""
    counts = _bounds.unit_counts(cells, shown)
    notes = []
    for g, name in enumerate(names):
        h = bound.group_harm[g] if g < len(bound.group_harm) else math.nan
        if not (h > tolerance) or counts.n.shape[1] != 1:
            continue
        n = counts.n[g, 0]
        changed = counts.up[g, 0] + counts.down[g, 0]
        word = "a drop" if shown not in LOWER_IS_BETTER else "a rise"
        if shown == "selection_rate":
            word = "a change"
        notes.append(
            f"group {name}: {changed:.0f} of {n:.0f} changed; {word} up to {h:.3f} is still "
            f"possible at {1 - alpha:.0%} confidence"
        )
    return notes


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
    max_utility_drop: float | None = 0.05,
) -> Comparison:
    """Did compression widen ``gap`` between the groups of ``sensitive_features``?

    Verdicts:

    - ``fail`` when the amplification is significant (the test's p < ``alpha``) and its point
      estimate exceeds ``tolerance``, or when the utility guard finds that compression collapsed
      the model (some group's or the overall accuracy, or ``metric``, dropped significantly by
      more than ``max_utility_drop``; ``None`` turns the guard off): a gap can narrow because
      every group got worse.
    - ``pass`` only when the data rule out harm beyond the tolerance: the upper confidence bound
      of the change (family-wise 1 − alpha, valid with no observed flips; see
      :mod:`._bounds`) is at most ``tolerance``. A tolerance of 0 never passes.
    - ``inconclusive`` otherwise, with the minimum detectable effect of the smallest group and
      ``required_n``, the group size at which these rates would pass (80 % power): the same
      bound, on proportionally more samples.
    - ``insufficient_data`` when a group has fewer than ``min_group_size`` samples (or, for rate
      gaps, fewer than ``min_positives`` positives/negatives); ``error`` when the gap cannot be
      computed on these inputs (e.g. BA's train-gap filter). None passes silently.

    The fail side, per gap:

    - ``fvo``, ``tpr``, ``fpr``, ``equalized_odds``, ``demographic_parity`` (max − min over
      groups; multiclass rates macro-averaged over classes within each group) and
      ``bias_amplification`` (needs ``train_y_true``/``train_sensitive_features``): the change
      of the gap itself, by the paired swap permutation test (exact at τ = 0, whatever each
      group's churn). Per-group rows carry paired drop tests of the group's own rate.
    - ``accuracy_drop``: some group's own ``metric`` (accuracy, or tpr/fpr/fnr for a binary
      task) got worse by more than τ: per group a one-sided exact McNemar test (τ = 0) or
      Tango's score test (τ > 0), ``correction`` across groups; ``delta`` is the largest harm.

    Same inputs and seed give byte-identical ``to_dict()``.
    """
    if gap in UNIT_GAPS:
        raise InputError(MSG_UNIT_GAP.format(gap=gap))
    spec = GateSpec.build(
        gap=gap,
        metric=metric,
        tolerance=tolerance,
        alpha=alpha,
        n_boot=n_boot,
        n_permutations=n_permutations,
        seed=seed,
        min_group_size=min_group_size,
        min_positives=min_positives,
        correction=correction,
        interval=interval,
        power=power,
        max_utility_drop=max_utility_drop,
        noise_floor=noise_floor,
    )
    gap, metric, tolerance, alpha = spec.gap, spec.metric, spec.tolerance, spec.alpha
    n_boot, n_permutations, seed = spec.n_boot, spec.n_permutations, spec.seed
    min_group_size, min_positives, correction = (
        spec.min_group_size,
        spec.min_positives,
        spec.correction,
    )
    interval, power, noise_floor = spec.interval, spec.power, spec.noise_floor
    max_utility_drop = spec.max_utility_drop
    shown = metric if gap == "accuracy_drop" else _GAP_METRIC[gap]
    if gap == "bias_amplification" and (train_y_true is None or train_sensitive_features is None):
        raise InputError(MSG_BA_TRAIN)

    paired = _paired_inputs(y_true, base_pred, compressed_pred, sensitive_features, sample_weight)
    data, cells = paired.data, paired.cells
    _check_task(gap, shown, data)
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
    utility = utility_check(
        cells,
        paired.names,
        _utility_metric(metric, data.n_classes),
        max_utility_drop,
        alpha,
        min_group_size,
    )

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
        utility=utility,
    )
    notes = []
    if noise_floor:
        notes.append(
            f"the dense model's reruns disagree on {noise_floor:.2%} of samples (noise floor); "
            "flips at that rate are kernel noise, not compression"
        )
    collapse = (
        [_collapse_reason(utility, gap, delta, tolerance)] if utility.status == "collapsed" else []
    )
    support, positives = _support(paired, _needs(gap, shown), min_group_size, min_positives)
    if gap == "bias_amplification":
        for value in (base_ba, compressed_ba):
            # Too few positives, or a small identity x label cell (paper 004's text): too
            # little data, not an error of the inputs.
            if isinstance(value, Undefined) and value.reason in (
                "ba_too_few_positives",
                "too_few_samples",
            ):
                support.append(value.detail)
    plain_groups = _group_rows(paired, base_values, compressed_values, positives)
    undefined = [v for v in (base_gap, compressed_gap, delta) if v is not None and math.isnan(v)]
    if support or undefined:
        if support:
            verdict: Verdict = "insufficient_data"
            test, reasons = "none (insufficient support)", list(dict.fromkeys(support))
        else:
            detail = getattr(undefined[0], "detail", None) or _undefined_detail(
                paired, base_values, compressed_values, shown
            )
            verdict, test = "error", "none (the gap is undefined)"
            reasons = [f"{gap} is undefined: {detail}"]
        return Comparison(
            verdict="fail" if collapse else verdict,
            delta=delta,
            interval=None,
            p_value=None,
            test=test,
            correction=correction,
            groups=plain_groups,
            reasons=(*collapse, *reasons, *notes),
            required_n=None,
            upper_bound=None,
            **common,  # type: ignore[arg-type]
        )

    boot = _bootstrap(cells, statistic, n_boot, seed, alpha, interval)
    g_count = len(paired.names)
    p_raw: list[float | None] = [None] * g_count
    p_adj: list[float | None] = [None] * g_count
    if gap == "accuracy_drop" or (data.n_classes == 2 and shown in ("accuracy", "tpr", "fpr")):
        raw, adjusted = _drop_tests(paired, shown, tolerance, correction)
        p_raw, p_adj = list(raw), list(adjusted)
    drops = [harm(shown, c - b) for b, c in zip(base_values, compressed_values, strict=True)]
    if gap == "accuracy_drop":
        failing = [
            g
            for g in range(g_count)
            if p_adj[g] < alpha and drops[g] > tolerance  # type: ignore[operator]
        ]
        p_value: float | None = float(min(adjusted))
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
        failing = [
            g
            for g in range(g_count)
            if p_adj[g] is not None and p_adj[g] < alpha and drops[g] > tolerance  # type: ignore[operator]
        ]
        test = f"paired swap permutation test of the {gap} change ({n_permutations} permutations)"
        used_correction = "none (one test of the gap)"

    bound, required_scale = _pass_bound(cells, gap, shown, alpha, ba_group)
    mde = _group_mde(cells, shown, tolerance, alpha, power)
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
    reasons = []
    required_n = None
    what = "largest group harm" if gap == "accuracy_drop" else f"{gap} change"
    if collapse or (significant and delta > tolerance):
        verdict = "fail"
        if significant and delta > tolerance:
            worst = failing or [int(np.argmax([harm(shown, g.delta) for g in groups]))]
            for g in worst:
                row = groups[g]
                p_text = "n/a" if row.p_adjusted is None else f"{row.p_adjusted:.4g}"
                reasons.append(
                    f"group {row.group}: {shown} {row.base:.4f} -> {row.compressed:.4f} "
                    f"(delta {row.delta:+.4f}, p_adj = {p_text})"
                )
            reasons.insert(0, f"{what} {delta:+.4f} > tolerance {tolerance:g} (p = {p_value:.4g})")
        reasons = [*collapse, *reasons]
    elif tolerance > 0 and bound.value <= tolerance:
        verdict = "pass"
    else:
        verdict = "inconclusive"
        smallest = int(np.argmin(paired.sizes))
        bound = replace(bound, required_scale=required_scale(power, tolerance))
        reasons, required_n = _undecided(
            bound,
            mde[smallest],
            int(paired.sizes[smallest]),
            paired.names[smallest],
            tolerance,
            p_value,
            alpha,
            what,
        )
        reasons += _no_flip_notes(cells, paired.names, shown, bound, alpha, tolerance)
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
        upper_bound=bound.value,
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


def _check_task(gap: str, shown: str, data: LabelData) -> None:
    """Refuse a gap the task cannot define, as ``compare`` and ``assess_gap`` both must.

    Multiclass demographic parity is 1/n_classes in every group (a gate that always passes).
    """
    if data.n_classes != 2 and gap == "demographic_parity":
        raise InputError(MSG_DP_MULTICLASS.format(n_classes=data.n_classes))
    if data.n_classes != 2 and (
        gap == "bias_amplification" or (shown in ("tpr", "fpr", "fnr") and gap == "accuracy_drop")
    ):
        check_binary(data.y_true, name="y_true", metric=f"gap={gap!r}")


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

    ``pass`` when an upper confidence bound of the gap is at most the threshold (exact
    Clopper-Pearson bounds of the groups' rates: valid for small groups and groups without
    errors, where a bootstrap interval collapses); ``fail`` when
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
    threshold = check_nonnegative(threshold, MSG_THRESHOLD)
    alpha = check_alpha(alpha)
    n_boot = check_n_boot(n_boot)
    seed = check_seed(seed)
    min_group_size = check_count(min_group_size, "min_group_size")
    min_positives = check_count(min_positives, "min_positives")
    check_interval(interval)
    paired = _paired_inputs(y_true, y_pred, y_pred, sensitive_features, sample_weight)
    shown = _GAP_METRIC[gap]
    _check_task(gap, shown, paired.data)
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
        p_values.append(norm_sf(z[off]))
    pairs = np.concatenate(p_values)
    p_value = float(min(1.0, np.nanmin(pairs) * len(pairs)))
    gap_interval = as_interval(boot.low[0], boot.high[0])
    rows = tuple(
        replace(row, interval=as_interval(boot.low[1 + g], boot.high[1 + g]))
        for g, row in enumerate(rows)
    )
    upper = _gap_upper_bound(paired.cells, metrics, alpha)
    reasons: list[str] = []
    if p_value < alpha and value > threshold:
        verdict: Verdict = "fail"
        reasons.append(f"{gap} {value:.4f} > threshold {threshold:g} (p = {p_value:.4g})")
    elif upper <= threshold:
        verdict = "pass"
    else:
        verdict = "inconclusive"
        reasons.append(
            f"{gap} {value:.4f}: its upper {1 - alpha:.0%} confidence bound {upper:.4f} "
            f"(exact per-group bounds) is above the threshold {threshold:g}, and the "
            f"excess is not significant (p = {p_value:.4g})"
        )
    return Comparison(
        verdict=verdict,
        interval=gap_interval,
        p_value=p_value,
        groups=rows,
        reasons=tuple(reasons),
        upper_bound=upper,
        **common,  # type: ignore[arg-type]
    )


def _gap_upper_bound(cells: PairedCells, metrics: Sequence[str], alpha: float) -> float:
    """Upper bound of one model's max − min gap: Clopper-Pearson bounds of every group's rate
    (per class, macro-averaged); the gap is at most the largest upper bound minus the smallest
    lower one."""
    counts = [_bounds.unit_counts(cells, m) for m in metrics]
    upper = 0.0
    for c in counts:
        # A gap above the threshold is above it through one pair of groups: the bound misses
        # it only when that pair's upper or lower bound misses (alpha/2 each, over classes).
        z = float(ndtri(1 - alpha / (2 * c.n.shape[1])))
        bounds = _bounds.group_bounds(c, z, z)
        upper = max(upper, float(bounds.base_high.max() - bounds.base_low.min()))
    return upper


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
    alpha = check_alpha(alpha)
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
    utility: Any = None,
    max_utility_drop: float | None = 0.05,
    utility_metric: str = "utility",
) -> Comparison:
    """Paired t-test over matched units (queries, classes, models) of a per-unit measure.

    The harm per unit is ``compressed − base`` (``base − compressed`` when a lower value is
    worse; ``higher_is_worse=None`` takes that from ``gap``: ``min_skew`` is worse when lower).
    ``fail`` when the mean harm is significantly above ``tolerance`` (one-sided
    ``scipy.stats.ttest_rel`` against the margin) and its point estimate exceeds it; ``pass``
    when the two-sided ``1 - alpha`` t interval of the mean harm lies at or below it (never at
    ``tolerance`` 0); ``inconclusive`` otherwise. Units with a NaN on either side are left out
    and counted. When every unit changed by the same amount there is no spread: the mean
    decides alone (and the notes say so).

    ``utility`` (optional, one value per unit in [0, 1]) is the compressed model's quality
    relative to the dense one (for retrieval: the overlap of the two top-k lists); the
    comparison fails when its mean drop is significantly above ``max_utility_drop``.
    """
    alpha = check_alpha(alpha)
    tolerance = check_nonnegative(tolerance, MSG_TOLERANCE)
    max_utility_drop = check_utility_drop(max_utility_drop)
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
    utility_result = _unit_utility(utility, keep, max_utility_drop, alpha, utility_metric)
    collapse = (
        [_collapse_reason(utility_result, gap, delta, tolerance)]
        if utility_result.status == "collapsed"
        else []
    )
    no_spread = not math.isfinite(test.p_value)
    # Identical differences everywhere: no spread, so the mean decides alone.
    p_value: float | None = None if no_spread else test.p_value
    if no_spread:
        interval = (delta, delta)
    significant = delta > tolerance if no_spread else test.p_value < alpha
    if collapse or (significant and delta > tolerance):
        verdict: Verdict = "fail"
        if significant and delta > tolerance:
            p_text = "n/a (no spread)" if p_value is None else f"{p_value:.4g}"
            reasons.append(f"mean harm {delta:+.4f} > tolerance {tolerance:g} (p = {p_text})")
        reasons = [*collapse, *reasons]
    elif tolerance > 0 and interval[1] <= tolerance:
        verdict = "pass"
    else:
        verdict = "inconclusive"
        n_units = len(b)
        sd = float(np.std(harm_values, ddof=1))
        t_sum = t_ppf(1 - alpha, n_units - 1) + t_ppf(power, n_units - 1)
        mde = t_sum * sd / math.sqrt(n_units)
        scale = (
            max(1.0, (t_sum * sd / (tolerance - delta)) ** 2 / n_units)
            if delta < tolerance
            else None
        )
        bound = PassBound(interval[1], (), scale)
        reasons, required_n = _undecided(
            bound, mde, n_units, UNITS, tolerance, p_value, alpha, "mean harm per unit"
        )
    return Comparison(
        verdict=verdict,
        delta=delta,
        interval=interval,
        p_value=p_value,
        reasons=(*reasons, *notes),
        required_n=required_n,
        upper_bound=float(interval[1]),
        utility=utility_result,
        **common,  # type: ignore[arg-type]
    )


def _unit_utility(
    utility: Any,
    keep: NDArray[np.bool_],
    max_drop: float | None,
    alpha: float,
    metric: str,
) -> UtilityCheck:
    """The utility guard over matched units: ``utility`` holds each unit's quality of the
    compressed model relative to the dense one in [0, 1] (1 = as good, e.g. the overlap of the
    two top-k lists); collapsed when the mean drop 1 − utility is significantly above
    ``max_drop`` (one-sided t-test) and its point estimate too."""
    test = "one-sided t-test of the mean drop over units"
    if max_drop is None or utility is None:
        return UtilityCheck(metric, max_drop, "off", None, None, None, "none")
    values = as_finite_or_nan(utility, "utility")
    if values.shape != keep.shape:
        raise InputError(MSG_UTILITY_UNITS.format(got=values.shape, n=keep.shape))
    drop = 1.0 - values[keep & np.isfinite(values)]
    mean = float(drop.mean()) if len(drop) else 0.0
    if len(drop) < 2 or np.ptp(drop) == 0:
        p = 0.0 if mean > max_drop else 1.0
    else:
        p = ttest_1samp(drop, max_drop, alternative="greater").p_value
    status: Literal["ok", "collapsed"] = "collapsed" if p < alpha and mean > max_drop else "ok"
    return UtilityCheck(metric, max_drop, status, "overall", mean, p, test)


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
        paired.cells, function, check_n_boot(n_boot), seed, check_alpha(alpha), interval
    )
