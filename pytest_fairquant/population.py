"""Paper 000-style tables: paired t-tests of dense vs compressed over a population of matched units.

Paper 000 measures each fairness number (FACET min/max recall disparity, FairFace MinSkew/MaxSkew)
for several CLIP models before and after each quantization method, and tests, per method ×
attribute × metric, whether the mean changed: a paired t-test over the models (Tables 1 and 2).
The same test serves matched units inside one model (classes, queries). This module takes flat
:class:`Measurement` records, pairs each compressed value with the baseline's on the same unit,
runs the tests, corrects across every test of the table (Holm or Benjamini-Hochberg; paper 000
reports uncorrected p-values and notes its few significant cells would not survive correction),
and returns a :class:`PopulationTable` with ``to_dict()`` and a plain-text ``render()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import InputError
from .undefined import Undefined

if TYPE_CHECKING:
    from .metrics.skew import SkewReference
    from .stats import TTestResult

Correction = Literal["holm", "bonferroni", "bh", "none"]

MSG_NO_BASELINE = (
    "no measurement has method {baseline!r}: the table pairs every method with the baseline"
)
MSG_NO_COMPRESSED = (
    "every measurement is of the baseline {baseline!r}: add measurements of compressed models"
)
MSG_DUPLICATE = "two measurements for unit {unit!r}, method {method!r}, attribute {attribute!r}, metric {metric!r}"
MSG_LEVEL = "{name} must be in (0, 1); got {value!r}"


@dataclass(frozen=True)
class Measurement:
    """One fairness number of one model (``method`` "dense" or a method id) on one unit.

    ``unit`` is what the test pairs on: a model name for a population of models, or a class or
    query name for matched units inside one model.
    """

    unit: str
    method: str
    attribute: str
    metric: str
    value: float


@dataclass(frozen=True)
class PopulationCell:
    """The paired t-test of one method × attribute × metric: compressed − baseline over units."""

    method: str
    attribute: str
    metric: str
    n_units: int
    mean_baseline: float
    mean_compressed: float
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    significant: bool
    survives_correction: bool
    units_dropped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "attribute": self.attribute,
            "metric": self.metric,
            "n_units": self.n_units,
            "mean_baseline": _json(self.mean_baseline),
            "mean_compressed": _json(self.mean_compressed),
            "mean_difference": _json(self.mean_difference),
            "ci": [_json(self.ci_low), _json(self.ci_high)],
            "p_value": _json(self.p_value),
            "p_adjusted": _json(self.p_adjusted),
            "significant": self.significant,
            "survives_correction": self.survives_correction,
            "units_dropped": list(self.units_dropped),
            **(
                {"undefined": self.p_value.to_dict()} if isinstance(self.p_value, Undefined) else {}
            ),
        }


def _json(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class PopulationTable:
    """Every cell of a paper 000-style table, with the test and correction that produced it."""

    cells: tuple[PopulationCell, ...]
    baseline: str
    correction: Correction
    alpha: float
    confidence: float
    title: str = ""

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.method for c in self.cells))

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.attribute for c in self.cells))

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.metric for c in self.cells))

    def cell(self, method: str, attribute: str, metric: str) -> PopulationCell:
        for c in self.cells:
            if (c.method, c.attribute, c.metric) == (method, attribute, metric):
                return c
        raise KeyError((method, attribute, metric))

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "test": "paired t-test (scipy.stats.ttest_rel), two-sided; difference = compressed - baseline",
            "baseline": self.baseline,
            "correction": self.correction,
            "correction_name": _correction_name(self.correction),
            "n_tests": len(self.cells),
            "alpha": self.alpha,
            "confidence": self.confidence,
            "n_significant": sum(c.significant for c in self.cells),
            "n_surviving_correction": sum(c.survives_correction for c in self.cells),
            "cells": [c.to_dict() for c in self.cells],
        }

    def render(self) -> str:
        """A plain-text table in paper 000's layout: per method × attribute, p and CI per metric."""
        pct = f"{self.confidence * 100:g}% CI"
        method_w = max(len("method"), *(len(m) for m in self.methods))
        attr_w = max(len("attribute"), *(len(a) for a in self.attributes))
        cell_w = 22
        head1 = f"{'method':<{method_w}}  {'attribute':<{attr_w}}  " + "  ".join(
            f"{m:^{cell_w}}" for m in self.metrics
        )
        head2 = f"{'':<{method_w}}  {'':<{attr_w}}  " + "  ".join(
            f"{'p':<7}{pct:<{cell_w - 7}}" for _ in self.metrics
        )
        lines = [self.title] if self.title else []
        lines += [head1, head2, "-" * len(head1)]
        for method in self.methods:
            for i, attribute in enumerate(self.attributes):
                row = f"{method if i == 0 else '':<{method_w}}  {attribute:<{attr_w}}  "
                row += "  ".join(
                    self._render_cell(method, attribute, metric, cell_w) for metric in self.metrics
                )
                lines.append(row.rstrip())
        n_sig = sum(c.significant for c in self.cells)
        n_kept = sum(c.survives_correction for c in self.cells)
        n_units = sorted({c.n_units for c in self.cells})
        corrected = (
            "no correction for multiple tests"
            if self.correction == "none"
            else f"+ survives {_correction_name(self.correction)} across all {len(self.cells)} tests ({n_kept})"
        )
        lines.append(
            f"paired t-test over {'/'.join(map(str, n_units))} units, difference = compressed - {self.baseline}; "
            f"* p < {self.alpha:g} uncorrected ({n_sig} of {len(self.cells)}); {corrected}"
        )
        return "\n".join(lines)

    def _render_cell(self, method: str, attribute: str, metric: str, width: int) -> str:
        try:
            c = self.cell(method, attribute, metric)
        except KeyError:
            return f"{'-':<{width}}"
        if math.isnan(c.p_value):
            reason = c.p_value.reason if isinstance(c.p_value, Undefined) else "nan"
            return f"{'n/a (' + reason + ')':<{width}}"
        mark = ("*" if c.significant else "") + ("+" if c.survives_correction else "")
        return f"{_short(c.p_value) + mark:<{_P_WIDTH}}{_short(c.ci_low) + ', ' + _short(c.ci_high):<{width - _P_WIDTH}}"


