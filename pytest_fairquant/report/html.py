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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from . import gap_columns, share_warning, utility_text, worst_change, worst_group
from .format import as_float, bounds, interval_of, mebibytes, p_value, percent, ratio
from .format import number as number_text
from .jsonreport import HTML_MARKER
from .model import MSG_NOT_A_REPORT, ComparisonRow, SessionReport, TestRecord

MSG_NO_MATPLOTLIB = (
    "Plots are not shown: matplotlib is not installed (pip install 'pytest-fairquant[plots]'). "
    "Every number is in the tables below."
)

#: Verdict → CSS class; the order is the order of the summary badges.
VERDICTS = ("fail", "error", "inconclusive", "insufficient_data", "pass")
#: Test outcome → CSS class of its badge (an outcome that fails the run reads as a fail).
OUTCOME_CSS = {
    "passed": "pass",
    "failed": "fail",
    "error": "error",
    "xpassed-strict": "fail",
    "skipped": "inconclusive",
    "xfailed": "inconclusive",
    "xpassed": "inconclusive",
}
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

Row = ComparisonRow
#: Method label → its plot colour (see :func:`method_colours`).
Colours = Mapping[str, str]


# --------------------------------------------------------------------------- reading the report


def undefined_reason(value: Any) -> str | None:
    """The reason a value is missing, when the JSON says (``{"reason": ..., "detail": ...}``)."""
    if isinstance(value, Mapping):
        return str(value.get("detail") or value.get("reason") or "") or None
    return None


def paired(row: Row) -> bool:
    """Whether the groups hold dense and compressed values (``assert_fvo_below`` rows hold one
    model's values only)."""
    return any(
        not math.isnan(as_float(g.get("base"))) and not math.isnan(as_float(g.get("compressed")))
        for g in row.groups
    )


def overall(row: Row, which: str) -> float:
    """Overall ``metric`` of the dense (``base``) or compressed model: the stored value, or the
    n-weighted mean of the groups (exact for accuracy when the groups partition the data)."""
    stored = as_float(row.comparison.get(f"{which}_overall"))
    if not math.isnan(stored):
        return stored
    pairs = [(as_float(g.get("n")), as_float(g.get(which))) for g in row.groups]
    pairs = [(n, v) for n, v in pairs if n > 0 and not math.isnan(v)]
    total = sum(n for n, _ in pairs)
    return sum(n * v for n, v in pairs) / total if total else math.nan


def rows_of(report: Mapping[str, Any] | SessionReport) -> list[Row]:
    """Every comparison in the report, in the report's (test) order (ReportFormatError, an
    InputError, when the report is malformed)."""
    return list(SessionReport.from_dict(report).comparisons)


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
    text = number_text(value, signed)
    reason = undefined_reason(value) if math.isnan(as_float(value)) else None
    return f'<span class="na" title="{_e(reason)}">{text}</span>' if reason else text


def _fmt_p(value: Any) -> str:
    return p_value(value)


def _fmt_interval(value: Any) -> str:
    return interval_of(value)


def _badge(verdict: str) -> str:
    css = verdict if verdict in VERDICTS else "error"
    return f'<span class="verdict {css}">{_e(verdict)}</span>'


