"""What could be shipped instead: post-hoc mitigations of a compressed model, re-gated honestly.

:func:`mitigate` splits the data in two, deterministically and stratified by label × group
(seeded; both sizes are reported): each mitigation is fitted on the calibration part, applied
to the compressed model's outputs on the held-out part, and the same gate (the paired
statistics of :func:`pytest_fairquant.stats.compare`) is re-run there against the dense model,
so every before/after verdict and the accuracy cost are measured on samples the fit never saw.

Built in (each an object with the :class:`Mitigation` protocol, so users can add their own):

- :class:`ThresholdCalibration` (paper 004 §4.1): one threshold per predicted attribute so the
  compressed model's positive rate on the calibration part equals that part's prevalence;
  identity-agnostic, as the paper stresses. Binary tasks.
- :class:`UncertaintyOverride` (paper 004 §4.2): the ``fraction`` most uncertain samples by the
  *dense* model take the dense model's label (``label="dense"``) or the true label
  (``label="true"``, a human review); the dense model ranks the held-out samples themselves, as
  an override list shipped with the model would be built.
- :class:`CalibratedEqualizedOdds` (Pleiss et al. 2017, used by paper 003): per group, a
  seeded share of the compressed model's scores is replaced by the group's base rate so the
  groups' generalized (weighted) error costs match. Binary tasks.

:func:`risk_forecast` is dense-only (paper 004's criteria): groups ranked by the dense model's
uncertainty share and error rate, and the most uncertain samples flagged as the likeliest
compression-identified exemplars; given a compressed model's predictions it reports the
enrichment of the actual CIEs (flips) among the flagged samples.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from .data.split import DemographicSplit
from .errors import InputError

if TYPE_CHECKING:
    from torch import nn

    from .predictions import Predictions
    from .stats import Comparison

__all__ = [
    "MSG_FRACTION",
    "CalibratedEqualizedOdds",
    "FittedMitigation",
    "Mitigation",
    "MitigationInputs",
    "MitigationOutcome",
    "MitigationReport",
    "NotApplicable",
    "RiskForecast",
    "ThresholdCalibration",
    "UncertaintyOverride",
    "add_mitigate_arguments",
    "default_mitigations",
    "holdout_split",
    "mitigate",
    "risk_forecast",
    "run_mitigate",
]

MSG_FRACTION = "{name} must be a fraction in (0, 1); got {value!r}"
MSG_LABEL = "UncertaintyOverride label must be 'dense' or 'true'; got {value!r}"
MSG_BINARY = "{name} needs a binary task (one probability per sample); this task is {kind}"
MSG_SINGLE_LABEL = "mitigate() needs single-label predictions (binary or multiclass); got {kind}"


class NotApplicable(InputError):
    """A mitigation cannot be fitted to these predictions (e.g. a binary-only method)."""


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InputError(MSG_FRACTION.format(name=name, value=value))
    return float(value)


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class MitigationInputs:
    """What a mitigation sees of some samples: labels, groups and both models' outputs.

    ``*_probs`` are (n, C) class probabilities (C = 2 for binary tasks).
    """

    labels: NDArray[np.int64]
    groups: NDArray[Any]
    dense_probs: NDArray[np.float64]
    dense_pred: NDArray[np.int64]
    compressed_probs: NDArray[np.float64]
    compressed_pred: NDArray[np.int64]
    kind: str

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, index: NDArray[np.int64]) -> MitigationInputs:
        return MitigationInputs(
            self.labels[index],
            self.groups[index],
            self.dense_probs[index],
            self.dense_pred[index],
            self.compressed_probs[index],
            self.compressed_pred[index],
            self.kind,
        )

    def require_binary(self, name: str) -> None:
        if self.kind != "binary":
            raise NotApplicable(MSG_BINARY.format(name=name, kind=self.kind))


class FittedMitigation(Protocol):
    """A mitigation fitted on a calibration part: new compressed labels for any samples."""

    @property
    def params(self) -> Mapping[str, Any]: ...

    def apply(self, data: MitigationInputs) -> NDArray[np.int64]: ...


class Mitigation(Protocol):
    """A named post-hoc correction; ``fit`` raises :class:`NotApplicable` with the reason."""

    @property
    def name(self) -> str: ...

    def fit(self, calibration: MitigationInputs) -> FittedMitigation: ...


@dataclass(frozen=True)
class _Fitted:
    params: Mapping[str, Any]
    rule: Any

    def apply(self, data: MitigationInputs) -> NDArray[np.int64]:
        out: NDArray[np.int64] = np.asarray(self.rule(data), dtype=np.int64)
        return out


# ----------------------------------------------------------------------------- the mitigations


@dataclass(frozen=True)
class ThresholdCalibration:
    """Paper 004 §4.1: the threshold at which the positive rate matches the prevalence."""

    name: str = "threshold_calibration"

    def fit(self, calibration: MitigationInputs) -> FittedMitigation:
        calibration.require_binary(self.name)
        prevalence = float(calibration.labels.mean())
        p = calibration.compressed_probs[:, 1]
        # the (1 − prevalence) quantile: that share of calibration scores is at or above it
        threshold = float(np.quantile(p, 1.0 - prevalence, method="higher")) if prevalence else 1.0
        threshold = min(max(threshold, 1e-12), 1.0)

        def rule(data: MitigationInputs) -> NDArray[np.int64]:
            return (data.compressed_probs[:, 1] >= threshold).astype(np.int64)

        return _Fitted({"threshold": threshold, "prevalence": prevalence}, rule)


def dense_uncertainty(probs: NDArray[np.float64]) -> NDArray[np.float64]:
    """1 − the top-class probability's margin over chance: 1 at chance, 0 when certain."""
    top = probs.max(axis=1)
    chance = 1.0 / probs.shape[1]
    out: NDArray[np.float64] = 1.0 - (top - chance) / (1.0 - chance)
    return out


