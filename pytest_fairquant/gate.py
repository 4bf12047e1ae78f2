"""The fairness gates: assertion functions, their failure text, and the context the plugin sets.

``assert_no_bias_amplification`` compares a dense and a compressed model per group with
:func:`pytest_fairquant.stats.compare`; ``assert_fvo_below`` checks one model's gap against a
threshold with :func:`pytest_fairquant.stats.assess_gap`. Both raise
:class:`FairnessAssertionError` (an ``AssertionError``) with a verdict line, a table of groups and
a hint. They never import pytest: under the plugin, a :class:`GateContext` supplies the session's
settings, its prediction cache, a sink for the session report and ``user_properties``, and the
pytest outcome of an inconclusive verdict; outside pytest the library defaults apply.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from .errors import InputError
from .predictions import Predictions
from .report.format import interval_of, number, p_value
from .settings import Settings

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .data.split import DemographicSplit
    from .metrics.report import GroupReport
    from .progress import Progress
    from .stats import Comparison
    from .stats.spec import GateSpec

MSG_NO_SPLIT = (
    "{name} is a model: pass the DemographicSplit to evaluate it on, "
    "or pass arrays (y_true=, base_pred=, compressed_pred=, sensitive_features=)"
)
MSG_ARRAYS = "array form needs y_true=, {preds} and sensitive_features=; missing {missing}"
MSG_OTHER_SPLIT = (
    "{name}: these {method!r} predictions were made on another split than the one passed "
    "(fingerprints differ); predict on this split, or pass the model instead"
)
MSG_MIXED = "pass either models/predictions or the array keywords, not both"
MSG_UNKNOWN_ATTRIBUTE = "attribute {name!r} is not in the split; it has {known}"
MSG_RETRIEVAL_ONLY = (
    "gap {gap!r} measures retrieval: pass models or Predictions of kind 'retrieval' "
    "(scores of shape (items, queries)); got {kind}"
)

NOTE_NO_MODELS = (
    "no {what}: the gate was given predictions or arrays, not the two torch models that "
    "{call} needs"
)
NOTE_NOT_AVAILABLE = "{what} ({attribute}): not available ({error})"
NOTE_NOT_COMPRESSED = (
    "no attribution: the variant was not made by a compression method ({why}); attribution "
    "compresses the dense model again one layer at a time, so it needs the method"
)
NOTE_REPLAYED = (
    "no attribution: the variant was {what} on the split's set-aside part, which the "
    "per-layer trials would not replay"
)
#: The sizes of the diagnosis a gate computes: enough samples for stable per-group means, few
#: enough that it costs a few forward and backward passes.
DIAGNOSE_SAMPLES = 256
HESSIAN_SAMPLES = 64

#: Table rows shown in a failure message; the rest are counted, worst groups first.
MAX_ROWS = 10
_RETRIEVAL_GAPS = frozenset({"max_skew", "min_skew"})
#: How array-form predictions are named in messages, by keyword prefix.
_ARRAY_NAMES = {"base": "dense", "compressed": "compressed", "y": "the model"}
#: The compression metadata a group report keeps: what the variant is, not how it ran.
_IDENTIFYING = ("method_id", "family", "params", "weight_bits", "sparsity")


class InconclusiveWarning(UserWarning):
    """A gate could not decide, and ``fairquant_inconclusive = pass-with-warning`` let it pass."""


# --------------------------------------------------------------------------- plugin context


@dataclass(frozen=True)
class Explanation:
    """What a gate found out about one comparison beyond its verdict: the diagnosis and the
    attribution (their ``to_dict()``) for its record, ``notes`` on why one asked for is absent,
    and the ``lines`` its failure message ends with."""

    diagnosis: Mapping[str, Any] | None = None
    attribution: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()


@dataclass
class GateContext:
    """What the plugin lends the gates while a test runs (all optional outside pytest)."""

    settings: Settings = field(default_factory=Settings)
    #: ``predict(model, split) -> Predictions`` through the session's prediction cache.
    #: ``predict(model, split, task=None)``: the session's cached evaluation.
    predict: Callable[..., Predictions] | None = None
    #: Receives every comparison a gate made, with its gate name and its Explanation (None when
    #: nothing was asked of it), for reports and JUnit.
    record: Callable[[str, Comparison, Explanation | None], None] | None = None
    #: Turns a non-failing undecided verdict into a pytest outcome (skip, xfail).
    outcome: Callable[[str, str], None] | None = None
    #: Where long steps inside a gate (attribution's trials) report.
    progress: Progress | None = None


#: The innermost active context: a ContextVar, so threads and asyncio tasks that run gates each
#: see their own (a module-level stack would be shared by all of them).
_ACTIVE: contextvars.ContextVar[GateContext | None] = contextvars.ContextVar(
    "fairquant_gate_context", default=None
)


@contextlib.contextmanager
def gate_context(context: GateContext) -> Iterator[GateContext]:
    """Make ``context`` the active one for the gates called inside the block."""
    token = _ACTIVE.set(context)
    try:
        yield context
    finally:
        _ACTIVE.reset(token)


def active_context() -> GateContext:
    return _ACTIVE.get() or GateContext()


# --------------------------------------------------------------------------- the error


class FairnessAssertionError(AssertionError):
    """A fairness gate failed; ``comparisons`` holds every comparison it made."""

    def __init__(self, comparisons: Sequence[Comparison], message: str) -> None:
        super().__init__(message)
        self.comparisons = tuple(comparisons)

    @property
    def comparison(self) -> Comparison:
        """The comparison that decided the failure (the first one not passing)."""
        return next(c for c in self.comparisons if c.verdict != "pass")


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


_HINTS = {
    "fail": "hint: the compressed model is measurably less fair; try a gentler method, "
    "calibrate or fine-tune after compression, or raise tolerance= if this change is acceptable.",
    "fail-one": "hint: this model's groups differ by more than the threshold; look at the worst "
    "groups above (data, thresholds per group), or raise threshold= if the gap is acceptable.",
    "inconclusive": "hint: too few samples to tell; {more}, or set fairquant_inconclusive to "
    "xfail/skip/pass-with-warning to let undecided gates through.",
    "insufficient_data": "hint: some groups are below the minimum support; add samples for them "
    "or lower fairquant_min_group_size / fairquant_min_positives.",
    "error": "hint: the comparison could not be computed; see the reasons above.",
}


def _limit(metric: str, tolerance: float) -> str:
    """The per-group bound a change must respect, in the metric's direction of harm."""
    from .stats._compare import harm

    if harm(metric, 1.0) > 0 and harm(metric, -1.0) > 0:
        return f"|d| <= {tolerance:.4f}"
    return f"<= +{tolerance:.4f}" if harm(metric, 1.0) > 0 else f">= -{tolerance:.4f}"


