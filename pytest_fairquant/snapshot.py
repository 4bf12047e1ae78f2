"""A syrupy extension for per-group metrics: canonical JSON compared with a numeric tolerance.

A :class:`~pytest_fairquant.metrics.report.GroupReport` (or a mapping of them, one per attribute)
is written as canonical JSON: a schema version, string keys, plain floats rounded to 6 decimals,
and per group and metric the value, its interval and n, plus the method that produced it. Two
reports match when their structure (attributes, metrics, groups, n, method) is equal and every
value lies within the tolerance: the larger of ``fairquant_snapshot_tolerance`` and the stored
interval's half-width, so noise (another machine, a GPU kernel) passes and a real change fails.

syrupy only writes on ``--snapshot-update`` (and merges xdist workers' writes itself). A snapshot
file that is not valid fairquant JSON raises :class:`~pytest_fairquant.errors.SnapshotError`
naming the file and, for a file edited by hand, the first entry of the wrong shape or type
(:func:`validate`); it is never overwritten silently, even under ``--snapshot-update``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from . import distributed
from .errors import SnapshotError

SCHEMA = "pytest-fairquant/group-report/1"
DECIMALS = 6

MSG_CORRUPT = (
    "fairquant snapshot {path} is corrupt ({error}); fix or delete the file, then re-create it "
    "with --snapshot-update"
)
MSG_UNSUPPORTED = (
    "fairquant_snapshot compares GroupReport objects (or a mapping attribute -> GroupReport); "
    "got {kind}"
)


def _round(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, DECIMALS)


def _canonical_report(report: Any) -> dict[str, Any]:
    raw = report.to_dict()
    intervals = raw.get("intervals") or {}
    reasons = raw.get("reasons") or {}
    groups: dict[str, dict[str, Any]] = {}
    for metric, per_group in raw["by_group"].items():
        for group, value in per_group.items():
            entry = groups.setdefault(str(group), {"n": int(raw["n"][str(group)])})
            interval = (intervals.get(metric) or {}).get(str(group))
            cell: dict[str, Any] = {
                "value": _round(value),
                "interval": None if interval is None else [_round(v) for v in interval],
            }
            reason = (reasons.get(metric) or {}).get(str(group))
            if cell["value"] is None and reason:
                cell["reason"] = reason if isinstance(reason, str) else reason.get("reason")
            entry[str(metric)] = cell
    metadata = raw.get("metadata") or {}
    return {
        "metrics": [str(m) for m in raw["metrics"]],
        "overall": {str(m): _round(v) for m, v in raw["overall"].items()},
        "groups": dict(sorted(groups.items())),
        "method": metadata.get("method"),
        "metadata": metadata,
    }


def canonicalize(data: Any) -> dict[str, Any]:
    """The canonical, JSON-ready form of a GroupReport or a mapping attribute -> GroupReport."""
    if hasattr(data, "by_group") and hasattr(data, "to_dict"):
        reports = {str(data.attribute): data}
    elif isinstance(data, Mapping) and data and all(hasattr(v, "by_group") for v in data.values()):
        reports = {str(k): v for k, v in data.items()}
    else:
        raise TypeError(MSG_UNSUPPORTED.format(kind=type(data).__name__))
    return {
        "schema": SCHEMA,
        "reports": {k: _canonical_report(v) for k, v in sorted(reports.items())},
    }


def _tolerance() -> float:
    from .gate import active_context

    return active_context().settings.snapshot_tolerance


def differences(
    current: Mapping[str, Any], stored: Mapping[str, Any], tolerance: float
) -> list[str]:
    """Why ``current`` does not match ``stored``: one line per difference; empty when they match."""
    out: list[str] = []
    if current.get("schema") != stored.get("schema"):
        return [f"schema {current.get('schema')!r} != stored {stored.get('schema')!r}"]
    cur_reports, old_reports = current["reports"], stored["reports"]
    if cur_reports.keys() != old_reports.keys():
        return [f"attributes {sorted(cur_reports)} != stored {sorted(old_reports)}"]
    for attribute, cur in cur_reports.items():
        old = old_reports[attribute]
        where = f"{attribute}"
        if cur["method"] != old["method"]:
            out.append(f"{where}: method {cur['method']!r} != stored {old['method']!r}")
        if cur["metrics"] != old["metrics"] or cur["groups"].keys() != old["groups"].keys():
            out.append(
                f"{where}: metrics/groups {cur['metrics']} {sorted(cur['groups'])} != stored "
                f"{old['metrics']} {sorted(old['groups'])}"
            )
            continue
        for metric in cur["metrics"]:
            out.extend(
                _value_difference(
                    f"{where}: overall {metric}",
                    cur["overall"][metric],
                    old["overall"][metric],
                    None,
                    tolerance,
                )
            )
        for group, entry in cur["groups"].items():
            old_entry = old["groups"][group]
            if entry["n"] != old_entry["n"]:
                out.append(f"{where}: group {group!r} n {entry['n']} != stored {old_entry['n']}")
            for metric in cur["metrics"]:
                out.extend(
                    _value_difference(
                        f"{where}: {group!r} {metric}",
                        entry[metric]["value"],
                        old_entry[metric]["value"],
                        old_entry[metric]["interval"],
                        tolerance,
                    )
                )
    return out


def _value_difference(
    where: str,
    value: float | None,
    stored: float | None,
    interval: list[float | None] | None,
    tolerance: float,
) -> Iterator[str]:
    if value is None or stored is None:
        if value != stored:
            yield f"{where}: {value} != stored {stored}"
        return
    allowed = tolerance
    if interval is not None and None not in interval:
        lo, hi = interval
        allowed = max(allowed, (float(hi) - float(lo)) / 2)  # type: ignore[arg-type]
    if abs(value - stored) > allowed + 1e-12:
        yield f"{where}: {value:.6f} != stored {stored:.6f} (|diff| {abs(value - stored):.6f} > allowed {allowed:.6f})"


class FairquantSnapshotExtension(SingleFileSnapshotExtension):
    """One JSON file (``.fairquant``, so syrupy's JSON extension never claims it) per snapshot."""

    file_extension = "fairquant"
    _write_mode = WriteMode.TEXT

    def serialize(self, data: Any, **_: Any) -> str:
        return (
            json.dumps(
                canonicalize(data), indent=2, sort_keys=True, ensure_ascii=False, default=str
            )
            + "\n"
        )

    def read_snapshot_data_from_location(
        self, *, snapshot_location: str, snapshot_name: str, session_id: str
    ) -> Any:
        text = super().read_snapshot_data_from_location(
            snapshot_location=snapshot_location, snapshot_name=snapshot_name, session_id=session_id
        )
        if text is not None:
            _parse(str(text), snapshot_location)
        return text

    @classmethod
    def write_snapshot_collection(cls, **kwargs: Any) -> None:
        if distributed.is_writer():  # under torch.distributed, rank 0 writes the snapshots
            super().write_snapshot_collection(**kwargs)

    def delete_snapshots(self, **kwargs: Any) -> None:
        if distributed.is_writer():
            super().delete_snapshots(**kwargs)

    def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
        current = json.loads(serialized_data)
        stored = _parse(str(snapshot_data), "the stored snapshot")
        return not differences(current, stored, _tolerance())

    def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
        if not snapshot_data:
            return iter(())
        current = json.loads(serialized_data)
        stored = _parse(str(snapshot_data), "the stored snapshot")
        return iter(differences(current, stored, _tolerance()))


def _parse(text: str, path: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SnapshotError(MSG_CORRUPT.format(path=path, error=f"invalid JSON: {err}")) from None
    return validate(data, path)


class _Shape:
    """Checks one parsed snapshot, naming the first entry whose shape or type is wrong."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, error: str) -> SnapshotError:
        return SnapshotError(MSG_CORRUPT.format(path=self.path, error=error))

    def get(self, parent: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in parent:
            raise self.fail(f"{where}.{key} is missing".lstrip("."))
        return parent[key]

    def expect(self, value: Any, ok: bool, where: str, what: str) -> None:
        if not ok:
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise self.fail(f"{where} is {shown} ({type(value).__name__}); expected {what}")

    def obj(self, parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = self.get(parent, key, where)
        self.expect(value, isinstance(value, dict), f"{where}.{key}".lstrip("."), "an object")
        return value  # type: ignore[no-any-return]

    def number(self, value: Any, where: str) -> None:
        ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
        self.expect(value, ok, where, "a number or null")


def validate(data: Any, path: str) -> dict[str, Any]:
    """``data`` (a parsed snapshot) when it has the shape :func:`canonicalize` writes, else a
    :class:`SnapshotError` naming ``path`` and the first wrong entry (a file edited by hand)."""
    shape = _Shape(path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise shape.fail(f"schema {found!r}, expected {SCHEMA!r}")
    for attribute in shape.obj(data, "reports", ""):
        where = f"reports.{attribute}"
        report = shape.obj(data["reports"], attribute, "reports")
        metrics = shape.get(report, "metrics", where)
        shape.expect(
            metrics,
            isinstance(metrics, list) and all(isinstance(m, str) for m in metrics),
            f"{where}.metrics",
            "a list of strings",
        )
        method = shape.get(report, "method", where)
        shape.expect(
            method, method is None or isinstance(method, str), f"{where}.method", "a string or null"
        )
        overall = shape.obj(report, "overall", where)
        for metric in metrics:
            value = shape.get(overall, metric, f"{where}.overall")
            shape.number(value, f"{where}.overall.{metric}")
        groups = shape.obj(report, "groups", where)
        for group in groups:
            at = f"{where}.groups.{group}"
            entry = shape.obj(groups, group, f"{where}.groups")
            n = shape.get(entry, "n", at)
            shape.expect(n, isinstance(n, int) and not isinstance(n, bool), f"{at}.n", "an integer")
            for metric in metrics:
                cell = shape.obj(entry, metric, at)
                shape.number(shape.get(cell, "value", f"{at}.{metric}"), f"{at}.{metric}.value")
                interval = shape.get(cell, "interval", f"{at}.{metric}")
                pair = isinstance(interval, list) and len(interval) == 2
                if interval is not None:
                    shape.expect(
                        interval, pair, f"{at}.{metric}.interval", "null or [low, high] numbers"
                    )
                    for bound in interval:
                        shape.number(bound, f"{at}.{metric}.interval")
    return data