def _most_uncertain(probs: NDArray[np.float64], fraction: float) -> NDArray[np.bool_]:
    """The ``fraction`` (rounded) most uncertain samples; ties broken by position (stable)."""
    count = round(fraction * len(probs))
    order = np.argsort(-dense_uncertainty(probs), kind="stable")
    flagged = np.zeros(len(probs), dtype=bool)
    flagged[order[:count]] = True
    return flagged


@dataclass(frozen=True)
class UncertaintyOverride:
    """Paper 004 §4.2: the dense model's most uncertain ``fraction`` take a fixed label."""

    fraction: float = 0.05
    label: Literal["dense", "true"] = "dense"

    def __post_init__(self) -> None:
        _check_fraction("fraction", self.fraction)
        if self.label not in ("dense", "true"):
            raise InputError(MSG_LABEL.format(value=self.label))

    @property
    def name(self) -> str:
        return f"override_{self.label}_{self.fraction:g}"

    def fit(self, calibration: MitigationInputs) -> FittedMitigation:
        fraction, label = self.fraction, self.label

        def rule(data: MitigationInputs) -> NDArray[np.int64]:
            flagged = _most_uncertain(data.dense_probs, fraction)
            source = data.dense_pred if label == "dense" else data.labels
            return np.where(flagged, source, data.compressed_pred)

        return _Fitted({"fraction": fraction, "label": label}, rule)


@dataclass(frozen=True)
class CalibratedEqualizedOdds:
    """Pleiss et al. (2017): mix each group's scores with its base rate to equalise the costs.

    The cost of group g is ``w_fp·gFPR·(1 − μ) + w_fn·gFNR·μ`` (their "weighted" constraint,
    weights normalised), gFPR = mean score of its negatives, gFNR = mean (1 − score) of its
    positives, μ its base rate; the groups below the largest cost replace a seeded share α of
    their scores by μ, with α from the calibration part. Labels are scores ≥ 0.5.
    """

    fp_weight: float = 1.0
    fn_weight: float = 1.0
    seed: int = 0
    name: str = "calibrated_equalized_odds"

    def _cost(self, p: NDArray[np.float64], y: NDArray[np.int64]) -> tuple[float, float]:
        total = self.fp_weight + self.fn_weight
        wfp, wfn = self.fp_weight / total, self.fn_weight / total
        mu = float(y.mean())
        gfpr = float(p[y == 0].mean()) if (y == 0).any() else 0.0
        gfnr = float((1 - p[y == 1]).mean()) if (y == 1).any() else 0.0
        cost = wfp * gfpr * (1 - mu) + wfn * gfnr * mu
        trivial = wfp * mu * (1 - mu) + wfn * (1 - mu) * mu
        return cost, trivial

    def fit(self, calibration: MitigationInputs) -> FittedMitigation:
        calibration.require_binary(self.name)
        p = calibration.compressed_probs[:, 1]
        costs: dict[str, tuple[float, float, float]] = {}
        for group in np.unique(calibration.groups.astype(str)):
            mask = calibration.groups.astype(str) == group
            cost, trivial = self._cost(p[mask], calibration.labels[mask])
            costs[str(group)] = (cost, trivial, float(calibration.labels[mask].mean()))
        target = max(c for c, _, _ in costs.values())
        mix = {
            g: float(np.clip((target - c) / (t - c), 0.0, 1.0)) if t > c else 0.0
            for g, (c, t, _) in costs.items()
        }
        base = {g: mu for g, (_, _, mu) in costs.items()}
        seed = self.seed

        def rule(data: MitigationInputs) -> NDArray[np.int64]:
            rng = np.random.default_rng(seed)
            draw = rng.random(len(data))
            scores = data.compressed_probs[:, 1].copy()
            names = data.groups.astype(str)
            for g, alpha in mix.items():
                replace = (names == g) & (draw < alpha)
                scores[replace] = base[g]
            return (scores >= 0.5).astype(np.int64)

        return _Fitted(
            {"mix_rate": mix, "base_rate": base, "cost": {g: c for g, (c, _, _) in costs.items()}},
            rule,
        )


