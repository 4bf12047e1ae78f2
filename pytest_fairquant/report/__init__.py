"""Session reports: the typed report every renderer reads, the terminal summary, and the files.

:func:`build_report` assembles the run's :class:`~.model.SessionReport` (every comparison a
gate made with its test, gate and method; every test's pytest outcome; the compression
metadata, the split summaries, the settings, the seed, the command and library versions) and
returns its JSON-ready dict. It holds no timestamp, so the same inputs and seed give a
byte-identical report. :func:`write_reports` writes it to each configured path; a ``.html``
path gets the JSON beside it and, when ``pytest_fairquant.report.html`` is installed, the HTML
rendered from that JSON. :func:`~.jsonreport.check_report_path` is the one check, before any
work, that a report path can be written without overwriting a file fairquant did not write.
Numbers are formatted by :mod:`.format` everywhere.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import distributed
from ..errors import ConfigError
from .format import number
from .jsonreport import check_report_path, json_path, write_json
from .model import REPORT_SCHEMA, ComparisonRow, SessionReport, TestRecord

MSG_NO_HTML = (
    "fairquant: {html} not written: the HTML renderer (pytest_fairquant.report.html) is not "
    "installed; the report's JSON is at {json}"
)
MSG_NOT_WRITTEN = "fairquant: report not written: {error}"

_VERSIONED = (
    "pytest-fairquant",
    "pytest",
    "numpy",
    "scipy",
    "torch",
    "syrupy",
    "bitsandbytes",
    "torchao",
)


def versions() -> dict[str, str | None]:
    """Library versions from package metadata (importing nothing)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def gap_columns(row: ComparisonRow) -> tuple[Any, Any]:
    """(dense, compressed) gap of a row for the summary tables.

    A one-model gate (``assert_fvo_below``) has no base gap; on the dense model its value
    belongs in the dense column, on a variant in the compressed one.
    """
    base, compressed = row.comparison.get("base_gap"), row.comparison.get("compressed_gap")
    if base is None and row.method in (None, "", "dense"):
        return compressed, None
    return base, compressed


def worst_group(comparison: Mapping[str, Any]) -> str:
    """The group a comparison names as the worst off, or ``-``."""
    worst = comparison.get("worst_group")
    if isinstance(worst, Mapping):
        worst = worst.get("group")
    return "-" if worst is None else str(worst)


def worst_change(comparison: Mapping[str, Any]) -> Any:
    """The change (compressed - dense) of the group the comparison names as the worst off, or
    None: the number a reader wants beside the group's name."""
    name = worst_group(comparison)
    groups = comparison.get("groups") or []
    found = (g for g in groups if isinstance(g, Mapping) and str(g.get("group")) == name)
    return next((g.get("delta") for g in found), None)


def share_warning(info: Mapping[str, Any]) -> str | None:
    """The warning a variant's metadata carries when it compressed under half of the dense
    model's parameters (``CompressionInfo.share_warning``), else None. The compression core
    decides the threshold; the report only shows its sentence."""
    warning = info.get("share_warning")
    return str(warning) if warning else None


def utility_text(comparison: Mapping[str, Any]) -> str:
    """The utility guard beside the gap: its status and the largest drop it saw."""
    utility = comparison.get("utility")
    if not isinstance(utility, Mapping):
        return "-"
    if utility.get("status") == "off":
        return "off"
    drop = utility.get("drop")
    shown = "" if drop is None else f" {number(-float(drop), signed=True)}"
    return f"{utility.get('status')}{shown}"


def build_report(
    records: Iterable[ComparisonRow | Mapping[str, Any] | Any],
    *,
    settings: Mapping[str, Any],
    methods: Mapping[str, Any],
    splits: Mapping[str, Any],
    command: Sequence[str],
    sections: Mapping[str, Any] | None = None,
    tests: Iterable[TestRecord] = (),
) -> dict[str, Any]:
    """The session report's JSON. ``records`` are the gates' comparison records (dicts or
    rows), ``tests`` the tests' outcomes; ``sections`` are named extra parts (e.g. paper 000's
    tables), kept under ``"sections"`` in name order."""
    return SessionReport.build(
        records,
        tests,
        settings=dict(settings),
        methods=methods,
        splits=splits,
        sections=sections or {},
        command=list(command),
        versions=versions(),
    ).to_dict()


def write_reports(
    paths: Sequence[str | Path],
    report: Mapping[str, Any],
    *,
    on_written: Callable[[Path], None] | None = None,
) -> list[str]:
    """Write ``report`` to every path; returns notes for the terminal (HTML unavailable, a path
    that became unusable since it was checked). ``on_written`` is told each file written, the
    JSON beside an HTML page first, so a caller can say where the reports are."""
    notes: list[str] = []
    if not distributed.is_writer():  # under torch.distributed, rank 0 writes the one report
        return notes
    told = on_written or (lambda _: None)
    for path in paths:
        try:
            check_report_path(path)
        except ConfigError as err:
            notes.append(MSG_NOT_WRITTEN.format(error=err))
            continue
        target = json_path(path)
        write_json(target, report)
        told(target)
        if target == Path(path):
            continue
        try:
            html = importlib.import_module("pytest_fairquant.report.html")
        except ModuleNotFoundError:
            notes.append(MSG_NO_HTML.format(html=path, json=target))
            continue
        write_json(Path(path), html.render(report), text=True)
        told(Path(path))
    return notes


__all__ = [
    "MSG_NOT_WRITTEN",
    "MSG_NO_HTML",
    "REPORT_SCHEMA",
    "ComparisonRow",
    "SessionReport",
    "TestRecord",
    "build_report",
    "check_report_path",
    "gap_columns",
    "json_path",
    "share_warning",
    "utility_text",
    "versions",
    "worst_change",
    "worst_group",
    "write_json",
    "write_reports",
]
