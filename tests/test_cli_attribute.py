"""``fairquant attribute`` and ``fairquant mitigate``: the model, split and gate settings come
from the pytest configuration file as for ``fairquant sweep`` and the plugin (issue 12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_fairquant import cli

#: The attribution tests' two-branch model: uniform-int2 harms group b through branch_b only.
FACTORIES = """
from test_attribution import _setup

def load_model():
    return _setup()[0]

def load_split():
    return _setup()[1]
"""

INI = """[pytest]
pythonpath = .
fairquant_model = factories:load_model
fairquant_data = factories:load_split
fairquant_attribute = g
fairquant_device = cpu
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "factories.py").write_text(FACTORIES, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(INI, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # test_attribution
    return tmp_path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_attribute_reads_the_configuration_and_writes_its_json(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["attribute", "--method", "uniform-int2", "--json", "a.json"], capsys)
    assert code == 0, err
    assert out.startswith("uniform-int2 on g: fvo Δ = +0.3788 (fail, tolerance 0.02)")
    assert "skip=['branch_b'] makes the gate pass" in out
    assert "fairquant: attribute result written to a.json" in out
    # Each trial keeps layers in float on purpose: no low-share warning per trial.
    assert "untouched" not in err
    result = json.loads((repo / "a.json").read_text(encoding="utf-8"))
    assert result["schema"] == "pytest-fairquant/report/1#attribute"
    assert result["skip"] == ["branch_b"]
    assert (result["gap"], result["tolerance"], result["attribute"]) == ("fvo", 0.02, "g")


def test_attribute_shows_each_layer_trial_on_stderr_with_its_time(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["attribute", "--method", "uniform-int2"], capsys)
    assert code == 0
    trials = [re.sub(r"done in \d+\.\d s", "done in T s", line) for line in err.splitlines()]
    head = "fairquant: attributing uniform-int2 on g:"
    assert trials == [
        f"{head} every layer ... done in T s, fvo Δ +0.3788, fail",
        f"{head} branch_a alone (1/2) ... done in T s, fvo Δ +0.0000, pass",
        f"{head} all but branch_a (1/2) ... done in T s, fvo Δ +0.3788, fail",
        f"{head} branch_b alone (2/2) ... done in T s, fvo Δ +0.3788, fail",
        f"{head} all but branch_b (2/2) ... done in T s, fvo Δ +0.0000, pass",
        f"{head} skip=['branch_b'] ... done in T s, fvo Δ +0.0000, pass",
    ]
    assert head not in out  # the table alone on stdout


def test_attribute_takes_the_gate_settings_from_flags(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tolerance and a utility guard the harm stays within: the gate passes with every layer
    compressed (group b loses 0.38 accuracy, beyond the default guard of 0.05)."""
    flags = ["--tolerance", "0.9", "--max-utility-drop", "0.5"]
    code, out, _ = _run(["attribute", "--method", "uniform-int2", *flags], capsys)
    assert code == 0
    assert out.startswith("uniform-int2 on g: fvo Δ = +0.3788 (pass, tolerance 0.9)")


def test_json_over_a_file_fairquant_did_not_write_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = repo / "notes.json"
    mine.write_text('{"mine": true}', encoding="utf-8")
    code, out, err = _run(["attribute", "--method", "uniform-int2", "--json", "notes.json"], capsys)
    assert code == cli.EXIT_USAGE and out == ""
    assert "notes.json exists and is not a fairquant report; refusing to overwrite it" in err
    assert mine.read_text(encoding="utf-8") == '{"mine": true}'


def test_a_factory_off_sys_path_says_how_to_put_it_there(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--no-config", "--model", "elsewhere:load_model", "--data", "elsewhere:load_split"]
    code, _, err = _run(["attribute", "--method", "uniform-int2", *flags], capsys)
    assert code == cli.EXIT_USAGE
    assert "module 'elsewhere' cannot be imported" in err
    assert "the pytest setting pythonpath = DIR" in err


def test_mitigate_re_gates_on_the_held_out_part(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["mitigate", "--method", "uniform-int2", "--json", "m.json"], capsys)
    assert code == 1, err  # no post-hoc mitigation repairs branch_b's 2-bit weights
    assert out.startswith(
        "fvo on g, tolerance 0.02: fitted on 800 samples, gated on 800 held-out samples (seed 0)"
    )
    assert "threshold_calibration        not applicable" in out
    result = json.loads((repo / "m.json").read_text(encoding="utf-8"))
    assert result["schema"] == "pytest-fairquant/report/1#mitigate"
    assert result["before"]["verdict"] == "fail"


@pytest.mark.parametrize("command", ["attribute", "mitigate"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([command, "--help"], capsys)
    assert code == 0 and out.startswith(f"usage: fairquant {command}")
    assert "--config-file" in out and "--tolerance" in out
