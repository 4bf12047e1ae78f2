"""Report files: atomic writing, and the one check that a report path is writable without
overwriting a file fairquant did not write (:func:`check_report_path`)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .model import REPORT_SCHEMA

#: The tag :func:`pytest_fairquant.report.html.render` writes in every page's ``<head>``: an
#: HTML file without it was not written by fairquant and is never overwritten.
HTML_MARKER = '<meta name="generator" content="pytest-fairquant">'
#: The head of the pages written before :data:`HTML_MARKER` existed (0.1.0): a run that finds
#: its own older report in reports/ replaces it instead of refusing.
_LEGACY_HTML_HEAD = (
    b"<title>pytest-fairquant report</title>",
    b"/* Inline style of the pytest-fairquant HTML report (no external fetches). */",
)
#: How much of an HTML file is read looking for :data:`HTML_MARKER` (it is in the ``<head>``).
_HTML_HEAD_BYTES = 4096

MSG_NOT_A_REPORT = (
    "{flag}={path}: {target} exists and is not a fairquant report; refusing to overwrite it "
    "(remove it or choose another path)"
)
MSG_NOT_WRITABLE = "{flag}={path}: the report cannot be written: {reason}"


def json_path(path: str | Path) -> Path:
    """Where the JSON of a report path goes: itself, or beside an ``.html`` path."""
    p = Path(path)
    return p.with_suffix(".json") if is_html(p) else p


def is_html(path: str | Path) -> bool:
    return Path(path).suffix.lower() in (".html", ".htm")


def is_fairquant_report(path: Path) -> bool:
    """Whether ``path`` is a report fairquant wrote: JSON with its schema, or HTML with
    :data:`HTML_MARKER` in its head."""
    try:
        if is_html(path):
            with path.open("rb") as f:
                head = f.read(_HTML_HEAD_BYTES)
            return HTML_MARKER.encode() in head or all(part in head for part in _LEGACY_HTML_HEAD)
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("schema", "")).startswith(
        "pytest-fairquant/report/"
    )


def _unwritable(target: Path) -> str | None:
    """Why a file cannot be written at ``target``, or None."""
    if target.is_dir():
        return f"{target} is a directory"
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"no permission to write in {ancestor}"
    return None


def check_report_path(
    path: str | Path, *, flag: str = "--fairquant-report", with_json: bool = True
) -> None:
    """Raise :class:`ConfigError` naming ``flag`` unless a report can be written at ``path``
    (and, for an ``.html`` path with ``with_json``, its JSON beside it) without overwriting a
    file fairquant did not write. Every way of writing a report (``--fairquant-report``,
    ``fairquant report --html`` with ``with_json=False``, ``fairquant sweep --report``) calls
    it before any work is done."""
    p = Path(path)
    for target in dict.fromkeys((json_path(p) if with_json else p, p)):
        reason = _unwritable(target)
        if reason is not None:
            raise ConfigError(MSG_NOT_WRITABLE.format(flag=flag, path=path, reason=reason))
        if target.exists() and not (target.is_file() and is_fairquant_report(target)):
            raise ConfigError(MSG_NOT_A_REPORT.format(flag=flag, path=path, target=target))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Mapping[str, Any] | str, *, text: bool = False) -> None:
    """Write JSON (or ``text``) to ``path`` atomically: a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = data if text else json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(str(content))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "HTML_MARKER",
    "MSG_NOT_A_REPORT",
    "MSG_NOT_WRITABLE",
    "REPORT_SCHEMA",
    "check_report_path",
    "is_fairquant_report",
    "json_path",
    "write_json",
]