def default_mitigations() -> tuple[Mitigation, ...]:
    """Threshold calibration, both overrides at 5 % and 10 %, calibrated equalized odds."""
    return (
        ThresholdCalibration(),
        UncertaintyOverride(0.05, "dense"),
        UncertaintyOverride(0.10, "dense"),
        UncertaintyOverride(0.05, "true"),
        UncertaintyOverride(0.10, "true"),
        CalibratedEqualizedOdds(),
    )


# ----------------------------------------------------------------------------- forecast


@dataclass(frozen=True)
class RiskForecast:
    """Dense-only risk: groups by uncertainty share (then error rate), flagged samples.

    ``flagged`` are positions in the data given; ``enrichment`` = P(flip | flagged) / P(flip)
    when the compressed predictions were given (None otherwise, NaN without flips).
    """

    fraction: float
    groups: tuple[Mapping[str, Any], ...]
    flagged: tuple[int, ...]
    enrichment: float | None
    flip_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "groups": [dict(g) for g in self.groups],
            "flagged": list(self.flagged),
            "enrichment": None
            if self.enrichment is None or math.isnan(self.enrichment)
            else self.enrichment,
            "flip_rate": self.flip_rate,
        }


def risk_forecast(
    labels: Any,
    dense_probs: Any,
    *,
    sensitive_features: Any,
    fraction: float = 0.1,
    compressed_pred: Any = None,
) -> RiskForecast:
    """Paper 004's dense-only criteria (see the module docstring); arrays in, no model."""
    from .metrics import group_metrics

    fraction = _check_fraction("fraction", fraction)
    probs = np.asarray(dense_probs, dtype=np.float64)
    y = np.asarray(labels)
    dense_pred = probs.argmax(axis=1)
    report = group_metrics(
        y,
        dense_pred,
        sensitive_features=sensitive_features,
        metrics=("accuracy", "uncertainty"),
        y_prob=probs[:, 1] if probs.shape[1] == 2 else probs,
        n_classes=probs.shape[1],
    )
    flagged = _most_uncertain(probs, fraction)
    features = np.asarray(sensitive_features).astype(str)
    rows: list[dict[str, Any]] = []
    for g in report.by_group["accuracy"]:
        mask = features == g
        rows.append(
            {
                "group": g,
                "n": report.n[g],
                "uncertainty": float(report.by_group["uncertainty"][g]),
                "error_rate": 1.0 - float(report.by_group["accuracy"][g]),
                "flagged": int((flagged & mask).sum()),
            }
        )
    rows.sort(key=lambda r: (-r["uncertainty"], -r["error_rate"], r["group"]))
    enrichment = flip_rate = None
    if compressed_pred is not None:
        flips = np.asarray(compressed_pred) != dense_pred
        flip_rate = float(flips.mean())
        enrichment = (
            float(flips[flagged].mean() / flip_rate)
            if flip_rate > 0 and flagged.any()
            else math.nan
        )
    return RiskForecast(
        fraction=fraction,
        groups=tuple(rows),
        flagged=tuple(int(i) for i in np.flatnonzero(flagged)),
        enrichment=enrichment,
        flip_rate=flip_rate,
    )


# ----------------------------------------------------------------------------- the protocol