def _worst_first(comparison: Comparison) -> list[Any]:
    from .stats._compare import harm

    def key(group: Any) -> float:
        delta = float(group.delta)
        return -math.inf if math.isnan(delta) else harm(comparison.metric, delta)

    return sorted(comparison.groups, key=key, reverse=True)


def _head(c: Comparison, label: str, one_model: bool) -> str:
    where = f" on {c.attribute!r}" if c.attribute else ""
    if c.verdict not in ("fail", "pass"):
        return f"{c.verdict.upper()}: {c.gap} gap{where}: " + (
            "; ".join(c.reasons) if c.reasons else "undecided"
        )
    if one_model:
        relation = "above" if c.verdict == "fail" else "below"
        return (
            f"{c.verdict.upper()}: {c.gap} gap{where} of {label} is {number(c.compressed_gap)}, "
            f"{relation} the threshold {number(c.tolerance)}"
        )
    collapsed = c.utility is not None and c.utility.status == "collapsed"
    grew = c.delta is not None and c.delta > c.tolerance and (c.p_value or 1.0) < c.alpha
    if c.verdict == "fail" and collapsed and not grew and c.reasons:
        return f"FAIL: {c.gap} gap{where}: {c.reasons[0]}"
    if c.verdict == "fail":
        head = (
            f"FAIL: {c.gap} gap{where} grew by {number(c.delta, True)} "
            f"(dense {number(c.base_gap)} -> {label} {number(c.compressed_gap)}), "
            f"beyond the tolerance {number(c.tolerance)}"
        )
        # The utility guard's reason comes first among the reasons when it fired too.
        return f"{head}; and {c.reasons[0]}" if collapsed and c.reasons else head
    return (
        f"PASS: {c.gap} gap{where} changed by {number(c.delta, True)}, within {number(c.tolerance)}"
    )


