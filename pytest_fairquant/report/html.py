"""The HTML report: one self-contained page rendered from the session report's JSON.

:func:`render` reads the dict that :func:`pytest_fairquant.report.build_report` makes (or the
JSON file it wrote) and returns a page with no external fetches: inline CSS, and plots as inline
SVG drawn by matplotlib when it is installed (the ``plots`` extra), else tables and a note.
The same report gives a byte-identical page: no timestamps, matplotlib's SVG ids salted with a
constant and its ``Date`` metadata removed.

The plots follow the papers: group accuracy per compression method (paper 002, Fig. 1), overall
accuracy against FVO per method (paper 002, Fig. 12), each group's change with its interval,
retrieval skew per query set (paper 000), and the gap along a sweep of one method family
(bit width, sparsity) drawn as a line.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..errors import InputError
from . import gap_columns, utility_text

MSG_NOT_A_REPORT = (
    "not a fairquant report: expected a dict with a 'comparisons' list "
    "(the JSON that --fairquant-report or `fairquant sweep` writes), got {got}"
)
MSG_NO_MATPLOTLIB = (
    "Plots are not shown: matplotlib is not installed (pip install 'pytest-fairquant[plots]'). "
    "Every number is in the tables below."
)

#: Verdict → CSS class; the order is the order of the summary badges.
VERDICTS = ("fail", "error", "inconclusive", "insufficient_data", "pass")
#: Method families whose numeric parameter makes a sweep: id pattern → axis label.
SWEEPS: dict[str, tuple[str, str]] = {
    "uniform-int": (r"^uniform-int(\d+)$", "bits"),
    "global-magnitude": (r"^global-magnitude-([0-9.]+)$", "sparsity"),
    "l1-unstructured": (r"^l1-unstructured-([0-9.]+)$", "sparsity"),
    "ln-structured": (r"^ln-structured-([0-9.]+)$", "sparsity"),
    "kmeans": (r"^kmeans-(\d+)$", "clusters"),
}
_SKEW_GAPS = frozenset({"max_skew", "min_skew"})
#: Matplotlib salts its SVG ids with this so every render of one report is identical.
SVG_HASHSALT = "pytest-fairquant"


# --------------------------------------------------------------------------- reading the report


def number(value: Any) -> float:
    """A report number as a float: NaN for ``None``, undefined values and non-numbers."""
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping) and "value" in value:
        return number(value["value"])
    return math.nan


def undefined_reason(value: Any) -> str | None:
    """The reason a value is missing, when the JSON says (``{"reason": ..., "detail": ...}``)."""
    if isinstance(value, Mapping):
        return str(value.get("detail") or value.get("reason") or "") or None
    return None


def interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        lo, hi = number(value[0]), number(value[1])
        if not (math.isnan(lo) or math.isnan(hi)):
            return lo, hi
    return None


@dataclass(frozen=True)
class Row:
    """One comparison of the report, flattened for rendering."""

    nodeid: str
    gate: str
    method: str
    comparison: Mapping[str, Any]

    @property
    def attribute(self) -> str:
        return str(self.comparison.get("attribute") or "-")

    @property
    def gap(self) -> str:
        return str(self.comparison.get("gap") or "-")

    @property
    def metric(self) -> str:
        return str(self.comparison.get("metric") or "accuracy")

    @property
    def verdict(self) -> str:
        return str(self.comparison.get("verdict") or "error")

    @property
    def groups(self) -> list[Mapping[str, Any]]:
        groups = self.comparison.get("groups") or []
        return [g for g in groups if isinstance(g, Mapping)]

    @property
    def paired(self) -> bool:
        """Whether the groups hold dense and compressed values (``assert_fvo_below`` rows hold
        one model's values only)."""
        return any(
            not math.isnan(number(g.get("base"))) and not math.isnan(number(g.get("compressed")))
            for g in self.groups
        )

    def overall(self, which: str) -> float:
        """Overall ``metric`` of the dense (``base``) or compressed model: the stored value, or
        the n-weighted mean of the groups (exact for accuracy when the groups partition the
        data)."""
        stored = number(self.comparison.get(f"{which}_overall"))
        if not math.isnan(stored):
            return stored
        pairs = [(number(g.get("n")), number(g.get(which))) for g in self.groups]
        pairs = [(n, v) for n, v in pairs if n > 0 and not math.isnan(v)]
        total = sum(n for n, _ in pairs)
        return sum(n * v for n, v in pairs) / total if total else math.nan


def rows_of(report: Mapping[str, Any]) -> list[Row]:
    """Every comparison in the report, in the report's (test) order."""
    records = report.get("comparisons") if isinstance(report, Mapping) else None
    if not isinstance(records, list):
        raise InputError(MSG_NOT_A_REPORT.format(got=_describe(report)))
    rows = []
    for record in records:
        if not isinstance(record, Mapping) or not isinstance(record.get("comparison"), Mapping):
            raise InputError(MSG_NOT_A_REPORT.format(got=f"a comparison entry {record!r:.80}"))
        rows.append(
            Row(
                nodeid=str(record.get("nodeid") or "-"),
                gate=str(record.get("gate") or "-"),
                method=str(record.get("method") or "dense"),
                comparison=record["comparison"],
            )
        )
    return rows


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))[:8]}"
    return type(value).__name__


