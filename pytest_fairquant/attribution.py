"""Which part of the compression did it: per-layer attribution of a gap's change.

:func:`attribute_harm` compresses one layer at a time (the method with every other layer in its
``skip=`` list) and leaves one layer out at a time (that layer alone in ``skip=``), gates each
variant against the dense model with the same paired statistics as the gate
(:func:`pytest_fairquant.stats.compare`), and ranks the layers by their share of the harm.
A layer's contribution is the mean of what it does alone (``delta_alone``: the gap change of
compressing only it) and what leaving it out removes (``full delta − delta_without``); its share
is its positive contribution over the sum of the positive contributions. Then a greedy search
adds the layers to the skip list in rank order until the gate passes, drops any that the pass
does not need, and reports the compression that remains.

The dense model is evaluated once; each variant costs one compression and one evaluation.
A method that prunes to a global threshold (``global-magnitude-S``) applies its threshold to
the layers it compresses, so "one layer alone" prunes that layer to S by itself.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .data.split import DemographicSplit
from .errors import CompressionError, InputError
from .progress import Progress, StreamProgress, step

if TYPE_CHECKING:
    from torch import nn

    from .predictions import Predictions
    from .stats import Comparison

__all__ = [
    "MSG_BUDGET",
    "MSG_NO_LAYERS",
    "Attribution",
    "LayerAttribution",
    "add_attribute_arguments",
    "attribute_harm",
    "compressible_layers",
    "run_attribute",
]

MSG_BUDGET = "budget must be None or a positive int (the most layers to attribute); got {value!r}"
MSG_NO_LAYERS = "{method!r} compresses no layer of {cls}; there is nothing to attribute"
NOTE_BUDGET = (
    "budget={budget}: attributed the {budget} largest of {total} layers; the others were not "
    "evaluated (their share is unknown)"
)
NOTE_UNCHANGED = "{layer}: compressing it alone changed nothing ({error})"
NOTE_NO_PASS = (
    "no skip list of the attributed layers makes the gate pass (last verdict: {verdict}); "
    "the harm is not concentrated in a few layers, or the gate is inconclusive on this split"
)
NOTE_FULL_PASSES = "the fully compressed model already passes the gate: nothing to skip"


@dataclass(frozen=True)
class LayerAttribution:
    """One layer's part in the gap change (``delta`` = compressed gap − dense gap)."""

    layer: str
    parameters: int
    delta_alone: float
    verdict_alone: str
    p_alone: float | None
    delta_without: float
    verdict_without: str
    contribution: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "parameters": self.parameters,
            "delta_alone": _plain(self.delta_alone),
            "verdict_alone": self.verdict_alone,
            "p_alone": _plain(self.p_alone),
            "delta_without": _plain(self.delta_without),
            "verdict_without": self.verdict_without,
            "contribution": _plain(self.contribution),
            "share": _plain(self.share),
        }


@dataclass(frozen=True)
class Attribution:
    """What :func:`attribute_harm` found: the layers by share of harm and a skip list.

    ``skip`` is the smallest skip list found with which the gate passes (None when none did);
    ``skip_comparison`` its gate result; ``compressed_share``/``size_ratio`` what compression
    remains with it (the full variant's are ``full_compressed_share``/``full_size_ratio``).
    """

    method: str
    attribute: str | None
    gap: str
    tolerance: float
    full: Comparison
    layers: tuple[LayerAttribution, ...]
    skip: tuple[str, ...] | None
    skip_comparison: Comparison | None
    compressed_share: float | None
    size_ratio: float | None
    full_compressed_share: float
    full_size_ratio: float
    evaluations: int
    notes: tuple[str, ...] = ()
    search: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def top_layers(self) -> tuple[str, ...]:
        """The layers with a positive share, largest first."""
        return tuple(a.layer for a in self.layers if a.share > 0)

    def hint(self, count: int = 3) -> str:
        """One line for a failing gate's hint: the top layers and the skip list."""
        shown = ", ".join(f"{a.layer} ({a.share:.0%})" for a in self.layers[:count] if a.share > 0)
        text = f"attribution: most of the harm is in {shown or 'no single layer'}"
        if self.skip is not None and self.size_ratio is not None:
            text += (
                f"; skip={list(self.skip)} makes the gate pass, keeping "
                f"{self.compressed_share:.0%} of the weights compressed ({self.size_ratio:.2f}x smaller)"
            )
        elif self.skip is None:
            last = self.search[-1]["verdict"] if self.search else self.full.verdict
            text += f"; no skip list of these layers makes the gate pass (last verdict: {last})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "attribute": self.attribute,
            "gap": self.gap,
            "tolerance": self.tolerance,
            "full": self.full.to_dict(),
            "layers": [a.to_dict() for a in self.layers],
            "skip": None if self.skip is None else list(self.skip),
            "skip_comparison": None
            if self.skip_comparison is None
            else self.skip_comparison.to_dict(),
            "compressed_share": self.compressed_share,
            "size_ratio": self.size_ratio,
            "full_compressed_share": self.full_compressed_share,
            "full_size_ratio": self.full_size_ratio,
            "evaluations": self.evaluations,
            "notes": list(self.notes),
            "search": [dict(step) for step in self.search],
        }