def render(comparison: Comparison, *, method: str = "compressed") -> str:
    """The failure text of one comparison: verdict line, group table, statistics, hint.

    A dense-vs-compressed comparison shows group | n | dense | compressed | delta | interval |
    limit; a one-model gap (assert_fvo_below) shows each group's value, its distance to the best
    group, and the threshold.
    """
    c = comparison
    one_model = c.base_gap is None and c.delta is None
    label = "the model" if one_model and method == "dense" else method
    level = f"{1 - c.alpha:.0%} interval"
    if one_model:
        rows: list[tuple[str, ...]] = [
            ("group", "n", c.metric, "to best", level, "limit"),
            (
                f"[{c.gap} gap]",
                str(c.n),
                number(c.compressed_gap),
                "",
                interval_of(c.interval, signed=False),
                f"<= {c.tolerance:.4f}",
            ),
        ]
    else:
        rows = [
            ("group", "n", "dense", label, "delta", level, "limit"),
            (
                f"[{c.gap} gap]",
                str(c.n),
                number(c.base_gap),
                number(c.compressed_gap),
                number(c.delta, True),
                interval_of(c.interval),
                f"<= +{c.tolerance:.4f}",
            ),
        ]
    groups = _worst_first(c)
    group_limit = _limit(c.metric, c.tolerance)
    for g in groups[:MAX_ROWS]:
        # One model: the interval is of the group's value; two: of its change.
        values = (
            number(g.compressed),
            number(g.delta, True),
            interval_of(g.interval, not one_model),
        )
        if one_model:
            rows.append((str(g.group), str(g.n), *values, ""))
        else:
            rows.append((str(g.group), str(g.n), number(g.base), *values, group_limit))
    lines = [_head(c, label, one_model), *_table(rows)]
    if len(groups) > MAX_ROWS:
        lines.append(f"  ... {len(groups) - MAX_ROWS} more groups (see the session report)")
    # Unit-level comparisons (skew per query, values per class or model): no bootstrap.
    unit = "matched units (queries, classes or models)" if c.interval_method == "t" else None
    lines.append(
        f"{c.metric} per {'unit' if unit else 'group'}; p = {p_value(c.p_value)} ({c.test}; "
        f"correction: {c.correction}), alpha {c.alpha:g}, "
        + (f"{c.n} matched units" if unit else f"{c.n_boot} bootstrap resamples, seed {c.seed}")
    )
    if c.upper_bound is not None and c.verdict == "inconclusive":
        what = "gap" if one_model else "change"
        lines.append(
            f"pass needs the upper {1 - c.alpha:.0%} confidence bound of the {what} "
            f"({number(c.upper_bound, not one_model)}) <= {c.tolerance:g}"
        )
    if c.utility is not None:
        lines.append(c.utility.describe())
    more = (
        f"about {c.required_n:,} {unit or 'samples per group'} would decide it"
        if c.required_n
        else f"more {unit or 'samples per group'} would decide it"
    )
    hint = _HINTS.get("fail-one" if one_model and c.verdict == "fail" else c.verdict)
    if hint:
        lines.append(hint.format(more=more))
    return "\n".join(lines)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Inputs:
    """Aligned arrays of one gate call: truth, predictions and one feature per attribute."""

    y_true: Any
    preds: tuple[Any, ...]
    features: Mapping[str, Any]
    methods: tuple[str, ...]
    kind: str | None = None
    scores: tuple[Any, ...] = ()
    #: The Predictions the models or predictions given were resolved to (none for arrays).
    predictions: tuple[Predictions, ...] = ()


def _predictions(
    value: Any, split: DemographicSplit | None, name: str, task: Any = None
) -> Predictions:
    if isinstance(value, Predictions):
        if split is not None and value.split_fingerprint != split.fingerprint:
            raise InputError(MSG_OTHER_SPLIT.format(name=name, method=value.method))
        return value
    if split is None:
        raise InputError(MSG_NO_SPLIT.format(name=name))
    ctx = active_context()
    if ctx.predict is not None:
        return ctx.predict(value, split, task=task)
    from .evaluate import predict

    settings = ctx.settings
    return predict(value, split, task=task, device=settings.device, batch_size=settings.batch_size)