def holdout_split(
    split: DemographicSplit, calibration: float, *, attribute: str, seed: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(calibration rows, held-out rows): a seeded subsample stratified by label × ``attribute``."""
    fraction = _check_fraction("calibration", calibration)
    rows_only = DemographicSplit(split.labels, {attribute: split.sensitive_features(attribute)})
    chosen = np.sort(rows_only.subsample(fraction, stratify=attribute, seed=seed).index)
    rest = np.setdiff1d(np.arange(len(split), dtype=np.int64), chosen, assume_unique=True)
    return chosen.astype(np.int64), rest


@dataclass(frozen=True)
class MitigationOutcome:
    """One mitigation's effect on the held-out part: verdicts, gap and accuracy before/after."""

    name: str
    params: Mapping[str, Any]
    verdict_before: str
    verdict_after: str | None
    gap_before: float | None
    gap_after: float | None
    delta_before: float | None
    delta_after: float | None
    accuracy_before: float
    accuracy_after: float | None
    changed: int
    reason: str | None = None
    comparison: Comparison | None = None

    @property
    def accuracy_cost(self) -> float | None:
        """Held-out accuracy lost by the mitigation (negative: it gained)."""
        return None if self.accuracy_after is None else self.accuracy_before - self.accuracy_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": _plain(self.params),
            "verdict_before": self.verdict_before,
            "verdict_after": self.verdict_after,
            "gap_before": _num(self.gap_before),
            "gap_after": _num(self.gap_after),
            "delta_before": _num(self.delta_before),
            "delta_after": _num(self.delta_after),
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "accuracy_cost": self.accuracy_cost,
            "changed": self.changed,
            "reason": self.reason,
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
        }


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return _num(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True)
class MitigationReport:
    """Before/after of every mitigation on the held-out part, with the split's sizes."""

    attribute: str
    gap: str
    tolerance: float
    seed: int
    calibration_n: int
    holdout_n: int
    before: Comparison
    outcomes: tuple[MitigationOutcome, ...]
    forecast: RiskForecast | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def best(self) -> MitigationOutcome | None:
        """The passing mitigation with the smallest accuracy cost (None when none passes)."""
        passing = [o for o in self.outcomes if o.verdict_after == "pass"]
        return min(passing, key=lambda o: o.accuracy_cost or 0.0) if passing else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "gap": self.gap,
            "tolerance": self.tolerance,
            "seed": self.seed,
            "calibration_n": self.calibration_n,
            "holdout_n": self.holdout_n,
            "before": self.before.to_dict(),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "forecast": None if self.forecast is None else self.forecast.to_dict(),
            "notes": list(self.notes),
        }


def _inputs(
    split: DemographicSplit, attribute: str, dense: Predictions, compressed: Predictions
) -> MitigationInputs:
    if dense.kind not in ("binary", "multiclass"):
        raise InputError(MSG_SINGLE_LABEL.format(kind=dense.kind))
    assert dense.probs is not None and dense.pred is not None
    assert compressed.probs is not None and compressed.pred is not None
    return MitigationInputs(
        np.asarray(split.labels),
        split.sensitive_features(attribute),
        dense.probs,
        dense.pred,
        compressed.probs,
        compressed.pred,
        dense.kind,
    )