def _plain(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def compressible_layers(model: nn.Module, method: str) -> list[tuple[str, int]]:
    """(module name, weight elements) of every layer ``method`` compresses, in model order."""
    from .compression._ops import weight_targets
    from .compression.registry import build_method

    kinds = getattr(build_method(method), "targets", None) or (
        "Linear",
        "Conv",
        "MultiheadAttention",
    )
    sizes: dict[str, int] = {}
    for display, module, attr in weight_targets(model, kinds):
        name = display if attr == "weight" else display.rsplit(".", 1)[0] if "." in display else ""
        sizes[name] = sizes.get(name, 0) + int(getattr(module, attr).numel())
    return [(name, size) for name, size in sizes.items() if name]


def _compressed_share(model: nn.Module, info: Any) -> float:
    """The share of ``model``'s parameter elements the variant stores compressed."""
    recorded = getattr(info, "compressed_share", None)
    if recorded is not None:
        return float(recorded)
    from .compression._ops import weight_targets

    sizes = {
        name: int(getattr(module, attr).numel())
        for name, module, attr in weight_targets(model, ("Linear", "Conv", "MultiheadAttention"))
    }
    total = sum(p.numel() for p in model.parameters())
    done = sum(sizes.get(name, 0) for name in set(info.converted))
    return min(1.0, done / total) if total else 0.0


class _Gate:
    """The dense predictions once, and the same paired comparison for every variant."""

    def __init__(
        self,
        dense: nn.Module,
        method: str,
        split: DemographicSplit,
        attribute: str | None,
        gap: str,
        tolerance: float,
        options: Mapping[str, Any],
        predict_options: Mapping[str, Any],
        dense_predictions: Predictions | None,
        progress: Progress | None = None,
    ) -> None:
        from .evaluate import predict

        self.dense, self.method, self.split = dense, method, split
        self.progress = progress
        self.attribute = attribute or split.attribute_names[0]
        self.gap, self.tolerance, self.options = gap, tolerance, dict(options)
        self.predict_options = dict(predict_options)
        self.base = dense_predictions or predict(dense, split, method="dense", **predict_options)
        self.evaluations = 0
        #: The compression metadata of every variant tried, by its skip list.
        self.infos: dict[tuple[str, ...], Any] = {}

    def variant(self, skip: Sequence[str]) -> nn.Module:
        from .compression import compress

        # Each trial leaves layers in float on purpose: its low-share warning is no news (the
        # table reports the share that the skip list keeps compressed).
        compression_log = logging.getLogger("pytest_fairquant.compression")
        level = compression_log.level
        compression_log.setLevel(logging.ERROR)
        try:
            params: dict[str, Any] = {"skip": list(skip)} if skip else {}
            return compress(self.dense, self.method, **params)
        finally:
            compression_log.setLevel(level)

    def trial(self, skip: Sequence[str], what: str) -> Comparison:
        """The gate on the method with ``skip`` left in float, as one progress line (``what``
        names the trial); a CompressionError (the variant changed nothing) propagates."""
        from .compression import compression_info

        with step(self.progress, f"attributing {self.method} on {self.attribute}: {what}") as done:
            model = self.variant(skip)
            self.infos[tuple(skip)] = compression_info(model)
            result = self.compare(model)
            done.result = f"{result.gap} Δ {_signed(result.delta)}, {result.verdict}"
        return result

    def compare(self, model: nn.Module) -> Comparison:
        from .evaluate import predict
        from .stats import compare

        self.evaluations += 1
        pred = predict(model, self.split, method=self.method, **self.predict_options)
        assert self.base.pred is not None and pred.pred is not None
        return compare(
            self.split.labels,
            self.base.pred,
            pred.pred,
            sensitive_features=self.split.sensitive_features(self.attribute),
            sample_weight=self.split.weights,
            attribute=self.attribute,
            gap=self.gap,
            tolerance=self.tolerance,
            **self.options,
        )


def _delta(c: Comparison) -> float:
    return math.nan if c.delta is None else float(c.delta)


def attribute_harm(
    dense: nn.Module,
    method: str,
    split: DemographicSplit,
    *,
    attribute: str | None = None,
    gap: str = "fvo",
    tolerance: float = 0.02,
    budget: int | None = None,
    task: Any = None,
    device: Any = "auto",
    batch_size: int = 64,
    cache: Any = None,
    dense_predictions: Predictions | None = None,
    progress: Progress | None = None,
    **gate_options: Any,
) -> Attribution:
    """Rank ``dense``'s layers by their share of the harm ``method`` does (see the module doc).

    ``gap``, ``tolerance`` and ``gate_options`` (``alpha``, ``n_boot``, ``seed``,
    ``min_group_size``, ``max_utility_drop``... as for :func:`~pytest_fairquant.stats.compare`)
    decide every verdict. ``budget`` caps the layers attributed (the largest first; each costs
    two evaluations); ``dense_predictions`` (e.g. from the prediction cache) saves the dense
    evaluation. ``progress`` (a :class:`~.progress.Progress`) gets one line per trial with its
    elapsed time and verdict.
    """
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int) or budget < 1
    ):
        raise InputError(MSG_BUDGET.format(value=budget))
    layers = compressible_layers(dense, method)
    if not layers:
        raise CompressionError(MSG_NO_LAYERS.format(method=method, cls=type(dense).__name__))
    predict_options = {
        "task": task,
        "device": device,
        "batch_size": batch_size,
        "cache": cache,
        "progress": False,
        "noise_check": 0,
    }
    gate = _Gate(
        dense,
        method,
        split,
        attribute,
        gap,
        tolerance,
        gate_options,
        predict_options,
        dense_predictions,
        progress,
    )
    full = gate.trial((), "every layer")
    full_info = gate.infos[()]
    notes: list[str] = []
    chosen = layers
    if budget is not None and budget < len(layers):
        keep = {name for name, _ in sorted(layers, key=lambda item: -item[1])[:budget]}
        chosen = [item for item in layers if item[0] in keep]
        notes.append(NOTE_BUDGET.format(budget=budget, total=len(layers)))
    names = [name for name, _ in layers]
    full_delta = _delta(full)
    rows: list[dict[str, Any]] = []
    for index, (name, size) in enumerate(chosen, 1):
        others = [n for n in names if n != name]
        verdict_alone: str
        verdict_without: str
        counted = f"({index}/{len(chosen)})"
        try:
            alone = gate.trial(others, f"{name} alone {counted}") if others else full
            delta_alone, verdict_alone, p_alone = _delta(alone), alone.verdict, alone.p_value
        except CompressionError as err:  # an UnchangedVariant: the method leaves it as it is
            notes.append(NOTE_UNCHANGED.format(layer=name, error=err))
            delta_alone, verdict_alone, p_alone = 0.0, "unchanged", None
        if others:
            without = gate.trial([name], f"all but {name} {counted}")
            delta_without, verdict_without = _delta(without), without.verdict
        else:
            delta_without, verdict_without = 0.0, "unchanged"
        contribution = 0.5 * (delta_alone + (full_delta - delta_without))
        rows.append(
            {
                "layer": name,
                "parameters": size,
                "delta_alone": delta_alone,
                "verdict_alone": verdict_alone,
                "p_alone": p_alone,
                "delta_without": delta_without,
                "verdict_without": verdict_without,
                "contribution": contribution,
            }
        )
    positive = sum(max(r["contribution"], 0.0) for r in rows if not math.isnan(r["contribution"]))
    ranked = sorted(
        rows,
        key=lambda r: -(r["contribution"] if not math.isnan(r["contribution"]) else -math.inf),
    )
    attributions = tuple(
        LayerAttribution(
            **r,
            share=max(r["contribution"], 0.0) / positive
            if positive > 0 and not math.isnan(r["contribution"])
            else 0.0,
        )
        for r in ranked
    )

    skip, skip_comparison, search = _greedy_skip(gate, full, attributions, notes)
    share = ratio = None
    if skip is not None:
        if skip:
            info = gate.infos[tuple(skip)]
            share, ratio = _compressed_share(dense, info), info.size_ratio
        else:
            share, ratio = _compressed_share(dense, full_info), full_info.size_ratio
    return Attribution(
        method=method,
        attribute=gate.attribute,
        gap=full.gap,
        tolerance=full.tolerance,
        full=full,
        layers=attributions,
        skip=skip,
        skip_comparison=skip_comparison,
        compressed_share=share,
        size_ratio=ratio,
        full_compressed_share=_compressed_share(dense, full_info),
        full_size_ratio=full_info.size_ratio,
        evaluations=gate.evaluations + 1,
        notes=tuple(notes),
        search=tuple(search),
    )