def _attributes(
    split: DemographicSplit | None, features: Any, attribute: str | None
) -> dict[str, Any]:
    """One sensitive feature array per attribute under test."""
    if split is not None and features is None:
        known = split.attribute_names
        names = known if attribute is None else (attribute,)
        for name in names:
            if name not in known and "×" not in name:
                raise InputError(MSG_UNKNOWN_ATTRIBUTE.format(name=name, known=list(known)))
        # The split's codes, encoded once for every gate (not its strings, re-encoded per call).
        return {name: split.groups(name) for name in names}
    if isinstance(features, Mapping):
        if attribute is not None:
            if attribute not in features:
                raise InputError(MSG_UNKNOWN_ATTRIBUTE.format(name=attribute, known=list(features)))
            return {attribute: features[attribute]}
        return dict(features)
    return {attribute or "group": features}


def _kept(split: DemographicSplit | None, name: str, *arrays: Any) -> tuple[Any, ...]:
    """``arrays`` on the rows ``name``'s comparisons use: a prepared split drops each
    attribute's small groups for that attribute only (``filter_groups_per_attribute``)."""
    rows = None if split is None else split.attribute_rows(name)
    if rows is None:
        return arrays
    return tuple(_take(a, rows) for a in arrays)


def _take(values: Any, rows: NDArray[np.int64]) -> Any:
    from .data.split import GroupIndex

    if values is None:
        return None
    if isinstance(values, GroupIndex):
        return values.take(rows)
    return np.asarray(values)[rows]


def _gather(
    models: Mapping[str, Any],
    split: DemographicSplit | None,
    arrays: Mapping[str, Any],
    attribute: str | None,
    task: Any = None,
) -> _Inputs:
    """Resolve models/predictions or the array keywords into aligned inputs."""
    given = {k: v for k, v in arrays.items() if v is not None}
    if any(v is not None for v in models.values()) and given.keys() - {
        "sensitive_features",
        "y_true",
    }:
        raise InputError(MSG_MIXED)
    if all(v is None for v in models.values()):
        wanted = ["y_true", *[f"{k}_pred" for k in models], "sensitive_features"]
        missing = [k for k in wanted if given.get(k) is None]
        if missing and not (split is not None and set(missing) <= {"y_true", "sensitive_features"}):
            raise InputError(
                MSG_ARRAYS.format(preds=", ".join(f"{k}_pred=" for k in models), missing=missing)
            )
        y_true = given.get("y_true", split.labels if split is not None else None)
        return _Inputs(
            y_true=y_true,
            preds=tuple(given[f"{k}_pred"] for k in models),
            features=_attributes(split, given.get("sensitive_features"), attribute),
            methods=tuple(_ARRAY_NAMES[k] for k in models),
        )
    preds = tuple(_predictions(v, split, k, task) for k, v in models.items())
    if split is None:
        y_true, features = given.get("y_true"), given.get("sensitive_features")
        if y_true is None or features is None:
            raise InputError(MSG_NO_SPLIT.format(name=next(iter(models))))
    else:
        y_true, features = split.labels, given.get("sensitive_features")
    return _Inputs(
        y_true=y_true,
        preds=tuple(p.pred for p in preds),
        features=_attributes(split, features, attribute),
        methods=tuple(p.method for p in preds),
        kind=preds[0].kind,
        scores=tuple(p.scores for p in preds),
        predictions=preds,
    )


# --------------------------------------------------------------------------- verdicts


def _correct_across(
    comparisons: list[Comparison], alpha: float, correction: str
) -> list[Comparison]:
    """Several attributes are one family: a failure must survive the correction across them."""
    if len(comparisons) < 2:
        return comparisons
    from .stats import adjust

    adjusted = adjust([c.p_value for c in comparisons], correction)
    out = []
    for c, p in zip(comparisons, adjusted, strict=True):
        if c.verdict == "fail" and not p <= alpha:
            reason = (
                f"not significant after {correction} across {len(comparisons)} attributes "
                f"(adjusted p = {p:.4f})"
            )
            c = c.downgraded(reason)
        out.append(c)
    return out