def mitigate(
    dense: nn.Module | Predictions,
    compressed: nn.Module | Predictions,
    split: DemographicSplit,
    *,
    attribute: str | None = None,
    gap: str = "fvo",
    tolerance: float = 0.02,
    mitigations: Sequence[Mitigation] | None = None,
    calibration: float = 0.5,
    seed: int = 0,
    forecast: float | None = 0.1,
    task: Any = None,
    device: Any = "auto",
    batch_size: int = 64,
    **gate_options: Any,
) -> MitigationReport:
    """Fit each mitigation on a ``calibration`` share of ``split``, re-gate on the rest.

    ``dense``/``compressed`` are models (evaluated once on ``split``) or their
    :class:`~pytest_fairquant.predictions.Predictions` on it. ``gap``, ``tolerance`` and
    ``gate_options`` (as for :func:`~pytest_fairquant.stats.compare`; its ``seed`` is this
    ``seed``) decide the verdicts. ``forecast`` is the share of samples the dense-only
    :func:`risk_forecast` flags (None: no forecast).
    """
    from .evaluate import predict
    from .predictions import Predictions
    from .stats import compare

    attribute = attribute or split.attribute_names[0]
    options = {"task": task, "device": device, "batch_size": batch_size, "progress": False}
    dense_pred = (
        dense
        if isinstance(dense, Predictions)
        else predict(dense, split, method="dense", **options)
    )
    comp_pred = (
        compressed if isinstance(compressed, Predictions) else predict(compressed, split, **options)
    )
    data = _inputs(split, attribute, dense_pred, comp_pred)
    fit_rows, held_rows = holdout_split(split, calibration, attribute=attribute, seed=seed)
    fit_part, held = data.rows(fit_rows), data.rows(held_rows)
    weights = None if split.weights is None else split.weights[held_rows]

    def gate(pred: NDArray[np.int64]) -> Comparison:
        return compare(
            held.labels,
            held.dense_pred,
            pred,
            sensitive_features=held.groups,
            sample_weight=weights,
            attribute=attribute,
            gap=gap,
            tolerance=tolerance,
            seed=seed,
            **gate_options,
        )

    before = gate(held.compressed_pred)
    accuracy_before = float((held.compressed_pred == held.labels).mean())
    outcomes: list[MitigationOutcome] = []
    for mitigation in mitigations if mitigations is not None else default_mitigations():
        try:
            fitted = mitigation.fit(fit_part)
        except NotApplicable as err:
            outcomes.append(
                MitigationOutcome(
                    mitigation.name,
                    {},
                    before.verdict,
                    None,
                    before.compressed_gap,
                    None,
                    before.delta,
                    None,
                    accuracy_before,
                    None,
                    0,
                    reason=str(err),
                )
            )
            continue
        new = fitted.apply(held)
        after = gate(new)
        outcomes.append(
            MitigationOutcome(
                mitigation.name,
                dict(fitted.params),
                before.verdict,
                after.verdict,
                before.compressed_gap,
                after.compressed_gap,
                before.delta,
                after.delta,
                accuracy_before,
                float((new == held.labels).mean()),
                int((new != held.compressed_pred).sum()),
                comparison=after,
            )
        )
    risk = None
    if forecast is not None:
        risk = risk_forecast(
            held.labels,
            held.dense_probs,
            sensitive_features=held.groups,
            fraction=forecast,
            compressed_pred=held.compressed_pred,
        )
    return MitigationReport(
        attribute=attribute,
        gap=before.gap,
        tolerance=before.tolerance,
        seed=seed,
        calibration_n=len(fit_rows),
        holdout_n=len(held_rows),
        before=before,
        outcomes=tuple(outcomes),
        forecast=risk,
    )


# ----------------------------------------------------------------------------- command line


def add_mitigate_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``fairquant mitigate`` beyond the model, data and gate settings."""
    parser.add_argument("--method", required=True, metavar="ID", help="the method to mitigate")
    parser.add_argument(
        "--calibration",
        type=float,
        default=0.5,
        help="share of the split the mitigations are fitted on (the rest is re-gated)",
    )


def format_mitigations(report: MitigationReport) -> str:
    lines = [
        f"{report.gap} on {report.attribute}, tolerance {report.tolerance}: fitted on "
        f"{report.calibration_n} samples, gated on {report.holdout_n} held-out samples "
        f"(seed {report.seed}); before: {report.before.verdict}",
        f"{'mitigation':<28} {'verdict':<14} {'Δgap':>8} {'accuracy':>9} {'cost':>7}",
    ]
    for o in report.outcomes:
        if o.verdict_after is None:
            lines.append(f"{o.name:<28} not applicable: {o.reason}")
            continue
        delta = "n/a" if o.delta_after is None else f"{o.delta_after:+.4f}"
        lines.append(
            f"{o.name:<28} {o.verdict_before + '→' + o.verdict_after:<14} {delta:>8} "
            f"{o.accuracy_after:>9.4f} {o.accuracy_cost:>+7.4f}"
        )
    if report.forecast is not None and report.forecast.enrichment is not None:
        lines.append(
            f"risk forecast: the dense model's {report.forecast.fraction:.0%} most uncertain "
            f"samples hold flips at {report.forecast.enrichment:.2f}x the base rate"
        )
    return "\n".join(lines)


def run_mitigate(
    args: argparse.Namespace,
    model: nn.Module,
    split: DemographicSplit,
    *,
    device: Any,
    gate: Mapping[str, Any],
) -> tuple[str, dict[str, Any], bool]:
    """``fairquant mitigate``: its table, its JSON, and whether the gate passes before or after
    some mitigation."""
    from .compression import compress

    options = dict(gate)
    seed = options.pop("seed")
    report = mitigate(
        model,
        compress(model, args.method),
        split,
        attribute=args.attribute,
        calibration=args.calibration,
        device=device,
        seed=seed,
        **options,
    )
    passes = report.before.passed or report.best() is not None
    return format_mitigations(report), report.to_dict(), passes