def _greedy_skip(
    gate: _Gate, full: Comparison, ranked: Sequence[LayerAttribution], notes: list[str]
) -> tuple[tuple[str, ...] | None, Comparison | None, list[dict[str, Any]]]:
    """Add layers in rank order until the gate passes, then drop those the pass does not need."""
    if full.passed:
        notes.append(NOTE_FULL_PASSES)
        return (), full, []
    search: list[dict[str, Any]] = []

    def gated(skip: list[str]) -> Comparison | None:
        try:
            result = gate.trial(skip, f"skip={skip}")
        except CompressionError:  # every layer skipped: the dense model again
            return None
        search.append(
            {"skip": list(skip), "verdict": result.verdict, "delta": _plain(result.delta)}
        )
        return result

    skip: list[str] = []
    passing: Comparison | None = None
    last = full.verdict
    for layer in (a.layer for a in ranked):
        skip.append(layer)
        result = gated(skip)
        if result is None:
            break
        last = result.verdict
        if result.passed:
            passing = result
            break
    if passing is None:
        notes.append(NOTE_NO_PASS.format(verdict=last))
        return None, None, search
    for layer in list(skip[:-1]):  # backward elimination: is each earlier layer needed?
        trial = [s for s in skip if s != layer]
        result = gated(trial)
        if result is not None and result.passed:
            skip, passing = trial, result
    return tuple(skip), passing, search