def _decide(
    gate: str,
    comparisons: list[Comparison],
    methods: Sequence[str],
    explain: Callable[[Comparison], Explanation | None] | None = None,
) -> None:
    """Record the comparisons, then raise, skip/xfail, warn or return per the verdicts.

    ``explain`` computes, once per comparison, what its record holds beyond the verdict and
    the lines a failed comparison's text ends with (the diagnosis and attribution of two
    models)."""
    __tracebackhide__ = True
    ctx = active_context()
    explained = [explain(c) if explain is not None else None for c in comparisons]
    if ctx.record is not None:
        for c, explanation in zip(comparisons, explained, strict=True):
            ctx.record(gate, c, explanation)
    method = methods[-1] if methods else "compressed"
    failing = [
        (c, e)
        for c, e in zip(comparisons, explained, strict=True)
        if c.verdict in ("fail", "error")
    ]
    undecided = [c for c in comparisons if c.verdict in ("inconclusive", "insufficient_data")]
    if failing:
        texts = []
        for c, explanation in failing:
            lines = explanation.lines if explanation is not None and c.verdict == "fail" else ()
            texts.append("\n".join([render(c, method=method), *lines]))
        raise FairnessAssertionError(comparisons, "\n\n".join(texts))
    if not undecided:
        return
    text = "\n\n".join(render(c, method=method) for c in undecided)
    mode = ctx.settings.inconclusive
    if mode == "fail":
        raise FairnessAssertionError(comparisons, text)
    if mode == "pass-with-warning":
        warnings.warn(InconclusiveWarning(text), stacklevel=3)
        return
    if ctx.outcome is None:
        raise FairnessAssertionError(comparisons, text)
    ctx.outcome(mode, text)


def _single_or_all(comparisons: list[Comparison]) -> Comparison | tuple[Comparison, ...]:
    return comparisons[0] if len(comparisons) == 1 else tuple(comparisons)


def _opt(value: Any, default: Any) -> Any:
    return default if value is None else value


def _spec(settings: Settings, extra: dict[str, Any], **given: Any) -> GateSpec:
    """The gate specification of one call: the settings (marker > CLI > ini > default), then
    the call's keywords (``None``: the setting), validated by the library's one check per
    setting. Spec settings among ``extra`` (``compare``'s keywords such as ``n_permutations``,
    ``interval``, ``max_utility_drop``) are taken out of it; there an explicit ``None`` counts
    (``max_utility_drop=None`` turns the guard off)."""
    from .stats.spec import CHECKS

    spec = settings.gate_spec(**given)
    explicit = {name: extra.pop(name) for name in list(extra) if name in CHECKS}
    return spec.replace(**explicit) if explicit else spec


# --------------------------------------------------------------------------- gates


def assert_no_bias_amplification(
    base: Any = None,
    compressed: Any = None,
    split: DemographicSplit | None = None,
    *,
    attribute: str | None = None,
    gap: str | None = None,
    metric: str | None = None,
    tolerance: float | None = None,
    alpha: float | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
    min_group_size: int | None = None,
    min_positives: int | None = None,
    correction: str | None = None,
    y_true: Any = None,
    base_pred: Any = None,
    compressed_pred: Any = None,
    sensitive_features: Any = None,
    sample_weight: Any = None,
    k: int | None = None,
    task: Any = None,
    skew_reference: str | None = None,
    **compare_options: Any,
) -> Comparison | tuple[Comparison, ...]:
    """Fail when ``compressed`` widens the gap beyond ``tolerance`` relative to ``base``.

    ``base``/``compressed`` are models (evaluated on ``split``), :class:`Predictions`, or omitted
    in favour of ``y_true=``, ``base_pred=``, ``compressed_pred=``, ``sensitive_features=``.
    ``attribute=None`` tests every attribute of the split (the configured correction across
    them). ``max_skew``/``min_skew`` need retrieval Predictions (or models) and compare the
    per-query skew@``k`` (default ``min(100, items)``; against the dataset prior, or equal shares
    with ``skew_reference="equal"``) with a paired t-test over queries, and fail when the
    compressed model's top k keeps too little of the dense one's (overlap@k, the utility guard).
    ``max_utility_drop`` (default: the setting, 0.05; None turns it off) bounds the drop of
    accuracy, or of the overlap for retrieval, that any group may suffer. ``None`` options
    take the plugin's settings (marker > CLI > ini), else the library defaults. ``task`` is how
    models are evaluated (``ClassificationTask`` by default; an ``EmbeddingTask``,
    ``ZeroShotTask`` or ``RetrievalTask`` for the other workloads). Returns the Comparison (a
    tuple of them for several attributes) when the gate passes.
    """
    __tracebackhide__ = True
    s = active_context().settings
    attribute = _opt(attribute, s.attribute)
    inputs = _gather(
        {"base": base, "compressed": compressed},
        split,
        {
            "y_true": y_true,
            "base_pred": base_pred,
            "compressed_pred": compressed_pred,
            "sensitive_features": sensitive_features,
        },
        attribute,
        task,
    )
    spec = _spec(
        s,
        compare_options,
        gap=gap,
        metric=metric,
        tolerance=tolerance,
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
        min_group_size=min_group_size,
        min_positives=min_positives,
        correction=correction,
    )
    gap = spec.gap
    if split is not None and split.weights is not None and sample_weight is None:
        sample_weight = split.weights
    comparisons: list[Comparison] = []
    if gap in _RETRIEVAL_GAPS:
        reference = _opt(skew_reference, s.skew_reference)
        comparisons = [
            _compare_retrieval(inputs, name, feature, spec, reference, k)
            for name, feature in inputs.features.items()
        ]
    else:
        from .stats import compare

        for name, feature in inputs.features.items():
            y, base_pred, compressed_pred, feature, weight = _kept(
                split, name, inputs.y_true, *inputs.preds, feature, sample_weight
            )
            comparisons.append(
                compare(
                    y,
                    base_pred,
                    compressed_pred,
                    sensitive_features=feature,
                    sample_weight=weight,
                    attribute=name,
                    **spec.to_dict(),
                    **compare_options,
                )
            )
    comparisons = _correct_across(comparisons, spec.alpha, spec.correction)

    dense = inputs.predictions[0] if inputs.predictions else None
    explain = _Explainer(base, compressed, split, dense, task, s, spec, compare_options)
    _decide("assert_no_bias_amplification", comparisons, inputs.methods, explain)
    return _single_or_all(comparisons)