def _table(head: Sequence[str], body: Iterable[Sequence[str]], css: str = "") -> str:
    """A table from already-escaped cells."""
    cls = f' class="{css}"' if css else ""
    ths = "".join(f"<th>{h}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
    return f"<table{cls}><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table>"


# --------------------------------------------------------------------------- sections


def _outcome_badge(outcome: str) -> str:
    return f'<span class="verdict {OUTCOME_CSS.get(outcome, "error")}">{_e(outcome)}</span>'


def _counted(counts: Mapping[str, int], order: Sequence[str], badge: Callable[[str], str]) -> str:
    shown = [v for v in order if v in counts] + sorted(set(counts) - set(order))
    return " ".join(f"{badge(v)} × {counts[v]}" for v in shown)


def _summary(report: SessionReport) -> str:
    rows = report.comparisons
    verdicts = _counted(report.summary, VERDICTS, _badge) or "no comparisons"
    tests = ""
    if report.tests:
        outcomes = _counted(report.outcomes, tuple(OUTCOME_CSS), _outcome_badge)
        tests = f'<p class="summary">{len(report.tests)} tests: {outcomes}</p>'
    methods = sorted({r.method_label for r in rows} | {t.method or "dense" for t in report.tests})
    attributes = sorted({r.attribute for r in rows})
    return (
        f'{tests}<p class="summary">{len(rows)} comparisons: {verdicts}</p>'
        f"<p>Methods: {_e(', '.join(methods) or '-')}. "
        f"Attributes: {_e(', '.join(attributes) or '-')}.</p>"
    )


#: The verdict table's columns: what decides a release, at a glance and within 1280 px. The
#: statistics behind each verdict (gate, test, p-value, tolerance, bound) are in its detail row.
VERDICT_HEAD = (
    "verdict",
    "method",
    "attribute",
    "gap",
    "dense",
    "compressed",
    "change [interval]",
    "worst group",
)


def _change(value: Any, iv: Any) -> str:
    """A change and, when there is one, its interval in a smaller type beside it."""
    if bounds(iv) is None:
        return _fmt(value, True)
    return f'{_fmt(value, True)} <span class="iv">{_fmt_interval(iv)}</span>'


def _worst(c: Mapping[str, Any]) -> str:
    name = worst_group(c)
    change = worst_change(c)
    return _e(name) if change is None else f"{_e(name)} {_fmt(change, True)}"


def _method_cell(method: str, info: Any) -> str:
    """The method's id, and its compressed share when under half: a verdict on a variant that
    left most weights in float says little about the method."""
    warning = share_warning(info) if isinstance(info, Mapping) else None
    if warning is None:
        return _e(method)
    share = percent(info.get("compressed_share"))
    return f'{_e(method)} <span class="warn" title="{_e(warning)}">{share} compressed</span>'


def _comparison_cells(r: Row, methods: Mapping[str, Any]) -> list[str]:
    c = r.comparison
    return [
        _method_cell(r.method_label, methods.get(r.method_label)),
        _e(r.attribute),
        _e(r.gap),
        *(_fmt(v) for v in gap_columns(r)),
        _change(c.get("delta"), c.get("interval")),
        _worst(c),
    ]


def _comparison_detail(r: Row) -> str:
    """What the verdict rests on: the gate, the statistical test, p-value, tolerance, bound,
    the utility guard and the test that made it."""
    c = r.comparison
    facts = [
        ("gate", _e(r.gate.removeprefix("assert_"))),
        ("statistical test", _e(c.get("test", "-"))),
        ("p-value", _fmt_p(c.get("p_value"))),
        ("tolerance", _fmt(c.get("tolerance", c.get("threshold")))),
        ("bound", _fmt(c.get("upper_bound"), c.get("delta") is not None)),
        ("utility", _e(utility_text(c))),
        ("n", _e(c.get("n", "-"))),
        ("test", f"<code>{_e(r.nodeid)}</code>"),
    ]
    return _detail(r.test, facts)


def _ungated_detail(t: TestRecord) -> str:
    """A test without a comparison (it errored or skipped before its gate): why."""
    facts = [("test", f"<code>{_e(t.nodeid)}</code>"), ("why", _e(t.message or "-"))]
    return _detail(t.test, facts)


def _detail(test: str, facts: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return f"<details><summary><code>{_e(test)}</code></summary><dl>{items}</dl></details>"


def _verdict_table(report: SessionReport) -> str:
    """One row per comparison (and per test that never reached its gate), each followed by
    its expandable detail row; with test records, the pytest outcome beside the verdict."""
    outcome = {t.nodeid: t.outcome for t in report.tests}
    entries = [
        (
            (r.method_label, r.attribute, r.gate, r.gap, r.nodeid),
            _badge(r.verdict),
            r.nodeid,
            _comparison_cells(r, report.methods),
            _comparison_detail(r),
        )
        for r in report.comparisons
    ]
    entries += [
        (
            (t.method or "dense", "-", "-", "-", t.nodeid),
            "-",
            t.nodeid,
            [_e(t.method or "dense"), "-", "-", "n/a", "n/a", "n/a", "-"],
            _ungated_detail(t),
        )
        for t in report.ungated
    ]
    entries.sort(key=lambda entry: entry[0])
    head = list(VERDICT_HEAD)
    if report.tests:
        head.insert(1, "outcome")
    body = []
    for _, badge, nodeid, cells, detail in entries:
        shown = [badge]
        if report.tests:
            shown.append(_outcome_badge(outcome[nodeid]) if nodeid in outcome else "-")
        tds = "".join(f"<td>{c}</td>" for c in [*shown, *cells])
        body.append(
            f'<tr>{tds}</tr><tr class="detail"><td colspan="{len(head)}">{detail}</td></tr>'
        )
    ths = "".join(f"<th>{h}</th>" for h in head)
    return (
        f'<div class="scroll"><table class="verdicts"><thead><tr>{ths}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _group_tables(rows: Sequence[Row]) -> str:
    parts = []
    for r in rows:
        c = r.comparison
        alpha = as_float(c.get("alpha"))
        level = f"{1 - alpha:.0%} interval" if not math.isnan(alpha) else "interval"
        body = [
            [
                _e(g.get("group")),
                _e(g.get("n", "-")),
                _fmt(g.get("base")),
                _fmt(g.get("compressed")),
                _fmt(g.get("delta"), True),
                _fmt_interval(g.get("interval")),
                _fmt_p(g.get("p_value")),
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
            f"<b>{_e(r.method_label)}</b> · {_e(r.attribute)} · {_e(r.gap)} "
            f'<code>{_e(r.nodeid)}</code></summary>{table}<p class="stats">{stats}</p>'
            f"{f'<ul class=reasons>{notes}</ul>' if notes else ''}</details>"
        )
    return "\n".join(parts)


#: What each provenance flag of a split summary (``DemographicSplit.summary()``) means.
PROVENANCE_TEXT = {
    "synthetic": "generated data",
    "random_weights": "a model with random weights",
}


def _caveats(report: SessionReport) -> str:
    """The header's warnings: a run on generated data or random weights says its numbers
    describe no real model; a variant that compressed under half of the weights says so."""
    lines = []
    for name, summary in report.splits.items():
        provenance = summary.get("provenance") if isinstance(summary, Mapping) else None
        if not provenance:
            continue
        what = " and ".join(
            _e(PROVENANCE_TEXT.get(key, key)) + ("" if value is True else f" ({_e(value)})")
            for key, value in provenance.items()
        )
        lines.append(
            f"Split <b>{_e(name)}</b> ran on {what}: its verdicts show that the pipeline works, "
            "not how a trained model treats real people."
        )
    for info in report.methods.values():
        warning = share_warning(info) if isinstance(info, Mapping) else None
        if warning:
            lines.append(f"{_e(warning)}.")
    return "".join(f'<p class="caveat">{line}</p>' for line in lines)


#: The compression table's columns, and the metadata field each reads.
COMPRESSION_HEAD = (
    "method",
    "family",
    "compressed share",
    "dense size",
    "compressed size",
    "size ratio",
    "sparsity",
    "weight bits",
    "layers converted",
    "layers skipped",
    "parameters",
)


def _compression_row(method: str, info: Mapping[str, Any]) -> str:
    """One variant's compression metadata, formatted; the layer lists and the method's own
    details behind an expandable row. A method the sweep could not run has its reason."""
    reason = info.get("skipped")
    if isinstance(reason, str):
        span = len(COMPRESSION_HEAD) - 1
        return f'<tr><td>{_e(method)}</td><td colspan="{span}">not run: {_e(reason)}</td></tr>'
    share = info.get("compressed_share")
    warn = share_warning(info)
    share_cell = (
        f'<td class="warn" title="{_e(warn)}">{percent(share)} ⚠</td>'
        if warn
        else f"<td>{percent(share)}</td>"
    )
    bits = as_float(info.get("weight_bits"))
    params = info.get("params") or {}
    shown_params = ", ".join(f"{_e(k)}={_e(v)}" for k, v in params.items()) or "-"
    skipped = [s for s in info.get("skipped") or [] if isinstance(s, Mapping)]
    converted = [str(c) for c in info.get("converted") or []]
    more = {
        "converted": converted,
        "skipped": [f"{s.get('name')}: {s.get('reason')}" for s in skipped],
        "details": info.get("details") or {},
        "versions": info.get("versions") or {},
        "device": info.get("device", "-"),
    }
    cells = [
        f"<td>{_e(method)}</td>",
        f"<td>{_e(info.get('family', '-'))}</td>",
        share_cell,
        f"<td>{mebibytes(info.get('bytes_before'))}</td>",
        f"<td>{mebibytes(info.get('bytes_after'))}</td>",
        f"<td>{ratio(info.get('size_ratio'))}</td>",
        f"<td>{percent(info.get('sparsity'))}</td>",
        f"<td>{'-' if math.isnan(bits) else f'{bits:g}'}</td>",
        f"<td>{len(converted)}</td>",
        f"<td>{len(skipped)}</td>",
        f"<td>{shown_params}</td>",
    ]
    detail = f"<details><summary>more</summary>{_kv(more)}</details>"
    return (
        f"<tr>{''.join(cells)}</tr>"
        f'<tr class="detail"><td colspan="{len(COMPRESSION_HEAD)}">{detail}</td></tr>'
    )


def _compression_table(methods: Mapping[str, Any]) -> str:
    ths = "".join(f"<th>{h}</th>" for h in COMPRESSION_HEAD)
    rows = "".join(
        _compression_row(m, info if isinstance(info, Mapping) else {})
        for m, info in methods.items()
    )
    return f'<table class="compression"><thead><tr>{ths}</tr></thead><tbody>{rows}</tbody></table>'


def _metadata(report: SessionReport) -> str:
    methods, splits = report.methods, report.splits
    seed = "-" if report.seed is None else report.seed
    meta = [
        ["schema", _e(report.schema)],
        ["seed", _e(seed)],
        ["device", _e(report.settings.get("device", "-"))],
        ["command", f"<code>{_e(' '.join(report.command) or '-')}</code>"],
    ]
    meta += [
        [_e(k), _e(v if v is not None else "not installed")] for k, v in report.versions.items()
    ]
    out = [_table(["", ""], meta, "meta")]
    if methods:
        out.append('<h3 id="compression">Compressed variants</h3>')
        out.append(_compression_table(methods))
    if splits:
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
        f"{as_float(table.get('confidence', 0.95)) * 100:g}% CI",
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


def _sections(report: SessionReport) -> str:
    if not report.sections:
        return ""
    return '<h2 id="sections">More results</h2>\n' + "\n".join(
        _section(str(name), content) for name, content in report.sections.items()
    )


# --------------------------------------------------------------------------- diagnostics

#: The diagnostics panel's bars, per group, dense vs compressed: the GroupDiagnosis field and
#: its label (paper 002, Figs. 7-9: loss, gradient norm, Hessian eigenvalue; paper 004,
#: Figs. 2-3: uncertainty). λmax is drawn only when the diagnosis computed it.
DIAGNOSIS_BARS = (
    ("loss", "mean loss"),
    ("grad_norm", "gradient norm ‖G‖"),
    ("hessian_lambda_max", "Hessian λmax"),
    ("uncertainty", "uncertain share"),
)
#: The panel's table: every per-group value of the diagnosis, dense → compressed.
DIAGNOSIS_COLUMNS = (
    ("loss", "loss"),
    ("true_class_prob", "true-class prob."),
    ("logit_cosine_distance", "logit cos. distance"),
    ("grad_norm", "‖G‖"),
    ("hessian_lambda_max", "λmax"),
    ("uncertainty", "uncertain"),
    ("ece", "ECE"),
)
FLIP_COLUMNS = (
    ("dense_right_compressed_wrong", "harmed (dense right, compressed wrong)"),
    ("dense_wrong_compressed_right", "helped"),
    ("both_right", "both right"),
    ("both_wrong", "both wrong"),
)
MSG_DIAGNOSE_OFF = "No diagnosis: fairquant_diagnose = off for this run."
MSG_NO_DIAGNOSIS = (
    "No diagnosis was recorded for this comparison (a report written before the plugin "
    "recorded diagnoses)."
)


def _group_value(entry: Mapping[str, Any], name: str) -> str:
    """One model's value of one group, or n/a with the diagnosis's reason as its title."""
    value = entry.get(name)
    if value is not None:
        return _fmt(value)
    undefined = (entry.get("undefined") or {}).get(name)
    reason = undefined_reason(undefined) or "not computed"
    return f'<span class="na" title="{_e(reason)}">n/a</span>'


def _diagnosis_tables(d: Mapping[str, Any]) -> str:
    dense, comp = d.get("dense_by_group") or {}, d.get("by_group") or {}
    groups = [str(g) for g in d.get("groups") or comp]
    body, flips = [], []
    for g in groups:
        before, after = dense.get(g) or {}, comp.get(g) or {}
        cells = [
            f"{_group_value(before, name)} → {_group_value(after, name)}"
            for name, _ in DIAGNOSIS_COLUMNS
        ]
        body.append([_e(g), _e(after.get("n", "-")), *cells])
        counted = after.get("flips") or {}
        flips.append(
            [_e(g), _e(after.get("n", "-")), *(_e(counted.get(k, "-")) for k, _ in FLIP_COLUMNS)]
        )
    head = ["group", "n", *(label for _, label in DIAGNOSIS_COLUMNS)]
    flip_head = ["group", "n", *(label for _, label in FLIP_COLUMNS)]
    return (
        f'<div class="scroll">{_table(head, body, "diagnosis")}</div>'
        f'<div class="scroll">{_table(flip_head, flips, "flips")}</div>'
    )


def _diagnosis_plot(r: Row, colours: Colours) -> Plot | None:
    """Per-group bars, dense vs compressed, one panel per diagnostic (None without
    matplotlib or values)."""
    d = r.diagnosis or {}
    dense, comp = d.get("dense_by_group") or {}, d.get("by_group") or {}
    groups = [str(g) for g in d.get("groups") or comp]

    def values(table: Mapping[str, Any], name: str) -> list[float]:
        return [as_float((table.get(g) or {}).get(name)) for g in groups]

    shown = [
        (name, label)
        for name, label in DIAGNOSIS_BARS
        if not all(math.isnan(v) for v in values(comp, name) + values(dense, name))
    ]
    if not groups or not shown:
        return None
    try:
        fig = _figure(2.9 * len(shown), 2.9)
    except ModuleNotFoundError as err:
        if err.name is None or not err.name.startswith("matplotlib"):
            raise
        return None
    fig.set_layout_engine("constrained")
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    models = (("dense", dense, DENSE_COLOUR), (r.method_label, comp, colours[r.method_label]))
    for ax, (name, label) in zip(axes, shown, strict=True):
        for k, (model, table, colour) in enumerate(models):
            xs = [j + (k - 0.5) * 0.4 for j in range(len(groups))]
            ax.bar(xs, values(table, name), width=0.4, color=colour, label=model)
        ax.set_xticks(range(len(groups)), groups, rotation=30 if len(groups) > 3 else 0)
        ax.set_title(label, fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
    fig.legend(
        *axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=2, fontsize="small"
    )
    title = f"Diagnosis — {r.method_label}, {r.attribute}"
    caption = (
        "Each group's mean loss, gradient norm of its mean loss (paper 002, Figs. 7-8), Hessian "
        "λmax when computed (Fig. 9) and share of uncertain predictions (paper 004, Figs. 2-3), "
        "for the dense model and the variant: a group whose bars grow most is the group the "
        "compression moved away from what it learned."
    )
    if d.get("dequantized"):
        caption += " The variant's gradients are those of its dequantized float equivalent."
    return Plot(title, _svg(fig), caption, fig)


def _attribution_block(a: Mapping[str, Any]) -> str:
    """Which layers did the harm (share, gap change alone and without) and the skip search."""
    body = [
        [
            f"<code>{_e(layer.get('layer'))}</code>",
            _e(layer.get("parameters", "-")),
            percent(layer.get("share")),
            f"{_fmt(layer.get('delta_alone'), True)} ({_e(layer.get('verdict_alone', '-'))})",
            f"{_fmt(layer.get('delta_without'), True)} ({_e(layer.get('verdict_without', '-'))})",
        ]
        for layer in a.get("layers") or []
        if isinstance(layer, Mapping)
    ]
    head = ["layer", "parameters", "share of harm", "Δ gap alone", "Δ gap without it"]
    tried = "".join(
        f"<li>skip={_e(step.get('skip'))}: {_badge(str(step.get('verdict')))} "
        f"Δ {_fmt(step.get('delta'), True)}</li>"
        for step in a.get("search") or []
        if isinstance(step, Mapping)
    )
    skip = a.get("skip")
    if skip is None:
        found = "No skip list of these layers makes the gate pass."
    else:
        found = (
            f"skip={_e(list(skip))} makes the gate pass, keeping "
            f"{percent(a.get('compressed_share'))} of the weights compressed "
            f"({ratio(a.get('size_ratio'))} smaller)."
        )
    notes = "".join(f"<li>{_e(n)}</li>" for n in a.get("notes") or [])
    return (
        f"<h4>Attribution of {_e(a.get('method', '-'))} ({_e(a.get('evaluations', '-'))} "
        f"evaluations)</h4>{_table(head, body, 'attribution')}"
        + (f"<ul>{tried}</ul>" if tried else "")
        + f"<p><b>{found}</b></p>"
        + (f'<ul class="reasons">{notes}</ul>' if notes else "")
    )


def _diagnosis_panel(r: Row, colours: Colours, mode: Any) -> str:
    parts = []
    d = r.diagnosis
    if d is not None:
        plot = _diagnosis_plot(r, colours)
        if plot is not None:
            parts.append(
                f'<figure class="wide"><figcaption><b>{_e(plot.title)}</b>. {_e(plot.caption)}'
                f"</figcaption>{plot.svg}</figure>"
            )
        parts.append(_diagnosis_tables(d))
        settings = d.get("settings") or {}
        parts.append(
            f'<p class="stats">{_e(d.get("n", "-"))} samples of {_e(d.get("attribute", "-"))} '
            f"({_e(d.get('task', '-'))}), seed {_e(settings.get('seed', '-'))}, Hessian "
            f"{'computed' if settings.get('hessian') else 'not computed'}</p>"
        )
        notes = "".join(f"<li>{_e(n)}</li>" for n in d.get("notes") or [])
        parts.append(f'<ul class="stats">{notes}</ul>' if notes else "")
    elif not any(n.startswith(("no diagnosis", "diagnosis")) for n in r.notes):
        parts.append(
            f'<p class="note">{_e(MSG_DIAGNOSE_OFF if mode == "off" else MSG_NO_DIAGNOSIS)}</p>'
        )
    parts += [f'<p class="note">{_e(n)}</p>' for n in r.notes]
    if r.attribution is not None:
        parts.append(_attribution_block(r.attribution))
    return (
        f'<details class="diagnostics"{" open" if r.verdict != "pass" else ""}><summary>'
        f"{_badge(r.verdict)} <b>{_e(r.method_label)}</b> · {_e(r.attribute)} · {_e(r.gap)} "
        f"<code>{_e(r.nodeid)}</code></summary>{''.join(parts)}</details>"
    )


def _diagnostics(report: SessionReport) -> str:
    """A panel per comparison that failed or carries a diagnosis or an attribution."""
    rows = [
        r
        for r in report.comparisons
        if r.diagnosis is not None or r.attribution is not None or r.verdict == "fail"
    ]
    if not rows:
        return ""
    colours = method_colours(report.comparisons)
    mode = report.settings.get("diagnose")
    return '<h2 id="diagnostics">Diagnostics</h2>\n' + "\n".join(
        _diagnosis_panel(r, colours, mode) for r in rows
    )


# --------------------------------------------------------------------------- plots


@dataclass(frozen=True)
class Plot:
    title: str
    svg: str
    caption: str
    #: The matplotlib figure the SVG was drawn from (for checks of its layout).
    figure: Any = field(default=None, repr=False, compare=False)


#: Method colours: matplotlib's tab20 without its greys, dark shades first, then the light
#: ones; the dense model is grey. Assigned once per report in name order, so a method keeps
#: its colour in every plot.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5",
)  # fmt: skip
DENSE_COLOUR = "#555555"
#: Font size (points) of the labels next to points, and their spacing in text heights.
LABEL_POINTS = 8
LABEL_SPACING = 1.5


def method_colours(rows: Sequence[Row]) -> dict[str, str]:
    """One colour per method of the report (cycling after :data:`PALETTE`), grey for dense."""
    names = sorted({r.method_label for r in rows} - {"dense"})
    return {"dense": DENSE_COLOUR} | {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _accuracy_rows(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Per attribute, one row per method whose per-group values are accuracies."""
    out: dict[str, list[Row]] = {}
    for r in rows:
        if r.metric != "accuracy" or r.gap in _SKEW_GAPS or not paired(r):
            continue
        seen = out.setdefault(r.attribute, [])
        if r.method_label not in {s.method_label for s in seen}:
            seen.append(r)
    return out


def plots(report: Mapping[str, Any] | SessionReport) -> list[Plot]:
    """Every plot the report's comparisons support (needs matplotlib)."""
    from matplotlib.figure import Figure  # noqa: F401 - fail early when matplotlib is missing

    rows = rows_of(report)
    colours = method_colours(rows)
    out: list[Plot] = []
    for attribute, by_method in _accuracy_rows(rows).items():
        out.append(_group_accuracy_plot(attribute, by_method, colours))
        out.append(_oa_fvo_plot(attribute, by_method, colours))
    out.extend(_delta_plots(rows, colours))
    out.extend(_skew_plots(rows, colours))
    out.extend(_sweep_plots(rows, colours))
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


def _group_accuracy_plot(attribute: str, by_method: Sequence[Row], colours: Colours) -> Plot:
    """Paper 002 Fig. 1: accuracy of each group, a bar per model (dense first) in its colour."""
    groups = _group_names(by_method)
    models = [("dense", by_method[0], "base")]
    models += [(r.method_label, r, "compressed") for r in by_method]
    fig = _figure(max(5.0, 0.18 * len(groups) * len(models) + 2.5), 3.4)
    ax = fig.add_subplot()
    width = 0.8 / len(models)
    for k, (name, row, which) in enumerate(models):
        by_name = {str(g.get("group")): as_float(g.get(which)) for g in row.groups}
        xs = [j + (k - (len(models) - 1) / 2) * width for j in range(len(groups))]
        heights = [by_name.get(group, math.nan) for group in groups]
        ax.bar(xs, heights, width=width, label=name, color=colours[name])
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
    ax.set_xlabel(attribute)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Group accuracy per method ({attribute})")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return Plot(
        f"Group accuracy per method — {attribute}",
        _svg(fig),
        "Accuracy of each group for the dense model and each compressed variant "
        "(as in paper 002, Fig. 1): a group whose bars fall further than the others' is the "
        "group the compression hurts.",
        fig,
    )


def spread(wanted: Sequence[float], gap: float) -> list[float]:
    """Label heights in [0, 1] as near ``wanted`` as they can be while at least ``gap``
    apart (``len(wanted) * gap <= 1``): the lowest first, each pushed above the one below,
    then all moved down together if the top one left the axes."""
    placed = list(wanted)
    last = -math.inf
    for i in sorted(range(len(wanted)), key=lambda i: (wanted[i], i)):
        placed[i] = last = max(wanted[i], last + gap)
    overflow = max(0.0, last - 1.0)
    return [y - overflow for y in placed]


def _oa_fvo_plot(attribute: str, by_method: Sequence[Row], colours: Colours) -> Plot:
    """Paper 002 Fig. 12: overall accuracy against FVO, one point per model. Points of
    similar accuracy sit close together, so their names go in a column right of the axes,
    spaced a text height apart, each joined to its point by a line."""
    from matplotlib.ticker import AutoLocator

    first = by_method[0]
    points = [("dense", _fvo(first, "base"), overall(first, "base"))]
    points += [(r.method_label, _fvo(r, "compressed"), overall(r, "compressed")) for r in by_method]
    points = [(n, x, y) for n, x, y in points if not (math.isnan(x) or math.isnan(y))]
    label_inches = LABEL_SPACING * LABEL_POINTS / 72
    fig = _figure(5.2, 3.6)
    axes_share = fig.subplotpars.top - fig.subplotpars.bottom
    fig.set_figheight(max(3.6, len(points) * label_inches / axes_share + 0.2))
    ax = fig.add_subplot()
    for name, fvo, oa in points:
        dense = name == "dense"
        marker, size = ("*", 90) if dense else ("o", 40)
        ax.scatter([fvo], [oa], s=size, marker=marker, color=colours[name], zorder=3)
    ax.margins(0.15)
    low, high = ax.get_ylim()
    gap = label_inches / (fig.get_figheight() * axes_share)
    heights = spread([(oa - low) / (high - low) for _, _, oa in points], gap)
    for (name, fvo, oa), height in zip(points, heights, strict=True):
        ax.annotate(
            name,
            xy=(fvo, oa),
            xytext=(1.04, height),
            textcoords="axes fraction",
            va="center",
            fontsize=LABEL_POINTS,
            color=colours[name],
            arrowprops={"arrowstyle": "-", "color": colours[name], "linewidth": 0.6, "alpha": 0.6},
        )
    # Matplotlib's own tick choice, less the lowest y tick, whose label would touch the
    # first x tick label in the corner.
    ticks = AutoLocator()
    ticks.set_params(prune="lower")
    ax.yaxis.set_major_locator(ticks)
    ax.set_xlabel("FVO (max − min group accuracy; lower is fairer)")
    ax.set_ylabel("overall accuracy")
    ax.set_title(f"Overall accuracy vs FVO ({attribute})")
    ax.grid(alpha=0.3)
    return Plot(
        f"Overall accuracy vs FVO — {attribute}",
        _svg(fig),
        "Each model as a point (paper 002, Fig. 12), the dense model a star: up and to the left "
        "is better (accurate and fair). Overall accuracy is the size-weighted mean of the "
        "groups shown.",
        fig,
    )


def _fvo(row: Row, which: str) -> float:
    if row.gap == "fvo":
        stored = as_float(row.comparison.get(f"{which}_gap"))
        if not math.isnan(stored):
            return stored
    values = [as_float(g.get(which)) for g in row.groups]
    values = [v for v in values if not math.isnan(v)]
    return max(values) - min(values) if len(values) > 1 else math.nan


def _delta_plots(rows: Sequence[Row], colours: Colours) -> list[Plot]:
    """Per attribute × metric: each group's change under each method, with its interval."""
    keyed: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.gap in _SKEW_GAPS or not paired(r):
            continue
        seen = keyed.setdefault((r.attribute, r.metric), [])
        if r.method_label not in {s.method_label for s in seen}:
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
                delta = as_float(g.get("delta"))
                iv = bounds(g.get("interval")) or (delta, delta)
                if math.isnan(delta):
                    continue
                ys.append(j + (k - (len(by_method) - 1) / 2) * step)
                xs.append(delta)
                lo.append(max(0.0, delta - iv[0]))
                hi.append(max(0.0, iv[1] - delta))
            colour = colours[r.method_label]
            ax.errorbar(
                xs, ys, xerr=[lo, hi], fmt="o", capsize=3, label=r.method_label, color=colour
            )
        # The change's zero is no change: an axis, not a dense model's line.
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(groups)), groups)
        ax.invert_yaxis()
        ax.set_xlabel(f"Δ {metric} (compressed − dense)")
        ax.set_title(f"Per-group change with intervals ({attribute})")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(axis="x", alpha=0.3)
        out.append(
            Plot(
                f"Per-group Δ {metric} — {attribute}",
                _svg(fig),
                "Each group's change from the dense model, with its paired bootstrap interval; "
                "an interval entirely on the harmful side is evidence the group lost.",
                fig,
            )
        )
    return out


def _skew_plots(rows: Sequence[Row], colours: Colours) -> list[Plot]:
    """Retrieval skew (MaxSkew/MinSkew@k) per query set: dense vs each method."""
    keyed: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.gap in _SKEW_GAPS:
            keyed.setdefault((r.attribute, r.gap), []).append(r)
    out = []
    for (attribute, gap), by_method in keyed.items():
        labels = ["dense", *[r.method_label for r in by_method]]
        values = [as_float(by_method[0].comparison.get("base_gap"))]
        values += [as_float(r.comparison.get("compressed_gap")) for r in by_method]
        fig = _figure(max(4.5, 0.8 * len(labels) + 2), 3.2)
        ax = fig.add_subplot()
        ax.bar(range(len(labels)), values, color=[colours[label] for label in labels])
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
                fig,
            )
        )
    return out


def _sweep_plots(rows: Sequence[Row], colours: Colours) -> list[Plot]:
    """The gap along a method family's parameter (bits, sparsity) when ≥2 members ran, ticked
    at the parameter values that ran, each point in its method's colour."""
    keyed: dict[tuple[str, str, str, str], dict[float, Row]] = {}
    for r in rows:
        parsed = sweep_parameter(r.method_label)
        if parsed is None:
            continue
        family, axis, value = parsed
        keyed.setdefault((family, axis, r.attribute, r.gap), {}).setdefault(value, r)
    out = []
    for (family, axis, attribute, gap), by_value in keyed.items():
        if len(by_value) < 2:
            continue
        xs = sorted(by_value)
        ys = [as_float(by_value[x].comparison.get("compressed_gap")) for x in xs]
        dense = as_float(by_value[xs[0]].comparison.get("base_gap"))
        change = all(math.isnan(y) for y in ys)
        if change:
            # Gaps without a per-model value (accuracy_drop): plot the change from dense.
            ys = [as_float(by_value[x].comparison.get("delta")) for x in xs]
        if all(math.isnan(y) for y in ys):
            continue
        fig = _figure(5.0, 3.2)
        ax = fig.add_subplot()
        ax.plot(xs, ys, color="#999999", linewidth=1, zorder=1)
        point_colours = [colours[by_value[x].method_label] for x in xs]
        ax.scatter(xs, ys, color=point_colours, zorder=2)
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        if change:
            ax.axhline(0.0, color="black", linewidth=0.8)
            ylabel = f"{gap} (change from dense)"
            caption = f"The change in {gap} of each {family} variant against its {axis}."
        else:
            ylabel = f"{gap} gap"
            caption = f"The {gap} gap of each {family} variant against its {axis}"
            if not math.isnan(dense):
                ax.axhline(dense, color=DENSE_COLOUR, linestyle="--", label="dense")
                ax.legend(fontsize="small")
                caption += "; the dashed line is the dense model"
            caption += "."
        ax.set_xlabel(axis)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{gap} along {family} ({attribute})")
        ax.grid(alpha=0.3)
        out.append(Plot(f"Sweep: {family} — {attribute}, {gap}", _svg(fig), caption, fig))
    return out


# --------------------------------------------------------------------------- the page


def _css() -> str:
    return resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")


def _plot_section(report: SessionReport) -> str:
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


def render(report: Mapping[str, Any] | SessionReport) -> str:
    """The HTML page of a session report (the dict ``build_report`` makes, its JSON, or a
    :class:`SessionReport`). Its head carries :data:`HTML_MARKER`, which is how a later run
    knows the file is a report it may overwrite."""
    typed = SessionReport.from_dict(report)
    title = "pytest-fairquant report"
    table = (
        _verdict_table(typed)
        if typed.comparisons or typed.tests
        else "<p>No comparisons were recorded.</p>"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            HTML_MARKER,
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f"<style>{_css()}</style></head><body>",
            f"<h1>{title}</h1>",
            _caveats(typed),
            _summary(typed),
            '<h2 id="verdicts">Verdicts</h2>',
            table,
            '<h2 id="plots">Plots</h2>',
            _plot_section(typed),
            '<h2 id="groups">Per-group metrics</h2>',
            _group_tables(typed.comparisons),
            _diagnostics(typed),
            _sections(typed),
            '<h2 id="metadata">Run</h2>',
            _metadata(typed),
            "</body></html>",
            "",
        ]
    )


__all__ = [
    "MSG_NOT_A_REPORT",
    "Plot",
    "method_colours",
    "plots",
    "render",
    "rows_of",
    "spread",
    "sweep_parameter",
]
