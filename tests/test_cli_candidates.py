"""``fairquant sweep --candidate NAME=module:callable``: the release artifact gated outside pytest
(issue 13), with the rows and errors the plugin gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_factories import write_factories

from pytest_fairquant import cli
from pytest_fairquant.candidates import MSG_CANDIDATE_ENTRY


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_factories(tmp_path, "cand_factories", monkeypatch)


def _sweep(out: Path, *extra: str) -> list[str]:
    return [
        "sweep",
        "--model",
        "cand_factories:make_model",
        "--data",
        "cand_factories:make_split",
        "--report",
        str(out),
        "--n-boot",
        "100",
        "--cache-dir",
        "",
        "--no-config",
        *extra,
    ]


def test_a_candidate_is_a_row_of_the_sweep_under_its_name(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = factories / "r.json"
    code = cli.main(_sweep(out, "--candidate", "release=cand_factories:make_release"))
    assert code in (cli.EXIT_OK, cli.EXIT_FAIL), capsys.readouterr().err
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [(r["nodeid"], r["method"]) for r in report["comparisons"]] == [
        ("fairquant sweep[release]", "release")
    ]
    assert report["methods"]["release"]["factory"] == "cand_factories:make_release"


def test_a_candidate_that_raises_is_its_error_row_and_exit_3(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = factories / "r.json"
    code = cli.main(_sweep(out, "--candidate", "broken=cand_factories:raises"))
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR
    assert (
        "fairquant: error: broken: loading the candidate failed: ConfigError: --candidate "
        "broken=cand_factories:raises (command line): the factory raised OSError: weights.bin "
        "not found" in err
    )
    [row] = json.loads(out.read_text(encoding="utf-8"))["comparisons"]
    assert (row["method"], row["comparison"]["verdict"]) == ("broken", "error")


def test_an_entry_without_a_name_is_a_usage_error(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(_sweep(factories / "r.json", "--candidate", "cand_factories:make_release"))
    assert code == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        "fairquant: error: --candidate cand_factories:make_release (command line): "
        + MSG_CANDIDATE_ENTRY.format(entry="cand_factories:make_release")
        + "\n"
    )