@dataclass
class _Explainer:
    """The diagnosis and the attribution of one gate call's comparisons, as the settings ask:
    ``fairquant_diagnose`` (failing, all, off) and ``fairquant_diagnose_hessian`` for
    :func:`~.diagnostics.diagnose` on at most :data:`DIAGNOSE_SAMPLES` samples,
    ``fairquant_attribution`` for :func:`~.attribution.attribute_harm` on a failing variant of
    a compression method, with the gate's own statistics. Both run on the rows the comparison
    used, and only on two torch models; what cannot run says why in the record's notes (and,
    for a failing comparison, in its message). They explain a verdict, they never change one."""

    base: Any
    compressed: Any
    split: DemographicSplit | None
    dense: Predictions | None
    task: Any
    settings: Settings
    spec: GateSpec
    options: Mapping[str, Any]

    def __call__(self, c: Comparison) -> Explanation | None:
        s = self.settings
        wanted_diagnosis = s.diagnose == "all" or (s.diagnose == "failing" and c.verdict == "fail")
        wanted_attribution = s.attribution and c.verdict == "fail"
        if not (wanted_diagnosis or wanted_attribution) or not isinstance(c.attribute, str):
            return None
        if not self._models():
            notes = []
            if wanted_diagnosis:
                notes.append(NOTE_NO_MODELS.format(what="diagnosis", call="diagnose()"))
            if wanted_attribution:
                notes.append(NOTE_NO_MODELS.format(what="attribution", call="attribute_harm()"))
            return Explanation(notes=tuple(notes))
        part, dense = self._part(c.attribute)
        diagnosis = attribution = None
        notes, lines = [], []
        if wanted_diagnosis:
            diagnosis, line = self._diagnose(part, c.attribute, dense)
            if diagnosis is None:
                notes.append(line)
            lines.append(line)
        if wanted_attribution:
            attribution, line = self._attribute(part, c.attribute, dense)
            if attribution is None:
                notes.append(line)
            lines.append(line)
        return Explanation(diagnosis, attribution, tuple(notes), tuple(lines))

    def _models(self) -> bool:
        torch = sys.modules.get("torch")  # models are torch modules only if torch is loaded
        return (
            torch is not None
            and self.split is not None
            and self.dense is not None
            and isinstance(self.base, torch.nn.Module)
            and isinstance(self.compressed, torch.nn.Module)
        )

    def _part(self, attribute: str) -> tuple[DemographicSplit, Predictions]:
        """The rows the attribute's comparison used, and the dense model's predictions (the
        gate's own) on them."""
        assert self.split is not None and self.dense is not None
        dense = self.dense
        rows = self.split.attribute_rows(attribute)
        if rows is None:
            return self.split, dense
        part = self.split.subset(rows)
        return part, dataclasses.replace(
            dense,
            scores=dense.scores[rows],
            pred=None if dense.pred is None else dense.pred[rows],
            probs=None if dense.probs is None else dense.probs[rows],
            split_fingerprint=part.fingerprint,
        )

    def _diagnose(
        self, part: DemographicSplit, attribute: str, dense: Predictions
    ) -> tuple[dict[str, Any] | None, str]:
        from .diagnostics import diagnose

        try:
            found = diagnose(
                self.base,
                self.compressed,
                part,
                attribute=attribute,
                task=self.task,
                hessian=self.settings.diagnose_hessian,
                max_samples=DIAGNOSE_SAMPLES,
                hessian_samples=HESSIAN_SAMPLES,
                seed=self.spec.seed,
                device=self.settings.device,
                batch_size=self.settings.batch_size,
                dense_predictions=dense,
            )
        except Exception as err:  # a model diagnose cannot take: say so, keep the verdict
            return None, _not_available("diagnosis", attribute, err)
        return found.to_dict(), found.summary_line()

    def _attribute(
        self, part: DemographicSplit, attribute: str, dense: Predictions
    ) -> tuple[dict[str, Any] | None, str]:
        method, why = _compression_method(self.compressed)
        if method is None:
            return None, why
        from .attribution import attribute_harm

        try:
            found = attribute_harm(
                self.base,
                method,
                part,
                attribute=attribute,
                task=self.task,
                device=self.settings.device,
                batch_size=self.settings.batch_size,
                dense_predictions=dense,
                progress=active_context().progress,
                **self.spec.to_dict(),
                **self.options,
            )
        except Exception as err:  # a model or method attribution cannot take
            return None, _not_available("attribution", attribute, err)
        return found.to_dict(), found.hint()


