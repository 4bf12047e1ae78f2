"""A snapshot file edited by hand to a wrong shape or type is a SnapshotError naming the file
and the bad entry, never a TypeError or KeyError from the comparison (issue 11 #12)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_snapshot import TEST, _snapshot_file

from pytest_fairquant.errors import SnapshotError
from pytest_fairquant.snapshot import MSG_CORRUPT, SCHEMA, validate

STORED: dict[str, Any] = {
    "schema": SCHEMA,
    "reports": {
        "group": {
            "metrics": ["accuracy"],
            "overall": {"accuracy": 0.9},
            "groups": {
                "a": {"n": 200, "accuracy": {"value": 0.9, "interval": [0.86, 0.94]}},
                "b": {"n": 200, "accuracy": {"value": 0.9, "interval": None}},
            },
            "method": "dense",
            "metadata": {},
        }
    },
}


def _edited(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(STORED)
    edit(data)
    return data


def _group(data: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = data["reports"]["group"]
    return report


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "n as text": (
        lambda d: _group(d)["groups"]["a"].update(n="200"),
        "reports.group.groups.a.n is '200' (str); expected an integer",
    ),
    "value as text": (
        lambda d: _group(d)["groups"]["a"]["accuracy"].update(value="0.9"),
        "reports.group.groups.a.accuracy.value is '0.9' (str); expected a number or null",
    ),
    "interval of one": (
        lambda d: _group(d)["groups"]["a"]["accuracy"].update(interval=[0.8]),
        "reports.group.groups.a.accuracy.interval is [0.8] (list); expected null or "
        "[low, high] numbers",
    ),
    "groups as a list": (
        lambda d: _group(d).update(groups=["a", "b"]),
        "reports.group.groups is ['a', 'b'] (list); expected an object",
    ),
    "metric missing in a group": (
        lambda d: _group(d)["groups"]["b"].pop("accuracy"),
        "reports.group.groups.b.accuracy is missing",
    ),
    "overall missing": (
        lambda d: _group(d).pop("overall"),
        "reports.group.overall is missing",
    ),
    "metrics as text": (
        lambda d: _group(d).update(metrics="accuracy"),
        "reports.group.metrics is 'accuracy' (str); expected a list of strings",
    ),
    "a report that is a number": (
        lambda d: d["reports"].update(group=3),
        "reports.group is 3 (int); expected an object",
    ),
}


@pytest.mark.parametrize("case", list(EDITS))
def test_a_wrong_type_names_the_file_and_the_entry(case: str) -> None:
    edit, what = EDITS[case]
    with pytest.raises(SnapshotError) as err:
        validate(_edited(edit), "snaps/test_x.fairquant")
    assert str(err.value) == MSG_CORRUPT.format(path="snaps/test_x.fairquant", error=what)


def test_a_well_formed_snapshot_is_valid() -> None:
    assert validate(copy.deepcopy(STORED), "x") == STORED


def test_a_hand_edited_snapshot_fails_the_test_with_the_file_named(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_snap=TEST)
    pytester.makeini("[pytest]\naddopts = -p no:hypothesispytest -p no:cacheprovider")
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    path = _snapshot_file(pytester)
    data = json.loads(path.read_text())
    data["reports"]["group"]["groups"]["b"]["n"] = "200"
    path.write_text(json.dumps(data))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "SnapshotError" in out and "TypeError" not in out and "KeyError" not in out
    assert f"fairquant snapshot {Path(path)} is corrupt (reports.group.groups.b.n is '200'" in out
