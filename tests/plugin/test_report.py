"""The session report: terminal summary (quiet under -q), the JSON file, HTML hand-off, clobbering."""

from __future__ import annotations

import json
import os

import pytest

from pytest_fairquant.report import MSG_NO_HTML
from pytest_fairquant.report.jsonreport import MSG_NOT_A_REPORT, REPORT_SCHEMA


def test_terminal_summary_lists_every_comparison(two: pytest.Pytester) -> None:
    result = two.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- fairquant -*",
            "method*attribute*gap*dense*compressed*delta*verdict*outcome*worst group*test",
            "-*group*fvo*pass*passed*test_same",
            "-*group*fvo*fail*failed*b*test_worse",
            "fairquant: 2 comparisons: 1 fail, 1 pass; 2 tests: 1 failed, 1 passed",
        ]
    )


def test_terminal_summary_is_one_line_under_quiet(two: pytest.Pytester) -> None:
    result = two.runpytest("-q")
    text = result.stdout.str()
    assert "fairquant: 2 comparisons: 1 fail, 1 pass" in text
    assert "worst group" not in text


def test_json_report_holds_every_comparison_and_is_reproducible(two: pytest.Pytester) -> None:
    two.runpytest("--fairquant-report=out/report.json", "--fairquant-seed=3")
    path = two.path / "out" / "report.json"
    first = path.read_bytes()
    report = json.loads(first)
    assert report["schema"] == REPORT_SCHEMA
    assert report["seed"] == 3
    assert report["summary"] == {"fail": 1, "pass": 1}
    assert [c["nodeid"] for c in report["comparisons"]] == [
        "test_two.py::test_same",
        "test_two.py::test_worse",
    ]
    worse = report["comparisons"][1]
    assert worse["gate"] == "assert_no_bias_amplification"
    assert worse["comparison"]["verdict"] == "fail"
    assert worse["comparison"]["seed"] == 3
    assert report["versions"]["pytest-fairquant"]
    assert "--fairquant-seed=3" in report["command"]
    # Same inputs and seed: a byte-identical report, overwritten in place.
    two.runpytest("--fairquant-report=out/report.json", "--fairquant-seed=3")
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]
    # An ordinary file for the umask, not mkstemp's private 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_report_refuses_to_clobber_a_foreign_file(two: pytest.Pytester) -> None:
    (two.path / "notes.json").write_text('{"mine": true}')
    result = two.runpytest("--fairquant-report=notes.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    message = MSG_NOT_A_REPORT.format(
        flag="--fairquant-report", path="notes.json", target="notes.json"
    )
    assert f"fairquant: {message}" in result.stderr.str()
    assert (two.path / "notes.json").read_text() == '{"mine": true}'


def test_html_path_writes_the_json_beside_it(two: pytest.Pytester) -> None:
    result = two.runpytest("--fairquant-report=site/report.html")
    data = json.loads((two.path / "site" / "report.json").read_text())
    assert data["schema"] == REPORT_SCHEMA
    html = two.path / "site" / "report.html"
    try:
        import pytest_fairquant.report.html  # noqa: F401
    except ModuleNotFoundError:
        assert not html.exists()
        note = MSG_NO_HTML.format(html="site/report.html", json="site/report.json")
        assert note in result.stdout.str()
    else:
        assert html.read_text().lstrip().lower().startswith("<!doctype html")


SECTIONS = """
import math

import pytest

def test_adds(fairquant_report_section):
    fairquant_report_section("paper000", {"tables": {}, "n": 3})
    fairquant_report_section("paper000", {"tables": {}, "n": 3})  # the same again is fine

def test_bad_sections(fairquant_report_section):
    fairquant_report_section("mine", {"n": 1})
    with pytest.raises(ValueError, match="must be JSON .* Out of range float"):
        fairquant_report_section("nan", {"x": math.nan})
    with pytest.raises(ValueError, match="a different section of that name"):
        fairquant_report_section("mine", {"n": 4})
    with pytest.raises(ValueError, match="non-empty string"):
        fairquant_report_section("", {})
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_report_sections_reach_the_json_report(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    pytester.makepyfile(test_sections=SECTIONS)
    pytester.makepyfile(
        test_other="""
        class Table:
            def to_dict(self):
                return {"cells": [], "title": "t"}

        def test_other(fairquant_report_section):
            fairquant_report_section("table", Table())
        """
    )
    result = pytester.runpytest_subprocess(*workers, "--fairquant-report=r.json")
    result.assert_outcomes(passed=3)
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["sections"] == {
        "mine": {"n": 1},
        "paper000": {"n": 3, "tables": {}},
        "table": {"cells": [], "title": "t"},
    }


def test_conflicting_sections_from_two_workers_are_a_note_not_a_crash(
    pytester: pytest.Pytester,
) -> None:
    for i in range(2):
        pytester.makepyfile(
            **{
                f"test_w{i}": f"""
                import time

                def test_section(fairquant_report_section):
                    fairquant_report_section("same", {{"worker": {i}}})
                    time.sleep(0.5)  # keep both workers busy so each takes one file
                """
            }
        )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist=loadfile", "--fairquant-report=r.json"
    )
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "r.json").read_text())
    assert list(report["sections"]) == ["same"]
    assert "report section from gw" in result.stdout.str()
    assert "a different section of that name" in result.stdout.str()


def test_terminal_row_of_a_one_model_gate_on_the_dense_model_shows_the_dense_value() -> None:
    from pytest_fairquant.report.terminal import summary_lines

    record = {
        "nodeid": "t.py::test_dense_is_fair",
        "gate": "assert_fvo_below",
        "method": None,
        "comparison": {
            "attribute": "race",
            "gap": "fvo",
            "verdict": "pass",
            "base_gap": None,
            "compressed_gap": 0.1037,
            "delta": None,
            "upper_bound": 0.152,
        },
    }
    _header, row, total = summary_lines([record])
    assert row.split() == [
        "-",
        "race",
        "fvo",
        "0.1037",
        "n/a",
        "n/a",
        "0.1520",
        "-",
        "pass",
        "-",
        "test_dense_is_fair",
    ]
    assert total == "fairquant: 1 comparison: 1 pass"


def test_terminal_and_html_rows_show_the_pass_bound_and_the_utility_guard() -> None:
    from pytest_fairquant.report import utility_text
    from pytest_fairquant.report.html import render
    from pytest_fairquant.report.terminal import summary_lines

    comparison = {
        "attribute": "marker",
        "gap": "fvo",
        "verdict": "fail",
        "base_gap": 0.1037,
        "compressed_gap": 0.0302,
        "delta": -0.0735,
        "upper_bound": 0.1808,
        "utility": {"metric": "accuracy", "max_drop": 0.05, "status": "collapsed", "drop": 0.5789},
    }
    record = {"nodeid": "t.py::test_q[uniform-int2]", "gate": "g", "method": "uniform-int2",
              "comparison": comparison}
    assert utility_text(comparison) == "collapsed -0.5789"
    row = summary_lines([record])[1].split()
    assert row[6:9] == ["+0.1808", "collapsed", "-0.5789"]
    page = render({"comparisons": [record]})
    assert "collapsed -0.5789" in page and "+0.1808" in page