def _not_available(what: str, attribute: str, err: Exception) -> str:
    error = f"{type(err).__name__}: {str(err)[:200]}"
    return NOTE_NOT_AVAILABLE.format(what=what, attribute=attribute, error=error)


def _compression_method(variant: Any) -> tuple[str | None, str]:
    """The method id that made ``variant`` by :func:`~.compression.compress` alone (no
    calibration or fine-tuning on data), or None and why not."""
    from .compression.core import CompressionInfo

    info = getattr(variant, "fairquant_info", None)
    if not isinstance(info, CompressionInfo):
        why = "a candidate" if info is not None else f"a {type(variant).__name__} without one"
        return None, NOTE_NOT_COMPRESSED.format(why=why)
    for key, what in (("calibration", "calibrated"), ("finetune", "fine-tuned")):
        if key in info.details:
            return None, NOTE_REPLAYED.format(what=what)
    return info.method_id, ""


def _compare_retrieval(
    inputs: _Inputs,
    attribute: str,
    feature: Any,
    spec: GateSpec,
    reference: str,
    k: int | None,
) -> Comparison:
    """MaxSkew/MinSkew@k per query for both models, compared by a paired t-test over queries,
    with the overlap of the two top-k lists per query as the utility guard (a ranking that went
    flat can shrink every skew)."""
    from .metrics import skew_details
    from .metrics.ranking import top_k_overlap
    from .stats import compare_units

    gap = spec.gap
    if inputs.kind != "retrieval":
        kind = f"kind {inputs.kind!r}" if inputs.kind else "label arrays"
        raise InputError(MSG_RETRIEVAL_ONLY.format(gap=gap, kind=kind))
    by_query = [np.asarray(s).T for s in inputs.scores]  # Predictions hold (items, queries)
    top = k or min(100, by_query[0].shape[1])
    per_query = []
    for scores in by_query:
        details = skew_details(
            scores,
            sensitive_features=feature,
            k=top,
            reference=cast(Literal["prior", "equal"], reference),  # skew_details checks it
        )
        per_query.append(details.per_query_max if gap == "max_skew" else details.per_query_min)
    return compare_units(
        per_query[0],
        per_query[1],
        tolerance=spec.tolerance,
        alpha=spec.alpha,
        gap=gap,
        attribute=attribute,
        utility=top_k_overlap(by_query[0], by_query[1], k=top),
        max_utility_drop=spec.max_utility_drop,
        utility_metric=f"overlap@{top}",
    )


