"""Atomic writing of report files that never clobbers a file fairquant did not write."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

REPORT_SCHEMA = "pytest-fairquant/report/1"

MSG_NOT_A_REPORT = (
    "--fairquant-report={path}: the file exists and is not a fairquant report; "
    "refusing to overwrite it (remove it or choose another path)"
)


def is_fairquant_report(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("schema", "")).startswith(
        "pytest-fairquant/report/"
    )


def check_writable(path: str | Path) -> None:
    """Raise :class:`ConfigError` when ``path`` holds something other than a previous report."""
    p = Path(path)
    if p.exists() and not (p.is_file() and is_fairquant_report(p)):
        raise ConfigError(MSG_NOT_A_REPORT.format(path=path))


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