_P_WIDTH = 8


def _correction_name(correction: str) -> str:
    from .stats import CORRECTIONS

    return CORRECTIONS[correction]


def _short(x: float) -> str:
    """Paper-style numbers: two or three decimals, no leading zero (.862, -.01)."""
    text = f"{x:.3f}" if abs(x) < 1 else f"{x:.2f}"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def _check_level(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise InputError(MSG_LEVEL.format(name=name, value=value))


def population_table(
    measurements: Iterable[Measurement],
    *,
    baseline: str = "dense",
    correction: Correction = "holm",
    alpha: float = 0.05,
    confidence: float = 0.95,
    title: str = "",
) -> PopulationTable:
    """Paired t-tests of every method against ``baseline`` per attribute × metric, corrected together.

    Units where either value is NaN (an undefined metric) are dropped from that test and listed;
    a test left with fewer than two units is undefined (``too_few_samples``), never significant.
    """
    from .stats import CORRECTIONS, MSG_CORRECTION, adjust

    if correction not in CORRECTIONS:
        raise InputError(MSG_CORRECTION.format(known=", ".join(CORRECTIONS), got=correction))
    _check_level("alpha", alpha)
    _check_level("confidence", confidence)
    table: dict[tuple[str, str, str], dict[str, float]] = {}
    for m in measurements:
        key = (m.method, m.attribute, m.metric)
        values = table.setdefault(key, {})
        if m.unit in values:
            raise InputError(
                MSG_DUPLICATE.format(
                    unit=m.unit, method=m.method, attribute=m.attribute, metric=m.metric
                )
            )
        values[m.unit] = float(m.value)
    if not any(k[0] == baseline for k in table):
        raise InputError(MSG_NO_BASELINE.format(baseline=baseline))
    keys = [k for k in table if k[0] != baseline]
    if not keys:
        raise InputError(MSG_NO_COMPRESSED.format(baseline=baseline))

    raw: list[dict[str, Any]] = []
    for method, attribute, metric in keys:
        base = table.get((baseline, attribute, metric), {})
        comp = table[(method, attribute, metric)]
        units = [u for u in comp if u in base]
        kept = [u for u in units if not (math.isnan(base[u]) or math.isnan(comp[u]))]
        dropped = tuple(sorted(set(comp) ^ set(base) | (set(units) - set(kept))))
        b = np.array([base[u] for u in kept], dtype=np.float64)
        c = np.array([comp[u] for u in kept], dtype=np.float64)
        raw.append(
            {
                "method": method,
                "attribute": attribute,
                "metric": metric,
                "n_units": len(kept),
                "mean_baseline": float(b.mean()) if len(kept) else math.nan,
                "mean_compressed": float(c.mean()) if len(kept) else math.nan,
                "test": _paired_ttest(b, c, confidence),
                "units_dropped": dropped,
            }
        )
    adjusted = adjust([r["test"].p_value for r in raw], correction)
    cells = []
    for r, p_adj in zip(raw, adjusted, strict=True):
        test = r.pop("test")
        p = test.p_value
        cells.append(
            PopulationCell(
                **r,
                mean_difference=test.mean_difference,
                ci_low=test.interval[0],
                ci_high=test.interval[1],
                p_value=p,
                p_adjusted=p if math.isnan(p) else float(p_adj),
                significant=bool(p < alpha),
                survives_correction=bool(p_adj < alpha),
            )
        )
    return PopulationTable(tuple(cells), baseline, correction, alpha, confidence, title)


def _paired_ttest(base: np.ndarray, compressed: np.ndarray, confidence: float) -> TTestResult:
    """stats' two-sided paired t-test of compressed - base, with its t interval of the mean.

    Differences without spread have no t statistic: all zero is read as no change (p = 1, the
    interval [0, 0], the limit of the test); a constant non-zero shift is undefined, as is a
    test with fewer than two units.
    """
    from .stats import TTestResult, paired_ttest

    diff = compressed - base
    n = len(diff)
    if n < 2:
        nan = Undefined("too_few_samples", f"{n} paired unit(s); a paired t-test needs at least 2")
        return TTestResult(
            nan, nan, max(n - 1, 0), float(diff.mean()) if n else nan, (nan, nan), "two-sided"
        )
    if np.all(diff == diff[0]):
        if diff[0] == 0:
            return TTestResult(0.0, 1.0, n - 1, 0.0, (0.0, 0.0), "two-sided")
        nan = Undefined(
            "zero_denominator",
            f"every unit changed by exactly {diff[0]:.6g}: the t statistic is undefined",
        )
        return TTestResult(nan, nan, n - 1, float(diff[0]), (nan, nan), "two-sided")
    return paired_ttest(base, compressed, alpha=1.0 - confidence)


# ---------------------------------------------------------------------------- record builders


def disparity_measurements(unit: str, method: str, results: Sequence[Any]) -> list[Measurement]:
    """Min and max recall disparity per comparison (from :func:`~pytest_fairquant.tasks.zeroshot.recall_disparities`)."""
    out = []
    for r in results:
        out.append(Measurement(unit, method, r.comparison.name, "min_disparity", r.min_disparity))
        out.append(Measurement(unit, method, r.comparison.name, "max_disparity", r.max_disparity))
    return out


def skew_measurements(unit: str, method: str, skews: Mapping[str, Any]) -> list[Measurement]:
    """MinSkew@k and MaxSkew@k per attribute (from :func:`~pytest_fairquant.tasks.retrieval.retrieval_skew`)."""
    out = []
    for attribute, s in skews.items():
        out.append(Measurement(unit, method, attribute, "min_skew", s.min_skew))
        out.append(Measurement(unit, method, attribute, "max_skew", s.max_skew))
    return out


def per_query_skew_measurements(
    method: str, skews: Mapping[str, Any], queries: Sequence[str]
) -> list[Measurement]:
    """Per-query MinSkew/MaxSkew with the query as the unit: the matched-units test inside one model."""
    out = []
    for attribute, s in skews.items():
        for name, lo, hi in zip(queries, s.per_query_min, s.per_query_max, strict=True):
            out.append(Measurement(name, method, attribute, "min_skew", float(lo)))
            out.append(Measurement(name, method, attribute, "max_skew", float(hi)))
    return out


def per_class_disparity_measurements(method: str, results: Sequence[Any]) -> list[Measurement]:
    """Per-class recall disparity with the class as the unit: the matched-units test inside one model."""
    return [
        Measurement(cls, method, r.comparison.name, "disparity", value)
        for r in results
        for cls, value in r.per_class.items()
    ]


# ---------------------------------------------------------------------------- paper 000 protocol


@dataclass(frozen=True)
class ClipRun:
    """One model's FACET recall disparities and FairFace skews, and their table records."""

    unit: str
    method: str
    disparities: tuple[Any, ...]
    skews: Mapping[str, Any]
    measurements: tuple[Measurement, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "method": self.method,
            "facet_recall_disparity": [d.to_dict() for d in self.disparities],
            "fairface_skew": {a: s.to_dict() for a, s in self.skews.items()},
        }


def measure_clip(
    unit: str,
    method: str,
    model: Any,
    *,
    facet: Any = None,
    zeroshot: Any = None,
    comparisons: Sequence[Any] | None = None,
    min_group_count: int = 25,
    fairface: Any = None,
    retrieval: Any = None,
    skew_attributes: Sequence[str] = ("gender", "race", "age"),
    k: int = 1000,
    reference: SkewReference = "prior",
    stream: bool = False,
    device: str = "auto",
    batch_size: int = 64,
    cache: Any = None,
) -> ClipRun:
    """Paper 000's two fairness measurements of one model (dense or a variant).

    FACET (``facet`` split + ``zeroshot`` task): zero-shot predictions, then min/max recall
    disparity per comparison. FairFace (``fairface`` split + ``retrieval`` task): MaxSkew@k and
    MinSkew@k per attribute, from the full similarity matrix, or with ``stream`` from a running
    top k that never holds it. Either half may be left out.
    """
    from .evaluate import predict
    from .tasks.retrieval import retrieval_skew, stream_topk
    from .tasks.zeroshot import PAPER000_FACET_COMPARISONS, recall_disparities

    disparities: list[Any] = []
    skews: dict[str, Any] = {}
    if facet is not None and zeroshot is not None:
        pred = predict(
            model,
            facet,
            task=zeroshot,
            device=device,
            batch_size=batch_size,
            cache=cache,
            method=method,
        )
        disparities = recall_disparities(
            pred, facet, comparisons or PAPER000_FACET_COMPARISONS, min_group_count=min_group_count
        )
    if fairface is not None and retrieval is not None:
        ranking: np.ndarray[Any, Any]
        if stream:
            ranking = stream_topk(
                model, fairface, retrieval, k=k, device=device, batch_size=batch_size
            )
        else:
            ranking = predict(
                model,
                fairface,
                task=retrieval,
                device=device,
                batch_size=batch_size,
                cache=cache,
                method=method,
            ).scores
        skews = retrieval_skew(ranking, fairface, skew_attributes, k=k, reference=reference)
    records = disparity_measurements(unit, method, disparities) + skew_measurements(
        unit, method, skews
    )
    return ClipRun(unit, method, tuple(disparities), skews, tuple(records))


def paper000_tables(
    runs: Iterable[ClipRun], *, correction: Correction = "holm", alpha: float = 0.05
) -> dict[str, PopulationTable]:
    """Table 1 (FACET min/max recall disparity) and Table 2 (FairFace MinSkew/MaxSkew) over the runs' units."""
    records = [m for run in runs for m in run.measurements]
    tables = {}
    for key, metrics, title in (
        (
            "table1",
            ("min_disparity", "max_disparity"),
            "Table 1: FACET recall disparity, paired t-tests",
        ),
        ("table2", ("min_skew", "max_skew"), "Table 2: FairFace skew, paired t-tests"),
    ):
        chosen = [m for m in records if m.metric in metrics]
        if chosen:
            tables[key] = population_table(chosen, correction=correction, alpha=alpha, title=title)
    return tables


def protocol_report(
    runs: Iterable[ClipRun], tables: Mapping[str, PopulationTable]
) -> dict[str, Any]:
    """The JSON-ready section a report carries for the protocol: every run, then the tables."""
    return {
        "runs": [r.to_dict() for r in runs],
        "tables": {k: t.to_dict() for k, t in tables.items()},
    }