def assert_fvo_below(
    model: Any = None,
    split: DemographicSplit | None = None,
    *,
    threshold: float,
    attribute: str | None = None,
    gap: str = "fvo",
    alpha: float | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
    min_group_size: int | None = None,
    y_true: Any = None,
    y_pred: Any = None,
    sensitive_features: Any = None,
    sample_weight: Any = None,
    task: Any = None,
    **assess_options: Any,
) -> Comparison | tuple[Comparison, ...]:
    """Fail when one model's gap (FVO by default) is significantly above ``threshold``.

    ``model`` is a model (evaluated on ``split``), :class:`Predictions`, or omitted in favour
    of ``y_true=``, ``y_pred=``, ``sensitive_features=``. ``task`` is how a model is evaluated
    (classification by default).
    """
    __tracebackhide__ = True
    from .stats import assess_gap

    s = active_context().settings
    attribute = _opt(attribute, s.attribute)
    inputs = _gather(
        {"y": model},
        split,
        {"y_true": y_true, "y_pred": y_pred, "sensitive_features": sensitive_features},
        attribute,
        task,
    )
    if split is not None and split.weights is not None and sample_weight is None:
        sample_weight = split.weights
    spec = _spec(
        s,
        assess_options,
        gap=gap,
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
        min_group_size=min_group_size,
    )
    comparisons = [
        assess_gap(
            y,
            pred,
            sensitive_features=feature,
            gap=spec.gap,
            threshold=threshold,
            alpha=spec.alpha,
            n_boot=spec.n_boot,
            seed=spec.seed,
            min_group_size=spec.min_group_size,
            min_positives=spec.min_positives,
            interval=spec.interval,
            sample_weight=weight,
            attribute=name,
            **assess_options,
        )
        for name, (y, pred, feature, weight) in (
            (name, _kept(split, name, inputs.y_true, inputs.preds[0], feature, sample_weight))
            for name, feature in inputs.features.items()
        )
    ]
    comparisons = _correct_across(comparisons, spec.alpha, spec.correction)
    _decide("assert_fvo_below", comparisons, inputs.methods)
    return _single_or_all(comparisons)


def group_report(
    model_or_predictions: Any,
    split: DemographicSplit,
    *,
    attribute: str | None = None,
    metrics: Sequence[str] | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
    alpha: float | None = None,
    task: Any = None,
) -> GroupReport | dict[str, GroupReport]:
    """Per-group metrics of one model with bootstrap intervals (stratified by group).

    One report for one attribute (``attribute=`` or the split's only one), else a dict of
    reports by attribute. The report's ``metadata`` names the method and its compression info.
    """
    from .metrics import group_metrics
    from .stats import group_intervals

    s = active_context().settings
    preds = _predictions(model_or_predictions, split, "model_or_predictions", task)
    names = tuple(metrics) if metrics is not None else (s.metric,)
    meta: dict[str, Any] = {"method": preds.method}
    info = (preds.metadata or {}).get("compression")
    if info is not None:
        info = info.to_dict() if hasattr(info, "to_dict") else dict(info)
        # Only what identifies the variant: wall times and devices would churn snapshot files.
        meta["compression"] = {k: info[k] for k in _IDENTIFYING if k in info}
    reports = {}
    for name, feature in _attributes(split, None, _opt(attribute, s.attribute)).items():
        y, pred, probs, feature, weight = _kept(
            split, name, split.labels, preds.pred, preds.probs, feature, split.weights
        )
        report = group_metrics(
            y,
            pred,
            sensitive_features=feature,
            metrics=names,
            y_prob=probs,
            sample_weight=weight,
            attribute=name,
        )
        intervals = group_intervals(
            y,
            pred,
            sensitive_features=feature,
            metrics=names,
            n_boot=_opt(n_boot, s.n_boot),
            seed=_opt(seed, s.seed),
            alpha=_opt(alpha, s.alpha),
            sample_weight=weight,
        )
        metadata = {**report.metadata, **meta}
        reports[name] = dataclasses.replace(report, metadata=metadata).with_intervals(intervals)
    return next(iter(reports.values())) if len(reports) == 1 else reports