def sweep_parameter(method: str) -> tuple[str, str, float] | None:
    """``(family, axis label, value)`` when ``method`` belongs to a sweepable family."""
    for family, (pattern, axis) in SWEEPS.items():
        match = re.match(pattern, method)
        if match:
            return family, axis, float(match.group(1))
    return None


# --------------------------------------------------------------------------- formatting


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, signed: bool = False) -> str:
    x = number(value)
    if math.isnan(x):
        reason = undefined_reason(value)
        return f'<span class="na" title="{_e(reason)}">n/a</span>' if reason else "n/a"
    x = round(x, 4) + 0.0  # no "-0.0000" for a rounding-level negative
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _fmt_p(value: Any) -> str:
    x = number(value)
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def _fmt_interval(value: Any) -> str:
    iv = interval(value)
    return "n/a" if iv is None else f"[{_fmt(iv[0], True)}, {_fmt(iv[1], True)}]"


def _badge(verdict: str) -> str:
    css = verdict if verdict in VERDICTS else "error"
    return f'<span class="verdict {css}">{_e(verdict)}</span>'


def _table(head: Sequence[str], body: Iterable[Sequence[str]], css: str = "") -> str:
    """A table from already-escaped cells."""
    cls = f' class="{css}"' if css else ""
    ths = "".join(f"<th>{h}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
    return f"<table{cls}><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table>"


def _worst(comparison: Mapping[str, Any]) -> str:
    worst = comparison.get("worst_group")
    if isinstance(worst, Mapping):
        worst = worst.get("group")
    return "-" if worst is None else str(worst)


# --------------------------------------------------------------------------- sections


def _summary(report: Mapping[str, Any], rows: Sequence[Row]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    order = [v for v in VERDICTS if v in counts] + sorted(set(counts) - set(VERDICTS))
    badges = " ".join(f"{_badge(v)} × {counts[v]}" for v in order) or "no comparisons"
    methods = sorted({r.method for r in rows})
    attributes = sorted({r.attribute for r in rows})
    return (
        f'<p class="summary">{len(rows)} comparisons: {badges}</p>'
        f"<p>Methods: {_e(', '.join(methods) or '-')}. "
        f"Attributes: {_e(', '.join(attributes) or '-')}.</p>"
    )


def _verdict_table(rows: Sequence[Row]) -> str:
    head = [
        "verdict",
        "method",
        "attribute",
        "gate",
        "gap",
        "dense",
        "compressed",
        "Δ",
        "interval",
        "bound",
        "tolerance",
        "p",
        "utility",
        "worst group",
        "test",
    ]
    ordered = sorted(rows, key=lambda r: (r.method, r.attribute, r.gate, r.gap, r.nodeid))
    body = [
        [
            _badge(r.verdict),
            _e(r.method),
            _e(r.attribute),
            _e(r.gate.removeprefix("assert_")),
            _e(r.gap),
            *(_fmt(v) for v in gap_columns(r.method, r.comparison)),
            _fmt(r.comparison.get("delta"), True),
            _fmt_interval(r.comparison.get("interval")),
            _fmt(r.comparison.get("upper_bound"), r.comparison.get("delta") is not None),
            _fmt(r.comparison.get("tolerance", r.comparison.get("threshold"))),
            _fmt_p(r.comparison.get("p_value")),
            _e(utility_text(r.comparison)),
            _e(_worst(r.comparison)),
            f"<code>{_e(r.nodeid.rsplit('::', 1)[-1])}</code>",
        ]
        for r in ordered
    ]
    return f'<div class="scroll">{_table(head, body, "verdicts")}</div>'


def _group_tables(rows: Sequence[Row]) -> str:
    parts = []
    for r in rows:
        c = r.comparison
        alpha = number(c.get("alpha"))
        level = f"{1 - alpha:.0%} interval" if not math.isnan(alpha) else "interval"
        body = [
            [
                _e(g.get("group")),
                _e(g.get("n", "-")),
                _fmt(g.get("base")),
                _fmt(g.get("compressed")),
                _fmt(g.get("delta"), True),
                _fmt_interval(g.get("interval")),
                _fmt(g.get("p_value")),
            ]
            for g in r.groups
        ]
        reasons = c.get("reasons") or []
        notes = "".join(f"<li>{_e(x)}</li>" for x in reasons)
        stats = (
            f"{_e(r.metric)} per group; test {_e(c.get('test', '-'))}, correction "
            f"{_e(c.get('correction', '-'))}, alpha {_fmt(c.get('alpha'))}, "
            f"{_e(c.get('n_boot', '-'))} resamples, seed {_e(c.get('seed', '-'))}"
        )
        table = (
            _table(["group", "n", "dense", "compressed", "Δ", level, "p"], body, "groups")
            if body
            else "<p>No per-group values.</p>"
        )
        parts.append(
            f"<details{' open' if r.verdict != 'pass' else ''}><summary>{_badge(r.verdict)} "
            f"<b>{_e(r.method)}</b> · {_e(r.attribute)} · {_e(r.gap)} "
            f'<code>{_e(r.nodeid)}</code></summary>{table}<p class="stats">{stats}</p>'
            f"{f'<ul class=reasons>{notes}</ul>' if notes else ''}</details>"
        )
    return "\n".join(parts)


def _metadata(report: Mapping[str, Any]) -> str:
    versions = report.get("versions") or {}
    command = report.get("command") or []
    settings = report.get("settings") or {}
    methods = report.get("methods") or {}
    splits = report.get("splits") or {}
    device = settings.get("device", "-") if isinstance(settings, Mapping) else "-"
    meta = [
        ["schema", _e(report.get("schema", "-"))],
        ["seed", _e(report.get("seed", "-"))],
        ["device", _e(device)],
        ["command", f"<code>{_e(' '.join(map(str, command)) or '-')}</code>"],
    ]
    if isinstance(versions, Mapping):
        meta += [[_e(k), _e(v if v is not None else "not installed")] for k, v in versions.items()]
    out = [_table(["", ""], meta, "meta")]
    if isinstance(methods, Mapping) and methods:
        out.append("<h3>Compressed variants</h3>")
        out.append(
            _table(
                ["method", "details"],
                [[_e(m), _kv(info)] for m, info in methods.items()],
                "meta",
            )
        )
    if isinstance(splits, Mapping) and splits:
        out.append("<h3>Evaluation data</h3>")
        out.append(
            _table(["split", "summary"], [[_e(s), _kv(v)] for s, v in splits.items()], "meta")
        )
    return "\n".join(out)


def _kv(value: Any) -> str:
    if isinstance(value, Mapping):
        return "<br>".join(f"<b>{_e(k)}</b>: {_kv_leaf(v)}" for k, v in value.items())
    return _kv_leaf(value)


def _kv_leaf(value: Any) -> str:
    if isinstance(value, Mapping | list):
        return f"<code>{_e(json.dumps(value, sort_keys=True, default=str)[:400])}</code>"
    return _e(value)


# --------------------------------------------------------------------------- extra sections

#: Characters of a section's raw JSON shown under "raw data" before it is cut.
SECTION_JSON_LIMIT = 20_000


def _is_cell_table(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("cells"), list)


def _cell_table(table: Mapping[str, Any]) -> str:
    """A paper 000-style table: one row per method × attribute × metric cell."""
    head = [
        "method",
        "attribute",
        "metric",
        "units",
        "baseline",
        "compressed",
        "Δ",
        f"{number(table.get('confidence', 0.95)) * 100:g}% CI",
        "p",
        "p adjusted",
        "",
    ]
    body = []
    for c in table["cells"]:
        if not isinstance(c, Mapping):
            continue
        ci = c.get("ci") or [None, None]
        p_value = c.get("p_value")
        undefined = c.get("undefined")
        p_text = (
            _fmt_p(p_value)
            if p_value is not None or not isinstance(undefined, Mapping)
            else f"n/a ({_e(undefined.get('reason', 'undefined'))})"
        )
        mark = ("*" if c.get("significant") else "") + ("+" if c.get("survives_correction") else "")
        body.append(
            [
                _e(c.get("method", "-")),
                _e(c.get("attribute", "-")),
                _e(c.get("metric", "-")),
                _e(c.get("n_units", "-")),
                _fmt(c.get("mean_baseline")),
                _fmt(c.get("mean_compressed")),
                _fmt(c.get("mean_difference"), signed=True),
                _fmt_interval(ci),
                p_text,
                _fmt_p(c.get("p_adjusted")),
                _e(mark),
            ]
        )
    caption = " ".join(
        str(x)
        for x in (
            table.get("test"),
            f"correction: {table.get('correction_name', table.get('correction', '-'))}"
            if table.get("correction") is not None
            else None,
            f"* p < {table['alpha']:g} uncorrected, + survives the correction"
            if isinstance(table.get("alpha"), int | float)
            else None,
        )
        if x
    )
    title = f"<h4>{_e(table['title'])}</h4>" if table.get("title") else ""
    return f'{title}<p class="note">{_e(caption)}</p>{_table(head, body, "verdicts")}'


def _section(name: str, content: Any) -> str:
    parts = [f"<h3>{_e(name)}</h3>"]
    tables: list[Mapping[str, Any]] = []
    rest: Any = content
    if _is_cell_table(content):
        tables, rest = [content], None
    elif isinstance(content, Mapping):
        nested = content.get("tables")
        if isinstance(nested, Mapping) and all(_is_cell_table(t) for t in nested.values()):
            tables = list(nested.values())
            rest = {k: v for k, v in content.items() if k != "tables"} or None
    parts += [_cell_table(t) for t in tables]
    if rest is not None:
        text = json.dumps(rest, indent=1, sort_keys=True, default=str)
        cut = len(text) > SECTION_JSON_LIMIT
        shown = text[:SECTION_JSON_LIMIT] + (
            "\n… (cut; the JSON report has all of it)" if cut else ""
        )
        parts.append(f"<details><summary>raw data</summary><pre>{_e(shown)}</pre></details>")
    return "\n".join(parts)


def _sections(report: Mapping[str, Any]) -> str:
    sections = report.get("sections")
    if not isinstance(sections, Mapping) or not sections:
        return ""
    return '<h2 id="sections">More results</h2>\n' + "\n".join(
        _section(str(name), content) for name, content in sections.items()
    )


# --------------------------------------------------------------------------- plots


@dataclass(frozen=True)
class Plot:
    title: str
    svg: str
    caption: str


def _accuracy_rows(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Per attribute, one row per method whose per-group values are accuracies."""
    out: dict[str, list[Row]] = {}
    for r in rows:
        if r.metric != "accuracy" or r.gap in _SKEW_GAPS or not r.paired:
            continue
        seen = out.setdefault(r.attribute, [])
        if r.method not in {s.method for s in seen}:
            seen.append(r)
    return out


def plots(report: Mapping[str, Any]) -> list[Plot]:
    """Every plot the report's comparisons support (needs matplotlib)."""
    from matplotlib.figure import Figure  # noqa: F401 - fail early when matplotlib is missing

    rows = rows_of(report)
    out: list[Plot] = []
    for attribute, by_method in _accuracy_rows(rows).items():
        out.append(_group_accuracy_plot(attribute, by_method))
        out.append(_oa_fvo_plot(attribute, by_method))
    out.extend(_delta_plots(rows))
    out.extend(_skew_plots(rows))
    out.extend(_sweep_plots(rows))
    return out


def _svg(fig: Any) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig


def _group_names(by_method: Sequence[Row]) -> list[str]:
    names: list[str] = []
    for r in by_method:
        for g in r.groups:
            name = str(g.get("group"))
            if name not in names:
                names.append(name)
    return names


def _group_accuracy_plot(attribute: str, by_method: Sequence[Row]) -> Plot:
    """Paper 002 Fig. 1: accuracy of each group, dense first, then each method."""
    groups = _group_names(by_method)
    columns = ["dense", *[r.method for r in by_method]]
    values: list[list[float]] = []
    dense = {str(g.get("group")): number(g.get("base")) for g in by_method[0].groups}
    values.append([dense.get(name, math.nan) for name in groups])
    for r in by_method:
        by_name = {str(g.get("group")): number(g.get("compressed")) for g in r.groups}
        values.append([by_name.get(name, math.nan) for name in groups])
    fig = _figure(max(5.0, 0.9 * len(columns) + 2), 3.4)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(groups))
    for j, name in enumerate(groups):
        xs = [i + (j - (len(groups) - 1) / 2) * width for i in range(len(columns))]
        ax.bar(xs, [v[j] for v in values], width=width, label=name)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Group accuracy per method ({attribute})")
    ax.legend(title=attribute, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return Plot(
        f"Group accuracy per method — {attribute}",
        _svg(fig),
        "Accuracy of each group for the dense model and each compressed variant "
        "(as in paper 002, Fig. 1): a group whose bar falls further than the others is the "
        "group the compression hurts.",
    )


def _oa_fvo_plot(attribute: str, by_method: Sequence[Row]) -> Plot:
    """Paper 002 Fig. 12: overall accuracy against FVO, one point per model."""
    points: list[tuple[str, float, float]] = []
    first = by_method[0]
    points.append(("dense", _fvo(first, "base"), first.overall("base")))
    for r in by_method:
        points.append((r.method, _fvo(r, "compressed"), r.overall("compressed")))
    fig = _figure(5.2, 3.6)
    ax = fig.add_subplot()
    for name, fvo, oa in points:
        if math.isnan(fvo) or math.isnan(oa):
            continue
        marker = "*" if name == "dense" else "o"
        ax.scatter([fvo], [oa], s=80 if name == "dense" else 40, marker=marker)
        ax.annotate(name, (fvo, oa), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("FVO (max − min group accuracy; lower is fairer)")
    ax.set_ylabel("overall accuracy")
    ax.set_title(f"Overall accuracy vs FVO ({attribute})")
    ax.grid(alpha=0.3)
    return Plot(
        f"Overall accuracy vs FVO — {attribute}",
        _svg(fig),
        "Each model as a point (paper 002, Fig. 12): up and to the left is better (accurate "
        "and fair). Overall accuracy is the size-weighted mean of the groups shown.",
    )


def _fvo(row: Row, which: str) -> float:
    if row.gap == "fvo":
        stored = number(row.comparison.get(f"{which}_gap"))
        if not math.isnan(stored):
            return stored
    values = [number(g.get(which)) for g in row.groups]
    values = [v for v in values if not math.isnan(v)]
    return max(values) - min(values) if len(values) > 1 else math.nan


def _delta_plots(rows: Sequence[Row]) -> list[Plot]:
    """Per attribute × metric: each group's change under each method, with its interval."""
    keyed: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.gap in _SKEW_GAPS or not r.paired:
            continue
        seen = keyed.setdefault((r.attribute, r.metric), [])
        if r.method not in {s.method for s in seen}:
            seen.append(r)
    out = []
    for (attribute, metric), by_method in keyed.items():
        groups = _group_names(by_method)
        fig = _figure(6.0, max(2.4, 0.35 * len(groups) * len(by_method) + 1.2))
        ax = fig.add_subplot()
        step = 0.8 / max(1, len(by_method))
        for k, r in enumerate(by_method):
            by_name = {str(g.get("group")): g for g in r.groups}
            ys, xs, lo, hi = [], [], [], []
            for j, name in enumerate(groups):
                g = by_name.get(name)
                if g is None:
                    continue
                delta = number(g.get("delta"))
                iv = interval(g.get("interval")) or (delta, delta)
                if math.isnan(delta):
                    continue
                ys.append(j + (k - (len(by_method) - 1) / 2) * step)
                xs.append(delta)
                lo.append(max(0.0, delta - iv[0]))
                hi.append(max(0.0, iv[1] - delta))
            ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", capsize=3, label=r.method)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(groups)), groups)
        ax.invert_yaxis()
        ax.set_xlabel(f"Δ {metric} (compressed − dense)")
        ax.set_title(f"Per-group change with intervals ({attribute})")
        ax.legend(fontsize="small", loc="best")
        ax.grid(axis="x", alpha=0.3)
        out.append(
            Plot(
                f"Per-group Δ {metric} — {attribute}",
                _svg(fig),
                "Each group's change from the dense model, with its paired bootstrap interval; "
                "an interval entirely on the harmful side is evidence the group lost.",
            )
        )
    return out


def _skew_plots(rows: Sequence[Row]) -> list[Plot]:
    """Retrieval skew (MaxSkew/MinSkew@k) per query set: dense vs each method."""
    keyed: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.gap in _SKEW_GAPS:
            keyed.setdefault((r.attribute, r.gap), []).append(r)
    out = []
    for (attribute, gap), by_method in keyed.items():
        labels = ["dense", *[r.method for r in by_method]]
        values = [number(by_method[0].comparison.get("base_gap"))]
        values += [number(r.comparison.get("compressed_gap")) for r in by_method]
        fig = _figure(max(4.5, 0.8 * len(labels) + 2), 3.2)
        ax = fig.add_subplot()
        ax.bar(range(len(labels)), values, color=["#888888"] + ["#3b6fb6"] * len(by_method))
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylabel(f"{gap} (mean over queries)")
        ax.set_title(f"{gap} per method ({attribute})")
        ax.grid(axis="y", alpha=0.3)
        out.append(
            Plot(
                f"{gap} — {attribute}",
                _svg(fig),
                "Retrieval skew of the top-k per query, averaged over the query set (paper 000): "
                "0 is balanced; MaxSkew above 0 over-represents a group, MinSkew below 0 "
                "under-represents one.",
            )
        )
    return out


def _sweep_plots(rows: Sequence[Row]) -> list[Plot]:
    """The gap along a method family's parameter (bits, sparsity) when ≥2 members ran."""
    keyed: dict[tuple[str, str, str, str], dict[float, Row]] = {}
    for r in rows:
        parsed = sweep_parameter(r.method)
        if parsed is None:
            continue
        family, axis, value = parsed
        keyed.setdefault((family, axis, r.attribute, r.gap), {}).setdefault(value, r)
    out = []
    for (family, axis, attribute, gap), by_value in keyed.items():
        if len(by_value) < 2:
            continue
        xs = sorted(by_value)
        ys = [number(by_value[x].comparison.get("compressed_gap")) for x in xs]
        dense = number(by_value[xs[0]].comparison.get("base_gap"))
        ylabel = f"{gap} gap"
        if all(math.isnan(y) for y in ys):
            # Gaps without a per-model value (accuracy_drop): plot the change from dense.
            ys = [number(by_value[x].comparison.get("delta")) for x in xs]
            dense, ylabel = 0.0, f"{gap} (change from dense)"
        if all(math.isnan(y) for y in ys):
            continue
        fig = _figure(5.0, 3.2)
        ax = fig.add_subplot()
        ax.plot(xs, ys, marker="o", label=family)
        if not math.isnan(dense):
            ax.axhline(dense, color="#888888", linestyle="--", label="dense")
        ax.set_xlabel(axis)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{gap} along {family} ({attribute})")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
        out.append(
            Plot(
                f"Sweep: {family} — {attribute}, {gap}",
                _svg(fig),
                f"The {gap} gap of each {family} variant against its {axis}; the dashed line is "
                "the dense model.",
            )
        )
    return out


# --------------------------------------------------------------------------- the page


def _css() -> str:
    return resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")


def _plot_section(report: Mapping[str, Any]) -> str:
    try:
        drawn = plots(report)
    except ModuleNotFoundError as err:
        if err.name is None or not err.name.startswith("matplotlib"):
            raise
        return f'<p class="note">{_e(MSG_NO_MATPLOTLIB)}</p>'
    if not drawn:
        return "<p>No comparisons with per-group values to plot.</p>"
    return "\n".join(
        f"<figure><figcaption><b>{_e(p.title)}</b>. {_e(p.caption)}</figcaption>{p.svg}</figure>"
        for p in drawn
    )


def render(report: Mapping[str, Any]) -> str:
    """The HTML page of a session report (the dict ``build_report`` makes, or its JSON)."""
    rows = rows_of(report)
    title = "pytest-fairquant report"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f"<style>{_css()}</style></head><body>",
            f"<h1>{title}</h1>",
            _summary(report, rows),
            '<h2 id="verdicts">Verdicts</h2>',
            _verdict_table(rows) if rows else "<p>No comparisons were recorded.</p>",
            '<h2 id="plots">Plots</h2>',
            _plot_section(report),
            '<h2 id="groups">Per-group metrics</h2>',
            _group_tables(rows),
            _sections(report),
            '<h2 id="metadata">Run</h2>',
            _metadata(report),
            "</body></html>",
            "",
        ]
    )


__all__ = ["MSG_NOT_A_REPORT", "Plot", "plots", "render", "rows_of", "sweep_parameter"]
