"""Report paths: a file fairquant did not write is never overwritten, and a path that cannot be
written is a usage error before any test runs (issue 11 #6). The same check
(``check_report_path``) guards ``--fairquant-report``, ``fairquant report --html`` and
``fairquant sweep --report``; the command's side is in tests/test_cli_commands.py."""

from __future__ import annotations

import pytest

from pytest_fairquant.report.jsonreport import HTML_MARKER, MSG_NOT_A_REPORT, MSG_NOT_WRITABLE

USER_PAGE = "<!DOCTYPE html><html><body><h1>My notes</h1></body></html>\n"


def _refused(flag_value: str, target: str) -> str:
    return "fairquant: " + MSG_NOT_A_REPORT.format(
        flag="--fairquant-report", path=flag_value, target=target
    )


def test_an_html_file_fairquant_did_not_write_is_not_overwritten(two: pytest.Pytester) -> None:
    page = two.path / "index.html"
    page.write_text(USER_PAGE)
    result = two.runpytest("--fairquant-report=index.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert _refused("index.html", "index.html") in result.stderr.str()
    assert page.read_text() == USER_PAGE
    assert not (two.path / "index.json").exists()
    result.stdout.no_fnmatch_line("*collected*")  # refused before any test ran


def test_a_foreign_json_beside_an_html_path_is_not_overwritten(two: pytest.Pytester) -> None:
    (two.path / "site").mkdir()
    (two.path / "site" / "report.json").write_text('{"mine": true}')
    result = two.runpytest("--fairquant-report=site/report.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert _refused("site/report.html", "site/report.json") in result.stderr.str()
    assert not (two.path / "site" / "report.html").exists()


def test_a_report_fairquant_wrote_is_overwritten(two: pytest.Pytester) -> None:
    pytest.importorskip("pytest_fairquant.report.html")
    two.runpytest("--fairquant-report=r.html").assert_outcomes(passed=1, failed=1)
    page = two.path / "r.html"
    assert HTML_MARKER in page.read_text()
    page.write_text(page.read_text().replace("</body>", "<p>edited</p></body>"))
    two.runpytest("--fairquant-report=r.html").assert_outcomes(passed=1, failed=1)
    assert "<p>edited</p>" not in page.read_text()


@pytest.mark.parametrize(
    ("make", "flag_value", "reason"),
    [
        ("file", "taken/report.json", "taken is not a directory"),
        ("dir", "taken", "taken is a directory"),
        ("file", "taken/deeper/report.html", "taken is not a directory"),
    ],
    ids=["parent-is-a-file", "path-is-a-directory", "ancestor-is-a-file"],
)
def test_an_unwritable_report_path_is_a_usage_error_before_the_tests(
    two: pytest.Pytester, make: str, flag_value: str, reason: str
) -> None:
    taken = two.path / "taken"
    if make == "dir":
        taken.mkdir()
    else:
        taken.write_text("a file")
    result = two.runpytest(f"--fairquant-report={flag_value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    message = MSG_NOT_WRITABLE.format(flag="--fairquant-report", path=flag_value, reason=reason)
    assert f"fairquant: {message}" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    result.stdout.no_fnmatch_line("*collected*")
