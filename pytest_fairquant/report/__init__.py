"""Session reports: the JSON document every renderer reads, the terminal summary, and the files.

:func:`build_report` assembles one JSON-ready dict from the records the gates made (every
comparison's ``to_dict()`` with its test, gate and method), the compression metadata, the split
summaries, the settings, the seed, the command and library versions. It holds no timestamp, so
the same inputs and seed give a byte-identical report. :func:`write_reports` writes it to each
configured path; a ``.html`` path gets the JSON beside it and, when
``pytest_fairquant.report.html`` is installed, the HTML rendered from that JSON.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .jsonreport import REPORT_SCHEMA, check_writable, write_json

MSG_NO_HTML = (
    "fairquant: {html} not written: the HTML renderer (pytest_fairquant.report.html) is not "
    "installed; the report's JSON is at {json}"
)

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


def verdict_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = Counter(str(r["comparison"]["verdict"]) for r in records)
    return dict(sorted(counts.items()))


def sorted_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Records in test order, whichever xdist worker made them (stable within one test)."""
    return sorted(records, key=lambda r: str(r["nodeid"]))


def gap_columns(method: str | None, comparison: Mapping[str, Any]) -> tuple[Any, Any]:
    """(dense, compressed) gap of a record for the summary tables.

    A one-model gate (``assert_fvo_below``) has no base gap; on the dense model its value
    belongs in the dense column, on a variant in the compressed one.
    """
    base, compressed = comparison.get("base_gap"), comparison.get("compressed_gap")
    if base is None and method in (None, "", "dense"):
        return compressed, None
    return base, compressed


def build_report(
    records: Sequence[Mapping[str, Any]],
    *,
    settings: Mapping[str, Any],
    methods: Mapping[str, Any],
    splits: Mapping[str, Any],
    command: Sequence[str],
    sections: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The session report. ``sections`` are named extra parts (e.g. paper 000's tables), kept
    under ``"sections"`` in name order."""
    ordered = sorted_records(records)
    return {
        "schema": REPORT_SCHEMA,
        "versions": versions(),
        "seed": settings.get("seed"),
        "settings": dict(settings),
        "command": list(command),
        "summary": verdict_counts(ordered),
        "methods": dict(sorted(methods.items())),
        "splits": dict(sorted(splits.items())),
        "comparisons": [dict(r) for r in ordered],
        "sections": dict(sorted((sections or {}).items())),
    }


def json_path(path: str | Path) -> Path:
    """Where the JSON of a report path goes: itself, or beside an ``.html`` path."""
    p = Path(path)
    return p.with_suffix(".json") if p.suffix.lower() in (".html", ".htm") else p


def write_reports(paths: Sequence[str | Path], report: Mapping[str, Any]) -> list[str]:
    """Write ``report`` to every path; returns notes for the terminal (e.g. HTML unavailable)."""
    notes: list[str] = []
    for path in paths:
        target = json_path(path)
        write_json(target, report)
        if target == Path(path):
            continue
        try:
            html = importlib.import_module("pytest_fairquant.report.html")
        except ModuleNotFoundError:
            notes.append(MSG_NO_HTML.format(html=path, json=target))
            continue
        write_json(Path(path), html.render(report), text=True)
    return notes


__all__ = [
    "REPORT_SCHEMA",
    "build_report",
    "check_writable",
    "gap_columns",
    "json_path",
    "verdict_counts",
    "versions",
    "write_json",
    "write_reports",
]


def utility_text(comparison: Mapping[str, Any]) -> str:
    """The utility guard beside the gap: its status and the largest drop it saw."""
    utility = comparison.get("utility")
    if not isinstance(utility, Mapping):
        return "-"
    if utility.get("status") == "off":
        return "off"
    drop = utility.get("drop")
    shown = "" if drop is None else f" {-float(drop):+.3f}"
    return f"{utility.get('status')}{shown}"