# ----------------------------------------------------------------------------- command line


def add_attribute_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``fairquant attribute`` beyond the model, data and gate settings."""
    parser.add_argument("--method", required=True, metavar="ID", help="the method to attribute")
    parser.add_argument(
        "--budget", type=int, default=None, help="most layers to attribute (the largest first)"
    )


def run_attribute(
    args: argparse.Namespace,
    model: nn.Module,
    split: DemographicSplit,
    *,
    device: Any,
    gate: Mapping[str, Any],
) -> tuple[str, dict[str, Any], bool]:
    """``fairquant attribute``: its table, its JSON, and whether a skip list was found."""
    result = attribute_harm(
        model,
        args.method,
        split,
        attribute=args.attribute,
        budget=args.budget,
        device=device,
        progress=StreamProgress(),
        **gate,
    )
    return format_attribution(result), result.to_dict(), result.skip is not None


def _signed(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:+.4f}"


def format_attribution(result: Attribution) -> str:
    """The attribution as a terminal table."""
    lines = [
        f"{result.method} on {result.attribute}: {result.gap} Δ = {_signed(result.full.delta)} "
        f"({result.full.verdict}, tolerance {result.tolerance})",
        f"{'layer':<32} {'share':>6} {'Δ alone':>9} {'Δ without':>10}",
    ]
    for a in result.layers:
        lines.append(
            f"{a.layer:<32} {a.share:>6.0%} {a.delta_alone:>+9.4f} {a.delta_without:>+10.4f}"
        )
    for tried in result.search:
        lines.append(
            f"tried skip={tried['skip']}: {tried['verdict']}, Δ = {_signed(tried['delta'])}"
        )
    lines.append(result.hint())
    lines.extend(f"note: {n}" for n in result.notes)
    lines.append(f"{result.evaluations} evaluations")
    return "\n".join(lines)
